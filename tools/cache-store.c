/* cache-store: look after a store: list, stats, delete, prune, check. */
#include "cli.h"
#include "../common/lifecycle.h"
#include "../common/log.h"
#include "../common/store.h"
#include "../common/util.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
"usage: cache-store [--store STORE] [-q|-v] COMMAND [ARGS]\n"
"\n"
"Look after a cicache store.  Commands:\n"
"\n"
"  list [--prefix P] [--json]\n"
"        one line per entry: key, path-list identity, logical size, stored\n"
"        bytes it references, bytes only it references, created, last used\n"
"  stats\n"
"        entries, packs, stored bytes, bytes no entry references, dedup ratio\n"
"  delete KEY... | --prefix P [--dry-run]\n"
"        remove entries (every path list of each KEY); packs stay until prune\n"
"  prune [--max-size SIZE] [--max-age DURATION] [--keep-last N [--prefix P]]\n"
"        [--grace DURATION] [--dry-run]\n"
"        remove entries unused for longer than --max-age, all but the N most\n"
"        recently used of --prefix P, then the least recently used until the\n"
"        referenced data is at most --max-size; then packs no entry uses\n"
"        (marked first, deleted by a later prune after --grace, default 1h)\n"
"  check [--read-data]\n"
"        every entry's manifest parses and its packs hold its frames; with\n"
"        --read-data, every frame decompresses to the recorded chunks\n"
"\n"
"  -s, --store STORE        a directory, file://DIR, s3://BUCKET[/PREFIX] or gha\n"
"                           (env CACHE_STORE; default\n"
"                           $XDG_CACHE_HOME/cicache/store)\n"
"  -q, --quiet              only errors (env CACHE_QUIET=true)\n"
"  -v, --verbose            more detail (env CACHE_VERBOSE=true)\n"
"  -h, --help               show this help\n"
"  -V, --version            show the version\n"
"\n"
"SIZE: bytes with an optional K, M, G or T suffix (powers of 1024; env\n"
"CACHE_MAX_STORE_SIZE).  DURATION: seconds, or with an s, m, h or d suffix\n"
"(--max-age: env CACHE_MAX_AGE; --grace: env CACHE_PRUNE_GRACE).  Also\n"
"--keep-last: env CACHE_KEEP_LAST; --dry-run: env CACHE_DRY_RUN=true.\n"
"\n"
"Exit codes: 0 done (check: the store is sound), 1 delete: a KEY had no\n"
"entry, 2 usage, 4 store error, 5 check: some entry is damaged, 7 internal\n"
"error.  See cache-store(1).\n";

static const struct option global_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "store", required_argument, NULL, 's' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

enum { O_PREFIX = 256, O_JSON, O_DRY, O_MAX_SIZE, O_MAX_AGE, O_KEEP_LAST, O_GRACE, O_READ };

static const struct option sub_opts[] = {
	{ "dry-run", no_argument, NULL, O_DRY },
	{ "grace", required_argument, NULL, O_GRACE },
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, O_JSON },
	{ "keep-last", required_argument, NULL, O_KEEP_LAST },
	{ "max-age", required_argument, NULL, O_MAX_AGE },
	{ "max-size", required_argument, NULL, O_MAX_SIZE },
	{ "prefix", required_argument, NULL, O_PREFIX },
	{ "read-data", no_argument, NULL, O_READ },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *store, *prefix;
	bool json, dry_run, read_data;
	struct cc_prune_opts prune;
	bool have_prefix;
};

static void usage_error(const char *fmt, const char *arg)
{
	cli_error(fmt, arg);
	fprintf(stderr, "Try 'cache-store --help'.\n");
	exit(EXIT_USAGE);
}

/* Which options each command takes. */
static bool allowed(const char *cmd, int opt)
{
	switch (opt) {
	case 'h': case 'q': case 'v': return true;
	case O_PREFIX: return !strcmp(cmd, "list") || !strcmp(cmd, "delete") || !strcmp(cmd, "prune");
	case O_JSON: return !strcmp(cmd, "list");
	case O_DRY: return !strcmp(cmd, "delete") || !strcmp(cmd, "prune");
	case O_MAX_SIZE: case O_MAX_AGE: case O_KEEP_LAST: case O_GRACE: return !strcmp(cmd, "prune");
	case O_READ: return !strcmp(cmd, "check");
	}
	return false;
}

