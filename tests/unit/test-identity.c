/* test-identity.c: the path-list identity (cc_identity) and entry names
 * (store_entry_name, store_entry_parse) of docs/format.md, section 1. */
#include "harness.h"
#include "../../common/identity.h"
#include "../../common/store.h"

#include <string.h>

static void ident(const char *const *p, size_t n, char out[17])
{
	CHECK_EQ(cc_identity(p, n, out, NULL), CC_OK);
	CHECK_EQ(strlen(out), 16);
	CHECK(cc_identity_valid(out, 16));
}

static void test_identity(void)
{
	const char *ab[] = { "a", "b" }, *ba[] = { "b", "a" }, *cat[] = { "ab" };
	const char *dot[] = { "./a", "b" }, *e[] = { "" };
	char x[17], y[17];

	/* XXH3-64 (seed 0) of no bytes, xxHash's published value. */
	ident(NULL, 0, x);
	CHECK_STR(x, "2d06800538d394c2");
	ident(ab, 2, x);
	ident(ab, 2, y);
	CHECK_STR(x, y);
	ident(ba, 2, y);
	CHECK(strcmp(x, y));	/* order matters */
	ident(cat, 1, y);
	CHECK(strcmp(x, y));	/* NUL after each pattern: no run-together */
	ident(dot, 2, y);
	CHECK(strcmp(x, y));	/* spelling matters */
	ident(e, 1, y);
	ident(NULL, 0, x);
	CHECK(strcmp(x, y));	/* one empty pattern is not no pattern */
}

static void test_names(void)
{
	struct buf name = BUF_INIT, key = BUF_INIT;
	char v[17];

	CHECK_EQ(store_entry_name(&name, "npm-1", "0123456789abcdef", NULL), CC_OK);
	CHECK_STR(name.data, "keys/npm-1,@0123456789abcdef");
	CHECK(store_entry_parse(name.data, &key, v));
	CHECK_STR(key.data, "npm-1");
	CHECK_STR(v, "0123456789abcdef");
	CHECK_EQ(store_entry_name(&name, "npm-1", NULL, NULL), CC_OK);
	CHECK_STR(name.data, "keys/npm-1");
	CHECK(store_entry_parse(name.data, &key, v));	/* legacy */
	CHECK_STR(key.data, "npm-1");
	CHECK_STR(v, "");
	/* Not entries of valid keys: ignored. */
	CHECK(!store_entry_parse("packs/x.pack", &key, v));
	CHECK(!store_entry_parse("keys/", &key, v));
	CHECK(!store_entry_parse("keys/,@0123456789abcdef", &key, v));
	CHECK(!store_entry_parse("keys/a,@0123456789ABCDEF", &key, v));
	CHECK(!store_entry_parse("keys/a,@0123456789abcde", &key, v));
	CHECK(!store_entry_parse("keys/a,@0123456789abcdef0", &key, v));
	CHECK(!store_entry_parse("keys/a\n,@0123456789abcdef", &key, v));
	CHECK_STR(v, "");
	buf_release(&name);
	buf_release(&key);
}

int main(void)
{
	RUN(test_identity);
	RUN(test_names);
	return test_summary();
}
