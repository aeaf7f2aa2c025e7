/* test-store-local.c: the local directory store behind struct store_ops:
 * open (no side effects), prepare_write, put (MOVE, IF_ABSENT), get_range,
 * get_file, stat, list (including long keys that the backend splits into
 * directories and keys starting with '.'), del. */
#include "harness.h"
#include "../../common/store.h"
#include "../../common/key.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char base[256];	/* a fresh directory for this run */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st);
}

/* Opens (and optionally prepares) a store in base/name. */
static struct store *open_store(const char *name, bool prepare)
{
	struct store *s = NULL;
	struct cc_err err;
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", base, name);
	cc_err_clear(&err);
	if (store_open(&s, path, &err)) {
		printf("#   store_open '%s': %s\n", path, err.msg);
		return NULL;
	}
	if (prepare && s->ops->prepare_write(s, &err)) {
		printf("#   prepare_write '%s': %s\n", path, err.msg);
		store_close(s);
		return NULL;
	}
	return s;
}

/* Stages data in a temporary file of the store.  @return its path
 * (malloc'd) or NULL. */
static char *stage(struct store *s, const void *data, size_t len)
{
	struct buf path = BUF_INIT;
	struct cc_err err;
	int fd = store_tmpfile(s, &path, &err);

	if (fd < 0) {
		printf("#   store_tmpfile: %s\n", err.msg);
		return NULL;
	}
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return NULL;
	}
	close(fd);
	return buf_detach(&path, NULL);
}

/* Publishes data as name.  @return the put's code; *ret_existed set. */
static enum cc_code put_data(struct store *s, const char *name, const void *data, size_t len,
			     unsigned flags, bool *ret_existed)
{
	struct cc_err err;
	char *src = stage(s, data, len);
	enum cc_code rc;

	if (!src)
		return CC_EINTERNAL;
	cc_err_clear(&err);
	rc = s->ops->put(s, name, src, flags | STORE_PUT_MOVE, ret_existed, &err);
	if (rc)
		printf("#   put '%.60s': %s\n", name, err.msg);
	/* Moved into the store either way: the staging file is gone. */
	if (exists(src)) {
		printf("#   staging file '%s' left behind\n", src);
		harness_cur_failed = 1;
		unlink(src);
	}
	free(src);
	return rc;
}

/* Reads the whole object through get_file.  @return malloc'd content or
 * NULL when missing or on error (*ret_rc). */
static char *get_all(struct store *s, const char *name, uint64_t max, size_t *ret_len,
		     enum cc_code *ret_rc, struct cc_err *err)
{
	FILE *f = tmpfile();
	bool found = false;
	char *p = NULL;
	off_t end;

	*ret_rc = s->ops->get_file(s, name, fileno(f), max, &found, err);
	if (*ret_rc || !found)
		goto cleanup;
	end = lseek(fileno(f), 0, SEEK_END);
	p = malloc((size_t)end + 1);
	if (pread(fileno(f), p, (size_t)end, 0) != end) {
		free(p);
		p = NULL;
		goto cleanup;
	}
	p[end] = '\0';
	*ret_len = (size_t)end;
cleanup:
	fclose(f);
	return p;
}

static void test_open(void)
{
	struct store *s = NULL;
	struct cc_err err;
	char path[512], url[600];

	snprintf(path, sizeof(path), "%s/not-yet", base);
	CHECK_EQ(store_open(&s, path, &err), CC_OK);
	CHECK(s != NULL);
	if (s) {
		CHECK(s->ops == &store_local);
		CHECK(s->ops->caps & STORE_CAP_LOCAL_TMP);
		CHECK_STR(s->location, path);
		CHECK(s->tmpdir && !strncmp(s->tmpdir, path, strlen(path)));
	}
	store_close(s);
	/* Opening creates nothing: a restore from a missing store is a miss. */
	CHECK(!exists(path));

	snprintf(url, sizeof(url), "file://%s/via-url/", base);
	CHECK_EQ(store_open(&s, url, &err), CC_OK);
	if (s) {
		CHECK_EQ(s->ops->prepare_write(s, &err), CC_OK);
		store_close(s);
	}
	snprintf(path, sizeof(path), "%s/via-url/cicache-store", base);
	CHECK(exists(path));
	snprintf(path, sizeof(path), "%s/via-url/tmp", base);
	CHECK(exists(path));

	s = (struct store *)&err;	/* must be reset on failure */
	cc_err_clear(&err);
	CHECK_EQ(store_open(&s, "s3://x", &err), CC_EUSAGE);
	CHECK(s == NULL);
	CHECK(strstr(err.msg, "s3://x") != NULL);
	CHECK_EQ(store_open(&s, "gs://bucket/prefix", &err), CC_EUSAGE);
	CHECK_EQ(store_open(&s, "https://example.com/cache", &err), CC_EUSAGE);
	CHECK_EQ(store_open(&s, "", &err), CC_EUSAGE);
	CHECK_EQ(store_open(&s, "file://", &err), CC_EUSAGE);
	/* "://" after a slash is part of a directory name. */
	snprintf(path, sizeof(path), "%s/odd://name", base);
	CHECK_EQ(store_open(&s, path, &err), CC_OK);
	store_close(s);
	store_close(NULL);
}

