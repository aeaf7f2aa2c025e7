/* test-pathspec.c: cc_path_record (user argument -> recorded spec + path to
 * read) and cc_path_resolve (recorded spec from the store -> destination,
 * contained or not). */
#include "harness.h"
#include "../../common/pathspec.h"

#include <stdbool.h>
#include <stdlib.h>

#define CWD "/work/proj"
#define HOME "/home/u"

struct rec_case {
	const char *arg, *cwd, *home;
	const char *spec, *abs;		/* spec NULL: expect CC_EUSAGE */
};

static void check_record(const struct rec_case *t, int idx)
{
	struct buf spec = BUF_INIT, abs = BUF_INIT;
	struct cc_err err;
	enum cc_code rc;

	cc_err_clear(&err);
	rc = cc_path_record(t->arg, t->cwd, t->home, &spec, &abs, &err);
	if (!t->spec) {
		if (rc != CC_EUSAGE || !err.msg[0]) {
			printf("#   record #%d '%s' (cwd '%s', home '%s'): rc %d, expected CC_EUSAGE\n",
			       idx, t->arg, t->cwd, t->home ? t->home : "(null)", rc);
			harness_cur_failed = 1;
		}
	} else if (rc != CC_OK || strcmp(spec.data, t->spec) || strcmp(abs.data, t->abs)) {
		printf("#   record #%d '%s' (cwd '%s', home '%s'): rc %d spec '%s' abs '%s', "
		       "expected spec '%s' abs '%s'%s%s\n",
		       idx, t->arg, t->cwd, t->home ? t->home : "(null)", rc, spec.data,
		       abs.data, t->spec, t->abs, rc ? ": " : "", rc ? err.msg : "");
		harness_cur_failed = 1;
	}
	buf_release(&spec);
	buf_release(&abs);
}

