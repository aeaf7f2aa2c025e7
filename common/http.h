/* http.h: the one HTTP layer of the library (libcurl), with the one retry
 * loop of the code base.
 *
 * A struct http is a small pool of connections (CURL easy handles, so
 * keep-alive connections, DNS and TLS sessions are reused); it may be used
 * from several threads at once.  http_do() runs one request to completion:
 * transient failures (connection reset or refused, timeouts, stalls below
 * one byte a second for HTTP_STALL_SECONDS, truncated bodies, HTTP 5xx,
 * 429, 408, and whatever req->retryable() accepts) are retried with
 * exponential backoff and full jitter, honouring Retry-After; a ranged GET
 * into memory resumes from the last byte received.  Anything else is an
 * answer: the caller reads resp->status and resp->err_body.
 *
 * TLS uses the system CA store; AWS_CA_BUNDLE, then SSL_CERT_FILE, name
 * another bundle.  Nothing here logs headers: they carry credentials.
 */
#ifndef CC_HTTP_H
#define CC_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include "buf.h"
#include "err.h"

#define HTTP_STALL_SECONDS 30
#define HTTP_ERR_BODY_MAX (64 * 1024)

struct http;

/* Request headers for one attempt: "Name: value" lines. */
struct http_headers;
enum cc_code http_header_add(struct http_headers *h, const char *name, const char *value,
			     struct cc_err *err);

/* Called before every attempt (so a signature carries the attempt's time)
 * with the headers built so far (Range is added by the layer, unsigned). */
typedef enum cc_code (*http_sign_fn)(void *ctx, struct http_headers *h, struct cc_err *err);

struct http_req {
	const char *method;		/* GET HEAD PUT POST DELETE */
	const char *url;		/* messages show it less userinfo and query (url.h) */
	http_sign_fn sign;
	void *sign_ctx;

	/* Request body: body/body_len from memory, or body_len bytes of
	 * body_fd from body_off (body_fd < 0 means memory). */
	const void *body;
	int body_fd;
	uint64_t body_off, body_len;

	/* Response body of a 2xx answer, at most one of: */
	struct buf *out;		/* bounded by out->max */
	void *dst;			/* exactly dst_len bytes of the object from */
	size_t dst_len;			/* range_off: sends Range, resumes on retry */
	uint64_t range_off;
	int out_fd;			/* streamed to out_fd (>= 0), at most out_max */
	uint64_t out_max;

	/* Milliseconds an attempt may take in all (0: no limit but the
	 * stall limit), for services that answer at once or not at all. */
	long timeout_ms;

	/* Stops the request (CC_EINTERNAL) when *cancel becomes nonzero or,
	 * unless ignore_cancel, when cc_cancelled(): cleanup requests (an
	 * upload's abort) still run after a signal. */
	const volatile int *cancel;
	bool ignore_cancel;

	/* Extra transient answers (e.g. S3's 400 RequestTimeout). */
	bool (*retryable)(long status, const struct buf *body);
};

/* Initialises the fields of a request to "none". */
void http_req_init(struct http_req *r);

struct http_resp {
	long status;			/* final HTTP status */
	struct buf err_body;		/* body of a non-2xx answer, bounded */
	uint64_t content_length;	/* when has_length */
	bool has_length;
	uint64_t range_total;		/* from Content-Range ".../total" when has_total */
	bool has_total;
	int64_t last_modified;		/* seconds since the epoch, or -1 */
	char etag[128];
	int tries;			/* attempts made */
};

void http_resp_init(struct http_resp *r);
void http_resp_release(struct http_resp *r);

/* @return CC_OK with a new pool in *ret.  max_tries bounds the attempts
 * of each request (>= 1). */
enum cc_code http_new(struct http **ret, int max_tries, struct cc_err *err);
void http_free(struct http *h);

/* Runs req.  @return CC_OK when an HTTP answer arrived (any status: check
 * resp->status); CC_ESTORE when the server could not be reached or kept
 * failing; CC_ECORRUPT when a 2xx body does not have the size asked for;
 * CC_EDEST when writing to out_fd fails; CC_ENOMEM when a body exceeds
 * its bound. */
enum cc_code http_do(struct http *h, const struct http_req *req, struct http_resp *resp,
		     struct cc_err *err);

/* One request of a batch. */
struct http_job {
	const struct http_req *req;
	struct http_resp *resp;
	struct cc_err err;
	enum cc_code rc;		/* as http_do would return */
};

/* The segment timeout (SEGMENT_DOWNLOAD_TIMEOUT_MINS, as actions/cache
 * reads it): a download segment is one GET whose body is object data
 * (dst or out_fd: one ranged GET of a batch, or one whole-object GET),
 * timed from the start of its first attempt to its end, its retries and
 * their back-off included.  One that runs longer than ms fails with
 * CC_ESTORE (sys_errno ETIMEDOUT) and gives up the whole operation
 * (cc_give_up(CC_GIVEUP_SEGMENT)).  Process-wide; 0 (the initial value)
 * is no limit. */
void http_set_segment_timeout(uint64_t ms);

/* Runs n requests, at most parallel at a time, over libcurl's multi
 * interface, each under the same retry policy as http_do (which is
 * http_run of one job).  Every job gets its own rc and err. */
void http_run(struct http *h, struct http_job *jobs, size_t n, int parallel);

#endif
