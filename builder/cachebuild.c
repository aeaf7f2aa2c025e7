/* cachebuild: an image build whose RUN --mount=type=cache directories are
 * backed by host directories (see cachebuild(1)). */
#include "../tools/cli.h"
#include "../common/util.h"
#include "../common/version.h"
#include "dockerfile.h"
#include "driver.h"
#include "hostdir.h"
#include "run.h"
#include "helper.h"
#include "sync.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

/* Beyond tools/cli.h's codes (documented in cachebuild(1)). */
enum {
	EXIT_BUILD = 8,		/* the image build itself failed */
	EXIT_BUILDER = 9,	/* no usable builder, or a helper build failed */
};

static const char usage[] =
"usage: cachebuild [options] -- BUILD-ARGS...\n"
"\n"
"Run an image build whose RUN --mount=type=cache directories are backed by\n"
"host directories: inject them into the builder before the build, extract\n"
"them after it, optionally restore/save them with cache-restore/cache-save.\n"
"\n"
"  -C, --cache-root DIR     host directories live in DIR/<id> (env\n"
"                           CACHEBUILD_CACHE_ROOT; default .cachebuild)\n"
"  -m, --map ID=HOSTDIR     back cache ID by HOSTDIR instead; repeatable\n"
"                           (env CACHEBUILD_MAP, one per line)\n"
"  -b, --builder NAME       docker or buildx (env CACHEBUILD_BUILDER; default:\n"
"                           docker); buildctl is not supported yet\n"
"      --helper-bin FILE    static cachebuild the copy builds run on an empty\n"
"                           image (env CACHEBUILD_HELPER_BIN; default: this\n"
"                           program when statically linked)\n"
"      --helper-image IMG   run the copy builds as shell scripts on IMG\n"
"                           instead: needs sh, tar, find, stat, sort, awk,\n"
"                           md5sum (env CACHEBUILD_HELPER_IMAGE; the default\n"
"                           when this cachebuild is dynamically linked and\n"
"                           no --helper-bin is given: busybox:1.36)\n"
"  -s, --store STORE        with --key: restore before, save after (env\n"
"                           CACHE_STORE)\n"
"  -k, --key KEY            cache key for the host directories (env CACHE_KEY)\n"
"  -r, --restore-key PREFIX fallback key prefix, repeatable\n"
"                           (env CACHE_RESTORE_KEYS, one per line)\n"
"  -p, --print-mounts       print the cache mounts and their host directories\n"
"                           as a table, build nothing\n"
"      --json               with --print-mounts: JSON instead of the table\n"
"      --no-inject          do not copy host directories into the builder\n"
"                           (env CACHEBUILD_NO_INJECT=true)\n"
"      --no-extract         do not copy cache mounts back out\n"
"                           (env CACHEBUILD_NO_EXTRACT=true)\n"
"  -q, --quiet              only errors (env CACHE_QUIET=true)\n"
"  -v, --verbose            more detail (env CACHE_VERBOSE=true)\n"
"  -h, --help               show this help\n"
"  -V, --version            show the version\n"
"\n"
"BUILD-ARGS go to the builder as given; cachebuild reads -f/--file, the\n"
"context, --target, --build-arg and --no-cache from them.  The docker\n"
"client is $CACHEBUILD_DOCKER (default docker).  Exit codes: 0 built,\n"
"2 usage, 3 the Dockerfile cannot be read or is invalid, 4 the store save\n"
"failed, 6 a host directory cannot be written, 7 internal error, 8 the\n"
"build failed, 9 no usable builder or a helper build failed.\n"
"See cachebuild(1).\n";