static const struct rec_case record_cases[] = {
	/* home */
	{ "~", CWD, HOME, "~", "/home/u" },
	{ "~/", CWD, HOME, "~", "/home/u" },
	{ "~/x", CWD, HOME, "~/x", "/home/u/x" },
	{ "~/x/", CWD, HOME, "~/x", "/home/u/x" },
	{ "~/x/../y", CWD, HOME, "~/y", "/home/u/y" },
	{ "~/./x//y/.", CWD, HOME, "~/x/y", "/home/u/x/y" },
	{ "~/.cache/pip", CWD, HOME, "~/.cache/pip", "/home/u/.cache/pip" },
	{ "~/x/..", CWD, HOME, "~", "/home/u" },
	{ "~/..", CWD, HOME, "/home", "/home" },
	{ "~/../u2/x", CWD, HOME, "/home/u2/x", "/home/u2/x" },
	{ "~/../u/x", CWD, HOME, "~/x", "/home/u/x" },
	{ "~/../../../..", CWD, HOME, "/", "/" },
	{ "~", CWD, "/home/u/", "~", "/home/u" },
	{ "~/x", CWD, "/home/u//", "~/x", "/home/u/x" },
	{ "~/x", CWD, "/home/v/../u", "~/x", "/home/u/x" },
	{ "~", CWD, NULL, NULL, NULL },
	{ "~/x", CWD, NULL, NULL, NULL },
	{ "~/x", CWD, "", NULL, NULL },
	{ "~/x", CWD, "home/u", NULL, NULL },
	/* absolute */
	{ "/home/u", CWD, HOME, "~", "/home/u" },
	{ "/home/u/", CWD, HOME, "~", "/home/u" },
	{ "/home/u/.cache/x", CWD, HOME, "~/.cache/x", "/home/u/.cache/x" },
	{ "/home/u/../u/x", CWD, HOME, "~/x", "/home/u/x" },
	{ "/home//u/./x", CWD, HOME, "~/x", "/home/u/x" },
	{ "/home/user2/x", CWD, HOME, "/home/user2/x", "/home/user2/x" },
	{ "/home/u2", CWD, HOME, "/home/u2", "/home/u2" },
	{ "/home", CWD, HOME, "/home", "/home" },
	{ "/etc/x", CWD, HOME, "/etc/x", "/etc/x" },
	{ "/etc//x/./", CWD, HOME, "/etc/x", "/etc/x" },
	{ "/", CWD, HOME, "/", "/" },
	{ "//", CWD, HOME, "/", "/" },
	{ "/..", CWD, HOME, "/", "/" },
	{ "/../etc", CWD, HOME, "/etc", "/etc" },
	{ "/a/b/../../..", CWD, HOME, "/", "/" },
	{ "/a/../../b/../c", CWD, HOME, "/c", "/c" },
	{ "/.../x", CWD, HOME, "/.../x", "/.../x" },
	{ "/..x/y", CWD, HOME, "/..x/y", "/..x/y" },
	{ "/home/u/x", CWD, NULL, "/home/u/x", "/home/u/x" },
	{ "/work/proj/x", CWD, HOME, "/work/proj/x", "/work/proj/x" },
	/* HOME=/ does not turn every absolute path into "~/..." */
	{ "/etc/x", CWD, "/", "/etc/x", "/etc/x" },
	{ "/etc/x", CWD, "//", "/etc/x", "/etc/x" },
	/* relative */
	{ "x", CWD, HOME, "x", "/work/proj/x" },
	{ "./a//b/", CWD, HOME, "a/b", "/work/proj/a/b" },
	{ ".", CWD, HOME, ".", "/work/proj" },
	{ "./", CWD, HOME, ".", "/work/proj" },
	{ "a/..", CWD, HOME, ".", "/work/proj" },
	{ "a/./b/../c", CWD, HOME, "a/c", "/work/proj/a/c" },
	{ "..", CWD, HOME, "..", "/work" },
	{ "../x", CWD, HOME, "../x", "/work/x" },
	{ "../../x", CWD, HOME, "../../x", "/x" },
	{ "../../../x", CWD, HOME, "../../../x", "/x" },
	{ "a/../../x", CWD, HOME, "../x", "/work/x" },
	{ "../a/../b", CWD, HOME, "../b", "/work/b" },
	{ "../a/../../b", CWD, HOME, "../../b", "/b" },
	{ "./../x/", CWD, HOME, "../x", "/work/x" },
	{ "...", CWD, HOME, "...", "/work/proj/..." },
	{ "..a/b", CWD, HOME, "..a/b", "/work/proj/..a/b" },
	{ ".hidden/x", CWD, HOME, ".hidden/x", "/work/proj/.hidden/x" },
	{ "~user", CWD, HOME, "~user", "/work/proj/~user" },
	{ "~x/y", CWD, HOME, "~x/y", "/work/proj/~x/y" },
	{ "a b/c\nd", CWD, HOME, "a b/c\nd", "/work/proj/a b/c\nd" },
	{ "x", "/work/proj/", HOME, "x", "/work/proj/x" },
	{ "x", "/", HOME, "x", "/x" },
	{ "../x", "/", HOME, "../x", "/x" },
	/* relative stays relative even when cwd is under home */
	{ "x", "/home/u/proj", HOME, "x", "/home/u/proj/x" },
	{ "../y", "/home/u/proj", HOME, "../y", "/home/u/y" },
	{ "", CWD, HOME, NULL, NULL },
};

static void test_record_table(void)
{
	for (size_t i = 0; i < sizeof(record_cases) / sizeof(*record_cases); i++)
		check_record(&record_cases[i], (int)i);
}

struct res_case {
	const char *spec, *cwd, *home;
	const char *abs;	/* NULL: expect CC_EUSAGE */
	bool contained;
};