/* store_open's table: each scheme reaches its backend with the location
 * less the scheme; capabilities, not names, tell the backends apart. */
static void test_open_schemes(void)
{
	struct store *s = NULL;
	struct cc_err err;
	size_t plain = 0;
	bool utf16;

	cc_err_clear(&err);
	CHECK_EQ(store_open(&s, "bogus://x/y", &err), CC_EUSAGE);
	CHECK(strstr(err.msg, "unsupported store 'bogus://x/y' (this build knows directories, "
			      "file://, s3:// and gha://)") != NULL);
	CHECK_EQ(store_open(&s, "s3://", &err), CC_EUSAGE);
	CHECK_STR(err.msg, "empty store location");
	/* gha gets the namespace alone: no "gha://" left in front of it */
	CHECK_EQ(store_open(&s, "gha://bad ns", &err), CC_EUSAGE);
	CHECK(strstr(err.msg, "bad gha namespace 'bad ns' in 'gha://bad ns'") != NULL);
	unsetenv("ACTIONS_RESULTS_URL");
	unsetenv("ACTIONS_RUNTIME_TOKEN");
	CHECK_EQ(store_open(&s, "gha", &err), CC_ESTORE);
	CHECK(strstr(err.msg, "ACTIONS_RESULTS_URL") != NULL);
	CHECK(s == NULL);
	/* opening talks to nobody: a port nothing listens on will do */
	setenv("ACTIONS_RESULTS_URL", "http://127.0.0.1:9/", 1);
	setenv("ACTIONS_RUNTIME_TOKEN", "t", 1);
	for (int i = 0; i < 3; i++) {
		static const char *const urls[] = { "gha", "gha://", "gha://ns-1.x" };

		CHECK_EQ(store_open(&s, urls[i], &err), CC_OK);
		if (!s)
			continue;
		CHECK((s->ops->caps & STORE_CAP_REMOTE) && s->ops->get_ranges);
		CHECK(s->ops->legacy_lookup && s->ops->legacy_fetch);
		CHECK_STR(s->location, urls[i]);
		/* the namespace "ns-1.x" and its '/' take 7 from the names */
		if (!i)
			plain = s->ops->name_max(s, &utf16);
		else
			CHECK_EQ(s->ops->name_max(s, &utf16), plain - (i == 2 ? 7 : 0));
		store_close(s);
		s = NULL;
	}
	unsetenv("ACTIONS_RESULTS_URL");
	unsetenv("ACTIONS_RUNTIME_TOKEN");
	/* the local store is neither remote nor a service with legacy entries */
	CHECK_EQ(store_open(&s, base, &err), CC_OK);
	if (s) {
		CHECK(!(s->ops->caps & STORE_CAP_REMOTE));
		CHECK(!s->ops->legacy_lookup && !s->ops->legacy_fetch);
		CHECK_STR(s->location, base);
	}
	store_close(s);
}

static int count_cb(void *ctx, const struct store_object *o)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_missing_store(void)
{
	struct store *s = open_store("missing", false);
	struct cc_err err;
	bool found = true;
	struct store_object o;
	char b[4];
	int calls = 0;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(s->ops->stat(s, "keys/k", &found, &o, &err), CC_OK);
	CHECK(!found);
	found = true;
	CHECK_EQ(s->ops->get_file(s, "keys/k", 1, 100, &found, &err), CC_OK);
	CHECK(!found);
	CHECK_EQ(s->ops->get_range(s, "packs/p.pack", 0, 4, b, &err), CC_ECORRUPT);
	CHECK_EQ(s->ops->list(s, "keys/", count_cb, &calls, &err), CC_OK);
	CHECK_EQ(calls, 0);
	CHECK_EQ(s->ops->del(s, "keys/k", &err), CC_OK);
	store_close(s);
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/missing", base);
		CHECK(!exists(path));
	}
}

