/* test-store-answers.c: the readers of the remote stores' answers
 * (store-answers.h): an S3 ListObjectsV2 page, a CreateMultipartUpload
 * answer and an error answer, and the twirp JSON of the GitHub Actions
 * cache service, including what fuzz-s3-xml and fuzz-gha-json found. */
#include "harness.h"
#include "../../common/store-answers.h"

#include <stdlib.h>

struct seen {
	char names[4][128];
	uint64_t sizes[4];
	int64_t mtimes[4];
	size_t n, stop_after;
};

static int each(void *ctx, const struct store_object *o)
{
	struct seen *s = ctx;

	if (s->n < 4) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", o->name);
		s->sizes[s->n] = o->size;
		s->mtimes[s->n] = o->mtime_ns;
	}
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static enum cc_code page(const char *xml, size_t len, const char *prefix, struct seen *s,
			 bool *stopped, bool *truncated, struct buf *token)
{
	struct cc_err err;

	return s3_list_page(xml, len, prefix, each, s, stopped, truncated, token, &err);
}

static void test_s3_list_page(void)
{
	static const char xml[] =
		"<ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>ci/a&amp;b&#x21;</Key><LastModified>2024-01-02T03:04:05.5Z"
		"</LastModified><Size>42</Size></Contents>"
		"<Contents><Key>elsewhere/x</Key><Size>1</Size></Contents>"
		"<Contents><Size>3</Size></Contents>"
		"<Contents><Key>ci/b</Key></Contents></ListBucketResult>";
	struct seen s = { 0 };
	struct buf token = BUF_INIT;
	bool stopped, truncated;

	CHECK_EQ(page(xml, sizeof(xml) - 1, "ci/", &s, &stopped, &truncated, &token), CC_OK);
	CHECK_EQ(s.n, 2);
	CHECK_STR(s.names[0], "a&b!");
	CHECK_EQ(s.sizes[0], 42);
	CHECK_EQ(s.mtimes[0], 1704164645500000000LL);
	CHECK_STR(s.names[1], "b");
	CHECK(!stopped && !truncated && !token.len);

	/* Found by fuzz-s3-xml: a LastModified in the year 3458 overflowed
	 * the nanoseconds; times nanoseconds cannot hold read as 0. */
	{
		static const char far[] =
			"<ListBucketResult>"
			"<Contents><Key>ci/a</Key><LastModified>3458-12-31T00:00:00Z</LastModified>"
			"</Contents><Contents><Key>ci/b</Key><LastModified>1901-01-01T00:00:00Z"
			"</LastModified></Contents><Contents><Key>ci/c</Key><LastModified>"
			"2262-01-01T00:00:00.999999999Z</LastModified></Contents></ListBucketResult>";

		memset(&s, 0, sizeof(s));
		CHECK_EQ(page(far, sizeof(far) - 1, "ci/", &s, &stopped, &truncated, &token), CC_OK);
		CHECK_EQ(s.n, 3);
		CHECK_EQ(s.mtimes[0], 0);
		CHECK_EQ(s.mtimes[1], 0);
		CHECK_EQ(s.mtimes[2], 9214646400999999999LL);
	}

	/* The callback stops the listing. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	CHECK_EQ(page(xml, sizeof(xml) - 1, "", &s, &stopped, &truncated, &token), CC_OK);
	CHECK_EQ(s.n, 1);
	CHECK(stopped);

	/* A page cut anywhere is read within its bounds, and refused: it is
	 * not well-formed XML, and a listing cut short must not pass for a
	 * short listing. */
	for (size_t n = 0; n < sizeof(xml) - 1; n++) {
		char *copy = malloc(n ? n : 1);

		memcpy(copy, xml, n);
		memset(&s, 0, sizeof(s));
		CHECK_EQ(page(copy, n, "ci/", &s, &stopped, &truncated, &token), CC_ESTORE);
		CHECK(s.n <= 2);
		CHECK(!truncated && !token.len);
		free(copy);
	}
	buf_release(&token);
}

