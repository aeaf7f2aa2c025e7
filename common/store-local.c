/* store-local.c: a store in a local directory (the embedded default).
 *
 * Layout: DIR/cicache-store (marker), DIR/packs/<id>.pack, DIR/keys/<key>,
 * DIR/tmp/ (staging; same file system, so publishing is a rename).
 * Object name components longer than SEG bytes are split into pieces;
 * every piece but the last is a directory whose name gets a ',' appended,
 * and a piece starting with '.' or ',' gets a ',' in front, so no object
 * can collide with a temporary file or escape its directory, and listing
 * (strip one leading ',', and the trailing ',' of a directory) gives every
 * name back.  Key names hold ',' only in E's ",XX" escapes (key.h), and
 * never did before them, so older stores read the same. */
#include "store.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEG 200
#define NFD 8
#define MARKER "cicache-store"
#define STALE_TMP_SECONDS (24 * 3600)

struct local {
	char *dir;
	struct {
		char *name;
		int fd;
		unsigned long used;
	} fds[NFD];
	unsigned long tick;
};

static enum cc_code encode(struct local *l, const char *name, struct buf *ret,
			   struct cc_err *err)
{
	const char *p = name;
	enum cc_code rc;

	buf_reset(ret);
	if ((rc = buf_addstr(ret, l->dir, err)))
		return rc;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if ((rc = buf_add(ret, "/", 1, err)))
			return rc;
		for (;;) {
			size_t k = n > SEG ? SEG : n;

			/* Listing strips exactly one leading ',' per file name. */
			if ((*p == '.' || *p == ',') && (rc = buf_add(ret, ",", 1, err)))
				return rc;
			if ((rc = buf_add(ret, p, k, err)))
				return rc;
			p += k;
			n -= k;
			if (!n)
				break;
			if ((rc = buf_add(ret, ",/", 2, err)))
				return rc;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return CC_OK;
}

static enum cc_code mkdirs(const char *path, size_t upto, struct cc_err *err)
{
	char tmp[PATH_MAX];

	if (upto >= sizeof(tmp))
		return cc_err_set(err, CC_ESTORE, ENAMETOOLONG, "cannot create '%s'", path);
	memcpy(tmp, path, upto);
	tmp[upto] = '\0';
	for (char *p = tmp + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return cc_err_set(err, CC_ESTORE, errno, "cannot create '%s'", tmp);
			*p = c;
			if (!c)
				break;
		}
	}
	return CC_OK;
}

/* location: the directory, from "file://DIR" or a plain "DIR". */
static enum cc_code local_open(struct store *s, const char *location, struct cc_err *err)
{
	struct local *l = calloc(1, sizeof(*l));
	size_t n = strlen(location);