static void test_prepare_write(void)
{
	struct store *s = open_store("prep", true);
	struct cc_err err;
	char path[512];
	static const char *sub[] = { "keys", "packs", "tmp", "cicache-store" };

	CHECK(s != NULL);
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(sub) / sizeof(*sub); i++) {
		snprintf(path, sizeof(path), "%s/prep/%s", base, sub[i]);
		CHECK(exists(path));
	}
	/* Twice is fine. */
	CHECK_EQ(s->ops->prepare_write(s, &err), CC_OK);
	store_close(s);

	/* A store that cannot be created: a file in the way. */
	snprintf(path, sizeof(path), "%s/a-file", base);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	s = open_store("a-file/store", false);
	CHECK(s != NULL);
	if (s) {
		cc_err_clear(&err);
		CHECK_EQ(s->ops->prepare_write(s, &err), CC_ESTORE);
		CHECK(strstr(err.msg, "a-file") != NULL);
		store_close(s);
	}
}

static void test_put_get(void)
{
	struct store *s = open_store("rw", true);
	struct cc_err err;
	bool existed = true, found = false;
	char data[5000], got[5000];
	struct store_object o;
	int64_t now = (int64_t)time(NULL) * 1000000000;

	CHECK(s != NULL);
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 31 + 7);
	CHECK_EQ(put_data(s, "packs/0123.pack", data, sizeof(data), 0, &existed), CC_OK);
	CHECK(!existed);
	CHECK_EQ(s->ops->stat(s, "packs/0123.pack", &found, &o, &err), CC_OK);
	CHECK(found);
	CHECK_EQ(o.size, sizeof(data));
	CHECK(o.mtime_ns > now - 120000000000LL && o.mtime_ns < now + 120000000000LL);
	CHECK_STR(o.name, "packs/0123.pack");
	/* stat with no result slot */
	CHECK_EQ(s->ops->stat(s, "packs/0123.pack", &found, NULL, &err), CC_OK);
	CHECK(found);

	memset(got, 0, sizeof(got));
	CHECK_EQ(s->ops->get_range(s, "packs/0123.pack", 0, sizeof(data), got, &err), CC_OK);
	CHECK(!memcmp(got, data, sizeof(data)));
	CHECK_EQ(s->ops->get_range(s, "packs/0123.pack", 1234, 100, got, &err), CC_OK);
	CHECK(!memcmp(got, data + 1234, 100));
	CHECK_EQ(s->ops->get_range(s, "packs/0123.pack", sizeof(data) - 1, 1, got, &err), CC_OK);
	CHECK_EQ(got[0], data[sizeof(data) - 1]);
	CHECK_EQ(s->ops->get_range(s, "packs/0123.pack", sizeof(data), 0, got, &err), CC_OK);
	/* Reading past the end is a short object: corrupt. */
	cc_err_clear(&err);
	CHECK_EQ(s->ops->get_range(s, "packs/0123.pack", sizeof(data) - 10, 11, got, &err),
		 CC_ECORRUPT);
	CHECK(strstr(err.msg, "packs/0123.pack") != NULL);
	CHECK_EQ(s->ops->get_range(s, "packs/0123.pack", 1ULL << 40, 1, got, &err), CC_ECORRUPT);
	CHECK_EQ(s->ops->get_range(s, "packs/none.pack", 0, 1, got, &err), CC_ECORRUPT);

	/* get_file: whole, bounded, missing. */
	{
		size_t len = 0;
		enum cc_code rc;
		char *p = get_all(s, "packs/0123.pack", sizeof(data), &len, &rc, &err);

		CHECK_EQ(rc, CC_OK);
		CHECK(p && len == sizeof(data) && !memcmp(p, data, len));
		free(p);
		p = get_all(s, "packs/0123.pack", sizeof(data) - 1, &len, &rc, &err);
		CHECK_EQ(rc, CC_ECORRUPT);
		free(p);
		p = get_all(s, "packs/nope.pack", 10, &len, &rc, &err);
		CHECK_EQ(rc, CC_OK);
		CHECK(p == NULL);
	}
	/* An empty object. */
	CHECK_EQ(put_data(s, "keys/empty", "", 0, 0, &existed), CC_OK);
	CHECK_EQ(s->ops->stat(s, "keys/empty", &found, &o, &err), CC_OK);
	CHECK(found);
	CHECK_EQ(o.size, 0);
	store_close(s);
}

