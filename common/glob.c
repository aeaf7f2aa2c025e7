#include "glob.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "buf.h"
#include "util.h"

#define GLOB_MAX_SEGS 1024	/* components of one absolute pattern */

/* ---- one component ---- */

/* Length of the UTF-8 character at s (1 for a byte that starts none), its
 * code point in *ret_cp: `?` and classes take characters, as minimatch. */
static size_t u8(const char *str, uint32_t *ret_cp)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
		 : (s[0] & 0xf8) == 0xf0 ? 4 : 1;
	uint32_t cp = n == 1 ? s[0] : s[0] & (0x7f >> n);

	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*ret_cp = s[0];
			return 1;
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	*ret_cp = cp;
	return n;
}

static bool posix_class(const char *name, size_t n, uint32_t c)
{
	static const struct { const char *name; int (*fn)(int); } tab[] = {
		{ "alnum", isalnum }, { "alpha", isalpha }, { "blank", isblank },
		{ "cntrl", iscntrl }, { "digit", isdigit }, { "graph", isgraph },
		{ "lower", islower }, { "print", isprint }, { "punct", ispunct },
		{ "space", isspace }, { "upper", isupper }, { "xdigit", isxdigit },
	};

	if (n == 5 && !memcmp(name, "ascii", 5))
		return c < 0x80;
	if (n == 4 && !memcmp(name, "word", 4))
		return c < 0x80 && (isalnum((int)c) || c == '_');
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == n && !memcmp(tab[i].name, name, n))
			return c < 0x80 && tab[i].fn((int)c);
	return false;
}

/* Parses the class whose `[` is at p[-1] against the character c.
 * @return the position after its `]`, or NULL when p starts no class (no
 * closing `]`): the `[` is then an ordinary character. */
static const char *class_match(const char *p, uint32_t c, bool *ret_match)
{
	bool neg = false, match = false, first = true;

	if (*p == '!' || *p == '^') {
		neg = true;
		p++;
	}
	while (*p && (*p != ']' || first)) {
		uint32_t lo, hi;

		first = false;
		if (p[0] == '[' && p[1] == ':') {
			const char *e = strstr(p + 2, ":]");

			if (e) {
				match |= posix_class(p + 2, (size_t)(e - p - 2), c);
				p = e + 2;
				continue;
			}
		}
		if (*p == '\\' && p[1])
			p++;
		p += u8(p, &lo);
		hi = lo;
		if (p[0] == '-' && p[1] && p[1] != ']') {
			p++;
			if (*p == '\\' && p[1])
				p++;
			p += u8(p, &hi);
		}
		if (lo <= c && c <= hi)
			match = true;
	}
	if (*p != ']')
		return NULL;
	*ret_match = match != neg;
	return p + 1;
}

bool glob_match_name(const char *pat, const char *name)
{
	const char *p = pat, *s = name, *star_p = NULL, *star_s = NULL;

	while (*s) {
		uint32_t c, dummy;
		size_t k;

		if (*p == '*') {
			while (*p == '*')
				p++;
			if (!*p)
				return true;
			star_p = p;
			star_s = s;
			continue;
		}
		k = u8(s, &c);
		if (*p == '?') {
			p++;
			s += k;
			continue;
		}
		if (*p == '[') {
			bool m;
			const char *e = class_match(p + 1, c, &m);

			if (e) {
				if (!m)
					goto fail;
				p = e;
				s += k;
				continue;
			}
		}
		if (*p) {
			const char *q = *p == '\\' && p[1] ? p + 1 : p;

			if (*q == *s) {
				p = q + 1;
				s++;
				continue;
			}
		}
fail:
		if (!star_p)
			return false;
		star_s += u8(star_s, &dummy);
		s = star_s;
		p = star_p;
	}
	while (*p == '*')
		p++;
	return !*p;
}

/* @return true if the component has no wildcard; *out gets it unescaped. */
static bool literal_of(const char *seg, struct buf *out, struct cc_err *err)
{
	buf_reset(out);
	for (const char *p = seg; *p; p++) {
		bool m;

		if (*p == '*' || *p == '?')
			return false;
		if (*p == '[' && class_match(p + 1, 'a', &m))
			return false;
		if (*p == '\\' && p[1])
			p++;
		if (buf_add(out, p, 1, err))
			return false;
	}
	return true;
}

/* ---- parsing ---- */