static void test_s3_list_token(void)
{
	static const char more[] =
		"<ListBucketResult><NextContinuationToken>1ueG/x+y=</NextContinuationToken>"
		"<IsTruncated>true</IsTruncated><Contents><Key>ci/a</Key></Contents></ListBucketResult>";
	static const char none[] =
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
	/* Found by fuzz-s3-xml: a NUL in the token cut it short.  XML cannot
	 * hold a NUL: the page is refused. */
	static const char nul[] =
		"<ListBucketResult><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>1ueG\0x</NextContinuationToken></ListBucketResult>";
	struct seen s = { 0 };
	struct buf token = BUF_INIT;
	bool stopped, truncated;

	CHECK_EQ(page(more, sizeof(more) - 1, "ci/", &s, &stopped, &truncated, &token), CC_OK);
	CHECK(truncated);
	CHECK_STR(token.data, "1ueG/x+y=");
	CHECK_EQ(page(none, sizeof(none) - 1, "ci/", &s, &stopped, &truncated, &token), CC_OK);
	CHECK(truncated);
	CHECK_EQ(token.len, 0);
	CHECK_EQ(page(nul, sizeof(nul) - 1, "ci/", &s, &stopped, &truncated, &token), CC_ESTORE);
	CHECK(!truncated);
	CHECK_EQ(token.len, 0);
	buf_release(&token);
}

static void test_s3_upload_id(void)
{
	static const char ok[] =
		"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
		"<UploadId>VXBs&amp;b2Fk</UploadId></InitiateMultipartUploadResult>";
	static const char nul[] = "<UploadId>VXBs\0b2Fk</UploadId>";
	struct buf id = BUF_INIT;

	CHECK(s3_upload_id(ok, sizeof(ok) - 1, &id));
	CHECK_STR(id.data, "VXBs&b2Fk");
	CHECK(!s3_upload_id("<UploadId></UploadId>", 21, &id));
	CHECK(!s3_upload_id("<Error><Code>X</Code></Error>", 29, &id));
	CHECK(!s3_upload_id("<UploadId>abc", 13, &id));
	CHECK(!s3_upload_id(nul, sizeof(nul) - 1, &id));
	buf_release(&id);
}

static void test_s3_error_words(void)
{
	static const char xml[] =
		"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>"
		"<Message>The specified bucket\t" "does not exist</Message></Error>";
	/* A control character XML forbids ends the document: what came before it stays. */
	static const char ctl[] =
		"<Error><Code>NoSuchBucket</Code><Message>a\x01" "b</Message></Error>";
	char code[8], msg[384];

	s3_error_words(xml, sizeof(xml) - 1, code, sizeof(code), msg, sizeof(msg));
	CHECK_STR(code, "NoSuchB");	/* cut to fit */
	CHECK_STR(msg, "The specified bucket?does not exist");
	s3_error_words(ctl, sizeof(ctl) - 1, code, sizeof(code), msg, sizeof(msg));
	CHECK_STR(code, "NoSuchB");
	CHECK_STR(msg, "");
	s3_error_words(xml, 40, code, sizeof(code), msg, sizeof(msg));
	CHECK_STR(code, "");	/* no closing tag within len */
	CHECK_STR(msg, "");
}

static bool get(const char *json, const char *name, const char *alt, struct buf *out)
{
	struct buf body = BUF_INIT;
	bool found;

	buf_addstr(&body, json, NULL);
	found = gha_json_get(&body, name, alt, out);
	buf_release(&body);
	return found;
}

