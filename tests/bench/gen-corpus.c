/*
 * gen-corpus: deterministic synthetic corpus for the cicache benchmark.
 *
 *   gen-corpus gen    DIR SIZE_MB SEED   write a node_modules-like tree
 *   gen-corpus mutate DIR SEED           change ~1% of its files in place
 *                                        (pass the seed used for gen)
 *
 * The same SEED (and SIZE_MB) always gives byte-identical trees, so runs on
 * different days and machines compare like with like, and the benchmark
 * works without network.
 *
 * What it tries to imitate, because that is what makes cache tools differ:
 *  - many small text files (JS, JSON, .d.ts, READMEs, source maps) whose
 *    vocabulary and boilerplate repeat across files, so they compress well
 *    and a shared-dictionary or solid archive wins over per-file compression;
 *  - exact duplicate packages nested under other packages (npm does this
 *    when versions conflict), so content dedup has something to find;
 *  - near-duplicate files (licence texts differing in one line);
 *  - a few large binary-ish files (prebuilt .node modules, a webpack pack
 *    file) that are only partly compressible;
 *  - symlinks (node_modules/.bin), executable bits, empty files and an
 *    empty directory, so restore correctness checks see all of them.
 * The mutation inserts lines (shifting content, which defeats fixed-size
 * chunking), adds a small new package, deletes a few files and overwrites a
 * 64 KiB region of one large file.
 *
 * Only libc is used; file order never depends on readdir() order.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- deterministic randomness (splitmix64: tiny, good enough, portable) */

typedef struct { uint64_t s; } rng_t;

