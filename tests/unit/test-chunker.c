/* test-chunker.c: content-defined chunking.  Boundaries must not depend on
 * how the stream is fed, must respect min/max, and must survive edits:
 * inserting or deleting bytes changes only the chunks around the edit. */
#include "harness.h"
#include "../../common/chunker.h"
#include "../../common/hash.h"

#include <stdlib.h>

#define BIG (8u << 20)

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned char *random_data(size_t len, uint64_t seed)
{
	unsigned char *p = malloc(len);

	rng_state = seed;
	/* Byte by byte, so the data does not depend on the host's byte order. */
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rnd();

		for (size_t j = 0; j < 8 && i + j < len; j++)
			p[i + j] = (unsigned char)(v >> (8 * j));
	}
	return p;
}

struct cuts {
	size_t *end;		/* chunk end offsets; the last is len */
	size_t n;
};

/* Splits data into chunks, feeding pieces of 1..maxfeed bytes (maxfeed 0:
 * everything at once).  The last chunk ends at len even without a cut. */
static void chunk_all(const struct chunker *proto, const unsigned char *data, size_t len,
		      size_t maxfeed, uint64_t seed, struct cuts *ret)
{
	struct chunker c = *proto;
	size_t pos = 0, alloc = 1024;

	rng_state = seed;
	ret->n = 0;
	ret->end = malloc(alloc * sizeof(*ret->end));
	while (pos < len) {
		size_t feed = maxfeed ? 1 + (size_t)(rnd() % maxfeed) : len - pos;
		size_t left;

		if (feed > len - pos)
			feed = len - pos;
		left = feed;
		while (left) {
			bool cut;
			size_t k = chunker_scan(&c, data + pos, left, &cut);

			if (k > left || (!cut && k != left)) {
				printf("#   chunker_scan consumed %zu of %zu (cut %d)\n", k, left, cut);
				harness_cur_failed = 1;
				return;
			}
			pos += k;
			left -= k;
			if (cut) {
				if (ret->n == alloc) {
					alloc *= 2;
					ret->end = realloc(ret->end, alloc * sizeof(*ret->end));
				}
				ret->end[ret->n++] = pos;
			}
		}
	}
	if (!ret->n || ret->end[ret->n - 1] != len) {
		if (ret->n == alloc)
			ret->end = realloc(ret->end, ++alloc * sizeof(*ret->end));
		ret->end[ret->n++] = len;
	}
}

static bool cuts_equal(const struct cuts *a, const struct cuts *b)
{
	if (a->n != b->n) {
		printf("#   %zu chunks vs %zu\n", a->n, b->n);
		return false;
	}
	for (size_t i = 0; i < a->n; i++)
		if (a->end[i] != b->end[i]) {
			printf("#   chunk %zu ends at %zu vs %zu\n", i, a->end[i], b->end[i]);
			return false;
		}
	return true;
}

static struct chunker default_chunker(void)
{
	struct chunker c;

	if (!chunker_init(&c, CHUNK_MIN_DEFAULT, CHUNK_AVG_DEFAULT, CHUNK_MAX_DEFAULT))
		abort();
	return c;
}

/* Checks min <= size <= max for every chunk but the last (<= max). */
static void check_bounds(const struct cuts *k, size_t min, size_t max, int line)
{
	size_t prev = 0;

	for (size_t i = 0; i < k->n; i++) {
		size_t sz = k->end[i] - prev;

		if (sz > max || sz == 0 || (i + 1 < k->n && sz < min)) {
			printf("#   line %d: chunk %zu of %zu has %zu bytes (min %zu, max %zu)\n",
			       line, i, k->n, sz, min, max);
			harness_cur_failed = 1;
			return;
		}
		prev = k->end[i];
	}
}

