/* http.c: requests over libcurl easy handles kept in a pool, and the one
 * retry loop (see http.h for the policy). */
#include "http.h"
#include "log.h"
#include "url.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 16
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 10000
#define RETRY_AFTER_CAP_S 60
#define CONNECT_TIMEOUT_S 10
#define POLL_MAX_MS 1000

struct http {
	pthread_mutex_t mu;
	CURL *idle[POOL_MAX];
	int nidle;
	/* Multi handles hold the connection caches: one thread uses one at
	 * a time, and gives it back with its connections open. */
	CURLM *idle_multi[POOL_MAX];
	int nidle_multi;
	int max_tries;
	long stall_s;
	char *cainfo;			/* CA bundle, NULL: libcurl's default */
	char *capath;			/* CA directory (SSL_CERT_DIR), or NULL */
	unsigned seed;
	/* DNS answers and TLS sessions shared by every transfer of every
	 * thread (libcurl does not support sharing connections between
	 * threads). */
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
};

struct http_headers {
	struct curl_slist *list;
};

enum xfer_state { X_NEW, X_RUN, X_WAIT, X_DONE };

struct xfer {
	enum xfer_state state;
	int attempt;
	uint64_t wake_ms;		/* X_WAIT: when the next attempt may start */
	struct http_headers hh;		/* this attempt's request headers */
	char errbuf[CURL_ERROR_SIZE];
	struct http_job *job;
	const struct http_req *req;
	struct http_resp *resp;
	CURL *c;
	uint64_t up_pos;		/* upload position in this attempt */
	uint64_t got;			/* dst: bytes received over all attempts */
	uint64_t attempt_start;		/* dst: got when this attempt began */
	uint64_t fd_written;		/* out_fd: bytes written in this attempt */
	int64_t fd_start;
	int body_state;			/* 0 unknown, 1 2xx, 2 error answer */
	enum cc_code fatal;		/* set by a callback that stopped the transfer */
	struct cc_err *err;
	long retry_after;		/* seconds, or -1 */
	uint64_t seg_start_ms;		/* a download segment: its first attempt's start */
};

/* http_set_segment_timeout(): 0 is no limit.  Set once by the program,
 * read by every transfer thread. */
static uint64_t segment_limit_ms;

void http_set_segment_timeout(uint64_t ms)
{
	__atomic_store_n(&segment_limit_ms, ms, __ATOMIC_RELAXED);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_req_init(struct http_req *r)
{
	memset(r, 0, sizeof(*r));
	r->body_fd = -1;
	r->out_fd = -1;
}

void http_resp_init(struct http_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->err_body, HTTP_ERR_BODY_MAX);
	r->last_modified = -1;
}

void http_resp_release(struct http_resp *r)
{
	buf_release(&r->err_body);
}

enum cc_code http_header_add(struct http_headers *h, const char *name, const char *value,
			     struct cc_err *err)
{
	char *line = NULL;
	struct curl_slist *l;

