/* dest.c: the one writer of restored files (see dest.h for the rules). */
#include "dest.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)

/* A root: the directories on its way in (chain[k] is the one reached
 * before the part of abs from rest[k] on), and itself once it is a
 * directory. */
struct dest_root {
	char *abs;
	struct dest_id *chain;
	size_t *rest;
	size_t n, alloc;
	bool has_self;
	struct dest_id self;
};

static struct dest_id id_of(const struct stat *st)
{
	struct dest_id id = { st->st_dev, st->st_ino };

	return id;
}

static bool id_eq(struct dest_id a, struct dest_id b)
{
	return a.dev == b.dev && a.ino == b.ino;
}

static bool id_in(struct dest_id id, const struct dest_id *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (id_eq(id, v[i]))
			return true;
	return false;
}

static enum cc_code id_push(struct dest_id **v, size_t *n, size_t *alloc, struct dest_id id,
			    struct cc_err *err)
{
	if (ARRAY_GROW(*v, *alloc, *n + 1))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	(*v)[(*n)++] = id;
	return CC_OK;
}

static enum cc_code root_push(struct dest_root *r, struct dest_id id, size_t rest,
			      struct cc_err *err)
{
	size_t alloc = r->alloc, n = r->n;
	enum cc_code rc;

	if ((rc = id_push(&r->chain, &r->n, &r->alloc, id, err)))
		return rc;
	if (alloc != r->alloc) {
		size_t *x = realloc(r->rest, r->alloc * sizeof(*x));

		if (!x) {
			r->n--;
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		}
		r->rest = x;
	}
	r->rest[n] = rest;
	return CC_OK;
}

/* Whether clean relative paths a and b are the same or one lies below
 * the other. */
static bool rel_overlap(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);

	if (n > m)
		return rel_overlap(b, a);
	return !strncmp(a, b, n) && (!b[n] || b[n] == '/');
}

/* Whether b is a, or lies inside a, by the directories they reach: b's
 * way in passes a's directory, or passes the directory where a's way in
 * ends (what exists of it) and goes on by the same names. */
static bool root_within(const struct dest_root *a, const struct dest_root *b)
{
	if (a->has_self && ((b->has_self && id_eq(a->self, b->self)) ||
			    id_in(a->self, b->chain, b->n)))
		return true;
	if (!a->n)
		return false;
	for (size_t k = 0; k < b->n; k++)
		if (id_eq(b->chain[k], a->chain[a->n - 1]) &&
		    rel_overlap(a->abs + a->rest[a->n - 1], b->abs + b->rest[k]))
			return true;
	return false;
}

static void root_release(struct dest_root *r)
{
	free(r->abs);
	free(r->chain);
	free(r->rest);
	memset(r, 0, sizeof(*r));
}

void dest_init(struct dest *d, const char *holder, const char *cwd, const char *home,
	       bool keep_dir_symlink)
{
	memset(d, 0, sizeof(*d));
	d->holder = holder;
	d->cwd = cwd;
	d->home = home;
	d->keep_dir_symlink = keep_dir_symlink;
	/* Two restores into one directory (two jobs, two containers with
	 * the same pid) must not pick the same temporary names. */
	if (getrandom(&d->seed, sizeof(d->seed), GRND_NONBLOCK) != sizeof(d->seed))
		d->seed = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL) ^ (uintptr_t)d;
}

void dest_release(struct dest *d)
{
	for (size_t i = 0; i < d->nroots; i++)
		root_release(&d->roots[i]);
	free(d->roots);
	free(d->made);
	memset(d, 0, sizeof(*d));
}

static bool made_here(const struct dest *d, const struct stat *st)
{
	return id_in(id_of(st), d->made, d->nmade);
}

/* A name no one else picks: splitmix64 of a per-restore seed and a
 * counter. */
static void tmp_name(struct dest *d, char out[32])
{
	uint64_t x = d->seed + __atomic_add_fetch(&d->counter, 1, __ATOMIC_RELAXED) *
			       0x9e3779b97f4a7c15ull;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	x ^= x >> 31;
	snprintf(out, 32, ".cicache-%016llx.tmp", (unsigned long long)x);
}

/* The error for a rename of a new non-directory over name that failed. */
static enum cc_code replace_failed(const struct dest *d, int e, const char *what,
				   struct cc_err *err)
{
	if (e == EISDIR || e == ENOTEMPTY || e == EEXIST || e == ENOTDIR)
		return cc_err_set(err, CC_EDEST, 0, "cannot replace directory '%s': %s holds a file there",
				  what, d->holder);
	return cc_err_set(err, CC_EDEST, e, "cannot replace '%s'", what);
}

