#include "pathspec.h"

#include <string.h>

/* Appends the cleaned components of path to out (which ends without '/'):
 * drops empty and "." components, resolves ".." against what out holds
 * beyond keep bytes, and reports ".." that would climb above keep. */
static enum cc_code clean_append(struct buf *out, size_t keep, const char *path,
				 bool *ret_climbed, struct cc_err *err)
{
	const char *p = path;
	enum cc_code rc;

	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (out->len > keep) {
				char *slash = strrchr(out->data + keep, '/');
				size_t at = slash ? (size_t)(slash - out->data) : keep;

				/* keep a leading ".." run of a relative spec */
				if (strcmp(out->data + (slash ? at + 1 : keep), "..")) {
					buf_setlen(out, at);
					goto next;
				}
			}
			if (ret_climbed)
				*ret_climbed = true;
			if ((rc = buf_addstr(out, out->len > keep || (keep && out->data[keep - 1] != '/') ? "/.." : "..", err)))
				return rc;
		} else {
			if (out->len > keep || (keep && out->data[keep - 1] != '/'))
				if ((rc = buf_add(out, "/", 1, err)))
					return rc;
			if ((rc = buf_add(out, p, n, err)))
				return rc;
		}
next:
		p += n;
		if (*p == '/')
			p++;
	}
	return CC_OK;
}

/* Cleans an absolute path into out ("/" for the root). */
static enum cc_code clean_abs(struct buf *out, const char *path, struct cc_err *err)
{
	bool climbed = false;
	enum cc_code rc;

	buf_reset(out);
	if ((rc = buf_add(out, "/", 1, err)) || (rc = clean_append(out, 1, path, &climbed, err)))
		return rc;
	/* "/.." is "/" */
	while (!strncmp(out->data, "/..", 3) && (out->data[3] == '/' || !out->data[3])) {
		memmove(out->data + 1, out->data + (out->data[3] ? 4 : 3),
			strlen(out->data + (out->data[3] ? 4 : 3)) + 1);
		out->len = strlen(out->data);
	}
	return CC_OK;
}

static enum cc_code join_abs(struct buf *out, const char *base, const char *rel,
			     struct cc_err *err)
{
	struct buf tmp = BUF_INIT;
	enum cc_code rc;

	if (!(rc = buf_addstr(&tmp, base, err)) && !(rc = buf_add(&tmp, "/", 1, err)) &&
	    !(rc = buf_addstr(&tmp, rel, err)))
		rc = clean_abs(out, tmp.data, err);
	buf_release(&tmp);
	return rc;
}

/* @return true if path is dir itself or lies below it; *ret_rest points at
 * the part after dir ("" or "sub/dir"). */
static bool under(const char *path, const char *dir, const char **ret_rest)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/') {
		*ret_rest = path + 1;
		return true;
	}
	if (strncmp(path, dir, n) || (path[n] && path[n] != '/'))
		return false;
	*ret_rest = path[n] ? path + n + 1 : path + n;
	return true;
}

/* @return true if abs lies in or below dir, dir being an absolute path
 * other than "/" (cleaned here). */
static bool lies_under(const char *abs, const char *dir, struct cc_err *err)
{
	struct buf d = BUF_INIT;
	const char *rest;
	bool r = false;

	if (dir && dir[0] == '/' && !clean_abs(&d, dir, err) && strcmp(d.data, "/"))
		r = under(abs, d.data, &rest);
	buf_release(&d);
	return r;
}

enum cc_code cc_path_record(const char *arg, const char *cwd, const char *home,
			    struct buf *ret_spec, struct buf *ret_abs, struct cc_err *err)
{
	const char *rest;
	enum cc_code rc;

	buf_reset(ret_spec);
	if (!*arg)
		return cc_err_set(err, CC_EUSAGE, 0, "empty path");
	if (arg[0] == '~' && (arg[1] == '/' || !arg[1])) {
		if (!home || home[0] != '/')
			return cc_err_set(err, CC_EUSAGE, 0, "cannot expand '%s': HOME is not set", arg);
		if ((rc = join_abs(ret_abs, home, arg + 1, err)))
			return rc;
	} else if (arg[0] == '/') {
		if ((rc = clean_abs(ret_abs, arg, err)))
			return rc;
	} else {
		bool climbed = false;

		if ((rc = join_abs(ret_abs, cwd, arg, err)))
			return rc;
		/* Relative stays relative, cleaned. */
		if ((rc = clean_append(ret_spec, 0, arg, &climbed, err)))
			return rc;
		if (!ret_spec->len)
			return buf_add(ret_spec, ".", 1, err);
		/* A relative "~" component is a directory named "~", not home:
		 * keep it apart from the "~/" form. */
		if (ret_spec->data[0] == '~' && (ret_spec->data[1] == '/' || !ret_spec->data[1])) {
			struct buf tmp = BUF_INIT;

			if (!(rc = buf_addf(&tmp, err, "./%s", ret_spec->data))) {
				buf_reset(ret_spec);
				rc = buf_add(ret_spec, tmp.data, tmp.len, err);
			}
			buf_release(&tmp);
		}
		return rc;
	}
	if (home && home[0] == '/') {
		struct buf h = BUF_INIT;

		if ((rc = clean_abs(&h, home, err))) {
			buf_release(&h);
			return rc;
		}
		if (strcmp(h.data, "/") && under(ret_abs->data, h.data, &rest)) {
			rc = *rest ? buf_addf(ret_spec, err, "~/%s", rest) : buf_addstr(ret_spec, "~", err);
			buf_release(&h);
			return rc;
		}
		buf_release(&h);
	}
	return buf_addstr(ret_spec, ret_abs->data, err);
}

enum cc_code cc_path_resolve(const char *spec, const char *cwd, const char *home,
			     struct buf *ret_abs, bool *ret_contained, struct cc_err *err)
{
	bool climbed = false;
	enum cc_code rc;
	struct buf tmp = BUF_INIT;

	*ret_contained = false;
	if (spec[0] == '~' && (spec[1] == '/' || !spec[1])) {
		if (!home || home[0] != '/')
			return cc_err_set(err, CC_EUSAGE, 0, "cannot place '%s': HOME is not set", spec);
		if ((rc = clean_append(&tmp, 0, spec + 1, &climbed, err)))
			goto cleanup;
		/* Contained exactly when its absolute spelling is: not
		 * under a home of "/" (what a uid without a passwd entry
		 * gets in a container), nor after climbing out of home. */
		if ((rc = join_abs(ret_abs, home, tmp.data, err)))
			goto cleanup;
	} else if (spec[0] == '/') {
		rc = clean_abs(ret_abs, spec, err);
	} else {
		if ((rc = clean_append(&tmp, 0, spec, &climbed, err)))
			goto cleanup;
		if ((rc = join_abs(ret_abs, cwd, tmp.data, err)))
			goto cleanup;
		*ret_contained = !climbed;
	}
	/* Any spec that lands under home or the current directory (other
	 * than "/" itself) is as safe as one recorded that way. */
	if (!rc && !*ret_contained)
		*ret_contained = lies_under(ret_abs->data, home, err) ||
				 lies_under(ret_abs->data, cwd, err);
cleanup:
	buf_release(&tmp);
	return rc;
}

bool cc_path_overlap(const char *a, const char *b)
{
	const char *rest;

	return under(a, b, &rest) || under(b, a, &rest);
}
