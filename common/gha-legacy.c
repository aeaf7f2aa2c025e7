/* gha-legacy.c: finding the entries actions/cache saved and extracting
 * their tar archives with libarchive (see gha-legacy.h).
 *
 * The archive is downloaded into an unlinked temporary file and read
 * twice: a check pass maps every member into a root, checks its type and
 * hard-link target and reads the stream to its end (a truncated or damaged
 * archive fails here, before anything is written); the write pass then
 * writes through dest.c, as restore.c does (see dest.h for the rules).
 * Each member goes to the outermost root holding it (roots inside another
 * are dropped), so no member can land on a directory this code follows. */
#include "gha-legacy.h"
#include "dest.h"
#include "strset.h"
#include "log.h"
#include "pathspec.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define VERSION_SALT "1.0"
#define READ_BLOCK (128 * 1024)

static const char *const comp_names[] = {
	[GHA_LEGACY_ZSTD_WITHOUT_LONG] = "zstd-without-long",
	[GHA_LEGACY_GZIP] = "gzip",
};

enum cc_code gha_legacy_version(const char *const *paths, size_t npaths,
				enum gha_legacy_comp comp, char ret_hex[65], struct cc_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *tail[] = { comp_names[comp], VERSION_SALT };
	unsigned char md[32];
	unsigned int mdlen = 0;
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

	/* components.join("|"): the paths, the method, the salt. */
	for (size_t i = 0; ok && i < npaths + 2; i++) {
		const char *c = i < npaths ? paths[i] : tail[i - npaths];

		ok = (!i || EVP_DigestUpdate(ctx, "|", 1)) && EVP_DigestUpdate(ctx, c, strlen(c));
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return cc_err_set(err, CC_EINTERNAL, 0, "cannot compute SHA-256");
	for (int i = 0; i < 32; i++)
		snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
	return CC_OK;
}

void gha_legacy_entry_free(struct gha_legacy_entry *e)
{
	if (!e)
		return;
	free(e->key);
	if (e->url) {
		OPENSSL_cleanse(e->url, strlen(e->url));
		free(e->url);
	}
	free(e);
}

enum cc_code gha_legacy_find(struct store *s, const char *const *paths, size_t npaths,
			     const char *key, const char *const *restore_keys,
			     size_t nrestore_keys, struct gha_legacy_entry **ret,
			     struct cc_err *err)
{
	struct buf k = BUF_INIT, url = BUF_INIT;
	enum cc_code rc = CC_OK;
	bool found = false;

	*ret = NULL;
	if (!npaths || !s->ops->legacy_lookup)
		return CC_OK;	/* actions/cache needs a path; this store has no such entries */
	for (int c = GHA_LEGACY_ZSTD_WITHOUT_LONG; c <= GHA_LEGACY_GZIP && !found; c++) {
		char version[65];

		buf_reset(&k);
		buf_reset(&url);
		if ((rc = gha_legacy_version(paths, npaths, c, version, err)) ||
		    (rc = s->ops->legacy_lookup(s, version, key, restore_keys, nrestore_keys,
						&found, &k, &url, err)))
			goto cleanup;
		if (!found)
			continue;
		if (!(*ret = calloc(1, sizeof(**ret)))) {
			rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
			goto cleanup;
		}
		(*ret)->exact = !strcmp(k.data, key);
		(*ret)->comp = c;
		(*ret)->key = buf_detach(&k, NULL);
		(*ret)->url = buf_detach(&url, NULL);
		cc_debug("gha: actions/cache entry '%s' (%s)", (*ret)->key, comp_names[c]);
	}
cleanup:
	buf_release(&k);
	OPENSSL_cleanse(url.data, url.len);
	buf_release(&url);
	return rc;
}

/* ------------------------------------------------------------ roots */

struct root {
	char *abs;		/* clean, absolute, not "/" */
	size_t len;
	int pfd, fd;		/* its parent and itself, once opened; else -1 */
	size_t idx;		/* its number in dest */
	const char *base;	/* its name in pfd */
};

/* A directory member: its mode and time are set once the files are in. */
struct dirmeta {
	char *abs;
	mode_t mode;
	bool has_time;
	struct timespec mtime;
};

struct legacy {
	const struct gha_legacy_entry *e;
	struct root *roots;
	size_t nroots;
	struct buf base;		/* the workspace, clean and absolute */
	struct strset files;		/* regular files met so far */
	struct buf abs, tabs, arg, spec;
	struct gha_legacy_stats *st;
	bool write;
	struct dest dest;
	int cache_fd;			/* the directory last opened ... */
	struct buf cache_dir;		/* ... and its absolute path */
	struct dirmeta *dirs;
	size_t ndirs, dirs_alloc;
};

/* @return true if path is dir or lies below it. */
static bool is_under(const char *path, const char *dir, size_t dlen)
{
	return !strncmp(path, dir, dlen) && (!path[dlen] || path[dlen] == '/');
}

static bool has_glob(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '*' || p[i] == '?' || p[i] == '[')
			return true;
	return false;
}

