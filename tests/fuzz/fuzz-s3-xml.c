/* fuzz-s3-xml: libFuzzer target for the XML answers of S3 that the S3
 * store reads: a ListObjectsV2 page (s3_list_page()), the answer to
 * CreateMultipartUpload (s3_upload_id()) and an error answer
 * (s3_error_words(), printable and within bounds).
 *
 * The page is read twice, under the prefix "cicache/" and under none, the
 * second time stopping after the first object when the input's first byte
 * is odd.  Checks: every object name is a C string within the page's
 * bounds, no time is negative (or overflowed), the count of
 * objects is bounded by the page's length, a stopped listing reports
 * exactly as many objects as the callback took, and the continuation
 * token and upload id hold no NUL.
 *
 *   make fuzz && build/fuzz/fuzz-s3-xml tests/fuzz/corpus-s3-xml */
#include "../../common/store-answers.h"
#include "fuzz.h"

#include <stdint.h>

struct count {
	size_t n, stop_after, max_len;
};

static int each(void *ctx, const struct store_object *o)
{
	struct count *c = ctx;

	FUZZ_CHECK(o->name && strlen(o->name) <= c->max_len);
	FUZZ_CHECK(o->mtime_ns >= 0);
	c->n++;
	return c->stop_after && c->n >= c->stop_after;
}

static void list(const uint8_t *data, size_t size, const char *prefix, size_t stop_after)
{
	/* The shortest object: <Contents><Key/></Contents> (an empty key,
	 * listed under the prefix ""). */
	const size_t min_object = strlen("<Contents><Key/></Contents>");
	struct count c = { 0, stop_after, size };
	struct buf token = BUF_INIT;
	struct cc_err err;
	bool stopped, truncated;

	if (s3_list_page((const char *)data, size, prefix, each, &c, &stopped, &truncated, &token,
			 &err)) {
		FUZZ_CHECK(fuzz_printable(err.msg, sizeof(err.msg)));
		fuzz_say("result: refused: %s", err.msg);
		goto cleanup;
	}
	FUZZ_CHECK(c.n <= size / min_object);
	FUZZ_CHECK(stopped == (stop_after && c.n == stop_after));
	FUZZ_CHECK(!stopped || !truncated);
	FUZZ_CHECK(truncated || !token.len);
	FUZZ_CHECK(strlen(token.data) == token.len);
	/* Only the store's own prefix decides what the input was. */
	if (*prefix && (c.n || token.len))
		fuzz_say("result: accepted listing of %zu objects%s%s", c.n,
			 truncated ? ", truncated" : "", token.len ? ", with a token" : "");
	else
		fuzz_say("listing under '%s': %zu objects%s", prefix, c.n,
			 truncated && !token.len ? ", truncated without a token" : "");
cleanup:
	buf_release(&token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf id = BUF_INIT;

	list(data, size, "cicache/", 0);
	list(data, size, "", size && (data[0] & 1) ? 1 : 0);
	{
		char code[128], msg[384];

		s3_error_words((const char *)data, size, code, sizeof(code), msg, sizeof(msg));
		FUZZ_CHECK(fuzz_printable(code, sizeof(code)) && fuzz_printable(msg, sizeof(msg)));
		if (code[0])
			fuzz_say("error: %s: %s", code, msg);
	}
	if (s3_upload_id((const char *)data, size, &id)) {
		FUZZ_CHECK(id.len && strlen(id.data) == id.len && id.len <= size);
		fuzz_say("result: accepted upload id");
	}
	buf_release(&id);
	return 0;
}
