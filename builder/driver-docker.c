/* driver-docker.c: Docker's embedded BuildKit (DOCKER_BUILDKIT=1 docker
 * build).  The client is $CACHEBUILD_DOCKER or "docker": a client that
 * needs the buildx plugin for BuildKit builds fails here, so CI images
 * with such a client point CACHEBUILD_DOCKER at another one or use
 * --builder buildx. */
#include "driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cb_docker_client(void)
{
	const char *c = getenv("CACHEBUILD_DOCKER");

	return c && *c ? c : "docker";
}

int cb_docker_probe(const char *const *args, const char *find, char *why, size_t n)
{
	struct cb_argv a = CB_ARGV_INIT;
	struct cc_err err;
	FILE *f = tmpfile();
	int st = -1;

	snprintf(why, n, "unknown reason");
	if (!f) {
		snprintf(why, n, "cannot create a temporary file: %s", strerror(errno));
		return -1;
	}
	if (cb_argv_add(&a, cb_docker_client(), &err))
		goto cleanup;
	for (size_t i = 0; args[i]; i++)
		if (cb_argv_add(&a, args[i], &err))
			goto cleanup;
	st = cb_run(a.v, NULL, -1, fileno(f), fileno(f), &err);
	if (st < 0) {
		snprintf(why, n, "%s", err.msg);
		goto cleanup;
	}
	char line[4096] = "", *hit = NULL;

	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (st || !find || (hit = strstr(line, find)))
			break;
	}
	if (st) {
		snprintf(why, n, "'%s %s' exited %d%s%.500s", cb_docker_client(), args[0], st,
			 *line ? ": " : "", line);
	} else if (!find) {
		snprintf(why, n, "%s", line);
	} else if (!hit) {
		*why = '\0';
		st = CB_PROBE_NOT_FOUND;
	} else {
		hit += strlen(find);
		hit += strspn(hit, " \t");
		snprintf(why, n, "%s", hit);
	}
cleanup:
	fclose(f);
	cb_argv_release(&a);
	return st;
}

static int server_major = -1;

static bool docker_available(const char *builder, char *why, size_t n)
{
	static const char *const args[] = { "version", "--format", "{{.Server.Version}}", NULL };

	(void)builder;
	if (cb_docker_probe(args, NULL, why, n))
		return false;
	server_major = atoi(why);
	return true;
}

/* $CACHEBUILD_MOUNT_VARS (literal or expand) decides when set. */
enum df_mount_vars cb_mount_vars_override(enum df_mount_vars def)
{
	const char *v = getenv("CACHEBUILD_MOUNT_VARS");

	if (v && !strcmp(v, "literal"))
		return DF_MOUNT_VARS_LITERAL;
	if (v && !strcmp(v, "expand"))
		return DF_MOUNT_VARS_EXPAND;
	return def;
}

/* Docker before 23.0 embeds BuildKit 0.8-0.10-era frontends; 20.10 was
 * checked to use mount values as written.  Later engines expand them. */
static enum df_mount_vars docker_mount_vars(void)
{
	return cb_mount_vars_override(server_major >= 0 && server_major < 23 ?
				      DF_MOUNT_VARS_LITERAL : DF_MOUNT_VARS_EXPAND);
}

static enum cc_code docker_build_cmd(struct cb_argv *a, struct cc_err *err)
{
	enum cc_code rc = cb_argv_add(a, cb_docker_client(), err);

	return rc ? rc : cb_argv_add(a, "build", err);
}

/* The engine's build cache records; a cache mount's type is
 * exec.cachemount.  (API 1.41 has no build-cache-only disk usage call.) */
int cb_docker_lists_cache_mounts(const char *const *args)
{
	char why[64];
	int st = cb_docker_probe(args, "exec.cachemount", why, sizeof(why));

	return st == 0 ? 1 : st == CB_PROBE_NOT_FOUND ? 0 : -1;
}

static int docker_cache_mounts(const char *builder)
{
	static const char *const args[] = { "system", "df", "-v", "--format",
		"{{range .BuildCache}}{{.CacheType}}{{println}}{{end}}", NULL };

	(void)builder;
	return cb_docker_lists_cache_mounts(args);
}

static const char *const docker_env[] = { "DOCKER_BUILDKIT=1", NULL };

const struct cb_driver cb_driver_docker = {
	.name = "docker",
	.available = docker_available,
	.build_cmd = docker_build_cmd,
	.env = docker_env,
	.mount_vars = docker_mount_vars,
	.cache_mounts = docker_cache_mounts,
};
