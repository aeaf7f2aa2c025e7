/* dockerfile.c: the Dockerfile scanner (see dockerfile.h).
 *
 * The rules follow BuildKit's dockerfile frontend: directives only before
 * the first comment, blank line or instruction; a comment line is dropped
 * even inside a continuation; the escape character at the end of a line
 * (trailing blanks allowed) continues it.  A `--mount=` value is split as
 * CSV; with DF_MOUNT_VARS_EXPAND it is first expanded with the stage's ARG
 * and ENV (quotes removed), the order in which BuildKit's frontend does
 * it; Docker 20.10's frontend uses the value as written.
 */
#include "dockerfile.h"
#include "../common/buf.h"
#include "../common/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DF_MAX_SIZE (4u << 20)
#define EXPAND_MAX_DEPTH 64		/* ${A:-${B:-...}} nesting */
#define EXPAND_MAX_BYTES DF_MAX_SIZE	/* all values substituted, per Dockerfile */

struct var {
	char *name, *value;
};

struct vars {
	struct var *v;
	size_t n;
};

struct scan {
	struct dockerfile *df;
	struct cc_err *err;
	const char *const *build_args;
	size_t nbuild_args;
	struct vars global;	/* ARGs before the first FROM */
	struct vars *stage_env;	/* ENV of each stage (inherited by FROM stage) */
	struct vars cur;	/* ARG and ENV visible in the current stage */
	enum df_mount_vars mount_vars;
	unsigned line;		/* first line of the instruction being scanned */
	unsigned depth;		/* of the ${VAR:-word} being expanded */
	size_t expanded;	/* bytes substituted so far: ENV B=$B$B doubles */
};

static enum cc_code scan_error(struct scan *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum cc_code scan_error(struct scan *s, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cc_err_set(s->err, CC_EUSAGE, 0, "%s:%u: %s", s->df->path, s->line, msg);
}

static enum cc_code oom(struct scan *s)
{
	return cc_err_set(s->err, CC_ENOMEM, 0, "out of memory");
}

const char *df_sharing_name(enum df_sharing sh)
{
	switch (sh) {
	case DF_SHARING_PRIVATE: return "private";
	case DF_SHARING_LOCKED: return "locked";
	case DF_SHARING_SHARED: break;
	}
	return "shared";
}

/* --- variables --- */

static void vars_release(struct vars *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		free(vs->v[i].name);
		free(vs->v[i].value);
	}
	free(vs->v);
	vs->v = NULL;
	vs->n = 0;
}

/* Later entries shadow earlier ones.  value NULL means "declared, unset". */
static const struct var *vars_find(const struct vars *vs, const char *name, size_t len)
{
	for (size_t i = vs->n; i-- > 0;)
		if (strlen(vs->v[i].name) == len && !memcmp(vs->v[i].name, name, len))
			return &vs->v[i];
	return NULL;
}

static bool vars_set(struct vars *vs, const char *name, const char *value)
{
	struct var *x = realloc(vs->v, (vs->n + 1) * sizeof(*x));

	if (!x)
		return false;
	vs->v = x;
	x[vs->n].name = strdup(name);
	x[vs->n].value = value ? strdup(value) : NULL;
	if (!x[vs->n].name || (value && !x[vs->n].value)) {
		free(x[vs->n].name);
		free(x[vs->n].value);
		return false;
	}
	vs->n++;
	return true;
}

static bool vars_copy(struct vars *dst, const struct vars *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (!vars_set(dst, src->v[i].name, src->v[i].value))
			return false;
	return true;
}

/* The value given with --build-arg NAME[=VALUE], or NULL. */
static const char *build_arg(struct scan *s, const char *name, bool *ret_given)
{
	size_t len = strlen(name);

	*ret_given = false;
	for (size_t i = s->nbuild_args; i-- > 0;) {
		const char *a = s->build_args[i];

		if (strncmp(a, name, len))
			continue;
		if (a[len] == '=') {
			*ret_given = true;
			return a + len + 1;
		}
		if (!a[len]) {
			const char *e = getenv(name);

			*ret_given = e != NULL;
			return e;
		}
	}
	return NULL;
}

/* --- words and substitution --- */

static bool is_name_start(int c) { return isalpha(c) || c == '_'; }
static bool is_name_char(int c) { return isalnum(c) || c == '_'; }

/* Appends the value of a variable, within the budget of all substitutions
 * (a few lines of ENV B=$B$B would otherwise ask for gigabytes). */
static enum cc_code substitute(struct scan *s, const char *val, struct buf *out)
{
	size_t n = strlen(val);

	if (n > EXPAND_MAX_BYTES - s->expanded)
		return scan_error(s, "variable substitutions expand to more than %u MiB",
				  EXPAND_MAX_BYTES >> 20);
	s->expanded += n;
	return buf_add(out, val, n, s->err);
}

