/* hostdir.c: signatures, packing and atomic replacement of host dirs. */
#include "hostdir.h"
#include "run.h"
#include "../common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hashes path (relative name rel) and, for a directory, its entries in
 * name order, so the signature does not depend on readdir order. */
static enum cc_code sig_walk(XXH3_state_t *h, const char *path, const char *rel,
			     uint64_t *bytes, int depth, struct cc_err *err)
{
	struct stat st;
	char line[512], target[PATH_MAX];
	enum cc_code rc = CC_OK;
	int n;

	if (depth > 256)
		return cc_err_set(err, CC_ESOURCE, 0, "'%s' is nested too deeply", path);
	if (lstat(path, &st))
		return cc_err_set(err, CC_ESOURCE, errno, "cannot read '%s'", path);
	n = snprintf(line, sizeof(line), "%o %lld %lld.%09ld ", (unsigned)st.st_mode,
		     S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size,
		     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	XXH3_128bits_update(h, rel, strlen(rel) + 1);
	XXH3_128bits_update(h, line, (size_t)n);
	if (S_ISREG(st.st_mode) && bytes)
		*bytes += (uint64_t)st.st_size;
	if (S_ISLNK(st.st_mode)) {
		ssize_t l = readlink(path, target, sizeof(target) - 1);

		if (l < 0)
			return cc_err_set(err, CC_ESOURCE, errno, "cannot read link '%s'", path);
		XXH3_128bits_update(h, target, (size_t)l);
	}
	XXH3_128bits_update(h, "\n", 1);
	if (!S_ISDIR(st.st_mode))
		return CC_OK;

	DIR *d = opendir(path);
	char **names = NULL;
	size_t nn = 0, alloc = 0;
	struct dirent *de;

	if (!d)
		return cc_err_set(err, CC_ESOURCE, errno, "cannot list '%s'", path);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ARRAY_GROW(names, alloc, nn + 1) || !(names[nn] = strdup(de->d_name))) {
			rc = cc_err_set(err, CC_ENOMEM, 0, "out of memory");
			goto cleanup;
		}
		nn++;
	}
	if (nn)
		qsort(names, nn, sizeof(*names), cmp_names);
	for (size_t i = 0; i < nn && !rc; i++) {
		char *sp = NULL, *sr = NULL;

		if (asprintf(&sp, "%s/%s", path, names[i]) < 0 ||
		    asprintf(&sr, "%s/%s", rel, names[i]) < 0) {
			free(sp);
			rc = cc_err_set(err, CC_ENOMEM, 0, "out of memory");
			break;
		}
		rc = sig_walk(h, sp, sr, bytes, depth + 1, err);
		free(sp);
		free(sr);
	}
cleanup:
	closedir(d);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	return rc;
}

enum cc_code hostdir_sig(const char *dir, char ret[HOSTDIR_SIG_LEN + 1], bool *ret_exists,
			 uint64_t *ret_bytes, struct cc_err *err)
{
	XXH3_state_t *h;
	XXH128_hash_t v;
	struct stat st;
	enum cc_code rc;

	if (lstat(dir, &st) && errno == ENOENT) {
		strcpy(ret, "none");
		*ret_exists = false;
		return CC_OK;
	}
	*ret_exists = true;
	h = XXH3_createState();
	if (!h)
		return cc_err_set(err, CC_ENOMEM, 0, "out of memory");
	XXH3_128bits_reset(h);
	rc = sig_walk(h, dir, ".", ret_bytes, 0, err);
	v = XXH3_128bits_digest(h);
	XXH3_freeState(h);
	snprintf(ret, HOSTDIR_SIG_LEN + 1, "%016llx%016llx", (unsigned long long)v.high64,
		 (unsigned long long)v.low64);
	return rc;
}

static enum cc_code run_tar(struct cb_argv *a, enum cc_code fail, const char *what,
			    const char *path, struct cc_err *err)
{
	int st = cb_run(a->v, NULL, -1, -1, -1, err);

	if (st < 0)
		return fail;
	if (st)
		return cc_err_set(err, fail, 0, "tar failed (exit %d) while %s '%s'", st, what, path);
	return CC_OK;
}

enum cc_code hostdir_pack(const char *dir, const char *tar_path, struct cc_err *err)
{
	struct cb_argv a = CB_ARGV_INIT;
	enum cc_code rc;