static enum cc_code seg_push(struct glob_pattern *p, const char *text, size_t n,
			     bool literal, struct cc_err *err)
{
	struct glob_seg *s;

	if (p->nsegs >= GLOB_MAX_SEGS)
		return cc_err_set(err, CC_EUSAGE, 0, "pattern '%s' has over %d components",
				  p->raw, GLOB_MAX_SEGS);
	if (ARRAY_GROW(p->segs, p->segs_alloc, p->nsegs + 1))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	s = &p->segs[p->nsegs];
	if (!(s->text = strndup(text, n)))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	s->literal = literal;
	s->globstar = !literal && n == 2 && text[0] == '*' && text[1] == '*';
	p->nsegs++;
	return CC_OK;
}

/* Appends the components of the absolute path dir as literals. */
static enum cc_code push_dir(struct glob_pattern *p, const char *dir, struct cc_err *err)
{
	enum cc_code rc;

	for (const char *c = dir; *c;) {
		size_t n = strcspn(c, "/");

		if (n && !(n == 1 && c[0] == '.')) {
			if (n == 2 && c[0] == '.' && c[1] == '.') {
				if (p->nsegs)
					free(p->segs[--p->nsegs].text);
			} else if ((rc = seg_push(p, c, n, true, err))) {
				return rc;
			}
		}
		c += n;
		if (*c)
			c++;
	}
	return CC_OK;
}

/* Drops the last component of a relative or "~" spelling, or adds "..". */
static enum cc_code arg_up(struct buf *arg, size_t keep, struct cc_err *err)
{
	char *slash = strrchr(arg->data + keep, '/');
	const char *last = slash ? slash + 1 : arg->data + keep;

	if (arg->len > keep && strcmp(last, "..")) {
		buf_setlen(arg, slash ? (size_t)(slash - arg->data) : keep);
		return CC_OK;
	}
	return buf_addstr(arg, arg->len > keep || (keep && arg->data[keep - 1] != '/') ? "/.." : "..", err);
}

static enum cc_code parse_one(struct glob_pattern *p, const char *raw, const char *cwd,
			      const char *home, struct cc_err *err)
{
	struct buf pat = BUF_INIT, arg = BUF_INIT, lit = BUF_INIT;
	const char *s = raw, *e, *c;
	size_t keep = 0;
	bool wild = false;
	enum cc_code rc = CC_OK;

	p->raw = raw;
	/* Trimmed, and each leading `!` flips, as @actions/glob. */
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	while (s < e && *s == '!') {
		p->negate = !p->negate;
		s++;
		while (s < e && isspace((unsigned char)*s))
			s++;
	}
	if (s == e) {
		rc = cc_err_set(err, CC_EUSAGE, 0, "empty --path pattern '%s'", raw);
		goto cleanup;
	}
	if ((rc = buf_add(&pat, s, (size_t)(e - s), err)))
		goto cleanup;
	p->dir_only = pat.len > 1 && pat.data[pat.len - 1] == '/';
	c = pat.data;
	if (c[0] == '~' && (c[1] == '/' || !c[1])) {
		if (!home || home[0] != '/') {
			rc = cc_err_set(err, CC_EUSAGE, 0, "cannot expand '%s': HOME is not set", raw);
			goto cleanup;
		}
		if ((rc = push_dir(p, home, err)) || (rc = buf_addstr(&arg, "~", err)))
			goto cleanup;
		keep = 1;
		c++;
	} else if (c[0] == '/') {
		if ((rc = buf_addstr(&arg, "/", err)))
			goto cleanup;
		keep = 1;
	} else {
		p->rel = true;
		if ((rc = push_dir(p, cwd, err)))
			goto cleanup;
	}
	while (*c) {
		size_t n = strcspn(c, "/");
		bool dot = n == 1 && c[0] == '.', dotdot = n == 2 && c[0] == '.' && c[1] == '.';

		if (n && (dot || dotdot) && wild) {
			rc = cc_err_set(err, CC_EUSAGE, 0,
					"pattern '%s': '.' and '..' are not allowed after a wildcard", raw);
			goto cleanup;
		}
		if (!n || dot) {
			/* nothing */
		} else if (dotdot) {
			if (p->nsegs)
				free(p->segs[--p->nsegs].text);
			if ((rc = arg_up(&arg, keep, err)))
				goto cleanup;
		} else {
			char *seg = strndup(c, n);
			bool literal;

			if (!seg) {
				rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
				goto cleanup;
			}
			literal = !wild && literal_of(seg, &lit, err);
			free(seg);
			if (!literal)
				wild = true;
			if ((rc = literal ? seg_push(p, lit.data, lit.len, true, err)
					  : seg_push(p, c, n, false, err)))
				goto cleanup;
			if (literal && (rc = buf_addf(&arg, err, "%s%s",
						      arg.len > keep || (keep && arg.data[keep - 1] != '/') ? "/" : "",
						      lit.data)))
				goto cleanup;
		}
		c += n;
		if (*c)
			c++;
	}
	while (p->nlit < p->nsegs && p->segs[p->nlit].literal)
		p->nlit++;
	p->base_arg = buf_detach(&arg, NULL);
	{
		struct buf b = BUF_INIT;

		for (size_t i = 0; i < p->nlit && !rc; i++)
			rc = buf_addf(&b, err, "/%s", p->segs[i].text);
		if (!rc && !b.len)
			rc = buf_addstr(&b, "/", err);
		p->base_abs = buf_detach(&b, NULL);
	}
cleanup:
	buf_release(&pat);
	buf_release(&arg);
	buf_release(&lit);
	return rc;
}