	/* "Name;" sends a header with an empty value; "Name:" removes one. */
	if (asprintf(&line, *value ? "%s: %s" : "%s;", name, value) < 0)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	l = curl_slist_append(h->list, line);
	free(line);
	if (!l)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	h->list = l;
	return CC_OK;
}

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *ctx)
{
	struct http *h = ctx;

	pthread_mutex_lock(&h->share_mu[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *ctx)
{
	struct http *h = ctx;

	pthread_mutex_unlock(&h->share_mu[data]);
}

/* Where each distribution keeps its CA bundle, most common first. */
static const char *const ca_bundles[] = {
	"/etc/ssl/certs/ca-certificates.crt",	/* Debian, Ubuntu, Alpine, Arch */
	"/etc/pki/tls/certs/ca-bundle.crt",	/* RHEL, Fedora, CentOS, Amazon */
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL, Fedora */
	"/etc/ssl/ca-bundle.pem",		/* openSUSE */
	"/etc/ssl/cert.pem",			/* Alpine, OpenSSL's default */
};

/* Sets h->cainfo and h->capath, the CA certificates to trust.  The
 * environment first: AWS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE (a
 * bundle) and SSL_CERT_DIR (a hashed directory).  Without them, libcurl's
 * own default when it has one that exists here (a distribution's
 * libcurl), else the first bundle of ca_bundles[] that is readable: the
 * static release binaries carry no default, as they run on every
 * distribution.  Returns false only when out of memory. */
static bool ca_locate(struct http *h)
{
	static const char *const vars[] = { "AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE" };
	const char *file = NULL, *dir = getenv("SSL_CERT_DIR");
	const curl_version_info_data *v;

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && !file; i++)
		if ((file = getenv(vars[i])) && !*file)
			file = NULL;
	if (dir && !*dir)
		dir = NULL;
	v = curl_version_info(CURLVERSION_NOW);
	if (!file && !dir && !((v->cainfo && !access(v->cainfo, R_OK)) || v->capath))
		for (size_t i = 0; i < sizeof(ca_bundles) / sizeof(ca_bundles[0]) && !file; i++)
			if (!access(ca_bundles[i], R_OK))
				file = ca_bundles[i];
	if (file && !(h->cainfo = strdup(file)))
		return false;
	if (dir && !(h->capath = strdup(dir)))
		return false;
	return true;
}

enum cc_code http_new(struct http **ret, int max_tries, struct cc_err *err)
{
	struct http *h;
	const char *stall = getenv("CICACHE_STALL_SECONDS");

	*ret = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return cc_err_set(err, CC_EINTERNAL, 0, "cannot initialise libcurl: %s",
				  curl_easy_strerror(global_rc));
	if (!(h = calloc(1, sizeof(*h))))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	pthread_mutex_init(&h->mu, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_mu[i], NULL);
	h->max_tries = max_tries < 1 ? 1 : max_tries;
	h->stall_s = HTTP_STALL_SECONDS;
	if (stall && *stall) {
		char *end;
		long v = strtol(stall, &end, 10);

		if (*end || v < 1 || v > 3600) {
			http_free(h);
			return cc_err_set(err, CC_EUSAGE, 0,
					  "CICACHE_STALL_SECONDS must be a number of seconds from 1 to 3600");
		}
		h->stall_s = v;
	}
	h->seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
	if (!ca_locate(h) || !(h->share = curl_share_init())) {
		http_free(h);
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*ret = h;
	return CC_OK;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->nidle; i++)
		curl_easy_cleanup(h->idle[i]);
	for (int i = 0; i < h->nidle_multi; i++)
		curl_multi_cleanup(h->idle_multi[i]);
	if (h->share)
		curl_share_cleanup(h->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_mu[i]);
	pthread_mutex_destroy(&h->mu);
	free(h->cainfo);
	free(h->capath);
	free(h);
}

static CURL *pool_get(struct http *h)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->mu);
	if (h->nidle)
		c = h->idle[--h->nidle];
	pthread_mutex_unlock(&h->mu);
	if (c)
		curl_easy_reset(c);	/* keeps live connections and caches */
	else
		c = curl_easy_init();
	return c;
}

static CURLM *multi_get(struct http *h)
{
	CURLM *m = NULL;

	pthread_mutex_lock(&h->mu);
	if (h->nidle_multi)
		m = h->idle_multi[--h->nidle_multi];
	pthread_mutex_unlock(&h->mu);
	if (!m && (m = curl_multi_init()))
		curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	return m;
}

static void multi_put(struct http *h, CURLM *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&h->mu);
	if (h->nidle_multi < POOL_MAX) {
		h->idle_multi[h->nidle_multi++] = m;
		m = NULL;
	}
	pthread_mutex_unlock(&h->mu);
	if (m)
		curl_multi_cleanup(m);
}