static void test_gha_json_get(void)
{
	static const char hit[] =
		"{\"ok\":true,\"extra\":{\"a\":[1,{\"b\":\"}\"}]},"
		"\"signedDownloadUrl\":\"https://h/x?sig=a\\/b\\u0041\",\"matched_key\":\"k\\\"1\"}";
	struct buf v = BUF_INIT;

	CHECK(get(hit, "ok", NULL, &v));
	CHECK_STR(v.data, "true");
	CHECK(get(hit, "signed_download_url", "signedDownloadUrl", &v));
	CHECK_STR(v.data, "https://h/x?sig=a/bA");
	CHECK(get(hit, "matched_key", "matchedKey", &v));
	CHECK_STR(v.data, "k\"1");
	CHECK(!get(hit, "message", NULL, &v));
	CHECK_EQ(v.len, 0);
	CHECK(!get("[\"ok\"]", "ok", NULL, &v));
	CHECK(get("{\"m\":\"\\u00e9\\u20ac\"}", "m", NULL, &v));
	CHECK_STR(v.data, "\xc3\xa9\xe2\x82\xac");
	/* Found by fuzz-gha-json: a \u0000 put a NUL inside a URL (the URL
	 * curl would see ends there), and strtoul took "\u -1f" for a code. */
	CHECK(!get("{\"signed_download_url\":\"https://evil/\\u0000https://blob/x\"}",
		   "signed_download_url", NULL, &v));
	CHECK(!get("{\"m\":\"a\\u -1f\"}", "m", NULL, &v));
	CHECK(!get("{\"m\":\"a\\u+041\"}", "m", NULL, &v));
	CHECK(!get("{\"m\":\"a\\u00\"}", "m", NULL, &v));
	/* Found by fuzz-gha-json: a raw NUL (or any raw control character,
	 * which JSON escapes) inside a string. */
	{
		struct buf body = BUF_INIT;

		buf_add(&body, "{\"u\":\"http://a/\0b\",\"ok\":true}", 29, NULL);
		CHECK(!gha_json_get(&body, "u", NULL, &v));
		CHECK(!gha_json_get(&body, "ok", NULL, &v));
		buf_release(&body);
	}
	CHECK(!get("{\"u\":\"http://a/\r\nb\"}", "u", NULL, &v));
	buf_release(&v);
}

/* What changed when jansson took over the reading (issue 14): the whole
 * answer must be JSON, not only the part up to the member asked for. */
