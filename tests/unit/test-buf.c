/* test-buf.c: struct buf invariants, its hard maximum, buf_detach, and the
 * varint helpers of util.h. */
#include "harness.h"
#include "../../common/buf.h"
#include "../../common/util.h"

#include <stdlib.h>

/* Checks the strbuf invariants on b. */
static int buf_ok(const struct buf *b)
{
	return b->data != NULL && b->data[b->len] == '\0' &&
	       (b->alloc == 0 ? b->len == 0 : b->len < b->alloc);
}

static void test_init_empty(void)
{
	struct buf b = BUF_INIT, c;

	CHECK(buf_ok(&b));
	CHECK_EQ(b.len, 0);
	CHECK_STR(b.data, "");
	buf_init(&c, 100);
	CHECK(buf_ok(&c));
	CHECK_EQ(c.max, 100);
	CHECK_STR(c.data, "");
	/* Setting the length of a never-grown buffer must not write to the
	 * shared empty storage. */
	buf_reset(&c);
	CHECK(buf_ok(&c));
	CHECK_EQ(buf_empty[0], 0);
	buf_release(&b);
	buf_release(&c);
	CHECK(buf_ok(&b));
	CHECK_EQ(c.max, 100);
}

static void test_add_grow(void)
{
	struct buf b = BUF_INIT;
	struct cc_err err = { 0 };
	char expect[10001];

	for (int i = 0; i < 10000; i++) {
		char ch = (char)('a' + i % 26);

		CHECK_EQ(buf_add(&b, &ch, 1, &err), CC_OK);
		expect[i] = ch;
		if (!buf_ok(&b)) {
			CHECK(buf_ok(&b));
			break;
		}
	}
	expect[10000] = '\0';
	CHECK_EQ(b.len, 10000);
	CHECK_STR(b.data, expect);
	/* Zero-length adds keep the invariants, even from NULL. */
	CHECK_EQ(buf_add(&b, NULL, 0, &err), CC_OK);
	CHECK_EQ(b.len, 10000);
	CHECK(buf_ok(&b));
	buf_setlen(&b, 3);
	CHECK_STR(b.data, "abc");
	CHECK(buf_ok(&b));
	CHECK_EQ(buf_addstr(&b, "def", &err), CC_OK);
	CHECK_STR(b.data, "abcdef");
	CHECK_EQ(buf_addf(&b, &err, "-%d-%s", 42, "x"), CC_OK);
	CHECK_STR(b.data, "abcdef-42-x");
	CHECK_EQ(b.len, strlen("abcdef-42-x"));
	buf_reset(&b);
	CHECK_STR(b.data, "");
	CHECK_EQ(b.len, 0);
	buf_release(&b);
	CHECK(b.data == buf_empty);
	CHECK_EQ(b.alloc, 0);
}

static void test_addf_long(void)
{
	struct buf b = BUF_INIT;
	struct cc_err err = { 0 };
	char big[5000];

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(buf_addf(&b, &err, "<%s>", big), CC_OK);
	CHECK_EQ(b.len, sizeof(big) + 1);
	CHECK_EQ(b.data[0], '<');
	CHECK_EQ(b.data[b.len - 1], '>');
	CHECK(buf_ok(&b));
	buf_release(&b);
}

/* Embedded NULs are data, not terminators. */
static void test_binary(void)
{
	struct buf b = BUF_INIT;
	struct cc_err err = { 0 };

	CHECK_EQ(buf_add(&b, "a\0b", 3, &err), CC_OK);
	CHECK_EQ(b.len, 3);
	CHECK(!memcmp(b.data, "a\0b", 4));
	buf_release(&b);
}