static void parse_sub(int argc, char **argv, const char *cmd, struct args *a)
{
	const char *env;
	bool have_grace = false, have_age = false;
	int c;

	a->prune.keep_last = -1;
	a->prune.grace = 3600;
	optind = 0;	/* glibc: rescan from scratch */
	while ((c = getopt_long(argc, argv, "hqv", sub_opts, NULL)) != -1) {
		if (c == '?')
			usage_error("bad option for '%s'", cmd);
		if (!allowed(cmd, c))
			usage_error("option '%s' does not go with this command", argv[optind - 1]);
		switch (c) {
		case 'h': fputs(usage, stdout); exit(EXIT_OK);
		case 'q': cli_verbosity = -1; break;
		case 'v': cli_verbosity = 1; break;
		case O_PREFIX: a->prefix = optarg; a->have_prefix = true; break;
		case O_JSON: a->json = true; break;
		case O_DRY: a->dry_run = true; break;
		case O_READ: a->read_data = true; break;
		case O_MAX_SIZE: a->prune.max_size = cli_size("--max-size", optarg); break;
		case O_MAX_AGE: a->prune.max_age = cli_age("--max-age", optarg); have_age = true; break;
		case O_KEEP_LAST: a->prune.keep_last = cli_int("--keep-last", optarg, 0, 1 << 30); break;
		case O_GRACE:
			have_grace = true;
			if (!strcmp(optarg, "0"))
				a->prune.grace = 0;
			else
				a->prune.grace = cli_age("--grace", optarg);
			break;
		}
	}
	if (!a->dry_run && allowed(cmd, O_DRY))
		a->dry_run = cli_env_bool("CACHE_DRY_RUN");
	if (!strcmp(cmd, "prune")) {
		if (!a->prune.max_size && (env = getenv("CACHE_MAX_STORE_SIZE")) && *env)
			a->prune.max_size = cli_size("CACHE_MAX_STORE_SIZE", env);
		if (!have_age && (env = getenv("CACHE_MAX_AGE")) && *env)
			a->prune.max_age = cli_age("CACHE_MAX_AGE", env);
		if (!have_grace && (env = getenv("CACHE_PRUNE_GRACE")) && *env)
			a->prune.grace = strcmp(env, "0") ? cli_age("CACHE_PRUNE_GRACE", env) : 0;
		if (a->prune.keep_last < 0 && (env = getenv("CACHE_KEEP_LAST")) && *env)
			a->prune.keep_last = cli_int("CACHE_KEEP_LAST", env, 0, 1 << 30);
		if (a->have_prefix && a->prune.keep_last < 0)
			usage_error("%s", "prune --prefix goes with --keep-last");
		a->prune.keep_prefix = a->prefix;
		a->prune.dry_run = a->dry_run;
	}
}

static const char *fmt_time(char *out, size_t n, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!ns || !gmtime_r(&t, &tm))
		snprintf(out, n, "-");
	else
		strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

/* A JSON string: quotes, backslash and control characters escaped; bytes
 * of 0x80 and above go through as they are (keys are valid UTF-8). */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static int cmd_list(struct store *st, const struct args *a)
{
	struct cc_store_list l;
	struct cc_err err = { 0 };
	enum cc_code rc = cc_store_list(st, a->prefix ? a->prefix : "", &l, &err);
	char b1[32], b2[32], b3[32], t1[32], t2[32];

	if (rc) {
		cli_error("%s", err.msg);
		return cli_exit_code(rc);
	}
	if (a->json)
		fputs("[", stdout);
	else if (l.n && cli_verbosity >= 0)
		printf("%-10s %-10s %-10s %-20s %-20s %-16s %s\n", "SIZE", "STORED", "ONLY",
		       "CREATED", "LAST-USED", "PATHS", "KEY");
	for (size_t i = 0; i < l.n; i++) {
		const struct cc_list_entry *e = &l.e[i];

		if (a->json) {
			printf("%s\n {\"key\": ", i ? "," : "");
			json_str(stdout, e->key);
			printf(", \"paths\": ");
			if (*e->version)
				json_str(stdout, e->version);
			else
				fputs("null", stdout);
			if (e->n_patterns) {
				const char *q = e->patterns;

				fputs(", \"patterns\": [", stdout);
				for (size_t j = 0; j < e->n_patterns; j++, q += strlen(q) + 1) {
					fputs(j ? ", " : "", stdout);
					json_str(stdout, q);
				}
				fputs("]", stdout);
			}
			if (e->known)
				printf(", \"size\": %" PRIu64 ", \"files\": %" PRIu64
				       ", \"stored\": %" PRIu64 ", \"only\": %" PRIu64
				       ", \"manifest\": %" PRIu64 ", \"created_ns\": %" PRId64,
				       e->size, e->files, e->stored, e->unique, e->manifest_bytes,
				       e->created_ns);
			else
				fputs(", \"damaged\": true", stdout);
			printf(", \"published_ns\": %" PRId64 ", \"last_used_ns\": ", e->published_ns);
			if (e->last_used_ns)
				printf("%" PRId64 "}", e->last_used_ns);
			else
				fputs("null}", stdout);
			continue;
		}
		if (e->known)
			printf("%-10s %-10s %-10s %-20s %-20s %-16s %s\n",
			       fmt_bytes(b1, sizeof(b1), e->size), fmt_bytes(b2, sizeof(b2), e->stored),
			       fmt_bytes(b3, sizeof(b3), e->unique), fmt_time(t1, sizeof(t1), e->created_ns),
			       fmt_time(t2, sizeof(t2), e->last_used_ns), *e->version ? e->version : "-",
			       e->key);
		else
			printf("%-10s %-10s %-10s %-20s %-20s %-16s %s\n", "?", "?", "?",
			       fmt_time(t1, sizeof(t1), e->published_ns),
			       fmt_time(t2, sizeof(t2), e->last_used_ns), *e->version ? e->version : "-",
			       e->key);
	}
	if (a->json)
		puts(l.n ? "\n]" : "]");
	cc_store_list_free(&l);
	return EXIT_OK;
}