static void test_init_params(void)
{
	struct chunker c;

	CHECK(chunker_init(&c, CHUNK_MIN_DEFAULT, CHUNK_AVG_DEFAULT, CHUNK_MAX_DEFAULT));
	CHECK_EQ(c.min, CHUNK_MIN_DEFAULT);
	CHECK_EQ(c.avg, CHUNK_AVG_DEFAULT);
	CHECK_EQ(c.max, CHUNK_MAX_DEFAULT);
	CHECK_EQ(c.pos, 0);
	CHECK(chunker_init(&c, 64, 128, 256));
	CHECK(chunker_init(&c, 1u << 20, 2u << 20, CHUNK_MAX_LIMIT));
	/* avg not a power of two, or zero */
	CHECK(!chunker_init(&c, 8192, 30000, 131072));
	CHECK(!chunker_init(&c, 8192, 0, 131072));
	CHECK(!chunker_init(&c, 8192, 32769, 131072));
	/* ordering */
	CHECK(!chunker_init(&c, 32768, 32768, 131072));
	CHECK(!chunker_init(&c, 65536, 32768, 131072));
	CHECK(!chunker_init(&c, 8192, 32768, 32768));
	CHECK(!chunker_init(&c, 8192, 32768, 16384));
	/* bounds */
	CHECK(!chunker_init(&c, 8192, 32768, CHUNK_MAX_LIMIT + 1));
	CHECK(!chunker_init(&c, 8192, 32768, SIZE_MAX));
	CHECK(!chunker_init(&c, 0, 32768, 131072));
	CHECK(!chunker_init(&c, 63, 128, 256));
	CHECK(!chunker_init(&c, 1, 2, 4));
}

static void test_empty_scan(void)
{
	struct chunker c = default_chunker();
	bool cut = true;

	CHECK_EQ(chunker_scan(&c, "", 0, &cut), 0);
	CHECK(!cut);
	CHECK_EQ(c.pos, 0);
}

static void test_split_invariance(void)
{
	unsigned char *d = random_data(BIG, 1);
	struct chunker proto = default_chunker();
	struct cuts whole, split;
	static const size_t feeds[] = { 1 << 20, 65536, 4096, 100, 7 };

	chunk_all(&proto, d, BIG, 0, 0, &whole);
	CHECK(whole.n > 100);
	for (size_t i = 0; i < sizeof(feeds) / sizeof(*feeds); i++) {
		/* Byte-sized feeds on the whole 8 MiB take long: use 1 MiB. */
		size_t len = feeds[i] < 100 ? (1u << 20) : BIG;
		struct cuts ref;

		if (len == BIG) {
			ref = whole;
		} else {
			chunk_all(&proto, d, len, 0, 0, &ref);
		}
		chunk_all(&proto, d, len, feeds[i], 1000 + i, &split);
		if (!cuts_equal(&ref, &split)) {
			printf("#   feeds of up to %zu bytes differ\n", feeds[i]);
			harness_cur_failed = 1;
		}
		if (len != BIG)
			free(ref.end);
		free(split.end);
	}
	/* Exactly-one-byte feeds over the first 256 KiB. */
	{
		struct cuts ref;

		chunk_all(&proto, d, 256u << 10, 0, 0, &ref);
		chunk_all(&proto, d, 256u << 10, 1, 0, &split);
		CHECK(cuts_equal(&ref, &split));
		free(ref.end);
		free(split.end);
	}
	free(whole.end);
	free(d);
}

static void test_bounds_random(void)
{
	unsigned char *d = random_data(BIG, 2);
	struct chunker proto = default_chunker();
	struct cuts k;
	size_t at_max = 0, prev = 0;

	chunk_all(&proto, d, BIG, 0, 0, &k);
	check_bounds(&k, CHUNK_MIN_DEFAULT, CHUNK_MAX_DEFAULT, __LINE__);
	for (size_t i = 0; i < k.n; i++) {
		if (k.end[i] - prev == CHUNK_MAX_DEFAULT)
			at_max++;
		prev = k.end[i];
	}
	/* On random data, forced cuts at max are rare. */
	CHECK(at_max * 100 < k.n);
	free(k.end);

	/* Other parameters, including the smallest allowed. */
	{
		static const size_t p[][3] = {
			{ 64, 128, 256 }, { 256, 1024, 4096 }, { 1000, 4096, 5000 },
			{ 16u << 10, 64u << 10, 1u << 20 },
		};

		for (size_t i = 0; i < sizeof(p) / sizeof(*p); i++) {
			struct chunker c;
			struct cuts k2;

			CHECK(chunker_init(&c, p[i][0], p[i][1], p[i][2]));
			chunk_all(&c, d, 2u << 20, 0, 0, &k);
			check_bounds(&k, p[i][0], p[i][2], __LINE__);
			chunk_all(&c, d, 2u << 20, 3000, 77, &k2);
			CHECK(cuts_equal(&k, &k2));
			free(k.end);
			free(k2.end);
		}
	}
	free(d);
}