/* ------------------------------------------------------------ roots */

/* Whether path, resolved, lies under dir, resolved (dir not "/"). */
static bool resolves_under(const char *path, const char *dir)
{
	char *p, *q;
	bool r = false;

	if (!dir || dir[0] != '/' || !(q = realpath(dir, NULL)))
		return false;
	if ((p = realpath(path, NULL))) {
		size_t n = strlen(q);

		r = strcmp(q, "/") && !strncmp(p, q, n) && (!p[n] || p[n] == '/');
		free(p);
	}
	free(q);
	return r;
}

/* Whether the symlink at a root's place is followed rather than
 * replaced. */
static bool keep_link(const struct dest *d, const struct stat *st, const char *abs)
{
	return d->keep_dir_symlink && !made_here(d, st) &&
	       (resolves_under(abs, d->home) || resolves_under(abs, d->cwd));
}

/* Walks the directories above abs's last component from "/", following
 * the user's symlinks but not the ones this restore made.  With create
 * the missing ones are made; without, the walk stops at the first
 * missing one (*ret_fd = -1, CC_OK).  Each directory opened is pushed on
 * r's chain.  *ret_base is abs's last component. */
static enum cc_code walk_parents(const struct dest *d, const char *abs, bool create,
				 struct dest_root *r, int *ret_fd, const char **ret_base,
				 struct cc_err *err)
{
	const char *p = abs, *last = strrchr(abs, '/') + 1;
	char comp[NAME_MAX + 1];
	struct stat st;
	enum cc_code rc = CC_OK;
	int fd = open("/", DIR_FLAGS), next;

	*ret_fd = -1;
	*ret_base = last;
	if (fd < 0)
		return cc_err_set(err, CC_EDEST, errno, "cannot open '/'");
	for (;;) {
		size_t n;

		if (fstat(fd, &st)) {
			rc = cc_err_set(err, CC_EDEST, errno, "cannot open '%.*s'",
					(int)(p - abs > 1 ? p - abs - 1 : 1), abs);
			break;
		}
		while (*p == '/')
			p++;
		if ((rc = root_push(r, id_of(&st), (size_t)(p - abs), err)))
			break;
		if (p >= last) {
			*ret_fd = fd;
			return CC_OK;
		}
		n = strcspn(p, "/");
		if (n > NAME_MAX) {
			rc = cc_err_set(err, CC_EDEST, ENAMETOOLONG, "cannot open '%.*s'",
					(int)(p + n - abs), abs);
			break;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		next = openat(fd, comp, DIR_FLAGS | O_NOFOLLOW);
		if (next < 0 && errno == ENOENT && create && (!mkdirat(fd, comp, 0755) || errno == EEXIST))
			next = openat(fd, comp, DIR_FLAGS | O_NOFOLLOW);
		if (next < 0 && (errno == ELOOP || errno == ENOTDIR) &&
		    !fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) && S_ISLNK(st.st_mode)) {
			if (made_here(d, &st)) {
				rc = cc_err_set(err, CC_ECORRUPT, 0,
						"refusing to restore '%s': its way in passes through "
						"'%.*s', a symlink this restore created", abs,
						(int)(p - abs), abs);
				break;
			}
			next = openat(fd, comp, DIR_FLAGS);
		}
		if (next < 0) {
			if (errno == ENOENT && !create)
				break;
			rc = cc_err_set(err, CC_EDEST, errno, "cannot %s '%.*s'",
					create ? "create" : "open", (int)(p - abs), abs);
			break;
		}
		close(fd);
		fd = next;
	}
	close(fd);
	return rc;
}

static enum cc_code overlap(const char *a, const char *b, struct cc_err *err)
{
	return cc_err_set(err, CC_ECORRUPT, 0,
			  "refusing to restore '%s': it is '%s', or lies inside or around it, "
			  "by another path", b, a);
}

/* Checks root i of d against the others. */
static enum cc_code check_root(const struct dest *d, size_t i, struct cc_err *err)
{
	for (size_t k = 0; k < d->nroots; k++)
		if (k != i && (root_within(&d->roots[k], &d->roots[i]) ||
			       root_within(&d->roots[i], &d->roots[k])))
			return overlap(d->roots[k].abs, d->roots[i].abs, err);
	return CC_OK;
}

