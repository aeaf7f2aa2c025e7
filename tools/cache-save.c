/* cache-save: snapshot paths under a key into a store. */
#include "cli.h"
#include "../common/lifecycle.h"
#include "../common/glob.h"
#include "../common/log.h"
#include "../common/identity.h"
#include "../common/pathspec.h"
#include "../common/save.h"
#include "../common/store.h"
#include "../common/util.h"
#include "../common/version.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
"usage: cache-save --key KEY --path PATH [--path PATH]... [options]\n"
"\n"
"Snapshot files and directories under KEY into a cache store.  Content is\n"
"deduplicated against what the store holds; only new chunks are written.\n"
"\n"
"  -k, --key KEY            entry key (env CACHE_KEY)\n"
"  -p, --path PATTERN       path or @actions/glob pattern to save (*, ?, [...],\n"
"                           **; !PATTERN excludes, a later one re-includes);\n"
"                           repeatable; relative to the current directory or\n"
"                           ~/... (env CACHE_PATH, one per line)\n"
"      --strict-paths       a pattern that matches nothing fails the save\n"
"                           (exit 3) instead of a warning (CACHE_STRICT_PATHS)\n"
"  -s, --store STORE        a directory, file://DIR, s3://BUCKET[/PREFIX] or gha\n"
"                           (env CACHE_STORE; default\n"
"                           $XDG_CACHE_HOME/cicache/store)\n"
"  -r, --restore-key PREFIX also dedup against the newest entry with this key\n"
"                           prefix (env CACHE_RESTORE_KEYS, one per line)\n"
"      --immutable          keep an existing entry under KEY untouched\n"
"                           (env CACHE_IMMUTABLE=true)\n"
"  -l, --level N            zstd level 1-19 (env CACHE_LEVEL; default 3)\n"
"  -j, --jobs N             compression threads (default: CPUs) and parallel\n"
"                           uploads to a remote store (default 8); CACHE_JOBS\n"
"      --part-size SIZE     upload part size: an S3 multipart part (smaller\n"
"                           objects are one PUT) or a gha block; 5M to 128M\n"
"                           (suffixes K, M: powers of 1024; default 8M;\n"
"                           env CACHE_PART_SIZE)\n"
"      --max-store-size SIZE\n"
"                           after the save, prune the store (least recently\n"
"                           used entries first) until the data its entries\n"
"                           reference is at most SIZE (K, M, G, T suffixes;\n"
"                           env CACHE_MAX_STORE_SIZE; see cache-store(1))\n"
"      --timeout DURATION   give up after DURATION (seconds, or with an s, m\n"
"                           or h suffix): nothing is published, a warning,\n"
"                           cache-saved=false, exit 0 (env CACHE_TIMEOUT)\n"
"  -q, --quiet              only errors (env CACHE_QUIET=true)\n"
"  -v, --verbose            more detail (env CACHE_VERBOSE=true)\n"
"  -h, --help               show this help\n"
"  -V, --version            show the version\n"
"\n"
"Prints cache-saved=true|false and cache-key=KEY on stdout (and appends them\n"
"to $GITHUB_OUTPUT).  Nothing matched: a warning, cache-saved=false, exit 0.\n"
"Exit codes: 0 saved (or kept, with --immutable, or nothing matched),\n"
"2 usage, 3 a path cannot be read, 4 store error, 7 internal error.\n"
"See cache-save(1).\n";

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "immutable", no_argument, NULL, 'I' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "key", required_argument, NULL, 'k' },
	{ "level", required_argument, NULL, 'l' },
	{ "max-store-size", required_argument, NULL, 'M' },
	{ "part-size", required_argument, NULL, 'P' },
	{ "path", required_argument, NULL, 'p' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "restore-key", required_argument, NULL, 'r' },
	{ "store", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "strict-paths", no_argument, NULL, 'S' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *key, *store, *timeout;
	const char **paths, **restore_keys;
	size_t npaths, nrestore_keys;
	bool immutable, strict_paths;
	int level, jobs;
	uint64_t part_size;
	uint64_t max_store_size;
};