static enum cc_code expand(struct scan *s, const char *p, const char *end, struct buf *out);

/* One ${...} substitution: *pp is just after its '$', and moves past its
 * closing '}'. */
static enum cc_code expand_braced(struct scan *s, const char **pp, const char *end,
				  struct buf *out)
{
	const char *p = *pp, *name = ++p, *word = NULL, *close;
	char op[3] = "";
	int depth = 1;
	size_t nlen;
	const struct var *v;
	const char *val;
	bool use_word = false;
	enum cc_code rc = CC_OK;

	while (p < end && is_name_char((unsigned char)*p))
		p++;
	nlen = (size_t)(p - name);
	if (!nlen || !is_name_start((unsigned char)*name))
		return scan_error(s, "bad substitution '${%.*s'",
				  (int)(end - name > 40 ? 40 : end - name), name);
	if (p < end && *p == ':' && p + 1 < end && (p[1] == '-' || p[1] == '+')) {
		op[0] = ':';
		op[1] = p[1];
		p += 2;
		word = p;
	} else if (p < end && (*p == '-' || *p == '+')) {
		op[0] = *p++;
		word = p;
	} else if (p < end && *p != '}') {
		return scan_error(s, "unsupported substitution '${%.*s%c...}' "
				  "(only ${VAR}, ${VAR:-word}, ${VAR-word}, "
				  "${VAR:+word}, ${VAR+word})", (int)nlen, name, *p);
	}
	for (close = p; close < end; close++) {
		if (*close == '{')
			depth++;
		else if (*close == '}' && !--depth)
			break;
	}
	if (close >= end)
		return scan_error(s, "missing '}' in substitution '${%.*s'", (int)nlen, name);
	v = vars_find(&s->cur, name, nlen);
	val = v ? v->value : NULL;
	if (!strcmp(op, ":-"))
		use_word = !val || !*val;
	else if (!strcmp(op, "-"))
		use_word = !val;
	else if (!strcmp(op, ":+"))
		use_word = val && *val;
	else if (!strcmp(op, "+"))
		use_word = val != NULL;
	if (op[0] == '+' || op[1] == '+')
		val = NULL;	/* ${VAR:+word}: the word or nothing */
	if (use_word) {
		/* The word may nest substitutions: a bounded recursion. */
		if (s->depth >= EXPAND_MAX_DEPTH)
			return scan_error(s, "substitutions nested deeper than %d levels",
					  EXPAND_MAX_DEPTH);
		s->depth++;
		rc = expand(s, word, close, out);
		s->depth--;
	} else if (val) {
		rc = substitute(s, val, out);
	}
	*pp = close + 1;
	return rc;
}

/* Expands $NAME, ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME:+word},
 * ${NAME+word} in [p, end) and removes quotes, as BuildKit's shell lexer
 * does for a word: single quotes keep everything literal, double quotes
 * still expand, the escape character makes the next character literal. */
static enum cc_code expand(struct scan *s, const char *p, const char *end, struct buf *out)
{
	char esc = s->df->escape, quote = 0;
	struct cc_err *err = s->err;

	while (p < end) {
		char c = *p;

		if (quote == '\'') {
			if (c == '\'')
				quote = 0;
			else if (buf_add(out, &c, 1, err))
				return CC_ENOMEM;
			p++;
			continue;
		}
		if (c == esc && p + 1 < end) {
			/* Inside double quotes the escape only protects what the
			 * shell would treat specially. */
			if (quote == '"' && !strchr("\"$`", p[1]) && p[1] != esc &&
			    buf_add(out, &c, 1, err))
				return CC_ENOMEM;
			if (buf_add(out, p + 1, 1, err))
				return CC_ENOMEM;
			p += 2;
			continue;
		}
		if (c == '\'' && !quote) {
			quote = '\'';
			p++;
			continue;
		}
		if (c == '"') {
			quote = quote ? 0 : '"';
			p++;
			continue;
		}
		if (c != '$' || p + 1 >= end) {
			if (buf_add(out, &c, 1, err))
				return CC_ENOMEM;
			p++;
			continue;
		}
		p++;
		if (*p == '{') {
			enum cc_code rc = expand_braced(s, &p, end, out);

			if (rc)
				return rc;
		} else if (is_name_start((unsigned char)*p)) {
			const char *name = p;

			while (p < end && is_name_char((unsigned char)*p))
				p++;
			const struct var *v = vars_find(&s->cur, name, (size_t)(p - name));

			if (v && v->value) {
				enum cc_code rc = substitute(s, v->value, out);

				if (rc)
					return rc;
			}
		} else {
			if (buf_add(out, "$", 1, err))
				return CC_ENOMEM;
		}
	}
	if (quote)
		return scan_error(s, "unterminated %c quote", quote);
	return CC_OK;
}