static void pool_put(struct http *h, CURL *c)
{
	pthread_mutex_lock(&h->mu);
	if (h->nidle < POOL_MAX) {
		h->idle[h->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->mu);
	if (c)
		curl_easy_cleanup(c);
}

static bool hdr_is(const char *line, size_t n, const char *name, const char **ret_value)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
		return false;
	line += k + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	*ret_value = line;
	return true;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	struct http_resp *r = x->resp;
	size_t n = size * nmemb;
	char line[512];
	const char *v;
	size_t k = n < sizeof(line) - 1 ? n : sizeof(line) - 1;

	memcpy(line, p, k);
	line[k] = '\0';
	while (k && (line[k - 1] == '\r' || line[k - 1] == '\n'))
		line[--k] = '\0';
	if (!strncmp(line, "HTTP/", 5)) {
		/* A new response (after 100 Continue, or a new attempt). */
		r->has_length = r->has_total = false;
		r->last_modified = -1;
		r->etag[0] = '\0';
		x->retry_after = -1;
		return n;
	}
	if (hdr_is(line, k, "content-length", &v)) {
		r->content_length = strtoull(v, NULL, 10);
		r->has_length = true;
	} else if (hdr_is(line, k, "content-range", &v)) {
		const char *slash = strchr(v, '/');

		if (slash && slash[1] >= '0' && slash[1] <= '9') {
			r->range_total = strtoull(slash + 1, NULL, 10);
			r->has_total = true;
		}
	} else if (hdr_is(line, k, "etag", &v)) {
		snprintf(r->etag, sizeof(r->etag), "%s", v);
	} else if (hdr_is(line, k, "last-modified", &v)) {
		time_t t = curl_getdate(v, NULL);

		r->last_modified = t == (time_t)-1 ? -1 : (int64_t)t;
	} else if (hdr_is(line, k, "retry-after", &v)) {
		if (*v >= '0' && *v <= '9') {
			x->retry_after = strtol(v, NULL, 10);
		} else {
			time_t t = curl_getdate(v, NULL);

			if (t != (time_t)-1)
				x->retry_after = t > time(NULL) ? (long)(t - time(NULL)) : 0;
		}
	}
	return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	const struct http_req *q = x->req;
	size_t n = size * nmemb;

	if (!x->body_state) {
		long status = 0;

		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
		x->body_state = status >= 200 && status < 300 ? 1 : 2;
		if (x->body_state == 1 && q->dst && status != 206 &&
		    (x->attempt_start || q->range_off)) {
			x->fatal = cc_err_set(x->err, CC_ESTORE, 0,
					      "server ignored the byte range asked for");
			return 0;
		}
	}
	if (x->body_state == 2) {
		struct buf *b = &x->resp->err_body;
		size_t room = b->max - 1 - b->len;

		/* An error page is only for the message: keep its start. */
		buf_add(b, p, n < room ? n : room, NULL);
		return n;
	}
	if (q->dst) {
		if (n > q->dst_len - x->got) {
			x->fatal = cc_err_set(x->err, CC_ESTORE, 0,
					      "server sent more than the %zu bytes asked for",
					      q->dst_len);
			return 0;
		}
		memcpy((char *)q->dst + x->got, p, n);
		x->got += n;
	} else if (q->out_fd >= 0) {
		if (n > q->out_max - x->fd_written) {
			x->fatal = cc_err_set(x->err, CC_ECORRUPT, 0,
					      "object is larger than %llu bytes",
					      (unsigned long long)q->out_max);
			return 0;
		}
		if (pwrite_all(q->out_fd, p, n, (off_t)(x->fd_start + (int64_t)x->fd_written))) {
			x->fatal = cc_err_set(x->err, CC_EDEST, errno, "cannot write a downloaded object");
			return 0;
		}
		x->fd_written += n;
	} else if (q->out) {
		enum cc_code rc = buf_add(q->out, p, n, x->err);

		if (rc) {
			x->fatal = rc;
			return 0;
		}
	}
	return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	const struct http_req *q = x->req;
	size_t n = size * nmemb;
	uint64_t left = q->body_len - x->up_pos;

	if (n > left)
		n = (size_t)left;
	if (!n)
		return 0;
	if (q->body_fd < 0) {
		memcpy(p, (const char *)q->body + x->up_pos, n);
	} else {
		ssize_t k;

		do
			k = pread(q->body_fd, p, n, (off_t)(q->body_off + x->up_pos));
		while (k < 0 && errno == EINTR);
		if (k <= 0) {
			x->fatal = cc_err_set(x->err, CC_ESTORE, k < 0 ? errno : 0,
					      "cannot read the file to upload%s",
					      k == 0 ? ": it shrank" : "");
			return CURL_READFUNC_ABORT;
		}
		n = (size_t)k;
	}
	x->up_pos += n;
	return n;
}