static void test_gha_json_strict(void)
{
	struct buf v = BUF_INIT;
	char deep[128];
	size_t n;

	/* A surrogate pair is one character (it was "??"); a lone one is
	 * refused (it was "?"). */
	CHECK(get("{\"m\":\"\\ud83d\\ude00\"}", "m", NULL, &v));
	CHECK_STR(v.data, "\xf0\x9f\x98\x80");
	CHECK(!get("{\"m\":\"\\ud800\"}", "m", NULL, &v));
	CHECK(!get("{\"m\":\"a\\udc00b\"}", "m", NULL, &v));
	/* A \u0000 or invalid UTF-8 anywhere refuses the whole answer. */
	CHECK(!get("{\"ok\":true,\"x\":\"\\u0000\"}", "ok", NULL, &v));
	CHECK(!get("{\"ok\":true,\"x\":\"\xff\"}", "ok", NULL, &v));
	CHECK(!get("{\"m\":\"\xc3\"}", "m", NULL, &v));
	/* A member named twice (the first one used to win). */
	CHECK(!get("{\"ok\":true,\"ok\":false}", "ok", NULL, &v));
	/* Cut short, or more after the object, past the member asked for. */
	CHECK(!get("{\"ok\":true,", "ok", NULL, &v));
	CHECK(!get("{\"ok\":true} x", "ok", NULL, &v));
	/* name before alt, whatever their order in the answer. */
	CHECK(get("{\"matchedKey\":\"b\",\"matched_key\":\"a\"}", "matched_key", "matchedKey", &v));
	CHECK_STR(v.data, "a");
	/* Scalars are written as JSON writes them; a real, an object or an
	 * array (copied as written before) is not a value the store uses. */
	CHECK(get("{\"n\":-12,\"z\":null,\"f\":false}", "n", NULL, &v));
	CHECK_STR(v.data, "-12");
	CHECK(get("{\"n\":-12,\"z\":null,\"f\":false}", "z", NULL, &v));
	CHECK_STR(v.data, "null");
	CHECK(get("{\"n\":-12,\"z\":null,\"f\":false}", "f", NULL, &v));
	CHECK_STR(v.data, "false");
	CHECK(!get("{\"n\":1.5}", "n", NULL, &v));
	CHECK(!get("{\"n\":{\"a\":1}}", "n", NULL, &v));
	CHECK(!get("{\"n\":[1]}", "n", NULL, &v));
	CHECK(!get("{\"ok\":true,\"n\":99999999999999999999}", "ok", NULL, &v));
	CHECK_EQ(v.len, 0);
	/* 32 levels of objects and arrays, the top object included. */
	n = (size_t)snprintf(deep, sizeof(deep), "{\"ok\":true,\"x\":");
	for (int i = 0; i < 31; i++)
		deep[n++] = '[';
	for (int i = 0; i < 31; i++)
		deep[n++] = ']';
	snprintf(deep + n, sizeof(deep) - n, "}");
	CHECK(get(deep, "ok", NULL, &v));
	n = (size_t)snprintf(deep, sizeof(deep), "{\"ok\":true,\"x\":");
	for (int i = 0; i < 32; i++)
		deep[n++] = '[';
	for (int i = 0; i < 32; i++)
		deep[n++] = ']';
	snprintf(deep + n, sizeof(deep) - n, "}");
	CHECK(!get(deep, "ok", NULL, &v));
	/* A value longer than out's bound is not found. */
	{
		struct buf small = BUF_INIT;

		buf_init(&small, 4);
		CHECK(get("{\"m\":\"abc\"}", "m", NULL, &small));
		CHECK(!get("{\"m\":\"abcdef\"}", "m", NULL, &small));
		CHECK_EQ(small.len, 0);
		buf_release(&small);
	}
	buf_release(&v);
}

struct caches_seen {
	struct buf text;
	int stop_after;
};

static int note_cache(void *ctx, const struct gha_rest_cache *c)
{
	struct caches_seen *cs = ctx;

	buf_addf(&cs->text, NULL, "%llu|%s|%s|%llu|%lld\n", (unsigned long long)c->id, c->key,
		 c->version, (unsigned long long)c->size, (long long)c->created_ns);
	return --cs->stop_after == 0;
}

static enum cc_code caches(const char *json, size_t max, int stop_after, struct buf *ret,
			   uint64_t *ret_total)
{
	struct buf body = BUF_INIT;
	struct caches_seen cs = { BUF_INIT, stop_after };
	struct cc_err err;
	enum cc_code rc;

	buf_addstr(&body, json, NULL);
	rc = gha_rest_caches(&body, max, note_cache, &cs, ret_total, &err);
	buf_reset(ret);
	buf_addstr(ret, cs.text.data, NULL);
	buf_release(&cs.text);
	buf_release(&body);
	return rc;
}

/* The shape docs.github.com gives for "List GitHub Actions caches for a
 * repository", and what a reader must refuse. */
