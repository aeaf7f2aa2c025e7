/* driver.h: the builders cachebuild can drive, one const ops table per
 * file (driver-docker.c, driver-buildx.c).  Callers never branch on a
 * driver's name. */
#ifndef CB_DRIVER_H
#define CB_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include "dockerfile.h"
#include "run.h"

struct cb_driver {
	const char *name;
	/* Whether the builder answers; on false, why holds a reason
	 * ("'docker' cannot reach the daemon: ..."). builder is the
	 * "--builder NAME" of BUILD-ARGS (buildx), or NULL. */
	bool (*available)(const char *builder, char *why, size_t n);
	/* Appends the words that start a build, e.g. "docker" "build". */
	enum cc_code (*build_cmd)(struct cb_argv *a, struct cc_err *err);
	/* Environment the build command needs (NULL-terminated). */
	const char *const *env;
	/* Whether the frontend expands ARG/ENV in --mount values; called
	 * after available() said yes. */
	enum df_mount_vars (*mount_vars)(void);
	/* Whether the builder holds any cache mount at all: 1 yes, 0 none
	 * (a fresh builder: nothing to probe), -1 cannot tell. */
	int (*cache_mounts)(const char *builder);
};

extern const struct cb_driver cb_driver_docker;
extern const struct cb_driver cb_driver_buildx;

/* The docker client: $CACHEBUILD_DOCKER, else "docker". */
const char *cb_docker_client(void);

/* What cb_docker_probe() returns when the command worked but no line
 * holds find. */
#define CB_PROBE_NOT_FOUND (-2)

/* Runs "docker ARGS..." quietly and @return its exit status (-1 when it
 * cannot start).  why gets the first line of its output: the reason when
 * it failed, the answer when it worked; with find, the rest of the first
 * line that holds find (CB_PROBE_NOT_FOUND when none does). */
int cb_docker_probe(const char *const *args, const char *find, char *why, size_t n);

/* Runs "docker ARGS..." (a disk-usage listing) and @return 1 when its
 * output names a cache mount (exec.cachemount), 0 when not, -1 when it
 * failed: what cache_mounts() answers. */
int cb_docker_lists_cache_mounts(const char *const *args);

/* def, unless $CACHEBUILD_MOUNT_VARS says "literal" or "expand". */
enum df_mount_vars cb_mount_vars_override(enum df_mount_vars def);

#endif