enum cc_code dest_check_roots(const struct dest *d, const char *const *abs,
			      const char *const *names, size_t n, struct cc_err *err)
{
	struct dest_root *r = calloc(n ? n : 1, sizeof(*r));
	enum cc_code rc = CC_OK;

	if (!r)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < n && !rc; i++) {
		const char *base;
		struct stat st;
		int fd, self;

		if (!(r[i].abs = strdup(abs[i]))) {
			rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
			break;
		}
		if ((rc = walk_parents(d, abs[i], false, &r[i], &fd, &base, err)) || fd < 0)
			continue;
		self = -1;
		if (!fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) &&
		    (S_ISDIR(st.st_mode) || (S_ISLNK(st.st_mode) && keep_link(d, &st, abs[i]))))
			self = openat(fd, base, DIR_FLAGS | (S_ISDIR(st.st_mode) ? O_NOFOLLOW : 0));
		if (self >= 0 && !fstat(self, &st)) {
			r[i].has_self = true;
			r[i].self = id_of(&st);
		}
		if (self >= 0)
			close(self);
		close(fd);
	}
	for (size_t i = 0; i < n && !rc; i++)
		for (size_t j = 0; j < n && !rc; j++)
			if (i != j && root_within(&r[j], &r[i]))
				rc = overlap(names[j], names[i], err);
	for (size_t i = 0; i < n; i++)
		root_release(&r[i]);
	free(r);
	return rc;
}

int dest_root_parent(struct dest *d, const char *abs, size_t *ret_root, const char **ret_base,
		     struct cc_err *err)
{
	struct dest_root *x = realloc(d->roots, (d->nroots + 1) * sizeof(*x)), *r;
	enum cc_code rc;
	int fd;

	if (!x) {
		cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		return -1;
	}
	d->roots = x;
	r = &d->roots[d->nroots];
	memset(r, 0, sizeof(*r));
	if (!(r->abs = strdup(abs))) {
		cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		return -1;
	}
	*ret_root = d->nroots++;
	if ((rc = walk_parents(d, abs, true, r, &fd, ret_base, err)))
		return -1;
	if (check_root(d, *ret_root, err)) {
		close(fd);
		return -1;
	}
	return fd;
}

int dest_root_dir(struct dest *d, size_t root, int pfd, const char *base, mode_t mode,
		  const char *what, struct cc_err *err)
{
	struct dest_root *r = &d->roots[root];
	struct stat st;
	bool follow = false;
	int fd;

	if (!fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) && !S_ISDIR(st.st_mode)) {
		/* GNU tar's rule: a symlink at the root's place is replaced
		 * like any non-directory, unless the user asked to keep it. */
		follow = S_ISLNK(st.st_mode) && keep_link(d, &st, what);
		if (!follow && unlinkat(pfd, base, 0) && errno != ENOENT) {
			cc_err_set(err, CC_EDEST, errno, "cannot replace '%s' with a directory", what);
			return -1;
		}
	}
	if (mkdirat(pfd, base, mode) && errno != EEXIST) {
		cc_err_set(err, CC_EDEST, errno, "cannot create directory '%s'", what);
		return -1;
	}
	if ((fd = openat(pfd, base, DIR_FLAGS | (follow ? 0 : O_NOFOLLOW))) < 0) {
		cc_err_set(err, CC_EDEST, errno, "cannot open directory '%s'", what);
		return -1;
	}
	if (fstat(fd, &st)) {
		cc_err_set(err, CC_EDEST, errno, "cannot open directory '%s'", what);
		close(fd);
		return -1;
	}
	r->has_self = true;
	r->self = id_of(&st);
	if (check_root(d, root, err)) {
		close(fd);
		return -1;
	}
	/* An existing read-only directory must take our new entries. */
	if ((st.st_mode & 0700) != 0700)
		fchmod(fd, (st.st_mode & 07777) | 0700);
	return fd;
}

/* ------------------------------------------------------------ below a root */

int dest_enter_dir(struct dest *d, int dfd, const char *name, mode_t mode, const char *what,
		   struct cc_err *err)
{
	struct stat st;
	bool made = !mkdirat(dfd, name, mode);
	int fd;

	(void)d;
	if (!made && errno != EEXIST) {
		cc_err_set(err, CC_EDEST, errno, "cannot create directory '%s'", what);
		return -1;
	}
	fd = openat(dfd, name, DIR_FLAGS | O_NOFOLLOW);
	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP) &&
	    !fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) && !S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, name, 0) || mkdirat(dfd, name, mode)) {
			cc_err_set(err, CC_EDEST, errno, "cannot replace '%s' with a directory", what);
			return -1;
		}
		made = true;
		fd = openat(dfd, name, DIR_FLAGS | O_NOFOLLOW);
	}
	if (fd < 0) {
		cc_err_set(err, CC_EDEST, errno, "cannot open directory '%s'", what);
		return -1;
	}
	/* An existing read-only directory must take our new entries. */
	if ((!made || (mode & 0700) != 0700) && !fstat(fd, &st) && (st.st_mode & 0700) != 0700)
		fchmod(fd, (st.st_mode & 07777) | 0700);
	return fd;
}

