#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "identity.h"
#include "key.h"
#include "url.h"
#include "util.h"

/* The backends: one row each.  A URL "SCHEME://REST" opens the row of
 * SCHEME with location REST; a bare path is a local directory.  bare:
 * the scheme alone ("gha") names a store too, and the location may be
 * empty. */
static const struct backend {
	const char *scheme;
	const struct store_ops *ops;
	bool bare;
} backends[] = {
	{ "file", &store_local, false },
	{ "s3", &store_s3, false },
	{ "gha", &store_gha, true },
};

/* Finds url's backend and location.  @return false for "SCHEME://..."
 * with a scheme no row has. */
static bool backend_find(const char *url, const struct backend **ret_b, const char **ret_loc)
{
	const char *colon = strstr(url, "://");

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const struct backend *b = &backends[i];
		size_t n = strlen(b->scheme);

		if (strncmp(url, b->scheme, n))
			continue;
		if (!strncmp(url + n, "://", 3) || (b->bare && !url[n])) {
			*ret_b = b;
			*ret_loc = url[n] ? url + n + 3 : url + n;
			return true;
		}
	}
	*ret_b = &backends[0];	/* a path */
	*ret_loc = url;
	return !(colon && colon > url && !memchr(url, '/', (size_t)(colon - url)));
}

enum cc_code store_open(struct store **ret, const char *url, struct cc_err *err)
{
	const struct backend *b;
	const char *loc;
	struct store *s = NULL;
	enum cc_code rc;

	*ret = NULL;
	if (!backend_find(url, &b, &loc)) {
		char known[256] = "directories";
		size_t len = strlen(known), nb = sizeof(backends) / sizeof(backends[0]);

		for (size_t i = 0; i < nb && len < sizeof(known); i++)
			len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s://",
						i + 1 < nb ? ", " : " and ", backends[i].scheme);
		return cc_err_set(err, CC_EUSAGE, 0, "unsupported store '%s' (this build knows %s)",
				  url, known);
	}
	if (!*loc && !b->bare)
		return cc_err_set(err, CC_EUSAGE, 0, "empty store location");
	s = calloc(1, sizeof(*s));
	if (!s || !(s->location = strdup(url))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate the store");
		goto cleanup;
	}
	/* Only for messages: "s3://b?endpoint=http://user:pass@h" shows
	 * as "s3://b". */
	url_redact_text(s->location);
	s->ops = b->ops;
	s->jobs = STORE_DEFAULT_JOBS;
	if ((s->ops->caps & STORE_CAP_REMOTE) && !s->ops->get_ranges) {
		rc = cc_err_set(err, CC_EINTERNAL, 0, "the %s store is remote but has no get_ranges",
				s->ops->name);
		goto cleanup;
	}
	if ((rc = s->ops->open(s, loc, err)))
		goto cleanup;
	*ret = s;
	s = NULL;
cleanup:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->ops && s->priv)
		s->ops->close(s);
	free(s->location);
	free(s->tmpdir);
	free(s);
}

enum cc_code store_list_all(struct store *s, const char *prefix, store_list_fn fn, void *ctx,
			    struct cc_err *err)
{
	if (s->ops->list_all)
		return s->ops->list_all(s, prefix, fn, ctx, err);
	if (!(s->ops->caps & STORE_CAP_LIST_NEWEST))
		return s->ops->list(s, prefix, fn, ctx, err);
	return cc_err_set(err, CC_EUSAGE, 0,
			  "the %s store cannot list all its objects: lifecycle commands need that",
			  s->ops->name);
}

enum cc_code store_key_name(struct buf *ret, const char *key, struct cc_err *err)
{
	enum cc_code rc;

	buf_reset(ret);
	if ((rc = buf_addstr(ret, STORE_KEYS_PREFIX, err)))
		return rc;
	return cc_key_encode(ret, key, err);
}

enum cc_code store_check_key(struct store *s, const char *key, const char *what,
			     struct cc_err *err)
{
	const size_t fixed = strlen(STORE_KEYS_PREFIX) + STORE_VERSION_SUFFIX_LEN;
	struct buf e = BUF_INIT;
	bool utf16 = false;
	size_t max, len;
	enum cc_code rc;