static void check_resolve(const struct res_case *t, int idx)
{
	struct buf abs = BUF_INIT;
	struct cc_err err;
	bool contained = !t->contained;
	enum cc_code rc;

	cc_err_clear(&err);
	rc = cc_path_resolve(t->spec, t->cwd, t->home, &abs, &contained, &err);
	if (!t->abs) {
		if (rc != CC_EUSAGE || contained) {
			printf("#   resolve #%d '%s': rc %d contained %d, expected CC_EUSAGE, 0\n",
			       idx, t->spec, rc, contained);
			harness_cur_failed = 1;
		}
	} else if (rc != CC_OK || strcmp(abs.data, t->abs) || contained != t->contained) {
		printf("#   resolve #%d '%s' (cwd '%s', home '%s'): rc %d abs '%s' contained %d, "
		       "expected '%s' contained %d\n",
		       idx, t->spec, t->cwd, t->home ? t->home : "(null)", rc, abs.data,
		       contained, t->abs, t->contained);
		harness_cur_failed = 1;
	}
	buf_release(&abs);
}

static const struct res_case resolve_cases[] = {
	{ "~", CWD, HOME, "/home/u", true },
	{ "~/x", CWD, HOME, "/home/u/x", true },
	{ "~/x/", CWD, HOME, "/home/u/x", true },
	{ "~/x/../y", CWD, HOME, "/home/u/y", true },
	{ "~/x/..", CWD, HOME, "/home/u", true },
	{ "~/.cache//pip/.", CWD, HOME, "/home/u/.cache/pip", true },
	{ "~/..", CWD, HOME, "/home", false },
	{ "~/../u/x", CWD, HOME, "/home/u/x", true },	/* lands under home or cwd */
	{ "~/x/../../y", CWD, HOME, "/home/y", false },
	{ "~/../../../../etc", CWD, HOME, "/etc", false },
	{ "~/x", CWD, "/home/u/", "/home/u/x", true },
	/* HOME=/ (a uid without a passwd entry in a container): as the
	 * absolute spelling, contained only under cwd */
	{ "~/etc", CWD, "/", "/etc", false },
	{ "~", CWD, "/", "/", false },
	{ "~/work/proj/x", CWD, "/", "/work/proj/x", true },
	{ "~", CWD, NULL, NULL, false },
	{ "~/x", CWD, "", NULL, false },
	{ "~/x", CWD, "rel/home", NULL, false },
	{ "/etc/x", CWD, HOME, "/etc/x", false },
	{ "/etc/../x", CWD, HOME, "/x", false },
	{ "/home/u/x", CWD, HOME, "/home/u/x", true },	/* lands under home or cwd */
	{ "/work/proj/x", CWD, HOME, "/work/proj/x", true },	/* lands under home or cwd */
	{ "/", CWD, HOME, "/", false },
	{ "/../../x", CWD, HOME, "/x", false },
	{ "x", CWD, HOME, "/work/proj/x", true },
	{ "a/b/", CWD, HOME, "/work/proj/a/b", true },
	{ "./a//b", CWD, HOME, "/work/proj/a/b", true },
	{ "a/../b", CWD, HOME, "/work/proj/b", true },
	{ ".", CWD, HOME, "/work/proj", true },
	{ "..", CWD, HOME, "/work", false },
	{ "../x", CWD, HOME, "/work/x", false },
	{ "../proj/x", CWD, HOME, "/work/proj/x", true },	/* lands under home or cwd */
	{ "a/../../x", CWD, HOME, "/work/x", false },
	{ "a/../../../../../x", CWD, HOME, "/x", false },
	{ "~user/x", CWD, HOME, "/work/proj/~user/x", true },
	{ "...", CWD, HOME, "/work/proj/...", true },
	{ "x", "/", HOME, "/x", true },
	{ "x", CWD, NULL, "/work/proj/x", true },
};

static void test_resolve_table(void)
{
	for (size_t i = 0; i < sizeof(resolve_cases) / sizeof(*resolve_cases); i++)
		check_resolve(&resolve_cases[i], (int)i);
}

/* ---- randomised comparison with a reference cleaner ---- */

/* Lexical cleaning on a component stack.  For an absolute path ".." at the
 * root is dropped; for a relative one a leading ".." run is kept. */