/* Data without any content-defined boundary is cut at max, every time. */
static void test_bounds_constant(void)
{
	unsigned char *d = calloc(1, BIG);
	struct chunker proto = default_chunker();
	struct cuts k, k2;
	size_t bad = 0, prev = 0;

	chunk_all(&proto, d, BIG, 0, 0, &k);
	CHECK_EQ(k.n, BIG / CHUNK_MAX_DEFAULT);
	for (size_t i = 0; i < k.n; i++) {
		if (k.end[i] - prev != CHUNK_MAX_DEFAULT)
			bad++;
		prev = k.end[i];
	}
	CHECK_EQ(bad, 0);
	chunk_all(&proto, d, BIG, 50000, 5, &k2);
	CHECK(cuts_equal(&k, &k2));
	free(k.end);
	free(k2.end);

	/* Same for a run of one other byte value, and a short period. */
	memset(d, 0xff, BIG);
	chunk_all(&proto, d, 1u << 20, 0, 0, &k);
	check_bounds(&k, CHUNK_MIN_DEFAULT, CHUNK_MAX_DEFAULT, __LINE__);
	free(k.end);
	for (size_t i = 0; i < BIG; i++)
		d[i] = (unsigned char)(i % 3);
	chunk_all(&proto, d, 1u << 20, 0, 0, &k);
	check_bounds(&k, CHUNK_MIN_DEFAULT, CHUNK_MAX_DEFAULT, __LINE__);
	free(k.end);
	free(d);
}

static void test_average(void)
{
	unsigned char *d = random_data(BIG, 3);
	struct chunker proto = default_chunker();
	struct cuts k;
	double mean;

	chunk_all(&proto, d, BIG, 0, 0, &k);
	mean = (double)BIG / (double)k.n;
	printf("# %zu chunks, mean %.0f bytes\n", k.n, mean);
	CHECK(mean > CHUNK_AVG_DEFAULT * 0.6);
	CHECK(mean < CHUNK_AVG_DEFAULT * 1.6);
	free(k.end);
	free(d);
}

/* ---- stability under edits ---- */

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, CC_ID_LEN);
}

/* Sorted ids of the chunks of data. */
static struct cc_id *chunk_ids(const unsigned char *data, size_t len, size_t *ret_n)
{
	struct chunker proto = default_chunker();
	struct cuts k;
	struct cc_id *ids;
	size_t prev = 0;

	chunk_all(&proto, data, len, 0, 0, &k);
	ids = malloc(k.n * sizeof(*ids));
	for (size_t i = 0; i < k.n; i++) {
		cc_id_of(&ids[i], data + prev, k.end[i] - prev);
		prev = k.end[i];
	}
	qsort(ids, k.n, sizeof(*ids), cmp_id);
	*ret_n = k.n;
	free(k.end);
	return ids;
}

/* @return how many of b's chunks are not among a's. */
static size_t new_chunks(const struct cc_id *a, size_t na, const struct cc_id *b, size_t nb)
{
	size_t fresh = 0;

	for (size_t i = 0; i < nb; i++)
		if (!bsearch(&b[i], a, na, sizeof(*a), cmp_id))
			fresh++;
	return fresh;
}

/* Applies edits (offset, bytes deleted, bytes inserted), highest offset
 * first, and checks how many chunks changed. */
struct edit {
	size_t off, del, ins;
};

static void check_edits(const unsigned char *orig, const struct cc_id *ids, size_t nids,
			const struct edit *ed, size_t ned, size_t max_fresh, int line)
{
	unsigned char *d = malloc(BIG + 4096);
	size_t len = BIG, n, fresh;
	struct cc_id *ids2;

	memcpy(d, orig, BIG);
	for (size_t i = 0; i < ned; i++) {
		memmove(d + ed[i].off + ed[i].ins, d + ed[i].off + ed[i].del,
			len - ed[i].off - ed[i].del);
		for (size_t j = 0; j < ed[i].ins; j++)
			d[ed[i].off + j] = (unsigned char)(0x5a ^ j);
		len = len - ed[i].del + ed[i].ins;
	}
	ids2 = chunk_ids(d, len, &n);
	fresh = new_chunks(ids, nids, ids2, n);
	if (fresh > max_fresh || fresh == 0) {
		printf("#   line %d: %zu of %zu chunks changed (expected 1..%zu)\n", line, fresh,
		       n, max_fresh);
		harness_cur_failed = 1;
	}
	/* The other way round: old chunks lost. */
	fresh = new_chunks(ids2, n, ids, nids);
	if (fresh > max_fresh) {
		printf("#   line %d: %zu of %zu old chunks lost\n", line, fresh, nids);
		harness_cur_failed = 1;
	}
	free(ids2);
	free(d);
}

