/* test-delta: cachebuild's changes-only extract on the host side, fed by
 * hand-written deltas: a correct one applies; a hostile or inconsistent
 * one fails without touching the host directory or anything outside it. */
#include "harness.h"
#include "../../builder/delta.h"
#include "../../builder/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[256], host[300], out[300], outside[300];
static struct cc_err err;

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void putf(const char *dir, const char *name, const char *fmt, ...)
{
	char path[600], text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	put(path, text);
}

static char *slurp(const char *dir, const char *name)
{
	static char buf[4096];
	char path[600];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static long long mtime_of(const char *dir, const char *name)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) ? -1 : (long long)st.st_mtim.tv_sec;
}

/* A host directory: a ("A\n"), sub/b ("B\n"), esc -> the outside
 * directory, which holds victim ("V\n"); all mtimes 1000000000, dirs 755,
 * files 644.  A fresh, empty out directory. */
static void setup(void)
{
	char path[600];
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	cb_rmtree(top, &err);
	mkdir(top, 0755);
	mkdir(host, 0755);
	mkdir(out, 0755);
	mkdir(outside, 0755);
	snprintf(path, sizeof(path), "%s/sub", host);
	mkdir(path, 0755);
	putf(host, "a", "A\n");
	putf(host, "sub/b", "B\n");
	putf(outside, "victim", "V\n");
	snprintf(path, sizeof(path), "%s/esc", host);
	if (symlink(outside, path))
		printf("# symlink: %s\n", strerror(errno));
	const char *names[] = { "a", "sub/b", "sub", "." };

	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", host, names[i]);
		chmod(path, strcmp(names[i], "sub") && strcmp(names[i], ".") ? 0644 : 0755);
		utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
	}
	putf(out, "0.mode", "delta\n");
	cc_err_clear(&err);
}

/* The listing the helper would give for the host directory unchanged. */
static const char unchanged_list[] =
	"d|755|0|1000000000|.\n"
	"f|644|2|1000000000|./a\n"
	"d|755|0|1000000000|./sub\n"
	"f|644|2|1000000000|./sub/b\n";

static const char dirs_meta[] =
	"d|755|1000000000|.\n"
	"d|755|1000000000|./sub\n";

/* The host is as setup() left it (esc aside), and so is the outside. */
static void check_untouched(void)
{
	CHECK_STR(slurp(host, "a"), "A\n");
	CHECK_STR(slurp(host, "sub/b"), "B\n");
	CHECK_STR(slurp(outside, "victim"), "V\n");
	CHECK(mtime_of(outside, "victim") != 1);
	struct stat st;
	char path[600];

	snprintf(path, sizeof(path), "%s/victim", outside);
	CHECK(!stat(path, &st) && (st.st_mode & 0777) != 0777);
	CHECK(!slurp(outside, "x"));
	CHECK(!slurp(outside, "newdir/x"));
}

static void test_manifest(void)
{
	char path[600], *m;

	setup();
	snprintf(path, sizeof(path), "%s/manifest", top);
	bool usable = false;

	CHECK_EQ(hostdir_manifest(host, path, &usable, &err), CC_OK);
	CHECK(usable);
	m = slurp(top, "manifest");
	CHECK(m && !strncmp(m, "d|0|1000000000|755|-|.\n", 23));
	CHECK(m && strstr(m, "f|2|1000000000|644|bf072e9119077b4e76437a93986787ef|./a\n"));
	CHECK(m && strstr(m, "|./sub/b\n") && strstr(m, "l|"));
	/* A name with a newline cannot be described: extract whole. */
	putf(host, "new\nline", "x");
	CHECK_EQ(hostdir_manifest(host, path, &usable, &err), CC_OK);
	CHECK(!usable);
}

/* Replaces the symbolic link of setup() (the helper never lists it in
 * these tests): the host directory then has no way out. */
static void drop_esc(void)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/esc", host);
	unlink(path);
}

