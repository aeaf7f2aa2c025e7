/* aws-creds.c: the AWS credential chain (see aws-creds.h for the order).
 *
 * Every network source goes through the one HTTP layer (http.c) with its
 * own small pool.  Secrets live only in malloc'd strings that are wiped
 * before they are freed; messages name sources, files, URLs and S3/STS
 * error codes, never a key, token or answer body. */
#include "answer-json.h"
#include "aws-creds.h"
#include "buf.h"
#include "http.h"
#include "log.h"
#include "sigv4.h"
#include "url.h"
#include "xml.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>

#define ANSWER_MAX (64u << 10)		/* bound on any credentials answer */
#define TOKEN_FILE_MAX (64u << 10)	/* bound on a token file */
#define REFRESH_RETRY_S 30		/* after a failed refresh, while still valid */
#define STS_TRIES 5
#define CONTAINER_TRIES 3
#define CONTAINER_HOST "169.254.170.2"
#define IMDS_V4 "http://169.254.169.254"
#define IMDS_V6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL_S 21600
#define IMDS_ROLE_PATH "/latest/meta-data/iam/security-credentials/"

enum source { SRC_STATIC, SRC_WEB_IDENTITY, SRC_CONTAINER, SRC_IMDS };

struct aws_creds {
	pthread_mutex_t mu;
	enum source kind;
	char *source;			/* for messages */
	struct aws_key key;
	int64_t next_refresh;
	struct http *http;
	/* web identity */
	char *role_arn, *token_file, *session_name, *sts_url;
	/* container */
	char *container_url;
	/* instance metadata */
	char *imds_url;
	char *imds_token;
	int64_t imds_token_expires;
	int imds_timeout_s;
};

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void secret_free(char *p)
{
	if (p) {
		OPENSSL_cleanse(p, strlen(p));
		free(p);
	}
}

static void buf_wipe(struct buf *b)
{
	if (b->alloc)
		OPENSSL_cleanse(b->data, b->alloc);
	buf_release(b);
}

void aws_key_release(struct aws_key *k)
{
	free(k->access_key);
	secret_free(k->secret_key);
	secret_free(k->session_token);
	memset(k, 0, sizeof(*k));
}

static enum cc_code key_copy(struct aws_key *dst, const struct aws_key *src, struct cc_err *err)
{
	memset(dst, 0, sizeof(*dst));
	dst->expires = src->expires;
	if (!(dst->access_key = strdup(src->access_key)) ||
	    !(dst->secret_key = strdup(src->secret_key)) ||
	    (src->session_token && !(dst->session_token = strdup(src->session_token)))) {
		aws_key_release(dst);
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	return CC_OK;
}

static void fmt_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "%lld", (long long)t);
}

int64_t aws_time_parse(const char *s)
{
	struct tm tm;
	const char *p;
	int64_t t;

	memset(&tm, 0, sizeof(tm));
	if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	t = (int64_t)timegm(&tm);
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5])) {
		int off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
			  ((p[4] - '0') * 10 + (p[5] - '0')) * 60;

		t += *p == '+' ? -off : off;
		p += 6;
	} else {
		return -1;
	}
	return *p ? -1 : t;
}

/* ---- JSON, through jansson (answer-json.h). */

#define ANSWER_DEPTH 64		/* levels of objects and arrays in an answer */

/* Reads the string members named in want[] of the JSON object in
 * [p, p + len) into vals[] (reset first; members of another type, and
 * those not wanted, are skipped).  @return false with why set when the
 * text is not one JSON object (answer_json_load's rules) or a value does
 * not fit its buffer. */
static bool json_members(const char *p, size_t len, const char *const *want, struct buf *vals,
			 size_t n, char *why, size_t nwhy)
{
	json_t *root = NULL;
	bool ok = false;

	if (!(root = answer_json_load(p, len, ANSWER_MAX, ANSWER_DEPTH, why, nwhy)))
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(root, want[i]);

		buf_reset(&vals[i]);
		if (json_is_string(v) && !answer_json_member(root, want[i], &vals[i])) {
			snprintf(why, nwhy, "its %s is too long", want[i]);
			goto cleanup;
		}
	}
	ok = true;
cleanup:
	json_decref(root);
	return ok;
}

/* json_members without the reason (aws_error_words words what it finds). */
static bool json_strings(const char *p, const char *end, const char *const *want,
			 struct buf *vals, size_t n)
{
	char why[80];

	return json_members(p, (size_t)(end - p), want, vals, n, why, sizeof(why));
}

/* A value from an answer is fit for a message when short and printable. */
static void safe_copy(char *dst, size_t n, const char *s, size_t len)
{
	size_t k = len < n - 1 ? len : n - 1;

	for (size_t i = 0; i < k; i++)
		dst[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	dst[k] = '\0';
}

/* Whether a decoded value holds a NUL (which would cut it short) or
 * another control character (the token becomes a header line). */
static bool has_control(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] < 0x20 || b->data[i] == 0x7f)
			return true;
	return false;
}

/* Moves the three strings into ret, checking them. */
static enum cc_code key_take(struct aws_key *ret, struct buf *ak, struct buf *sk,
			     struct buf *tok, const char *expiration, struct cc_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (!ak->len || !sk->len)
		return cc_err_set(err, CC_ESTORE, 0, "the answer has no %s",
				  !ak->len ? "access key id" : "secret access key");
	if (has_control(ak) || has_control(sk) || has_control(tok))
		return cc_err_set(err, CC_ESTORE, 0, "the answer has a control character in its %s",
				  has_control(ak) ? "access key id" : has_control(sk) ?
				  "secret access key" : "session token");
	for (const char *p = ak->data; *p; p++)
		if (!isalnum((unsigned char)*p))
			return cc_err_set(err, CC_ESTORE, 0, "the answer has a malformed access key id");
	if (expiration && *expiration && (ret->expires = aws_time_parse(expiration)) < 0) {
		ret->expires = 0;
		return cc_err_set(err, CC_ESTORE, 0, "the answer has a malformed expiration time");
	}
	ret->access_key = buf_detach(ak, NULL);
	ret->secret_key = buf_detach(sk, NULL);
	if (tok->len)
		ret->session_token = buf_detach(tok, NULL);
	return CC_OK;
}