	if (!s->ops->name_max)
		return CC_OK;
	max = s->ops->name_max(s, &utf16);
	if ((rc = cc_key_encode(&e, key, err)))
		return rc;
	len = utf16 ? cc_key_length(e.data, e.len) : e.len;
	if (len + fixed > max)
		rc = cc_err_set(err, CC_EUSAGE, 0,
				"%s is too long for the %s store: encoded (a space or '/' takes 3) "
				"it is %zu %s, and at most %zu fit (%s)", what, s->ops->name, len,
				utf16 ? "characters" : "bytes", max > fixed ? max - fixed : 0,
				s->ops->name_max_why);
	buf_release(&e);
	return rc;
}

enum cc_code store_entry_name(struct buf *ret, const char *key, const char *version,
			      struct cc_err *err)
{
	enum cc_code rc = store_key_name(ret, key, err);

	if (!rc && version)
		rc = buf_addf(ret, err, "%s%s", STORE_VERSION_SEP, version);
	return rc;
}

bool store_entry_parse(const char *name, struct buf *ret_key, char ret_version[17])
{
	size_t plen = strlen(STORE_KEYS_PREFIX), len, slen = strlen(STORE_VERSION_SEP);

	ret_version[0] = '\0';
	if (strncmp(name, STORE_KEYS_PREFIX, plen))
		return false;
	name += plen;
	len = strlen(name);
	if (len > slen + CC_IDENTITY_LEN &&
	    !memcmp(name + len - CC_IDENTITY_LEN - slen, STORE_VERSION_SEP, slen) &&
	    cc_identity_valid(name + len - CC_IDENTITY_LEN, CC_IDENTITY_LEN)) {
		memcpy(ret_version, name + len - CC_IDENTITY_LEN, CC_IDENTITY_LEN + 1);
		len -= CC_IDENTITY_LEN + slen;
	}
	if (!cc_key_decode(name, len, ret_key)) {
		ret_version[0] = '\0';
		return false;
	}
	return true;
}