enum cc_code glob_init(struct glob *g, const char *const *patterns, size_t n,
		       const char *cwd, const char *home, struct cc_err *err)
{
	enum cc_code rc;

	memset(g, 0, sizeof(*g));
	if (!(g->pats = calloc(n ? n : 1, sizeof(*g->pats))))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < n; i++) {
		g->n++;
		if ((rc = parse_one(&g->pats[i], patterns[i], cwd, home, err))) {
			glob_release(g);
			return rc;
		}
		if (g->pats[i].negate)
			g->has_exclusions = true;
	}
	return CC_OK;
}

void glob_release(struct glob *g)
{
	for (size_t i = 0; i < g->n; i++) {
		for (size_t j = 0; j < g->pats[i].nsegs; j++)
			free(g->pats[i].segs[j].text);
		free(g->pats[i].segs);
		free(g->pats[i].base_arg);
		free(g->pats[i].base_abs);
	}
	free(g->pats);
	memset(g, 0, sizeof(*g));
}

/* ---- matching: a small NFA over components ---- */

/* st[i]: the first i components of p are matched.  A `**` may match
 * nothing, so reaching it reaches the component after it too. */
static void closure(const struct glob_pattern *p, unsigned char *st)
{
	for (size_t i = 0; i < p->nsegs; i++)
		if (st[i] && p->segs[i].globstar)
			st[i + 1] = 1;
}

/* Moves the states cur over the component name into next (cleared here).
 * @return true if any state is left. */
static bool step(const struct glob_pattern *p, const unsigned char *cur, unsigned char *next,
		 const char *name)
{
	bool any = false;

	memset(next, 0, p->nsegs + 1);
	for (size_t i = 0; i < p->nsegs; i++) {
		const struct glob_seg *s = &p->segs[i];

		if (!cur[i])
			continue;
		if (s->globstar)
			next[i] = any = true;
		else if (s->literal ? !strcmp(s->text, name) : glob_match_name(s->text, name))
			next[i + 1] = any = true;
	}
	closure(p, next);
	return any;
}

/* Splits the clean absolute path abs (copied into *copy) into components. */
static size_t split(const char *abs, char **copy, const char **comps, size_t max)
{
	size_t n = 0;
	char *c;

	if (!(*copy = strdup(abs)))
		return SIZE_MAX;
	for (c = *copy; *c && n < max;) {
		while (*c == '/')
			*c++ = '\0';
		if (!*c)
			break;
		comps[n++] = c;
		c += strcspn(c, "/");
	}
	return n;
}

/* Matches p against the components; *ret_exact: p matches the path itself,
 * *ret_ancestor: one of its ancestors, *ret_live: it may match below. */
static void match_comps(const struct glob_pattern *p, const char *const *comps, size_t n,
			bool *ret_exact, bool *ret_ancestor, bool *ret_live)
{
	unsigned char a[GLOB_MAX_SEGS + 1], b[GLOB_MAX_SEGS + 1], *cur = a, *next = b, *t;
	bool live = true;

	*ret_exact = *ret_ancestor = *ret_live = false;
	memset(cur, 0, p->nsegs + 1);
	cur[0] = 1;
	closure(p, cur);
	for (size_t i = 0; i < n; i++) {
		if (cur[p->nsegs]) {
			*ret_ancestor = *ret_live = true;
			return;
		}
		live = step(p, cur, next, comps[i]);
		t = cur, cur = next, next = t;
		if (!live && !cur[p->nsegs])
			return;
	}
	*ret_exact = cur[p->nsegs];
	*ret_live = live || *ret_exact;
}

