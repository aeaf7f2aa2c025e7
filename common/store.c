#include "store.h"

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

enum cc_code store_open(struct store **ret, const char *url, struct cc_err *err)
{
	const struct store_ops *ops = &store_local;
	const char *loc = url;
	struct store *s;
	const char *colon = strstr(url, "://");
	enum cc_code rc;

	*ret = NULL;
	if (!strncmp(url, "file://", 7)) {
		loc = url + 7;
	} else if (!strncmp(url, "s3://", 5)) {
		ops = &store_s3;
		loc = url + 5;
	} else if (!strcmp(url, "gha") || !strncmp(url, "gha://", 6)) {
		ops = &store_gha;	/* parses "gha[://NAMESPACE]" itself */
	} else if (colon && colon > url && !memchr(url, '/', (size_t)(colon - url))) {
		return cc_err_set(err, CC_EUSAGE, 0,
				  "unsupported store '%s' (this build knows directories, file://, s3:// and gha://)",
				  url);
	}
	if (!*loc)
		return cc_err_set(err, CC_EUSAGE, 0, "empty store location");
	s = calloc(1, sizeof(*s));
	if (!s || !(s->location = strdup(url))) {
		free(s);
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate the store");
	}
	/* Only for messages: "s3://b?endpoint=http://user:pass@h" shows
	 * as "s3://b". */
	url_redact_text(s->location);
	s->ops = ops;
	s->jobs = STORE_DEFAULT_JOBS;
	rc = ops->open(s, loc, err);
	if (rc) {
		store_close(s);
		return rc;
	}
	*ret = s;
	return CC_OK;
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