/* The root of one `path:` line: the path, or for a glob pattern the
 * directory before its first glob component.  @return CC_OK with
 * *ret_skip for an exclusion, which adds no root. */
static enum cc_code root_of(struct legacy *x, const char *path, const char *cwd,
			    const char *home, bool *ret_skip, struct cc_err *err)
{
	const char *p = path;
	enum cc_code rc;

	*ret_skip = path[0] == '!';
	if (*ret_skip)
		return CC_OK;
	buf_reset(&x->arg);
	while (*p) {
		size_t n = strcspn(p, "/");

		if (has_glob(p, n))
			break;
		if ((rc = buf_add(&x->arg, p, n + (p[n] == '/'), err)))
			return rc;
		p += n + (p[n] == '/');
	}
	if (!x->arg.len && (rc = buf_addstr(&x->arg, ".", err)))
		return rc;
	return cc_path_record(x->arg.data, cwd, home, &x->spec, &x->abs, err);
}

static enum cc_code roots_init(struct legacy *x, const struct gha_legacy_opts *o,
			       struct cc_err *err)
{
	enum cc_code rc;

	if (!(x->roots = calloc(o->npaths ? o->npaths : 1, sizeof(*x->roots))))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < o->npaths; i++) {
		bool skip;

		if ((rc = root_of(x, o->paths[i], o->cwd, o->home, &skip, err)))
			return rc;
		if (skip)
			continue;
		if (!strcmp(x->abs.data, "/"))
			return cc_err_set(err, CC_EUSAGE, 0,
					  "refusing to restore an actions/cache entry over '/' (path '%s')",
					  o->paths[i]);
		if (!(x->roots[x->nroots].abs = strdup(x->abs.data)))
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		x->roots[x->nroots].len = x->abs.len;
		x->roots[x->nroots].pfd = x->roots[x->nroots].fd = -1;
		x->nroots++;
	}
	/* Members go to the outermost root holding them: a root inside
	 * another (or given twice) is never used, and would only make the
	 * two look like roots reaching one directory by two ways. */
	for (size_t i = 0; i < x->nroots;) {
		bool inner = false;

		for (size_t j = 0; j < x->nroots && !inner; j++)
			inner = j != i && is_under(x->roots[i].abs, x->roots[j].abs, x->roots[j].len) &&
				(x->roots[j].len < x->roots[i].len || j < i);
		if (!inner) {
			i++;
			continue;
		}
		free(x->roots[i].abs);
		x->roots[i] = x->roots[--x->nroots];
	}
	if (!x->nroots)
		return cc_err_set(err, CC_EUSAGE, 0, "no path to restore the actions/cache entry into");
	/* Member names are relative to the workspace (tar -C). */
	buf_reset(&x->arg);
	if ((rc = buf_addf(&x->arg, err, "%s%s", o->workspace && o->workspace[0] != '/' ? "./" : "",
			   o->workspace && *o->workspace ? o->workspace : o->cwd)) ||
	    (rc = cc_path_record(x->arg.data, o->cwd, NULL, &x->spec, &x->base, err)))
		return rc;
	return CC_OK;
}

/* Maps a member name to its absolute path in out.  @return the outermost
 * root holding it, or NULL. */
static struct root *map_member(struct legacy *x, const char *name, struct buf *out,
			       struct cc_err *err)
{
	struct root *best = NULL;

