/* sigv4.c: AWS Signature Version 4: canonical request, string to sign,
 * signing key, Authorization header. */
#include "sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

#define MAX_HEADERS 64
#define MAX_QUERY 64

static const char hexdig[] = "0123456789abcdef";
static const char HEXDIG[] = "0123456789ABCDEF";

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

enum cc_code sigv4_uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash,
			      struct cc_err *err)
{
	enum cc_code rc;

	/* Worst case triples the length: grow once. */
	if (n > SIZE_MAX / 4)
		return cc_err_set(err, CC_ENOMEM, 0, "name too long to encode");
	if ((rc = buf_grow(out, n * 3, err)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved(c) || (keep_slash && c == '/')) {
			out->data[out->len++] = (char)c;
		} else {
			out->data[out->len++] = '%';
			out->data[out->len++] = HEXDIG[c >> 4];
			out->data[out->len++] = HEXDIG[c & 15];
		}
	}
	out->data[out->len] = '\0';
	return CC_OK;
}

void sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	hex(md, 32, out);
}

static void hmac(const void *key, size_t keylen, const void *msg, size_t n, unsigned char out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)keylen, msg, n, out, &len);
}

struct enc_pair {
	struct buf name, value;
};

static int cmp_enc_pair(const void *a, const void *b)
{
	const struct enc_pair *x = a, *y = b;
	int c = strcmp(x->name.data, y->name.data);

	return c ? c : strcmp(x->value.data, y->value.data);
}

enum cc_code sigv4_canonical_query(struct buf *out, const struct sigv4_pair *q, size_t n,
				   struct cc_err *err)
{
	return sigv4_canonical_query_ex(out, q, n, false, err);
}

enum cc_code sigv4_canonical_query_ex(struct buf *out, const struct sigv4_pair *q, size_t n,
				      bool keep_slash, struct cc_err *err)
{
	struct enc_pair *e = NULL;
	enum cc_code rc = CC_OK;

	if (n > MAX_QUERY)
		return cc_err_set(err, CC_EUSAGE, 0, "too many query parameters");
	if (!n)
		return CC_OK;
	if (!(e = calloc(n, sizeof(*e))))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < n; i++) {
		buf_init(&e[i].name, 0);
		buf_init(&e[i].value, 0);
	}
	for (size_t i = 0; i < n && !rc; i++) {
		const char *v = q[i].value ? q[i].value : "";

		if ((rc = sigv4_uri_encode(&e[i].name, q[i].name, strlen(q[i].name), false, err)))
			break;
		rc = sigv4_uri_encode(&e[i].value, v, strlen(v), keep_slash, err);
	}
	if (!rc) {
		if (n > 1)
			qsort(e, n, sizeof(*e), cmp_enc_pair);
		for (size_t i = 0; i < n && !rc; i++)
			rc = buf_addf(out, err, "%s%s=%s", i ? "&" : "", e[i].name.data,
				      e[i].value.data);
	}
	for (size_t i = 0; i < n; i++) {
		buf_release(&e[i].name);
		buf_release(&e[i].value);
	}
	free(e);
	return rc;
}

/* Removes empty, "." and ".." segments (RFC 3986 section 5.2.4 and the
 * test suite's normalize-path cases); keeps a trailing '/'. */
static enum cc_code normalize(struct buf *out, const char *path, struct cc_err *err)
{
	const char *p = path;
	size_t n = strlen(path);
	bool trailing = n > 1 && path[n - 1] == '/';
	enum cc_code rc;

	buf_reset(out);
	while (*p) {
		const char *seg, *end;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		seg = p;
		end = strchr(seg, '/');
		if (!end)
			end = seg + strlen(seg);
		len = (size_t)(end - seg);
		p = end;
		if (len == 1 && seg[0] == '.')
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			char *slash = memrchr(out->data, '/', out->len);

			buf_setlen(out, slash ? (size_t)(slash - out->data) : 0);
			continue;
		}
		if ((rc = buf_add(out, "/", 1, err)) || (rc = buf_add(out, seg, len, err)))
			return rc;
	}
	if (!out->len || (trailing && out->data[out->len - 1] != '/'))
		return buf_add(out, "/", 1, err);
	return CC_OK;
}

struct hdr {
	char *name;		/* lowercased copy */
	const char *value;
	size_t order;
};