enum cc_code aws_key_from_json(const char *json, size_t len, struct aws_key *ret,
			       struct cc_err *err)
{
	static const char *const want[] = {
		"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "Code",
	};
	struct buf v[5];
	char why[80];
	enum cc_code rc;

	for (size_t i = 0; i < 5; i++)
		buf_init(&v[i], ANSWER_MAX);
	memset(ret, 0, sizeof(*ret));
	if (!json_members(json, len, want, v, 5, why, sizeof(why))) {
		rc = cc_err_set(err, CC_ESTORE, 0, "the answer is not a JSON object: %s", why);
		goto cleanup;
	}
	if (v[4].len && strcmp(v[4].data, "Success")) {
		char code[64];

		safe_copy(code, sizeof(code), v[4].data, v[4].len);
		rc = cc_err_set(err, CC_ESTORE, 0, "the answer says Code '%s'", code);
		goto cleanup;
	}
	rc = key_take(ret, &v[0], &v[1], &v[2], v[3].data, err);
cleanup:
	for (size_t i = 0; i < 5; i++)
		buf_wipe(&v[i]);
	return rc;
}

/* ---- XML: STS answers (xml.h). */

enum cc_code aws_key_from_sts_xml(const char *xml, size_t len, struct aws_key *ret,
				  struct cc_err *err)
{
	static const char *const tags[] = {
		"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration",
	};
	struct buf v[4];
	struct xml_field f[5] = { { .name = "Credentials" } };
	enum cc_code rc;

	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < 4; i++) {
		buf_init(&v[i], ANSWER_MAX);
		f[i + 1] = (struct xml_field){ .parent = "Credentials", .name = tags[i], .text = &v[i] };
	}
	if ((rc = xml_get(xml, len, f, 5, err)))
		goto cleanup;
	if (!f[0].seen) {
		rc = cc_err_set(err, CC_ESTORE, 0, "the answer has no Credentials");
		goto cleanup;
	}
	if (!v[2].len || !v[3].len) {
		rc = cc_err_set(err, CC_ESTORE, 0, "the answer has no %s",
				!v[2].len ? "SessionToken" : "Expiration");
		goto cleanup;
	}
	rc = key_take(ret, &v[0], &v[1], &v[2], v[3].data, err);
cleanup:
	for (size_t i = 0; i < 4; i++)
		buf_wipe(&v[i]);
	return rc;
}

void aws_error_words(const struct buf *body, char *out, size_t n)
{
	const char *b = body->data, *e = b + body->len;
	char code[96] = "", msg[256] = "";

	xml_error_words(b, body->len, code, sizeof(code), msg, sizeof(msg));
	if (!code[0]) {
		static const char *const want[] = { "code", "Code", "message", "Message" };
		struct buf v[4];

		for (size_t i = 0; i < 4; i++)
			buf_init(&v[i], 1024);
		if (json_strings(b, e, want, v, 4)) {
			const struct buf *c = v[1].len ? &v[1] : &v[0], *m = v[3].len ? &v[3] : &v[2];

			safe_copy(code, sizeof(code), c->data, c->len);
			safe_copy(msg, sizeof(msg), m->data, m->len);
		}
		for (size_t i = 0; i < 4; i++)
			buf_release(&v[i]);
	}
	snprintf(out, n, "%s%s%s", code, code[0] && msg[0] ? ": " : "", msg);
}

/* ---- HTTP. */

struct hdrs {
	const char *name[3];
	const char *value[3];
	size_t n;
};

static enum cc_code add_headers(void *ctx, struct http_headers *hh, struct cc_err *err)
{
	const struct hdrs *h = ctx;
	enum cc_code rc = CC_OK;

	for (size_t i = 0; i < h->n && !rc; i++)
		rc = http_header_add(hh, h->name[i], h->value[i], err);
	return rc;
}

/* STS says so when it could not reach the identity provider in time. */
static bool sts_retryable(long status, const struct buf *body)
{
	return status == 400 && xml_error_is(body->data, body->len, "IDPCommunicationError");
}

/* AWS_METADATA_SERVICE_TIMEOUT, in seconds. */
static int metadata_timeout_s(int dflt)
{
	const char *t = env("AWS_METADATA_SERVICE_TIMEOUT");

	return t && atoi(t) > 0 ? atoi(t) : dflt;
}

/* One request whose answer goes to out (bounded).  @return CC_OK with the
 * status in *ret_status and a non-2xx body worded into why[]. */
static enum cc_code request(struct aws_creds *c, const char *method, const char *url,
			    const struct hdrs *h, const char *body, struct buf *out,
			    long *ret_status, char *why, size_t nwhy, struct cc_err *err)
{
	struct http_req q;
	struct http_resp r;
	enum cc_code rc;

	http_req_init(&q);
	http_resp_init(&r);
	q.method = method;
	q.url = url;
	q.sign = add_headers;
	q.sign_ctx = (void *)h;
	q.body = body ? body : "";
	q.body_len = body ? strlen(body) : 0;
	q.out = out;
	if (c->kind == SRC_WEB_IDENTITY)
		q.retryable = sts_retryable;
	/* Local credential services answer at once or not at all. */
	if (c->kind == SRC_IMDS)
		q.timeout_ms = (long)c->imds_timeout_s * 1000;
	else if (c->kind == SRC_CONTAINER)
		q.timeout_ms = (long)(metadata_timeout_s(1) > 2 ? metadata_timeout_s(1) : 2) * 1000;
	rc = http_do(c->http, &q, &r, err);
	*ret_status = r.status;
	why[0] = '\0';
	if (!rc && (r.status < 200 || r.status > 299)) {
		char words[400];

		aws_error_words(&r.err_body, words, sizeof(words));
		snprintf(why, nwhy, "%s%sHTTP %ld", words, words[0] ? " (" : "", r.status);
		if (words[0])
			snprintf(why + strlen(why), nwhy - strlen(why), ")");
	}
	http_resp_release(&r);
	return rc;
}

