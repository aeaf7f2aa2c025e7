/* cache-save: snapshot paths under a key into a store. */
#include "cli.h"
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
"  -p, --path PATH          file or directory to save; repeatable; relative\n"
"                           to the current directory or ~/... (env CACHE_PATH,\n"
"                           one path per line)\n"
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
"  -q, --quiet              only errors (env CACHE_QUIET=true)\n"
"  -v, --verbose            more detail (env CACHE_VERBOSE=true)\n"
"  -h, --help               show this help\n"
"  -V, --version            show the version\n"
"\n"
"Prints cache-saved=true|false and cache-key=KEY on stdout (and appends them\n"
"to $GITHUB_OUTPUT).  Exit codes: 0 saved (or kept, with --immutable),\n"
"2 usage, 3 a path cannot be read, 4 store error, 7 internal error.\n"
"See cache-save(1).\n";

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "immutable", no_argument, NULL, 'I' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "key", required_argument, NULL, 'k' },
	{ "level", required_argument, NULL, 'l' },
	{ "path", required_argument, NULL, 'p' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "restore-key", required_argument, NULL, 'r' },
	{ "store", required_argument, NULL, 's' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *key, *store;
	const char **paths, **restore_keys;
	size_t npaths, nrestore_keys;
	bool immutable;
	int level, jobs;
};

static void parse(int argc, char **argv, struct args *a)
{
	const char *env;
	int c;

	a->immutable = cli_env_bool("CACHE_IMMUTABLE");
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
		case 'p': cli_list_add(&a->paths, &a->npaths, optarg); break;
		case 'q': cli_verbosity = -1; break;
		case 'r': cli_list_add(&a->restore_keys, &a->nrestore_keys, optarg); break;
		case 's': a->store = optarg; break;
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
	cli_shared_twins(&a->key, &a->paths, &a->npaths, &a->restore_keys, &a->nrestore_keys,
			 &a->jobs, &a->store);
	if (!a->npaths) {
		cli_error("no path given (use --path or CACHE_PATH)");
		exit(EXIT_USAGE);
	}
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct cc_err err;
	struct save_root *roots = NULL;
	struct buf *specs = NULL, *abss = NULL;
	struct save_opts so = { 0 };
	struct save_stats st;
	struct store *store = NULL;
	char cwd[PATH_MAX], b1[32], b2[32], rate[32];
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
		goto out;
	}
	roots = calloc(a.npaths, sizeof(*roots));
	specs = calloc(a.npaths, sizeof(*specs));
	abss = calloc(a.npaths, sizeof(*abss));
	if (!roots || !specs || !abss) {
		cli_error("out of memory");
		code = EXIT_INTERNAL;
		goto out;
	}
	for (size_t i = 0; i < a.npaths; i++) {
		buf_init(&specs[i], 0);
		buf_init(&abss[i], 0);
		if ((rc = cc_path_record(a.paths[i], cwd, home, &specs[i], &abss[i], &err))) {
			cli_error("%s", err.msg);
			code = cli_exit_code(rc);
			goto out;
		}
		/* Nested paths would be saved twice and could not be restored
		 * safely (see cache-restore(1), SAFETY). */
		for (size_t j = 0; j < i; j++)
			if (cc_path_overlap(abss[i].data, abss[j].data)) {
				cli_error("paths '%s' and '%s' overlap: give only the outer one",
					  a.paths[j], a.paths[i]);
				code = EXIT_USAGE;
				goto out;
			}
		roots[i].spec = specs[i].data;
		roots[i].abs = abss[i].data;
	}
	so.key = a.key;
	so.roots = roots;
	so.nroots = a.npaths;
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
		goto out;
	}
	so.version = version;
	if (cli_verbosity > 0)
		cli_info("path-list identity %s", version);

	cli_trap_signals();
	if ((rc = store_open(&store, a.store, &err))) {
		cli_error("%s", err.msg);
		code = cli_exit_code(rc);
		goto out;
	}
	if (a.jobs)
		store->jobs = a.jobs;
	rc = cc_save(store, &so, &st, &err);
	secs = cli_elapsed();
	if (rc) {
		cli_error("%s", err.msg);
		cli_error("nothing was saved under '%s'", a.key);
		code = cli_exit_code(rc);
		cli_output("cache-saved", "false");
		cli_output("cache-key", a.key);
		goto out;
	}
	code = EXIT_OK;
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
out:
	store_close(store);
	for (size_t i = 0; specs && abss && i < a.npaths; i++) {
		buf_release(&specs[i]);
		buf_release(&abss[i]);
	}
	free(specs);
	free(abss);
	free(roots);
	free(a.paths);
	free(a.restore_keys);
	cli_reraise();
	return code;
}