static void test_stability(void)
{
	unsigned char *d = random_data(BIG, 4);
	size_t n;
	struct cc_id *ids = chunk_ids(d, BIG, &n);

	{
		struct edit e[] = { { BIG / 2, 0, 5 } };

		check_edits(d, ids, n, e, 1, 3, __LINE__);
	}
	{
		struct edit e[] = { { BIG / 2 + 12345, 0, 1 } };

		check_edits(d, ids, n, e, 1, 3, __LINE__);
	}
	{
		struct edit e[] = { { BIG / 3, 17, 0 } };

		check_edits(d, ids, n, e, 1, 3, __LINE__);
	}
	{
		struct edit e[] = { { 100, 0, 4000 } };	/* near the start */

		check_edits(d, ids, n, e, 1, 3, __LINE__);
	}
	{
		struct edit e[] = { { BIG - 5000, 1000, 0 } };	/* near the end */

		check_edits(d, ids, n, e, 1, 3, __LINE__);
	}
	{
		/* Three edits far apart, highest offset first. */
		struct edit e[] = { { 7u << 20, 0, 3 }, { 4u << 20, 64, 0 }, { 1u << 20, 9, 9 } };

		check_edits(d, ids, n, e, 3, 9, __LINE__);
	}
	free(ids);
	free(d);
}

/* Each chunk's boundaries depend only on its content: chunking a suffix
 * that starts at an old boundary reproduces the old boundaries. */
static void test_resync_at_boundary(void)
{
	unsigned char *d = random_data(BIG, 5);
	struct chunker proto = default_chunker();
	struct cuts k, k2;
	size_t start, i0 = 10, bad = 0;

	chunk_all(&proto, d, BIG, 0, 0, &k);
	start = k.end[i0 - 1];
	chunk_all(&proto, d + start, BIG - start, 0, 0, &k2);
	CHECK_EQ(k2.n, k.n - i0);
	for (size_t i = 0; i < k2.n && i0 + i < k.n; i++)
		if (k2.end[i] + start != k.end[i0 + i])
			bad++;
	CHECK_EQ(bad, 0);
	free(k.end);
	free(k2.end);
	free(d);
}

/* The boundaries are part of the store format (docs/format.md): a change
 * of gear table or masks changes every chunk id.  This pins them. */
static void test_format_pinned(void)
{
	unsigned char *d = random_data(BIG, 6);
	struct chunker proto = default_chunker();
	struct cuts k;
	uint64_t h;

	chunk_all(&proto, d, BIG, 0, 0, &k);
	{
		XXH3_state_t *st = XXH3_createState();

		XXH3_64bits_reset(st);
		for (size_t i = 0; i < k.n; i++) {
			unsigned char le[8];

			for (int j = 0; j < 8; j++)
				le[j] = (unsigned char)((uint64_t)k.end[i] >> (8 * j));
			XXH3_64bits_update(st, le, 8);
		}
		h = XXH3_64bits_digest(st);
		XXH3_freeState(st);
	}
	printf("# %zu chunks, first ends at %zu, digest %016llx\n", k.n, k.end[0],
	       (unsigned long long)h);
	CHECK_EQ(k.n, 225);
	CHECK_EQ(k.end[0], 34400);
	CHECK_EQ(h, 0xa0c16116dc737010ULL);
	free(k.end);
	free(d);
}

int main(void)
{
	RUN(test_init_params);
	RUN(test_empty_scan);
	RUN(test_split_invariance);
	RUN(test_bounds_random);
	RUN(test_bounds_constant);
	RUN(test_average);
	RUN(test_stability);
	RUN(test_resync_at_boundary);
	RUN(test_format_pinned);
	return test_summary();
}
