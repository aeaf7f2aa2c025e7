/* store-s3.c: a store in an S3 bucket (AWS S3 or an S3-compatible server).
 *
 * Location: s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path-style=true].
 * Object NAME lives at key "PREFIX/NAME".  Requests are signed with SigV4
 * (sigv4.c) and sent through the one HTTP layer (http.c), which owns the
 * retries; this file maps answers to store semantics and words errors as
 * "s3 bucket 'B': ... Code: Message (HTTP n)".  Secrets never reach a
 * message: errors quote only the S3 error Code and Message.
 *
 * Uploads up to the part size (s->part_size, else PART_SIZE) are one PUT with Content-MD5; larger ones are a
 * multipart upload (aborted on failure).  STORE_PUT_IF_ABSENT is a
 * conditional write (If-None-Match: *), 412 meaning "it exists";
 * put_if_match is one with If-Match: ETAG, 412 (or 404 NoSuchKey: it
 * vanished) meaning "it changed".  S3's LastModified of a rewritten
 * object is the time of the rewrite. */
#include "store.h"
#include "store-answers.h"
#include "aws-creds.h"
#include "hash.h"
#include "http.h"
#include "log.h"
#include "sigv4.h"
#include "url.h"
#include "util.h"
#include "xml.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define PART_SIZE (8u << 20)
#define COALESCE_MAX (16u << 20)
#define MAX_PARTS 10000
#define LIST_PAGE_MAX (16u << 20)
/* Bound on one text of an answer: a key is at most 1024 bytes, a
 * continuation token or an upload id a few hundred. */
#define S3_TEXT_MAX (16u << 10)
#define SMALL_BODY_MAX (1u << 20)
#define DEFAULT_TRIES 5

struct s3 {
	char *bucket;
	char *prefix;		/* "" or "dir/sub/" */
	char *scheme;		/* "http" or "https" */
	char *hostport;		/* of the endpoint */
	char *region;
	bool path_style;
	/* The server checks signatures against a query with %2F decoded
	 * (moto does): learnt from a SignatureDoesNotMatch, see call_run. */
	bool query_keep_slash;
	struct aws_creds *creds;
	struct http *http;
};

/* One S3 request: what to sign and where the bodies go. */
struct s3_call {
	const char *method;
	const char *key;		/* full object key, or NULL for the bucket */
	struct sigv4_pair q[6];
	size_t nq;
	struct sigv4_pair hdr[4];	/* extra signed headers */
	size_t nhdr;
	const char *payload_hash;	/* NULL: hash of body, or UNSIGNED for files */
	struct http_req req;
	struct s3 *s3;
	struct buf path;		/* raw path, for the signer */
	struct buf url;
	char hash[65];
};