	/* "./" keeps a leading "~" a directory name. */
	buf_reset(&x->arg);
	if (buf_addf(&x->arg, err, "%s%s", name[0] == '/' ? "" : "./", name) ||
	    cc_path_record(x->arg.data, x->base.data, NULL, &x->spec, out, err))
		return NULL;
	for (size_t i = 0; i < x->nroots; i++)
		if (is_under(out->data, x->roots[i].abs, x->roots[i].len) &&
		    (!best || x->roots[i].len < best->len))
			best = &x->roots[i];
	if (!best)
		cc_err_set(err, CC_ECORRUPT, 0,
			   "refusing actions/cache entry '%s': its member '%s' lies outside the "
			   "paths to restore", x->e->key, name);
	return best;
}

/* ------------------------------------------------------------ writing */

static void cache_drop(struct legacy *x)
{
	if (x->cache_fd >= 0)
		close(x->cache_fd);
	x->cache_fd = -1;
	buf_reset(&x->cache_dir);
}

/* Opens the directory holding abs (in root r); *ret_name is abs's last
 * component.  With self, opens abs itself (a directory) instead.
 * @return a borrowed fd, valid until the next call, or -1 with err set. */
static int open_dir_of(struct legacy *x, struct root *r, const char *abs, bool self,
		       const char **ret_name, struct cc_err *err)
{
	const char *slash = strrchr(abs, '/');
	size_t dlen = self ? strlen(abs) : (size_t)(slash - abs);
	const char *p;
	int fd, next;

	if (ret_name)
		*ret_name = slash + 1;
	if (x->cache_fd >= 0 && x->cache_dir.len == dlen && !memcmp(x->cache_dir.data, abs, dlen))
		return x->cache_fd;
	if (x->cache_fd >= 0 && x->cache_dir.len >= r->len && x->cache_dir.len < dlen &&
	    is_under(x->cache_dir.data, r->abs, r->len) && abs[x->cache_dir.len] == '/' &&
	    !memcmp(x->cache_dir.data, abs, x->cache_dir.len)) {
		/* Below the directory at hand (tar lists a directory, then
		 * what it holds): go on from there. */
		p = abs + x->cache_dir.len;
		fd = x->cache_fd;
		x->cache_fd = -1;
	} else {
		cache_drop(x);
		if (r->pfd < 0 &&
		    (r->pfd = dest_root_parent(&x->dest, r->abs, &r->idx, &r->base, err)) < 0)
			return -1;
		if (dlen >= r->len && r->fd < 0 &&
		    (r->fd = dest_root_dir(&x->dest, r->idx, r->pfd, r->base, 0777, r->abs, err)) < 0)
			return -1;
		p = abs + r->len;
		/* the root, or for the root's own member its parent */
		if ((fd = dup(dlen >= r->len ? r->fd : r->pfd)) < 0) {
			cc_err_set(err, CC_EDEST, errno, "cannot open '%s'", r->abs);
			return -1;
		}
	}
	buf_reset(&x->cache_dir);
	if (dlen >= r->len) {
		/* Below the root: every component without following. */
		for (; fd >= 0 && (size_t)(p - abs) < dlen;) {
			size_t n;
			char *comp;

			p++;
			n = strcspn(p, "/");
			if ((size_t)(p - abs) + n > dlen)
				break;
			if (!(comp = strndup(p, n))) {
				close(fd);
				cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
				return -1;
			}
			next = dest_enter_dir(&x->dest, fd, comp, 0777, abs, err);
			free(comp);
			close(fd);
			fd = next;
			p += n;
		}
		if (fd < 0)
			return -1;
	}
	if (buf_add(&x->cache_dir, abs, dlen, err)) {
		close(fd);
		return -1;
	}
	x->cache_fd = fd;
	return fd;
}

static void entry_times(struct archive_entry *ae, struct timespec t[2])
{
	if (archive_entry_mtime_is_set(ae)) {
		t[0].tv_sec = t[1].tv_sec = archive_entry_mtime(ae);
		t[0].tv_nsec = t[1].tv_nsec = archive_entry_mtime_nsec(ae);
	} else {
		t[0].tv_sec = t[1].tv_sec = 0;
		t[0].tv_nsec = t[1].tv_nsec = UTIME_OMIT;
	}
}