static const struct option longopts[] = {
	{ "builder", required_argument, NULL, 'b' },
	{ "cache-root", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ "helper-bin", required_argument, NULL, 'B' },
	{ "helper-image", required_argument, NULL, 'H' },
	{ "json", no_argument, NULL, 'J' },
	{ "key", required_argument, NULL, 'k' },
	{ "map", required_argument, NULL, 'm' },
	{ "no-extract", no_argument, NULL, 'E' },
	{ "no-inject", no_argument, NULL, 'I' },
	{ "print-mounts", no_argument, NULL, 'p' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "restore-key", required_argument, NULL, 'r' },
	{ "store", required_argument, NULL, 's' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *cache_root, *builder, *helper, *helper_bin, *store, *key;
	const char **maps, **restore_keys;
	size_t nmaps, nrestore_keys;
	bool print_mounts, json, no_inject, no_extract;
	char **build;		/* BUILD-ARGS */
	size_t nbuild;
	/* What cachebuild reads from BUILD-ARGS. */
	const char *file, *context, *target, *ns, *buildx_builder;
	const char **build_args;
	size_t nbuild_args;
	bool no_cache;
};

static void usage_error(const char *fmt, const char *arg)
{
	cli_error(fmt, arg);
	fprintf(stderr, "Try 'cachebuild --help'.\n");
	exit(EXIT_USAGE);
}

/* docker build / buildx build options that take a value (so the word
 * after them is not the context). */
static bool takes_value(const char *opt)
{
	static const char *const with_value[] = {
		"--add-host", "--allow", "--annotation", "--attest", "--build-arg",
		"--build-context", "--builder", "--cache-from", "--cache-to", "--call",
		"--cgroup-parent", "--cpu-period", "--cpu-quota", "--cpu-shares",
		"--cpuset-cpus", "--cpuset-mems", "--file", "--iidfile", "--isolation",
		"--label", "--memory", "--memory-swap", "--metadata-file", "--network",
		"--no-cache-filter", "--output", "--platform", "--progress", "--provenance",
		"--sbom", "--secret", "--security-opt", "--shm-size", "--ssh", "--tag",
		"--target", "--ulimit", "-c", "-f", "-m", "-o", "-t",
	};

	for (size_t i = 0; i < sizeof(with_value) / sizeof(*with_value); i++)
		if (!strcmp(opt, with_value[i]))
			return true;
	return false;
}

static void parse_build_args(struct args *a)
{
	for (size_t i = 0; i < a->nbuild; i++) {
		const char *w = a->build[i], *val = NULL, *eq;
		char name[64];

		if (w[0] != '-' || !w[1]) {
			if (a->context)
				usage_error("BUILD-ARGS name two contexts: '%s'", w);
			a->context = w;
			continue;
		}
		if (!strcmp(w, "--")) {
			if (i + 1 < a->nbuild)
				a->context = a->build[i + 1];
			break;
		}
		eq = strchr(w, '=');
		if (w[1] == '-' && eq) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - w), w);
			val = eq + 1;
		} else if (w[1] != '-' && w[2] && strchr("cfmot", w[1])) {
			snprintf(name, sizeof(name), "-%c", w[1]);	/* -fFILE */
			val = w + 2;
		} else {
			snprintf(name, sizeof(name), "%s", w);
			if (takes_value(w)) {
				if (i + 1 >= a->nbuild)
					usage_error("'%s' in BUILD-ARGS needs a value", w);
				val = a->build[++i];
			}
		}
		if (!strcmp(name, "-f") || !strcmp(name, "--file"))
			a->file = val;
		else if (!strcmp(name, "--target"))
			a->target = val;
		else if (!strcmp(name, "--builder"))
			a->buildx_builder = val;
		else if (!strcmp(name, "--no-cache") && (!val || strcmp(val, "false")))
			a->no_cache = true;
		else if (!strcmp(name, "--build-arg")) {
			cli_list_add(&a->build_args, &a->nbuild_args, val);
			if (!strncmp(val, "BUILDKIT_CACHE_MOUNT_NS=", 24))
				a->ns = val + 24;
		}
	}
	if (!a->context)
		usage_error("%s", "BUILD-ARGS name no build context (e.g. '-- -t app .')");
	if (!strcmp(a->context, "-") || strstr(a->context, "://") ||
	    !strncmp(a->context, "git@", 4))
		usage_error("the build context '%s' is not a local directory: cachebuild needs "
			    "to read the Dockerfile", a->context);
	if (a->file && !strcmp(a->file, "-"))
		usage_error("%s", "a Dockerfile on standard input (-f -) is not supported: "
			    "cachebuild needs to read it");
}