static void s3_close(struct store *s)
{
	struct s3 *s3 = s->priv;

	free(s3->bucket);
	free(s3->prefix);
	free(s3->scheme);
	free(s3->hostport);
	free(s3->region);
	aws_creds_free(s3->creds);
	http_free(s3->http);
	free(s3);
	s->priv = NULL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static bool valid_bucket(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return false;
	for (const char *p = b; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-' &&
		    *p != '.')
			return false;
	return true;
}

static bool host_is_ip_or_local(const char *hostport)
{
	const char *p = hostport;

	if (*p == '[' || !strncasecmp(p, "localhost", 9))
		return true;
	for (; *p && *p != ':'; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return false;
	return true;
}

/* Splits "scheme://host[:port][/...]" into scheme and host:port. */
static enum cc_code set_endpoint(struct s3 *s3, const char *url, struct cc_err *err)
{
	const char *sep = strstr(url, "://"), *host, *end;
	char shown[512];

	if (!sep || (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)))
		return cc_err_set(err, CC_EUSAGE, 0,
				  "s3 endpoint '%s' must start with http:// or https://",
				  url_redact(shown, sizeof(shown), url));
	host = sep + 3;
	end = host + strcspn(host, "/?#");
	if (end == host)
		return cc_err_set(err, CC_EUSAGE, 0, "bad s3 endpoint '%s'",
				  url_redact(shown, sizeof(shown), url));
	if (memchr(host, '@', (size_t)(end - host)))
		return cc_err_set(err, CC_EUSAGE, 0,
				  "bad s3 endpoint '%s': a user or password does not belong in it "
				  "(AWS credentials come from the environment or the AWS files)",
				  url_redact(shown, sizeof(shown), url));
	free(s3->scheme);
	free(s3->hostport);
	s3->scheme = strndup(url, (size_t)(sep - url));
	s3->hostport = strndup(host, (size_t)(end - host));
	if (!s3->scheme || !s3->hostport)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (char *p = s3->scheme; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return CC_OK;
}

/* Decodes %XX in place (for values of the location's query). */
static enum cc_code s3_open(struct store *s, const char *location, struct cc_err *err)
{
	enum { ENDPOINT, REGION, PATH_STYLE };
	static const char *const known[] = { "endpoint", "region", "path-style" };
	struct s3 *s3 = calloc(1, sizeof(*s3));
	struct store_loc loc = { 0 };
	char *opt_endpoint, *opt_region, *cfg_region = NULL;
	int path_style = -1;
	const char *tmp = env("TMPDIR");
	const char *endpoint, *region;
	enum cc_code rc = CC_OK;

	if (!s3)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	s->priv = s3;
	if ((rc = store_loc_parse(s, "s3", location, known, 3, &loc, err)))
		goto cleanup;
	opt_endpoint = loc.opt[ENDPOINT];
	opt_region = loc.opt[REGION];
	if (loc.opt[PATH_STYLE])
		path_style = !strcmp(loc.opt[PATH_STYLE], "true") || !strcmp(loc.opt[PATH_STYLE], "1");
	if (!valid_bucket(loc.bucket)) {
		rc = cc_err_set(err, CC_EUSAGE, 0,
				"bad s3 bucket name '%s' in '%s' (3 to 63 characters: a-z 0-9 . -)",
				loc.bucket, s->location);
		goto cleanup;
	}
	s3->bucket = loc.bucket;
	s3->prefix = loc.prefix;
	loc.bucket = loc.prefix = NULL;
	if ((rc = aws_creds_open(&s3->creds, s3->bucket, &cfg_region, err)))
		goto cleanup;
	region = opt_region ? opt_region : env("AWS_REGION") ? env("AWS_REGION") :
		 env("AWS_DEFAULT_REGION") ? env("AWS_DEFAULT_REGION") :
		 cfg_region ? cfg_region : "us-east-1";
	if (!(s3->region = strdup(region))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	endpoint = opt_endpoint ? opt_endpoint : env("AWS_ENDPOINT_URL_S3") ?
		   env("AWS_ENDPOINT_URL_S3") : env("AWS_ENDPOINT_URL");
	if (endpoint) {
		if ((rc = set_endpoint(s3, endpoint, err)))
			goto cleanup;
		s3->path_style = path_style >= 0 ? path_style : host_is_ip_or_local(s3->hostport);
	} else {
		char def[256];

		snprintf(def, sizeof(def), "https://s3.%s.amazonaws.com", s3->region);
		if ((rc = set_endpoint(s3, def, err)))
			goto cleanup;
		/* Dotted names break TLS under virtual hosting. */
		s3->path_style = path_style > 0 || strchr(s3->bucket, '.');
	}
	if (!(s->tmpdir = strdup(tmp ? tmp : "/tmp"))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	{
		const char *t = env("CICACHE_S3_TRIES");
		int tries = t ? atoi(t) : DEFAULT_TRIES;

		rc = http_new(&s3->http, tries > 0 ? tries : DEFAULT_TRIES, err);
	}
cleanup:
	free(cfg_region);
	store_loc_release(&loc);
	return rc;
}

/* Object key of a store name. */
static enum cc_code object_key(struct s3 *s3, const char *name, struct buf *ret,
			       struct cc_err *err)
{
	buf_reset(ret);
	return buf_addf(ret, err, "%s%s", s3->prefix, name);
}

static enum cc_code sign_call(void *ctx, struct http_headers *hh, struct cc_err *err)
{
	struct s3_call *c = ctx;
	struct s3 *s3 = c->s3;
	struct sigv4_pair h[10];
	struct aws_key k = { NULL, NULL, NULL, 0 };
	struct sigv4_creds cr;
	struct sigv4_request r = {
		.method = c->method, .path = c->path.data, .query = c->q, .nquery = c->nq,
		.query_keep_slash = s3->query_keep_slash,
		.headers = h, .payload_hash = c->payload_hash,
	};
	struct buf auth = BUF_INIT, host = BUF_INIT;
	char date[17];
	size_t n = 0;
	enum cc_code rc;

	sigv4_amz_date(time(NULL), date);
	if (s3->path_style)
		rc = buf_addstr(&host, s3->hostport, err);
	else
		rc = buf_addf(&host, err, "%s.%s", s3->bucket, s3->hostport);
	if (rc)
		return rc;
	h[n++] = (struct sigv4_pair){ "host", host.data };
	h[n++] = (struct sigv4_pair){ "x-amz-date", date };
	h[n++] = (struct sigv4_pair){ "x-amz-content-sha256", c->payload_hash };
	/* Fetched per attempt: temporary credentials are refreshed in there. */
	if ((rc = aws_creds_get(s3->creds, &k, err)))
		goto cleanup;
	cr = (struct sigv4_creds){ k.access_key, k.secret_key, k.session_token };
	if (k.session_token)
		h[n++] = (struct sigv4_pair){ "x-amz-security-token", k.session_token };
	for (size_t i = 0; i < c->nhdr; i++)
		h[n++] = c->hdr[i];
	r.nheaders = n;
	if ((rc = sigv4_sign(&r, &cr, s3->region, "s3", date, &auth, NULL, NULL, err)))
		goto cleanup;
	for (size_t i = 0; i < n && !rc; i++)
		rc = http_header_add(hh, h[i].name, h[i].value, err);
	if (!rc)
		rc = http_header_add(hh, "Authorization", auth.data, err);
cleanup:
	OPENSSL_cleanse(auth.data, auth.len);
	buf_release(&auth);
	buf_release(&host);
	aws_key_release(&k);
	return rc;
}

static bool s3_retryable(long status, const struct buf *body)
{
	return (status == 400 && xml_error_is(body->data, body->len, "RequestTimeout")) ||
	       (status == 409 && xml_error_is(body->data, body->len, "ConditionalRequestConflict"));
}

static bool query_has_slash(const struct s3_call *c);

static void call_init(struct s3_call *c, struct s3 *s3, const char *method, const char *key)
{
	memset(c, 0, sizeof(*c));
	c->s3 = s3;
	c->method = method;
	c->key = key;
	buf_init(&c->path, 0);
	buf_init(&c->url, 0);
	http_req_init(&c->req);
}

static void call_release(struct s3_call *c)
{
	buf_release(&c->url);
	buf_release(&c->path);
}

/* Builds c's path, URL and payload hash, and points c->req at them. */
static enum cc_code call_prepare(struct s3_call *c, struct cc_err *err)
{
	struct s3 *s3 = c->s3;
	enum cc_code rc;

	buf_reset(&c->path);
	buf_reset(&c->url);
	if (s3->path_style)
		rc = buf_addf(&c->path, err, "/%s%s%s", s3->bucket, c->key ? "/" : "",
			      c->key ? c->key : "");
	else
		rc = buf_addf(&c->path, err, "/%s", c->key ? c->key : "");
	if (rc)
		return rc;
	if (s3->path_style)
		rc = buf_addf(&c->url, err, "%s://%s", s3->scheme, s3->hostport);
	else
		rc = buf_addf(&c->url, err, "%s://%s.%s", s3->scheme, s3->bucket, s3->hostport);
	if (rc || (rc = sigv4_uri_encode(&c->url, c->path.data, c->path.len, true, err)))
		return rc;
	if (c->nq && ((rc = buf_add(&c->url, "?", 1, err)) ||
		      (rc = sigv4_canonical_query_ex(&c->url, c->q, c->nq, s3->query_keep_slash,
						     err))))
		return rc;
	if (!c->payload_hash) {
		if (c->req.body_fd >= 0) {
			c->payload_hash = SIGV4_UNSIGNED_PAYLOAD;
		} else {
			sigv4_sha256_hex(c->req.body ? c->req.body : "", (size_t)c->req.body_len,
					 c->hash);
			c->payload_hash = c->hash;
		}
	}
	c->req.method = c->method;
	c->req.url = c->url.data;
	c->req.sign = sign_call;
	c->req.sign_ctx = c;
	c->req.retryable = s3_retryable;
	return CC_OK;
}

static enum cc_code call_once(struct s3_call *c, struct http_resp *resp, struct cc_err *err)
{
	enum cc_code rc = call_prepare(c, err);

	if (!rc && (rc = http_do(c->s3->http, &c->req, resp, err)))
		cc_err_prefix(err, "s3 bucket '%s'", c->s3->bucket);
	call_release(c);
	return rc;
}

/* Runs n prepared-by-call_init calls, s->jobs at a time.  @return the
 * first transport failure; HTTP answers are left in resps. */
static enum cc_code call_run_many(struct store *s, struct s3_call *calls, struct http_resp *resps,
				  size_t n, struct cc_err *err)
{
	struct s3 *s3 = s->priv;
	struct http_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	enum cc_code rc = CC_OK;

	if (!jobs)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < n && !rc; i++) {
		rc = call_prepare(&calls[i], err);
		jobs[i].req = &calls[i].req;
		jobs[i].resp = &resps[i];
	}
	if (!rc)
		http_run(s3->http, jobs, n, s->jobs);
	/* The signing quirk of call_run, learnt by a batch. */
	for (size_t i = 0, redo = 0; !rc && i < n; i++) {
		if (jobs[i].rc || resps[i].status != 403 || !query_has_slash(&calls[i]) ||
		    !xml_error_is(resps[i].err_body.data, resps[i].err_body.len,
				  "SignatureDoesNotMatch"))
			continue;
		if (!redo++)
			s3->query_keep_slash = !s3->query_keep_slash;
		if ((rc = call_prepare(&calls[i], err)))
			break;
		http_run(s3->http, &jobs[i], 1, 1);
		if (redo == 1 && !jobs[i].rc && resps[i].status == 403)
			s3->query_keep_slash = !s3->query_keep_slash;
	}
	for (size_t i = 0; i < n; i++) {
		if (!rc && jobs[i].rc) {
			rc = jobs[i].rc;
			*err = jobs[i].err;
			cc_err_prefix(err, "s3 bucket '%s'", s3->bucket);
		}
		call_release(&calls[i]);
	}
	free(jobs);
	return rc;
}

static bool query_has_slash(const struct s3_call *c)
{
	for (size_t i = 0; i < c->nq; i++)
		if (c->q[i].value && strchr(c->q[i].value, '/'))
			return true;
	return false;
}

/* Runs c.  A server that decodes %2F in the query before checking the
 * signature rejects a correct one; when a query with '/' meets
 * SignatureDoesNotMatch, the other form is tried once and, if it works,
 * kept for the life of the store. */
static enum cc_code call_run(struct s3_call *c, struct http_resp *resp, struct cc_err *err)
{
	enum cc_code rc = call_once(c, resp, err);

	if (!rc && resp->status == 403 && query_has_slash(c) &&
	    xml_error_is(resp->err_body.data, resp->err_body.len, "SignatureDoesNotMatch")) {
		c->s3->query_keep_slash = !c->s3->query_keep_slash;
		rc = call_once(c, resp, err);
		if (rc || resp->status == 403) {
			c->s3->query_keep_slash = !c->s3->query_keep_slash;
		} else {
			cc_debug("s3 bucket '%s': the server wants '/' unencoded in signed queries",
				 c->s3->bucket);
		}
	}
	return rc;
}

void s3_error_words(const char *body, size_t len, char *code, size_t ncode, char *msg,
		    size_t nmsg)
{
	xml_error_words(body, len, code, ncode, msg, nmsg);
}

/* Words a failed answer: "s3 bucket 'B': cannot WHAT 'NAME': Code: Message (HTTP n)". */
static enum cc_code s3_fail(struct s3 *s3, const char *what, const char *name,
			    const struct http_resp *r, struct cc_err *err)
{
	char code[128], msg[384];

	s3_error_words(r->err_body.data, r->err_body.len, code, sizeof(code), msg, sizeof(msg));
	if (!code[0]) {
		/* HEAD answers have no body: name the usual reasons. */
		snprintf(code, sizeof(code), "%s",
			 r->status == 403 ? "AccessDenied" : r->status == 404 ? "NotFound" :
			 r->status == 412 ? "PreconditionFailed" : r->status == 301 ||
			 r->status == 307 ? "PermanentRedirect (wrong region?)" : "error");
	}
	return cc_err_set(err, CC_ESTORE, 0, "s3 bucket '%s': cannot %s '%s': %s%s%s (HTTP %ld)",
			  s3->bucket, what, name, code, msg[0] ? ": " : "", msg, r->status);
}

/* HEAD answers carry no body.  After a failed HEAD, asks for an empty
 * listing to learn S3's reason (NoSuchBucket, SignatureDoesNotMatch,
 * InvalidAccessKeyId ...) into *r; r->status 200 means the listing worked. */
static enum cc_code probe_reason(struct s3 *s3, struct http_resp *r, struct cc_err *err)
{
	struct s3_call c;

	call_init(&c, s3, "GET", NULL);
	c.q[c.nq++] = (struct sigv4_pair){ "list-type", "2" };
	c.q[c.nq++] = (struct sigv4_pair){ "max-keys", "0" };
	return call_run(&c, r, err);
}

static enum cc_code s3_prepare_write(struct store *s, struct cc_err *err)
{
	struct s3 *s3 = s->priv;
	struct s3_call c;
	struct http_resp r;
	enum cc_code rc;

	http_resp_init(&r);
	call_init(&c, s3, "HEAD", NULL);
	if ((rc = call_run(&c, &r, err)) || r.status == 200)
		goto cleanup;
	if ((rc = probe_reason(s3, &r, err)))
		goto cleanup;
	if (r.status == 200)	/* listing allowed but HEAD not: go on */
		goto cleanup;
	rc = s3_fail(s3, "use bucket", s3->bucket, &r, err);
cleanup:
	http_resp_release(&r);
	return rc;
}

/* The base64 Content-MD5 of len bytes of fd from off (24 chars + NUL). */
static enum cc_code file_md5(int fd, uint64_t off, uint64_t len, char ret[32], struct cc_err *err)
{
	unsigned char md[16];

	if (cc_md5_range(fd, off, len, md))
		return errno == ENOMEM ? cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot hash the upload") :
		       cc_err_set(err, CC_ESTORE, errno == EIO ? 0 : errno,
				  "cannot read the file to upload");
	EVP_EncodeBlock((unsigned char *)ret, md, 16);
	return CC_OK;
}

/* S3's ETag of the size bytes of fd: the MD5 in hex for a single PUT,
 * or, uploaded in nparts parts of part bytes, the MD5 of the parts' MD5s
 * followed by "-nparts". */
static bool etag_of(int fd, uint64_t size, unsigned nparts, uint64_t part, char *ret, size_t n)
{
	EVP_MD_CTX *all = EVP_MD_CTX_new();
	unsigned char md[16];
	bool ok = all && EVP_DigestInit_ex(all, EVP_md5(), NULL);

	for (unsigned i = 0; ok && i < (nparts ? nparts : 1); i++) {
		uint64_t off = (uint64_t)i * part;
		uint64_t len = nparts ? (size - off < part ? size - off : part) : size;

		ok = off <= size && !cc_md5_range(fd, off, len, md);
		if (ok && nparts)
			ok = EVP_DigestUpdate(all, md, 16);
	}
	if (ok && nparts)
		ok = EVP_DigestFinal_ex(all, md, NULL);
	EVP_MD_CTX_free(all);
	if (!ok)
		return false;
	for (int i = 0; i < 16; i++)
		snprintf(ret + 2 * i, n - 2 * (size_t)i, "%02x", md[i]);
	if (nparts)
		snprintf(ret + 32, n - 32, "-%u", nparts);
	return true;
}

/* Whether the object at key has the ETag the size bytes of fd would get.
 * @return 1 yes, 0 no, -1 cannot tell (no answer, or parts of a size this
 * code does not upload). */
static int etag_matches(struct s3 *s3, const char *key, int fd, uint64_t size, uint64_t part)
{
	struct s3_call c;
	struct http_resp r;
	struct cc_err e;
	char want[48], got[sizeof(r.etag)];
	const char *dash;
	unsigned nparts = 0;
	int ret = -1;

	http_resp_init(&r);
	call_init(&c, s3, "HEAD", key);
	if (call_run(&c, &r, &e) || r.status != 200 || !r.etag[0])
		goto cleanup;
	memcpy(got, r.etag[0] == '"' ? r.etag + 1 : r.etag, sizeof(got) - 1);
	got[sizeof(got) - 1] = '\0';
	got[strcspn(got, "\"")] = '\0';
	if ((dash = strchr(got, '-')))
		nparts = (unsigned)strtoul(dash + 1, NULL, 10);
	if (dash && (!nparts || nparts != (size + part - 1) / part))
		goto cleanup;
	if (etag_of(fd, size, nparts, part, want, sizeof(want)))
		ret = !strcasecmp(want, got);
cleanup:
	http_resp_release(&r);
	return ret;
}

/* Whether a failed conditional write's answer says the condition did not
 * hold: 412, or for If-Match 404 NoSuchKey (the object is gone). */
static bool cond_failed(const struct http_resp *r, const char *if_match)
{
	char code[128], msg[16];

	if (r->status == 412)
		return true;
	if (!if_match || r->status != 404)
		return false;
	s3_error_words(r->err_body.data, r->err_body.len, code, sizeof(code), msg, sizeof(msg));
	return !strcmp(code, "NoSuchKey");
}

/* if_absent: If-None-Match: *; if_match (or NULL): If-Match.  Either
 * failing sets *ret_existed ("the condition did not hold"). */
static enum cc_code put_single(struct s3 *s3, const char *key, const char *name, int fd,
			       uint64_t size, uint64_t part, bool if_absent, const char *if_match,
			       bool *ret_existed, struct cc_err *err)
{
	struct s3_call c;
	struct http_resp r;
	char md5[32];
	enum cc_code rc;

	http_resp_init(&r);
	if ((rc = file_md5(fd, 0, size, md5, err)))
		goto cleanup;
	call_init(&c, s3, "PUT", key);
	c.hdr[c.nhdr++] = (struct sigv4_pair){ "content-md5", md5 };
	c.hdr[c.nhdr++] = (struct sigv4_pair){ "content-type", "application/octet-stream" };
	if (if_absent)
		c.hdr[c.nhdr++] = (struct sigv4_pair){ "if-none-match", "*" };
	if (if_match)
		c.hdr[c.nhdr++] = (struct sigv4_pair){ "if-match", if_match };
	c.req.body_fd = fd;
	c.req.body_len = size;
	if ((rc = call_run(&c, &r, err)))
		goto cleanup;
	if ((if_absent || if_match) && cond_failed(&r, if_match)) {
		/* After a retry the object that exists (or changed) may be
		 * this upload's own first attempt, whose answer was lost. */
		*ret_existed = !(r.tries > 1 && etag_matches(s3, key, fd, size, part) == 1);
	} else if (r.status != 200) {
		rc = s3_fail(s3, "upload", name, &r, err);
	}
cleanup:
	http_resp_release(&r);
	return rc;
}

static void abort_upload(struct s3 *s3, const char *key, const char *upload_id)
{
	struct s3_call c;
	struct http_resp r;
	struct cc_err e;

	http_resp_init(&r);
	call_init(&c, s3, "DELETE", key);
	c.q[c.nq++] = (struct sigv4_pair){ "uploadId", upload_id };
	c.req.ignore_cancel = true;	/* the cleanup of an interrupted save */
	if (call_run(&c, &r, &e) || (r.status != 204 && r.status != 200 && r.status != 404))
		cc_warn("s3 bucket '%s': cannot abort the multipart upload of '%s' (HTTP %ld)",
			s3->bucket, key, r.status);
	http_resp_release(&r);
}

/* Starts a multipart upload of key: its id into ret_id. */
static enum cc_code mp_start(struct s3 *s3, const char *key, const char *name, struct buf *ret_id,
			     struct cc_err *err)
{
	struct s3_call c;
	struct http_resp r;
	struct buf out = BUF_INIT;
	enum cc_code rc;

	buf_init(&out, SMALL_BODY_MAX);
	http_resp_init(&r);
	call_init(&c, s3, "POST", key);
	c.q[c.nq++] = (struct sigv4_pair){ "uploads", "" };
	c.hdr[c.nhdr++] = (struct sigv4_pair){ "content-type", "application/octet-stream" };
	c.req.out = &out;
	if ((rc = call_run(&c, &r, err)))
		goto cleanup;
	if (r.status != 200)
		rc = s3_fail(s3, "start uploading", name, &r, err);
	else if (!s3_upload_id(out.data, out.len, ret_id))
		rc = cc_err_set(err, CC_ESTORE, 0,
				"s3 bucket '%s': cannot upload '%s': no UploadId in the answer",
				s3->bucket, name);
cleanup:
	http_resp_release(&r);
	buf_release(&out);
	return rc;
}

/* Uploads the parts of fd (part bytes each, the last shorter), up to
 * st->jobs at a time, and writes the CompleteMultipartUpload body that
 * lists them into done. */
static enum cc_code mp_parts(struct store *st, const char *key, const char *name, int fd,
			     uint64_t size, uint64_t part, const char *upload_id, struct buf *done,
			     struct cc_err *err)
{
	struct s3 *s3 = st->priv;
	uint64_t nparts = (size + part - 1) / part;
	struct s3_call *parts = calloc(nparts, sizeof(*parts));
	struct http_resp *presp = calloc(nparts, sizeof(*presp));
	char (*nums)[24] = calloc(nparts, sizeof(*nums)), (*md5s)[32] = calloc(nparts, sizeof(*md5s));
	enum cc_code rc;

	if (!parts || !presp || !nums || !md5s) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (uint64_t i = 0; i < nparts; i++)
		http_resp_init(&presp[i]);
	for (uint64_t i = 0; i < nparts; i++) {
		uint64_t off = i * part, len = size - off < part ? size - off : part;

		snprintf(nums[i], sizeof(nums[i]), "%llu", (unsigned long long)(i + 1));
		if ((rc = file_md5(fd, off, len, md5s[i], err)))
			goto cleanup;
		call_init(&parts[i], s3, "PUT", key);
		parts[i].q[parts[i].nq++] = (struct sigv4_pair){ "partNumber", nums[i] };
		parts[i].q[parts[i].nq++] = (struct sigv4_pair){ "uploadId", upload_id };
		parts[i].hdr[parts[i].nhdr++] = (struct sigv4_pair){ "content-md5", md5s[i] };
		parts[i].req.body_fd = fd;
		parts[i].req.body_off = off;
		parts[i].req.body_len = len;
	}
	if ((rc = call_run_many(st, parts, presp, nparts, err)) ||
	    (rc = buf_addstr(done, "<CompleteMultipartUpload "
			     "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">", err)))
		goto cleanup;
	for (uint64_t i = 0; i < nparts; i++) {
		const char *etag = presp[i].etag;

		if (presp[i].status != 200) {
			rc = s3_fail(s3, "upload a part of", name, &presp[i], err);
			goto cleanup;
		}
		if (!etag[0] || strchr(etag, '<') || strchr(etag, '&')) {
			rc = cc_err_set(err, CC_ESTORE, 0,
					"s3 bucket '%s': cannot upload '%s': part %s has no usable ETag",
					s3->bucket, name, nums[i]);
			goto cleanup;
		}
		if ((rc = buf_addf(done, err, "<Part><PartNumber>%s</PartNumber><ETag>%s</ETag></Part>",
				   nums[i], etag)))
			goto cleanup;
	}
	cc_debug("s3: uploaded %llu parts of '%s'", (unsigned long long)nparts, name);
	rc = buf_addstr(done, "</CompleteMultipartUpload>", err);
cleanup:
	for (uint64_t i = 0; presp && i < nparts; i++)
		http_resp_release(&presp[i]);
	free(presp);
	free(parts);
	free(nums);
	free(md5s);
	return rc;
}

/* Completes the upload with the body done, under the preconditions
 * asked for: when one fails, *ret_existed is set and the result is CC_OK
 * (the caller must abort the upload). */
static enum cc_code mp_complete(struct s3 *s3, const char *key, const char *name,
				const char *upload_id, const struct buf *done, bool if_absent,
				const char *if_match, bool *ret_existed, struct cc_err *err)
{
	struct s3_call c;
	struct http_resp r;
	struct buf out = BUF_INIT;
	enum cc_code rc;

	buf_init(&out, SMALL_BODY_MAX);
	http_resp_init(&r);
	call_init(&c, s3, "POST", key);
	c.q[c.nq++] = (struct sigv4_pair){ "uploadId", upload_id };
	c.hdr[c.nhdr++] = (struct sigv4_pair){ "content-type", "application/xml" };
	if (if_absent)
		c.hdr[c.nhdr++] = (struct sigv4_pair){ "if-none-match", "*" };
	if (if_match)
		c.hdr[c.nhdr++] = (struct sigv4_pair){ "if-match", if_match };
	c.req.body = done->data;
	c.req.body_len = done->len;
	c.req.out = &out;
	if ((rc = call_run(&c, &r, err)))
		goto cleanup;
	if ((if_absent || if_match) && cond_failed(&r, if_match)) {
		*ret_existed = true;
		goto cleanup;
	}
	/* CompleteMultipartUpload may fail with 200 and an <Error> body. */
	if (r.status == 200 && xml_has(out.data, out.len, "Error")) {
		buf_reset(&r.err_body);
		buf_add(&r.err_body, out.data, out.len < r.err_body.max - 1 ? out.len :
			r.err_body.max - 1, NULL);
		r.status = 500;
	}
	if (r.status != 200)
		rc = s3_fail(s3, "complete the upload of", name, &r, err);
cleanup:
	http_resp_release(&r);
	buf_release(&out);
	return rc;
}

static enum cc_code put_multipart(struct store *st, const char *key, const char *name, int fd,
				  uint64_t size, uint64_t part, bool if_absent, const char *if_match,
				  bool *ret_existed, struct cc_err *err)
{
	struct s3 *s3 = st->priv;
	struct buf upload_id = BUF_INIT, done = BUF_INIT;
	enum cc_code rc;

	if ((size + part - 1) / part > MAX_PARTS)
		part = (size + MAX_PARTS - 1) / MAX_PARTS;
	if ((rc = mp_start(s3, key, name, &upload_id, err)))
		goto cleanup;
	if ((rc = mp_parts(st, key, name, fd, size, part, upload_id.data, &done, err)) ||
	    (rc = mp_complete(s3, key, name, upload_id.data, &done, if_absent, if_match,
			      ret_existed, err)) || *ret_existed)
		abort_upload(s3, key, upload_id.data);	/* the parts must go */
cleanup:
	buf_release(&upload_id);
	buf_release(&done);
	return rc;
}

static enum cc_code put_cond(struct store *s, const char *name, const char *src, unsigned flags,
			     const char *if_match, bool *ret_existed, struct cc_err *err)
{
	struct s3 *s3 = s->priv;
	struct buf key = BUF_INIT;
	uint64_t part = s->part_size ? s->part_size : PART_SIZE;
	bool existed = false;
	struct stat st;
	enum cc_code rc;
	int fd = -1;

	if (ret_existed)
		*ret_existed = false;
	if ((rc = object_key(s3, name, &key, err)))
		goto cleanup;
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot open '%s'", src);
		goto cleanup;
	}
	if ((uint64_t)st.st_size <= part)
		rc = put_single(s3, key.data, name, fd, (uint64_t)st.st_size, part,
				flags & STORE_PUT_IF_ABSENT, if_match, &existed, err);
	else
		rc = put_multipart(s, key.data, name, fd, (uint64_t)st.st_size, part,
				   flags & STORE_PUT_IF_ABSENT, if_match, &existed, err);
	if (rc)
		goto cleanup;
	if (ret_existed)
		*ret_existed = existed;
	/* Uploaded: the staged file has done its job. */
	if (flags & STORE_PUT_MOVE)
		unlink(src);
cleanup:
	if (fd >= 0)
		close(fd);
	buf_release(&key);
	return rc;
}

static enum cc_code s3_put(struct store *s, const char *name, const char *src, unsigned flags,
			   bool *ret_existed, struct cc_err *err)
{
	return put_cond(s, name, src, flags, NULL, ret_existed, err);
}

static enum cc_code s3_put_if_match(struct store *s, const char *name, const char *src,
				    const char *etag, bool *ret_mismatch, struct cc_err *err)
{
	enum cc_code rc;

	*ret_mismatch = false;
	if (!etag[0]) {
		*ret_mismatch = true;
		unlink(src);
		return CC_OK;
	}
	rc = put_cond(s, name, src, STORE_PUT_MOVE, etag, ret_mismatch, err);
	unlink(src);
	return rc;
}

/* Reads n spans (store_get_spans) in parallel, one GET each. */
static enum cc_code s3_get_spans(struct store *s, const struct store_span *sp, size_t n,
				 struct cc_err *err)
{
	struct s3 *s3 = s->priv;
	struct s3_call *calls = calloc(n ? n : 1, sizeof(*calls));
	struct http_resp *resps = calloc(n ? n : 1, sizeof(*resps));
	struct buf *keys = calloc(n ? n : 1, sizeof(*keys));
	size_t nk = 0;
	enum cc_code rc = CC_OK;

	if (!calls || !resps || !keys) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (; nk < n; nk++) {
		http_resp_init(&resps[nk]);
		buf_init(&keys[nk], 0);
		if ((rc = object_key(s3, sp[nk].name, &keys[nk], err))) {
			nk++;
			goto cleanup;
		}
		call_init(&calls[nk], s3, "GET", keys[nk].data);
		calls[nk].req.dst = sp[nk].dst;
		calls[nk].req.dst_len = sp[nk].len;
		calls[nk].req.cancel = sp[nk].cancel;
		calls[nk].req.range_off = sp[nk].off;
	}
	if ((rc = call_run_many(s, calls, resps, n, err)))
		goto cleanup;
	for (size_t k = 0; k < n && !rc; k++) {
		long st = resps[k].status;

		if (st == 404)
			rc = cc_err_set(err, CC_ECORRUPT, 0, "object '%s' is missing from the store",
					sp[k].name);
		else if (st == 416)
			rc = cc_err_set(err, CC_ECORRUPT, 0, "object '%s' is truncated", sp[k].name);
		else if (st != 206 && st != 200)
			rc = s3_fail(s3, "read", sp[k].name, &resps[k], err);
	}
cleanup:
	for (size_t k = 0; k < nk; k++) {
		http_resp_release(&resps[k]);
		buf_release(&keys[k]);
	}
	free(calls);
	free(resps);
	free(keys);
	return rc;
}

/* Adjacent ranges of one object (in the order given) share one GET of up
 * to COALESCE_MAX bytes. */
static enum cc_code s3_get_ranges(struct store *s, const struct store_range *rg, size_t n,
				  struct cc_err *err)
{
	return store_get_spans(s, rg, n, COALESCE_MAX, s3_get_spans, err);
}

static enum cc_code s3_get_range(struct store *s, const char *name, uint64_t off, size_t len,
				 void *dst, struct cc_err *err)
{
	struct store_range r = { name, off, len, dst, NULL };

	return s3_get_ranges(s, &r, 1, err);
}

static enum cc_code s3_get_file(struct store *s, const char *name, int fd, uint64_t max,
				bool *ret_found, struct cc_err *err)
{
	struct s3 *s3 = s->priv;
	struct buf key = BUF_INIT;
	struct s3_call c;
	struct http_resp r;
	enum cc_code rc;

	*ret_found = false;
	http_resp_init(&r);
	if ((rc = object_key(s3, name, &key, err)))
		goto cleanup;
	call_init(&c, s3, "GET", key.data);
	c.req.out_fd = fd;
	c.req.out_max = max;
	if ((rc = call_run(&c, &r, err)))
		goto cleanup;
	if (r.status == 200)
		*ret_found = true;
	else if (r.status != 404)
		rc = s3_fail(s3, "read", name, &r, err);
cleanup:
	http_resp_release(&r);
	buf_release(&key);
	return rc;
}

static enum cc_code s3_stat(struct store *s, const char *name, bool *ret_found,
			    struct store_object *ret, struct cc_err *err)
{
	struct s3 *s3 = s->priv;
	struct buf key = BUF_INIT;
	struct s3_call c;
	struct http_resp r;
	enum cc_code rc;

	*ret_found = false;
	http_resp_init(&r);
	if ((rc = object_key(s3, name, &key, err)))
		goto cleanup;
	call_init(&c, s3, "HEAD", key.data);
	if ((rc = call_run(&c, &r, err)))
		goto cleanup;
	if (r.status == 200) {
		*ret_found = true;
		if (ret) {
			ret->name = name;
			ret->size = r.has_length ? r.content_length : 0;
			ret->mtime_ns = r.last_modified >= 0 ? r.last_modified * 1000000000 : 0;
			ret->etag[0] = '\0';
			if (strlen(r.etag) < sizeof(ret->etag))
				strcpy(ret->etag, r.etag);
		}
	} else if (r.status != 404) {
		struct http_resp why;

		http_resp_init(&why);
		if (!r.err_body.len && !probe_reason(s3, &why, err) && why.status != 200)
			rc = s3_fail(s3, "stat", name, &why, err);
		else
			rc = s3_fail(s3, "stat", name, &r, err);
		http_resp_release(&why);
	}
cleanup:
	http_resp_release(&r);
	buf_release(&key);
	return rc;
}

/* One ListObjectsV2 page being read: the fields of a Contents record
 * (Key, Size, LastModified, ETag), then IsTruncated and
 * NextContinuationToken of the page. */
struct list_page {
	const char *prefix;
	size_t plen;
	store_list_fn fn;
	void *ctx;
	bool stopped;
	struct buf text[6];
	struct xml_field f[6];
};

/* At the end of each Contents: hands the object to fn if it is ours. */
static int list_object(void *ctx)
{
	struct list_page *lp = ctx;
	struct store_object o = { 0 };
	const struct buf *key = &lp->text[0], *etag = &lp->text[3];

	if (!lp->f[0].seen || key->len < lp->plen || memcmp(key->data, lp->prefix, lp->plen))
		return 0;	/* not ours */
	o.name = key->data + lp->plen;
	if (lp->f[1].seen)
		o.size = strtoull(lp->text[1].data, NULL, 10);
	if (lp->f[2].seen)
		o.mtime_ns = iso8601_ns(lp->text[2].data);
	/* Entity-decoded: the quotes kept, as HEAD gives them. */
	if (lp->f[3].seen && etag->len < sizeof(o.etag))
		memcpy(o.etag, etag->data, etag->len + 1);
	lp->stopped = lp->fn(lp->ctx, &o) != 0;
	return lp->stopped;
}

enum cc_code s3_list_page(const char *body, size_t len, const char *prefix, store_list_fn fn,
			  void *ctx, bool *ret_stopped, bool *ret_truncated, struct buf *ret_token,
			  struct cc_err *err)
{
	static const char *const names[6] = {
		"Key", "Size", "LastModified", "ETag", "IsTruncated", "NextContinuationToken",
	};
	struct list_page *lp = NULL;
	enum cc_code rc;

	*ret_stopped = *ret_truncated = false;
	buf_reset(ret_token);
	if (!(lp = calloc(1, sizeof(*lp)))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	lp->prefix = prefix;
	lp->plen = strlen(prefix);
	lp->fn = fn;
	lp->ctx = ctx;
	for (size_t i = 0; i < 6; i++) {
		buf_init(&lp->text[i], S3_TEXT_MAX);
		lp->f[i] = (struct xml_field){ .parent = i < 4 ? "Contents" : "ListBucketResult",
					       .name = names[i], .text = &lp->text[i] };
	}
	if ((rc = xml_each(body, len, "Contents", lp->f, 6, list_object, lp, err)))
		goto cleanup;
	*ret_stopped = lp->stopped;
	*ret_truncated = !lp->stopped && lp->f[4].seen && !strcmp(lp->text[4].data, "true");
	if (*ret_truncated && lp->f[5].seen)
		rc = buf_add(ret_token, lp->text[5].data, lp->text[5].len, err);
cleanup:
	for (size_t i = 0; lp && i < 6; i++)
		buf_release(&lp->text[i]);
	free(lp);
	return rc;
}

bool s3_upload_id(const char *body, size_t len, struct buf *ret)
{
	struct buf id;
	struct xml_field f = { .parent = "InitiateMultipartUploadResult", .name = "UploadId",
			       .text = &id };
	bool ok;

	buf_init(&id, S3_TEXT_MAX);
	buf_reset(ret);
	ok = !xml_get(body, len, &f, 1, NULL) && f.seen && id.len &&
	     !buf_add(ret, id.data, id.len, NULL);
	buf_release(&id);
	return ok;
}

static enum cc_code s3_list(struct store *s, const char *prefix, store_list_fn fn, void *ctx,
			    struct cc_err *err)
{
	struct s3 *s3 = s->priv;
	struct buf full = BUF_INIT, page = BUF_INIT, token = BUF_INIT;
	struct http_resp r;
	enum cc_code rc;

	buf_init(&page, LIST_PAGE_MAX);
	http_resp_init(&r);
	if ((rc = object_key(s3, prefix, &full, err)))
		goto cleanup;
	for (;;) {
		struct s3_call c;
		bool truncated, stopped;

		call_init(&c, s3, "GET", NULL);
		c.q[c.nq++] = (struct sigv4_pair){ "list-type", "2" };
		c.q[c.nq++] = (struct sigv4_pair){ "prefix", full.data };
		if (token.len)
			c.q[c.nq++] = (struct sigv4_pair){ "continuation-token", token.data };
		c.req.out = &page;
		if ((rc = call_run(&c, &r, err)))
			goto cleanup;
		if (r.status != 200) {
			rc = s3_fail(s3, "list", prefix, &r, err);
			goto cleanup;
		}
		if ((rc = s3_list_page(page.data, page.len, s3->prefix, fn, ctx, &stopped,
				       &truncated, &token, err)) || stopped) {
			if (rc == CC_ESTORE)
				cc_err_prefix(err, "s3 bucket '%s': cannot list '%s'", s3->bucket,
					      prefix);
			goto cleanup;
		}
		if (!truncated)
			break;
		if (!token.len) {
			rc = cc_err_set(err, CC_ESTORE, 0,
					"s3 bucket '%s': a truncated listing has no continuation token",
					s3->bucket);
			goto cleanup;
		}
	}
cleanup:
	http_resp_release(&r);
	buf_release(&full);
	buf_release(&page);
	buf_release(&token);
	return rc;
}

static enum cc_code s3_del(struct store *s, const char *name, struct cc_err *err)
{
	struct s3 *s3 = s->priv;
	struct buf key = BUF_INIT;
	struct s3_call c;
	struct http_resp r;
	enum cc_code rc;

	http_resp_init(&r);
	if ((rc = object_key(s3, name, &key, err)))
		goto cleanup;
	call_init(&c, s3, "DELETE", key.data);
	if ((rc = call_run(&c, &r, err)))
		goto cleanup;
	if (r.status != 204 && r.status != 200 && r.status != 404)
		rc = s3_fail(s3, "remove", name, &r, err);
cleanup:
	http_resp_release(&r);
	buf_release(&key);
	return rc;
}

/* S3 (and GCS) object keys are at most 1024 bytes of UTF-8; the store's
 * prefix is part of them. */
#define S3_KEY_MAX 1024

static size_t s3_name_max(struct store *s, bool *ret_utf16)
{
	struct s3 *s3 = s->priv;
	size_t p = strlen(s3->prefix);

	*ret_utf16 = false;
	return p < S3_KEY_MAX ? S3_KEY_MAX - p : 0;
}

const struct store_ops store_s3 = {
	.name = "s3",
	.caps = STORE_CAP_REMOTE,
	.open = s3_open,
	.close = s3_close,
	.prepare_write = s3_prepare_write,
	.put = s3_put,
	.get_range = s3_get_range,
	.get_ranges = s3_get_ranges,
	.get_file = s3_get_file,
	.stat = s3_stat,
	.list = s3_list,
	.del = s3_del,
	.put_if_match = s3_put_if_match,
	.name_max = s3_name_max,
	.name_max_why = "S3 object names are at most 1024 bytes, this store's prefix, "
			"'keys/' and the 18 bytes of an entry's identity included",
};
