/* cache-restore: find the best entry for a key and put it back. */
#include "cli.h"
#include "../common/gha-legacy.h"
#include "../common/identity.h"
#include "../common/log.h"
#include "../common/pathspec.h"
#include "../common/restore.h"
#include "../common/store.h"
#include "../common/util.h"
#include "../common/version.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
"usage: cache-restore --key KEY [--restore-key PREFIX]... [--path PATH]...\n"
"                     [--only PATH]... [--store STORE] [--lookup-only]\n"
"                     [--fail-on-miss] [--keep-directory-symlink]\n"
"                     [--timeout DURATION]\n"
"\n"
"Restore the newest entry saved under KEY or, failing that, the newest entry\n"
"whose key starts with KEY, then with each --restore-key in order.  With\n"
"--path, only entries saved with the same --path list (as given, in order)\n"
"count, and entries saved before cicache recorded that list.\n"
"\n"
"  -k, --key KEY            primary key (env CACHE_KEY)\n"
"  -r, --restore-key PREFIX fallback key prefix, tried in order\n"
"                           (env CACHE_RESTORE_KEYS, one per line)\n"
"  -p, --path PATH          the --path list the entry was saved with;\n"
"                           repeatable (env CACHE_PATH, one per line)\n"
"  -o, --only PATH          restore only this recorded path; repeatable\n"
"                           (env CACHE_ONLY, one per line; formerly what\n"
"                           cache-restore --path did)\n"
"  -s, --store STORE        a directory, file://DIR, s3://BUCKET[/PREFIX] or gha\n"
"                           (env CACHE_STORE; default\n"
"                           $XDG_CACHE_HOME/cicache/store)\n"
"      --lookup-only        report the match, write nothing\n"
"                           (env CACHE_LOOKUP_ONLY=true)\n"
"      --fail-on-miss       exit 1 when nothing matches\n"
"                           (env CACHE_FAIL_ON_MISS=true)\n"
"  -j, --jobs N             file writer threads (at most 8 used) and parallel\n"
"                           downloads from a remote store (default 8)\n"
"                           (env CACHE_JOBS; default: CPUs)\n"
"      --max-restore-size SIZE\n"
"                           refuse an entry that would take more than SIZE\n"
"                           on disk (suffixes K, M, G, T: powers of 1024;\n"
"                           env CACHE_MAX_RESTORE_SIZE; default: no cap but\n"
"                           the free space, which is always checked)\n"
"      --same-owner         restore owners too (root only)\n"
"      --keep-directory-symlink\n"
"                           follow a symlink where a path's directory goes\n"
"                           (if it leads under $HOME or the current\n"
"                           directory) instead of replacing it\n"
"                           (env CACHE_KEEP_DIRECTORY_SYMLINK=true)\n"
"      --timeout DURATION   give up after DURATION (seconds, or with an s, m\n"
"                           or h suffix): a miss, with a warning; files\n"
"                           already restored are whole (env CACHE_TIMEOUT)\n"
"  -q, --quiet              only errors (env CACHE_QUIET=true)\n"
"  -v, --verbose            more detail (env CACHE_VERBOSE=true)\n"
"  -h, --help               show this help\n"
"  -V, --version            show the version\n"
"\n"
"Prints cache-hit=true|false, cache-primary-key=KEY and cache-matched-key=KEY\n"
"on stdout (and appends them to $GITHUB_OUTPUT).  cache-hit is true only for\n"
"an exact key match.\n"
"\n"
"A download segment (one ranged GET from a remote store, retries included)\n"
"that takes longer than SEGMENT_DOWNLOAD_TIMEOUT_MINS minutes (default 10,\n"
"as for actions/cache) makes the restore a miss, with a warning.\n"
"\n"
"With --store gha and --path, when no cicache entry matches, an entry that\n"
"actions/cache saved for the same paths (written exactly as in its step, in\n"
"the same order) is restored instead.\n"
"\n"
"Exit codes: 0 restored or missed, 1 miss with --fail-on-miss, 2 usage,\n"
"4 store error, 5 corrupt entry, 6 cannot write the files, 7 internal\n"
"error.  See cache-restore(1).\n";

