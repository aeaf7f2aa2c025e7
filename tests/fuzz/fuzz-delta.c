/* fuzz-delta: libFuzzer target for the host side of cachebuild's delta
 * extract (hostdir_delta()): the metadata, the names of what is gone and
 * the listing that the builder (a container running the build's code)
 * writes, applied to a host directory.
 *
 * Input: lines; "@meta", "@gone" and "@list" alone on a line start that
 * part (I.meta, I.gone, I.list), lines before the first marker are
 * metadata; a part never named is absent.  No I.tar: the archive is
 * unpacked by tar(1), not by our parser.
 *
 * The host directory (setup_host) holds a ("A\n"), sub/b ("B\n") and
 * esc -> ../outside, a directory beside it holding victim ("V\n").
 * Checks after every delta, applied or refused: nothing outside the host
 * directory changed (victim's content, mode and mtime, outside's and the
 * top directory's entries: no clone or stage left behind), the host
 * directory is still a directory; after a refusal its content is as it
 * was (only modes and mtimes of "meta" files may have changed).
 *
 *   make fuzz && build/fuzz/fuzz-delta tests/fuzz/corpus-delta */
#include "../../builder/delta.h"
#include "../../builder/run.h"
#include "fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define MTIME 1000000000

static char top[256], host[300], out[300], outside[300];

static void path_of(char *p, size_t n, const char *dir, const char *name)
{
	snprintf(p, n, "%s/%s", dir, name);
}

static void put(const char *dir, const char *name, const char *text, size_t len, mode_t mode)
{
	char p[600];
	struct timespec ts[2] = { { MTIME, 0 }, { MTIME, 0 } };
	int fd;

	path_of(p, sizeof(p), dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fchmod(fd, mode) ||
	    futimens(fd, ts) || close(fd))
		abort();
}

/* The content of dir/name, or "" when it cannot be read. */
static const char *slurp(const char *dir, const char *name)
{
	static char buf[64];
	char p[600];
	ssize_t n;
	int fd;

	path_of(p, sizeof(p), dir, name);
	fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	n = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return buf;
}

/* The names in dir, sorted, '/'-separated. */
static const char *names(const char *dir)
{
	static char buf[512];
	struct dirent **v;
	int n = scandir(dir, &v, NULL, alphasort);

	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(v[i]->d_name, ".") && strcmp(v[i]->d_name, ".."))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%s", v[i]->d_name);
		free(v[i]);
	}
	if (n >= 0)
		free(v);
	return buf;
}

static void setup_host(void)
{
	char p[600];
	struct timespec ts[2] = { { MTIME, 0 }, { MTIME, 0 } };

	path_of(p, sizeof(p), host, "sub");
	if (mkdir(host, 0755) || mkdir(out, 0755) || mkdir(p, 0755))
		abort();
	put(host, "a", "A\n", 2, 0644);
	put(host, "sub/b", "B\n", 2, 0644);
	put(out, "0.mode", "delta\n", 6, 0644);
	path_of(p, sizeof(p), host, "esc");
	if (symlink("../outside", p))
		abort();
	path_of(p, sizeof(p), host, "sub");
	utimensat(AT_FDCWD, p, ts, 0);
	utimensat(AT_FDCWD, host, ts, 0);
}

static void teardown(void)
{
	struct cc_err err;

	cb_rmtree(top, &err);
}

static void setup(void)
{
	if (top[0])
		return;
	snprintf(top, sizeof(top), "%s/fuzz-delta-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(top))
		abort();
	path_of(host, sizeof(host), top, "host");
	path_of(out, sizeof(out), top, "out");
	path_of(outside, sizeof(outside), top, "outside");
	if (mkdir(outside, 0755))
		abort();
	put(outside, "victim", "V\n", 2, 0644);
	atexit(teardown);
}

static void write_parts(const char *text, size_t size)
{
	static const char *const parts[] = { "meta", "gone", "list" };
	const char *p = text, *end = text + size;
	FILE *f[3] = { NULL };
	int k = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		bool marker = false;

		for (int i = 0; i < 3; i++) {
			if (len == strlen(parts[i]) + 1 && p[0] == '@' && !memcmp(p + 1, parts[i], len - 1)) {
				k = i;
				marker = true;
			}
		}
		if (!f[k]) {
			char path[600], name[16];

			snprintf(name, sizeof(name), "0.%s", parts[k]);
			path_of(path, sizeof(path), out, name);
			if (!(f[k] = fopen(path, "w")))
				abort();
		}
		if (!marker)
			fwrite(p, 1, len + (nl ? 1 : 0), f[k]);
		p += len + (nl ? 1 : 0);
	}
	for (int i = 0; i < 3; i++)
		if (f[i])
			fclose(f[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_err err;
	struct stat st;
	char p[600], link[64];
	ssize_t n;
	enum cc_code rc;

	setup();
	setup_host();
	write_parts((const char *)data, size);
	rc = hostdir_delta(host, out, 0, &err);
	if (rc)
		fuzz_say("result: refused: %s", err.msg);
	else
		fuzz_say("result: accepted");

	/* Nothing outside the host directory changed. */
	FUZZ_CHECK(!strcmp(names(top), "/host/out/outside"));
	FUZZ_CHECK(!strcmp(names(outside), "/victim"));
	FUZZ_CHECK(!strcmp(slurp(outside, "victim"), "V\n"));
	path_of(p, sizeof(p), outside, "victim");
	FUZZ_CHECK(!lstat(p, &st) && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644 &&
		   st.st_mtim.tv_sec == MTIME && st.st_nlink == 1);
	FUZZ_CHECK(!lstat(host, &st) && S_ISDIR(st.st_mode));
	if (rc) {
		/* Refused: the same tree (modes and mtimes of meta files aside). */
		FUZZ_CHECK(!strcmp(names(host), "/a/esc/sub"));
		FUZZ_CHECK(!strcmp(slurp(host, "a"), "A\n"));
		FUZZ_CHECK(!strcmp(slurp(host, "sub/b"), "B\n"));
		path_of(p, sizeof(p), host, "esc");
		n = readlink(p, link, sizeof(link) - 1);
		FUZZ_CHECK(n == 10 && !memcmp(link, "../outside", 10));
	}
	cb_rmtree(host, &err);
	cb_rmtree(out, &err);
	return 0;
}