/* Reads a token file: whole, bounded, trailing whitespace dropped. */
static enum cc_code read_token_file(const char *path, const char *what, struct buf *out,
				    struct cc_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char tmp[4096];
	enum cc_code rc = CC_OK;
	ssize_t k;

	buf_init(out, TOKEN_FILE_MAX);
	if (fd < 0)
		return cc_err_set(err, CC_ESTORE, errno, "cannot read the %s '%s'", what, path);
	while ((k = read(fd, tmp, sizeof(tmp))) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = cc_err_set(err, CC_ESTORE, errno, "cannot read the %s '%s'", what, path);
			break;
		}
		if (buf_add(out, tmp, (size_t)k, NULL)) {
			rc = cc_err_set(err, CC_ESTORE, 0, "the %s '%s' is larger than %u bytes",
					what, path, TOKEN_FILE_MAX);
			break;
		}
	}
	OPENSSL_cleanse(tmp, sizeof(tmp));
	close(fd);
	while (!rc && out->len && isspace((unsigned char)out->data[out->len - 1]))
		buf_setlen(out, out->len - 1);
	if (!rc && !out->len)
		rc = cc_err_set(err, CC_ESTORE, 0, "the %s '%s' is empty", what, path);
	if (!rc && (strchr(out->data, '\n') || strchr(out->data, '\r') ||
		    strlen(out->data) != out->len))
		rc = cc_err_set(err, CC_ESTORE, 0, "the %s '%s' holds more than one line", what,
				path);
	if (rc)
		buf_wipe(out);
	return rc;
}

/* ---- The sources that fetch. */

static enum cc_code fetch_web_identity(struct aws_creds *c, struct aws_key *ret,
				       struct cc_err *err)
{
	struct buf token = BUF_INIT, form = BUF_INIT, out = BUF_INIT;
	struct hdrs h = { { "Content-Type", "Accept" },
			  { "application/x-www-form-urlencoded; charset=utf-8", "text/xml" }, 2 };
	char why[512], shown[512];
	long status;
	enum cc_code rc;

	buf_init(&out, ANSWER_MAX);
	if ((rc = read_token_file(c->token_file, "web identity token file", &token, err)))
		goto cleanup;
	/* POST, so the token is in the body and never in a URL that may be logged. */
	if ((rc = buf_addstr(&form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=",
			     err)) ||
	    (rc = sigv4_uri_encode(&form, c->role_arn, strlen(c->role_arn), false, err)) ||
	    (rc = buf_addstr(&form, "&RoleSessionName=", err)) ||
	    (rc = sigv4_uri_encode(&form, c->session_name, strlen(c->session_name), false, err)) ||
	    (rc = buf_addstr(&form, "&WebIdentityToken=", err)) ||
	    (rc = sigv4_uri_encode(&form, token.data, token.len, false, err)))
		goto cleanup;
	if ((rc = request(c, "POST", c->sts_url, &h, form.data, &out, &status, why, sizeof(why),
			  err))) {
		cc_err_prefix(err, "STS AssumeRoleWithWebIdentity");
		goto cleanup;
	}
	if (status != 200) {
		rc = cc_err_set(err, CC_ESTORE, 0, "STS AssumeRoleWithWebIdentity at '%s' for role '%s': %s",
				url_redact(shown, sizeof(shown), c->sts_url), c->role_arn, why);
		goto cleanup;
	}
	if ((rc = aws_key_from_sts_xml(out.data, out.len, ret, err)))
		cc_err_prefix(err, "STS AssumeRoleWithWebIdentity at '%s'",
			      url_redact(shown, sizeof(shown), c->sts_url));
cleanup:
	buf_wipe(&token);
	buf_wipe(&form);
	buf_wipe(&out);
	return rc;
}

static enum cc_code fetch_container(struct aws_creds *c, struct aws_key *ret,
				    struct cc_err *err)
{
	struct buf auth = BUF_INIT, out = BUF_INIT;
	struct hdrs h = { { "Accept" }, { "application/json" }, 1 };
	const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tok = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char why[512], shown[512];
	long status;
	enum cc_code rc = CC_OK;

	buf_init(&out, ANSWER_MAX);
	/* The file is read again each time: the agent may rotate it. */
	if (file) {
		if ((rc = read_token_file(file, "container authorization token file", &auth, err)))
			goto cleanup;
	} else if (tok) {
		if (strchr(tok, '\n') || strchr(tok, '\r')) {
			rc = cc_err_set(err, CC_ESTORE, 0,
					"AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break");
			goto cleanup;
		}
		if ((rc = buf_addstr(&auth, tok, err)))
			goto cleanup;
	}
	if (auth.len) {
		h.name[h.n] = "Authorization";
		h.value[h.n++] = auth.data;
	}
	if ((rc = request(c, "GET", c->container_url, &h, NULL, &out, &status, why, sizeof(why),
			  err)))
		goto cleanup;
	if (status != 200) {
		rc = cc_err_set(err, CC_ESTORE, 0, "'%s' answers %s",
				url_redact(shown, sizeof(shown), c->container_url), why);
		goto cleanup;
	}
	if ((rc = aws_key_from_json(out.data, out.len, ret, err)))
		cc_err_prefix(err, "'%s'", url_redact(shown, sizeof(shown), c->container_url));
cleanup:
	buf_wipe(&auth);
	buf_wipe(&out);
	return rc;
}