	if (!l)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	s->priv = l;
	for (int i = 0; i < NFD; i++)
		l->fds[i].fd = -1;
	while (n > 1 && location[n - 1] == '/')
		n--;
	l->dir = strndup(location, n);
	if (!l->dir || asprintf(&s->tmpdir, "%s/tmp", l->dir) < 0) {
		s->tmpdir = NULL;
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	return CC_OK;
}

static void local_close(struct store *s)
{
	struct local *l = s->priv;

	for (int i = 0; i < NFD; i++) {
		if (l->fds[i].fd >= 0)
			close(l->fds[i].fd);
		free(l->fds[i].name);
	}
	free(l->dir);
	free(l);
	s->priv = NULL;
}

/* Removes staging files that a killed save left behind long ago.  Recent
 * ones may belong to a save running right now, so they stay. */
static void sweep_tmp(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	time_t now = time(NULL);

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;

		if (strncmp(de->d_name, ".cc-", 4))
			continue;
		if (!fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
		    now - st.st_mtime > STALE_TMP_SECONDS)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static enum cc_code local_prepare_write(struct store *s, struct cc_err *err)
{
	struct local *l = s->priv;
	static const char *sub[] = { "keys", "packs", "tmp" };
	char path[PATH_MAX];
	enum cc_code rc;
	int fd;

	if ((rc = mkdirs(l->dir, strlen(l->dir), err)))
		return rc;
	for (size_t i = 0; i < sizeof(sub) / sizeof(*sub); i++) {
		snprintf(path, sizeof(path), "%s/%s", l->dir, sub[i]);
		if (mkdir(path, 0755) && errno != EEXIST)
			return cc_err_set(err, CC_ESTORE, errno, "cannot create '%s'", path);
	}
	snprintf(path, sizeof(path), "%s/%s", l->dir, MARKER);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return cc_err_set(err, CC_ESTORE, errno, "cannot write to store '%s'", l->dir);
	if (lseek(fd, 0, SEEK_END) == 0 && write_all(fd, "cicache store 1\n", 16)) {
		close(fd);
		return cc_err_set(err, CC_ESTORE, errno, "cannot write to store '%s'", l->dir);
	}
	close(fd);
	if (access(s->tmpdir, W_OK))
		return cc_err_set(err, CC_ESTORE, errno, "cannot write to '%s'", s->tmpdir);
	sweep_tmp(s->tmpdir);
	return CC_OK;
}

static enum cc_code sync_file(const char *path, struct cc_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return cc_err_set(err, CC_ESTORE, errno, "cannot open '%s'", path);
	if (fsync(fd)) {
		int e = errno;

		close(fd);
		return cc_err_set(err, CC_ESTORE, e, "cannot sync '%s'", path);
	}
	close(fd);
	return CC_OK;
}

static enum cc_code local_put(struct store *s, const char *name, const char *src,
			      unsigned flags, bool *ret_existed, struct cc_err *err)
{
	struct local *l = s->priv;
	struct buf dst = BUF_INIT;
	enum cc_code rc;
	char *slash;

	if (ret_existed)
		*ret_existed = false;
	if (!(flags & STORE_PUT_MOVE))
		return cc_err_set(err, CC_EINTERNAL, 0, "local store needs STORE_PUT_MOVE");
	if ((rc = encode(l, name, &dst, err)))
		goto cleanup;
	slash = strrchr(dst.data, '/');
	if ((rc = mkdirs(dst.data, (size_t)(slash - dst.data), err)))
		goto cleanup;
	/* The object must be on disk before its name is: a crash between
	 * the two must not publish a manifest whose packs are missing. */
	if ((rc = sync_file(src, err)))
		goto cleanup;
	if (flags & STORE_PUT_IF_ABSENT) {
		if (link(src, dst.data)) {
			if (errno != EEXIST) {
				rc = cc_err_set(err, CC_ESTORE, errno, "cannot publish '%s'", dst.data);
				goto cleanup;
			}
			if (ret_existed)
				*ret_existed = true;
		}
		unlink(src);
	} else if (rename(src, dst.data)) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot publish '%s'", dst.data);
		goto cleanup;
	}
cleanup:
	buf_release(&dst);
	return rc;
}

/* Returns a read fd for an object.  Packs are read many times and never
 * change under their name (it is their hash), so their fds are cached;
 * anything else may be replaced or deleted, so it is opened afresh and
 * the caller closes it (*ret_owned). */
static int local_fd(struct local *l, const char *name, bool *ret_found, bool *ret_owned,
		    struct cc_err *err)
{
	struct buf path = BUF_INIT;
	int victim = 0, fd;

	*ret_found = true;
	*ret_owned = strncmp(name, STORE_PACKS_PREFIX, strlen(STORE_PACKS_PREFIX)) != 0;
	for (int i = 0; i < NFD && !*ret_owned; i++) {
		if (l->fds[i].name && !strcmp(l->fds[i].name, name)) {
			l->fds[i].used = ++l->tick;
			return l->fds[i].fd;
		}
		if (l->fds[i].used < l->fds[victim].used)
			victim = i;
	}
	if (encode(l, name, &path, err))
		return -1;
	fd = open(path.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			*ret_found = false;
		else
			cc_err_set(err, CC_ESTORE, errno, "cannot open '%s'", path.data);
		buf_release(&path);
		return -1;
	}
	buf_release(&path);
	if (*ret_owned)
		return fd;
	if (l->fds[victim].fd >= 0)
		close(l->fds[victim].fd);
	free(l->fds[victim].name);
	l->fds[victim].name = strdup(name);
	l->fds[victim].fd = l->fds[victim].name ? fd : -1;
	l->fds[victim].used = ++l->tick;
	if (!l->fds[victim].name) {
		close(fd);
		cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		return -1;
	}
	return fd;
}

static enum cc_code local_get_range(struct store *s, const char *name, uint64_t off,
				    size_t len, void *dst, struct cc_err *err)
{
	struct local *l = s->priv;
	bool found, owned;
	int fd = local_fd(l, name, &found, &owned, err);
	enum cc_code rc = CC_OK;
	ssize_t k;

	if (fd < 0)
		return found ? err->code
			     : cc_err_set(err, CC_ECORRUPT, 0, "object '%s' is missing from the store",
					  name);
	k = pread_full(fd, dst, len, (off_t)off);
	if (k < 0)
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot read '%s'", name);
	else if ((size_t)k < len)
		rc = cc_err_set(err, CC_ECORRUPT, 0, "object '%s' is truncated", name);
	if (owned)
		close(fd);
	return rc;
}

static enum cc_code local_get_file(struct store *s, const char *name, int out, uint64_t max,
				   bool *ret_found, struct cc_err *err)
{
	struct local *l = s->priv;
	struct buf path = BUF_INIT;
	char tmp[1 << 16];
	uint64_t total = 0;
	enum cc_code rc;
	int fd = -1;

	*ret_found = false;
	if ((rc = encode(l, name, &path, err)))
		goto cleanup;
	fd = open(path.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			rc = cc_err_set(err, CC_ESTORE, errno, "cannot open '%s'", path.data);
		goto cleanup;
	}
	*ret_found = true;
	for (;;) {
		ssize_t k = read(fd, tmp, sizeof(tmp));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = cc_err_set(err, CC_ESTORE, errno, "cannot read '%s'", path.data);
			goto cleanup;
		}
		if (k == 0)
			break;
		total += (uint64_t)k;
		if (total > max) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "object '%s' is larger than %llu bytes",
					name, (unsigned long long)max);
			goto cleanup;
		}
		if (write_all(out, tmp, (size_t)k)) {
			rc = cc_err_set(err, CC_EDEST, errno, "cannot write a temporary file");
			goto cleanup;
		}
	}
