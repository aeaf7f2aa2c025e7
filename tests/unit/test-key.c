/* test-key.c: cc_key_check accepts what actions/cache accepts (1..512
 * UTF-16 code units of valid UTF-8, no ',' and no control characters) and
 * names the problem otherwise; cc_key_encode / cc_key_decode are the
 * reversible, prefix-preserving encoding of keys in object names. */
#include "harness.h"
#include "../../common/key.h"

#include <stdlib.h>

/* Checks that key is rejected with CC_EUSAGE, a message mentioning what,
 * and (if not NULL) containing needle. */
static void expect_bad(const char *key, const char *what, const char *needle, int line)
{
	struct cc_err err;
	enum cc_code rc;

	cc_err_clear(&err);
	rc = cc_key_check(key, what, &err);
	if (rc != CC_EUSAGE || err.code != CC_EUSAGE) {
		printf("#   line %d: key of %zu bytes: rc %d, err.code %d, expected CC_EUSAGE\n",
		       line, strlen(key), rc, err.code);
		harness_cur_failed = 1;
		return;
	}
	if (!strstr(err.msg, what) || (needle && !strstr(err.msg, needle))) {
		printf("#   line %d: message '%s' does not name '%s' / '%s'\n", line, err.msg,
		       what, needle ? needle : "");
		harness_cur_failed = 1;
	}
	/* Style: lowercase start, no trailing period. */
	if (err.msg[0] < 'a' || err.msg[0] > 'z' || err.msg[strlen(err.msg) - 1] == '.') {
		printf("#   line %d: message '%s' breaks the message style\n", line, err.msg);
		harness_cur_failed = 1;
	}
}
#define EXPECT_BAD(key, what, needle) expect_bad(key, what, needle, __LINE__)

static void expect_ok(const char *key, int line)
{
	struct cc_err err;
	enum cc_code rc;

	cc_err_clear(&err);
	rc = cc_key_check(key, "key", &err);
	if (rc != CC_OK) {
		printf("#   line %d: key '%s' rejected: %s\n", line, key, err.msg);
		harness_cur_failed = 1;
	}
}
#define EXPECT_OK(key) expect_ok(key, __LINE__)

/* n copies of the UTF-8 sequence s, malloc'd. */
static char *rep(const char *s, size_t n)
{
	size_t l = strlen(s);
	char *r = malloc(l * n + 1);

	for (size_t i = 0; i < n; i++)
		memcpy(r + i * l, s, l);
	r[l * n] = '\0';
	return r;
}

static void test_ok_keys(void)
{
	char all[128];
	size_t n = 0;

	EXPECT_OK("a");
	EXPECT_OK("node-modules-linux-x64-3f2a9c");
	EXPECT_OK("v1_deps.lock=abc;def:ghi");
	EXPECT_OK("~!@#$%^&*()[]{}<>?|\\'\"`+=");
	EXPECT_OK(".hidden");
	EXPECT_OK("..");
	EXPECT_OK("-");
	/* What actions/cache users write. */
	EXPECT_OK("feature/login");
	EXPECT_OK("/");
	EXPECT_OK("/leading/slash/");
	EXPECT_OK(" ");
	EXPECT_OK("Linux node 20 refs/heads/main");
	EXPECT_OK("C:\\Users\\runner");
	EXPECT_OK("50% + 1 ? #2");
	/* UTF-8 of 2, 3 and 4 bytes; U+00A0 is the first after the C1 block. */
	EXPECT_OK("caf\xc3\xa9");
	EXPECT_OK("\xc2\xa0");
	EXPECT_OK("\xe6\x97\xa5\xe6\x9c\xac");
	EXPECT_OK("\xf0\x9f\x98\x80");
	EXPECT_OK("\xf4\x8f\xbf\xbf");	/* U+10FFFF */
	EXPECT_OK("\xef\xbf\xbf");	/* U+FFFF */
	EXPECT_OK("\xed\x9f\xbf");	/* U+D7FF, just below the surrogates */
	/* Every printable ASCII byte except ','. */
	for (int c = 0x20; c < 0x7f; c++)
		if (c != ',')
			all[n++] = (char)c;
	all[n] = '\0';
	EXPECT_OK(all);
	CHECK_EQ(cc_key_check("k", "key", NULL), CC_OK);
}

