/* store-answers.h: the readers of what the remote stores' services
 * answer, exposed for the unit tests and the fuzzers (tests/fuzz/
 * fuzz-s3-xml.c, fuzz-gha-json.c).  Every answer is untrusted input: a
 * reader never reads past len, bounds what it keeps and hands out
 * NUL-terminated strings without a NUL inside.  The credential
 * providers' readers are in aws-creds.h. */
#ifndef CC_STORE_ANSWERS_H
#define CC_STORE_ANSWERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "err.h"
#include "store.h"

/* In store-s3.c.  Reads one ListObjectsV2 page (len bytes at body, with
 * xml.h): calls fn for every Contents whose Key starts with prefix, named
 * without it, until fn returns non-zero, which sets *ret_stopped.
 * *ret_truncated says whether more pages follow; then ret_token holds the
 * NextContinuationToken, empty when the page has none (an error for the
 * caller).  @return CC_OK; CC_ESTORE for a page that is not well-formed
 * XML (cut short, a NUL, a DOCTYPE ...) or has a text longer than 16 KiB,
 * after fn may have seen the objects before the fault; CC_ENOMEM. */
enum cc_code s3_list_page(const char *body, size_t len, const char *prefix, store_list_fn fn,
			  void *ctx, bool *ret_stopped, bool *ret_truncated, struct buf *ret_token,
			  struct cc_err *err);

/* In store-s3.c.  The UploadId of a CreateMultipartUpload answer into ret.
 * @return false when there is none usable (absent, empty, or the answer
 * not well-formed XML). */
bool s3_upload_id(const char *body, size_t len, struct buf *ret);

/* In store-s3.c.  The Code and Message of an S3 error answer into code
 * and msg (ncode, nmsg > 0 bytes), cut to fit, printable characters only;
 * "" for what the answer does not name: xml_error_words (xml.h). */
void s3_error_words(const char *body, size_t len, char *code, size_t ncode, char *msg,
		    size_t nmsg);

/* In store-gha.c.  Finds member name (or, when absent, its camelCase
 * twin alt, may be NULL) of the JSON object in body, a twirp answer of
 * the GitHub Actions cache service, read whole by jansson with
 * answer_json_load's rules (answer-json.h: a \u0000, invalid UTF-8, a
 * member named twice or more than 32 levels refuse the whole answer).  A
 * string value is decoded into out; true, false, null and integers are
 * written as JSON writes them ("true", "123"); a real, an object or an
 * array is not found.  out is emptied first.  @return true when present,
 * well formed and fitting out's bound. */
bool gha_json_get(const struct buf *body, const char *name, const char *alt,
		  struct buf *out);

/* In store-gha.c.  One cache of a page of GitHub's REST listing
 * (GET /repos/OWNER/REPO/actions/caches); strings are valid during the
 * callback only. */
struct gha_rest_cache {
	uint64_t id;
	const char *key;	/* "" when absent */
	const char *version;	/* "" when absent */
	uint64_t size;		/* size_in_bytes; 0 when absent */
	int64_t created_ns;	/* created_at; 0 when absent or not a time */
};
typedef int (*gha_rest_cache_fn)(void *ctx, const struct gha_rest_cache *c);

/* In store-gha.c.  Reads one page of that listing (body): calls fn for
 * each element of "actions_caches", in order, until fn returns nonzero;
 * *ret_total is total_count (0 when absent).  The page is read whole
 * first (as gha_json_get reads).  @return CC_OK, or CC_ESTORE for a
 * malformed page (not JSON: nothing is reported; no array, an element
 * without a numeric id, more than max elements: nothing after that
 * element is reported). */
enum cc_code gha_rest_caches(const struct buf *body, size_t max, gha_rest_cache_fn fn,
			     void *ctx, uint64_t *ret_total, struct cc_err *err);

#endif
