/* test-glob.c: component matching (minimatch's rules with dot:true,
 * noext, nobrace) and the decision for a path under a pattern list (the
 * last pattern matching it or an ancestor decides).  t0172 holds whole
 * trees to @actions/glob itself. */
#include "harness.h"
#include "../../common/glob.h"

#include <stdbool.h>

#define CWD "/w"
#define HOME "/home/u"

static void test_names(void)
{
	static const struct { const char *pat, *name; bool m; } t[] = {
		{ "*", "a", true }, { "*", ".hidden", true }, { "*.txt", "a.txt", true },
		{ "*.txt", "a.txt.bak", false }, { "a*b*c", "aXbYbc", true }, { "a*b", "a", false },
		{ "?", "a", true }, { "?", "ab", false }, { "?", "\xc3\xa9", true },	/* one UTF-8 char */
		{ "??", "\xc3\xa9", false },
		{ "[ab]*", "apple", true }, { "[ab]*", "cherry", false },
		{ "[!ab]*", "cherry", true }, { "[!ab]*", "apple", false }, { "[^ab]x", "cx", true },
		{ "[a-c]", "b", true }, { "[a-c]", "d", false }, { "[]x]", "]", true },
		{ "[[:digit:]]*", "9.md", true }, { "[[:digit:]]*", "a9", false },
		{ "[[:upper:][:digit:]]", "Q", true },
		{ "[", "[", true }, { "a[b", "a[b", true },	/* no closing ]: literal */
		{ "\\*", "*", true }, { "\\*", "a", false }, { "q\\?", "q?", true }, { "q\\?", "qa", false },
		{ "{a,b}", "a", false }, { "{a,b}", "{a,b}", true },	/* no braces */
		{ "+(a)", "a", false }, { "#x", "#x", true },		/* no extglob, no comment */
		{ "A*", "a", false },					/* case-sensitive */
		{ "**", "anything", true },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (glob_match_name(t[i].pat, t[i].name) != t[i].m) {
			printf("#   '%s' vs '%s': expected %d\n", t[i].pat, t[i].name, t[i].m);
			harness_cur_failed = 1;
		}
}

/* in: 1 included, 0 not; a path ending in '/' is a directory. */
static void check(const char *const *pats, size_t n, const char *path, bool in, int line)
{
	struct glob g;
	struct cc_err err;
	char abs[256];
	size_t len = strlen(path);
	bool dir = len && path[len - 1] == '/';

	if (glob_init(&g, pats, n, CWD, HOME, &err)) {
		printf("#   line %d: %s\n", line, err.msg);
		harness_cur_failed = 1;
		return;
	}
	snprintf(abs, sizeof(abs), "%.*s", (int)(dir ? len - 1 : len), path);
	if (glob_included(&g, abs, dir) != in) {
		printf("#   line %d: '%s': expected %s\n", line, path, in ? "included" : "excluded");
		harness_cur_failed = 1;
	}
	glob_release(&g);
}
#define CHECK_IN(pats, path, in) check(pats, sizeof(pats) / sizeof(pats[0]), path, in, __LINE__)

static void test_decisions(void)
{
	static const char *const nm[] = { "**/node_modules", "!**/node_modules/.cache" };
	static const char *const re[] = { "a", "!a/b", "a/b/c" };
	static const char *const home[] = { "~/.cargo/registry/index/" };
	static const char *const dironly[] = { "**/x/" };
	static const char *const star2[] = { "a/**" };
	static const char *const trim[] = { "  ! ! docs  " };
	static const char *const dots[] = { "./a/../b" };

	CHECK_IN(nm, "/w/node_modules/", true);
	CHECK_IN(nm, "/w/node_modules/a/b.js", true);	/* implicit descendants */
	CHECK_IN(nm, "/w/p/node_modules/c", true);
	CHECK_IN(nm, "/w/node_modules/.cache/", false);
	CHECK_IN(nm, "/w/node_modules/.cache/deep/f", false);	/* the exclusion's descendants */
	CHECK_IN(nm, "/w/node_modules/x/.cache/f", true);
	CHECK_IN(nm, "/w/src/f", false);
	CHECK_IN(nm, "/elsewhere/node_modules/", false);	/* relative to the cwd */
	CHECK_IN(re, "/w/a/f", true);
	CHECK_IN(re, "/w/a/b/f", false);
	CHECK_IN(re, "/w/a/b/c/f", true);			/* re-included */
	CHECK_IN(home, "/home/u/.cargo/registry/index/", true);
	CHECK_IN(home, "/home/u/.cargo/registry/index/x/y", true);
	CHECK_IN(home, "/home/u/.cargo/registry/index", false);	/* a file: `/` wants a directory */
	CHECK_IN(dironly, "/w/q/x/", true);
	CHECK_IN(dironly, "/w/q/x", false);
	CHECK_IN(dironly, "/w/q/x/f", true);
	CHECK_IN(star2, "/w/a/", true);				/* `**` matches nothing too */
	CHECK_IN(star2, "/w/a/b/c", true);
	CHECK_IN(trim, "/w/docs/", true);			/* two `!` cancel out */
	CHECK_IN(dots, "/w/b/", true);
	CHECK_IN(dots, "/w/a/", false);
}

static void test_below(void)
{
	static const char *const nm[] = { "**/node_modules", "!**/node_modules/.cache" };
	static const char *const re[] = { "**/node_modules", "!**/node_modules/.cache", "**/keep" };
	static const char *const re2[] = { "a", "!a/b", "a/b/c/*.txt" };
	struct glob g;
	struct cc_err err;

	/* the decider matches all below: an earlier pattern cannot come back */
	CHECK_EQ(glob_init(&g, nm, 2, CWD, HOME, &err), CC_OK);
	CHECK(!glob_may_include_below(&g, "/w/node_modules/.cache"));
	glob_release(&g);
	CHECK_EQ(glob_init(&g, re, 3, CWD, HOME, &err), CC_OK);
	CHECK(glob_may_include_below(&g, "/w/node_modules/.cache"));
	glob_release(&g);
	CHECK_EQ(glob_init(&g, re2, 3, CWD, HOME, &err), CC_OK);
	CHECK(glob_may_include_below(&g, "/w/a/b"));
	CHECK(!glob_may_include_below(&g, "/w/a/b/d"));
	CHECK(!glob_included(&g, "/w/a/b/c", true));
	CHECK(glob_included(&g, "/w/a/b/c/x.txt", false));
	CHECK(!glob_included(&g, "/w/a/b/c/x.md", false));
	glob_release(&g);
}

static void test_bad(void)
{
	static const char *const bad[] = { "", "  ", "!", "a/*/../b", "*/./x" };
	struct glob g;
	struct cc_err err;
	const char *tilde[] = { "~/x" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(glob_init(&g, &bad[i], 1, CWD, HOME, &err), CC_EUSAGE);
		CHECK(err.msg[0]);
	}
	CHECK_EQ(glob_init(&g, tilde, 1, CWD, NULL, &err), CC_EUSAGE);
	CHECK_EQ(glob_init(&g, tilde, 1, CWD, HOME, &err), CC_OK);
	CHECK_STR(g.pats[0].base_arg, "~/x");
	CHECK_STR(g.pats[0].base_abs, "/home/u/x");
	glob_release(&g);
}

int main(void)
{
	RUN(test_names);
	RUN(test_decisions);
	RUN(test_below);
	RUN(test_bad);
	return test_summary();
}
