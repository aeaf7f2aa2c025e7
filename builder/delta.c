/* delta.c: manifests and delta extracts (see delta.h). */
#include "delta.h"
#include "hostdir.h"
#include "../common/hash.h"
#include "../common/util.h"
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- the manifest --- */

struct mwalk {
	FILE *f;
	bool usable;
	struct cc_err *err;
	char name[PATH_MAX];	/* "./a/b" of the directory being walked */
};

static enum cc_code md5_hex(int dfd, const char *leaf, uint64_t size, const char *name,
			    char hex[33], struct cc_err *err)
{
	unsigned char md[16];
	int fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int ok = fd >= 0 && !cc_md5_range(fd, 0, size, md);
	int e = errno;

	if (fd >= 0)
		close(fd);
	if (!ok)
		return cc_err_set(err, CC_ESOURCE, e, "cannot read '%s'", name);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return CC_OK;
}

static enum cc_code manifest_walk(struct mwalk *w, int dfd, size_t len)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	enum cc_code rc = CC_OK;

	if (!d) {
		close(dfd);
		return cc_err_set(w->err, CC_ESOURCE, errno, "cannot list '%s'", w->name);
	}
	while (!rc && w->usable && (de = readdir(d))) {
		struct stat st;
		char hex[33] = "-", t = 'o';

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strchr(de->d_name, '\n') ||
		    len + 1 + strlen(de->d_name) >= sizeof(w->name)) {
			w->usable = false;
			break;
		}
		snprintf(w->name + len, sizeof(w->name) - len, "/%s", de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			rc = cc_err_set(w->err, CC_ESOURCE, errno, "cannot read '%s'", w->name);
			break;
		}
		if (S_ISREG(st.st_mode))
			t = 'f', rc = md5_hex(dirfd(d), de->d_name, (uint64_t)st.st_size, w->name, hex,
						  w->err);
		else if (S_ISDIR(st.st_mode))
			t = 'd';
		else if (S_ISLNK(st.st_mode))
			t = 'l';
		else
			w->usable = false;
		if (rc || !w->usable)
			break;
		fprintf(w->f, "%c|%lld|%lld|%o|%s|%s\n", t, (long long)st.st_size,
			(long long)st.st_mtim.tv_sec, (unsigned)(st.st_mode & 07777), hex, w->name);
		if (t == 'd') {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				rc = cc_err_set(w->err, CC_ESOURCE, errno, "cannot open '%s'", w->name);
				break;
			}
			rc = manifest_walk(w, sub, strlen(w->name));
		}
		w->name[len] = '\0';
	}
	closedir(d);
	return rc;
}

enum cc_code hostdir_manifest(const char *dir, const char *path, bool *usable,
			      struct cc_err *err)
{
	struct mwalk w = { .usable = true, .err = err, .name = "." };
	struct stat st;
	enum cc_code rc;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*usable = false;
	if (fd < 0 || fstat(fd, &st)) {
		rc = cc_err_set(err, CC_ESOURCE, errno, "cannot open '%s'", dir);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	w.f = fopen(path, "w");
	if (!w.f) {
		close(fd);
		return cc_err_set(err, CC_EINTERNAL, errno, "cannot create '%s'", path);
	}
	fprintf(w.f, "d|0|%lld|%o|-|.\n", (long long)st.st_mtim.tv_sec,
		(unsigned)(st.st_mode & 07777));
	rc = manifest_walk(&w, fd, 1);
	if (fclose(w.f) && !rc)
		rc = cc_err_set(err, CC_EINTERNAL, errno, "cannot write '%s'", path);
	*usable = !rc && w.usable;
	return rc;
}

/* --- applying a delta --- */

/* "." or "./a/b" with no empty, "." or ".." component. */
static bool valid_name(const char *n)
{
	if (!strcmp(n, "."))
		return true;
	if (strncmp(n, "./", 2) || !n[2])
		return false;
	for (const char *c = n + 2; *c;) {
		size_t l = strcspn(c, "/");

		if (!l || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.') ||
		    l > NAME_MAX)
			return false;
		c += l;
		if (*c == '/' && !*++c)
			return false;
	}
	return true;
}

/* Opens the directory rel ("a/b", "" for root itself) under root, never
 * through a symbolic link.  With create, missing components are made
 * (mode 0700, set later) and a non-directory in the way is replaced.
 * @return the descriptor, or -1 with errno set. */
static int open_dir(int root, const char *rel, bool create)
{
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char comp[NAME_MAX + 1];

	while (fd >= 0 && *rel) {
		size_t l = strcspn(rel, "/");
		int sub;

		if (l > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, rel, l);
		comp[l] = '\0';
		rel += l + (rel[l] == '/');
		sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 && create && (errno == ENOTDIR || errno == ELOOP))
			unlinkat(fd, comp, 0);
		if (sub < 0 && create && errno != EACCES && !mkdirat(fd, comp, 0700))
			sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;

		close(fd);
		fd = sub;
		errno = e;
	}
	return fd;
}

