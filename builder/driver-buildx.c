/* driver-buildx.c: `docker buildx build`, when the buildx plugin is
 * installed.  Cache mounts live in the buildx builder's BuildKit (the
 * `--builder NAME` of BUILD-ARGS is passed on to the helper builds). */
#include "driver.h"

static bool buildx_available(char *why, size_t n)
{
	static const char *const args[] = { "buildx", "version", NULL };
	static const char *const ls[] = { "buildx", "inspect", NULL };

	return cb_docker_probe(args, why, n) == 0 && cb_docker_probe(ls, why, n) == 0;
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

/* buildx drives a current BuildKit, whose frontend expands mount values. */
static enum df_mount_vars buildx_mount_vars(void)
{
	return cb_mount_vars_override(DF_MOUNT_VARS_EXPAND);
}

const struct cb_driver cb_driver_buildx = {
	.name = "buildx",
	.available = buildx_available,
	.build_cmd = buildx_build_cmd,
	.env = buildx_env,
	.mount_vars = buildx_mount_vars,
};