cleanup:
	if (fd >= 0)
		close(fd);
	buf_release(&path);
	return rc;
}

/* The local version of an object: any rewrite (a rename onto the name)
 * changes the inode, an in-place change the size or the mtime. */
static void local_etag(const struct stat *st, char *ret, size_t n)
{
	snprintf(ret, n, "%llu:%llu:%llu:%lld", (unsigned long long)st->st_dev,
		 (unsigned long long)st->st_ino, (unsigned long long)st->st_size,
		 (long long)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
}

static enum cc_code local_stat(struct store *s, const char *name, bool *ret_found,
			       struct store_object *ret, struct cc_err *err)
{
	struct local *l = s->priv;
	struct buf path = BUF_INIT;
	struct stat st;
	enum cc_code rc;

	*ret_found = false;
	if ((rc = encode(l, name, &path, err)))
		goto cleanup;
	if (lstat(path.data, &st)) {
		if (errno != ENOENT && errno != ENOTDIR)
			rc = cc_err_set(err, CC_ESTORE, errno, "cannot stat '%s'", path.data);
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode))
		goto cleanup;
	*ret_found = true;
	if (ret) {
		ret->name = name;
		ret->size = (uint64_t)st.st_size;
		ret->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		local_etag(&st, ret->etag, sizeof(ret->etag));
	}
cleanup:
	buf_release(&path);
	return rc;
}

struct walk {
	const char *prefix;
	size_t prefix_len;
	store_list_fn fn;
	void *ctx;
	bool stop;
	struct buf name;
};

/* Walks dir (an opened directory of the store) rebuilding object names from
 * the encoded file names.  name holds the decoded name so far. */