bool glob_included(const struct glob *g, const char *abs, bool is_dir)
{
	const char *comps[4096];
	char *copy = NULL;
	size_t n = split(abs, &copy, comps, sizeof(comps) / sizeof(comps[0]));
	bool in = false;

	if (n == SIZE_MAX)
		return false;
	for (size_t i = 0; i < g->n; i++) {
		const struct glob_pattern *p = &g->pats[i];
		bool exact, anc, live;

		match_comps(p, comps, n, &exact, &anc, &live);
		if (anc || (exact && (!p->dir_only || is_dir)))
			in = !p->negate;
	}
	free(copy);
	return in;
}

bool glob_may_include_below(const struct glob *g, const char *abs)
{
	const char *comps[4096];
	char *copy = NULL;
	size_t n = split(abs, &copy, comps, sizeof(comps) / sizeof(comps[0]));
	bool below = false;

	if (n == SIZE_MAX)
		return true;
	/* Only a pattern after the one that decides for abs can change the
	 * decision below it: the decider matches every descendant too (as
	 * an ancestor), so an earlier pattern never comes last. */
	for (size_t i = g->n; i-- > 0 && !below;) {
		const struct glob_pattern *p = &g->pats[i];
		bool exact, anc, live;

		match_comps(p, comps, n, &exact, &anc, &live);
		if (anc || exact)	/* abs is a directory */
			break;
		below = !p->negate && live;
	}
	free(copy);
	return below;
}

/* ---- searching ---- */

struct search {
	struct glob *g;
	struct glob_pattern *p;
	struct glob_root *roots;
	size_t nroots, alloc;
	struct buf abs, rel;
	struct cc_err *err;
};

static enum cc_code add_root(struct search *s)
{
	struct buf arg = BUF_INIT;
	const char *base = s->p->base_arg;
	enum cc_code rc;