static void test_max_bound(void)
{
	struct buf b;
	struct cc_err err = { 0 };

	buf_init(&b, 10);
	CHECK_EQ(buf_add(&b, "0123456789", 10, &err), CC_OK);
	CHECK_EQ(b.len, 10);
	CHECK(b.alloc <= 11);
	cc_err_clear(&err);
	CHECK_EQ(buf_add(&b, "x", 1, &err), CC_ENOMEM);
	CHECK_EQ(err.code, CC_ENOMEM);
	CHECK(err.msg[0] != '\0');
	/* The failed add leaves the content alone. */
	CHECK_EQ(b.len, 10);
	CHECK_STR(b.data, "0123456789");
	CHECK_EQ(buf_addf(&b, &err, "%d", 7), CC_ENOMEM);
	CHECK_STR(b.data, "0123456789");
	buf_reset(&b);
	CHECK_EQ(buf_addstr(&b, "abc", &err), CC_OK);
	/* An enormous extra must not wrap the arithmetic. */
	CHECK_EQ(buf_grow(&b, SIZE_MAX, &err), CC_ENOMEM);
	CHECK_EQ(buf_grow(&b, SIZE_MAX - 1, &err), CC_ENOMEM);
	CHECK_EQ(buf_grow(&b, 8, &err), CC_ENOMEM);
	CHECK_EQ(buf_grow(&b, 7, &err), CC_OK);
	buf_release(&b);
	CHECK_EQ(b.max, 10);
	/* Fresh buffer, single add above the bound. */
	CHECK_EQ(buf_add(&b, "01234567890", 11, &err), CC_ENOMEM);
	CHECK(buf_ok(&b));
	CHECK_EQ(b.len, 0);
	buf_release(&b);

	/* Unbounded buffers still refuse sizes that would overflow. */
	buf_init(&b, 0);
	CHECK_EQ(buf_grow(&b, SIZE_MAX, &err), CC_ENOMEM);
	CHECK_EQ(buf_grow(&b, SIZE_MAX / 2 + 1, &err), CC_ENOMEM);
	CHECK(buf_ok(&b));
	buf_release(&b);
}

static void test_detach(void)
{
	struct buf b = BUF_INIT;
	struct cc_err err = { 0 };
	size_t len = 99;
	char *p;

	/* Detaching an empty buffer still hands out malloc'd memory. */
	p = buf_detach(&b, &len);
	CHECK(p != NULL);
	CHECK(p != buf_empty);
	CHECK_EQ(len, 0);
	if (p)
		CHECK_STR(p, "");
	free(p);
	CHECK(buf_ok(&b));

	buf_init(&b, 64);
	CHECK_EQ(buf_addstr(&b, "hello", &err), CC_OK);
	p = buf_detach(&b, &len);
	CHECK_STR(p, "hello");
	CHECK_EQ(len, 5);
	CHECK(b.data == buf_empty);
	CHECK_EQ(b.len, 0);
	CHECK_EQ(b.alloc, 0);
	CHECK_EQ(b.max, 64);
	CHECK(buf_ok(&b));
	/* The buffer is reusable and independent of the detached storage. */
	CHECK_EQ(buf_addstr(&b, "world", &err), CC_OK);
	CHECK_STR(p, "hello");
	CHECK_STR(b.data, "world");
	free(p);
	p = buf_detach(&b, NULL);
	CHECK_STR(p, "world");
	free(p);
	buf_release(&b);
}

static const uint64_t varint_values[] = {
	0, 1, 0x7f, 0x80, 0xff, 0x3fff, 0x4000, 300, 0xffffffffULL, 0x100000000ULL,
	(1ULL << 56) - 1, 1ULL << 56, (1ULL << 63) - 1, 1ULL << 63, UINT64_MAX - 1,
	UINT64_MAX,
};