static enum cc_code walk_dir(struct walk *w, int dfd, const char *what, struct cc_err *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	size_t base = w->name.len;
	enum cc_code rc = CC_OK;

	if (!d) {
		close(dfd);
		return cc_err_set(err, CC_ESTORE, errno, "cannot list '%s'", what);
	}
	while (!w->stop && (errno = 0, de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		bool is_cont;
		struct stat st;

		if (n[0] == '.')
			continue;	/* ".", ".." and temporary files */
		if (n[0] == ',') {
			n++;
			len--;
		}
		is_cont = len && n[len - 1] == ',';
		buf_setlen(&w->name, base);
		if ((rc = buf_add(&w->name, n, is_cont ? len - 1 : len, err)))
			break;
		/* Prune subtrees that cannot match the prefix. */
		{
			size_t m = w->name.len < w->prefix_len ? w->name.len : w->prefix_len;

			if (memcmp(w->name.data, w->prefix, m))
				continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (is_cont && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				continue;
			if ((rc = walk_dir(w, sub, what, err)))
				break;
			continue;
		}
		if (!S_ISREG(st.st_mode) || w->name.len < w->prefix_len)
			continue;
		{
			struct store_object o = {
				.name = w->name.data,
				.size = (uint64_t)st.st_size,
				.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
			};

			local_etag(&st, o.etag, sizeof(o.etag));

			if (w->fn(w->ctx, &o))
				w->stop = true;
		}
	}
	if (!rc && errno && !w->stop)
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot list '%s'", what);
	buf_setlen(&w->name, base);
	closedir(d);
	return rc;
}

static enum cc_code local_list(struct store *s, const char *prefix, store_list_fn fn,
			       void *ctx, struct cc_err *err)
{
	struct local *l = s->priv;
	struct walk w = { .prefix = prefix, .prefix_len = strlen(prefix), .fn = fn, .ctx = ctx };
	const char *slash = strchr(prefix, '/');
	struct buf dir = BUF_INIT;
	enum cc_code rc;
	int dfd;

	/* Only one level of directories is a namespace ("keys/", "packs/"). */
	buf_init(&w.name, 0);
	if (!slash)
		return cc_err_set(err, CC_EINTERNAL, 0, "list prefix '%s' has no namespace", prefix);
	if ((rc = buf_addf(&dir, err, "%s/%.*s", l->dir, (int)(slash - prefix), prefix)) ||
	    (rc = buf_add(&w.name, prefix, (size_t)(slash - prefix) + 1, err)))
		goto cleanup;
	dfd = open(dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno != ENOENT)
			rc = cc_err_set(err, CC_ESTORE, errno, "cannot list '%s'", dir.data);
		goto cleanup;
	}
	rc = walk_dir(&w, dfd, dir.data, err);
cleanup:
	buf_release(&dir);
	buf_release(&w.name);
	return rc;
}

static enum cc_code local_del(struct store *s, const char *name, struct cc_err *err)
{
	struct local *l = s->priv;
	struct buf path = BUF_INIT;
	enum cc_code rc = encode(l, name, &path, err);

	if (!rc && unlink(path.data) && errno != ENOENT)
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot remove '%s'", path.data);
	buf_release(&path);
	return rc;
}

/* Conditional replace.  The new file gets the old object's mtime, then
 * is swapped in with renameat2(RENAME_EXCHANGE), which leaves what it
 * replaced at src: if that is not the version etag names (a save renamed
 * its own object onto the name after our check), it is swapped back.
 * Remaining window: a rename onto the name between the two exchanges
 * (microseconds) is swapped out and lost, and a reader in between sees
 * our version.  Where RENAME_EXCHANGE is not supported, a check then
 * rename(), whose window is the time between the two. */
static enum cc_code local_put_if_match(struct store *s, const char *name, const char *src,
				       const char *etag, bool *ret_mismatch, struct cc_err *err)
{
	struct local *l = s->priv;
	struct buf dst = BUF_INIT;
	struct timespec ts[2];
	char cur[72];
	struct stat st;
	enum cc_code rc = CC_OK;

	*ret_mismatch = false;
	if ((rc = encode(l, name, &dst, err)))
		goto cleanup;
	if (lstat(dst.data, &st)) {
		if (errno != ENOENT && errno != ENOTDIR) {
			rc = cc_err_set(err, CC_ESTORE, errno, "cannot stat '%s'", dst.data);
			goto cleanup;
		}
		*ret_mismatch = true;
		goto cleanup;
	}
	local_etag(&st, cur, sizeof(cur));
	if (!S_ISREG(st.st_mode) || strcmp(cur, etag)) {
		*ret_mismatch = true;
		goto cleanup;
	}
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (utimensat(AT_FDCWD, src, ts, 0)) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot set the time of '%s'", src);
		goto cleanup;
	}
	if ((rc = sync_file(src, err)))
		goto cleanup;
	if (!renameat2(AT_FDCWD, src, AT_FDCWD, dst.data, RENAME_EXCHANGE)) {
		/* src now holds what we replaced. */
		if (lstat(src, &st)) {
			rc = cc_err_set(err, CC_ESTORE, errno, "cannot stat '%s'", src);
			goto cleanup;
		}
		local_etag(&st, cur, sizeof(cur));
		if (!strcmp(cur, etag))
			goto cleanup;
		*ret_mismatch = true;
		if (renameat2(AT_FDCWD, src, AT_FDCWD, dst.data, RENAME_EXCHANGE)) {
			/* src holds the other writer's object: leave it there. */
			rc = cc_err_set(err, CC_ESTORE, errno, "cannot put '%s' back as '%s'", src,
					dst.data);
			buf_release(&dst);
			return rc;
		}
		goto cleanup;
	}
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot publish '%s'", dst.data);
		goto cleanup;
	}
	if (lstat(dst.data, &st) || (local_etag(&st, cur, sizeof(cur)), strcmp(cur, etag))) {
		*ret_mismatch = true;
		goto cleanup;
	}
	if (rename(src, dst.data))
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot publish '%s'", dst.data);
cleanup:
	unlink(src);
	buf_release(&dst);
	return rc;
}

static int local_dir(struct store *s, struct stat *ret)
{
	struct local *l = s->priv;

	return stat(l->dir, ret);
}

const struct store_ops store_local = {
	.name = "local",
	.caps = STORE_CAP_LOCAL_TMP | STORE_CAP_LOCAL_DIR | STORE_CAP_MTIME_NS,
	.open = local_open,
	.close = local_close,
	.prepare_write = local_prepare_write,
	.put = local_put,
	.get_range = local_get_range,
	.get_file = local_get_file,
	.stat = local_stat,
	.list = local_list,
	.del = local_del,
	.put_if_match = local_put_if_match,
	.local_dir = local_dir,
};
