/* fuzz-gha-json: libFuzzer target for the twirp JSON answers of the
 * GitHub Actions cache service (v2) that the gha store and the
 * actions/cache lookup read with gha_json_get(): GetCacheEntryDownloadURL
 * (ok, matched_key, signed_download_url), CreateCacheEntry (ok,
 * signed_upload_url, message), FinalizeCacheEntryUpload (ok, message) and
 * twirp errors (code, msg), and a page of the REST API's listing of
 * caches (gha_rest_caches).  Every member is asked for as the store asks,
 * snake_case with its camelCase twin.
 *
 * Checks: a value found is a C string without a NUL inside (a signed URL
 * cut short at a NUL would be another URL) and no longer than the answer;
 * asking twice gives the same value.
 *
 *   make fuzz && build/fuzz/fuzz-gha-json tests/fuzz/corpus-gha-json */
#include "../../common/store-answers.h"
#include "fuzz.h"

#include <stdint.h>

static const struct { const char *name, *alt; } members[] = {
	{ "ok", NULL },
	{ "matched_key", "matchedKey" },
	{ "signed_download_url", "signedDownloadUrl" },
	{ "signed_upload_url", "signedUploadUrl" },
	{ "message", NULL },
	{ "code", NULL },
	{ "msg", NULL },
	{ "entry_id", "entryId" },
};
enum { OK, KEY, DOWNLOAD, UPLOAD, MESSAGE, CODE, MSG, ENTRY, NMEMBERS };

/* Each cache of a REST listing page (gha_rest_caches): strings are C
 * strings no longer than the answer, and there are at most max. */
static int check_cache(void *ctx, const struct gha_rest_cache *c)
{
	size_t *n = ctx;

	FUZZ_CHECK(c->key && c->version);
	FUZZ_CHECK(strlen(c->key) <= n[1] && strlen(c->version) <= n[1]);
	FUZZ_CHECK(++n[0] <= 100);
	return 0;
}

static bool is_url(const struct buf *v)
{
	return !strncmp(v->data, "https://", 8) || !strncmp(v->data, "http://", 7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf body = BUF_INIT, v[NMEMBERS], again = BUF_INIT;
	bool found[NMEMBERS];

	if (buf_add(&body, data, size, NULL))
		abort();
	for (size_t i = 0; i < NMEMBERS; i++) {
		buf_init(&v[i], 64u * 1024);	/* the store's bound on a value */
		found[i] = gha_json_get(&body, members[i].name, members[i].alt, &v[i]);
		if (!found[i])
			continue;
		FUZZ_CHECK(strlen(v[i].data) == v[i].len);
		FUZZ_CHECK(v[i].len <= size);
		buf_init(&again, 64u * 1024);
		FUZZ_CHECK(gha_json_get(&body, members[i].name, members[i].alt, &again));
		FUZZ_CHECK(again.len == v[i].len && !memcmp(again.data, v[i].data, again.len));
		buf_release(&again);
	}
	/* The REST API's listing of caches, read by the same code. */
	size_t n[2] = { 0, size };
	uint64_t total;
	struct cc_err err;
	bool listed = gha_rest_caches(&body, 100, check_cache, n, &total, &err) == CC_OK && n[0];

	/* What the store makes of it, for the seeds' check. */
	if (listed) {
		fuzz_say("result: accepted a listing of %zu caches", n[0]);
	} else if (found[OK] && !strcmp(v[OK].data, "true")) {
		if (found[KEY] && v[KEY].len && found[DOWNLOAD] && is_url(&v[DOWNLOAD]))
			fuzz_say("result: accepted hit of '%s'", v[KEY].data);
		else if (found[UPLOAD] && is_url(&v[UPLOAD]))
			fuzz_say("result: accepted upload URL");
		else if (found[ENTRY])
			fuzz_say("result: accepted finalized entry %s", v[ENTRY].data);
		else
			fuzz_say("result: refused: ok without what a call hands out");
	} else {
		fuzz_say("result: refused: %s%s%s", found[CODE] ? v[CODE].data : "not ok",
			 found[MSG] || found[MESSAGE] ? ": " : "",
			 found[MSG] ? v[MSG].data : found[MESSAGE] ? v[MESSAGE].data : "");
	}
	for (size_t i = 0; i < NMEMBERS; i++)
		buf_release(&v[i]);
	buf_release(&body);
	return 0;
}