static enum cc_code write_file(struct legacy *x, struct archive *a, struct archive_entry *ae,
			       int dfd, const char *name, const char *what, struct cc_err *err)
{
	struct dest_file f;
	struct timespec t[2];
	enum cc_code rc = CC_OK;
	int fd, r;

	if ((fd = dest_file_create(&x->dest, &f, dfd, name, what, err)) < 0)
		return err->code;
	for (;;) {
		const void *p;
		size_t n;
		la_int64_t off;

		r = archive_read_data_block(a, &p, &n, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "actions/cache entry '%s' is damaged at '%s': %s",
					x->e->key, what, archive_error_string(a) ?
					archive_error_string(a) : "unreadable data");
			goto cleanup;
		}
		if (pwrite_all(fd, p, n, (off_t)off)) {
			rc = cc_err_set(err, CC_EDEST, errno, "cannot write '%s'", what);
			goto cleanup;
		}
		x->st->bytes += n;
	}
	/* A sparse file's hole at the end. */
	if (archive_entry_size_is_set(ae) && archive_entry_size(ae) >= 0 &&
	    ftruncate(fd, (off_t)archive_entry_size(ae))) {
		rc = cc_err_set(err, CC_EDEST, errno, "cannot size '%s'", what);
		goto cleanup;
	}
	entry_times(ae, t);
	if (fchmod(fd, archive_entry_perm(ae) & ~(mode_t)(S_ISUID | S_ISGID)))
		rc = cc_err_set(err, CC_EDEST, errno, "cannot set the mode of '%s'", what);
	else if (futimens(fd, t))
		rc = cc_err_set(err, CC_EDEST, errno, "cannot set the time of '%s'", what);
cleanup:
	if (rc)
		dest_file_abort(&f);
	else
		rc = dest_file_commit(&f, what, err);
	if (!rc)
		x->st->files++;
	return rc;
}

static enum cc_code write_symlink(struct legacy *x, struct archive_entry *ae, int dfd,
				  const char *name, const char *what, struct cc_err *err)
{
	const char *target = archive_entry_symlink(ae) ? archive_entry_symlink(ae)
						       : archive_entry_symlink_utf8(ae);
	struct timespec t[2];
	enum cc_code rc;

	entry_times(ae, t);
	if ((rc = dest_symlink(&x->dest, dfd, name, target, t, false, 0, 0, what, err)))
		return rc;
	x->st->symlinks++;
	return CC_OK;
}

static enum cc_code write_hardlink(struct legacy *x, struct root *tr, int dfd, const char *name,
				   const char *what, struct cc_err *err)
{
	const char *tname;
	struct stat st;
	enum cc_code rc;
	int tfd;

	/* dfd is borrowed from the cache, which the target's lookup reuses:
	 * keep our own copy. */
	if ((dfd = dup(dfd)) < 0)
		return cc_err_set(err, CC_EDEST, errno, "cannot open the directory of '%s'", what);
	tfd = open_dir_of(x, tr, x->tabs.data, false, &tname, err);
	if (tfd < 0) {
		rc = err->code;
		goto cleanup;
	}
	if (fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode)) {
		rc = cc_err_set(err, CC_ECORRUPT, 0,
				"refusing actions/cache entry '%s': hard link '%s' points at '%s', "
				"which is no file of the entry", x->e->key, what, x->tabs.data);
		goto cleanup;
	}
	if ((rc = dest_hardlink(&x->dest, tfd, tname, dfd, name, what, err)))
		goto cleanup;
	x->st->hardlinks++;
cleanup:
	close(dfd);
	return rc;
}

static enum cc_code remember_dir(struct legacy *x, struct archive_entry *ae, struct cc_err *err)
{
	struct dirmeta *d;

	if (ARRAY_GROW(x->dirs, x->dirs_alloc, x->ndirs + 1))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	d = &x->dirs[x->ndirs];
	if (!(d->abs = strdup(x->abs.data)))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	d->mode = archive_entry_perm(ae) & ~(mode_t)S_ISUID;
	d->has_time = archive_entry_mtime_is_set(ae);
	d->mtime.tv_sec = archive_entry_mtime(ae);
	d->mtime.tv_nsec = archive_entry_mtime_nsec(ae);
	x->ndirs++;
	return CC_OK;
}

