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

/* One run of cache-save: the arguments and what main builds from them. */
struct job {
	struct args a;
	char cwd[PATH_MAX];
	const char *home;
	struct glob g;
	struct glob_root *groots;
	size_t ngroots;
	struct save_root *roots;
	struct buf *specs, *abss;	/* per root: its record and absolute path */
	char version[CC_IDENTITY_LEN + 1];
	struct store *store;
	struct cc_err err;
};

static void job_release(struct job *j)
{
	store_close(j->store);
	for (size_t i = 0; j->specs && j->abss && i < j->ngroots; i++) {
		buf_release(&j->specs[i]);
		buf_release(&j->abss[i]);
	}
	free(j->specs);
	free(j->abss);
	free(j->roots);
	glob_roots_free(j->groots, j->ngroots);
	glob_release(&j->g);
	free(j->a.paths);
	free(j->a.restore_keys);
}

/* The outputs of a save that published nothing. */
static void output_unsaved(const struct job *j)
{
	cli_output("cache-saved", "false");
	cli_output("cache-key", j->a.key);
}

/* Prints err and @return the exit status of rc. */
static int fail(const struct job *j, enum cc_code rc)
{
	cli_error("%s", j->err.msg);
	return cli_exit_code(rc);
}

/* Expands the --path patterns into roots.  @return -1 to go on, or the
 * exit status (a usage or source error, or nothing matched). */
static int expand_paths(struct job *j)
{
	bool missing = false;
	enum cc_code rc;

	if ((rc = glob_init(&j->g, j->a.paths, j->a.npaths, j->cwd, j->home, &j->err)))
		return fail(j, rc);
	if ((rc = glob_expand(&j->g, &j->groots, &j->ngroots, &j->err))) {
		int code = fail(j, rc);

		cli_error("nothing was saved under '%s'", j->a.key);
		output_unsaved(j);
		return code;
	}
	/* As actions/cache: what matches nothing is named and passed over,
	 * unless the caller asked for the old all-or-nothing rule. */
	for (size_t i = 0; i < j->g.n; i++) {
		if (j->g.pats[i].negate || j->g.pats[i].hits)
			continue;
		missing = true;
		if (j->a.strict_paths)
			cli_error("path '%s' matches nothing", j->g.pats[i].raw);
		else
			cli_warn("path '%s' matches nothing: saving the rest", j->g.pats[i].raw);
	}
	if (j->a.strict_paths && (missing || !j->ngroots)) {
		cli_error("nothing was saved under '%s'", j->a.key);
		output_unsaved(j);
		return EXIT_SOURCE;
	}
	if (!j->ngroots) {
		cli_warn("nothing to save under '%s': no path matched", j->a.key);
		output_unsaved(j);
		return EXIT_OK;
	}
	return -1;
}

/* Records each root as the manifest will name it (cc_path_record) and
 * fills the save options.  @return -1 to go on, or the exit status. */
static int plan(struct job *j, struct save_opts *so)
{
	enum cc_code rc;

	j->roots = calloc(j->ngroots, sizeof(*j->roots));
	j->specs = calloc(j->ngroots, sizeof(*j->specs));
	j->abss = calloc(j->ngroots, sizeof(*j->abss));
	if (!j->roots || !j->specs || !j->abss) {
		cli_error("out of memory");
		return EXIT_INTERNAL;
	}
	for (size_t i = 0; i < j->ngroots; i++) {
		buf_init(&j->specs[i], 0);
		buf_init(&j->abss[i], 0);
	}
	for (size_t i = 0; i < j->ngroots; i++) {
		if ((rc = cc_path_record(j->groots[i].arg, j->cwd, j->home, &j->specs[i],
					 &j->abss[i], &j->err)))
			return fail(j, rc);
		if (cli_verbosity > 0)
			cli_info("saving '%s'", j->specs[i].data);
		j->roots[i].spec = j->specs[i].data;
		j->roots[i].abs = j->abss[i].data;
	}
	/* The --path list exactly as given is part of the entry's identity
	 * (docs/format.md, section 1), as actions/cache's version is. */
	if ((rc = cc_identity(j->a.paths, j->a.npaths, j->version, &j->err)))
		return fail(j, rc);
	if (cli_verbosity > 0)
		cli_info("path-list identity %s", j->version);
	*so = (struct save_opts){
		.key = j->a.key, .roots = j->roots, .nroots = j->ngroots,
		.patterns = j->a.paths, .npatterns = j->a.npaths,
		.filter = j->g.has_exclusions ? &j->g : NULL,
		.restore_keys = j->a.restore_keys, .nrestore_keys = j->a.nrestore_keys,
		.level = j->a.level, .jobs = j->a.jobs, .immutable = j->a.immutable,
		.version = j->version,
	};
	return -1;
}

