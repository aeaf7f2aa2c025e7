/* test-key.c: cc_key_check accepts printable keys of 1..512 bytes and names
 * the problem otherwise. */
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
	/* Every printable byte except '/' and ','. */
	for (int c = 0x21; c < 0x7f; c++)
		if (c != '/' && c != ',')
			all[n++] = (char)c;
	all[n] = '\0';
	EXPECT_OK(all);
	CHECK_EQ(cc_key_check("k", "key", NULL), CC_OK);
}

static void test_length(void)
{
	char *k = malloc(1000);

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
}

static void test_bad_chars(void)
{
	EXPECT_BAD("a/b", "key", "'/'");
	EXPECT_BAD("/", "key", "'/'");
	EXPECT_BAD("a,b", "restore key", "','");
	EXPECT_BAD("a b", "key", "whitespace");
	EXPECT_BAD(" ", "key", "whitespace");
	EXPECT_BAD("a\tb", "key", "whitespace");
	EXPECT_BAD("ab\n", "key", "whitespace");
	EXPECT_BAD("a\rb", "key", "whitespace");
	EXPECT_BAD("a\x7f", "key", "0x7f");
	EXPECT_BAD("\x01", "key", "0x01");
	EXPECT_BAD("a\x1b[31m", "key", "0x1b");
	EXPECT_BAD("caf\xc3\xa9", "key", "0xc3");
	EXPECT_BAD("\xff", "restore key", "0xff");
	/* The position is 1-based and points at the offending byte. */
	EXPECT_BAD("abc d", "key", "byte 4");
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
	k[511] = ' ';
	EXPECT_BAD(k, "key", "byte 512");
}

int main(void)
{
	RUN(test_ok_keys);
	RUN(test_length);
	RUN(test_bad_chars);
	RUN(test_bad_at_end);
	return test_summary();
}