static const struct option longopts[] = {
	{ "fail-on-miss", no_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "keep-directory-symlink", no_argument, NULL, 'K' },
	{ "key", required_argument, NULL, 'k' },
	{ "lookup-only", no_argument, NULL, 'L' },
	{ "max-restore-size", required_argument, NULL, 'M' },
	{ "only", required_argument, NULL, 'o' },
	{ "path", required_argument, NULL, 'p' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "restore-key", required_argument, NULL, 'r' },
	{ "same-owner", no_argument, NULL, 'O' },
	{ "store", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *key, *store, *timeout;
	const char **paths, **restore_keys, **only;
	size_t npaths, nrestore_keys, nonly;
	bool lookup_only, fail_on_miss, same_owner, keep_dir_symlink;
	int jobs;
	uint64_t max_size;
};

static void parse(int argc, char **argv, struct args *a)
{
	const char *env;
	int c;

	a->lookup_only = cli_env_bool("CACHE_LOOKUP_ONLY");
	a->fail_on_miss = cli_env_bool("CACHE_FAIL_ON_MISS");
	a->keep_dir_symlink = cli_env_bool("CACHE_KEEP_DIRECTORY_SYMLINK");
	if (cli_env_bool("CACHE_QUIET"))
		cli_verbosity = -1;
	if (cli_env_bool("CACHE_VERBOSE"))
		cli_verbosity = 1;
	while ((c = getopt_long(argc, argv, "hj:k:o:p:qr:s:vV", longopts, NULL)) != -1) {
		switch (c) {
		case 'F': a->fail_on_miss = true; break;
		case 'h': fputs(usage, stdout); exit(EXIT_OK);
		case 'j': a->jobs = cli_int("--jobs", optarg, 1, 64); break;
		case 'K': a->keep_dir_symlink = true; break;
		case 'k': a->key = optarg; break;
		case 'L': a->lookup_only = true; break;
		case 'M': a->max_size = cli_size("--max-restore-size", optarg); break;
		case 'o': cli_list_add(&a->only, &a->nonly, optarg); break;
		case 'O': a->same_owner = true; break;
		case 'p': cli_list_add(&a->paths, &a->npaths, optarg); break;
		case 'q': cli_verbosity = -1; break;
		case 'r': cli_list_add(&a->restore_keys, &a->nrestore_keys, optarg); break;
		case 's': a->store = optarg; break;
		case 'T': a->timeout = optarg; break;
		case 'v': cli_verbosity = 1; break;
		case 'V': cli_version("cache-restore", argc, argv);
		default:
			fprintf(stderr, "Try 'cache-restore --help'.\n");
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		exit(EXIT_USAGE);
	}
	if (!a->max_size && (env = getenv("CACHE_MAX_RESTORE_SIZE")) && *env)
		a->max_size = cli_size("CACHE_MAX_RESTORE_SIZE", env);
	if (!a->nonly)
		cli_env_list("CACHE_ONLY", &a->only, &a->nonly);
	cli_shared_twins(&a->key, &a->paths, &a->npaths, &a->restore_keys, &a->nrestore_keys,
			 &a->jobs, &a->store);
	if (a->same_owner && geteuid() != 0) {
		cli_error("--same-owner needs root");
		exit(EXIT_USAGE);
	}
	cli_timeouts(a->timeout);
}

/* @return true if the entry holds at least one requested path; warns
 * about requested paths it lacks. */
static bool entry_has_paths(struct cc_entry *e, const char *key, const char *const *only,
			    size_t nonly)
{
	const char *const *roots;
	size_t nroots = cc_entry_roots(e, &roots), hits = 0;

	for (size_t i = 0; i < nonly; i++) {
		bool found = false;

		for (size_t j = 0; j < nroots && !found; j++)
			found = !strcmp(roots[j], only[i]);
		if (found)
			hits++;
		else
			cli_warn("entry '%s' does not hold '%s'", key, only[i]);
	}
	return hits > 0;
}

/* The outputs of a restore that put nothing in place: a miss, a failure,
 * or an entry with no path this job may restore. */
static void output_no_hit(const char *key)
{
	cli_output("cache-hit", "false");
	cli_output("cache-primary-key", key);
	cli_output("cache-matched-key", "");
}

/* The restore was given up (--timeout, the segment timeout): a miss with
 * a warning, as actions/cache makes it, not a failure.  The cancellation
 * path has left every file whole (the old one or the restored one) and
 * removed what it staged.  @return true with the exit code in *ret_code,
 * or false when nothing was given up (err is then a real failure). */
static bool given_up(const struct args *a, const struct cc_err *err, bool started,
		     int *ret_code)
{
	char why[160];

	if (!cli_gave_up_why(why, sizeof(why)))
		return false;
	cli_warn("%s: restore abandoned, treated as a miss", why);
	if (started)
		cli_warn("the files restored before that are complete; the others are as they were");
	if (cli_verbosity > 0)
		cli_info("%s", err->msg);
	output_no_hit(a->key);
	*ret_code = a->fail_on_miss ? EXIT_MISS : EXIT_OK;
	return true;
}

/* The files are in place (or, with --lookup-only, the answer is made):
 * a signal from now on no longer makes this a failure, only a note. */
static void settle(const char *key, const char *done)
{
	int sig = cli_settle_signals();

	if (sig)
		cli_info("SIG%s came after '%s' was %s: that stands", sigabbrev_np(sig), key, done);
}

/* No cicache entry matched: with --path, one that actions/cache saved for
 * the same `path:` lines may be in the store's service (a store with
 * legacy_lookup: the GitHub Actions cache; a miss on any other store).
 * @return -1 on a miss, else the exit code, the outputs printed. */
static int restore_legacy(const struct args *a, struct store *store, const char *cwd,
			  const char *home)
{
	struct gha_legacy_entry *le = NULL;
	struct gha_legacy_opts lo = { 0 };
	struct gha_legacy_stats ls;
	struct cc_err err;
	const char *ws = getenv("GITHUB_WORKSPACE");
	char b1[32], rate[32];
	enum cc_code rc;
	int code = -1;

	cc_err_clear(&err);
	if (!a->npaths || !store->ops->legacy_lookup)
		return -1;
	rc = gha_legacy_find(store, a->paths, a->npaths, a->key, a->restore_keys,
			     a->nrestore_keys, &le, &err);
	if (rc && given_up(a, &err, false, &code))
		return code;
	if (rc) {
		cli_error("%s", err.msg);
		output_no_hit(a->key);
		return cli_exit_code(rc);
	}
	if (!le)
		return -1;
	if (a->lookup_only) {
		cli_info("found '%s' (%s), an actions/cache entry; --lookup-only: nothing written",
			 le->key, le->exact ? "exact match" : "restore-key match");
	} else {
		lo.cwd = cwd;
		lo.home = home;
		lo.workspace = ws && *ws ? ws : NULL;
		lo.paths = a->paths;
		lo.npaths = a->npaths;
		lo.keep_dir_symlink = a->keep_dir_symlink;
		if ((rc = gha_legacy_restore(store, le, &lo, &ls, &err)) &&
		    given_up(a, &err, true, &code))
			goto cleanup;
		if (rc) {
			cli_error("%s", err.msg);
			cli_error("restoring actions/cache entry '%s' failed", le->key);
			output_no_hit(a->key);
			code = cli_exit_code(rc);
			goto cleanup;
		}
		cli_info("restored '%s' (%s) from an actions/cache entry: %llu files, %s, %.2f s, %s",
			 le->key, le->exact ? "exact match" : "restore-key match",
			 (unsigned long long)ls.files, fmt_bytes(b1, sizeof(b1), ls.bytes),
			 cli_elapsed(), cli_rate(rate, sizeof(rate), ls.bytes, cli_elapsed()));
	}
	settle(le->key, a->lookup_only ? "found" : "restored");
	cli_output("cache-hit", le->exact ? "true" : "false");
	cli_output("cache-primary-key", a->key);
	cli_output("cache-matched-key", le->key);
	code = EXIT_OK;
cleanup:
	gha_legacy_entry_free(le);
	return code;
}

/* One run of cache-restore: the arguments and what main builds from them. */
struct job {
	struct args a;
	char cwd[PATH_MAX];
	const char *home;
	struct buf *specs, abs;		/* recorded spellings of --path, then --only */
	size_t nspecs;
	const char **only, **allow;
	char version[CC_IDENTITY_LEN + 1];
	struct store *store;
	struct cc_match *m;		/* the candidates, best first */
	size_t nm, chosen;
	struct cc_entry *entry;		/* m[chosen], open; NULL: none fits */
	struct restore_opts ro;
	struct cc_err err;
};

static void job_release(struct job *j)
{
	cc_entry_close(j->entry);
	cc_matches_free(j->m, j->nm);
	store_close(j->store);
	for (size_t i = 0; j->specs && i < j->nspecs; i++)
		buf_release(&j->specs[i]);
	buf_release(&j->abs);
	free(j->specs);
	free(j->only);
	free(j->allow);
	free(j->a.paths);
	free(j->a.only);
	free(j->a.restore_keys);
}

/* Prints err and @return the exit status of rc. */
static int fail(const struct job *j, enum cc_code rc)
{
	cli_error("%s", j->err.msg);
	return cli_exit_code(rc);
}

/* The exit status of a miss, its outputs printed. */
static int miss(const struct job *j)
{
	output_no_hit(j->a.key);
	return j->a.fail_on_miss ? EXIT_MISS : EXIT_OK;
}

/* Records the spellings of --path (the roots a restore may write outside
 * cwd and home) and --only (the roots it selects), and the identity of
 * the entries sought (docs/format.md, section 1).  @return -1 to go on,
 * or the exit status. */
static int plan(struct job *j)
{
	const struct args *a = &j->a;
	enum cc_code rc;

	j->specs = calloc(a->npaths + a->nonly + 1, sizeof(*j->specs));
	j->only = calloc(a->nonly + 1, sizeof(*j->only));
	j->allow = calloc(a->npaths + 1, sizeof(*j->allow));
	if (!j->specs || !j->only || !j->allow) {
		cli_error("out of memory");
		return EXIT_INTERNAL;
	}
	for (size_t i = 0; i < a->npaths + a->nonly; i++) {
		const char *p = i < a->npaths ? a->paths[i] : a->only[i - a->npaths];

		buf_init(&j->specs[i], 0);
		j->nspecs = i + 1;
		if ((rc = cc_path_record(p, j->cwd, j->home, &j->specs[i], &j->abs, &j->err)))
			return fail(j, rc);
		if (i < a->npaths)
			j->allow[i] = j->specs[i].data;
		else
			j->only[i - a->npaths] = j->specs[i].data;
	}
	if (a->npaths && (rc = cc_identity(a->paths, a->npaths, j->version, &j->err)))
		return fail(j, rc);
	j->ro = (struct restore_opts){
		.cwd = j->cwd, .home = j->home,
		.only = a->nonly ? j->only : NULL, .nonly = a->nonly,
		.allow = j->allow, .nallow = a->npaths,
		.same_owner = a->same_owner, .jobs = a->jobs,
		.keep_dir_symlink = a->keep_dir_symlink, .max_bytes = a->max_size,
	};
	return -1;
}

/* Opens candidate m[j->chosen]: j->entry is set when it fits.  @return -1
 * to take it or pass it over (entry NULL), or the exit status. */
static int try_entry(struct job *j)
{
	const struct cc_match *m = &j->m[j->chosen];
	enum cc_code rc;
	int code;

	rc = cc_entry_open(j->store, m->name, m->key, &j->entry, &j->err);
	if (rc == CC_ECORRUPT) {
		cli_warn("skipping entry '%s': %s", m->key, j->err.msg);
		return -1;
	}
	if (rc && given_up(&j->a, &j->err, false, &code))
		return code;
	if (rc) {
		code = fail(j, rc);
		/* The store answered but the entry could not be opened
		 * here ($TMPDIR, memory, a signal): a failed restore. */
		if (rc != CC_ESTORE && rc != CC_RETRY)
			output_no_hit(j->a.key);
		return code;
	}
	if (j->a.nonly && !entry_has_paths(j->entry, m->key, j->only, j->a.nonly)) {
		cc_entry_close(j->entry);
		j->entry = NULL;
		return -1;
	}
	/* A pack missing or cut short is seen before anything is written:
	 * passed over like a bad manifest. */
	if (!(rc = cc_entry_check_packs(j->entry, &j->err)))
		return -1;
	cc_entry_close(j->entry);
	j->entry = NULL;
	if (given_up(&j->a, &j->err, false, &code))
		return code;
	if (rc == CC_ECORRUPT) {
		cli_warn("skipping entry '%s': %s", m->key, j->err.msg);
		return -1;
	}
	return fail(j, rc);
}

/* Opens the store, looks the key up and takes the first candidate that
 * fits.  @return -1 to go on (j->entry NULL on a miss), or the exit
 * status. */
static int find_entry(struct job *j)
{
	const struct args *a = &j->a;
	enum cc_code rc;
	int code;

	if (!(rc = store_open(&j->store, a->store, &j->err)) && a->jobs)
		j->store->jobs = a->jobs;
	if (rc || (rc = cc_lookup(j->store, a->key, a->npaths ? j->version : NULL,
				  a->restore_keys, a->nrestore_keys, &j->m, &j->nm, &j->err))) {
		if (given_up(a, &j->err, false, &code))
			return code;
		return fail(j, rc);
	}
	for (j->chosen = 0; j->chosen < j->nm; j->chosen++)
		if ((code = try_entry(j)) >= 0 || j->entry)
			return code;
	return -1;
}

/* Restores the chosen entry.  @return -1 on a hit, or the exit status. */
static int restore(struct job *j)
{
	const struct cc_match *m = &j->m[j->chosen];
	struct restore_stats st;
	char b1[32], rate[32];
	enum cc_code rc;
	int code;

	rc = cc_entry_restore(j->entry, &j->ro, &st, &j->err);
	if (rc && given_up(&j->a, &j->err, st.started, &code))
		return code;
	if (rc) {
		code = fail(j, rc);
		if (st.started)
			cli_error("restoring '%s' failed; the files under its paths may be incomplete",
				  m->key);
		else
			cli_error("restoring '%s' failed before anything was written", m->key);
		output_no_hit(j->a.key);
		return code;
	}
	settle(m->key, "restored");
	if (!st.roots) {
		/* Every path was outside home and cwd and not named with
		 * --path or --only: nothing is in place, so it is no hit. */
		cli_warn("entry '%s' restored nothing", m->key);
		return miss(j);
	}
	cli_info("restored '%s' (%s): %llu files, %s, %.2f s, %s", m->key,
		 m->exact ? "exact match" : "restore-key match",
		 (unsigned long long)st.files, fmt_bytes(b1, sizeof(b1), st.bytes),
		 cli_elapsed(), cli_rate(rate, sizeof(rate), st.bytes, cli_elapsed()));
	return -1;
}

/* --lookup-only: the answer a restore would give before its first write.
 * @return -1 on a hit, or the exit status. */
static int lookup(struct job *j)
{
	const struct cc_match *m = &j->m[j->chosen];
	enum cc_code rc;
	int code;

	if (!cc_entry_restorable(j->entry, &j->ro)) {
		cli_warn("entry '%s' holds no path this job would restore", m->key);
		return miss(j);
	}
	if ((rc = cc_entry_precheck(j->entry, &j->ro, &j->err))) {
		if (given_up(&j->a, &j->err, false, &code))
			return code;
		code = fail(j, rc);
		cli_error("restoring '%s' would fail before anything is written", m->key);
		output_no_hit(j->a.key);
		return code;
	}
	cli_info("found '%s' (%s); --lookup-only: nothing written", m->key,
		 m->exact ? "exact match" : "restore-key match");
	settle(m->key, "found");
	return -1;
}

int main(int argc, char **argv)
{
	struct job j = { .abs = BUF_INIT };
	int code;

	cli_init("cache-restore");
	cc_err_clear(&j.err);
	parse(argc, argv, &j.a);
	j.home = getenv("HOME");
	/* A signal stops the transfers and the writers through their normal
	 * cleanup; the outputs are those of a failed restore, and the
	 * program then ends by that signal (cli_reraise below). */
	cli_trap_signals();
	if (!getcwd(j.cwd, sizeof(j.cwd))) {
		cli_error("cannot determine the current directory");
		code = EXIT_DEST;
	} else if ((code = plan(&j)) >= 0 || (code = find_entry(&j)) >= 0) {
		/* failed before a hit or a miss */
	} else if (!j.entry) {
		if ((code = restore_legacy(&j.a, j.store, j.cwd, j.home)) < 0) {
			cli_info("no cache entry for '%s'%s", j.a.key,
				 j.a.nrestore_keys ? " or its restore keys" : "");
			code = miss(&j);
		}
	} else if ((code = j.a.lookup_only ? lookup(&j) : restore(&j)) < 0) {
		cli_output("cache-hit", j.m[j.chosen].exact ? "true" : "false");
		cli_output("cache-primary-key", j.a.key);
		cli_output("cache-matched-key", j.m[j.chosen].key);
		code = EXIT_OK;
	}
	job_release(&j);
	cli_reraise();
	return code;
}