static int cmd_stats(struct store *st)
{
	struct cc_store_stats s;
	struct cc_err err = { 0 };
	enum cc_code rc = cc_store_stats(st, &s, &err);
	char b[32];

	if (rc) {
		cli_error("%s", err.msg);
		return cli_exit_code(rc);
	}
	printf("entries: %" PRIu64 "\n", s.entries);
	if (s.unknown_entries)
		printf("unreadable entries: %" PRIu64 "\n", s.unknown_entries);
	printf("packs: %" PRIu64 "\n", s.packs);
	printf("stored bytes: %" PRIu64 " (%s)\n", s.stored, fmt_bytes(b, sizeof(b), s.stored));
	printf("referenced bytes: %" PRIu64 " (%s)\n", s.referenced,
	       fmt_bytes(b, sizeof(b), s.referenced));
	printf("unreferenced bytes: %" PRIu64 " (%s)\n", s.unreferenced,
	       fmt_bytes(b, sizeof(b), s.unreferenced));
	printf("logical bytes: %" PRIu64 " (%s)\n", s.logical, fmt_bytes(b, sizeof(b), s.logical));
	printf("manifest bytes: %" PRIu64 "\n", s.manifests);
	/* Dedup: what the entries reference, each counted alone, over what is
	 * stored once for them. */
	printf("dedup ratio: %.2f\n", s.referenced ? (double)s.ref_sum / (double)s.referenced : 1.0);
	printf("summaries: %" PRIu64 "\ncondemned packs: %" PRIu64 "\n", s.summaries, s.condemned);
	return EXIT_OK;
}

struct note_ctx {
	bool dry;
};

static void note(void *ctx, const char *what, const char *name, uint64_t bytes)
{
	struct note_ctx *n = ctx;
	char b[32];

	if (cli_verbosity < 0)
		return;
	if (bytes)
		printf("%s%s %s (%s)\n", n->dry ? "would " : "", what, name,
		       fmt_bytes(b, sizeof(b), bytes));
	else
		printf("%s%s %s\n", n->dry ? "would " : "", what, name);
}

static int cmd_delete(struct store *st, const struct args *a, char **keys, size_t nkeys)
{
	struct cc_err err = { 0 };
	struct note_ctx nc = { a->dry_run };
	size_t deleted, missing;
	enum cc_code rc;

	if (!nkeys && !a->have_prefix)
		usage_error("%s", "delete needs a KEY or --prefix P");
	if (a->have_prefix && !*a->prefix)
		usage_error("%s", "delete --prefix is empty (it would delete every entry)");
	rc = cc_store_delete(st, (const char *const *)keys, nkeys, a->prefix, a->dry_run, note, &nc,
			     &deleted, &missing, &err);
	if (rc) {
		cli_error("%s", err.msg);
		return cli_exit_code(rc);
	}
	if (cli_verbosity >= 0)
		cli_info("%s %zu entr%s", a->dry_run ? "would delete" : "deleted", deleted,
			 deleted == 1 ? "y" : "ies");
	if (missing) {
		cli_warn("%zu key%s had no entry", missing, missing == 1 ? "" : "s");
		return EXIT_MISS;
	}
	return EXIT_OK;
}