static uint64_t rnext(rng_t *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static rng_t rseed(uint64_t a, uint64_t b)
{
	rng_t r = { a * 0x2545F4914F6CDD1DULL ^ (b + 0x632BE59BD9B4E019ULL) };
	rnext(&r);
	return r;
}

static double runif(rng_t *r) { return (double)(rnext(r) >> 11) / 9007199254740992.0; }
static size_t rbelow(rng_t *r, size_t n) { return n ? (size_t)(rnext(r) % n) : 0; }

/* Skewed pick in [0,n): low indices are much more frequent, like real
 * identifier frequencies; this is what gives cross-file redundancy. */
static size_t rzipf(rng_t *r, size_t n) { return (size_t)((double)n * pow(runif(r), 2.6)); }

/* Log-normal size with the given median, clamped. */
static size_t rsize(rng_t *r, double median, double sigma, size_t lo, size_t hi)
{
	double u1 = runif(r) + 1e-12, u2 = runif(r);
	double g = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
	double v = median * exp(sigma * g);
	if (v < (double)lo) v = (double)lo;
	if (v > (double)hi) v = (double)hi;
	return (size_t)v;
}

/* ---- small helpers ----------------------------------------------------- */

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("gen-corpus: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

typedef struct { char *p; size_t n, cap; } buf_t;

static void breserve(buf_t *b, size_t extra)
{
	if (b->n + extra + 1 <= b->cap) return;
	size_t c = b->cap ? b->cap : 4096;
	while (c < b->n + extra + 1) c *= 2;
	b->p = realloc(b->p, c);
	if (!b->p) die("out of memory");
	b->cap = c;
}

static void bput(buf_t *b, const char *s, size_t n)
{
	breserve(b, n);
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void bputs(buf_t *b, const char *s) { bput(b, s, strlen(s)); }

static void bprintf(buf_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	breserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)n;
}

static void mkdir_p(const char *path)
{
	char tmp[4096];
	size_t len = strlen(path);
	if (len >= sizeof tmp) die("path too long: %s", path);
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/') continue;
		*p = 0;
		if (mkdir(tmp, 0755) && errno != EEXIST) die("mkdir %s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST) die("mkdir %s: %s", tmp, strerror(errno));
}

static uint64_t g_bytes, g_files;

static void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	/* Files come grouped by directory; skipping repeat mkdirs saves a lot
	 * of syscalls on tens of thousands of files. */
	static char last_dir[4096];
	if (slash) {
		*slash = 0;
		if (strcmp(dir, last_dir)) { mkdir_p(dir); memcpy(last_dir, dir, strlen(dir) + 1); }
	}
	FILE *f = fopen(path, "wb");
	if (!f) die("open %s: %s", path, strerror(errno));
	if (n && fwrite(data, 1, n, f) != n) die("write %s: %s", path, strerror(errno));
	if (fclose(f)) die("close %s: %s", path, strerror(errno));
	if (chmod(path, mode)) die("chmod %s: %s", path, strerror(errno));
	g_bytes += n;
	g_files++;
}

/* ---- vocabulary: built once from the seed, shared by every file -------- */

static const char *SYL[] = {
	"get", "set", "create", "use", "handle", "parse", "format", "resolve",
	"load", "render", "update", "merge", "validate", "normalize", "is", "to",
	"buffer", "node", "element", "config", "options", "state", "context",
	"module", "plugin", "request", "response", "stream", "token", "value",
	"key", "path", "file", "cache", "hook", "event", "emitter", "schema",
	"type", "props", "style", "theme", "component", "client", "service",
	"error", "result", "promise", "callback", "iterator", "map", "list",
	"array", "object", "string", "number", "default", "local", "global",
	"source", "target", "input", "output", "params", "query", "header",
};
#define NSYL (sizeof SYL / sizeof SYL[0])
#define NVOCAB 3000
static char *vocab[NVOCAB];

static void build_vocab(uint64_t seed)
{
	rng_t r = rseed(seed, 1);
	for (size_t i = 0; i < NVOCAB; i++) {
		buf_t b = { 0 };
		size_t parts = 1 + rbelow(&r, 3);
		for (size_t k = 0; k < parts; k++) {
			const char *s = SYL[rzipf(&r, NSYL)];
			if (k == 0) bputs(&b, s);
			else { char c[2] = { (char)(s[0] - 32), 0 }; bputs(&b, c); bputs(&b, s + 1); }
		}
		vocab[i] = b.p;
	}
}

static const char *word(rng_t *r) { return vocab[rzipf(r, NVOCAB)]; }

/* Boilerplate blocks that many files start with (transpiler helpers,
 * licence headers): identical across files, as in real node_modules. */
#define NBOILER 24
static char *boiler[NBOILER];

static void build_boiler(uint64_t seed)
{
	rng_t r = rseed(seed, 2);
	for (size_t i = 0; i < NBOILER; i++) {
		buf_t b = { 0 };
		bputs(&b, "\"use strict\";\n\n");
		size_t n = 2 + rbelow(&r, 6);
		for (size_t k = 0; k < n; k++) {
			const char *f = word(&r);
			bprintf(&b, "function _%s(obj) {\n  return obj && obj.__esModule ? obj : { default: obj };\n}\n", f);
			bprintf(&b, "var _%s = _interopRequireDefault(require(\"%s\"));\n", word(&r), word(&r));
		}
		bputs(&b, "Object.defineProperty(exports, \"__esModule\", {\n  value: true\n});\n\n");
		boiler[i] = b.p;
	}
}

/* ---- file content generators ------------------------------------------- */

static void gen_js_line(buf_t *b, rng_t *r, int indent)
{
	for (int i = 0; i < indent; i++) bputs(b, "  ");
	switch (rbelow(r, 14)) {
	case 0: bprintf(b, "const %s = require(\"%s\");\n", word(r), word(r)); break;
	case 1: bprintf(b, "function %s(%s, %s) {\n", word(r), word(r), word(r)); break;
	case 2: bprintf(b, "if (%s === undefined) return %s;\n", word(r), word(r)); break;
	case 3: bprintf(b, "return %s.%s(%s);\n", word(r), word(r), word(r)); break;
	case 4: bputs(b, "}\n"); break;
	case 5: bprintf(b, "exports.%s = %s;\n", word(r), word(r)); break;
	case 6: bprintf(b, "var %s = %s[%s] || {};\n", word(r), word(r), word(r)); break;
	case 7: bprintf(b, "/**\n * %s the %s of %s.\n * @param {%s} %s\n * @returns {%s}\n */\n",
			word(r), word(r), word(r), word(r), word(r), word(r)); break;
	case 8: bprintf(b, "for (let i = 0; i < %s.length; i++) {\n", word(r)); break;
	case 9: bprintf(b, "%s.push(%s(%s[i]));\n", word(r), word(r), word(r)); break;
	case 10: bprintf(b, "throw new TypeError(\"%s must be a %s\");\n", word(r), word(r)); break;
	case 11: bprintf(b, "%s.prototype.%s = function %s(%s) {\n", word(r), word(r), word(r), word(r)); break;
	case 12: bprintf(b, "Object.defineProperty(exports, \"%s\", { enumerable: true, get: function () { return %s.%s; } });\n",
			 word(r), word(r), word(r)); break;
	default: bprintf(b, "%s = %s(%s, %lu);\n", word(r), word(r), word(r), (unsigned long)rbelow(r, 1000)); break;
	}
}

/* Real code repeats whole lines across files (imports, helper calls,
 * guards); drawing most lines from a shared pool reproduces that, and is
 * what brings the text close to real node_modules' ~5x zstd ratio. */
#define NPOOL 6000
static char *pool[NPOOL];

static void build_pool(uint64_t seed)
{
	rng_t r = rseed(seed, 7);
	for (size_t i = 0; i < NPOOL; i++) {
		buf_t b = { 0 };
		gen_js_line(&b, &r, (int)rbelow(&r, 4));
		pool[i] = b.p;
	}
}

static void gen_js(buf_t *b, rng_t *r, size_t target)
{
	if (runif(r) < 0.6) bputs(b, boiler[rzipf(r, NBOILER)]);
	while (b->n < target) {
		if (runif(r) < 0.7) bputs(b, pool[rzipf(r, NPOOL)]);
		else gen_js_line(b, r, (int)rbelow(r, 4));
	}
}

static void gen_dts(buf_t *b, rng_t *r, size_t target)
{
	bputs(b, "/// <reference types=\"node\" />\n");
	while (b->n < target) {
		if (rbelow(r, 3) == 0) {
			bprintf(b, "export interface %sProps {\n", word(r));
			for (size_t k = 0, n = 2 + rbelow(r, 8); k < n; k++)
				bprintf(b, "    %s?: %s | undefined;\n", word(r), rbelow(r, 2) ? "string" : word(r));
			bputs(b, "}\n");
		} else {
			bprintf(b, "export declare function %s(%s: %s, options?: %sOptions): Promise<%s>;\n",
				word(r), word(r), word(r), word(r), word(r));
		}
	}
}

/* Minified code: short names, no newlines; compresses less than pretty JS. */
static void gen_min(buf_t *b, rng_t *r, size_t target)
{
	static const char *ops[] = { "=", "(", ")", "{", "}", ";", ",", ".", "&&", "||", "?", ":", "!", "+" };
	bputs(b, "!function(e,t){\"object\"==typeof exports?module.exports=t():e.lib=t()}(this,function(){");
	while (b->n < target) {
		if (rbelow(r, 2) == 0) bputs(b, word(r));
		else { char id[3] = { (char)('a' + rbelow(r, 26)), 0, 0 }; if (rbelow(r, 2)) id[1] = (char)('a' + rbelow(r, 26)); bputs(b, id); }
		bputs(b, ops[rbelow(r, sizeof ops / sizeof ops[0])]);
		if (rbelow(r, 40) == 0) bprintf(b, "%lu", (unsigned long)rnext(r) % 100000);
	}
	bputs(b, "});\n");
}

/* Source map: VLQ mappings are nearly random base64, the least compressible
 * text in a real node_modules. */
static void gen_map(buf_t *b, rng_t *r, size_t target, const char *src)
{
	static const char B64[] = "ACEGIKMOQSUWYacegikmoqsuwy024BDFHJLNPRTVXZbdfhjlnprtvxz13";
	bprintf(b, "{\"version\":3,\"file\":\"%s\",\"sources\":[\"../src/%s\"],\"names\":[", src, src);
	for (size_t k = 0, n = 5 + rbelow(r, 30); k < n; k++) bprintf(b, "%s\"%s\"", k ? "," : "", word(r));
	bputs(b, "],\"mappings\":\"");
	while (b->n + 2 < target) {
		/* Real segments are mostly short deltas ("AAAA", "CAAC", "EAAE"). */
		if (rbelow(r, 3)) {
			static const char *common[] = { "AAAA", "CAAC", "EAAE", "GAAG", "IAAI", "AACA", "CAAA", "EAAA", "QAAQ", "KAAK" };
			bputs(b, common[rzipf(r, sizeof common / sizeof common[0])]);
		} else {
			size_t seg = 1 + rbelow(r, 6);
			for (size_t k = 0; k < seg; k++) { char c[2] = { B64[rzipf(r, sizeof B64 - 1)], 0 }; bputs(b, c); }
		}
		bputs(b, rbelow(r, 12) ? "," : ";");
	}
	bputs(b, "\"}\n");
}

static void gen_md(buf_t *b, rng_t *r, size_t target, const char *name)
{
	bprintf(b, "# %s\n\n[![npm version](https://img.shields.io/npm/v/%s.svg)]()\n\n## Install\n\n```sh\nnpm install %s\n```\n\n## Usage\n\n",
		name, name, name);
	while (b->n < target) {
		size_t n = 8 + rbelow(r, 20);
		for (size_t k = 0; k < n; k++) bprintf(b, "%s%s", k ? " " : "", word(r));
		bputs(b, rbelow(r, 4) ? ". " : ".\n\n");
	}
}

static const char *LICENSE_MIT =
	"MIT License\n\nCopyright (c) %s contributors\n\n"
	"Permission is hereby granted, free of charge, to any person obtaining a copy\n"
	"of this software and associated documentation files (the \"Software\"), to deal\n"
	"in the Software without restriction, including without limitation the rights\n"
	"to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n"
	"copies of the Software, and to permit persons to whom the Software is\n"
	"furnished to do so, subject to the following conditions:\n\n"
	"The above copyright notice and this permission notice shall be included in all\n"
	"copies or substantial portions of the Software.\n\n"
	"THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n"
	"IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n"
	"FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.\n";

/* ---- packages ----------------------------------------------------------- */

typedef struct {
	uint64_t seed;
	char name[160];
	int has_bin;
} pkg_t;

/* Writes one package under dir; everything derives from p->seed, so writing
 * the same package twice gives identical bytes (nested duplicates). */
static void write_package(const char *dir, const pkg_t *p)
{
	rng_t r = rseed(p->seed, 3);
	char path[4096];
	buf_t b = { 0 };
	unsigned maj = (unsigned)rbelow(&r, 12), min = (unsigned)rbelow(&r, 30), pat = (unsigned)rbelow(&r, 20);

	bprintf(&b, "{\n  \"name\": \"%s\",\n  \"version\": \"%u.%u.%u\",\n  \"description\": \"%s %s %s\",\n  \"main\": \"lib/index.js\",\n  \"license\": \"MIT\",\n",
		p->name, maj, min, pat, word(&r), word(&r), word(&r));
	if (p->has_bin) bprintf(&b, "  \"bin\": { \"%s\": \"bin/cli.js\" },\n", p->name);
	bputs(&b, "  \"dependencies\": {\n");
	for (size_t k = 0, n = rbelow(&r, 6); k < n; k++)
		bprintf(&b, "    \"%s\": \"^%lu.%lu.0\"%s\n", word(&r), (unsigned long)rbelow(&r, 9), (unsigned long)rbelow(&r, 20), k + 1 < n ? "," : "");
	bputs(&b, "  }\n}\n");
	snprintf(path, sizeof path, "%s/package.json", dir);
	write_file(path, b.p, b.n, 0644);

	b.n = 0;
	bprintf(&b, LICENSE_MIT, p->name);
	snprintf(path, sizeof path, "%s/LICENSE", dir);
	write_file(path, b.p, b.n, 0644);

	b.n = 0;
	gen_md(&b, &r, rsize(&r, 3000, 0.9, 300, 60000), p->name);
	snprintf(path, sizeof path, "%s/README.md", dir);
	write_file(path, b.p, b.n, 0644);

	if (p->has_bin) {
		b.n = 0;
		bputs(&b, "#!/usr/bin/env node\n");
		gen_js(&b, &r, rsize(&r, 1500, 0.6, 200, 20000));
		snprintf(path, sizeof path, "%s/bin/cli.js", dir);
		write_file(path, b.p, b.n, 0755);
	}

	/* A few big packages (think aws-sdk/apis) dominate the file count. */
	size_t njs = runif(&r) < 0.04 ? 80 + rbelow(&r, 300) : 1 + (size_t)(20 * pow(runif(&r), 2));
	size_t nsub = 1 + njs / 25;
	for (size_t k = 0; k < njs; k++) {
		b.n = 0;
		const char *base = k == 0 ? "index" : word(&r);
		size_t sub = rbelow(&r, nsub);
		gen_js(&b, &r, rsize(&r, 4000, 1.1, 120, 400000));
		if (sub == 0) snprintf(path, sizeof path, "%s/lib/%s.js", dir, base);
		else snprintf(path, sizeof path, "%s/lib/%s%zu/%s.js", dir, vocab[(p->seed + sub) % NVOCAB], sub, base);
		write_file(path, b.p, b.n, 0644);
		if (rbelow(&r, 2) == 0) {
			b.n = 0;
			gen_dts(&b, &r, b.n + rsize(&r, 800, 0.8, 80, 40000));
			size_t l = strlen(path);
			path[l - 3] = 0;
			strncat(path, ".d.ts", sizeof path - strlen(path) - 1);
			write_file(path, b.p, b.n, 0644);
		}
	}
	if (runif(&r) < 0.25) {
		for (size_t k = 0, n = 1 + rbelow(&r, 2); k < n; k++) {
			char fname[200];
			snprintf(fname, sizeof fname, "%s%s.min.js", p->name[0] == '@' ? "bundle" : p->name, k ? ".umd" : "");
			b.n = 0;
			gen_min(&b, &r, rsize(&r, 40000, 1.0, 2000, 900000));
			snprintf(path, sizeof path, "%s/dist/%s", dir, fname);
			write_file(path, b.p, b.n, 0644);
			b.n = 0;
			gen_map(&b, &r, rsize(&r, 30000, 1.0, 500, 900000), fname);
			snprintf(path, sizeof path, "%s/dist/%s.map", dir, fname);
			write_file(path, b.p, b.n, 0644);
		}
	}
	if (rbelow(&r, 40) == 0) {
		snprintf(path, sizeof path, "%s/.npmignore", dir);
		write_file(path, "", 0, 0644);
	}
	free(b.p);
}

/* Binary-ish data in 64 KiB blocks of mixed kinds: random (incompressible),
 * small-alphabet words (like machine code), zero padding and string tables.
 * About 2.5x compressible overall, like real prebuilt binaries. */
static void gen_binary_block(unsigned char *blk, size_t n, rng_t *r)
{
	size_t kind = rbelow(r, 10);
	if (kind < 3) {
		for (size_t i = 0; i + 8 <= n; i += 8) { uint64_t v = rnext(r); memcpy(blk + i, &v, 8); }
	} else if (kind < 7) {
		uint32_t table[64];
		for (size_t i = 0; i < 64; i++) table[i] = (uint32_t)rnext(r);
		for (size_t i = 0; i + 4 <= n; i += 4) memcpy(blk + i, &table[rzipf(r, 64)], 4);
	} else if (kind < 8) {
		memset(blk, 0, n);
	} else {
		size_t i = 0;
		while (i < n) {
			const char *w = word(r);
			size_t l = strlen(w) + 1;
			if (i + l > n) l = n - i;
			memcpy(blk + i, w, l);
			i += l;
		}
	}
}

static void write_binary(const char *path, size_t size, uint64_t seed)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	*strrchr(dir, '/') = 0;
	mkdir_p(dir);
	rng_t r = rseed(seed, 4);
	FILE *f = fopen(path, "wb");
	if (!f) die("open %s: %s", path, strerror(errno));
	unsigned char blk[65536];
	for (size_t done = 0; done < size; done += sizeof blk) {
		size_t n = size - done < sizeof blk ? size - done : sizeof blk;
		gen_binary_block(blk, n, &r);
		if (fwrite(blk, 1, n, f) != n) die("write %s: %s", path, strerror(errno));
	}
	if (fclose(f)) die("close %s: %s", path, strerror(errno));
	g_bytes += size;
	g_files++;
}

static void make_pkg_name(pkg_t *p, rng_t *r, size_t idx)
{
	/* The index suffix keeps names unique without a lookup table. */
	if (runif(r) < 0.15)
		snprintf(p->name, sizeof p->name, "@%s/%s-%zu", word(r), word(r), idx);
	else
		snprintf(p->name, sizeof p->name, "%s-%s-%zu", word(r), word(r), idx);
	for (char *c = p->name; *c; c++)
		if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
}

static void link_bin(const char *root, const char *nm_rel, const pkg_t *p)
{
	char dir[4096], link[4400], target[4096];
	const char *base = strrchr(p->name, '/') ? strrchr(p->name, '/') + 1 : p->name;
	snprintf(dir, sizeof dir, "%s/%s/.bin", root, nm_rel);
	mkdir_p(dir);
	snprintf(link, sizeof link, "%s/%s", dir, base);
	snprintf(target, sizeof target, "../%s/bin/cli.js", p->name);
	if (symlink(target, link) && errno != EEXIST) die("symlink %s: %s", link, strerror(errno));
}

static int cmd_gen(const char *root, double size_mb, uint64_t seed)
{
	build_vocab(seed);
	build_boiler(seed);
	build_pool(seed);
	mkdir_p(root);
	uint64_t total = (uint64_t)(size_mb * 1e6);
	uint64_t text_budget = total * 72 / 100;
	rng_t r = rseed(seed, 5);

	size_t cap = 1024, n = 0;
	pkg_t *pk = malloc(cap * sizeof *pk);
	char dir[4096];
	while (g_bytes < text_budget) {
		if (n == cap) { cap *= 2; pk = realloc(pk, cap * sizeof *pk); }
		if (!pk) die("out of memory");
		if (n > 20 && runif(&r) < 0.12) {
			/* Nested duplicate of an earlier package, as npm does when two
			 * dependants need the same version but the hoisted one differs. */
			pkg_t *dup = &pk[rbelow(&r, n)], *host = &pk[rbelow(&r, n)];
			snprintf(dir, sizeof dir, "%s/node_modules/%s/node_modules/%s", root, host->name, dup->name);
			write_package(dir, dup);
			continue;
		}
		pkg_t *p = &pk[n];
		p->seed = rnext(&r);
		make_pkg_name(p, &r, n);
		p->has_bin = runif(&r) < 0.08;
		snprintf(dir, sizeof dir, "%s/node_modules/%s", root, p->name);
		write_package(dir, p);
		if (p->has_bin) link_bin(root, "node_modules", p);
		n++;
	}
	/* Large binary-ish files: 28% of the total in four files. */
	static const struct { const char *rel; unsigned pct; } bins[] = {
		{ "node_modules/@next/swc-linux-x64-gnu/next-swc.linux-x64-gnu.node", 11 },
		{ "node_modules/.cache/webpack/client-production/0.pack", 8 },
		{ "node_modules/esbuild-linux-64/bin/esbuild", 5 },
		{ "node_modules/sharp/build/Release/sharp-linux-x64.node", 4 },
	};
	for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++) {
		snprintf(dir, sizeof dir, "%s/%s", root, bins[i].rel);
		write_binary(dir, (size_t)(total * bins[i].pct / 100), seed * 31 + i);
	}
	snprintf(dir, sizeof dir, "%s/node_modules/esbuild-linux-64/bin/esbuild", root);
	if (chmod(dir, 0755)) die("chmod %s: %s", dir, strerror(errno));
	snprintf(dir, sizeof dir, "%s/node_modules/.cache/empty-dir", root);
	mkdir_p(dir);
	printf("gen-corpus: %llu files, %llu bytes, %zu packages in %s\n",
	       (unsigned long long)g_files, (unsigned long long)g_bytes, n, root);
	free(pk);
	return 0;
}