/* Sets the directories' modes and times, deepest last-listed first. */
static enum cc_code finish_dirs(struct legacy *x, struct cc_err *err)
{
	for (size_t i = x->ndirs; i-- > 0;) {
		struct dirmeta *d = &x->dirs[i];
		struct timespec t[2] = { d->mtime, d->mtime };
		struct root *r = NULL;
		int fd;

		for (size_t k = 0; k < x->nroots; k++)
			if (is_under(d->abs, x->roots[k].abs, x->roots[k].len) &&
			    (!r || x->roots[k].len < r->len))
				r = &x->roots[k];
		if (!r || (fd = open_dir_of(x, r, d->abs, true, NULL, err)) < 0)
			return r ? err->code : cc_err_set(err, CC_EINTERNAL, 0, "lost root");
		if (fchmod(fd, d->mode))
			return cc_err_set(err, CC_EDEST, errno, "cannot set the mode of '%s'", d->abs);
		if (d->has_time && futimens(fd, t))
			return cc_err_set(err, CC_EDEST, errno, "cannot set the time of '%s'", d->abs);
	}
	return CC_OK;
}

/* One member: checked (and remembered) in the check pass, written in the
 * write pass. */
static enum cc_code member(struct legacy *x, struct archive *a, struct archive_entry *ae,
			   struct cc_err *err)
{
	/* Names as bytes: without a locale for them, their UTF-8 form. */
	const char *name = archive_entry_pathname(ae) ? archive_entry_pathname(ae)
						      : archive_entry_pathname_utf8(ae);
	const char *hl = archive_entry_hardlink(ae) ? archive_entry_hardlink(ae)
						    : archive_entry_hardlink_utf8(ae);
	const char *base;
	struct root *r, *tr = NULL;
	mode_t type = archive_entry_filetype(ae);
	enum cc_code rc;
	int dfd;

	if (!name || !*name)
		return cc_err_set(err, CC_ECORRUPT, 0,
				  "actions/cache entry '%s' is damaged: a member without a name",
				  x->e->key);
	if (!(r = map_member(x, name, &x->abs, err)))
		return err->code;
	if (hl) {
		if (!(tr = map_member(x, hl, &x->tabs, err)))
			return err->code;
		if (!strset_has(&x->files, x->tabs.data) || !strcmp(x->tabs.data, x->abs.data))
			return cc_err_set(err, CC_ECORRUPT, 0,
					  "refusing actions/cache entry '%s': hard link '%s' points at "
					  "'%s', not an earlier file of the entry", x->e->key, name, hl);
	} else if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO || type == AE_IFSOCK ||
		   (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) ||
		   (type == AE_IFLNK && !archive_entry_symlink(ae) &&
		    !archive_entry_symlink_utf8(ae))) {
		return cc_err_set(err, CC_ECORRUPT, 0,
				  "refusing actions/cache entry '%s': member '%s' is a %s", x->e->key,
				  name, type == AE_IFCHR || type == AE_IFBLK ? "device file" :
				  type == AE_IFIFO ? "fifo" : type == AE_IFSOCK ? "socket" :
				  "file of an unknown type");
	}
	if (!x->write) {
		if (!hl && type == AE_IFREG && (rc = strset_add(&x->files, x->abs.data, err)))
			return rc;
		return CC_OK;
	}
	if (!hl && type == AE_IFDIR) {
		if (open_dir_of(x, r, x->abs.data, true, NULL, err) < 0)
			return err->code;
		x->st->dirs++;
		return remember_dir(x, ae, err);
	}
	/* A non-directory: no directory opened at or below it stays cached. */
	if (x->cache_dir.len && is_under(x->cache_dir.data, x->abs.data, x->abs.len))
		cache_drop(x);
	if ((dfd = open_dir_of(x, r, x->abs.data, false, &base, err)) < 0)
		return err->code;
	if (hl)
		return write_hardlink(x, tr, dfd, base, x->abs.data, err);
	if (type == AE_IFLNK)
		return write_symlink(x, ae, dfd, base, x->abs.data, err);
	return write_file(x, a, ae, dfd, base, x->abs.data, err);
}