/* Cuts the next whitespace-separated word of *pp (quotes and escapes keep
 * blanks inside a word) into [*ret_start, *ret_end). */
static bool next_word(struct scan *s, const char **pp, const char **ret_start,
		      const char **ret_end)
{
	const char *p = *pp;
	char quote = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return false;
	*ret_start = p;
	for (; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
			else if (*p == s->df->escape && quote == '"' && p[1])
				p++;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
		} else if (*p == s->df->escape && p[1]) {
			p++;
		} else if (*p == ' ' || *p == '\t') {
			break;
		}
	}
	*ret_end = p;
	*pp = p;
	return true;
}

/* --- mounts --- */

char *df_path_clean(const char *p)
{
	size_t n = strlen(p);
	char *out = malloc(n + 2);
	size_t w = 0;
	bool rooted = p[0] == '/';
	size_t dotdot;		/* where ".." can no longer back up */

	if (!out)
		return NULL;
	if (rooted)
		out[w++] = '/';
	dotdot = w;
	for (size_t r = 0; r < n;) {
		if (p[r] == '/') {
			r++;
		} else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
			r++;
		} else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			while (r < n && p[r] != '/')
				out[w++] = p[r++];
		}
	}
	if (!w)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

/* Splits a --mount value into CSV fields as Go's encoding/csv does (a
 * field that starts with a double quote is quoted; "" is a quote). */
static enum cc_code csv_fields(struct scan *s, const char *v, char ***ret, size_t *ret_n)
{
	char **f = NULL;
	size_t n = 0, alloc = 0;
	struct buf b = BUF_INIT;
	const char *p = v;

	for (;;) {
		buf_reset(&b);
		if (*p == '"') {
			for (p++;; p++) {
				if (!*p) {
					buf_release(&b);
					for (size_t i = 0; i < n; i++)
						free(f[i]);
					free(f);
					return scan_error(s, "unterminated quote in '--mount=%s'", v);
				}
				if (*p == '"') {
					if (p[1] != '"')
						break;
					p++;
				}
				if (buf_add(&b, p, 1, NULL))
					goto cleanup;
			}
			p++;
			while (*p && *p != ',')
				if (buf_add(&b, p++, 1, NULL))
					goto cleanup;
		} else {
			while (*p && *p != ',')
				if (buf_add(&b, p++, 1, NULL))
					goto cleanup;
		}
		if (ARRAY_GROW(f, alloc, n + 1))
			goto cleanup;
		f[n++] = buf_detach(&b, NULL);
		if (!*p)
			break;
		p++;
	}
	*ret = f;
	*ret_n = n;
	return CC_OK;
cleanup:	/* out of memory */
	buf_release(&b);
	for (size_t i = 0; i < n; i++)
		free(f[i]);
	free(f);
	return oom(s);
}

static enum cc_code parse_uint(struct scan *s, const char *key, const char *v, int base,
			       unsigned *ret)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, base);
	if (!*v || *v == '-' || *v == '+' || *end || errno || x > 0xffffffffUL)
		return scan_error(s, "%s=%s is not %s number%s", key, v,
				  base == 8 ? "an octal" : "a whole",
				  strchr(v, '$') ? " (this builder's frontend does not expand "
				  "variables in --mount values)" : "");
	*ret = (unsigned)x;
	return CC_OK;
}

static enum cc_code parse_bool(struct scan *s, const char *key, const char *v, bool *ret)
{
	if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "t")) {
		*ret = true;
	} else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "f")) {
		*ret = false;
	} else {
		return scan_error(s, "%s=%s is not true or false", key, v);
	}
	return CC_OK;
}

static void mount_release(struct df_mount *m)
{
	free(m->id);
	free(m->target);
	free(m->from);
	free(m->source);
}

static enum cc_code set_str(struct scan *s, char **slot, const char *v)
{
	free(*slot);
	*slot = strdup(v);
	return *slot ? CC_OK : oom(s);
}

/* One --mount=VALUE of a RUN: records it when it is a cache mount. */
/* The type= of a --mount's fields (bind if none): one BuildKit knows,
 * wherever it is written, as it decides which keys are valid. */
static enum cc_code mount_type(struct scan *s, char **fields, size_t nfields, const char *value,
			       const char **ret_type)
{
	static const char *const types[] = { "bind", "cache", "tmpfs", "secret", "ssh" };

	*ret_type = "bind";
	for (size_t i = 0; i < nfields; i++) {
		size_t t;

		if (strncasecmp(fields[i], "type=", 5))
			continue;
		*ret_type = fields[i] + 5;
		for (t = 0; t < sizeof(types) / sizeof(*types); t++)
			if (!strcmp(*ret_type, types[t]))
				break;
		if (t == sizeof(types) / sizeof(*types))
			return scan_error(s, "unsupported mount type '%s' in '--mount=%s'", *ret_type,
					  value);
	}
	return CC_OK;
}