/* ---- mutation ------------------------------------------------------------ */

typedef struct { char *path; off_t size; } ent_t;
static ent_t *ents;
static size_t nents, capents;

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode)) return 0;
	if (nents == capents) {
		capents = capents ? capents * 2 : 4096;
		ents = realloc(ents, capents * sizeof *ents);
		if (!ents) die("out of memory");
	}
	ents[nents].path = strdup(path);
	ents[nents].size = st->st_size;
	nents++;
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const ent_t *)a)->path, ((const ent_t *)b)->path);
}

static char *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) die("open %s: %s", path, strerror(errno));
	buf_t b = { 0 };
	char tmp[65536];
	size_t k;
	while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) bput(&b, tmp, k);
	fclose(f);
	*n = b.n;
	if (!b.p) { b.p = malloc(1); b.p[0] = 0; }
	return b.p;
}

static int cmd_mutate(const char *root, uint64_t seed)
{
	/* Same vocabulary as gen with the same seed: edits look like the code. */
	build_vocab(seed);
	build_boiler(seed);
	build_pool(seed);
	if (nftw(root, collect, 64, FTW_PHYS)) die("walk %s: %s", root, strerror(errno));
	if (!nents) die("no files under %s", root);
	/* nftw follows readdir() order; sorting makes the choice reproducible. */
	qsort(ents, nents, sizeof *ents, by_path);
	rng_t r = rseed(seed, 6);

	/* Small files only for the 1%: a big binary is handled separately so
	 * one unlucky pick cannot turn "1% of files" into "30% of bytes". */
	size_t nsmall = 0, big = (size_t)-1;
	for (size_t i = 0; i < nents; i++) {
		if (ents[i].size < 4 * 1024 * 1024) nsmall++;
		else if (big == (size_t)-1) big = i;
	}
	size_t nmod = nsmall * 6 / 1000 + 1, ndel = nsmall * 2 / 1000 + 1, nadd = nsmall * 2 / 1000 + 1;
	unsigned char *taken = calloc(nents, 1);
	size_t mods = 0, dels = 0, adds = 0, guard = 0;
	while ((mods < nmod || dels < ndel) && guard++ < nents * 20) {
		size_t i = rbelow(&r, nents);
		if (taken[i] || ents[i].size >= 4 * 1024 * 1024) continue;
		taken[i] = 1;
		if (mods < nmod) {
			/* Insert lines at a line boundary: shifts everything after it. */
			size_t n;
			char *old = read_all(ents[i].path, &n);
			size_t at = n ? rbelow(&r, n) : 0;
			while (at > 0 && at < n && old[at - 1] != '\n') at++;
			buf_t b = { 0 };
			bput(&b, old, at);
			for (size_t k = 0, m = 1 + rbelow(&r, 5); k < m; k++) gen_js_line(&b, &r, 1);
			bput(&b, old + at, n - at);
			struct stat st;
			if (stat(ents[i].path, &st)) die("stat %s: %s", ents[i].path, strerror(errno));
			g_bytes = g_files = 0;
			write_file(ents[i].path, b.p, b.n, st.st_mode & 07777);
			free(old);
			free(b.p);
			mods++;
		} else {
			if (unlink(ents[i].path)) die("unlink %s: %s", ents[i].path, strerror(errno));
			dels++;
		}
	}
	/* New files: half beside existing files, half as a new package. */
	char path[4096];
	for (size_t k = 0; k < nadd / 2 + 1; k++) {
		size_t i = rbelow(&r, nents);
		char *slash = strrchr(ents[i].path, '/');
		buf_t b = { 0 };
		gen_js(&b, &r, rsize(&r, 2500, 1.0, 120, 100000));
		snprintf(path, sizeof path, "%.*s/added-%zu.js", (int)(slash - ents[i].path), ents[i].path, k);
		write_file(path, b.p, b.n, 0644);
		free(b.p);
		adds++;
	}
	pkg_t p = { .seed = seed * 7919 + 1, .has_bin = 0 };
	snprintf(p.name, sizeof p.name, "axios-synth");
	snprintf(path, sizeof path, "%s/node_modules/axios-synth", root);
	g_files = 0;
	write_package(path, &p);
	adds += g_files;

	int bigmod = 0;
	if (big != (size_t)-1) {
		FILE *f = fopen(ents[big].path, "r+b");
		if (!f) die("open %s: %s", ents[big].path, strerror(errno));
		unsigned char blk[65536];
		gen_binary_block(blk, sizeof blk, &r);
		if (fseeko(f, ents[big].size / 2, SEEK_SET) || fwrite(blk, 1, sizeof blk, f) != sizeof blk)
			die("patch %s: %s", ents[big].path, strerror(errno));
		fclose(f);
		bigmod = 1;
	}
	printf("gen-corpus: mutated %s: %zu of %zu files modified, %zu added, %zu deleted, %d large file patched (64 KiB)\n",
	       root, mods, nents, adds, dels, bigmod);
	free(taken);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "gen"))
		return cmd_gen(argv[2], atof(argv[3]), strtoull(argv[4], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "mutate"))
		return cmd_mutate(argv[2], strtoull(argv[3], NULL, 10));
	fprintf(stderr, "usage: gen-corpus gen DIR SIZE_MB SEED\n       gen-corpus mutate DIR SEED\n");
	return 2;
}