static void test_length(void)
{
	char *k = malloc(1000);
	char *u;

	memset(k, 'k', 1000);
	k[512] = '\0';
	EXPECT_OK(k);
	k[512] = 'k';
	k[513] = '\0';
	EXPECT_BAD(k, "key", "513");
	k[513] = 'k';
	k[999] = '\0';
	EXPECT_BAD(k, "restore key", "999");
	EXPECT_BAD("", "key", "empty");
	EXPECT_BAD("", "restore key", "empty");
	/* A NULL err is allowed and still gets the code. */
	CHECK_EQ(cc_key_check("", "key", NULL), CC_EUSAGE);
	free(k);

	/* Characters, not bytes: 512 two-byte and 512 three-byte ones. */
	u = rep("\xc3\xa9", 512);
	EXPECT_OK(u);
	CHECK_EQ(cc_key_length(u, strlen(u)), 512);
	free(u);
	u = rep("\xe6\x97\xa5", 512);
	EXPECT_OK(u);
	free(u);
	u = rep("\xe6\x97\xa5", 513);
	EXPECT_BAD(u, "key", "513 characters");
	free(u);
	/* A character >= U+10000 is two UTF-16 code units, as in JavaScript. */
	u = rep("\xf0\x9f\x98\x80", 256);
	CHECK_EQ(cc_key_length(u, strlen(u)), 512);
	EXPECT_OK(u);
	free(u);
	u = rep("\xf0\x9f\x98\x80", 257);
	EXPECT_BAD(u, "key", "514");
	free(u);
	k = malloc(600);
	memset(k, 'a', 511);
	strcpy(k + 511, "\xf0\x9f\x98\x80");
	EXPECT_BAD(k, "key", "513");
	strcpy(k + 511, "\xc3\xa9");
	EXPECT_OK(k);
	free(k);
}

static void test_bad_chars(void)
{
	EXPECT_BAD("a,b", "restore key", "','");
	EXPECT_BAD(",", "key", "byte 1");
	EXPECT_BAD("a\tb", "key", "0x09");
	EXPECT_BAD("ab\n", "key", "0x0a");
	EXPECT_BAD("a\rb", "key", "control");
	EXPECT_BAD("a\x7f", "key", "0x7f");
	EXPECT_BAD("\x01", "key", "0x01");
	EXPECT_BAD("a\x1b[31m", "key", "0x1b");
	/* C1 controls U+0080..U+009F. */
	EXPECT_BAD("a\xc2\x80", "key", "U+0080");
	EXPECT_BAD("\xc2\x85", "key", "U+0085");
	EXPECT_BAD("x\xc2\x9f", "restore key", "U+009F");
	/* Invalid UTF-8: a lone continuation byte, a truncated sequence,
	 * bytes never in UTF-8, overlong forms, surrogates, > U+10FFFF. */
	EXPECT_BAD("a\x80", "key", "UTF-8");
	EXPECT_BAD("caf\xc3", "key", "byte 4");
	EXPECT_BAD("\xe6\x97", "key", "UTF-8");
	EXPECT_BAD("\xe6\x97x", "key", "UTF-8");
	EXPECT_BAD("\xff", "restore key", "0xff");
	EXPECT_BAD("\xc0\xaf", "key", "UTF-8");
	EXPECT_BAD("\xc1\xbf", "key", "UTF-8");
	EXPECT_BAD("\xe0\x80\xaf", "key", "UTF-8");
	EXPECT_BAD("\xf0\x80\x80\xaf", "key", "UTF-8");
	EXPECT_BAD("\xed\xa0\x80", "key", "UTF-8");
	EXPECT_BAD("\xed\xbf\xbf", "key", "UTF-8");
	EXPECT_BAD("\xf4\x90\x80\x80", "key", "UTF-8");
	EXPECT_BAD("\xf5\x80\x80\x80", "key", "UTF-8");
	/* The position is 1-based and points at the offending byte. */
	EXPECT_BAD("abc\x01", "key", "byte 4");
	CHECK_EQ(cc_key_check("a\x80", "key", NULL), CC_EUSAGE);
}

/* A long key with a bad byte at the end is still rejected, and the message
 * stays within its slot. */
static void test_bad_at_end(void)
{
	char k[513];
	struct cc_err err;

	memset(k, 'x', 511);
	k[511] = ',';
	k[512] = '\0';
	cc_err_clear(&err);
	CHECK_EQ(cc_key_check(k, "key", &err), CC_EUSAGE);
	CHECK(strlen(err.msg) < sizeof(err.msg));
	k[511] = '\n';
	EXPECT_BAD(k, "key", "byte 512");
}

static void check_encode(const char *key, const char *want, int line)
{
	struct buf b = BUF_INIT, d = BUF_INIT;

	buf_addstr(&b, "keys/", NULL);
	if (cc_key_encode(&b, key, NULL) || strcmp(b.data + 5, want)) {
		printf("#   line %d: E('%s') = '%s', expected '%s'\n", line, key, b.data + 5, want);
		harness_cur_failed = 1;
	}
	if (!cc_key_decode(b.data + 5, b.len - 5, &d) || strcmp(d.data, key)) {
		printf("#   line %d: decoding '%s' gave '%s', expected '%s'\n", line, b.data + 5,
		       d.data, key);
		harness_cur_failed = 1;
	}
	buf_release(&b);
	buf_release(&d);
}
#define CHECK_ENCODE(key, want) check_encode(key, want, __LINE__)