int store_tmpfile(struct store *s, struct buf *ret_path, struct cc_err *err)
{
	static unsigned counter;

	for (int tries = 0; tries < 100; tries++) {
		uint64_t r = XXH3_64bits_withSeed(&tries, sizeof(tries),
						  (uint64_t)now_realtime_ns() ^
						  ((uint64_t)getpid() << 32) ^
						  __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
		int fd;

		buf_reset(ret_path);
		if (buf_addf(ret_path, err, "%s/.cc-%016llx.tmp", s->tmpdir,
			     (unsigned long long)r))
			return -1;
		fd = open(ret_path->data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST) {
			cc_err_set(err, CC_ESTORE, errno, "cannot create a temporary file in '%s'",
				   s->tmpdir);
			return -1;
		}
	}
	cc_err_set(err, CC_ESTORE, EEXIST, "cannot create a temporary file in '%s'", s->tmpdir);
	return -1;
}

void store_pack_name(char out[STORE_PACK_NAME_SIZE], const char *prefix, const struct cc_id *id)
{
	char hex[CC_ID_HEX_LEN + 1];

	cc_id_hex(id, hex);
	snprintf(out, STORE_PACK_NAME_SIZE, "%s%s.pack", prefix, hex);
}

bool store_pack_parse(const char *name, const char *prefix, struct cc_id *ret)
{
	size_t n = strlen(prefix);
	char hex[CC_ID_HEX_LEN + 1];

	if (strncmp(name, prefix, n) || strlen(name + n) != CC_ID_HEX_LEN + 5 ||
	    strcmp(name + n + CC_ID_HEX_LEN, ".pack"))
		return false;
	memcpy(hex, name + n, CC_ID_HEX_LEN);
	hex[CC_ID_HEX_LEN] = '\0';
	return cc_id_parse_hex(ret, hex);
}

enum cc_code store_get_spans(struct store *s, const struct store_range *r, size_t n,
			     size_t span_max, store_spans_fn fetch, struct cc_err *err)
{
	struct store_span *sp = NULL;
	size_t *first = NULL;	/* the first range of each span, and n */
	unsigned char **tmp = NULL;	/* a merged span's buffer */
	size_t nsp = 0;
	enum cc_code rc = CC_OK;

	if (!n)
		return CC_OK;
	sp = calloc(n, sizeof(*sp));
	first = calloc(n + 1, sizeof(*first));
	tmp = calloc(n, sizeof(*tmp));
	if (!sp || !first || !tmp) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (size_t i = 0, j; i < n; i = j) {
		size_t len = r[i].len;

		for (j = i + 1; j < n && !strcmp(r[j].name, r[i].name) &&
				r[j].off == r[i].off + len && r[j].len <= span_max &&
				len <= span_max - r[j].len; j++)
			len += r[j].len;
		sp[nsp] = (struct store_span){ r[i].name, r[i].off, len, r[i].dst, r[i].cancel };
		first[nsp] = i;
		if (j > i + 1 && !(sp[nsp].dst = tmp[nsp] = malloc(len))) {
			rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
			goto cleanup;
		}
		nsp++;
	}
	first[nsp] = n;
	if ((rc = fetch(s, sp, nsp, err)))
		goto cleanup;
	for (size_t k = 0; k < nsp; k++) {
		size_t pos = 0;

		for (size_t i = first[k]; tmp[k] && i < first[k + 1]; i++) {
			memcpy(r[i].dst, tmp[k] + pos, r[i].len);
			pos += r[i].len;
		}
	}
cleanup:
	for (size_t k = 0; tmp && k < nsp; k++)
		free(tmp[k]);
	free(sp);
	free(first);
	free(tmp);
	return rc;
}

static void pct_decode(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
			char h[3] = { r[1], r[2], 0 };

			*w++ = (char)strtol(h, NULL, 16);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

void store_loc_release(struct store_loc *l)
{
	free(l->bucket);
	free(l->prefix);
	for (size_t i = 0; i < STORE_LOC_OPTS_MAX; i++)
		free(l->opt[i]);
	memset(l, 0, sizeof(*l));
}

/* The options after '?': each KEY=VALUE one of known. */
static enum cc_code loc_options(struct store *s, char *query, const char *const *known,
				size_t nknown, struct store_loc *ret, struct cc_err *err)
{
	for (char *opt = query, *next; opt && *opt; opt = next) {
		char *eq;
		size_t i;

		if ((next = strchr(opt, '&')))
			*next++ = '\0';
		if ((eq = strchr(opt, '='))) {
			*eq++ = '\0';
			pct_decode(eq);
		}
		for (i = 0; eq && i < nknown; i++)
			if (!strcmp(opt, known[i]))
				break;
		if (!eq || i == nknown) {
			struct buf names = BUF_INIT;
			enum cc_code rc;

			for (size_t k = 0; k < nknown; k++)
				if (buf_addf(&names, NULL, "%s%s", k ? ", " : "", known[k]))
					break;
			rc = cc_err_set(err, CC_EUSAGE, 0, "unknown option '%s' in '%s' (known: %s)",
					opt, s->location, names.data);
			buf_release(&names);
			return rc;
		}
		free(ret->opt[i]);
		if (!(ret->opt[i] = strdup(eq)))
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	return CC_OK;
}

/* The prefix after the bucket's '/': its pieces, each followed by '/'. */
static enum cc_code loc_prefix(struct store *s, const char *scheme, char *path,
			       struct store_loc *ret, struct cc_err *err)
{
	struct buf p = BUF_INIT;
	enum cc_code rc = CC_OK;

	for (char *seg = path, *next; seg && *seg; seg = next) {
		if ((next = strchr(seg, '/')))
			*next++ = '\0';
		if (!*seg)
			continue;
		if (!strcmp(seg, ".") || !strcmp(seg, "..")) {
			rc = cc_err_set(err, CC_EUSAGE, 0, "bad %s prefix in '%s'", scheme, s->location);
			goto cleanup;
		}
		if ((rc = buf_addf(&p, err, "%s/", seg)))
			goto cleanup;
	}
	if (!(ret->prefix = buf_detach(&p, NULL)))
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
cleanup:
	buf_release(&p);
	return rc;
}

enum cc_code store_loc_parse(struct store *s, const char *scheme, const char *location,
			     const char *const *known, size_t nknown, struct store_loc *ret,
			     struct cc_err *err)
{
	char *loc = strdup(location), *query, *slash;
	enum cc_code rc;

	memset(ret, 0, sizeof(*ret));
	if (!loc || nknown > STORE_LOC_OPTS_MAX) {
		free(loc);
		return loc ? cc_err_set(err, CC_EINTERNAL, 0, "too many location options")
			   : cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	if ((query = strchr(loc, '?')))
		*query++ = '\0';
	if ((slash = strchr(loc, '/')))
		*slash++ = '\0';
	if ((rc = loc_options(s, query, known, nknown, ret, err)) ||
	    (rc = loc_prefix(s, scheme, slash, ret, err)))
		goto cleanup;
	if (!(ret->bucket = strdup(loc)))
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
cleanup:
	free(loc);
	if (rc)
		store_loc_release(ret);
	return rc;
}
