/* sigv4.h: AWS Signature Version 4 (header form), on OpenSSL.
 *
 * The signer is pure: it takes the pieces of one request and returns the
 * value of the Authorization header.  It never sees the network, never logs,
 * and never copies the secret anywhere but into the HMAC.  Callers add the
 * headers they want signed (host, x-amz-date, x-amz-content-sha256,
 * x-amz-security-token ...) to req->headers themselves, and send exactly
 * those headers with exactly the encoded path and query the signer used
 * (sigv4_uri_encode / sigv4_canonical_query build both).
 */
#ifndef CC_SIGV4_H
#define CC_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "err.h"

#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* SHA-256 of the empty string. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token;	/* NULL or "" when not temporary */
};

/* A name/value pair, raw (not yet encoded).  For headers, names are
 * matched case-insensitively and a name may repeat (values are joined with
 * ',' in the order given). */
struct sigv4_pair {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;		/* "GET", "PUT" ... */
	const char *path;		/* raw path, starting with '/' */
	/* S3 signs the path as is (encoded once, '/' kept); other services
	 * first remove "." and ".." segments and empty segments. */
	bool normalize_path;
	const struct sigv4_pair *query;
	size_t nquery;
	/* Leaves '/' unencoded in query values: wrong for AWS, but what a
	 * server that decodes %2F before checking (moto) computes. */
	bool query_keep_slash;
	const struct sigv4_pair *headers;
	size_t nheaders;
	/* Lowercase hex SHA-256 of the body, or SIGV4_UNSIGNED_PAYLOAD. */
	const char *payload_hash;
};

/* Appends s[0..n) percent-encoded the way SigV4 wants: every byte except
 * A-Z a-z 0-9 - . _ ~ becomes %XX (uppercase hex); '/' is kept when
 * keep_slash.  @return CC_OK or CC_ENOMEM. */
enum cc_code sigv4_uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash,
			      struct cc_err *err);

/* Appends the canonical query string: names and values encoded, pairs
 * sorted by encoded name then encoded value, joined by '&'.  It is also a
 * valid query string to send. */
enum cc_code sigv4_canonical_query(struct buf *out, const struct sigv4_pair *q, size_t n,
				   struct cc_err *err);
/* The same, with '/' in values kept as is when keep_slash. */
enum cc_code sigv4_canonical_query_ex(struct buf *out, const struct sigv4_pair *q, size_t n,
				      bool keep_slash, struct cc_err *err);

/* Formats t as an x-amz-date ("20150830T123600Z"); out holds 17 bytes. */
void sigv4_amz_date(time_t t, char out[17]);

/* Lowercase hex SHA-256 of p[0..n) into out (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *p, size_t n, char out[65]);

/* Signs req.  amz_date must equal the x-amz-date header sent.
 * ret_auth gets the Authorization header value; ret_creq and ret_sts,
 * when not NULL, get the canonical request and the string to sign (for
 * tests and --verbose debugging: neither contains the secret).
 * @return CC_OK, CC_EUSAGE for a malformed request, or CC_ENOMEM. */
enum cc_code sigv4_sign(const struct sigv4_request *req, const struct sigv4_creds *creds,
			const char *region, const char *service, const char *amz_date,
			struct buf *ret_auth, struct buf *ret_creq, struct buf *ret_sts,
			struct cc_err *err);

#endif