static void test_good_delta(void)
{
	char path[600];

	setup();
	drop_esc();
	/* a's content changes (sent); sub/b only gets a new mode and
	 * mtime; c is new; esc is gone. */
	snprintf(path, sizeof(path), "%s/stage", top);
	mkdir(path, 0755);
	putf(path, "a", "AA\n");
	putf(path, "c", "C\n");
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "touch -d @1100000000 %s/a %s/c && chmod 600 %s/c && "
		 "tar -cf %s/0.tar -C %s ./a ./c", path, path, path, out, path);
	CHECK_EQ(system(cmd), 0);
	putf(out, "0.meta", "%sf|600|1200000000|./sub/b\n", dirs_meta);
	putf(out, "0.list", "d|755|0|1000000000|.\nf|644|3|1100000000|./a\n"
	     "f|600|2|1100000000|./c\nd|755|0|1000000000|./sub\nf|600|2|1200000000|./sub/b\n");
	CHECK_EQ(hostdir_delta(host, out, 0, &err), CC_OK);
	CHECK_STR(slurp(host, "a"), "AA\n");
	CHECK_STR(slurp(host, "c"), "C\n");
	CHECK_STR(slurp(host, "sub/b"), "B\n");
	CHECK_EQ(mtime_of(host, "sub/b"), 1200000000);
	CHECK_EQ(mtime_of(host, "a"), 1100000000);
}

static void test_listing_mismatch_keeps_host(void)
{
	setup();
	drop_esc();
	putf(out, "0.meta", "%s", dirs_meta);
	/* The builder says a has 5 bytes: the result does not match. */
	putf(out, "0.list", "d|755|0|1000000000|.\nf|644|5|1000000000|./a\n"
	     "d|755|0|1000000000|./sub\nf|644|2|1000000000|./sub/b\n");
	CHECK_EQ(hostdir_delta(host, out, 0, &err), CC_EDEST);
	CHECK(strstr(err.msg, "does not match"));
	check_untouched();
}

static void test_hostile_names(void)
{
	static const char *const gone[] = { "../outside/victim\n", "./esc/victim\n",
					    "./sub/../../outside/victim\n", "/etc/passwd\n" };
	static const char *const through[] = { "f|777|1|./esc/victim\n",
					       "d|777|1|./esc/newdir\n" };

	for (size_t i = 0; i < sizeof(gone) / sizeof(*gone); i++) {
		setup();
		putf(out, "0.gone", "%s", gone[i]);
		putf(out, "0.meta", "%s", dirs_meta);
		putf(out, "0.list", "%s", unchanged_list);
		hostdir_delta(host, out, 0, &err);
		check_untouched();
	}
	/* Metadata through the link, or a directory made through it. */
	for (size_t i = 0; i < sizeof(through) / sizeof(*through); i++) {
		setup();
		putf(out, "0.meta", "%s%s", dirs_meta, through[i]);
		putf(out, "0.list", "%s", unchanged_list);
		CHECK_EQ(hostdir_delta(host, out, 0, &err), CC_EDEST);
		check_untouched();
	}
	/* A sent file under the link's name goes into the copy, not out. */
	setup();
	char cmd[4096], stage[600];

	snprintf(stage, sizeof(stage), "%s/stage", top);
	mkdir(stage, 0755);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/esc && echo X >%s/esc/x && "
		 "tar -cf %s/0.tar -C %s ./esc/x", stage, stage, out, stage);
	CHECK_EQ(system(cmd), 0);
	putf(out, "0.meta", "%s", dirs_meta);
	putf(out, "0.list", "%s", unchanged_list);
	CHECK_EQ(hostdir_delta(host, out, 0, &err), CC_EDEST);
	check_untouched();
	/* Bad metadata lines. */
	setup();
	putf(out, "0.meta", "%sf|99999|1|./a\n", dirs_meta);
	CHECK_EQ(hostdir_delta(host, out, 0, &err), CC_EDEST);
	check_untouched();
}

int main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(top, sizeof(top), "%s/test-delta.%d", t && *t ? t : "/tmp", (int)getpid());
	snprintf(host, sizeof(host), "%s/host", top);
	snprintf(out, sizeof(out), "%s/out", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	RUN(test_manifest);
	RUN(test_good_delta);
	RUN(test_listing_mismatch_keeps_host);
	RUN(test_hostile_names);
	cb_rmtree(top, &err);
	return test_summary();
}
