/* test-store-spans.c: store_get_spans, the coalescing and scatter that
 * every remote backend's get_ranges goes through: which ranges merge into
 * one span (same object, no gap, in the order given, at most span_max),
 * that a span of one range reads straight into its dst, that merged spans
 * are scattered back, and that a failing fetch fails the whole read. */
#include "harness.h"
#include "../../common/store.h"

#include <stdlib.h>

#define MAXSP 64

/* What the fake backend saw. */
static struct store_span seen[MAXSP];
static size_t nseen, ncalls;
static enum cc_code fail_with;

/* The byte at off of object name: different for "a" and "b". */
static unsigned char byte_at(const char *name, uint64_t off)
{
	return (unsigned char)(off * 7 + (unsigned char)name[0] * 13);
}

static enum cc_code fake_fetch(struct store *s, const struct store_span *sp, size_t n,
			       struct cc_err *err)
{
	ncalls++;
	for (size_t k = 0; k < n; k++) {
		if (nseen < MAXSP)
			seen[nseen++] = sp[k];
		if (!fail_with)
			for (size_t i = 0; i < sp[k].len; i++)
				((unsigned char *)sp[k].dst)[i] = byte_at(sp[k].name, sp[k].off + i);
	}
	if (fail_with)
		return cc_err_set(err, fail_with, 0, "object '%s' is missing from the store",
				  sp[0].name);
	return CC_OK;
}

struct rq {
	const char *name;
	uint64_t off;
	size_t len;
};

/* Reads the ranges q through store_get_spans into fresh buffers (filled
 * with 0xee first).  @return the result; *ret_bufs gets the buffers. */
static enum cc_code run(const struct rq *q, size_t n, size_t span_max, unsigned char ***ret_bufs,
			struct store_range *r, const volatile int *cancel)
{
	struct store s = { .jobs = 4 };
	unsigned char **bufs = calloc(n ? n : 1, sizeof(*bufs));
	struct cc_err err;
	enum cc_code rc;

	nseen = ncalls = 0;
	for (size_t i = 0; i < n; i++) {
		bufs[i] = malloc(q[i].len ? q[i].len : 1);
		memset(bufs[i], 0xee, q[i].len);
		r[i] = (struct store_range){ q[i].name, q[i].off, q[i].len, bufs[i], cancel };
	}
	cc_err_clear(&err);
	rc = store_get_spans(&s, r, n, span_max, fake_fetch, &err);
	if (rc)
		CHECK(strstr(err.msg, "missing") != NULL);
	*ret_bufs = bufs;
	return rc;
}

static void free_bufs(unsigned char **bufs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	free(bufs);
}

/* Every dst holds its range's bytes. */
static bool data_ok(const struct rq *q, size_t n, unsigned char **bufs)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < q[i].len; j++)
			if (bufs[i][j] != byte_at(q[i].name, q[i].off + j))
				return false;
	return true;
}

static void test_adjacent_merge(void)
{
	const struct rq q[] = { { "a", 0, 10 }, { "a", 10, 5 }, { "a", 15, 7 } };
	struct store_range r[3];
	unsigned char **bufs;

	CHECK_EQ(run(q, 3, 1 << 20, &bufs, r, NULL), CC_OK);
	CHECK_EQ(ncalls, 1);
	CHECK_EQ(nseen, 1);
	CHECK_STR(seen[0].name, "a");
	CHECK_EQ(seen[0].off, 0);
	CHECK_EQ(seen[0].len, 22);
	/* merged: read into a buffer of its own, then scattered */
	CHECK(seen[0].dst != r[0].dst);
	CHECK(data_ok(q, 3, bufs));
	free_bufs(bufs, 3);
}

static void test_gap_object_order(void)
{
	/* a gap of one byte; another object at the next offset; a range
	 * before the previous one; then a run of two again */
	const struct rq q[] = { { "a", 0, 10 }, { "a", 11, 5 }, { "b", 16, 4 },
				{ "b", 0, 16 }, { "b", 16, 4 }, { "b", 20, 1 } };
	struct store_range r[6];
	unsigned char **bufs;

	CHECK_EQ(run(q, 6, 1 << 20, &bufs, r, NULL), CC_OK);
	CHECK_EQ(nseen, 4);
	CHECK_EQ(seen[0].len, 10);
	CHECK_EQ(seen[1].off, 11);
	CHECK_STR(seen[2].name, "b");
	CHECK_EQ(seen[2].off, 16);
	CHECK_EQ(seen[3].off, 0);
	CHECK_EQ(seen[3].len, 21);
	/* a span of one range reads straight into its dst */
	CHECK(seen[0].dst == r[0].dst);
	CHECK(seen[1].dst == r[1].dst);
	CHECK(seen[2].dst == r[2].dst);
	CHECK(seen[3].dst != r[3].dst);
	CHECK(data_ok(q, 6, bufs));
	free_bufs(bufs, 6);
}