/* Connects to the host of url within timeout_s: the HTTP layer's connect
 * timeout is made for S3, and where no instance metadata service exists
 * its address is often a black hole. */
static enum cc_code tcp_reachable(const char *url, int timeout_s, struct cc_err *err)
{
	const char *h = strstr(url, "://"), *end, *colon = NULL;
	char host[256], port[16] = "80", shown[512];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int fd = -1, gai, e = ETIMEDOUT;

	if (!h)
		return cc_err_set(err, CC_ESTORE, 0, "bad URL '%s'", url_redact(shown, sizeof(shown), url));
	h += 3;
	if (!strncasecmp(url, "https", 5))
		snprintf(port, sizeof(port), "443");
	end = h + strcspn(h, "/?#");
	for (const char *at = h; (at = memchr(at, '@', (size_t)(end - at))); h = ++at)
		;	/* past the userinfo */
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (!rb)
			return cc_err_set(err, CC_ESTORE, 0, "bad URL '%s'",
					  url_redact(shown, sizeof(shown), url));
		snprintf(host, sizeof(host), "%.*s", (int)(rb - h - 1), h + 1);
		if (rb[1] == ':')
			colon = rb + 1;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		snprintf(host, sizeof(host), "%.*s", (int)((colon ? colon : end) - h), h);
	}
	if (colon)
		snprintf(port, sizeof(port), "%.*s", (int)(end - colon - 1), colon + 1);
	if ((gai = getaddrinfo(host, port, &hints, &ai)))
		return cc_err_set(err, CC_ESTORE, 0, "cannot resolve '%s': %s", host,
				  gai_strerror(gai));
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		struct pollfd pfd;
		socklen_t len = sizeof(e);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (!connect(fd, a->ai_addr, a->ai_addrlen)) {
			e = 0;
			break;
		}
		e = errno;
		if (e == EINPROGRESS) {
			pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, timeout_s * 1000) == 1 &&
			    !getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) && !e)
				break;
			if (!e || e == EINPROGRESS)
				e = ETIMEDOUT;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0) {
		close(fd);
		return CC_OK;
	}
	if (e == ETIMEDOUT)
		return cc_err_set(err, CC_ESTORE, 0, "no connection within %d s", timeout_s);
	return cc_err_set(err, CC_ESTORE, e, "cannot connect");
}

static enum cc_code imds_token(struct aws_creds *c, struct cc_err *err)
{
	struct buf url = BUF_INIT, out = BUF_INIT;
	char ttl[16], why[512];
	struct hdrs h = { { "X-aws-ec2-metadata-token-ttl-seconds" }, { ttl }, 1 };
	int64_t now = (int64_t)time(NULL);
	long status;
	enum cc_code rc;

	if (c->imds_token && now < c->imds_token_expires)
		return CC_OK;
	secret_free(c->imds_token);
	c->imds_token = NULL;
	snprintf(ttl, sizeof(ttl), "%d", IMDS_TOKEN_TTL_S);
	buf_init(&out, 4096);
	if ((rc = buf_addf(&url, err, "%s/latest/api/token", c->imds_url)) ||
	    (rc = request(c, "PUT", url.data, &h, NULL, &out, &status, why, sizeof(why), err)))
		goto cleanup;
	if (status != 200 || !out.len || strchr(out.data, '\n') || strchr(out.data, '\r') ||
	    strlen(out.data) != out.len) {
		rc = cc_err_set(err, CC_ESTORE, 0, "no IMDSv2 session token: %s%s",
				status == 200 ? "unusable answer" : why,
				status == 403 ? " (is the instance metadata service turned off?)" : "");
		goto cleanup;
	}
	c->imds_token = buf_detach(&out, NULL);
	c->imds_token_expires = now + IMDS_TOKEN_TTL_S - 60;
cleanup:
	buf_release(&url);
	buf_wipe(&out);
	return rc;
}

static enum cc_code imds_get(struct aws_creds *c, const char *path, struct buf *out,
			     long *ret_status, char *why, size_t nwhy, struct cc_err *err)
{
	struct buf url = BUF_INIT;
	enum cc_code rc;

	for (int attempt = 0;; attempt++) {
		struct hdrs h = { { "X-aws-ec2-metadata-token" }, { NULL }, 1 };

		if ((rc = imds_token(c, err)))
			break;
		h.value[0] = c->imds_token;
		buf_reset(&url);
		if ((rc = buf_addf(&url, err, "%s%s", c->imds_url, path)) ||
		    (rc = request(c, "GET", url.data, &h, NULL, out, ret_status, why, nwhy, err)))
			break;
		if (*ret_status != 401 || attempt)
			break;
		/* The session token expired early (or the service restarted). */
		c->imds_token_expires = 0;
	}
	buf_release(&url);
	return rc;
}

static enum cc_code fetch_imds(struct aws_creds *c, struct aws_key *ret, struct cc_err *err)
{
	struct buf out = BUF_INIT, path = BUF_INIT;
	char why[512];
	long status;
	size_t n;
	enum cc_code rc;