/* One field f of a cache mount's --mount=value into m. */
static enum cc_code mount_option(struct scan *s, struct df_mount *m, const char *f,
				 const char *value)
{
	const char *eq = strchr(f, '='), *v;
	char key[32];
	size_t klen = eq ? (size_t)(eq - f) : strlen(f);

	if (klen >= sizeof(key))
		klen = sizeof(key) - 1;
	for (size_t k = 0; k < klen; k++)
		key[k] = (char)tolower((unsigned char)f[k]);
	key[klen] = '\0';
	if (!strcmp(key, "required"))
		return scan_error(s, "'required' is only for secret and ssh mounts, "
				  "not in '--mount=%s'", value);
	if (!eq) {
		if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
			m->readonly = true;
			return CC_OK;
		}
		if (!strcmp(key, "readwrite") || !strcmp(key, "rw")) {
			m->readonly = false;
			return CC_OK;
		}
		return scan_error(s, "mount option '%s' must be a key=value pair in "
				  "'--mount=%s'", f, value);
	}
	v = eq + 1;
	if (!strcmp(key, "type"))
		return CC_OK;
	if (!strcmp(key, "id"))
		return set_str(s, &m->id, v);
	if (!strcmp(key, "target") || !strcmp(key, "dst") || !strcmp(key, "destination"))
		return set_str(s, &m->target, v);
	if (!strcmp(key, "from"))
		return set_str(s, &m->from, v);
	if (!strcmp(key, "source") || !strcmp(key, "src"))
		return set_str(s, &m->source, v);
	if (!strcmp(key, "sharing")) {
		if (!strcmp(v, "shared"))
			m->sharing = DF_SHARING_SHARED;
		else if (!strcmp(v, "private"))
			m->sharing = DF_SHARING_PRIVATE;
		else if (!strcmp(v, "locked"))
			m->sharing = DF_SHARING_LOCKED;
		else
			return scan_error(s, "sharing=%s: use shared, private or locked", v);
		return CC_OK;
	}
	if (!strcmp(key, "mode")) {
		m->mode_set = true;
		return parse_uint(s, key, v, 8, &m->mode);
	}
	if (!strcmp(key, "uid")) {
		m->uid_set = true;
		return parse_uint(s, key, v, 10, &m->uid);
	}
	if (!strcmp(key, "gid")) {
		m->gid_set = true;
		return parse_uint(s, key, v, 10, &m->gid);
	}
	if (!strcmp(key, "readonly") || !strcmp(key, "ro"))
		return parse_bool(s, key, v, &m->readonly);
	if (!strcmp(key, "readwrite") || !strcmp(key, "rw")) {
		bool rw = true;
		enum cc_code rc = parse_bool(s, key, v, &rw);

		m->readonly = !rw;
		return rc;
	}
	return scan_error(s, "unknown cache mount option '%s' in '--mount=%s'", key, value);
}

static enum cc_code scan_mount(struct scan *s, const char *value)
{
	struct df_mount m = { .mode = 0755, .stage = s->df->nstages - 1, .line = s->line };
	char **fields = NULL;
	size_t nfields = 0;
	const char *type;
	enum cc_code rc;

	if ((rc = csv_fields(s, value, &fields, &nfields)))
		return rc;
	if ((rc = mount_type(s, fields, nfields, value, &type)) || strcmp(type, "cache"))
		goto cleanup;	/* other mounts are BuildKit's business */
	for (size_t i = 0; i < nfields; i++)
		if ((rc = mount_option(s, &m, fields[i], value)))
			goto cleanup;
	if (!m.target || !*m.target) {
		rc = scan_error(s, "cache mount without a target in '--mount=%s'", value);
		goto cleanup;
	}
	if (!m.id || !*m.id) {
		free(m.id);
		m.id = df_path_clean(m.target);
		if (!m.id) {
			rc = oom(s);
			goto cleanup;
		}
	}
	if (ARRAY_GROW(s->df->mounts, s->df->mounts_alloc, s->df->nmounts + 1)) {
		rc = oom(s);
		goto cleanup;
	}
	s->df->mounts[s->df->nmounts++] = m;
	memset(&m, 0, sizeof(m));
cleanup:
	mount_release(&m);
	for (size_t i = 0; i < nfields; i++)
		free(fields[i]);
	free(fields);
	return rc;
}