	/* Numeric owners: no NSS lookups, and the builder ignores them. */
	if ((rc = cb_argv_add(&a, "tar", err)) || (rc = cb_argv_add(&a, "--numeric-owner", err)) ||
	    (rc = cb_argv_add(&a, "-cf", err)) || (rc = cb_argv_add(&a, tar_path, err)) ||
	    (rc = cb_argv_add(&a, "-C", err)) || (rc = cb_argv_add(&a, dir, err)) ||
	    (rc = cb_argv_add(&a, ".", err)))
		goto cleanup;
	rc = run_tar(&a, CC_ESOURCE, "packing", dir, err);
cleanup:
	cb_argv_release(&a);
	return rc;
}

static enum cc_code mkdir_parents(const char *dir, struct cc_err *err)
{
	char p[PATH_MAX];
	size_t n = strlen(dir);

	if (n >= sizeof(p))
		return cc_err_set(err, CC_EDEST, ENAMETOOLONG, "cannot create '%s'", dir);
	memcpy(p, dir, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) && errno != EEXIST)
			return cc_err_set(err, CC_EDEST, errno, "cannot create '%s'", p);
		*s = '/';
	}
	return CC_OK;
}

enum cc_code hostdir_swap(const char *tmp, const char *dir, struct cc_err *err)
{
	enum cc_code rc = CC_OK;
	struct cc_err ignored;

	/* One atomic exchange when dir exists; the old tree then sits at
	 * tmp and is removed. */
	if (!renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE))
		return cb_rmtree(tmp, err);
	if (errno == ENOENT) {
		if (!rename(tmp, dir))
			return CC_OK;
		rc = cc_err_set(err, CC_EDEST, errno, "cannot rename '%s' to '%s'", tmp, dir);
	} else if (errno == EINVAL || errno == ENOSYS) {
		/* A file system without RENAME_EXCHANGE: a short window
		 * where dir is missing, never half-written. */
		char *old = NULL;

		if (asprintf(&old, "%s.old", tmp) < 0) {
			rc = cc_err_set(err, CC_ENOMEM, 0, "out of memory");
		} else if (rename(dir, old) || rename(tmp, dir)) {
			rc = cc_err_set(err, CC_EDEST, errno, "cannot replace '%s'", dir);
		} else {
			rc = cb_rmtree(old, err);
			free(old);
			return rc;
		}
		free(old);
	} else {
		rc = cc_err_set(err, CC_EDEST, errno, "cannot swap '%s' into '%s'", tmp, dir);
	}
	cb_rmtree(tmp, &ignored);
	return rc;
}

char *hostdir_sibling(const char *dir, struct cc_err *err)
{
	size_t n = strlen(dir);
	char *tmp = NULL;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (asprintf(&tmp, "%.*s.cachebuild-XXXXXX", (int)n, dir) < 0) {
		cc_err_set(err, CC_ENOMEM, 0, "out of memory");
		return NULL;
	}
	if (!mkdtemp(tmp)) {
		cc_err_set(err, CC_EDEST, errno, "cannot create a directory next to '%s'", dir);
		free(tmp);
		return NULL;
	}
	return tmp;
}

enum cc_code hostdir_unpack(const char *tar_path, const char *into, struct cc_err *err)
{
	struct cb_argv a = CB_ARGV_INIT;
	enum cc_code rc;

	if (!(rc = cb_argv_add(&a, "tar", err)) && !(rc = cb_argv_add(&a, "-xpf", err)) &&
	    !(rc = cb_argv_add(&a, tar_path, err)) && !(rc = cb_argv_add(&a, "-C", err)) &&
	    !(rc = cb_argv_add(&a, into, err)) && !(rc = cb_argv_add(&a, "--no-same-owner", err)))
		rc = run_tar(&a, CC_EDEST, "unpacking into", into, err);
	cb_argv_release(&a);
	return rc;
}

enum cc_code hostdir_replace(const char *dir, const char *tar_path, struct cc_err *err)
{
	char *tmp;
	enum cc_code rc;

	if ((rc = mkdir_parents(dir, err)))
		return rc;
	if (!(tmp = hostdir_sibling(dir, err)))
		return err->code;
	if ((rc = hostdir_unpack(tar_path, tmp, err))) {
		struct cc_err ignored;

		cb_rmtree(tmp, &ignored);
	} else {
		rc = hostdir_swap(tmp, dir, err);
	}
	free(tmp);
	return rc;
}