static void ref_clean(const char *path, bool absolute, struct buf *out)
{
	const char *comp[256];
	size_t clen[256], n = 0;
	const char *p = path;
	struct cc_err err;

	while (*p) {
		const char *e = strchr(p, '/');
		size_t k = e ? (size_t)(e - p) : strlen(p);

		if (k == 0 || (k == 1 && p[0] == '.')) {
			/* skip */
		} else if (k == 2 && p[0] == '.' && p[1] == '.') {
			if (n && !(clen[n - 1] == 2 && !memcmp(comp[n - 1], "..", 2)))
				n--;
			else if (!absolute) {
				comp[n] = p;
				clen[n++] = 2;
			}
		} else {
			comp[n] = p;
			clen[n++] = k;
		}
		p += k;
		if (*p == '/')
			p++;
	}
	buf_reset(out);
	if (absolute)
		buf_add(out, "/", 1, &err);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_add(out, "/", 1, &err);
		buf_add(out, comp[i], clen[i], &err);
	}
	if (!absolute && !n)
		buf_add(out, ".", 1, &err);
}

static void ref_join_abs(const char *base, const char *rel, struct buf *out)
{
	struct buf t = BUF_INIT;
	struct cc_err err;

	buf_addf(&t, &err, "%s/%s", base, rel);
	ref_clean(t.data, true, out);
	buf_release(&t);
}

static bool is_tilde(const char *s)
{
	return s[0] == '~' && (s[1] == '/' || !s[1]);
}

static void ref_record(const char *arg, const char *cwd, const char *home,
		       struct buf *spec, struct buf *abs)
{
	struct buf h = BUF_INIT;
	struct cc_err err;
	size_t hl;

	buf_reset(spec);
	if (!is_tilde(arg) && arg[0] != '/') {
		ref_join_abs(cwd, arg, abs);
		ref_clean(arg, false, spec);
		return;
	}
	if (is_tilde(arg))
		ref_join_abs(home, arg + 1, abs);
	else
		ref_clean(arg, true, abs);
	ref_clean(home, true, &h);
	hl = h.len;
	if (strcmp(h.data, "/") && !strncmp(abs->data, h.data, hl) &&
	    (abs->data[hl] == '/' || !abs->data[hl])) {
		if (abs->data[hl])
			buf_addf(spec, &err, "~/%s", abs->data + hl + 1);
		else
			buf_addstr(spec, "~", &err);
	} else {
		buf_addstr(spec, abs->data, &err);
	}
	buf_release(&h);
}

/* The contract: an absolute or ".." spec is contained when it lands in or
 * below a home or cwd other than "/". */
static bool ref_under(const char *abs, const char *dir)
{
	struct buf d = BUF_INIT;
	bool r = false;
	size_t n;

	if (dir && dir[0] == '/') {
		ref_clean(dir, true, &d);
		n = d.len;
		r = strcmp(d.data, "/") && !strncmp(abs, d.data, n) &&
		    (abs[n] == '/' || !abs[n]);
	}
	buf_release(&d);
	return r;
}

static void ref_resolve(const char *spec, const char *cwd, const char *home,
			struct buf *abs, bool *contained)
{
	struct buf rel = BUF_INIT;

	if (spec[0] == '/') {
		ref_clean(spec, true, abs);
		*contained = ref_under(abs->data, home) || ref_under(abs->data, cwd);
		return;
	}
	ref_clean(is_tilde(spec) ? spec + 1 : spec, false, &rel);
	*contained = !(rel.data[0] == '.' && rel.data[1] == '.' &&
		       (rel.data[2] == '/' || !rel.data[2]));
	ref_join_abs(is_tilde(spec) ? home : cwd, rel.data, abs);
	buf_release(&rel);
	if (!*contained)
		*contained = ref_under(abs->data, home) || ref_under(abs->data, cwd);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void random_path(char *out, size_t outsz)
{
	static const char *prefixes[] = { "", "", "/", "~", "~/", "./", "../", "//" };
	static const char *comps[] = { "a", "bb", "u", "home", "..", "..", ".", "", "...",
				       "..c", ".d", "~" };
	size_t n = (size_t)(rnd() % 8);

	snprintf(out, outsz, "%s", prefixes[rnd() % 8]);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(out);

		snprintf(out + l, outsz - l, "%s%s", i ? "/" : "", comps[rnd() % 12]);
	}
	if (rnd() % 4 == 0) {
		size_t l = strlen(out);

		snprintf(out + l, outsz - l, "/");
	}
}