/* RUN [--flag=value]... command: only the flags matter. */
static enum cc_code scan_run(struct scan *s, const char *args)
{
	const char *p = args, *w, *e;
	struct buf word = BUF_INIT;
	enum cc_code rc = CC_OK;

	while (next_word(s, &p, &w, &e)) {
		if (e - w < 2 || w[0] != '-' || w[1] != '-')
			break;
		if (e - w == 2)
			break;	/* "--" ends the flags */
		/* A frontend that expands mount values expands the whole
		 * value, which also removes quotes, and only then splits it
		 * as CSV. */
		buf_reset(&word);
		if (e - w >= 8 && !strncmp(w, "--mount=", 8) &&
		    s->mount_vars == DF_MOUNT_VARS_EXPAND) {
			if (buf_add(&word, "--mount=", 8, NULL)) {
				rc = oom(s);
				goto cleanup;
			}
			rc = expand(s, w + 8, e, &word);
			if (rc)
				goto cleanup;
		} else if (buf_add(&word, w, (size_t)(e - w), NULL)) {
			rc = oom(s);
			goto cleanup;
		}
		if (!strncmp(word.data, "--mount=", 8)) {
			rc = scan_mount(s, word.data + 8);
			if (rc)
				goto cleanup;
		} else if (!strcmp(word.data, "--mount")) {
			rc = scan_error(s, "'--mount' needs its value after '=' "
					"(--mount=type=cache,target=...): BuildKit rejects "
					"'--mount VALUE'");
			goto cleanup;
		}
		/* --network, --security and later flags: not ours. */
	}
cleanup:
	buf_release(&word);
	return rc;
}

/* ARG NAME[=default]... */
static enum cc_code scan_arg(struct scan *s, const char *args, bool global)
{
	const char *p = args, *w, *e;
	struct buf name = BUF_INIT, def = BUF_INIT;
	enum cc_code rc = CC_OK;

	while (next_word(s, &p, &w, &e)) {
		const char *eq = memchr(w, '=', (size_t)(e - w));
		const char *value = NULL;
		bool given;

		buf_reset(&name);
		buf_reset(&def);
		if (buf_add(&name, w, (size_t)((eq ? eq : e) - w), NULL)) {
			rc = oom(s);
			goto cleanup;
		}
		if (!name.len || !is_name_start((unsigned char)name.data[0])) {
			rc = scan_error(s, "ARG name '%s' is not valid", name.data);
			goto cleanup;
		}
		if (eq) {
			rc = expand(s, eq + 1, e, &def);
			if (rc)
				goto cleanup;
			value = def.data;
		}
		const char *ba = build_arg(s, name.data, &given);

		if (given) {
			value = ba;
		} else if (!eq && !global) {
			const struct var *g = vars_find(&s->global, name.data, name.len);

			value = g ? g->value : NULL;
		}
		if (!vars_set(global ? &s->global : &s->cur, name.data, value) ||
		    (global && !vars_set(&s->cur, name.data, value))) {
			rc = oom(s);
			goto cleanup;
		}
	}
cleanup:
	buf_release(&name);
	buf_release(&def);
	return rc;
}

/* ENV NAME=VALUE... or the old ENV NAME VALUE. */
static enum cc_code scan_env(struct scan *s, const char *args)
{
	const char *p = args, *w, *e;
	struct buf name = BUF_INIT, val = BUF_INIT;
	struct vars *env = &s->stage_env[s->df->nstages - 1];
	enum cc_code rc = CC_OK;
	bool first = true;

	while (next_word(s, &p, &w, &e)) {
		const char *eq = memchr(w, '=', (size_t)(e - w));

		buf_reset(&name);
		buf_reset(&val);
		if (!eq && first) {
			/* ENV NAME VALUE: the rest of the line is the value. */
			while (*p == ' ' || *p == '\t')
				p++;
			if (buf_add(&name, w, (size_t)(e - w), NULL)) {
				rc = oom(s);
				goto cleanup;
			}
			rc = expand(s, p, p + strlen(p), &val);
			if (rc)
				goto cleanup;
			p += strlen(p);
		} else if (!eq) {
			rc = scan_error(s, "ENV '%.*s' needs a value (NAME=VALUE)", (int)(e - w), w);
			goto cleanup;
		} else {
			if (buf_add(&name, w, (size_t)(eq - w), NULL)) {
				rc = oom(s);
				goto cleanup;
			}
			rc = expand(s, eq + 1, e, &val);
			if (rc)
				goto cleanup;
		}
		first = false;
		if (!name.len) {
			rc = scan_error(s, "ENV with an empty name");
			goto cleanup;
		}
		if (!vars_set(&s->cur, name.data, val.data) || !vars_set(env, name.data, val.data)) {
			rc = oom(s);
			goto cleanup;
		}
	}
	if (first)
		rc = scan_error(s, "ENV needs at least one NAME=VALUE");
cleanup:
	buf_release(&name);
	buf_release(&val);
	return rc;
}