static size_t varint_expected_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void test_varint_roundtrip(void)
{
	for (size_t i = 0; i < sizeof(varint_values) / sizeof(*varint_values); i++) {
		unsigned char b[16];
		const unsigned char *p = b;
		uint64_t v = varint_values[i], got = 12345;
		size_t n = varint_put(b, v);

		CHECK_EQ(n, varint_expected_len(v));
		CHECK(n <= 10);
		CHECK(varint_get(&p, b + n, &got));
		CHECK_EQ(got, v);
		CHECK(p == b + n);
		/* Every strict prefix is truncated. */
		for (size_t k = 0; k < n; k++) {
			const unsigned char *q = b;

			if (varint_get(&q, b + k, &got)) {
				printf("#   value %" PRIu64 " accepted with %zu of %zu bytes\n",
				       v, k, n);
				CHECK(0);
			}
			CHECK(q == b);
		}
	}
	/* Pseudo-random values, several in a row in one buffer. */
	{
		unsigned char b[10 * 1000];
		uint64_t x = 88172645463325252ULL, vals[1000];
		size_t n = 0;
		const unsigned char *p = b;
		int bad = 0;

		for (int i = 0; i < 1000; i++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			vals[i] = x >> (x % 64);
			n += varint_put(b + n, vals[i]);
		}
		for (int i = 0; i < 1000; i++) {
			uint64_t v;

			if (!varint_get(&p, b + n, &v) || v != vals[i])
				bad++;
		}
		CHECK_EQ(bad, 0);
		CHECK(p == b + n);
	}
	CHECK_EQ(varint_put((unsigned char[10]){ 0 }, UINT64_MAX), 10);
}

static void test_varint_reject(void)
{
	uint64_t v = 77;
	const unsigned char *p;

	/* Empty input. */
	{
		unsigned char b[1] = { 0 };

		p = b;
		CHECK(!varint_get(&p, b, &v));
		CHECK(p == b);
	}
	/* Continuation bit on the last byte available. */
	{
		unsigned char b[] = { 0x80, 0x80, 0x80 };

		p = b;
		CHECK(!varint_get(&p, b + 3, &v));
		CHECK(p == b);
	}
	/* Ten bytes whose last one carries more than the 64th bit. */
	{
		unsigned char b[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };

		p = b;
		CHECK(!varint_get(&p, b + sizeof(b), &v));
		CHECK(p == b);
		b[9] = 0x7f;
		CHECK(!varint_get(&p, b + sizeof(b), &v));
		/* 0x01 there is UINT64_MAX, the largest legal value. */
		b[9] = 0x01;
		CHECK(varint_get(&p, b + sizeof(b), &v));
		CHECK_EQ(v, UINT64_MAX);
	}
	/* Eleven bytes: more than any 64-bit value needs. */
	{
		unsigned char b[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
				      0x80, 0x00 };

		p = b;
		CHECK(!varint_get(&p, b + sizeof(b), &v));
		CHECK(p == b);
	}
	/* Ten bytes, 10th with the continuation bit set: would need 11. */
	{
		unsigned char b[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				      0x81, 0x00 };

		p = b;
		CHECK(!varint_get(&p, b + sizeof(b), &v));
		CHECK(p == b);
	}
	CHECK_EQ(v, UINT64_MAX);	/* untouched by the failures above */
}

static void test_le_helpers(void)
{
	unsigned char b[8];

	put_le32(b, 0x01020304);
	CHECK_EQ(b[0], 4);
	CHECK_EQ(b[3], 1);
	CHECK_EQ(get_le32(b), 0x01020304);
	put_le64(b, 0x0102030405060708ULL);
	CHECK_EQ(b[0], 8);
	CHECK_EQ(b[7], 1);
	CHECK_EQ(get_le64(b), 0x0102030405060708ULL);
	put_le64(b, UINT64_MAX);
	CHECK_EQ(get_le64(b), UINT64_MAX);
}

static void test_overflow_helpers(void)
{
	uint64_t r;
	size_t s;

	CHECK(!add_overflow_u64(1, 2, &r));
	CHECK_EQ(r, 3);
	CHECK(add_overflow_u64(UINT64_MAX, 1, &r));
	CHECK(!add_overflow_u64(UINT64_MAX - 1, 1, &r));
	CHECK_EQ(r, UINT64_MAX);
	CHECK(!mul_overflow_size(1000, 1000, &s));
	CHECK_EQ(s, 1000000);
	CHECK(mul_overflow_size(SIZE_MAX / 2 + 1, 2, &s));
}

int main(void)
{
	RUN(test_init_empty);
	RUN(test_add_grow);
	RUN(test_addf_long);
	RUN(test_binary);
	RUN(test_max_bound);
	RUN(test_detach);
	RUN(test_varint_roundtrip);
	RUN(test_varint_reject);
	RUN(test_le_helpers);
	RUN(test_overflow_helpers);
	return test_summary();
}