static int cmd_prune(struct store *st, struct args *a)
{
	struct cc_prune_result r;
	struct cc_err err = { 0 };
	struct note_ctx nc = { a->dry_run };
	char b1[32], b2[32];
	enum cc_code rc;

	a->prune.note = note;
	a->prune.ctx = &nc;
	rc = cc_store_prune(st, &a->prune, &r, &err);
	if (rc) {
		cli_error("%s", err.msg);
		return cli_exit_code(rc);
	}
	if (cli_verbosity >= 0)
		cli_info("%s%" PRIu64 " of %" PRIu64 " entries deleted, %" PRIu64 " packs marked, %"
			 PRIu64 " deleted, %" PRIu64 " kept (younger than the grace); store %s -> %s",
			 a->dry_run ? "dry run: " : "", r.entries_deleted, r.entries_before,
			 r.packs_marked, r.packs_deleted, r.packs_kept_young,
			 fmt_bytes(b1, sizeof(b1), r.stored_before),
			 fmt_bytes(b2, sizeof(b2), r.stored_after));
	return EXIT_OK;
}

static void check_note(void *ctx, const char *what, const char *name, uint64_t bytes)
{
	(void)ctx;
	(void)bytes;
	if (!strcmp(what, "ok")) {
		if (cli_verbosity > 0)
			printf("ok %s\n", name);
	} else {
		printf("damaged %s: %s\n", name, what);
	}
}

static int cmd_check(struct store *st, const struct args *a)
{
	struct cc_check_result r;
	struct cc_err err = { 0 };
	enum cc_code rc = cc_store_check(st, a->read_data, check_note, NULL, &r, &err);

	if (rc) {
		cli_error("%s", err.msg);
		return cli_exit_code(rc);
	}
	if (cli_verbosity >= 0)
		cli_info("%" PRIu64 " entries checked, %" PRIu64 " damaged%s", r.entries,
			 r.bad_entries, a->read_data ? "" : " (without --read-data)");
	return r.bad_entries ? EXIT_CORRUPT : EXIT_OK;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct store *st = NULL;
	struct cc_err err = { 0 };
	const char *cmd;
	enum cc_code rc;
	int c, code;

	cli_init("cache-store");
	if (cli_env_bool("CACHE_QUIET"))
		cli_verbosity = -1;
	if (cli_env_bool("CACHE_VERBOSE"))
		cli_verbosity = 1;
	while ((c = getopt_long(argc, argv, "+hqs:vV", global_opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(usage, stdout); exit(EXIT_OK);
		case 'q': cli_verbosity = -1; break;
		case 's': a.store = optarg; break;
		case 'v': cli_verbosity = 1; break;
		case 'V': cli_version("cache-store", argc, argv);
		default:
			fprintf(stderr, "Try 'cache-store --help'.\n");
			exit(EXIT_USAGE);
		}
	}
	if (optind >= argc)
		usage_error("%s", "a command is needed: list, stats, delete, prune or check");
	cmd = argv[optind];
	if (strcmp(cmd, "list") && strcmp(cmd, "stats") && strcmp(cmd, "delete") &&
	    strcmp(cmd, "prune") && strcmp(cmd, "check"))
		usage_error("unknown command '%s' (list, stats, delete, prune, check)", cmd);
	argc -= optind;
	argv += optind;
	parse_sub(argc, argv, cmd, &a);
	if (optind < argc && strcmp(cmd, "delete"))
		usage_error("unexpected argument '%s'", argv[optind]);
	cli_trap_signals();
	if ((rc = store_open(&st, cli_store(a.store), &err))) {
		cli_error("%s", err.msg);
		return cli_exit_code(rc);
	}
	if (!strcmp(cmd, "list"))
		code = cmd_list(st, &a);
	else if (!strcmp(cmd, "stats"))
		code = cmd_stats(st);
	else if (!strcmp(cmd, "delete"))
		code = cmd_delete(st, &a, argv + optind, (size_t)(argc - optind));
	else if (!strcmp(cmd, "prune"))
		code = cmd_prune(st, &a);
	else
		code = cmd_check(st, &a);
	store_close(st);
	cli_reraise();
	return code;
}