/* Reads the archive in fd from its start, one pass. */
static enum cc_code pass(struct legacy *x, int fd, struct cc_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	uint64_t members = 0;
	enum cc_code rc = CC_OK;
	int r;

	if (!a)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (lseek(fd, 0, SEEK_SET) || archive_read_open_fd(a, fd, READ_BLOCK) != ARCHIVE_OK) {
		rc = cc_err_set(err, CC_ECORRUPT, 0, "actions/cache entry '%s' is damaged: %s",
				x->e->key, archive_error_string(a) ? archive_error_string(a) :
				"not a tar archive");
		goto cleanup;
	}
	for (;;) {
		r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "actions/cache entry '%s' is damaged: %s",
					x->e->key, archive_error_string(a) ? archive_error_string(a) :
					"truncated or not a tar archive");
			goto cleanup;
		}
		members++;
		if ((rc = member(x, a, ae, err)))
			goto cleanup;
		if (!x->write && archive_read_data_skip(a) != ARCHIVE_OK) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "actions/cache entry '%s' is damaged: %s",
					x->e->key, archive_error_string(a) ? archive_error_string(a) :
					"truncated");
			goto cleanup;
		}
	}
	if (!members)
		rc = cc_err_set(err, CC_ECORRUPT, 0, "actions/cache entry '%s' holds no files",
				x->e->key);
cleanup:
	archive_read_free(a);
	return rc;
}

enum cc_code gha_legacy_restore(struct store *s, const struct gha_legacy_entry *e,
				const struct gha_legacy_opts *opts,
				struct gha_legacy_stats *ret_stats, struct cc_err *err)
{
	struct legacy x = { 0 };
	struct buf tmp = BUF_INIT;
	struct stat st;
	uint64_t max = opts->max_bytes ? opts->max_bytes : GHA_LEGACY_MAX_BYTES;
	enum cc_code rc;
	int fd = -1;

	memset(ret_stats, 0, sizeof(*ret_stats));
	x.e = e;
	x.st = ret_stats;
	x.cache_fd = -1;
	dest_init(&x.dest, "the actions/cache entry", opts->cwd, opts->home, opts->keep_dir_symlink);
	buf_init(&x.abs, 0);
	if ((rc = roots_init(&x, opts, err)))
		goto cleanup;
	if ((fd = store_tmpfile(s, &tmp, err)) < 0) {
		rc = err->code;
		goto cleanup;
	}
	unlink(tmp.data);	/* private: gone with the fd, even if we are killed */
	rc = s->ops->legacy_fetch ? s->ops->legacy_fetch(s, e->url, e->key, fd, max, err)
				  : cc_err_set(err, CC_EINTERNAL, 0, "the %s store holds no "
					       "actions/cache entries", s->ops->name);
	if (rc == CC_ENOMEM)
		rc = cc_err_set(err, CC_ECORRUPT, 0,
				"actions/cache entry '%s' is larger than %llu bytes", e->key,
				(unsigned long long)max);
	if (rc)
		goto cleanup;
	if (!fstat(fd, &st))
		ret_stats->archive_bytes = (uint64_t)st.st_size;
	cc_debug("gha: checking actions/cache entry '%s' (%llu bytes)", e->key,
		 (unsigned long long)ret_stats->archive_bytes);
	if ((rc = pass(&x, fd, err)))
		goto cleanup;
	{
		const char **abs = calloc(x.nroots, sizeof(*abs));

		for (size_t i = 0; abs && i < x.nroots; i++)
			abs[i] = x.roots[i].abs;
		rc = abs ? dest_check_roots(&x.dest, abs, abs, x.nroots, err)
			 : cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		free(abs);
		if (rc)
			goto cleanup;
	}
	x.write = true;
	if ((rc = pass(&x, fd, err)) || (rc = finish_dirs(&x, err)))
		goto cleanup;
cleanup:
	/* Member names are chosen by whoever wrote the entry: no control
	 * characters (or CI workflow commands on a line of their own) may
	 * reach a message. */
	for (char *p = err && rc ? err->msg : ""; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	cache_drop(&x);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; x.roots && i < x.nroots; i++) {
		if (x.roots[i].pfd >= 0)
			close(x.roots[i].pfd);
		if (x.roots[i].fd >= 0)
			close(x.roots[i].fd);
		free(x.roots[i].abs);
	}
	dest_release(&x.dest);
	free(x.roots);
	for (size_t i = 0; i < x.ndirs; i++)
		free(x.dirs[i].abs);
	free(x.dirs);
	strset_release(&x.files);
	buf_release(&x.base);
	buf_release(&x.abs);
	buf_release(&x.tabs);
	buf_release(&x.arg);
	buf_release(&x.spec);
	buf_release(&x.cache_dir);
	buf_release(&tmp);
	return rc;
}