/* Splits "./a/b/c" into rel "a/b" and leaf "c" (both point into buf). */
static void split(const char *name, char *buf, size_t n, const char **rel, const char **leaf)
{
	char *slash;

	snprintf(buf, n, "%s", name + 2);
	slash = strrchr(buf, '/');
	if (slash) {
		*slash = '\0';
		*rel = buf;
		*leaf = slash + 1;
	} else {
		*rel = "";
		*leaf = buf;
	}
}

/* Copies the tree at src into dst: directories made (0700 for now: the
 * delta's meta sets them), files hard-linked, symbolic links copied. */
static enum cc_code clone_walk(int src, int dst, const char *dir, struct cc_err *err)
{
	DIR *d = fdopendir(src);
	struct dirent *de;
	enum cc_code rc = CC_OK;

	if (!d) {
		close(src);
		close(dst);
		return cc_err_set(err, CC_EDEST, errno, "cannot list '%s'", dir);
	}
	while (!rc && (de = readdir(d))) {
		struct stat st;
		char target[PATH_MAX];
		ssize_t l;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			rc = cc_err_set(err, CC_EDEST, errno, "cannot read '%s/%s'", dir, de->d_name);
		} else if (S_ISREG(st.st_mode)) {
			if (linkat(dirfd(d), de->d_name, dst, de->d_name, 0))
				rc = cc_err_set(err, CC_EDEST, errno, "cannot link '%s/%s'", dir,
						de->d_name);
		} else if (S_ISLNK(st.st_mode)) {
			l = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
			if (l < 0 || (target[l] = '\0', symlinkat(target, dst, de->d_name)))
				rc = cc_err_set(err, CC_EDEST, errno, "cannot copy link '%s/%s'", dir,
						de->d_name);
		} else if (S_ISDIR(st.st_mode)) {
			int s, t;

			if (mkdirat(dst, de->d_name, 0700) ||
			    (s = openat(dirfd(d), de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
				rc = cc_err_set(err, CC_EDEST, errno, "cannot copy '%s/%s'", dir,
						de->d_name);
			} else if ((t = openat(dst, de->d_name,
					       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
				close(s);
				rc = cc_err_set(err, CC_EDEST, errno, "cannot copy '%s/%s'", dir,
						de->d_name);
			} else {
				rc = clone_walk(s, t, dir, err);
			}
		} else {
			rc = cc_err_set(err, CC_EDEST, 0, "'%s/%s' is not a file, directory or "
					"symbolic link", dir, de->d_name);
		}
	}
	closedir(d);
	close(dst);
	return rc;
}

/* Moves every non-directory of the staged tree sfd into the same place
 * under cfd, replacing what is there. */
static enum cc_code place_walk(int sfd, int cfd, struct cc_err *err)
{
	DIR *d = fdopendir(sfd);
	struct dirent *de;
	enum cc_code rc = CC_OK;

	if (!d) {
		close(sfd);
		close(cfd);
		return cc_err_set(err, CC_EDEST, errno, "cannot list the staged delta");
	}
	while (!rc && (de = readdir(d))) {
		struct stat st, cst;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			rc = cc_err_set(err, CC_EDEST, errno, "cannot read the staged '%s'",
					de->d_name);
		} else if (S_ISDIR(st.st_mode)) {
			int s = openat(dirfd(d), de->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int c = s < 0 ? -1 : open_dir(cfd, de->d_name, true);

			if (s < 0 || c < 0) {
				rc = cc_err_set(err, CC_EDEST, errno, "cannot place '%s'", de->d_name);
				if (s >= 0)
					close(s);
			} else {
				rc = place_walk(s, c, err);
			}
		} else {
			if (!fstatat(cfd, de->d_name, &cst, AT_SYMLINK_NOFOLLOW) &&
			    S_ISDIR(cst.st_mode))
				rc = cb_rmtree_at(cfd, de->d_name, err);
			if (!rc && renameat(dirfd(d), de->d_name, cfd, de->d_name))
				rc = cc_err_set(err, CC_EDEST, errno, "cannot place '%s'", de->d_name);
		}
	}
	closedir(d);
	close(cfd);
	return rc;
}

/* Name after the k-th '|' of line (newline removed), or NULL. */
static char *field_name(char *line, int k)
{
	char *p = line;

	line[strcspn(line, "\n")] = '\0';
	for (int i = 0; i < k; i++) {
		p = strchr(p, '|');
		if (!p)
			return NULL;
		p++;
	}
	return p;
}

static FILE *open_part(const char *out, unsigned i, const char *ext)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%u.%s", out, i, ext);
	return fopen(path, "r");
}

static enum cc_code apply_gone(int root, const char *out, unsigned i, struct cc_err *err)
{
	FILE *f = open_part(out, i, "gone");
	char *line = NULL, buf[PATH_MAX];
	size_t cap = 0;
	enum cc_code rc = CC_OK;

	if (!f)
		return CC_OK;
	while (!rc && getline(&line, &cap, f) > 0) {
		const char *rel, *leaf;
		int pfd;

		line[strcspn(line, "\n")] = '\0';
		if (!valid_name(line) || strlen(line) >= sizeof(buf)) {
			rc = cc_err_set(err, CC_EDEST, 0, "the delta names '%s'", line);
			break;
		}
		if (!strcmp(line, "."))
			continue;
		split(line, buf, sizeof(buf), &rel, &leaf);
		pfd = open_dir(root, rel, false);
		if (pfd < 0)
			continue;	/* gone with its parent */
		rc = cb_rmtree_at(pfd, leaf, err);
		close(pfd);
	}
	free(line);
	fclose(f);
	return rc;
}

struct dirmeta {
	char *rel;
	unsigned perm;
	long long mtime;
	int depth;
};

static int by_depth(const void *a, const void *b)
{
	return ((const struct dirmeta *)b)->depth - ((const struct dirmeta *)a)->depth;
}

static enum cc_code apply_meta(int root, const char *out, unsigned i, struct cc_err *err)
{
	FILE *f = open_part(out, i, "meta");
	char *line = NULL, buf[PATH_MAX];
	size_t cap = 0, nd = 0, capd = 0;
	struct dirmeta *dirs = NULL;
	enum cc_code rc = CC_OK;

	if (!f)
		return cc_err_set(err, CC_EDEST, errno, "the delta has no metadata");
	while (!rc && getline(&line, &cap, f) > 0) {
		char t, *name = field_name(line, 3);
		unsigned perm;
		long long mtime;

		if (!name || sscanf(line, "%c|%o|%lld|", &t, &perm, &mtime) != 3 ||
		    !valid_name(name) || strlen(name) >= sizeof(buf) || perm > 07777) {
			rc = cc_err_set(err, CC_EDEST, 0, "bad delta metadata line '%s'", line);
			break;
		}
		if (t == 'd') {
			const char *rel = strcmp(name, ".") ? name + 2 : "";
			int fd = open_dir(root, rel, true);

			if (fd < 0) {
				rc = cc_err_set(err, CC_EDEST, errno, "cannot make '%s'", name);
				break;
			}
			close(fd);
			if (ARRAY_GROW(dirs, capd, nd + 1)) {
				rc = cc_err_set(err, CC_ENOMEM, 0, "out of memory");
				break;
			}
			dirs[nd].rel = strdup(rel);
			dirs[nd].perm = perm;
			dirs[nd].mtime = mtime;
			dirs[nd].depth = 0;
			for (const char *c = rel; *c; c++)
				dirs[nd].depth += *c == '/';
			if (!dirs[nd++].rel)
				rc = cc_err_set(err, CC_ENOMEM, 0, "out of memory");
		} else if (t == 'f' && strcmp(name, ".")) {
			const char *rel, *leaf;
			struct stat st;
			struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)mtime, 0 } };
			int pfd;

			split(name, buf, sizeof(buf), &rel, &leaf);
			pfd = open_dir(root, rel, false);
			if (pfd < 0 || fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) ||
			    !S_ISREG(st.st_mode) || fchmodat(pfd, leaf, perm, 0) ||
			    utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW))
				rc = cc_err_set(err, CC_EDEST, errno, "cannot update '%s'", name);
			if (pfd >= 0)
				close(pfd);
		} else {
			rc = cc_err_set(err, CC_EDEST, 0, "bad delta metadata line '%s'", line);
		}
	}
	/* Directories last, deepest first: their entries are final now. */
	if (nd)
		qsort(dirs, nd, sizeof(*dirs), by_depth);
	for (size_t k = 0; !rc && k < nd; k++) {
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)dirs[k].mtime, 0 } };
		int fd = open_dir(root, dirs[k].rel, false);

		if (fd < 0 || fchmod(fd, dirs[k].perm) || futimens(fd, ts))
			rc = cc_err_set(err, CC_EDEST, errno, "cannot update './%s'", dirs[k].rel);
		if (fd >= 0)
			close(fd);
	}
	for (size_t k = 0; k < nd; k++)
		free(dirs[k].rel);
	free(dirs);
	free(line);
	fclose(f);
	return rc;
}