static void test_record_random(void)
{
	static const char *homes[] = { "/home/u", "/home/u/", "/home", "/u/home/u/.." };
	static const char *cwds[] = { "/home/u/a", "/work", "/", "/a/bb/u" };
	struct buf spec = BUF_INIT, abs = BUF_INIT, rspec = BUF_INIT, rabs = BUF_INIT;
	int bad = 0;

	for (int it = 0; it < 100000 && bad < 10; it++) {
		char arg[256];
		const char *home = homes[rnd() % 4], *cwd = cwds[rnd() % 4];
		struct cc_err err;
		enum cc_code rc;

		random_path(arg, sizeof(arg));
		if (!arg[0])
			continue;
		rc = cc_path_record(arg, cwd, home, &spec, &abs, &err);
		ref_record(arg, cwd, home, &rspec, &rabs);
		/* How a relative path starting with a "~" directory is spelt
		 * is test_record_tilde_dir's business: compare abs only. */
		if (!is_tilde(arg) && arg[0] != '/' && is_tilde(rspec.data)) {
			buf_reset(&rspec);
			buf_addstr(&rspec, spec.data, &err);
		}
		if (rc || strcmp(spec.data, rspec.data) || strcmp(abs.data, rabs.data)) {
			printf("#   record '%s' (cwd '%s', home '%s'): spec '%s' abs '%s', "
			       "expected '%s' '%s'\n", arg, cwd, home, spec.data, abs.data,
			       rspec.data, rabs.data);
			bad++;
		}
	}
	CHECK_EQ(bad, 0);
	buf_release(&spec);
	buf_release(&abs);
	buf_release(&rspec);
	buf_release(&rabs);
}

static void test_resolve_random(void)
{
	static const char *homes[] = { "/home/u", "/home/u/", "/u/home/u/.." };
	static const char *cwds[] = { "/home/u/a", "/work", "/", "/a/bb/u" };
	struct buf abs = BUF_INIT, rabs = BUF_INIT;
	int bad = 0;

	for (int it = 0; it < 100000 && bad < 10; it++) {
		char spec[256];
		const char *home = homes[rnd() % 3], *cwd = cwds[rnd() % 4];
		struct cc_err err;
		bool contained, rcontained;
		enum cc_code rc;

		random_path(spec, sizeof(spec));
		if (!spec[0])
			continue;
		rc = cc_path_resolve(spec, cwd, home, &abs, &contained, &err);
		ref_resolve(spec, cwd, home, &rabs, &rcontained);
		if (rc || strcmp(abs.data, rabs.data) || contained != rcontained) {
			printf("#   resolve '%s' (cwd '%s', home '%s'): '%s' contained %d, "
			       "expected '%s' contained %d\n", spec, cwd, home, abs.data,
			       contained, rabs.data, rcontained);
			bad++;
		}
	}
	CHECK_EQ(bad, 0);
	buf_release(&abs);
	buf_release(&rabs);
}

/* What record writes, resolve must place where record read it from, and
 * recording a recorded spec again changes nothing. */