static int on_seek(void *ctx, curl_off_t off, int origin)
{
	struct xfer *x = ctx;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->up_pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static bool transient_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:	/* includes the stall limit */
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

static bool transient_status(const struct http_req *q, const struct http_resp *r)
{
	if (r->status >= 500 || r->status == 429 || r->status == 408)
		return true;
	return q->retryable && q->retryable(r->status, &r->err_body);
}

/* Full jitter over an exponential ceiling; Retry-After is a floor.
 * @return the pause before the next attempt, in milliseconds. */
static long backoff_ms(struct http *h, int attempt, long retry_after)
{
	unsigned seed;
	long ceil_ms = BACKOFF_BASE_MS, ms;

	for (int i = 1; i < attempt && ceil_ms < BACKOFF_CAP_MS; i++)
		ceil_ms *= 2;
	if (ceil_ms > BACKOFF_CAP_MS)
		ceil_ms = BACKOFF_CAP_MS;
	pthread_mutex_lock(&h->mu);
	seed = h->seed = h->seed * 1103515245u + 12345u;
	pthread_mutex_unlock(&h->mu);
	ms = ceil_ms / 2 + (long)(rand_r(&seed) % (unsigned)(ceil_ms / 2 + 1));
	if (retry_after >= 0) {
		long ra = (retry_after > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : retry_after) * 1000;

		if (ms < ra)
			ms = ra;
	}
	return ms;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Messages show a URL without its userinfo and query (url.h): a signed
 * URL carries its signature there, an endpoint may carry a password. */
struct shown_url {
	char s[512];
};

static const char *shown(struct shown_url *u, const char *url)
{
	return url_redact(u->s, sizeof(u->s), url);
}

static bool xfer_cancelled(const struct http_req *q)
{
	/* *cancel is set by another thread (prefetch_stop) */
	return (q->cancel && __atomic_load_n(q->cancel, __ATOMIC_RELAXED)) ||
	       (!q->ignore_cancel && cc_cancelled());
}

/* A download segment (see http.h) that has run, retries included, for
 * longer than the limit. */
static bool segment_expired(const struct xfer *x)
{
	uint64_t lim = __atomic_load_n(&segment_limit_ms, __ATOMIC_RELAXED);

	return lim && x->seg_start_ms && now_ms() - x->seg_start_ms > lim;
}

/* The whole operation is abandoned, as actions/cache abandons a download
 * whose segment takes too long: everything else stops through the
 * cancellation path, and the program learns why from cc_gave_up(). */
static enum cc_code segment_fail(const struct xfer *x)
{
	const struct http_req *q = x->req;
	uint64_t lim = __atomic_load_n(&segment_limit_ms, __ATOMIC_RELAXED);
	struct shown_url u;

	cc_give_up(CC_GIVEUP_SEGMENT);
	return cc_err_set(x->err, CC_ESTORE, ETIMEDOUT,
			  "%s %s: download segment abandoned after %.1f s (the segment timeout)",
			  q->method, shown(&u, q->url), (double)lim / 1000.0);
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = ctx;

	if (segment_expired(x)) {
		if (!x->fatal)
			x->fatal = segment_fail(x);
		return 1;
	}
	return xfer_cancelled(x->req);
}

/* Sets up x->c for its next attempt. */
static enum cc_code setup(struct http *h, struct xfer *x, struct cc_err *err)
{
	const struct http_req *q = x->req;
	CURL *c = x->c;
	enum cc_code rc;

	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_PRIVATE, x);
	curl_easy_setopt(c, CURLOPT_SHARE, h->share);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->stall_s);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	if (q->timeout_ms > 0) {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, q->timeout_ms);
	}
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (h->cainfo || h->capath) {
		/* SSL_CERT_DIR alone replaces the bundle, it does not add to it. */
		curl_easy_setopt(c, CURLOPT_CAINFO, h->cainfo);
		curl_easy_setopt(c, CURLOPT_CAPATH, h->capath);
	}
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(q->method, "PUT")) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
	} else if (!strcmp(q->method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
	} else if (strcmp(q->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	}
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, x);
	curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
	curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
	/* No 100-continue round trip: bodies are small or the server is
	 * expected to take them. */
	{
		struct curl_slist *l = curl_slist_append(x->hh.list, "Expect:");

		if (!l)
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		x->hh.list = l;
	}
	if (q->dst) {
		char range[64];

		snprintf(range, sizeof(range), "bytes=%llu-%llu",
			 (unsigned long long)(q->range_off + x->got),
			 (unsigned long long)(q->range_off + q->dst_len - 1));
		if ((rc = http_header_add(&x->hh, "Range", range, err)))
			return rc;
	}
	if (q->sign && (rc = q->sign(q->sign_ctx, &x->hh, err)))
		return rc;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hh.list);
	return CC_OK;
}

static void xfer_done(struct http *h, struct xfer *x, enum cc_code rc)
{
	const struct http_req *q = x->req;

	curl_slist_free_all(x->hh.list);
	x->hh.list = NULL;
	if (!rc && q->out_fd >= 0)
		lseek(q->out_fd, (off_t)(x->fd_start + (int64_t)x->fd_written), SEEK_SET);
	if (x->c)
		pool_put(h, x->c);
	x->c = NULL;
	x->job->rc = rc;
	x->state = X_DONE;
}