static void test_put_if_absent(void)
{
	struct store *s = open_store("absent", true);
	struct cc_err err;
	bool existed = true;
	char got[8] = { 0 };

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(put_data(s, "packs/a.pack", "first", 5, STORE_PUT_IF_ABSENT, &existed), CC_OK);
	CHECK(!existed);
	existed = false;
	CHECK_EQ(put_data(s, "packs/a.pack", "other", 5, STORE_PUT_IF_ABSENT, &existed), CC_OK);
	CHECK(existed);
	CHECK_EQ(s->ops->get_range(s, "packs/a.pack", 0, 5, got, &err), CC_OK);
	CHECK_STR(got, "first");
	/* NULL ret_existed is allowed. */
	CHECK_EQ(put_data(s, "packs/a.pack", "third", 5, STORE_PUT_IF_ABSENT, NULL), CC_OK);
	/* Without MOVE the local store cannot publish; nothing changes. */
	{
		char *src = stage(s, "xx", 2);

		CHECK(src != NULL);
		if (src) {
			CHECK(s->ops->put(s, "packs/b.pack", src, 0, &existed, &err) != CC_OK);
			unlink(src);
			free(src);
		}
	}
	store_close(s);
}

/* Replacing or deleting an object is seen by later reads of the same
 * store handle, even after it has been read once. */
static void test_replace_and_delete(void)
{
	struct store *s = open_store("replace", true);
	struct cc_err err;
	bool existed, found = true;
	char got[8] = { 0 };
	enum cc_code rc;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(put_data(s, "keys/k", "old-1", 5, 0, &existed), CC_OK);
	CHECK_EQ(s->ops->get_range(s, "keys/k", 0, 5, got, &err), CC_OK);
	CHECK_STR(got, "old-1");
	CHECK_EQ(put_data(s, "keys/k", "new-2", 5, 0, &existed), CC_OK);
	memset(got, 0, sizeof(got));
	CHECK_EQ(s->ops->get_range(s, "keys/k", 0, 5, got, &err), CC_OK);
	CHECK_STR(got, "new-2");

	CHECK_EQ(s->ops->del(s, "keys/k", &err), CC_OK);
	CHECK_EQ(s->ops->stat(s, "keys/k", &found, NULL, &err), CC_OK);
	CHECK(!found);
	cc_err_clear(&err);
	rc = s->ops->get_range(s, "keys/k", 0, 5, got, &err);
	if (rc != CC_ECORRUPT) {
		printf("#   get_range of a deleted object: code %d, read '%.5s'\n", rc, got);
		harness_cur_failed = 1;
	}
	/* Deleting again is not an error. */
	CHECK_EQ(s->ops->del(s, "keys/k", &err), CC_OK);
	store_close(s);
}

/* ---- listing ---- */

struct seen {
	char *names[64];
	uint64_t sizes[64];
	int n;
	int stop_after;
};

static int collect(void *ctx, const struct store_object *o)
{
	struct seen *sn = ctx;

	if (sn->n < 64) {
		sn->names[sn->n] = strdup(o->name);
		sn->sizes[sn->n] = o->size;
	}
	sn->n++;
	return sn->stop_after && sn->n >= sn->stop_after;
}

static void seen_release(struct seen *sn)
{
	for (int i = 0; i < sn->n && i < 64; i++)
		free(sn->names[i]);
	memset(sn, 0, sizeof(*sn));
}

/* @return the size listed for name, or -1 if absent (or listed twice). */
static int64_t listed(const struct seen *sn, const char *name)
{
	int64_t size = -1;
	int count = 0;

	for (int i = 0; i < sn->n && i < 64; i++)
		if (!strcmp(sn->names[i], name)) {
			size = (int64_t)sn->sizes[i];
			count++;
		}
	return count == 1 ? size : -1;
}

static char *repeat(char c, size_t n, const char *tail)
{
	char *p = malloc(n + strlen(tail) + 1);

	memset(p, c, n);
	strcpy(p + n, tail);
	return p;
}