/* --- checking the result --- */

struct lines {
	char **v;
	size_t n, cap;
};

static bool lines_add(struct lines *l, char *s)
{
	if (!s)
		return false;
	if (ARRAY_GROW(l->v, l->cap, l->n + 1)) {
		free(s);
		return false;
	}
	l->v[l->n++] = s;
	return true;
}

static void lines_release(struct lines *l)
{
	for (size_t k = 0; k < l->n; k++)
		free(l->v[k]);
	free(l->v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *list_line(const struct stat *st, const char *name)
{
	char t = S_ISREG(st->st_mode) ? 'f' : S_ISDIR(st->st_mode) ? 'd' :
		 S_ISLNK(st->st_mode) ? 'l' : 'o';
	char *s = NULL;

	if (asprintf(&s, "%c|%o|%lld|%lld|%s", t, (unsigned)(st->st_mode & 07777),
		     t == 'f' ? (long long)st->st_size : 0LL,
		     t == 'l' ? 0LL : (long long)st->st_mtim.tv_sec, name) < 0)
		return NULL;
	return s;
}

static enum cc_code list_walk(int dfd, char *name, size_t len, struct lines *l,
			      struct cc_err *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	enum cc_code rc = CC_OK;

	if (!d) {
		close(dfd);
		return cc_err_set(err, CC_EDEST, errno, "cannot list '%s'", name);
	}
	while (!rc && (de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (len + 1 + strlen(de->d_name) >= PATH_MAX) {
			rc = cc_err_set(err, CC_EDEST, ENAMETOOLONG, "cannot list '%s'", name);
			break;
		}
		snprintf(name + len, PATH_MAX - len, "/%s", de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			rc = cc_err_set(err, CC_EDEST, errno, "cannot read '%s'", name);
		else if (!lines_add(l, list_line(&st, name)))
			rc = cc_err_set(err, CC_ENOMEM, 0, "out of memory");
		else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			rc = sub < 0 ? cc_err_set(err, CC_EDEST, errno, "cannot open '%s'", name) :
				       list_walk(sub, name, strlen(name), l, err);
		}
		name[len] = '\0';
	}
	closedir(d);
	return rc;
}

/* Whether the tree at root is what the builder listed in I.list. */
static enum cc_code verify(int root, const char *out, unsigned i, struct cc_err *err)
{
	struct lines have = { 0 }, want = { 0 };
	char name[PATH_MAX] = ".", *line = NULL;
	size_t cap = 0;
	struct stat st;
	enum cc_code rc = CC_OK;
	FILE *f = open_part(out, i, "list");
	int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (!f || fd < 0 || fstat(fd, &st)) {
		rc = cc_err_set(err, CC_EDEST, errno, "cannot check the delta");
		if (fd >= 0)
			close(fd);
		goto cleanup;
	}
	if (!lines_add(&have, list_line(&st, "."))) {
		close(fd);
		rc = cc_err_set(err, CC_ENOMEM, 0, "out of memory");
		goto cleanup;
	}
	if ((rc = list_walk(fd, name, 1, &have, err)))
		goto cleanup;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (!lines_add(&want, strdup(line))) {
			rc = cc_err_set(err, CC_ENOMEM, 0, "out of memory");
			goto cleanup;
		}
	}
	/* An empty list has no array: qsort must not see its NULL. */
	if (have.n)
		qsort(have.v, have.n, sizeof(*have.v), cmp_str);
	if (want.n)
		qsort(want.v, want.n, sizeof(*want.v), cmp_str);
	for (size_t k = 0; k < have.n || k < want.n; k++) {
		const char *h = k < have.n ? have.v[k] : "(nothing)";
		const char *w = k < want.n ? want.v[k] : "(nothing)";

		if (strcmp(h, w)) {
			rc = cc_err_set(err, CC_EDEST, 0, "the result does not match the builder's "
					"listing: '%.200s' where the mount has '%.200s'", h, w);
			break;
		}
	}
cleanup:
	if (f)
		fclose(f);
	free(line);
	lines_release(&have);
	lines_release(&want);
	return rc;
}

enum cc_code hostdir_delta(const char *dir, const char *out, unsigned i, struct cc_err *err)
{
	char *clone, *stage = NULL, tar[PATH_MAX];
	enum cc_code rc = CC_OK;
	int src = -1, root = -1, s, c;
	struct cc_err ignored;

	if (!(clone = hostdir_sibling(dir, err)))
		return err->code;
	if (!(stage = hostdir_sibling(dir, err))) {
		rc = err->code;
		goto cleanup;
	}
	src = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	root = open(clone, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0 || root < 0) {
		rc = cc_err_set(err, CC_EDEST, errno, "cannot open '%s'", src < 0 ? dir : clone);
		goto cleanup;
	}
	s = dup(root);
	if (s < 0) {
		rc = cc_err_set(err, CC_EDEST, errno, "cannot copy '%s'", dir);
		goto cleanup;
	}
	rc = clone_walk(src, s, dir, err);
	src = -1;	/* closed by clone_walk */
	if (rc)
		goto cleanup;

	snprintf(tar, sizeof(tar), "%s/%u.tar", out, i);
	if ((!access(tar, F_OK) && (rc = hostdir_unpack(tar, stage, err))) ||
	    (rc = apply_gone(root, out, i, err)))
		goto cleanup;
	s = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	c = s < 0 ? -1 : dup(root);
	if (s < 0 || c < 0) {
		rc = cc_err_set(err, CC_EDEST, errno, "cannot open '%s'", stage);
		if (s >= 0)
			close(s);
		goto cleanup;
	}
	if ((rc = place_walk(s, c, err)) || (rc = apply_meta(root, out, i, err)) ||
	    (rc = verify(root, out, i, err)))
		goto cleanup;
	rc = hostdir_swap(clone, dir, err);
	free(clone);
	clone = NULL;	/* swapped in, or removed by hostdir_swap */
cleanup:
	if (src >= 0)
		close(src);
	if (root >= 0)
		close(root);
	if (clone)
		cb_rmtree(clone, &ignored);
	if (stage)
		cb_rmtree(stage, &ignored);
	free(clone);
	free(stage);
	return rc;
}