static void test_encode(void)
{
	CHECK_ENCODE("npm-linux-3f2a", "npm-linux-3f2a");
	CHECK_ENCODE("feature/login", "feature,2Flogin");
	CHECK_ENCODE("/", ",2F");
	CHECK_ENCODE(" a b ", ",20a,20b,20");
	CHECK_ENCODE("//", ",2F,2F");
	CHECK_ENCODE("C:\\x 50%+?#", "C:\\x,2050%+?#");
	CHECK_ENCODE(".hidden", ".hidden");
	CHECK_ENCODE("caf\xc3\xa9 \xf0\x9f\x98\x80/\xe6\x97\xa5",
		     "caf\xc3\xa9,20\xf0\x9f\x98\x80,2F\xe6\x97\xa5");
	/* Every printable ASCII byte but ',', space and '/' is copied. */
	{
		char all[128];
		size_t n = 0;

		for (int c = 0x21; c < 0x7f; c++)
			if (c != ',' && c != '/')
				all[n++] = (char)c;
		all[n] = '\0';
		CHECK_ENCODE(all, all);
	}
}

/* Round trips of every key of one or two characters out of a set that
 * covers the escapes, ASCII, 2-, 3- and 4-byte UTF-8. */
static void test_round_trip(void)
{
	static const char *const ch[] = { " ", "/", "a", "F", "2", ".", ":", "%", "~",
		"\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80" };
	size_t nch = sizeof(ch) / sizeof(ch[0]);
	struct buf e = BUF_INIT, d = BUF_INIT;
	char key[16];
	int bad = 0;

	for (size_t i = 0; i < nch; i++)
		for (size_t j = 0; j <= nch; j++) {
			snprintf(key, sizeof(key), "%s%s", ch[i], j < nch ? ch[j] : "");
			buf_reset(&e);
			if (cc_key_encode(&e, key, NULL) || !cc_key_decode(e.data, e.len, &d) ||
			    strcmp(d.data, key) || strchr(e.data, ' ') || strchr(e.data, '/'))
				bad++;
		}
	CHECK_EQ(bad, 0);
	buf_release(&e);
	buf_release(&d);
}

static void expect_no_decode(const char *s, size_t len, int line)
{
	struct buf d = BUF_INIT;

	if (cc_key_decode(s, len, &d)) {
		printf("#   line %d: '%.*s' decoded to '%s'\n", line, (int)len, s, d.data);
		harness_cur_failed = 1;
	}
	buf_release(&d);
}
#define NO_DECODE(s) expect_no_decode(s, strlen(s), __LINE__)

/* Only the canonical encoding of a valid key decodes: every other name is
 * someone else's object (or hostile) and is ignored. */
static void test_canonical_only(void)
{
	char *k;
	struct buf e = BUF_INIT;

	NO_DECODE("");
	NO_DECODE("a b");		/* bare space */
	NO_DECODE("a/b");		/* bare slash */
	NO_DECODE("a,2f");		/* lowercase hex */
	NO_DECODE("a,41");		/* 'A' needs no escape */
	NO_DECODE(",2C");		/* ',' is no key character */
	NO_DECODE(",0A");		/* nor a newline */
	NO_DECODE(",00");
	NO_DECODE("a,2");
	NO_DECODE("a,");
	NO_DECODE(",");
	NO_DECODE(",,2F");
	NO_DECODE("a,G0");
	NO_DECODE("a\nb");
	NO_DECODE("a\x7f");
	NO_DECODE("\xc2\x85");
	NO_DECODE("caf\xc3");
	NO_DECODE("\xed\xa0\x80");
	expect_no_decode("a\0b", 3, __LINE__);
	/* Too long once decoded: 513 characters. */
	k = rep("a", 513);
	NO_DECODE(k);
	free(k);
	/* 512 characters of which 100 are escaped: 712 bytes, decodes. */
	k = rep("a", 512);
	memset(k, '/', 100);
	cc_key_encode(&e, k, NULL);
	CHECK_EQ(e.len, 712);
	{
		struct buf d = BUF_INIT;

		CHECK(cc_key_decode(e.data, e.len, &d));
		CHECK_STR(d.data, k);
		buf_release(&d);
	}
	buf_release(&e);
	free(k);
}

/* E is per byte: the encoding of every prefix of a key is a prefix of the
 * key's encoding, so a restore key is one list call. */
static void test_prefix(void)
{
	const char *key = "a b/c\xc3\xa9/ \xf0\x9f\x98\x80 x:y/";
	struct buf whole = BUF_INIT, part = BUF_INIT;
	char pfx[64];
	int bad = 0;

	cc_key_encode(&whole, key, NULL);
	for (size_t i = 0; i <= strlen(key); i++) {
		memcpy(pfx, key, i);
		pfx[i] = '\0';
		buf_reset(&part);
		if (cc_key_encode(&part, pfx, NULL) || part.len > whole.len ||
		    memcmp(part.data, whole.data, part.len))
			bad++;
	}
	CHECK_EQ(bad, 0);
	buf_reset(&part);
	cc_key_encode(&part, "feature/", NULL);
	CHECK_STR(part.data, "feature,2F");
	buf_release(&whole);
	buf_release(&part);
}

int main(void)
{
	RUN(test_ok_keys);
	RUN(test_length);
	RUN(test_bad_chars);
	RUN(test_bad_at_end);
	RUN(test_encode);
	RUN(test_round_trip);
	RUN(test_canonical_only);
	RUN(test_prefix);
	return test_summary();
}