	buf_init(&out, ANSWER_MAX);
	if ((rc = imds_get(c, IMDS_ROLE_PATH, &out, &status, why, sizeof(why), err)))
		goto cleanup;
	if (status == 404) {
		rc = cc_err_set(err, CC_ESTORE, 0, "no IAM role is attached to the instance");
		goto cleanup;
	}
	if (status != 200) {
		rc = cc_err_set(err, CC_ESTORE, 0, "cannot list the instance's IAM role: %s", why);
		goto cleanup;
	}
	n = strcspn(out.data, "\r\n");
	if (!n || memchr(out.data, '/', n) || memchr(out.data, '?', n) ||
	    memchr(out.data, '#', n) || memchr(out.data, '%', n)) {
		rc = cc_err_set(err, CC_ESTORE, 0, "the instance's IAM role has an unusable name");
		goto cleanup;
	}
	if ((rc = buf_addstr(&path, IMDS_ROLE_PATH, err)) ||
	    (rc = buf_add(&path, out.data, n, err)))
		goto cleanup;
	if ((rc = imds_get(c, path.data, &out, &status, why, sizeof(why), err)))
		goto cleanup;
	if (status != 200) {
		rc = cc_err_set(err, CC_ESTORE, 0, "cannot read the credentials of role '%s': %s",
				path.data + strlen(IMDS_ROLE_PATH), why);
		goto cleanup;
	}
	if ((rc = aws_key_from_json(out.data, out.len, ret, err)))
		cc_err_prefix(err, "the credentials of role '%s'", path.data + strlen(IMDS_ROLE_PATH));
cleanup:
	buf_wipe(&out);
	buf_release(&path);
	return rc;
}

static enum cc_code fetch(struct aws_creds *c, struct aws_key *ret, struct cc_err *err)
{
	enum cc_code rc;

	switch (c->kind) {
	case SRC_WEB_IDENTITY:
		rc = fetch_web_identity(c, ret, err);
		break;
	case SRC_CONTAINER:
		rc = fetch_container(c, ret, err);
		break;
	case SRC_IMDS:
		rc = fetch_imds(c, ret, err);
		break;
	default:
		return CC_OK;
	}
	if (!rc && ret->expires && ret->expires <= (int64_t)time(NULL)) {
		char when[32];

		fmt_time(ret->expires, when);
		aws_key_release(ret);
		rc = cc_err_set(err, CC_ESTORE, 0,
				"the credentials handed out expired at %s (is the clock right?)", when);
	}
	return rc;
}

/* When to fetch again: REFRESH_WINDOW_S before expiry, or, for
 * credentials handed out with less time than that, half way there. */
static void schedule(struct aws_creds *c)
{
	int64_t now = (int64_t)time(NULL), left = c->key.expires - now;

	if (!c->key.expires)
		c->next_refresh = INT64_MAX;
	else if (left > AWS_CREDS_REFRESH_WINDOW_S)
		c->next_refresh = c->key.expires - AWS_CREDS_REFRESH_WINDOW_S;
	else
		c->next_refresh = now + (left > 2 ? left / 2 : 1);
}

/* ---- The chain. */

/* Reads keys from one INI section of an AWS shared file.  want[i] names a
 * key, ret[i] receives a malloc'd value (left alone when absent);
 * *ret_found tells whether the section exists. */
static enum cc_code ini_read(const char *path, const char *section, const char *const *want,
			     char **ret, size_t n, bool *ret_found, struct cc_err *err)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	bool in = false;

	if (!f)
		return CC_OK;	/* a missing file is no error: the next source is tried */
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *eq, *end;

		while (isspace((unsigned char)*p))
			p++;
		end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*p || *p == '#' || *p == ';')
			continue;
		if (*p == '[') {
			char *close = strchr(p, ']');

			if (close) {
				*close = '\0';
				p++;
				while (isspace((unsigned char)*p))
					p++;
				for (char *e = close; e > p && isspace((unsigned char)e[-1]);)
					*--e = '\0';
				in = !strcmp(p, section);
				if (in)
					*ret_found = true;
			}
			continue;
		}
		if (!in || !(eq = strchr(p, '=')))
			continue;
		for (char *e = eq; e > p && isspace((unsigned char)e[-1]);)
			*--e = '\0';
		*eq++ = '\0';
		while (isspace((unsigned char)*eq))
			eq++;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(p, want[i]))
				continue;
			secret_free(ret[i]);
			if (!(ret[i] = strdup(eq))) {
				OPENSSL_cleanse(line, sizeof(line));
				fclose(f);
				return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
			}
		}
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return CC_OK;
}

static enum cc_code set_static(struct aws_creds *c, const char *ak, const char *sk,
			       const char *tok, struct cc_err *err)
{
	struct aws_key k = { (char *)ak, (char *)sk, (char *)(tok && *tok ? tok : NULL), 0 };

	c->kind = SRC_STATIC;
	return key_copy(&c->key, &k, err);
}