int dest_file_create(struct dest *d, struct dest_file *f, int dfd, const char *name,
		     const char *what, struct cc_err *err)
{
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;

	f->d = d;
	f->dfd = dfd;
	f->name = name;
	f->tmp[0] = '\0';
	f->fd = openat(dfd, name, flags, 0600);
	/* Something is there: the new file is written beside it and renamed
	 * over it at commit. */
	while (f->fd < 0 && errno == EEXIST) {
		tmp_name(d, f->tmp);
		f->fd = openat(dfd, f->tmp, flags, 0600);
	}
	if (f->fd < 0) {
		f->tmp[0] = '\0';
		cc_err_set(err, CC_EDEST, errno, "cannot create '%s'", what);
	}
	return f->fd;
}

enum cc_code dest_file_commit(struct dest_file *f, const char *what, struct cc_err *err)
{
	enum cc_code rc = CC_OK;

	if (close(f->fd))
		rc = cc_err_set(err, CC_EDEST, errno, "cannot write '%s'", what);
	f->fd = -1;
	if (!rc && f->tmp[0] && renameat(f->dfd, f->tmp, f->dfd, f->name))
		rc = replace_failed(f->d, errno, what, err);
	if (rc && f->tmp[0])
		unlinkat(f->dfd, f->tmp, 0);
	f->tmp[0] = '\0';
	return rc;
}

void dest_file_abort(struct dest_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp[0])
		unlinkat(f->dfd, f->tmp, 0);
	f->tmp[0] = '\0';
}

enum cc_code dest_symlink(struct dest *d, int dfd, const char *name, const char *target,
			  const struct timespec *times, bool own, uint32_t uid, uint32_t gid,
			  const char *what, struct cc_err *err)
{
	char tmp[32];
	const char *at = name;
	struct stat st;
	enum cc_code rc = CC_OK;

	while (symlinkat(target, dfd, at)) {
		if (errno != EEXIST)
			return cc_err_set(err, CC_EDEST, errno, "cannot create '%s'", what);
		tmp_name(d, tmp);
		at = tmp;
	}
	if (own && fchownat(dfd, at, uid, gid, AT_SYMLINK_NOFOLLOW))
		rc = cc_err_set(err, CC_EDEST, errno, "cannot set the owner of '%s'", what);
	else if (fstatat(dfd, at, &st, AT_SYMLINK_NOFOLLOW))
		rc = cc_err_set(err, CC_EDEST, errno, "cannot create '%s'", what);
	else
		rc = id_push(&d->made, &d->nmade, &d->made_alloc, id_of(&st), err);
	if (!rc && times)
		utimensat(dfd, at, times, AT_SYMLINK_NOFOLLOW);
	if (!rc && at != name && renameat(dfd, at, dfd, name))
		rc = replace_failed(d, errno, what, err);
	if (rc && at != name)
		unlinkat(dfd, at, 0);
	return rc;
}

enum cc_code dest_hardlink(struct dest *d, int tfd, const char *tname, int dfd, const char *name,
			   const char *what, struct cc_err *err)
{
	char tmp[32];
	const char *at = name;
	enum cc_code rc = CC_OK;

	while (linkat(tfd, tname, dfd, at, 0)) {
		if (errno != EEXIST)
			return cc_err_set(err, CC_EDEST, errno, "cannot link '%s'", what);
		tmp_name(d, tmp);
		at = tmp;
	}
	if (at != name) {
		if (renameat(dfd, at, dfd, name))
			rc = replace_failed(d, errno, what, err);
		/* Renaming a link over another link to the same file leaves
		 * both names (POSIX): the temporary one goes. */
		unlinkat(dfd, at, 0);
	}
	return rc;
}

int dest_open_parent(int rootfd, const char *rel, const char **ret_name)
{
	const char *p = rel, *slash;
	int fd = dup(rootfd);

	while (fd >= 0 && (slash = strchr(p, '/'))) {
		char comp[NAME_MAX + 1];
		size_t n = (size_t)(slash - p);
		int next = -1;

		if (n <= NAME_MAX) {
			memcpy(comp, p, n);
			comp[n] = '\0';
			next = openat(fd, comp, DIR_FLAGS | O_NOFOLLOW);
		} else {
			errno = ENAMETOOLONG;
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*ret_name = p;
	return fd;
}