/* Prepares x's next attempt.  @return CC_OK, or a failure that ends x. */
static enum cc_code xfer_begin(struct http *h, struct xfer *x)
{
	const struct http_req *q = x->req;
	struct http_resp *resp = x->resp;

	curl_easy_reset(x->c);
	curl_slist_free_all(x->hh.list);
	x->hh.list = NULL;
	x->errbuf[0] = '\0';
	x->up_pos = 0;
	x->body_state = 0;
	x->fatal = CC_OK;
	x->attempt_start = x->got;
	x->fd_written = 0;
	x->retry_after = -1;
	resp->status = 0;
	resp->tries = ++x->attempt;
	buf_reset(&resp->err_body);
	if (q->out)
		buf_reset(q->out);
	if (q->out_fd >= 0 && ftruncate(q->out_fd, (off_t)x->fd_start) && errno != EINVAL)
		return cc_err_set(x->err, CC_EDEST, errno, "cannot write a downloaded object");
	return setup(h, x, x->err);
}

/* Judges the attempt that ended with cc: x is done, or waits to retry. */
static void xfer_end(struct http *h, struct xfer *x, CURLcode cc)
{
	const struct http_req *q = x->req;
	struct http_resp *resp = x->resp;
	char why[CURL_ERROR_SIZE + 64];
	struct shown_url u;
	bool again = false;

	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (x->fatal) {
		xfer_done(h, x, x->fatal);
		return;
	}
	if (xfer_cancelled(q)) {
		xfer_done(h, x, cc_err_set(x->err, CC_EINTERNAL, EINTR, "%s %s: interrupted",
					   q->method, shown(&u, q->url)));
		return;
	}
	if (cc != CURLE_OK) {
		/* curl's own words may quote the URL it was given */
		snprintf(why, sizeof(why), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
		url_redact_text(why);
		if (!transient_curl(cc)) {
			xfer_done(h, x, cc_err_set(x->err, CC_ESTORE, 0, "%s %s: %s", q->method,
						   shown(&u, q->url), why));
			return;
		}
		again = true;
	} else if (resp->status >= 200 && resp->status < 300) {
		if (q->dst && x->got < q->dst_len) {
			if (resp->has_total && resp->range_total < q->range_off + q->dst_len) {
				xfer_done(h, x, cc_err_set(x->err, CC_ECORRUPT, 0,
							   "object is truncated: %llu bytes, %llu expected",
							   (unsigned long long)resp->range_total,
							   (unsigned long long)(q->range_off + q->dst_len)));
				return;
			}
			snprintf(why, sizeof(why), "body truncated at %llu of %zu bytes",
				 (unsigned long long)x->got, q->dst_len);
			again = true;
		}
	} else if (transient_status(q, resp)) {
		snprintf(why, sizeof(why), "HTTP %ld", resp->status);
		again = true;
	}
	if (!again) {
		xfer_done(h, x, CC_OK);
		return;
	}
	if (segment_expired(x)) {
		xfer_done(h, x, segment_fail(x));
		return;
	}
	if (x->attempt >= h->max_tries) {
		enum cc_code rc = CC_OK;

		/* An HTTP error answer is an answer: the caller words it. */
		if (cc != CURLE_OK || (resp->status >= 200 && resp->status < 300))
			rc = cc_err_set(x->err, CC_ESTORE, 0, "%s %s: %s (after %d tries)",
					q->method, shown(&u, q->url), why, x->attempt);
		xfer_done(h, x, rc);
		return;
	}
	cc_debug("%s %s: %s; retrying (try %d of %d)", q->method, shown(&u, q->url), why,
		 x->attempt + 1, h->max_tries);
	x->wake_ms = now_ms() + (uint64_t)backoff_ms(h, x->attempt, x->retry_after);
	x->state = X_WAIT;
}

static bool xfer_start(struct http *h, CURLM *m, struct xfer *x)
{
	struct shown_url u;
	enum cc_code rc;

	if (xfer_cancelled(x->req)) {
		xfer_done(h, x, cc_err_set(x->err, CC_EINTERNAL, EINTR, "%s %s: interrupted",
					   x->req->method, shown(&u, x->req->url)));
		return false;
	}
	if (segment_expired(x)) {
		xfer_done(h, x, segment_fail(x));
		return false;
	}
	if (!x->c && !(x->c = pool_get(h))) {
		xfer_done(h, x, cc_err_set(x->err, CC_ENOMEM, ENOMEM,
					   "cannot allocate a connection"));
		return false;
	}
	if ((rc = xfer_begin(h, x))) {
		xfer_done(h, x, rc);
		return false;
	}
	if (curl_multi_add_handle(m, x->c) != CURLM_OK) {
		xfer_done(h, x, cc_err_set(x->err, CC_EINTERNAL, 0, "cannot start a transfer"));
		return false;
	}
	x->state = X_RUN;
	if (!x->seg_start_ms && !strcmp(x->req->method, "GET") &&
	    (x->req->dst || x->req->out_fd >= 0))
		x->seg_start_ms = now_ms();
	return true;
}

void http_run(struct http *h, struct http_job *jobs, size_t n, int parallel)
{
	struct xfer *xs = calloc(n ? n : 1, sizeof(*xs));
	CURLM *m = multi_get(h);
	size_t left = n, running = 0;

	if (parallel < 1)
		parallel = 1;
	for (size_t i = 0; i < n; i++) {
		struct xfer *x = &xs[i];
		const struct http_req *q = jobs[i].req;

		jobs[i].rc = CC_OK;
		jobs[i].err.code = CC_OK;
		jobs[i].err.msg[0] = '\0';
		if (!xs || !m) {
			jobs[i].rc = cc_err_set(&jobs[i].err, CC_ENOMEM, ENOMEM, "cannot allocate");
			continue;
		}
		x->job = &jobs[i];
		x->req = q;
		x->resp = jobs[i].resp;
		x->err = &jobs[i].err;
		x->retry_after = -1;
		x->resp->tries = 0;
		if (q->out_fd >= 0) {
			off_t pos = lseek(q->out_fd, 0, SEEK_CUR);

			x->fd_start = pos < 0 ? 0 : (int64_t)pos;
		}
		if (q->dst && !q->dst_len)
			xfer_done(h, x, CC_OK);
	}
	if (!xs || !m)
		goto cleanup;
	for (size_t i = 0; i < n; i++)
		if (xs[i].state == X_DONE)
			left--;
	while (left) {
		uint64_t now = now_ms(), wake = UINT64_MAX;
		int still, nmsg;
		CURLMsg *msg;
		long wait;

		/* Retries that are due come first, then new transfers. */
		for (size_t i = 0; i < n && running < (size_t)parallel; i++)
			if (xs[i].state == X_WAIT && xs[i].wake_ms <= now)
				running += xfer_start(h, m, &xs[i]);
		for (size_t i = 0; i < n && running < (size_t)parallel; i++)
			if (xs[i].state == X_NEW)
				running += xfer_start(h, m, &xs[i]);
		curl_multi_perform(m, &still);
		while ((msg = curl_multi_info_read(m, &nmsg))) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			curl_multi_remove_handle(m, msg->easy_handle);
			running--;
			xfer_end(h, x, msg->data.result);
		}
		left = 0;
		for (size_t i = 0; i < n; i++) {
			/* A segment waiting for its retry runs out of time too. */
			if (xs[i].state == X_WAIT && segment_expired(&xs[i]))
				xfer_done(h, &xs[i], segment_fail(&xs[i]));
			if (xs[i].state != X_DONE)
				left++;
			if (xs[i].state == X_WAIT && xs[i].wake_ms < wake)
				wake = xs[i].wake_ms;
		}
		if (!left)
			break;
		now = now_ms();
		wait = POLL_MAX_MS;
		if (wake != UINT64_MAX)
			wait = wake <= now ? 0 : (long)(wake - now < POLL_MAX_MS ? wake - now : POLL_MAX_MS);
		if (running)
			curl_multi_poll(m, NULL, 0, (int)wait, NULL);
		else if (wait > 0)
			usleep((useconds_t)wait * 1000);
	}
cleanup:
	for (size_t i = 0; xs && i < n; i++)
		if (xs[i].state != X_DONE && xs[i].job)
			xfer_done(h, &xs[i], jobs[i].rc);
	multi_put(h, m);
	free(xs);
}

enum cc_code http_do(struct http *h, const struct http_req *q, struct http_resp *resp,
		     struct cc_err *err)
{
	struct http_job job = { .req = q, .resp = resp };

	http_run(h, &job, 1, 1);
	if (job.rc && err)
		*err = job.err;
	return job.rc;
}