static void test_gha_rest_caches(void)
{
	static const char page[] =
		"{\"total_count\": 2, \"actions_caches\": [\n"
		" {\"id\": 505, \"ref\": \"refs/heads/main\", \"key\": \"cicache/packs/a.pack/0\",\n"
		"  \"version\": \"73885106f58cc52a7df9ec4d4a5622a5614813162cb516c759a30af6bf56e6f0\",\n"
		"  \"last_accessed_at\": \"2019-01-24T22:45:36.000Z\",\n"
		"  \"created_at\": \"2019-01-24T22:45:36.500Z\", \"size_in_bytes\": 1024},\n"
		" {\"size_in_bytes\": 7, \"id\": 506, \"key\": \"k\\u0041\"}]}";
	struct buf v = BUF_INIT;
	uint64_t total = 9;

	CHECK_EQ(caches(page, 100, 0, &v, &total), CC_OK);
	CHECK_EQ(total, 2);
	CHECK_STR(v.data, "505|cicache/packs/a.pack/0|"
		  "73885106f58cc52a7df9ec4d4a5622a5614813162cb516c759a30af6bf56e6f0|1024|"
		  "1548369936500000000\n506|kA||7|0\n");
	/* fn stops the walk. */
	CHECK_EQ(caches(page, 100, 1, &v, &total), CC_OK);
	CHECK_STR(v.data, "505|cicache/packs/a.pack/0|"
		  "73885106f58cc52a7df9ec4d4a5622a5614813162cb516c759a30af6bf56e6f0|1024|"
		  "1548369936500000000\n");
	/* More elements than asked for: refused after the first max. */
	CHECK_EQ(caches(page, 1, 0, &v, &total), CC_ESTORE);
	CHECK_EQ(caches("{\"total_count\":0,\"actions_caches\":[]}", 100, 0, &v, &total), CC_OK);
	CHECK_EQ(v.len, 0);
	CHECK_EQ(total, 0);
	CHECK_EQ(caches("{\"total_count\":0}", 100, 0, &v, &total), CC_ESTORE);
	CHECK_EQ(caches("{\"actions_caches\":{}}", 100, 0, &v, &total), CC_ESTORE);
	CHECK_EQ(caches("{\"actions_caches\":[{\"key\":\"k\"}]}", 100, 0, &v, &total), CC_ESTORE);
	/* A quoted id is read as the number it spells (json_get decodes it). */
	CHECK_EQ(caches("{\"actions_caches\":[{\"id\":\"12\"}]}", 100, 0, &v, &total), CC_OK);
	CHECK_STR(v.data, "12|||0|0\n");
	CHECK_EQ(caches("{\"actions_caches\":[{\"id\":-1}]}", 100, 0, &v, &total), CC_ESTORE);
	CHECK_EQ(caches("{\"actions_caches\":[{\"id\":1e3}]}", 100, 0, &v, &total), CC_ESTORE);
	CHECK_EQ(caches("{\"actions_caches\":[{\"id\":99999999999999999999999}]}", 100, 0, &v,
			&total), CC_ESTORE);
	CHECK_EQ(caches("{\"actions_caches\":[{\"id\":1},]}", 100, 0, &v, &total), CC_ESTORE);
	CHECK_EQ(caches("{\"actions_caches\":[{\"id\":1}", 100, 0, &v, &total), CC_ESTORE);
	CHECK_EQ(caches("{\"actions_caches\":[{\"id\":1} {\"id\":2}]}", 100, 0, &v, &total),
		 CC_ESTORE);
	/* The whole page is read first: a page cut short, or an element
	 * naming its id twice (the first one won before jansson), reports
	 * nothing. */
	CHECK_EQ(caches("{\"actions_caches\":[{\"id\":1},{\"id\":2}", 100, 0, &v, &total),
		 CC_ESTORE);
	CHECK_EQ(v.len, 0);
	CHECK_EQ(caches("{\"actions_caches\":[{\"id\":1},{\"id\":2,\"id\":3}]}", 100, 0, &v,
			&total), CC_ESTORE);
	CHECK_EQ(v.len, 0);
	/* Elements that are not objects have no id. */
	CHECK_EQ(caches("{\"actions_caches\":[7]}", 100, 0, &v, &total), CC_ESTORE);
	buf_release(&v);
}

int main(void)
{
	RUN(test_s3_list_page);
	RUN(test_s3_list_token);
	RUN(test_s3_upload_id);
	RUN(test_s3_error_words);
	RUN(test_gha_json_get);
	RUN(test_gha_json_strict);
	RUN(test_gha_rest_caches);
	return test_summary();
}