static void test_span_max(void)
{
	/* 10 + 6 = 16 fits span_max 16; the next byte starts a new span;
	 * a range longer than span_max is a span of its own */
	const struct rq q[] = { { "a", 0, 10 }, { "a", 10, 6 }, { "a", 16, 1 }, { "a", 17, 40 },
				{ "a", 57, 3 } };
	struct store_range r[5];
	unsigned char **bufs;

	CHECK_EQ(run(q, 5, 16, &bufs, r, NULL), CC_OK);
	CHECK_EQ(nseen, 4);
	CHECK_EQ(seen[0].len, 16);
	CHECK_EQ(seen[1].off, 16);
	CHECK_EQ(seen[1].len, 1);
	CHECK_EQ(seen[2].len, 40);
	CHECK(seen[2].dst == r[3].dst);
	CHECK_EQ(seen[3].off, 57);
	CHECK(data_ok(q, 5, bufs));
	free_bufs(bufs, 5);
}

static void test_cancel_and_empty(void)
{
	const struct rq q[] = { { "a", 0, 3 }, { "a", 3, 3 } };
	static volatile int stop;
	struct store_range r[2];
	unsigned char **bufs;

	CHECK_EQ(run(q, 2, 1 << 20, &bufs, r, &stop), CC_OK);
	CHECK(seen[0].cancel == &stop);
	free_bufs(bufs, 2);
	CHECK_EQ(run(q, 0, 1 << 20, &bufs, r, NULL), CC_OK);
	CHECK_EQ(ncalls, 0);
	free_bufs(bufs, 0);
}

static void test_failure(void)
{
	const struct rq q[] = { { "a", 0, 4 }, { "a", 4, 4 } };
	struct store_range r[2];
	unsigned char **bufs;

	fail_with = CC_ECORRUPT;
	CHECK_EQ(run(q, 2, 1 << 20, &bufs, r, NULL), CC_ECORRUPT);
	fail_with = CC_OK;
	CHECK_EQ(ncalls, 1);
	/* nothing scattered from a failed read */
	CHECK_EQ(bufs[0][0], 0xee);
	CHECK_EQ(bufs[1][3], 0xee);
	free_bufs(bufs, 2);
}

/* Random batches against a model written the other way round: a range
 * starts a new span unless it continues the previous one. */
static void test_random_model(void)
{
	static const char *names[] = { "a", "b" };
	unsigned seed = 14;

	for (int round = 0; round < 200; round++) {
		struct rq q[24];
		struct store_range r[24];
		struct store_span want[24];
		size_t n = 1 + (size_t)(rand_r(&seed) % 24), nw = 0, span_max = 8 + rand_r(&seed) % 40;
		unsigned char **bufs;
		uint64_t off = 0;

		for (size_t i = 0; i < n; i++) {
			q[i].name = names[rand_r(&seed) % 4 == 0];
			if (rand_r(&seed) % 3 == 0)
				off += rand_r(&seed) % 3;	/* a gap, maybe */
			q[i].off = off;
			q[i].len = 1 + rand_r(&seed) % 12;
			off += q[i].len;
			if (nw && !strcmp(want[nw - 1].name, q[i].name) &&
			    want[nw - 1].off + want[nw - 1].len == q[i].off &&
			    want[nw - 1].len + q[i].len <= span_max)
				want[nw - 1].len += q[i].len;
			else
				want[nw++] = (struct store_span){ q[i].name, q[i].off, q[i].len, NULL, NULL };
		}
		CHECK_EQ(run(q, n, span_max, &bufs, r, NULL), CC_OK);
		CHECK_EQ(nseen, nw);
		for (size_t k = 0; k < nw && k < nseen; k++) {
			CHECK_STR(seen[k].name, want[k].name);
			CHECK_EQ(seen[k].off, want[k].off);
			CHECK_EQ(seen[k].len, want[k].len);
		}
		CHECK(data_ok(q, n, bufs));
		free_bufs(bufs, n);
		if (harness_cur_failed)
			break;
	}
}

int main(void)
{
	RUN(test_adjacent_merge);
	RUN(test_gap_object_order);
	RUN(test_span_max);
	RUN(test_cancel_and_empty);
	RUN(test_failure);
	RUN(test_random_model);
	return test_summary();
}