/* FROM [--platform=P] IMAGE [AS NAME] */
static enum cc_code scan_from(struct scan *s, const char *args)
{
	const char *p = args, *w = NULL, *e = NULL;
	struct buf image = BUF_INIT;
	struct df_stage st = { .line = s->line };
	struct vars saved = s->cur;
	enum cc_code rc = CC_OK;
	long base = -1;

	bool got;

	while ((got = next_word(s, &p, &w, &e)) && e - w > 2 && w[0] == '-' && w[1] == '-')
		;	/* --platform: not ours */
	if (!got)
		return scan_error(s, "FROM needs an image");
	/* FROM sees only the global ARGs. */
	s->cur = s->global;
	rc = expand(s, w, e, &image);
	s->cur = saved;
	if (rc)
		goto cleanup;
	if (next_word(s, &p, &w, &e)) {
		if (e - w != 2 || strncasecmp(w, "as", 2) || !next_word(s, &p, &w, &e)) {
			rc = scan_error(s, "FROM takes IMAGE [AS NAME], not '%s'", args);
			goto cleanup;
		}
		st.name = strndup(w, (size_t)(e - w));
		if (!st.name) {
			rc = oom(s);
			goto cleanup;
		}
		for (char *c = st.name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (dockerfile_stage_index(s->df, st.name) >= 0) {
			rc = scan_error(s, "duplicate stage name '%s'", st.name);
			goto cleanup;
		}
		if (next_word(s, &p, &w, &e)) {
			rc = scan_error(s, "FROM takes IMAGE [AS NAME], not '%s'", args);
			goto cleanup;
		}
	}
	base = dockerfile_stage_index(s->df, image.data);
	st.base = buf_detach(&image, NULL);

	struct df_stage *x = realloc(s->df->stages, (s->df->nstages + 1) * sizeof(*x));
	struct vars *y = realloc(s->stage_env, (s->df->nstages + 1) * sizeof(*y));

	if (x)
		s->df->stages = x;
	if (y)
		s->stage_env = y;
	if (!x || !y) {
		rc = oom(s);
		goto cleanup;
	}
	memset(&y[s->df->nstages], 0, sizeof(*y));
	x[s->df->nstages++] = st;
	memset(&st, 0, sizeof(st));
	/* A new stage starts with the ENV of the stage it builds on and no
	 * ARG (global ARGs need a bare ARG NAME to come into scope). */
	vars_release(&s->cur);
	if (base >= 0 && (!vars_copy(&s->cur, &s->stage_env[base]) ||
			  !vars_copy(&s->stage_env[s->df->nstages - 1], &s->stage_env[base])))
		rc = oom(s);
cleanup:
	free(st.name);
	free(st.base);
	buf_release(&image);
	return rc;
}

long dockerfile_stage_index(const struct dockerfile *df, const char *name)
{
	char *end;
	long n;

	for (size_t i = 0; i < df->nstages; i++)
		if (df->stages[i].name && !strcasecmp(df->stages[i].name, name))
			return (long)i;
	n = strtol(name, &end, 10);
	if (*name && !*end && n >= 0 && (size_t)n < df->nstages)
		return n;
	return -1;
}

static const char *const instructions[] = {
	"add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from",
	"healthcheck", "label", "maintainer", "onbuild", "run", "shell",
	"stopsignal", "user", "volume", "workdir",
};

static enum cc_code scan_instruction(struct scan *s, const char *line)
{
	const char *p = line;
	char word[16];
	size_t n = 0, i;