static void test_record_then_resolve(void)
{
	static const char *homes[] = { "/home/u", "/home/u/" };
	static const char *cwds[] = { "/home/u/a", "/work", "/", "/a/bb/u" };
	struct buf spec = BUF_INIT, abs = BUF_INIT, abs2 = BUF_INIT, spec2 = BUF_INIT;
	int bad = 0;

	for (int it = 0; it < 50000 && bad < 10; it++) {
		char arg[256];
		const char *home = homes[rnd() % 2], *cwd = cwds[rnd() % 4];
		struct cc_err err;
		bool contained;

		random_path(arg, sizeof(arg));
		if (!arg[0] || cc_path_record(arg, cwd, home, &spec, &abs, &err))
			continue;
		/* A relative path whose first cleaned component is "~" is
		 * test_record_tilde_dir's business. */
		if (!is_tilde(arg) && arg[0] != '/' && is_tilde(spec.data))
			continue;
		if (cc_path_resolve(spec.data, cwd, home, &abs2, &contained, &err) ||
		    strcmp(abs.data, abs2.data)) {
			printf("#   '%s' (cwd '%s'): recorded '%s' read from '%s', resolved to '%s'\n",
			       arg, cwd, spec.data, abs.data, abs2.data);
			bad++;
			continue;
		}
		if (cc_path_record(spec.data, cwd, home, &spec2, &abs2, &err) ||
		    strcmp(spec.data, spec2.data)) {
			printf("#   '%s': recorded '%s', recorded again '%s'\n", arg, spec.data,
			       spec2.data);
			bad++;
		}
	}
	CHECK_EQ(bad, 0);
	buf_release(&spec);
	buf_release(&spec2);
	buf_release(&abs);
	buf_release(&abs2);
}

/* A directory literally named "~" under cwd is not home: the recorded spec
 * must bring it back to where it was read from, not to $HOME. */
static void test_record_tilde_dir(void)
{
	static const char *args[] = { "./~", "./~/x", "a/../~/x", ".//~/.cache" };
	struct buf spec = BUF_INIT, abs = BUF_INIT, dest = BUF_INIT;

	for (size_t i = 0; i < sizeof(args) / sizeof(*args); i++) {
		struct cc_err err;
		bool contained = false;

		cc_err_clear(&err);
		CHECK_EQ(cc_path_record(args[i], CWD, HOME, &spec, &abs, &err), CC_OK);
		CHECK(!strncmp(abs.data, "/work/proj/~", 12));
		CHECK_EQ(cc_path_resolve(spec.data, CWD, HOME, &dest, &contained, &err), CC_OK);
		if (strcmp(dest.data, abs.data)) {
			printf("#   '%s': read from '%s', recorded as '%s', restored to '%s'\n",
			       args[i], abs.data, spec.data, dest.data);
			harness_cur_failed = 1;
		}
	}
	buf_release(&spec);
	buf_release(&abs);
	buf_release(&dest);
}

/* Output buffers are reset, not appended to. */
static void test_reuse_buffers(void)
{
	struct buf spec = BUF_INIT, abs = BUF_INIT;
	struct cc_err err;
	bool contained;

	CHECK_EQ(cc_path_record("~/one", CWD, HOME, &spec, &abs, &err), CC_OK);
	CHECK_EQ(cc_path_record("two", CWD, HOME, &spec, &abs, &err), CC_OK);
	CHECK_STR(spec.data, "two");
	CHECK_STR(abs.data, "/work/proj/two");
	CHECK_EQ(cc_path_record("/three", CWD, HOME, &spec, &abs, &err), CC_OK);
	CHECK_STR(spec.data, "/three");
	CHECK_STR(abs.data, "/three");
	CHECK_EQ(cc_path_resolve("x", CWD, HOME, &abs, &contained, &err), CC_OK);
	CHECK_EQ(cc_path_resolve("~/y", CWD, HOME, &abs, &contained, &err), CC_OK);
	CHECK_STR(abs.data, "/home/u/y");
	buf_release(&spec);
	buf_release(&abs);
}

int main(void)
{
	RUN(test_record_table);
	RUN(test_resolve_table);
	RUN(test_record_random);
	RUN(test_resolve_random);
	RUN(test_record_then_resolve);
	RUN(test_record_tilde_dir);
	RUN(test_reuse_buffers);
	return test_summary();
}