	if (*base && s->rel.len)
		rc = buf_addf(&arg, s->err, "%s%s%s", base,
			      base[strlen(base) - 1] == '/' ? "" : "/", s->rel.data);
	else
		rc = buf_addstr(&arg, *base ? base : s->rel.len ? s->rel.data : ".", s->err);
	/* A relative first component named "~" is a directory, not home. */
	if (!rc && s->p->rel && arg.data[0] == '~' && (arg.data[1] == '/' || !arg.data[1])) {
		struct buf t = BUF_INIT;

		if (!(rc = buf_addf(&t, s->err, "./%s", arg.data))) {
			buf_release(&arg);
			arg = t;
		} else {
			buf_release(&t);
		}
	}
	if (!rc && ARRAY_GROW(s->roots, s->alloc, s->nroots + 1))
		rc = cc_err_set(s->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if (!rc) {
		struct glob_root *r = &s->roots[s->nroots];

		r->abs = strdup(s->abs.data);
		r->arg = buf_detach(&arg, NULL);
		if (!r->abs || !r->arg) {
			free(r->abs);
			free(r->arg);
			rc = cc_err_set(s->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		} else {
			s->nroots++;
		}
	}
	buf_release(&arg);
	return rc;
}

/* Visits the path in s->abs whose states are st; descends if dir. */
static enum cc_code visit(struct search *s, const unsigned char *st, bool is_dir);

static enum cc_code search_dir(struct search *s, const unsigned char *st)
{
	DIR *d = opendir(s->abs.data);
	char **names = NULL;
	size_t n = 0, abs_len = s->abs.len, rel_len = s->rel.len;
	unsigned char *next = NULL;
	enum cc_code rc = CC_OK;

	if (!d)
		return cc_err_set(s->err, CC_ESOURCE, errno, "cannot read directory '%s'", s->abs.data);
	if (dir_names_sorted(d, &names, &n)) {
		rc = cc_err_set(s->err, errno == ENOMEM ? CC_ENOMEM : CC_ESOURCE, errno,
				"cannot read directory '%s'", s->abs.data);
		goto cleanup;
	}
	if (!(next = malloc(s->p->nsegs + 1))) {
		rc = cc_err_set(s->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct stat sb;

		if (!step(s->p, st, next, names[i]) && !next[s->p->nsegs])
			continue;
		buf_setlen(&s->abs, abs_len);
		buf_setlen(&s->rel, rel_len);
		if ((rc = buf_addf(&s->abs, s->err, "%s%s", abs_len > 1 ? "/" : "", names[i])) ||
		    (rc = buf_addf(&s->rel, s->err, "%s%s", rel_len ? "/" : "", names[i])))
			break;
		if (lstat(s->abs.data, &sb)) {
			if (errno == ENOENT)
				continue;
			rc = cc_err_set(s->err, CC_ESOURCE, errno, "cannot stat '%s'", s->abs.data);
			break;
		}
		rc = visit(s, next, S_ISDIR(sb.st_mode));
	}
	buf_setlen(&s->abs, abs_len);
	buf_setlen(&s->rel, rel_len);
cleanup:
	free_names(names, n);
	free(next);
	closedir(d);
	return rc;
}

static enum cc_code visit(struct search *s, const unsigned char *st, bool is_dir)
{
	bool live = false;

	if (st[s->p->nsegs] && (!s->p->dir_only || is_dir)) {
		s->p->hits++;
		if (glob_included(s->g, s->abs.data, is_dir))
			return add_root(s);
	}
	for (size_t i = 0; i < s->p->nsegs; i++)
		live |= st[i];
	return is_dir && live ? search_dir(s, st) : CC_OK;
}

/* @return true if a is b or lies below it. */
static bool at_or_under(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (n == 1)
		return true;
	return !strncmp(a, b, n) && (!a[n] || a[n] == '/');
}

enum cc_code glob_expand(struct glob *g, struct glob_root **ret_roots, size_t *ret_n,
			 struct cc_err *err)
{
	struct search s = { .g = g, .abs = BUF_INIT, .rel = BUF_INIT, .err = err };
	unsigned char *st = NULL;
	enum cc_code rc = CC_OK;
	size_t kept = 0;

	*ret_roots = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < g->n && !rc; i++) {
		struct glob_pattern *p = &g->pats[i];
		struct stat sb;

		if (p->negate)
			continue;
		s.p = p;
		buf_reset(&s.abs);
		buf_reset(&s.rel);
		/* The search path is literal: the system resolves it, links
		 * included, as it would a path given without wildcards. */
		if (lstat(p->base_abs, &sb)) {
			if (errno == ENOENT)
				continue;
			rc = cc_err_set(err, CC_ESOURCE, errno, "cannot stat '%s'", p->base_abs);
			break;
		}
		if (S_ISLNK(sb.st_mode) && stat(p->base_abs, &sb))
			sb.st_mode = S_IFLNK;
		free(st);
		if (!(st = calloc(p->nsegs + 1, 1))) {
			rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
			break;
		}
		st[p->nlit] = 1;
		closure(p, st);
		if ((rc = buf_addstr(&s.abs, p->base_abs, err)))
			break;
		rc = visit(&s, st, S_ISDIR(sb.st_mode));
	}
	free(st);
	buf_release(&s.abs);
	buf_release(&s.rel);
	if (rc) {
		glob_roots_free(s.roots, s.nroots);
		return rc;
	}
	/* Fold: a root at or below an earlier one, or below a later one, is
	 * already saved with it. */
	for (size_t i = 0; i < s.nroots; i++) {
		bool drop = false;

		for (size_t j = 0; j < s.nroots && !drop; j++)
			if (j != i && s.roots[j].abs)
				drop = j < i ? at_or_under(s.roots[i].abs, s.roots[j].abs)
					     : at_or_under(s.roots[i].abs, s.roots[j].abs) &&
						       strcmp(s.roots[i].abs, s.roots[j].abs);
		if (drop) {
			free(s.roots[i].abs);
			free(s.roots[i].arg);
			s.roots[i].abs = s.roots[i].arg = NULL;
		}
	}
	for (size_t i = 0; i < s.nroots; i++)
		if (s.roots[i].abs)
			s.roots[kept++] = s.roots[i];
	*ret_roots = s.roots;
	*ret_n = kept;
	return CC_OK;
}

void glob_roots_free(struct glob_root *roots, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(roots[i].abs);
		free(roots[i].arg);
	}
	free(roots);
}