/* --max-store-size: a prune after the save (cache-store prune
 * --max-size); its failure is a warning, the save stands. */
static void cap_store(struct store *store, uint64_t max, const char *key)
{
	struct cc_prune_opts po = { .max_size = max, .keep_last = -1, .grace = 3600,
				    .protect_key = key };
	struct cc_prune_result pr;
	struct cc_err err = { 0 };
	const char *env = getenv("CACHE_PRUNE_GRACE");
	char b1[32], b2[32];

	if (env && *env)
		po.grace = strcmp(env, "0") ? cli_age("CACHE_PRUNE_GRACE", env) : 0;
	if (cc_store_prune(store, &po, &pr, &err)) {
		cli_warn("cannot prune the store to --max-store-size: %s", err.msg);
		return;
	}
	if (pr.entries_deleted || pr.packs_marked || pr.packs_deleted || cli_verbosity > 0)
		cli_info("pruned to --max-store-size: %llu entries deleted, %llu packs marked, "
			 "%llu deleted; store %s -> %s",
			 (unsigned long long)pr.entries_deleted, (unsigned long long)pr.packs_marked,
			 (unsigned long long)pr.packs_deleted, fmt_bytes(b1, sizeof(b1), pr.stored_before),
			 fmt_bytes(b2, sizeof(b2), pr.stored_after));
}