static enum cc_code set_source(struct aws_creds *c, struct cc_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum cc_code set_source(struct aws_creds *c, struct cc_err *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	free(c->source);
	va_start(ap, fmt);
	n = vasprintf(&c->source, fmt, ap);
	va_end(ap);
	if (n < 0) {
		c->source = NULL;
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	url_redact_text(c->source);	/* it is for messages */
	return CC_OK;
}

static enum cc_code new_http(struct aws_creds *c, int tries, struct cc_err *err)
{
	return c->http ? CC_OK : http_new(&c->http, tries, err);
}

/* The regional STS endpoint, or the one the environment names. */
static enum cc_code sts_endpoint(struct aws_creds *c, const char *cfg_region, struct cc_err *err)
{
	const char *url = env("AWS_ENDPOINT_URL_STS");
	const char *region = env("AWS_REGION");
	char shown[512];

	if (!url)
		url = env("AWS_ENDPOINT_URL");
	if (!region)
		region = env("AWS_DEFAULT_REGION");
	if (!region)
		region = cfg_region;
	if (url) {
		size_t n = strlen(url);

		while (n && url[n - 1] == '/')
			n--;
		c->sts_url = strndup(url, n);
	} else if (!region || !strcmp(region, "aws-global")) {
		c->sts_url = strdup("https://sts.amazonaws.com");
	} else {
		for (const char *p = region; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '-')
				return cc_err_set(err, CC_ESTORE, 0, "bad AWS region '%s'", region);
		if (asprintf(&c->sts_url, "https://sts.%s.amazonaws.com%s", region,
			     !strncmp(region, "cn-", 3) ? ".cn" : "") < 0)
			c->sts_url = NULL;
	}
	if (!c->sts_url)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if (strncasecmp(c->sts_url, "http://", 7) && strncasecmp(c->sts_url, "https://", 8))
		return cc_err_set(err, CC_ESTORE, 0, "STS endpoint '%s' must start with http:// or https://",
				  url_redact(shown, sizeof(shown), c->sts_url));
	return CC_OK;
}

static enum cc_code set_web_identity(struct aws_creds *c, const char *role_arn,
				     const char *token_file, const char *session_name,
				     const char *cfg_region, struct cc_err *err)
{
	c->kind = SRC_WEB_IDENTITY;
	if (!session_name) {
		char name[64];

		snprintf(name, sizeof(name), "cicache-%lld", (long long)time(NULL));
		c->session_name = strdup(name);
	} else {
		c->session_name = strdup(session_name);
	}
	if (!(c->role_arn = strdup(role_arn)) || !(c->token_file = strdup(token_file)) ||
	    !c->session_name)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	return sts_endpoint(c, cfg_region, err) ?: new_http(c, STS_TRIES, err);
}

/* Host of a FULL_URI over plain http must be local: the answer is a key. */
static bool container_host_ok(const char *url)
{
	static const char *const hosts[] = {
		"localhost", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]", "[::1]",
	};
	const char *h = strstr(url, "://"), *end;
	size_t n;

	if (!strncasecmp(url, "https://", 8))
		return true;
	if (strncasecmp(url, "http://", 7) || !h)
		return false;
	h += 3;
	end = h + strcspn(h, "/?#");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		n = rb ? (size_t)(rb + 1 - h) : 0;
	} else {
		n = strcspn(h, ":/?#");
	}
	if (n >= 4 && !strncmp(h, "127.", 4)) {
		for (size_t i = 4; i < n; i++)
			if (!isdigit((unsigned char)h[i]) && h[i] != '.')
				return false;
		return true;
	}
	for (size_t i = 0; i < sizeof(hosts) / sizeof(*hosts); i++)
		if (strlen(hosts[i]) == n && !strncasecmp(h, hosts[i], n))
			return true;
	return false;
}

static enum cc_code set_container(struct aws_creds *c, struct cc_err *err)
{
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	char shown[512];

	c->kind = SRC_CONTAINER;
	if (rel) {
		if (*rel != '/')
			return cc_err_set(err, CC_ESTORE, 0,
					  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
		if (asprintf(&c->container_url, "http://" CONTAINER_HOST "%s", rel) < 0)
			c->container_url = NULL;
	} else {
		if (!container_host_ok(full))
			return cc_err_set(err, CC_ESTORE, 0,
					  "AWS_CONTAINER_CREDENTIALS_FULL_URI '%s' must be https:// or "
					  "name a loopback or ECS/EKS agent address",
					  url_redact(shown, sizeof(shown), full));
		c->container_url = strdup(full);
	}
	if (!c->container_url)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	return new_http(c, CONTAINER_TRIES, err);
}

static enum cc_code set_imds(struct aws_creds *c, struct cc_err *err)
{
	const char *url = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	const char *a = env("AWS_METADATA_SERVICE_NUM_ATTEMPTS");
	char shown[512];
	size_t n;

	c->kind = SRC_IMDS;
	c->imds_timeout_s = metadata_timeout_s(1);
	if (!url)
		url = mode && !strcasecmp(mode, "IPv6") ? IMDS_V6 : IMDS_V4;
	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
		return cc_err_set(err, CC_ESTORE, 0,
				  "AWS_EC2_METADATA_SERVICE_ENDPOINT '%s' must start with http:// or https://",
				  url_redact(shown, sizeof(shown), url));
	n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	if (!(c->imds_url = strndup(url, n)))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	return new_http(c, a && atoi(a) > 0 ? atoi(a) : 1, err);
}

static bool env_true(const char *name)
{
	const char *v = env(name);

	return v && !strcasecmp(v, "true");
}

static void log_found(struct aws_creds *c, const char *bucket)
{
	schedule(c);
	if (c->key.expires) {
		char when[32];

		fmt_time(c->key.expires, when);
		cc_debug("s3 bucket '%s': AWS credentials from %s, valid until %s", bucket,
			 c->source, when);
	} else {
		cc_debug("s3 bucket '%s': AWS credentials from %s", bucket, c->source);
	}
}

/* Fetches the first set of a source found configured, or says why not. */
static enum cc_code first_fetch(struct aws_creds *c, const char *bucket, struct cc_err *err)
{
	enum cc_code rc = fetch(c, &c->key, err);

	if (rc) {
		cc_err_prefix(err, "cannot get AWS credentials for bucket '%s' from %s", bucket,
			      c->source);
		return rc == CC_ENOMEM ? rc : CC_ESTORE;
	}
	return CC_OK;
}

/* The shared files' keys a profile may hold. */
enum { AK, SK, TOK, ROLE, WEBTOK, SESSION, SOURCE_PROFILE, CRED_SOURCE, PROCESS, SSO,
       SSO_SESSION, REGION, NKEYS };
static const char *const profile_keys[NKEYS] = {
	"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "role_arn",
	"web_identity_token_file", "role_session_name", "source_profile",
	"credential_source", "credential_process", "sso_start_url", "sso_session", "region",
};

/* One walk down the chain: what each link needs of the ones before. */
struct chain {
	struct aws_creds *c;
	const char *bucket;
	const char *profile;
	bool explicit_profile;	/* AWS_PROFILE or AWS_DEFAULT_PROFILE named it */
	char *v[NKEYS];		/* the profile's keys (secrets: secret_free) */
	char cfg_path[4096], cred_path[4096];
};

/* Each link: @return CC_OK with *found when it gave the credentials (or
 * found its source configured and fetched the first set), CC_OK without
 * when it is not configured (the chain goes on), or an error that ends
 * the chain. */

/* 1. The environment. */
static enum cc_code from_env(struct chain *ch, bool *found, struct cc_err *err)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
	enum cc_code rc;