static int cmp_hdr(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends v trimmed, with runs of spaces folded into one. */
static enum cc_code add_trimmed(struct buf *out, const char *v, struct cc_err *err)
{
	const char *end = v + strlen(v);
	bool space = false;
	enum cc_code rc;

	while (v < end && isspace((unsigned char)*v))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	for (; v < end; v++) {
		if (isspace((unsigned char)*v)) {
			space = true;
			continue;
		}
		if (space && (rc = buf_add(out, " ", 1, err)))
			return rc;
		space = false;
		if ((rc = buf_add(out, v, 1, err)))
			return rc;
	}
	return CC_OK;
}

enum cc_code sigv4_sign(const struct sigv4_request *req, const struct sigv4_creds *creds,
			const char *region, const char *service, const char *amz_date,
			struct buf *ret_auth, struct buf *ret_creq, struct buf *ret_sts,
			struct cc_err *err)
{
	struct hdr h[MAX_HEADERS];
	struct buf creq = BUF_INIT, sts = BUF_INIT, signed_hdrs = BUF_INIT, tmp = BUF_INIT;
	struct buf key = BUF_INIT;
	char date[9], creq_hash[65], sig[65];
	unsigned char k[32];
	size_t nh = req->nheaders;
	enum cc_code rc = CC_OK;

	memset(h, 0, sizeof(h));
	if (nh > MAX_HEADERS)
		return cc_err_set(err, CC_EUSAGE, 0, "too many headers to sign");
	if (!amz_date || strlen(amz_date) != 16 || !req->path || req->path[0] != '/')
		return cc_err_set(err, CC_EUSAGE, 0, "malformed request to sign");
	memcpy(date, amz_date, 8);
	date[8] = '\0';

	/* 1. The canonical request. */
	if ((rc = buf_addf(&creq, err, "%s\n", req->method)))
		goto cleanup;
	if (req->normalize_path) {
		if ((rc = normalize(&tmp, req->path, err)) ||
		    (rc = sigv4_uri_encode(&creq, tmp.data, tmp.len, true, err)))
			goto cleanup;
	} else if ((rc = sigv4_uri_encode(&creq, req->path, strlen(req->path), true, err))) {
		goto cleanup;
	}
	if ((rc = buf_add(&creq, "\n", 1, err)) ||
	    (rc = sigv4_canonical_query_ex(&creq, req->query, req->nquery, req->query_keep_slash,
					   err)) ||
	    (rc = buf_add(&creq, "\n", 1, err)))
		goto cleanup;
	for (size_t i = 0; i < nh; i++) {
		if (!(h[i].name = strdup(req->headers[i].name))) {
			rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
			goto cleanup;
		}
		for (char *c = h[i].name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		h[i].value = req->headers[i].value ? req->headers[i].value : "";
		h[i].order = i;
	}
	if (nh > 1)
		qsort(h, nh, sizeof(*h), cmp_hdr);
	for (size_t i = 0; i < nh; i++) {
		bool same = i && !strcmp(h[i].name, h[i - 1].name);

		if (same) {
			rc = buf_add(&creq, ",", 1, err);
		} else {
			if (i)
				rc = buf_add(&creq, "\n", 1, err);
			if (!rc)
				rc = buf_addf(&creq, err, "%s:", h[i].name);
			if (!rc)
				rc = buf_addf(&signed_hdrs, err, "%s%s", signed_hdrs.len ? ";" : "",
					      h[i].name);
		}
		if (rc || (rc = add_trimmed(&creq, h[i].value, err)))
			goto cleanup;
	}
	if ((rc = buf_addf(&creq, err, "\n\n%s\n%s", signed_hdrs.data,
			   req->payload_hash ? req->payload_hash : SIGV4_EMPTY_SHA256)))
		goto cleanup;

	/* 2. The string to sign. */
	sigv4_sha256_hex(creq.data, creq.len, creq_hash);
	if ((rc = buf_addf(&sts, err, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date,
			   date, region, service, creq_hash)))
		goto cleanup;

	/* 3. The signing key and the signature. */
	if ((rc = buf_addf(&key, err, "AWS4%s", creds->secret_key)))
		goto cleanup;
	hmac(key.data, key.len, date, strlen(date), k);
	hmac(k, 32, region, strlen(region), k);
	hmac(k, 32, service, strlen(service), k);
	hmac(k, 32, "aws4_request", 12, k);
	hmac(k, 32, sts.data, sts.len, k);
	hex(k, 32, sig);

	buf_reset(ret_auth);
	rc = buf_addf(ret_auth, err,
		      "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		      creds->access_key, date, region, service, signed_hdrs.data, sig);
	if (!rc && ret_creq) {
		buf_reset(ret_creq);
		rc = buf_add(ret_creq, creq.data, creq.len, err);
	}
	if (!rc && ret_sts) {
		buf_reset(ret_sts);
		rc = buf_add(ret_sts, sts.data, sts.len, err);
	}
cleanup:
	for (size_t i = 0; i < nh && i < MAX_HEADERS; i++)
		free(h[i].name);
	OPENSSL_cleanse(k, sizeof(k));
	if (key.alloc)
		OPENSSL_cleanse(key.data, key.alloc);
	buf_release(&key);
	buf_release(&creq);
	buf_release(&sts);
	buf_release(&signed_hdrs);
	buf_release(&tmp);
	return rc;
}