static void parse(int argc, char **argv, struct args *a)
{
	const char *env;
	int c;

	a->immutable = cli_env_bool("CACHE_IMMUTABLE");
	a->strict_paths = cli_env_bool("CACHE_STRICT_PATHS");
	if (cli_env_bool("CACHE_QUIET"))
		cli_verbosity = -1;
	if (cli_env_bool("CACHE_VERBOSE"))
		cli_verbosity = 1;
	while ((c = getopt_long(argc, argv, "hj:k:l:p:qr:s:vV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(usage, stdout); exit(EXIT_OK);
		case 'I': a->immutable = true; break;
		case 'j': a->jobs = cli_int("--jobs", optarg, 1, 64); break;
		case 'k': a->key = optarg; break;
		case 'l': a->level = cli_int("--level", optarg, 1, 19); break;
		case 'P': a->part_size = cli_size("--part-size", optarg); break;
		case 'M': a->max_store_size = cli_size("--max-store-size", optarg); break;
		case 'p': cli_list_add(&a->paths, &a->npaths, optarg); break;
		case 'q': cli_verbosity = -1; break;
		case 'r': cli_list_add(&a->restore_keys, &a->nrestore_keys, optarg); break;
		case 's': a->store = optarg; break;
		case 'T': a->timeout = optarg; break;
		case 'S': a->strict_paths = true; break;
		case 'v': cli_verbosity = 1; break;
		case 'V': cli_version("cache-save", argc, argv);
		default:
			fprintf(stderr, "Try 'cache-save --help'.\n");
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s' (paths go after --path)", argv[optind]);
		exit(EXIT_USAGE);
	}
	/* Twins are read after the flags, so a flag hides a bad twin. */
	if (!a->level && (env = getenv("CACHE_LEVEL")) && *env)
		a->level = cli_int("CACHE_LEVEL", env, 1, 19);
	if (!a->max_store_size && (env = getenv("CACHE_MAX_STORE_SIZE")) && *env)
		a->max_store_size = cli_size("CACHE_MAX_STORE_SIZE", env);
	if (!a->part_size && (env = getenv("CACHE_PART_SIZE")) && *env)
		a->part_size = cli_size("CACHE_PART_SIZE", env);
	if (a->part_size && (a->part_size < STORE_PART_MIN || a->part_size > STORE_PART_MAX)) {
		cli_error("the part size must be from 5M to 128M, not %llu bytes",
			  (unsigned long long)a->part_size);
		exit(EXIT_USAGE);
	}
	cli_shared_twins(&a->key, &a->paths, &a->npaths, &a->restore_keys, &a->nrestore_keys,
			 &a->jobs, &a->store);
	if (!a->npaths) {
		cli_error("no path given (use --path or CACHE_PATH)");
		exit(EXIT_USAGE);
	}
	cli_timeouts(a->timeout);
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct cc_err err;
	struct save_root *roots = NULL;
	struct glob g = { 0 };
	struct glob_root *groots = NULL;
	size_t ngroots = 0;
	bool missing = false, saved_nothing = false;
	struct buf *specs = NULL, *abss = NULL;
	struct save_opts so = { 0 };
	struct save_stats st;
	struct store *store = NULL;
	char cwd[PATH_MAX], b1[32], b2[32], rate[32], why[160];
	const char *home = getenv("HOME");
	char version[CC_IDENTITY_LEN + 1];
	enum cc_code rc;
	int code, sig;
	double secs;

	cli_init("cache-save");
	cc_err_clear(&err);
	parse(argc, argv, &a);
	if (!getcwd(cwd, sizeof(cwd))) {
		cli_error("cannot determine the current directory");
		code = EXIT_SOURCE;
		goto cleanup;
	}
	if ((rc = glob_init(&g, a.paths, a.npaths, cwd, home, &err))) {
		cli_error("%s", err.msg);
		code = cli_exit_code(rc);
		goto cleanup;
	}
	if ((rc = glob_expand(&g, &groots, &ngroots, &err))) {
		cli_error("%s", err.msg);
		code = cli_exit_code(rc);
		saved_nothing = true;
		goto cleanup;
	}
	/* As actions/cache: what matches nothing is named and passed over,
	 * unless the caller asked for the old all-or-nothing rule. */
	for (size_t i = 0; i < g.n; i++) {
		if (g.pats[i].negate || g.pats[i].hits)
			continue;
		missing = true;
		if (a.strict_paths)
			cli_error("path '%s' matches nothing", g.pats[i].raw);
		else
			cli_warn("path '%s' matches nothing: saving the rest", g.pats[i].raw);
	}
	if (a.strict_paths && (missing || !ngroots)) {
		code = EXIT_SOURCE;
		saved_nothing = true;
		goto cleanup;
	}
	if (!ngroots) {
		cli_warn("nothing to save under '%s': no path matched", a.key);
		cli_output("cache-saved", "false");
		cli_output("cache-key", a.key);
		code = EXIT_OK;
		goto cleanup;
	}
	roots = calloc(ngroots, sizeof(*roots));
	specs = calloc(ngroots, sizeof(*specs));
	abss = calloc(ngroots, sizeof(*abss));
	if (!roots || !specs || !abss) {
		cli_error("out of memory");
		code = EXIT_INTERNAL;
		goto cleanup;
	}
	for (size_t i = 0; i < ngroots; i++) {
		buf_init(&specs[i], 0);
		buf_init(&abss[i], 0);
	}
	for (size_t i = 0; i < ngroots; i++) {
		if ((rc = cc_path_record(groots[i].arg, cwd, home, &specs[i], &abss[i], &err))) {
			cli_error("%s", err.msg);
			code = cli_exit_code(rc);
			goto cleanup;
		}
		if (cli_verbosity > 0)
			cli_info("saving '%s'", specs[i].data);
		roots[i].spec = specs[i].data;
		roots[i].abs = abss[i].data;
	}
	so.key = a.key;
	so.roots = roots;
	so.nroots = ngroots;
	so.patterns = a.paths;
	so.npatterns = a.npaths;
	so.filter = g.has_exclusions ? &g : NULL;
	so.restore_keys = a.restore_keys;
	so.nrestore_keys = a.nrestore_keys;
	so.level = a.level;
	so.jobs = a.jobs;
	so.immutable = a.immutable;
	/* The --path list exactly as given is part of the entry's identity
	 * (docs/format.md, section 1), as actions/cache's version is. */
	if ((rc = cc_identity(a.paths, a.npaths, version, &err))) {
		cli_error("%s", err.msg);
		code = cli_exit_code(rc);
		goto cleanup;
	}
	so.version = version;
	if (cli_verbosity > 0)
		cli_info("path-list identity %s", version);

	cli_trap_signals();
	if ((rc = store_open(&store, a.store, &err))) {
		cli_error("%s", err.msg);
		code = cli_exit_code(rc);
		goto cleanup;
	}
	if (a.jobs)
		store->jobs = a.jobs;
	store->part_size = a.part_size;
	rc = cc_save(store, &so, &st, &err);
	secs = cli_elapsed();
	if (rc && cli_gave_up_why(why, sizeof(why))) {
		/* As actions/cache treats a save that fails: a warning, and the
		 * job goes on.  The entry was not published (a publish, once
		 * begun, finishes: cc_cancel_hold), so the store is as before. */
		cli_warn("%s: save abandoned, nothing was saved under '%s'", why, a.key);
		if (cli_verbosity > 0)
			cli_info("%s", err.msg);
		code = EXIT_OK;
		cli_output("cache-saved", "false");
		cli_output("cache-key", a.key);
		goto cleanup;
	}
	if (rc) {
		cli_error("%s", err.msg);
		cli_error("nothing was saved under '%s'", a.key);
		code = cli_exit_code(rc);
		cli_output("cache-saved", "false");
		cli_output("cache-key", a.key);
		goto cleanup;
	}
	code = EXIT_OK;
	if (st.excluded && cli_verbosity > 0)
		cli_info("%llu paths left out by exclusions", (unsigned long long)st.excluded);
	if ((sig = cli_settle_signals()))
		cli_info("SIG%s came after '%s' was published: the entry stands",
			 sigabbrev_np(sig), a.key);
	if (st.kept_existing) {
		cli_info("kept the existing entry '%s' (--immutable): nothing saved", a.key);
		cli_output("cache-saved", "false");
	} else {
		cli_info("saved '%s': %llu files, %s, %s new (%.1f%% deduplicated), %.2f s, %s",
			 a.key, (unsigned long long)st.files, fmt_bytes(b1, sizeof(b1), st.bytes),
			 fmt_bytes(b2, sizeof(b2), st.new_bytes),
			 st.bytes ? 100.0 * (double)(st.bytes - st.new_data) / (double)st.bytes : 100.0,
			 secs, cli_rate(rate, sizeof(rate), st.bytes, secs));
		if (cli_verbosity > 0)
			cli_info("%llu dirs, %llu symlinks, %llu hard links, %llu skipped; %llu chunks "
				 "(%llu new), %llu packs, %u dedup bases",
				 (unsigned long long)st.dirs, (unsigned long long)st.symlinks,
				 (unsigned long long)st.hardlinks, (unsigned long long)st.skipped,
				 (unsigned long long)st.chunks, (unsigned long long)st.new_chunks,
				 (unsigned long long)st.packs, st.bases);
		cli_output("cache-saved", "true");
	}
	cli_output("cache-key", a.key);
	if (a.max_store_size)
		cap_store(store, a.max_store_size, a.key);
cleanup:
	if (saved_nothing) {
		cli_error("nothing was saved under '%s'", a.key);
		cli_output("cache-saved", "false");
		cli_output("cache-key", a.key);
	}
	store_close(store);
	for (size_t i = 0; specs && abss && i < ngroots; i++) {
		buf_release(&specs[i]);
		buf_release(&abss[i]);
	}
	free(specs);
	free(abss);
	free(roots);
	glob_roots_free(groots, ngroots);
	glob_release(&g);
	free(a.paths);
	free(a.restore_keys);
	cli_reraise();
	return code;
}