	if (!ak && !sk)
		return CC_OK;
	if (!ak || !sk)
		return cc_err_set(err, CC_ESTORE, 0,
				  "AWS credentials for bucket '%s': %s is set but %s is not",
				  ch->bucket, ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
				  ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	if ((rc = set_source(ch->c, err, "the environment (AWS_ACCESS_KEY_ID)")) ||
	    (rc = set_static(ch->c, ak, sk, env("AWS_SESSION_TOKEN"), err)))
		return rc;
	*found = true;
	return CC_OK;
}

/* Reads the profile from the shared files: [profile NAME] or [default]
 * in the config file, [NAME] in the credentials file, which wins. */
static enum cc_code read_profile(struct chain *ch, bool *ret_found, struct cc_err *err)
{
	const char *home = env("HOME");
	char section[512];
	enum cc_code rc;

	if (env("AWS_CONFIG_FILE"))
		snprintf(ch->cfg_path, sizeof(ch->cfg_path), "%s", env("AWS_CONFIG_FILE"));
	else
		snprintf(ch->cfg_path, sizeof(ch->cfg_path), "%s/.aws/config", home ? home : "");
	if (!strcmp(ch->profile, "default"))
		snprintf(section, sizeof(section), "default");
	else
		snprintf(section, sizeof(section), "profile %s", ch->profile);
	if ((rc = ini_read(ch->cfg_path, section, profile_keys, ch->v, NKEYS, ret_found, err)))
		return rc;
	if (env("AWS_SHARED_CREDENTIALS_FILE"))
		snprintf(ch->cred_path, sizeof(ch->cred_path), "%s",
			 env("AWS_SHARED_CREDENTIALS_FILE"));
	else
		snprintf(ch->cred_path, sizeof(ch->cred_path), "%s/.aws/credentials",
			 home ? home : "");
	return ini_read(ch->cred_path, ch->profile, profile_keys, ch->v, REGION, ret_found, err);
}

/* 2. The profile: static keys or web identity; what cicache cannot use
 * is named, not passed over. */
static enum cc_code from_profile(struct chain *ch, bool *found, struct cc_err *err)
{
	char **v = ch->v;
	bool in_files = false;
	enum cc_code rc;

	if ((rc = read_profile(ch, &in_files, err)))
		return rc;
	if (v[AK] || v[SK]) {
		if (!v[AK] || !v[SK] || !*v[AK] || !*v[SK])
			return cc_err_set(err, CC_ESTORE, 0,
					  "AWS credentials for bucket '%s': profile '%s' has %s but no "
					  "%s (in '%s' or '%s')", ch->bucket, ch->profile,
					  profile_keys[v[AK] && *v[AK] ? AK : SK],
					  profile_keys[v[AK] && *v[AK] ? SK : AK], ch->cred_path,
					  ch->cfg_path);
		if ((rc = set_source(ch->c, err, "profile '%s' of the shared files", ch->profile)) ||
		    (rc = set_static(ch->c, v[AK], v[SK], v[TOK], err)))
			return rc;
		*found = true;
		return CC_OK;
	}
	if (v[ROLE] && v[WEBTOK]) {
		if ((rc = set_source(ch->c, err, "web identity (profile '%s', role '%s')",
				     ch->profile, v[ROLE])) ||
		    (rc = set_web_identity(ch->c, v[ROLE], v[WEBTOK],
					   env("AWS_ROLE_SESSION_NAME") ?: v[SESSION], v[REGION],
					   err)) ||
		    (rc = first_fetch(ch->c, ch->bucket, err)))
			return rc;
		*found = true;
		return CC_OK;
	}
	if (v[ROLE] || v[PROCESS] || v[SSO] || v[SSO_SESSION])
		return cc_err_set(err, CC_ESTORE, 0,
				  "AWS credentials for bucket '%s': profile '%s' uses %s, which cicache "
				  "does not support (use static keys, web_identity_token_file, or the "
				  "environment)", ch->bucket, ch->profile,
				  v[PROCESS] ? "credential_process" : v[ROLE] ?
				  (v[SOURCE_PROFILE] ? "role_arn with source_profile" :
				   v[CRED_SOURCE] ? "role_arn with credential_source" : "role_arn") :
				  "AWS IAM Identity Center (sso)");
	if (ch->explicit_profile && !in_files)
		return cc_err_set(err, CC_ESTORE, 0,
				  "AWS credentials for bucket '%s': profile '%s' is in neither '%s' "
				  "nor '%s'", ch->bucket, ch->profile, ch->cred_path, ch->cfg_path);
	return CC_OK;
}

/* 3. Web identity from the environment. */
static enum cc_code from_web_identity(struct chain *ch, bool *found, struct cc_err *err)
{
	const char *role = env("AWS_ROLE_ARN"), *file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
	enum cc_code rc;

	if (!role && !file)
		return CC_OK;
	if (!role || !file)
		return cc_err_set(err, CC_ESTORE, 0,
				  "AWS credentials for bucket '%s': web identity needs both "
				  "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, and %s is not set",
				  ch->bucket, role ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN");
	if ((rc = set_source(ch->c, err, "web identity (AWS_ROLE_ARN '%s')", role)) ||
	    (rc = set_web_identity(ch->c, role, file, env("AWS_ROLE_SESSION_NAME"), ch->v[REGION],
				   err)) ||
	    (rc = first_fetch(ch->c, ch->bucket, err)))
		return rc;
	*found = true;
	return CC_OK;
}

/* 4. Container credentials. */
static enum cc_code from_container(struct chain *ch, bool *found, struct cc_err *err)
{
	const char *which = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ?
			    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" :
			    env("AWS_CONTAINER_CREDENTIALS_FULL_URI") ?
			    "AWS_CONTAINER_CREDENTIALS_FULL_URI" : NULL;
	enum cc_code rc;