static void test_list(void)
{
	struct store *s = open_store("list", true);
	struct cc_err err;
	struct seen sn = { 0 };
	/* Object i holds the first i + 1 bytes of content. */
	static const char content[] = "0123456789abcdef";
	enum { NK = 14 };
	char *keys[NK], name[700];
	size_t n = 0;

	CHECK(s != NULL);
	if (!s)
		return;
	keys[n++] = strdup("a");
	keys[n++] = strdup("b-1");
	keys[n++] = strdup(".dot");
	keys[n++] = strdup("..");
	keys[n++] = strdup(".cc-0123456789abcdef.tmp");	/* looks like a staging file */
	keys[n++] = repeat('x', 200, "");	/* exactly one segment */
	keys[n++] = repeat('x', 201, "");	/* one more byte: split */
	keys[n++] = repeat('x', 300, "");
	keys[n++] = repeat('x', 400, "");	/* two full segments */
	keys[n++] = repeat('x', 401, "");
	keys[n++] = repeat('y', 200, ".hidden-part");	/* split at a '.' */
	keys[n++] = repeat('z', 499, "!");
	keys[n++] = repeat('.', 350, "");
	keys[n++] = repeat('w', 512, "");
	CHECK_EQ(n, NK);
	for (size_t i = 0; i < NK; i++) {
		bool existed;

		snprintf(name, sizeof(name), "keys/%s", keys[i]);
		CHECK_EQ(put_data(s, name, content, i + 1, 0, &existed), CC_OK);
	}
	CHECK_EQ(put_data(s, "packs/p1.pack", "pp", 2, 0, NULL), CC_OK);

	CHECK_EQ(s->ops->list(s, "keys/", collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, NK);
	for (size_t i = 0; i < NK; i++) {
		snprintf(name, sizeof(name), "keys/%s", keys[i]);
		if (listed(&sn, name) != (int64_t)(i + 1)) {
			printf("#   key %zu ('%.20s...', %zu bytes) not listed once with size %zu\n",
			       i, keys[i], strlen(keys[i]), i + 1);
			harness_cur_failed = 1;
		}
	}
	seen_release(&sn);

	/* Every key reads back by name, whatever its length. */
	for (size_t i = 0; i < NK; i++) {
		bool found = false;
		struct store_object o;
		char got[16] = { 0 };
		size_t len = 0;
		enum cc_code rc;
		char *p;

		snprintf(name, sizeof(name), "keys/%s", keys[i]);
		CHECK_EQ(s->ops->stat(s, name, &found, &o, &err), CC_OK);
		CHECK(found && o.size == i + 1);
		CHECK_EQ(s->ops->get_range(s, name, 0, i + 1, got, &err), CC_OK);
		CHECK(!memcmp(got, content, i + 1));
		p = get_all(s, name, 1000, &len, &rc, &err);
		CHECK(p && len == i + 1 && !memcmp(p, content, len));
		free(p);
	}

	/* Prefixes. */
	CHECK_EQ(s->ops->list(s, "keys/x", collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, 5);
	seen_release(&sn);
	snprintf(name, sizeof(name), "keys/%s", keys[7]);	/* 300 x */
	CHECK_EQ(s->ops->list(s, name, collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, 3);	/* 300, 400, 401 */
	seen_release(&sn);
	CHECK_EQ(s->ops->list(s, "keys/.", collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, 4);	/* .dot, .., .cc-..., 350 dots */
	seen_release(&sn);
	snprintf(name, sizeof(name), "keys/%.201s", keys[10]);	/* 200 y and "." */
	CHECK_EQ(s->ops->list(s, name, collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, 1);
	seen_release(&sn);
	CHECK_EQ(s->ops->list(s, "keys/q", collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, 0);
	seen_release(&sn);
	CHECK_EQ(s->ops->list(s, "packs/", collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, 1);
	CHECK_EQ(listed(&sn, "packs/p1.pack"), 2);
	seen_release(&sn);
	/* The callback can stop the listing. */
	sn.stop_after = 3;
	CHECK_EQ(s->ops->list(s, "keys/", collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, 3);
	seen_release(&sn);

	/* Deleting removes from the listing. */
	for (size_t i = 0; i < NK; i += 2) {
		snprintf(name, sizeof(name), "keys/%s", keys[i]);
		CHECK_EQ(s->ops->del(s, name, &err), CC_OK);
	}
	CHECK_EQ(s->ops->list(s, "keys/", collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, NK / 2);
	for (size_t i = 1; i < NK; i += 2) {
		snprintf(name, sizeof(name), "keys/%s", keys[i]);
		CHECK(listed(&sn, name) == (int64_t)(i + 1));
	}
	seen_release(&sn);

	/* A store that was never written lists nothing. */
	{
		struct store *e = open_store("list-empty", false);

		CHECK(e != NULL);
		if (e) {
			CHECK_EQ(e->ops->list(e, "keys/", collect, &sn, &err), CC_OK);
			CHECK_EQ(sn.n, 0);
			store_close(e);
		}
	}
	for (size_t i = 0; i < NK; i++)
		free(keys[i]);
	store_close(s);
}

/* Key names hold ',' now (E's ",XX" escapes): a piece that starts with
 * ',' is escaped like one that starts with '.', so a key starting with
 * '/' or ' ', and escapes cut by the 200-byte piece boundary, list and
 * read back as themselves. */
static void test_comma_names(void)
{
	struct store *s = open_store("comma", true);
	struct cc_err err;
	struct seen sn = { 0 };
	static const char content[] = "0123456789abcdef";
	enum { NK = 11 };
	char *keys[NK], path[1024];
	struct buf names[NK];
	size_t n = 0;

	CHECK(s != NULL);
	if (!s)
		return;
	keys[n++] = strdup("/");
	keys[n++] = strdup("/lead/ing");
	keys[n++] = strdup(" space");
	keys[n++] = strdup("feature/login");
	keys[n++] = repeat('a', 197, "/x");	/* ",2F" ends piece 1 exactly */
	keys[n++] = repeat('a', 198, "/x");	/* piece 1 ends in ",2" */
	keys[n++] = repeat('a', 199, "/x");	/* piece 1 ends in "," */
	keys[n++] = repeat('a', 200, "/x");	/* piece 2 starts with "," */
	keys[n++] = repeat('a', 200, "//");	/* and ends with one escape */
	keys[n++] = repeat('b', 400, " .");	/* piece 3 starts with "," too */
	keys[n++] = repeat('c', 200, "\xf0\x9f\x98\x80/");	/* UTF-8 in piece 2 */
	CHECK_EQ(n, NK);
	for (size_t i = 0; i < NK; i++) {
		buf_init(&names[i], 0);
		CHECK_EQ(store_key_name(&names[i], keys[i], NULL), CC_OK);
		CHECK_EQ(put_data(s, names[i].data, content, i + 1, 0, NULL), CC_OK);
	}
	/* The files are where docs/format.md says. */
	snprintf(path, sizeof(path), "%s/comma/keys/,,2F", base);
	CHECK(exists(path));
	snprintf(path, sizeof(path), "%s/comma/keys/,,20space", base);
	CHECK(exists(path));
	snprintf(path, sizeof(path), "%s/comma/keys/%.200s,/,,2Fx", base, keys[7]);
	CHECK(exists(path));
	snprintf(path, sizeof(path), "%s/comma/keys/%.199s,,/2Fx", base, keys[6]);
	CHECK(exists(path));

	CHECK_EQ(s->ops->list(s, "keys/", collect, &sn, &err), CC_OK);
	CHECK_EQ(sn.n, NK);
	for (size_t i = 0; i < NK; i++) {
		struct buf k = BUF_INIT;

		if (listed(&sn, names[i].data) != (int64_t)(i + 1)) {
			printf("#   key %zu ('%.30s...') not listed once with size %zu\n", i,
			       names[i].data, i + 1);
			harness_cur_failed = 1;
		}
		/* And every listed name decodes to its key. */
		CHECK(cc_key_decode(names[i].data + 5, names[i].len - 5, &k));
		CHECK_STR(k.data, keys[i]);
		buf_release(&k);
	}
	for (int i = 0; i < sn.n; i++) {
		struct buf k = BUF_INIT;

		if (!cc_key_decode(sn.names[i] + 5, strlen(sn.names[i]) - 5, &k)) {
			printf("#   listed '%s' does not decode\n", sn.names[i]);
			harness_cur_failed = 1;
		}
		buf_release(&k);
	}
	seen_release(&sn);
	/* Every name reads back. */
	for (size_t i = 0; i < NK; i++) {
		char got[16] = { 0 };

		CHECK_EQ(s->ops->get_range(s, names[i].data, 0, i + 1, got, &err), CC_OK);
		CHECK(!memcmp(got, content, i + 1));
	}
	/* Prefixes across the escapes and the piece boundary: E("/") lists the
	 * two keys that start with '/', E(200 a + "/") the two of them. */
	{
		struct buf pfx = BUF_INIT;
		char *k200 = repeat('a', 200, "/");

		CHECK_EQ(store_key_name(&pfx, "/", NULL), CC_OK);
		CHECK_EQ(s->ops->list(s, pfx.data, collect, &sn, &err), CC_OK);
		CHECK_EQ(sn.n, 2);
		seen_release(&sn);
		CHECK_EQ(store_key_name(&pfx, k200, NULL), CC_OK);
		CHECK_EQ(s->ops->list(s, pfx.data, collect, &sn, &err), CC_OK);
		CHECK_EQ(sn.n, 2);
		seen_release(&sn);
		k200[199] = '\0';	/* 199 a: those of 199 and 200 a */
		CHECK_EQ(store_key_name(&pfx, k200, NULL), CC_OK);
		CHECK_EQ(s->ops->list(s, pfx.data, collect, &sn, &err), CC_OK);
		CHECK_EQ(sn.n, 3);
		seen_release(&sn);
		free(k200);
		buf_release(&pfx);
	}
	for (size_t i = 0; i < NK; i++) {
		buf_release(&names[i]);
		free(keys[i]);
	}
	store_close(s);
}

/* No object name leaves the store's directory, and none lands where the
 * staging files live. */
static void test_names_stay_inside(void)
{
	struct store *s = open_store("inside", true);
	struct cc_err err;
	char path[512];
	bool found = false;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(put_data(s, "keys/..", "dots", 4, 0, NULL), CC_OK);
	CHECK_EQ(s->ops->stat(s, "keys/..", &found, NULL, &err), CC_OK);
	CHECK(found);
	/* The store directory and its parent are still directories. */
	{
		struct stat st;

		snprintf(path, sizeof(path), "%s/inside/keys", base);
		CHECK(!lstat(path, &st) && S_ISDIR(st.st_mode));
		snprintf(path, sizeof(path), "%s/inside", base);
		CHECK(!lstat(path, &st) && S_ISDIR(st.st_mode));
	}
	/* A key named like a staging file survives a sweep (prepare_write)
	 * and a listing shows it. */
	CHECK_EQ(put_data(s, "keys/.cc-0000000000000000.tmp", "t", 1, 0, NULL), CC_OK);
	CHECK_EQ(s->ops->prepare_write(s, &err), CC_OK);
	CHECK_EQ(s->ops->stat(s, "keys/.cc-0000000000000000.tmp", &found, NULL, &err), CC_OK);
	CHECK(found);
	store_close(s);
}

/* etag from stat and list; put_if_match replaces only the version it
 * names, keeps the old mtime, and reports a changed or vanished object. */
static int list_etag_fn(void *ctx, const struct store_object *o)
{
	if (!strcmp(o->name, "keys/k"))
		snprintf(ctx, 72, "%s", o->etag);
	return 0;
}

static void test_put_if_match(void)
{
	struct store *s = open_store("ifmatch", true);
	struct store_object o1, o2;
	struct cc_err err;
	char listed[72] = "", got[8] = "";
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 123456789 } };
	char path[512], *src;
	bool found, mismatch;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(s->ops->put_if_match != NULL);
	CHECK_EQ(put_data(s, "keys/k", "one", 3, 0, NULL), CC_OK);
	snprintf(path, sizeof(path), "%s/ifmatch/keys/k", base);
	CHECK(!utimensat(AT_FDCWD, path, ts, 0));
	CHECK_EQ(s->ops->stat(s, "keys/k", &found, &o1, &err), CC_OK);
	CHECK(found && o1.etag[0]);
	CHECK_EQ(s->ops->list(s, "keys/", list_etag_fn, listed, &err), CC_OK);
	CHECK_STR(listed, o1.etag);
	/* Matching version: replaced, old mtime kept, staged file gone. */
	src = stage(s, "two!", 4);
	CHECK_EQ(s->ops->put_if_match(s, "keys/k", src, o1.etag, &mismatch, &err), CC_OK);
	CHECK(!mismatch);
	CHECK(!exists(src));
	free(src);
	CHECK_EQ(s->ops->get_range(s, "keys/k", 0, 4, got, &err), CC_OK);
	CHECK_STR(got, "two!");
	CHECK_EQ(s->ops->stat(s, "keys/k", &found, &o2, &err), CC_OK);
	CHECK_EQ(o2.mtime_ns, o1.mtime_ns);
	CHECK_EQ(o2.mtime_ns, 1000000000123456789LL);
	CHECK(strcmp(o2.etag, o1.etag) != 0);
	/* The old version again: a mismatch, nothing changes. */
	src = stage(s, "three", 5);
	CHECK_EQ(s->ops->put_if_match(s, "keys/k", src, o1.etag, &mismatch, &err), CC_OK);
	CHECK(mismatch);
	CHECK(!exists(src));
	free(src);
	memset(got, 0, sizeof(got));
	CHECK_EQ(s->ops->get_range(s, "keys/k", 0, 4, got, &err), CC_OK);
	CHECK_STR(got, "two!");
	/* Same size, same mtime, rewritten by rename: still a mismatch. */
	CHECK_EQ(put_data(s, "keys/k", "TWO!", 4, 0, NULL), CC_OK);
	CHECK(!utimensat(AT_FDCWD, path, ts, 0));
	src = stage(s, "four", 4);
	CHECK_EQ(s->ops->put_if_match(s, "keys/k", src, o2.etag, &mismatch, &err), CC_OK);
	CHECK(mismatch);
	free(src);
	memset(got, 0, sizeof(got));
	CHECK_EQ(s->ops->get_range(s, "keys/k", 0, 4, got, &err), CC_OK);
	CHECK_STR(got, "TWO!");
	/* Vanished: a mismatch, nothing created. */
	CHECK_EQ(s->ops->del(s, "keys/k", &err), CC_OK);
	src = stage(s, "five", 4);
	CHECK_EQ(s->ops->put_if_match(s, "keys/k", src, o2.etag, &mismatch, &err), CC_OK);
	CHECK(mismatch);
	free(src);
	CHECK_EQ(s->ops->stat(s, "keys/k", &found, NULL, &err), CC_OK);
	CHECK(!found);
	store_close(s);
}

/* Many objects read through the handle's descriptor cache. */
static void test_many_objects(void)
{
	struct store *s = open_store("many", true);
	struct cc_err err;
	char name[64];
	size_t bad = 0;

	CHECK(s != NULL);
	if (!s)
		return;
	for (int i = 0; i < 40; i++) {
		uint32_t v = (uint32_t)i * 2654435761u;

		snprintf(name, sizeof(name), "packs/%02d.pack", i);
		CHECK_EQ(put_data(s, name, &v, sizeof(v), 0, NULL), CC_OK);
	}
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < 40; i += 1 + round) {
			uint32_t v = 0;

			snprintf(name, sizeof(name), "packs/%02d.pack", i);
			if (s->ops->get_range(s, name, 0, sizeof(v), &v, &err) ||
			    v != (uint32_t)i * 2654435761u)
				bad++;
		}
	CHECK_EQ(bad, 0);
	store_close(s);
}

/* store_loc_parse: what object-store backends make of BUCKET/PREFIX?OPTS. */
static void test_loc_parse(void)
{
	static const char *const known[] = { "endpoint", "region" };
	struct store s = { .location = "x://shown" };
	struct store_loc l;
	struct cc_err err;

	cc_err_clear(&err);
	CHECK_EQ(store_loc_parse(&s, "x", "b//ci/./x/", known, 2, &l, &err), CC_EUSAGE);
	CHECK_STR(err.msg, "bad x prefix in 'x://shown'");
	CHECK(!l.bucket && !l.prefix);
	CHECK_EQ(store_loc_parse(&s, "x", "b/../c", known, 2, &l, &err), CC_EUSAGE);
	CHECK_EQ(store_loc_parse(&s, "x", "bkt//ci///cache/?region=eu%2Dwest-1&endpoint=http%3A//h:1&region=us",
				 known, 2, &l, &err), CC_OK);
	CHECK_STR(l.bucket, "bkt");
	CHECK_STR(l.prefix, "ci/cache/");
	CHECK_STR(l.opt[0], "http://h:1");
	CHECK_STR(l.opt[1], "us");	/* the last one given */
	store_loc_release(&l);
	CHECK_EQ(store_loc_parse(&s, "x", "bkt", known, 2, &l, &err), CC_OK);
	CHECK_STR(l.prefix, "");
	CHECK(!l.opt[0] && !l.opt[1]);
	store_loc_release(&l);
	CHECK_EQ(store_loc_parse(&s, "x", "bkt/p?colour=red", known, 2, &l, &err), CC_EUSAGE);
	CHECK_STR(err.msg, "unknown option 'colour' in 'x://shown' (known: endpoint, region)");
	CHECK_EQ(store_loc_parse(&s, "x", "bkt?region", known, 2, &l, &err), CC_EUSAGE);
	CHECK(strstr(err.msg, "unknown option 'region'") != NULL);
	CHECK(!l.bucket && !l.opt[0] && !l.opt[1]);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	int rc;

	snprintf(base, sizeof(base), "%s/cc-test-store.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base)) {
		printf("not ok 1 - cannot create a temporary directory: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_open);
	RUN(test_open_schemes);
	RUN(test_loc_parse);
	RUN(test_missing_store);
	RUN(test_prepare_write);
	RUN(test_put_get);
	RUN(test_put_if_absent);
	RUN(test_replace_and_delete);
	RUN(test_list);
	RUN(test_comma_names);
	RUN(test_names_stay_inside);
	RUN(test_many_objects);
	RUN(test_put_if_match);
	rc = test_summary();
	rm_rf(base);
	return rc;
}
