/* driver-buildx.c: `docker buildx build`, when the buildx plugin is
 * installed.  Cache mounts live in the buildx builder's BuildKit: the
 * `--builder NAME` of BUILD-ARGS is asked about here and passed on to the
 * helper builds. */
#include "driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The builder's BuildKit minor version (0.X), -1 when unknown. */
static int buildkit_minor = -1;

/* "v0.8+unknown", "v0.13.1" -> 8, 13; -1 for anything else. */
static int parse_minor(const char *v)
{
	char *end;
	long major, minor;

	if (*v == 'v')
		v++;
	major = strtol(v, &end, 10);
	if (end == v || *end != '.' || major != 0)
		return major > 0 ? 1000 : -1;
	v = end + 1;
	minor = strtol(v, &end, 10);
	return end == v ? -1 : (int)minor;
}

/* "buildx SUB [EXTRA] [--builder NAME]" into args (room for 6). */
static const char *const *buildx_args(const char **args, const char *sub, const char *extra,
				       const char *builder)
{
	size_t k = 0;

	args[k++] = "buildx";
	args[k++] = sub;
	if (extra)
		args[k++] = extra;
	if (builder) {
		args[k++] = "--builder";
		args[k++] = builder;
	}
	args[k] = NULL;
	return args;
}

static int inspect(const char *builder, const char *find, char *why, size_t n)
{
	const char *args[6];

	return cb_docker_probe(buildx_args(args, "inspect", NULL, builder), find, why, n);
}

static bool buildx_available(const char *builder, char *why, size_t n)
{
	char version[600];
	int st;

	/* Newer buildx say "BuildKit version:", older ones "Buildkit:". */
	st = inspect(builder, "BuildKit version:", version, sizeof(version));
	if (st == CB_PROBE_NOT_FOUND)
		st = inspect(builder, "Buildkit:", version, sizeof(version));
	if (st != 0 && st != CB_PROBE_NOT_FOUND) {
		snprintf(why, n, "%s", version);
		return false;
	}
	buildkit_minor = st == 0 ? parse_minor(version) : -1;
	return true;
}

static enum cc_code buildx_build_cmd(struct cb_argv *a, struct cc_err *err)
{
	enum cc_code rc;

	if ((rc = cb_argv_add(a, cb_docker_client(), err)) ||
	    (rc = cb_argv_add(a, "buildx", err)))
		return rc;
	return cb_argv_add(a, "build", err);
}

static const char *const buildx_env[] = { NULL };

/* The Dockerfile frontend expands ARG/ENV in --mount values since
 * dockerfile 1.3, the built-in frontend of BuildKit 0.9; the docker
 * driver of an engine before 23.0 runs an older one (20.10: v0.8). */
static enum df_mount_vars buildx_mount_vars(void)
{
	return cb_mount_vars_override(buildkit_minor >= 0 && buildkit_minor < 9 ?
				      DF_MOUNT_VARS_LITERAL : DF_MOUNT_VARS_EXPAND);
}

static int buildx_cache_mounts(const char *builder)
{
	const char *args[6];

	return cb_docker_lists_cache_mounts(buildx_args(args, "du", "--verbose", builder));
}

const struct cb_driver cb_driver_buildx = {
	.name = "buildx",
	.available = buildx_available,
	.build_cmd = buildx_build_cmd,
	.env = buildx_env,
	.mount_vars = buildx_mount_vars,
	.cache_mounts = buildx_cache_mounts,
};