static void parse(int argc, char **argv, struct args *a)
{
	const char *env;
	int c;

	a->no_inject = cli_env_bool("CACHEBUILD_NO_INJECT");
	a->no_extract = cli_env_bool("CACHEBUILD_NO_EXTRACT");
	if (cli_env_bool("CACHE_QUIET"))
		cli_verbosity = -1;
	if (cli_env_bool("CACHE_VERBOSE"))
		cli_verbosity = 1;
	while ((c = getopt_long(argc, argv, "+b:C:hk:m:pqr:s:vV", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': a->builder = optarg; break;
		case 'C': a->cache_root = optarg; break;
		case 'E': a->no_extract = true; break;
		case 'h': fputs(usage, stdout); exit(EXIT_OK);
		case 'B': a->helper_bin = optarg; break;
		case 'H': a->helper = optarg; break;
		case 'I': a->no_inject = true; break;
		case 'J': a->json = true; break;
		case 'k': a->key = optarg; break;
		case 'm': cli_list_add(&a->maps, &a->nmaps, optarg); break;
		case 'p': a->print_mounts = true; break;
		case 'q': cli_verbosity = -1; break;
		case 'r': cli_list_add(&a->restore_keys, &a->nrestore_keys, optarg); break;
		case 's': a->store = optarg; break;
		case 'v': cli_verbosity = 1; break;
		case 'V': cli_version("cachebuild", argc, argv);
		default:
			fprintf(stderr, "Try 'cachebuild --help'.\n");
			exit(EXIT_USAGE);
		}
	}
	a->build = argv + optind;
	a->nbuild = (size_t)(argc - optind);
	if (!a->cache_root)
		a->cache_root = (env = getenv("CACHEBUILD_CACHE_ROOT")) && *env ? env : ".cachebuild";
	if (!*a->cache_root)
		usage_error("%s", "--cache-root is empty");
	if (!a->builder)
		a->builder = (env = getenv("CACHEBUILD_BUILDER")) && *env ? env : NULL;
	if (a->helper && a->helper_bin)
		usage_error("%s", "--helper-image and --helper-bin exclude each other");
	if (!a->helper && !a->helper_bin) {
		a->helper = (env = getenv("CACHEBUILD_HELPER_IMAGE")) && *env ? env : NULL;
		a->helper_bin = (env = getenv("CACHEBUILD_HELPER_BIN")) && *env ? env : NULL;
		if (a->helper && a->helper_bin)
			usage_error("%s", "CACHEBUILD_HELPER_IMAGE and CACHEBUILD_HELPER_BIN "
				    "exclude each other");
	}
	if (a->helper && !*a->helper)
		usage_error("%s", "--helper-image is empty");
	if (a->helper_bin && !*a->helper_bin)
		usage_error("%s", "--helper-bin is empty");
	if (!a->nmaps)
		cli_env_list("CACHEBUILD_MAP", &a->maps, &a->nmaps);
	if (!a->key)
		a->key = getenv("CACHE_KEY");
	if (a->key && !*a->key)
		a->key = NULL;
	if (!a->nrestore_keys)
		cli_env_list("CACHE_RESTORE_KEYS", &a->restore_keys, &a->nrestore_keys);
	if (a->store && !a->key)
		usage_error("%s", "--store needs --key (or CACHE_KEY)");
	if (a->nrestore_keys && !a->key)
		usage_error("%s", "--restore-key needs --key (or CACHE_KEY)");
	if (a->json && !a->print_mounts)
		usage_error("%s", "--json goes with --print-mounts");
	for (size_t i = 0; i < a->nmaps; i++) {
		const char *eq = strchr(a->maps[i], '=');

		if (!eq || eq == a->maps[i] || !eq[1])
			usage_error("--map takes ID=HOSTDIR, not '%s'", a->maps[i]);
	}
	if (!a->nbuild)
		usage_error("%s", "no BUILD-ARGS (cachebuild [options] -- -t app .)");
	parse_build_args(a);
}

/* --- mounts --- */

/* A host directory name for an id: [A-Za-z0-9._-] kept, the rest '_',
 * no leading '/' or '.', never empty. */
static char *sanitise_id(const char *id)
{
	char *s;
	size_t n = 0;

	while (*id == '/')
		id++;
	s = malloc(strlen(id) + 2);
	if (!s)
		return NULL;
	for (const char *p = id; *p; p++) {
		unsigned char c = (unsigned char)*p;

		s[n++] = (c < 0x80 && (isalnum(c) || c == '.' || c == '-' || c == '_')) ? (char)c : '_';
	}
	if (!n)
		s[n++] = '_';
	if (s[0] == '.')
		s[0] = '_';
	s[n] = '\0';
	return s;
}

static void oom_exit(void)
{
	cli_error("out of memory");
	exit(EXIT_INTERNAL);
}

struct mounts {
	struct cb_mount *m;
	size_t n;
	unsigned **lines;	/* every RUN line that uses m[i] */
	size_t *nlines;
};

static void collect_mounts(const struct args *a, const struct dockerfile *df, long last_stage,
			   struct mounts *ms)
{
	for (size_t i = 0; i < df->nmounts; i++) {
		const struct df_mount *d = &df->mounts[i];
		struct cb_mount tmp = { .df = d };
		size_t j;

		if (last_stage >= 0 && d->stage > (size_t)last_stage)
			continue;
		cb_mount_key(&tmp, a->ns);
		for (j = 0; j < ms->n; j++)
			if (!strcmp(ms->m[j].key, tmp.key))
				break;
		if (j == ms->n) {
			ms->m = realloc(ms->m, (ms->n + 1) * sizeof(*ms->m));
			ms->lines = realloc(ms->lines, (ms->n + 1) * sizeof(*ms->lines));
			ms->nlines = realloc(ms->nlines, (ms->n + 1) * sizeof(*ms->nlines));
			if (!ms->m || !ms->lines || !ms->nlines)
				oom_exit();
			tmp.carried = !(d->from && dockerfile_stage_index(df, d->from) >= 0) &&
				      cb_mount_reproducible(d);
			ms->m[j] = tmp;
			ms->lines[j] = NULL;
			ms->nlines[j] = 0;
			ms->n++;
		}
		ms->lines[j] = realloc(ms->lines[j], (ms->nlines[j] + 1) * sizeof(unsigned));
		if (!ms->lines[j])
			oom_exit();
		ms->lines[j][ms->nlines[j]++] = d->line;
	}
	/* Host directories: --map by id, else cache-root/<sanitised id>; two
	 * identities that would share a name get the key as a suffix. */
	for (size_t i = 0; i < ms->n; i++) {
		struct cb_mount *m = &ms->m[i];

		for (size_t k = 0; k < a->nmaps && !m->hostdir; k++) {
			const char *eq = strchr(a->maps[k], '=');

			if ((size_t)(eq - a->maps[k]) == strlen(m->df->id) &&
			    !strncmp(a->maps[k], m->df->id, (size_t)(eq - a->maps[k])))
				m->hostdir = strdup(eq + 1);
		}
		if (m->hostdir)
			continue;
		char *name = sanitise_id(m->df->id);

		if (!name)
			oom_exit();
		bool clash = false;

		for (size_t k = 0; k < ms->n; k++) {
			char *other;

			if (k == i)
				continue;
			other = sanitise_id(ms->m[k].df->id);
			if (!other)
				oom_exit();
			clash |= !strcmp(name, other) && k < i;
			free(other);
		}
		if (asprintf(&m->hostdir, clash ? "%s/%s-%.8s" : "%s/%s", a->cache_root, name,
			     m->key) < 0)
			oom_exit();
		free(name);
	}
	for (size_t k = 0; k < a->nmaps; k++) {
		const char *eq = strchr(a->maps[k], '=');
		bool used = false;

		for (size_t i = 0; i < ms->n && !used; i++)
			used = (size_t)(eq - a->maps[k]) == strlen(ms->m[i].df->id) &&
			       !strncmp(a->maps[k], ms->m[i].df->id, (size_t)(eq - a->maps[k]));
		if (!used)
			cli_warn("--map '%s': no cache mount has id '%.*s'", a->maps[k],
				 (int)(eq - a->maps[k]), a->maps[k]);
	}
}

static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static const char *stage_label(const struct dockerfile *df, size_t i, char *buf, size_t n)
{
	if (df->stages[i].name)
		return df->stages[i].name;
	snprintf(buf, n, "%zu", i);
	return buf;
}

static void print_mounts(const struct args *a, const struct dockerfile *df,
			 const struct mounts *ms)
{
	char sb[32];

	if (a->json) {
		printf("{\"dockerfile\":");
		json_str(df->path);
		printf(",\"mounts\":[");
		for (size_t i = 0; i < ms->n; i++) {
			const struct cb_mount *m = &ms->m[i];
			const struct df_mount *d = m->df;

			printf("%s\n  {\"id\":", i ? "," : "");
			json_str(d->id);
			printf(",\"target\":");
			json_str(d->target);
			printf(",\"sharing\":\"%s\",\"uid\":%u,\"gid\":%u,\"mode\":\"0%o\","
			       "\"readonly\":%s,\"from\":", df_sharing_name(d->sharing), d->uid,
			       d->gid, d->mode, d->readonly ? "true" : "false");
			if (d->from)
				json_str(d->from);
			else
				printf("null");
			printf(",\"source\":");
			if (d->source)
				json_str(d->source);
			else
				printf("null");
			printf(",\"stage\":");
			json_str(stage_label(df, d->stage, sb, sizeof(sb)));
			printf(",\"lines\":[");
			for (size_t k = 0; k < ms->nlines[i]; k++)
				printf("%s%u", k ? "," : "", ms->lines[i][k]);
			printf("],\"hostdir\":");
			json_str(m->hostdir);
			printf(",\"carried\":%s}", m->carried ? "true" : "false");
		}
		printf("%s]}\n", ms->n ? "\n" : "");
		return;
	}
	printf("%-24s %-24s %-7s %5s %5s %4s %-8s %-8s %s\n", "ID", "TARGET", "SHARING", "UID",
	       "GID", "MODE", "STAGE", "LINES", "HOST DIR");
	for (size_t i = 0; i < ms->n; i++) {
		const struct cb_mount *m = &ms->m[i];
		const struct df_mount *d = m->df;
		char lines[64] = "", mode[8];
		size_t o = 0;

		for (size_t k = 0; k < ms->nlines[i] && o < sizeof(lines) - 12; k++)
			o += (size_t)snprintf(lines + o, sizeof(lines) - o, "%s%u", k ? "," : "",
					      ms->lines[i][k]);
		snprintf(mode, sizeof(mode), "%04o", d->mode);
		printf("%-24s %-24s %-7s %5u %5u %4s %-8s %-8s %s%s%s\n", d->id, d->target,
		       df_sharing_name(d->sharing), d->uid, d->gid, mode,
		       stage_label(df, d->stage, sb, sizeof(sb)), lines, m->hostdir,
		       d->readonly ? " (read-only)" : "",
		       m->carried ? "" : " (not carried)");
	}
}

/* --- store --- */

/* The sibling program (bin/cache-save next to bin/cachebuild), else PATH. */
static void sibling(const char *name, char *out, size_t n)
{
	char self[PATH_MAX];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (l > 0) {
		self[l] = '\0';
		char *slash = strrchr(self, '/');

		if (slash) {
			snprintf(out, n, "%.*s/%s", (int)(slash - self), self, name);
			if (!access(out, X_OK))
				return;
		}
	}
	snprintf(out, n, "%s", name);
}

static int run_store_tool(const struct args *a, const char *tool, const struct mounts *ms,
			  bool with_paths)
{
	struct cb_argv av = CB_ARGV_INIT;
	struct cc_err err;
	char prog[PATH_MAX];
	int st;

	sibling(tool, prog, sizeof(prog));
	if (cb_argv_add(&av, prog, &err) || cb_argv_add(&av, "--key", &err) ||
	    cb_argv_add(&av, a->key, &err))
		oom_exit();
	if (a->store && (cb_argv_add(&av, "--store", &err) || cb_argv_add(&av, a->store, &err)))
		oom_exit();
	for (size_t i = 0; i < a->nrestore_keys; i++)
		if (cb_argv_add(&av, "--restore-key", &err) ||
		    cb_argv_add(&av, a->restore_keys[i], &err))
			oom_exit();
	for (size_t i = 0; with_paths && i < ms->n; i++) {
		struct stat st_;

		if (!ms->m[i].carried || stat(ms->m[i].hostdir, &st_))
			continue;
		if (cb_argv_add(&av, "--path", &err) || cb_argv_add(&av, ms->m[i].hostdir, &err))
			oom_exit();
	}
	if (cli_verbosity < 0 && cb_argv_add(&av, "--quiet", &err))
		oom_exit();
	/* Their key=value lines go to our standard output and
	 * $GITHUB_OUTPUT as they are. */
	st = cb_run(av.v, NULL, -1, -1, -1, &err);
	if (st < 0)
		cli_error("%s", err.msg);
	cb_argv_release(&av);
	return st;
}

/* --- main --- */

static const struct cb_driver *pick_driver(const struct args *a)
{
	static const struct cb_driver *const drivers[] = { &cb_driver_docker, &cb_driver_buildx };
	char why[600];

	if (a->builder && !strcmp(a->builder, "buildctl")) {
		cli_error("--builder buildctl is not supported yet: use docker or buildx");
		exit(EXIT_USAGE);
	}
	for (size_t i = 0; i < sizeof(drivers) / sizeof(*drivers); i++) {
		const struct cb_driver *d = drivers[i];

		if (a->builder && strcmp(a->builder, d->name))
			continue;
		if (d->available(d == &cb_driver_buildx ? a->buildx_builder : NULL, why, sizeof(why)))
			return d;
		cli_error("builder '%s' is not available: %s", d->name, why);
		exit(EXIT_BUILDER);
	}
	cli_error("unknown builder '%s': use docker or buildx", a->builder);
	exit(EXIT_USAGE);
}

/* The helper of the copy builds (sync.h): --helper-image, else the
 * static cachebuild of --helper-bin, else this program when it is
 * statically linked (no program interpreter: AT_BASE is 0), else the
 * image busybox:1.36. */
static void pick_helper(const struct args *a, struct cb_sync *s)
{
	static char path[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (a->helper) {
		s->helper = a->helper;
		return;
	}
	if (a->helper_bin) {
		if (!realpath(a->helper_bin, path) || stat(path, &st)) {
			cli_error("--helper-bin '%s': %s", a->helper_bin, strerror(errno));
			exit(EXIT_USAGE);
		}
		if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
			cli_error("--helper-bin '%s' is not an executable file", a->helper_bin);
			exit(EXIT_USAGE);
		}
		s->helper_bin = path;
		return;
	}
	if (getauxval(AT_BASE) == 0 && (n = readlink("/proc/self/exe", path, sizeof(path) - 1)) > 0) {
		path[n] = '\0';
		if (!access(path, R_OK)) {
			s->helper_bin = path;
			return;
		}
	}
	s->helper = "busybox:1.36";
	cli_info("this cachebuild is dynamically linked: the copy builds run on the image '%s' "
		 "(--helper-bin names a static cachebuild, which needs no image)", s->helper);
}

static char *make_tmp(void)
{
	const char *t = getenv("TMPDIR");
	char *p = NULL;

	if (asprintf(&p, "%s/cachebuild.XXXXXX", t && *t ? t : "/tmp") < 0)
		oom_exit();
	if (!mkdtemp(p)) {
		cli_error("cannot create a temporary directory '%s': %s", p, strerror(errno));
		exit(EXIT_INTERNAL);
	}
	return p;
}

/* --- the run: plan, restore, inject, build, extract, save --- */

/* What one cachebuild run knows, phase after phase. */
struct run {
	struct args a;
	char *file;		/* the Dockerfile */
	struct dockerfile df;
	struct mounts ms;
	size_t ncarried;	/* mounts carried to and from the host */
	struct cb_sync sync;
	const char *extra[2];	/* --builder NAME for buildx's commands */
	char *tmp;		/* the helper builds' files */
	struct cb_argv cmd;	/* the build command */
	size_t ninjected, nextracted;
	uint64_t bytes_in, bytes_out;
	double t_in, t_out, t_build, t_restore, t_save;
	struct cc_err err;
};

enum phase { PHASE_PLAN, PHASE_PROBE, PHASE_INJECT, PHASE_EXTRACT };

/* The exit status for a phase that failed with rc (cachebuild(1)):
 * memory is internal wherever it runs out; reading a host directory is
 * a source error and writing one a destination error in the phases that
 * do so; anything else in the plan is the Dockerfile's fault, and in the
 * other phases the builder's. */
static int exit_status(enum phase ph, enum cc_code rc)
{
	if (rc == CC_ENOMEM)
		return EXIT_INTERNAL;
	switch (ph) {
	case PHASE_PLAN:
		return EXIT_SOURCE;
	case PHASE_INJECT:
		if (rc == CC_ESOURCE)
			return EXIT_SOURCE;
		/* fall through */
	case PHASE_EXTRACT:
		if (rc == CC_EDEST)
			return EXIT_DEST;
		/* fall through */
	case PHASE_PROBE:
		break;
	}
	return EXIT_BUILDER;
}

/* Prints err's message and returns the phase's exit status. */
static int failed(struct run *r, enum phase ph, enum cc_code rc)
{
	cli_error("%s", r->err.msg);
	return exit_status(ph, rc);
}

/* The Dockerfile the build reads: -f, else CONTEXT/Dockerfile, else the
 * lowercase name the docker client falls back to. */
static char *dockerfile_path(const struct args *a)
{
	char *file = NULL, *lower = NULL;

	if (a->file) {
		file = strdup(a->file);
	} else if (asprintf(&file, "%s/Dockerfile", a->context) < 0) {
		file = NULL;
	} else if (access(file, F_OK)) {
		if (asprintf(&lower, "%s/dockerfile", a->context) < 0)
			oom_exit();
		if (!access(lower, F_OK)) {
			free(file);
			file = lower;
		} else {
			free(lower);
		}
	}
	if (!file)
		oom_exit();
	return file;
}

/* How the frontend reads --mount values depends on the builder, so it is
 * picked first; --print-mounts asks the default one quietly. */
static enum df_mount_vars pick_mount_vars(struct run *r)
{
	const struct args *a = &r->a;
	const struct cb_driver *d;
	enum df_mount_vars vars;
	char why[600];

	if (!a->print_mounts) {
		r->sync.drv = pick_driver(a);
		return r->sync.drv->mount_vars();
	}
	d = a->builder && !strcmp(a->builder, "buildx") ? &cb_driver_buildx : &cb_driver_docker;
	vars = cb_mount_vars_override(DF_MOUNT_VARS_EXPAND);
	if (!getenv("CACHEBUILD_MOUNT_VARS") && (!a->builder || !strcmp(a->builder, d->name)) &&
	    d->available(d == &cb_driver_buildx ? a->buildx_builder : NULL, why, sizeof(why)))
		vars = d->mount_vars();
	return vars;
}

/* Says why each mount that is not carried is not, and leaves a
 * --no-cache build's fresh mounts alone. */
static void note_uncarried(struct run *r)
{
	struct mounts *ms = &r->ms;

	for (size_t i = 0; i < ms->n; i++) {
		if (ms->m[i].carried)
			r->ncarried++;
		else if (!cb_mount_reproducible(ms->m[i].df))
			cli_warn("cache '%s' (%s:%u) is not carried: its id, from or source is "
				 "empty or holds blanks or commas", ms->m[i].df->id, r->file,
				 ms->m[i].df->line);
		else
			cli_warn("cache '%s' (%s:%u) is not carried: from='%s' names a stage of "
				 "this build, which the helper build cannot reproduce",
				 ms->m[i].df->id, r->file, ms->m[i].df->line, ms->m[i].df->from);
	}
	/* Docker 20.10 gives a --no-cache build a fresh, empty cache mount
	 * for a mount that writes none of uid, gid, mode (checked on the real
	 * engine); one that writes any of them keeps its content. */
	for (size_t i = 0; i < ms->n && r->a.no_cache; i++) {
		struct cb_mount *m = &ms->m[i];

		if (!m->carried || m->df->uid_set || m->df->gid_set || m->df->mode_set)
			continue;
		m->skip = true;
		r->ncarried--;
		cli_warn("--no-cache: cache '%s' (%s:%u) is neither injected nor extracted: "
			 "Docker's BuildKit gives a --no-cache build a fresh, empty mount for a "
			 "cache mount without uid, gid or mode; write mode=0755 in it to keep it, "
			 "or run 'docker builder prune -f --filter type=regular' instead of "
			 "passing --no-cache", m->df->id, r->file, m->df->line);
	}
}

/* Plan: the Dockerfile, its cache mounts and their host directories.
 * *ret_done is set when there is nothing more to do (--print-mounts). */
static int plan(struct run *r, bool *ret_done)
{
	long last_stage = -1;
	enum df_mount_vars vars;
	enum cc_code rc;

	r->file = dockerfile_path(&r->a);
	vars = pick_mount_vars(r);
	if (cli_verbosity > 0)
		cli_info("--mount values are read %s", vars == DF_MOUNT_VARS_EXPAND ?
			 "with ARG/ENV expanded" : "as written (no ARG/ENV expansion)");
	rc = dockerfile_load(&r->df, r->file, r->a.build_args, r->a.nbuild_args, vars, &r->err);
	if (rc)
		return failed(r, PHASE_PLAN, rc);
	if (r->df.syntax)
		cli_warn("'%s' asks for frontend '%s': cachebuild reads it as Docker's built-in "
			 "frontend would (and the builder may need a registry to fetch it)",
			 r->file, r->df.syntax);
	if (r->a.target) {
		last_stage = dockerfile_stage_index(&r->df, r->a.target);
		if (last_stage < 0) {
			cli_error("--target '%s': '%s' has no such stage", r->a.target, r->file);
			return EXIT_USAGE;
		}
	}
	collect_mounts(&r->a, &r->df, last_stage, &r->ms);
	if (r->a.print_mounts) {
		print_mounts(&r->a, &r->df, &r->ms);
		*ret_done = true;
		return EXIT_OK;
	}
	note_uncarried(r);
	r->sync.vars = vars;
	return EXIT_OK;
}

/* Restore: the host directories from the store, with --key.  A failed
 * restore only costs the stored caches. */
static void restore(struct run *r)
{
	double t = now_monotonic();
	int st;

	if (!r->a.key)
		return;
	cli_info("restoring the host directories for key '%s'", r->a.key);
	st = run_store_tool(&r->a, "cache-restore", &r->ms, false);
	r->t_restore = now_monotonic() - t;
	if (st)
		cli_warn("cache-restore exited %d: building without the stored caches", st);
}

/* Sets up the copy builds and reads what the host directories and the
 * builder hold, so that inject and extract copy only what changed. */
static int probe(struct run *r)
{
	struct mounts *ms = &r->ms;
	enum cc_code rc;
	double t;

	pick_helper(&r->a, &r->sync);
	r->sync.ns = r->a.ns;
	if (r->a.buildx_builder && r->sync.drv == &cb_driver_buildx) {
		r->extra[0] = "--builder";
		r->extra[1] = r->a.buildx_builder;
		r->sync.extra = r->extra;
		r->sync.nextra = 2;
	}
	r->tmp = make_tmp();
	r->sync.tmp = r->tmp;
	for (size_t i = 0; i < ms->n; i++) {
		uint64_t bytes = 0;

		rc = hostdir_sig(ms->m[i].hostdir, ms->m[i].host_sig, &ms->m[i].host_exists,
				 &bytes, &r->err);
		if (rc)
			return failed(r, PHASE_PLAN, rc);
		cb_sync_read_state(&ms->m[i]);
	}
	if (!r->ncarried || r->a.no_inject)
		return EXIT_OK;
	/* A fresh builder (no cache mount at all) has nothing to probe. */
	if (!r->sync.drv->cache_mounts(r->a.buildx_builder)) {
		if (cli_verbosity > 0)
			cli_info("the builder holds no cache mounts: nothing to probe");
		return EXIT_OK;
	}
	t = now_monotonic();
	rc = cb_sync_probe(&r->sync, ms->m, ms->n, &r->err);
	if (rc)
		return failed(r, PHASE_PROBE, rc);
	if (cli_verbosity > 0)
		cli_info("probed the builder in %.2f s", now_monotonic() - t);
	return EXIT_OK;
}

/* Inject: one copy build for every cache the builder lacks. */
static int inject(struct run *r)
{
	struct mounts *ms = &r->ms;
	struct cb_mount **wanted = calloc(ms->n + 1, sizeof(*wanted));
	size_t nwanted = 0;
	enum cc_code rc;
	char b1[32];
	double t;

	if (!wanted)
		oom_exit();
	for (size_t i = 0; i < ms->n && !r->a.no_inject; i++) {
		struct cb_mount *m = &ms->m[i];

		if (!m->carried || m->skip)
			continue;
		if (!m->host_exists) {
			cli_info("cache '%s': no host directory '%s' yet, nothing to inject",
				 m->df->id, m->hostdir);
			continue;
		}
		if (cb_sync_in_builder(m)) {
			cli_info("cache '%s': the builder already holds '%s', inject skipped",
				 m->df->id, m->hostdir);
			continue;
		}
		cli_info("cache '%s': injecting '%s'", m->df->id, m->hostdir);
		wanted[nwanted++] = m;
	}
	t = now_monotonic();
	r->sync.helper_secs = 0;
	rc = cb_sync_inject(&r->sync, wanted, nwanted, &r->err);
	if (!rc && nwanted && cli_verbosity > 0)
		cli_info("inject: %.2f s, of which %.2f s in the helper build",
			 now_monotonic() - t, r->sync.helper_secs);
	free(wanted);
	if (rc)
		return failed(r, PHASE_INJECT, rc);
	for (size_t i = 0; i < ms->n; i++) {
		struct cb_mount *m = &ms->m[i];

		if (!m->injected)
			continue;
		cli_info("cache '%s': injected %s", m->df->id,
			 fmt_bytes(b1, sizeof(b1), m->bytes_in));
		r->ninjected++;
		r->bytes_in += m->bytes_in;
	}
	if (nwanted)
		r->t_in = now_monotonic() - t;
	return EXIT_OK;
}

/* Build: the user's build, with the user's arguments as given. */
static int build(struct run *r)
{
	double t;
	int st;

	if (r->sync.drv->build_cmd(&r->cmd, &r->err))
		oom_exit();
	for (size_t i = 0; i < r->a.nbuild; i++)
		if (cb_argv_add(&r->cmd, r->a.build[i], &r->err))
			oom_exit();
	t = now_monotonic();
	st = cb_run(r->cmd.v, r->sync.drv->env, 0, -1, -1, &r->err);
	r->t_build = now_monotonic() - t;
	if (st < 0) {
		cli_error("%s", r->err.msg);
		return EXIT_BUILDER;
	}
	if (st) {
		cli_error("the build failed (%s exited %d)%s", r->cmd.v[0], st,
			  r->a.no_extract ? "" : "; extracting the cache mounts all the same");
		return EXIT_BUILD;
	}
	return EXIT_OK;
}

/* Extract: the cache mounts back into their host directories (also
 * after a failed build: what it downloaded is worth keeping). */
static int extract(struct run *r)
{
	struct mounts *ms = &r->ms;
	enum cc_code rc;
	char b1[32];
	double t;

	if (!r->ncarried || r->a.no_extract)
		return EXIT_OK;
	t = now_monotonic();
	r->sync.helper_secs = 0;
	rc = cb_sync_extract(&r->sync, ms->m, ms->n, &r->err);
	if (rc)
		return failed(r, PHASE_EXTRACT, rc);
	if (cli_verbosity > 0)
		cli_info("extract: %.2f s, of which %.2f s in the helper build",
			 now_monotonic() - t, r->sync.helper_secs);
	for (size_t i = 0; i < ms->n; i++) {
		struct cb_mount *m = &ms->m[i];

		if (!m->carried || m->skip)
			continue;
		if (*m->note)
			cli_warn("cache '%s': the changes-only extract did not apply (%s); "
				 "extracted it whole", m->df->id, m->note);
		if (!m->extracted) {
			cli_info("cache '%s': unchanged, extract skipped", m->df->id);
			continue;
		}
		if (m->delta)
			cli_info("cache '%s': extracted %s into '%s' (changes only: %lu "
				 "entr%s sent, %lu removed)", m->df->id,
				 fmt_bytes(b1, sizeof(b1), m->bytes_out), m->hostdir, m->nship,
				 m->nship == 1 ? "y" : "ies", m->ngone);
		else
			cli_info("cache '%s': extracted %s into '%s'", m->df->id,
				 fmt_bytes(b1, sizeof(b1), m->bytes_out), m->hostdir);
		r->nextracted++;
		r->bytes_out += m->bytes_out;
	}
	r->t_out = now_monotonic() - t;
	return EXIT_OK;
}

/* Save: the host directories that exist, under --key. */
static int save(struct run *r)
{
	size_t nsave = 0;
	double t;
	int st;

	if (!r->a.key)
		return EXIT_OK;
	for (size_t i = 0; i < r->ms.n; i++) {
		struct stat st_;

		nsave += r->ms.m[i].carried && !stat(r->ms.m[i].hostdir, &st_);
	}
	if (!nsave) {
		cli_info("no host directory exists: nothing to save under key '%s'", r->a.key);
		return EXIT_OK;
	}
	cli_info("saving %zu host director%s under key '%s'", nsave, nsave == 1 ? "y" : "ies",
		 r->a.key);
	t = now_monotonic();
	st = run_store_tool(&r->a, "cache-save", &r->ms, true);
	r->t_save = now_monotonic() - t;
	if (!st)
		return EXIT_OK;
	cli_error("cache-save exited %d", st);
	return st == EXIT_USAGE ? EXIT_USAGE : EXIT_STORE;
}

/* The summary line of a run that got past the build. */
static void summary(const struct run *r)
{
	char b1[32], b2[32], store_times[64] = "";

	if (r->a.key)
		snprintf(store_times, sizeof(store_times), ", restore %.2f s, save %.2f s",
			 r->t_restore, r->t_save);
	cli_info("%zu cache mount%s: injected %zu (%s, %.2f s), extracted %zu (%s, %.2f s), "
		 "build %.2f s%s", r->ms.n, r->ms.n == 1 ? "" : "s", r->ninjected,
		 fmt_bytes(b1, sizeof(b1), r->bytes_in), r->t_in, r->nextracted,
		 fmt_bytes(b2, sizeof(b2), r->bytes_out), r->t_out, r->t_build, store_times);
}

static void release(struct run *r, int code)
{
	/* A failed helper build names its log: keep it. */
	if (r->tmp && (code == EXIT_BUILDER || cli_env_bool("CACHEBUILD_KEEP_TMP"))) {
		cli_info("kept the helper builds' files in '%s'", r->tmp);
	} else if (r->tmp) {
		struct cc_err ignored;

		cb_rmtree(r->tmp, &ignored);
	}
	free(r->tmp);
	cb_argv_release(&r->cmd);
	for (size_t i = 0; i < r->ms.n; i++) {
		free(r->ms.m[i].hostdir);
		free(r->ms.lines[i]);
	}
	free(r->ms.m);
	free(r->ms.lines);
	free(r->ms.nlines);
	dockerfile_release(&r->df);
	free(r->file);
	free(r->a.maps);
	free(r->a.restore_keys);
	free(r->a.build_args);
}

int main(int argc, char **argv)
{
	struct run r = { .cmd = CB_ARGV_INIT };
	bool done = false;
	int code;

	/* Inside a helper build (sync.h): no options, no environment. */
	if (argc == 3 && !strcmp(argv[1], CB_HELPER_FLAG))
		return cb_helper_main(argv[2]);
	cli_init("cachebuild");
	cc_err_clear(&r.err);
	parse(argc, argv, &r.a);

	code = plan(&r, &done);
	if (code || done)
		goto cleanup;
	restore(&r);
	if ((code = probe(&r)) || (code = inject(&r)))
		goto cleanup;
	/* A failed build still extracts; its status is the run's. */
	code = build(&r);
	if (code == EXIT_BUILDER)
		goto cleanup;
	{
		int x = extract(&r);

		if (x) {
			if (!code)
				code = x;
			goto cleanup;
		}
	}
	if (!code)
		code = save(&r);
	summary(&r);
cleanup:
	release(&r, code);
	return code;
}