	if (!which)
		return CC_OK;
	if ((rc = set_source(ch->c, err, "container credentials (%s)", which)) ||
	    (rc = set_container(ch->c, err)) || (rc = first_fetch(ch->c, ch->bucket, err)))
		return rc;
	*found = true;
	return CC_OK;
}

/* 5. The instance metadata service, tried without being asked for: its
 * absence only ends the chain, and why goes into why. */
static enum cc_code from_imds(struct chain *ch, bool *found, char *why, size_t whysz,
			      struct cc_err *err)
{
	struct aws_creds *c = ch->c;
	struct cc_err e;
	enum cc_code rc;

	if (env_true("AWS_EC2_METADATA_DISABLED")) {
		snprintf(why, whysz, "EC2 instance metadata (AWS_EC2_METADATA_DISABLED)");
		return CC_OK;
	}
	if ((rc = set_imds(c, err)) ||
	    (rc = set_source(c, err, "EC2 instance metadata at '%s'", c->imds_url)))
		return rc;
	if (!tcp_reachable(c->imds_url, c->imds_timeout_s, &e)) {
		rc = fetch(c, &c->key, &e);
		if (rc == CC_ENOMEM) {
			*err = e;
			return rc;
		}
		if (!rc) {
			*found = true;
			return CC_OK;
		}
	}
	snprintf(why, whysz, "%s: %s", c->source, e.msg);
	return CC_OK;
}

enum cc_code aws_creds_open(struct aws_creds **ret, const char *bucket, char **ret_region,
			    struct cc_err *err)
{
	struct chain ch = { .bucket = bucket, .profile = env("AWS_PROFILE") };
	char imds_why[1200] = "";
	bool found = false;
	enum cc_code rc = CC_OK;

	*ret = NULL;
	*ret_region = NULL;
	if (!(ch.c = calloc(1, sizeof(*ch.c))))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	pthread_mutex_init(&ch.c->mu, NULL);
	if (!ch.profile)
		ch.profile = env("AWS_DEFAULT_PROFILE");
	ch.explicit_profile = ch.profile != NULL;
	if (!ch.profile)
		ch.profile = "default";
	/* The order of the AWS SDKs' default chain. */
	rc = from_env(&ch, &found, err);
	if (!rc && !found)
		rc = from_profile(&ch, &found, err);
	if (!rc && !found)
		rc = from_web_identity(&ch, &found, err);
	if (!rc && !found)
		rc = from_container(&ch, &found, err);
	if (!rc && !found)
		rc = from_imds(&ch, &found, imds_why, sizeof(imds_why), err);
	if (rc)
		goto cleanup;
	if (!found) {
		rc = cc_err_set(err, CC_ESTORE, 0,
				"no AWS credentials for bucket '%s': tried the environment "
				"(AWS_ACCESS_KEY_ID), profile '%s' of '%s' and '%s', web identity "
				"(AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE), container credentials "
				"(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, _FULL_URI) and %s",
				bucket, ch.profile, ch.cred_path, ch.cfg_path, imds_why);
		goto cleanup;
	}
	/* The profile's region, for a bucket without one (the files are
	 * read unless the environment held the keys). */
	if (ch.v[REGION] && *ch.v[REGION] && !(*ret_region = strdup(ch.v[REGION]))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	log_found(ch.c, bucket);
	*ret = ch.c;
	ch.c = NULL;
cleanup:
	for (size_t i = 0; i < NKEYS; i++)
		secret_free(ch.v[i]);
	aws_creds_free(ch.c);
	return rc;
}

enum cc_code aws_creds_get(struct aws_creds *c, struct aws_key *ret, struct cc_err *err)
{
	int64_t now = (int64_t)time(NULL);
	enum cc_code rc = CC_OK;

	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&c->mu);
	if (c->kind != SRC_STATIC && now >= c->next_refresh) {
		struct aws_key fresh;
		struct cc_err e;
		char when[32];

		fmt_time(c->key.expires, when);
		if (!(rc = fetch(c, &fresh, &e))) {
			aws_key_release(&c->key);
			c->key = fresh;
			schedule(c);
			fmt_time(c->key.expires, when);
			cc_debug("AWS credentials from %s refreshed, valid until %s", c->source, when);
		} else if (rc != CC_ENOMEM && now < c->key.expires) {
			cc_warn("cannot refresh the AWS credentials from %s: %s; the current ones "
				"stay valid until %s", c->source, e.msg, when);
			c->next_refresh = now + REFRESH_RETRY_S < c->key.expires ?
					  now + REFRESH_RETRY_S : c->key.expires;
			rc = CC_OK;
		} else {
			*err = e;
			cc_err_prefix(err, "the AWS credentials from %s expired at %s and cannot be "
				      "refreshed", c->source, when);
			rc = rc == CC_ENOMEM ? rc : CC_ESTORE;
		}
	}
	if (!rc)
		rc = key_copy(ret, &c->key, err);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

const char *aws_creds_source(const struct aws_creds *c)
{
	return c->source ? c->source : "nowhere";
}

void aws_creds_free(struct aws_creds *c)
{
	if (!c)
		return;
	aws_key_release(&c->key);
	http_free(c->http);
	free(c->source);
	free(c->role_arn);
	free(c->token_file);
	free(c->session_name);
	free(c->sts_url);
	free(c->container_url);
	free(c->imds_url);
	secret_free(c->imds_token);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