/* The summary line and outputs of a save that succeeded. */
static void report(const struct job *j, const struct save_stats *st, double secs)
{
	char b1[32], b2[32], rate[32];
	int sig;

	if (st->excluded && cli_verbosity > 0)
		cli_info("%llu paths left out by exclusions", (unsigned long long)st->excluded);
	if ((sig = cli_settle_signals()))
		cli_info("SIG%s came after '%s' was published: the entry stands",
			 sigabbrev_np(sig), j->a.key);
	if (st->kept_existing) {
		cli_info("kept the existing entry '%s' (--immutable): nothing saved", j->a.key);
		cli_output("cache-saved", "false");
	} else {
		cli_info("saved '%s': %llu files, %s, %s new (%.1f%% deduplicated), %.2f s, %s",
			 j->a.key, (unsigned long long)st->files, fmt_bytes(b1, sizeof(b1), st->bytes),
			 fmt_bytes(b2, sizeof(b2), st->new_bytes),
			 st->bytes ? 100.0 * (double)(st->bytes - st->new_data) / (double)st->bytes
				   : 100.0,
			 secs, cli_rate(rate, sizeof(rate), st->bytes, secs));
		if (cli_verbosity > 0)
			cli_info("%llu dirs, %llu symlinks, %llu hard links, %llu skipped; %llu chunks "
				 "(%llu new), %llu packs, %u dedup bases",
				 (unsigned long long)st->dirs, (unsigned long long)st->symlinks,
				 (unsigned long long)st->hardlinks, (unsigned long long)st->skipped,
				 (unsigned long long)st->chunks, (unsigned long long)st->new_chunks,
				 (unsigned long long)st->packs, st->bases);
		cli_output("cache-saved", "true");
	}
	cli_output("cache-key", j->a.key);
}

/* Opens the store and saves.  @return the exit status. */
static int save(struct job *j, const struct save_opts *so)
{
	struct save_stats st;
	char why[160];
	enum cc_code rc;

	cli_trap_signals();
	if ((rc = store_open(&j->store, j->a.store, &j->err)))
		return fail(j, rc);
	if (j->a.jobs)
		j->store->jobs = j->a.jobs;
	j->store->part_size = j->a.part_size;
	rc = cc_save(j->store, so, &st, &j->err);
	if (rc && cli_gave_up_why(why, sizeof(why))) {
		/* As actions/cache treats a save that fails: a warning, and the
		 * job goes on.  The entry was not published (a publish, once
		 * begun, finishes: cc_cancel_hold), so the store is as before. */
		cli_warn("%s: save abandoned, nothing was saved under '%s'", why, j->a.key);
		if (cli_verbosity > 0)
			cli_info("%s", j->err.msg);
		output_unsaved(j);
		return EXIT_OK;
	}
	if (rc) {
		int code = fail(j, rc);

		cli_error("nothing was saved under '%s'", j->a.key);
		output_unsaved(j);
		return code;
	}
	report(j, &st, cli_elapsed());
	if (j->a.max_store_size)
		cap_store(j->store, j->a.max_store_size, j->a.key);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct job j = { 0 };
	struct save_opts so;
	int code;

	cli_init("cache-save");
	cc_err_clear(&j.err);
	parse(argc, argv, &j.a);
	j.home = getenv("HOME");
	if (!getcwd(j.cwd, sizeof(j.cwd))) {
		cli_error("cannot determine the current directory");
		code = EXIT_SOURCE;
	} else if ((code = expand_paths(&j)) < 0 && (code = plan(&j, &so)) < 0) {
		code = save(&j, &so);
	}
	job_release(&j);
	cli_reraise();
	return code;
}