	while (*p && *p != ' ' && *p != '\t') {
		if (n < sizeof(word) - 1)
			word[n++] = (char)tolower((unsigned char)*p);
		p++;
	}
	word[n] = '\0';
	int wlen = (int)(p - line);
	while (*p == ' ' || *p == '\t')
		p++;
	for (i = 0; i < sizeof(instructions) / sizeof(*instructions); i++)
		if (!strcmp(word, instructions[i]))
			break;
	if (i == sizeof(instructions) / sizeof(*instructions))
		return scan_error(s, "unknown instruction '%.*s'", wlen, line);
	if (!strcmp(word, "from"))
		return scan_from(s, p);
	if (!s->df->nstages) {
		if (!strcmp(word, "arg"))
			return scan_arg(s, p, true);
		return scan_error(s, "%s before the first FROM", word);
	}
	if (!strcmp(word, "arg"))
		return scan_arg(s, p, false);
	if (!strcmp(word, "env"))
		return scan_env(s, p);
	if (!strcmp(word, "run"))
		return scan_run(s, p);
	return CC_OK;
}

/* Heredoc words of a RUN/COPY/ADD line (<<EOF, <<-EOF, <<"EOF"): the
 * delimiters, in order, so their bodies can be skipped. */
static size_t heredocs(const char *line, char delims[][64], bool *strip, size_t max)
{
	size_t n = 0;

	for (const char *p = strstr(line, "<<"); p && n < max; p = strstr(p, "<<")) {
		const char *q = p + 2;
		size_t len = 0;
		char quote = 0;

		strip[n] = *q == '-';
		if (*q == '-')
			q++;
		if (*q == '"' || *q == '\'')
			quote = *q++;
		while ((isalnum((unsigned char)q[len]) || q[len] == '_') && len < 63)
			len++;
		if (len && (!quote || q[len] == quote)) {
			memcpy(delims[n], q, len);
			delims[n][len] = '\0';
			n++;
		}
		p = q + len;
	}
	return n;
}

/* A parser directive line ("# escape=`", "# syntax=...", "# check=...").
 * *ret_is_directive is false for anything else, which ends the
 * directives. */
static enum cc_code scan_directive(struct scan *s, const char *t, bool *have_escape,
				   bool *ret_is_directive)
{
	const char *q = t, *k;
	size_t klen, vlen;
	char v[256];

	*ret_is_directive = false;
	if (*q++ != '#')
		return CC_OK;
	while (*q == ' ' || *q == '\t')
		q++;
	for (k = q; isalnum((unsigned char)*q) || *q == '_'; q++)
		;
	klen = (size_t)(q - k);
	while (*q == ' ' || *q == '\t')
		q++;
	if (!klen || *q != '=')
		return CC_OK;
	for (q++; *q == ' ' || *q == '\t'; q++)
		;
	for (vlen = strlen(q); vlen && (q[vlen - 1] == ' ' || q[vlen - 1] == '\t'); vlen--)
		;
	snprintf(v, sizeof(v), "%.*s", (int)vlen, q);
	if (klen == 6 && !strncasecmp(k, "escape", 6)) {
		if (*have_escape)
			return scan_error(s, "only one escape directive is allowed");
		if (strcmp(v, "\\") && strcmp(v, "`"))
			return scan_error(s, "escape directive '%s': use \\ or `", v);
		*have_escape = true;
		s->df->escape = v[0];
		*ret_is_directive = true;
	} else if (klen == 6 && !strncasecmp(k, "syntax", 6)) {
		if (s->df->syntax)
			return scan_error(s, "only one syntax directive is allowed");
		s->df->syntax = strdup(v);
		if (!s->df->syntax)
			return oom(s);
		*ret_is_directive = true;
	} else if (klen == 5 && !strncasecmp(k, "check", 5)) {
		*ret_is_directive = true;
	}
	return CC_OK;
}

/* The line-level state of a parse: parser directives, continuations,
 * heredoc bodies. */
struct lines {
	struct buf logical;	/* the instruction so far, continuations joined */
	bool directives;	/* still in the leading parser directives */
	bool have_escape, in_cont;
	unsigned lineno;
	char hd[8][64];		/* heredoc delimiters of the last RUN, ADD or COPY */
	bool hd_strip[8];	/* <<- : leading tabs go */
	size_t nhd, hd_i;	/* how many; the one whose body comes next */
};

/* Scans the instruction in ln->logical. */
static enum cc_code scan_logical(struct scan *s, struct lines *ln)
{
	const char *ins = ln->logical.data;
	size_t iw;

	while (*ins == ' ' || *ins == '\t')
		ins++;
	iw = strcspn(ins, " \t");
	if ((iw == 3 && (!strncasecmp(ins, "run", 3) || !strncasecmp(ins, "add", 3))) ||
	    (iw == 4 && !strncasecmp(ins, "copy", 4))) {
		ln->nhd = heredocs(ins, ln->hd, ln->hd_strip, 8);
		ln->hd_i = 0;
	}
	return scan_instruction(s, ins);
}

/* One physical line (no newline, no trailing CR). */
static enum cc_code scan_line(struct scan *s, struct lines *ln, const struct buf *phys)
{
	const char *t = phys->data;
	size_t e = phys->len;
	enum cc_code rc;
	bool cont;

	if (memchr(phys->data, '\0', phys->len)) {
		s->line = ln->lineno;
		return scan_error(s, "NUL byte: not a Dockerfile");
	}
	/* Inside a heredoc body: only look for its delimiter. */
	if (ln->hd_i < ln->nhd) {
		if (ln->hd_strip[ln->hd_i])
			while (*t == '\t')
				t++;
		if (!strcmp(t, ln->hd[ln->hd_i]))
			ln->hd_i++;
		return CC_OK;
	}
	while (*t == ' ' || *t == '\t')
		t++;
	if (ln->directives) {
		bool is_directive = false;

		s->line = ln->lineno;
		if ((rc = scan_directive(s, t, &ln->have_escape, &is_directive)))
			return rc;
		if (is_directive)
			return CC_OK;
		ln->directives = false;
	}
	if (*t == '#' || !*t)
		return CC_OK;	/* comments and blank lines, even in continuations */
	if (!ln->in_cont)
		s->line = ln->lineno;
	/* A continuation: the escape character, then only blanks. */
	while (e && (phys->data[e - 1] == ' ' || phys->data[e - 1] == '\t'))
		e--;
	cont = e && phys->data[e - 1] == s->df->escape;
	if (buf_add(&ln->logical, phys->data, cont ? e - 1 : phys->len, NULL))
		return oom(s);
	ln->in_cont = cont;
	if (cont)
		return CC_OK;
	if ((rc = scan_logical(s, ln)))
		return rc;
	buf_reset(&ln->logical);
	return CC_OK;
}

enum cc_code dockerfile_parse(struct dockerfile *df, const char *path, const char *text,
			      size_t len, const char *const *build_args, size_t nbuild_args,
			      enum df_mount_vars vars, struct cc_err *err)
{
	struct scan s = { .df = df, .err = err, .build_args = build_args,
			  .nbuild_args = nbuild_args, .mount_vars = vars };
	struct lines ln = { .logical = BUF_INIT, .directives = true };
	struct buf phys = BUF_INIT;
	enum cc_code rc = CC_OK;
	size_t pos = 0;

	memset(df, 0, sizeof(*df));
	df->escape = '\\';
	df->path = strdup(path);
	if (!df->path)
		return oom(&s);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;

		buf_reset(&phys);
		if (buf_add(&phys, text + pos, l, NULL)) {
			rc = oom(&s);
			goto cleanup;
		}
		pos += l + (nl ? 1 : 0);
		ln.lineno++;
		if (phys.len && phys.data[phys.len - 1] == '\r')
			buf_setlen(&phys, phys.len - 1);
		if ((rc = scan_line(&s, &ln, &phys)))
			goto cleanup;
	}
	if (ln.hd_i < ln.nhd) {
		rc = scan_error(&s, "heredoc '<<%s' is not terminated", ln.hd[ln.hd_i]);
		goto cleanup;
	}
	if (ln.in_cont) {
		const char *ins = ln.logical.data;

		while (*ins == ' ' || *ins == '\t')
			ins++;
		if ((rc = scan_instruction(&s, ins)))
			goto cleanup;
	}
	if (!df->nstages) {
		s.line = ln.lineno ? ln.lineno : 1;
		rc = scan_error(&s, "no FROM instruction");
	}
cleanup:
	buf_release(&ln.logical);
	buf_release(&phys);
	vars_release(&s.global);
	vars_release(&s.cur);
	for (size_t i = 0; s.stage_env && i < df->nstages; i++)
		vars_release(&s.stage_env[i]);
	free(s.stage_env);
	if (rc)
		dockerfile_release(df);
	return rc;
}

enum cc_code dockerfile_load(struct dockerfile *df, const char *path,
			     const char *const *build_args, size_t nbuild_args,
			     enum df_mount_vars vars, struct cc_err *err)
{
	struct buf b = BUF_INIT;
	char chunk[65536];
	enum cc_code rc;
	ssize_t n;
	int fd;

	memset(df, 0, sizeof(*df));
	buf_init(&b, DF_MAX_SIZE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cc_err_set(err, CC_ESOURCE, errno, "cannot open Dockerfile '%s'", path);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_add(&b, chunk, (size_t)n, err)) {
			close(fd);
			buf_release(&b);
			return cc_err_set(err, CC_ESOURCE, 0,
					  "Dockerfile '%s' is larger than 4 MiB", path);
		}
	if (n < 0) {
		rc = cc_err_set(err, CC_ESOURCE, errno, "cannot read Dockerfile '%s'", path);
		close(fd);
		buf_release(&b);
		return rc;
	}
	close(fd);
	rc = dockerfile_parse(df, path, b.data, b.len, build_args, nbuild_args, vars, err);
	buf_release(&b);
	return rc;
}

void dockerfile_release(struct dockerfile *df)
{
	for (size_t i = 0; i < df->nmounts; i++)
		mount_release(&df->mounts[i]);
	for (size_t i = 0; i < df->nstages; i++) {
		free(df->stages[i].name);
		free(df->stages[i].base);
	}
	free(df->mounts);
	free(df->stages);
	free(df->syntax);
	free(df->path);
	memset(df, 0, sizeof(*df));
	df->escape = '\\';
}
