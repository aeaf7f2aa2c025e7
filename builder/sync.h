/* sync.h: moving cache-mount content between host directories and the
 * builder, through small generated builds on a helper image.
 *
 * Every helper build mounts the cache with the identity the user's RUN
 * gives it (id, sharing, and uid, gid, mode only when written, from,
 * source, and the build arg BUILDKIT_CACHE_MOUNT_NS), written into the
 * generated Dockerfile (Docker 20.10 does not expand build args in
 * --mount values), so BuildKit hands it the same directory.
 *
 * Next to each host directory, HOSTDIR.cachebuild-state records the
 * signature of the host directory last copied in or out and the
 * signature of the mount right after.  With it an inject is skipped when
 * the builder still holds what the host holds (one probe build asks),
 * and an extract when the build left the mount as it was.
 *
 * The helper is, by default, cachebuild's own static binary: copied into
 * each helper build's context and run from its bind mount on an empty
 * image (FROM scratch) in helper mode (helper.h), so no image is pulled.
 * With a helper image instead, shell scripts run on it: it must have sh,
 * find, stat, sort, md5sum, cut, awk, tar, chown and chmod (busybox
 * does). */
#ifndef CB_SYNC_H
#define CB_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include "dockerfile.h"
#include "driver.h"
#include "hostdir.h"

struct cb_mount {
	const struct df_mount *df;	/* the first RUN that uses this cache */
	char *hostdir;			/* owned */
	char key[17];			/* hex hash of the identity: names state */
	bool carried;			/* false: from= names a stage of the build */
	bool skip;			/* leave it alone in this run (--no-cache) */
	/* Filled in by the phases. */
	char host_sig[HOSTDIR_SIG_LEN + 1];
	char mount_sig[HOSTDIR_SIG_LEN + 1];
	char state_host[HOSTDIR_SIG_LEN + 1], state_mount[HOSTDIR_SIG_LEN + 1];
	bool host_exists, have_state, probed, injected, extracted;
	bool delta;			/* extracted as changes only */
	unsigned long nship, ngone;	/* entries sent, entries removed */
	char note[512];			/* why a delta was not applied */
	uint64_t bytes_in, bytes_out;
	double secs_in, secs_out;
};

struct cb_sync {
	const struct cb_driver *drv;
	const char *helper;		/* image with sh, tar, find ... */
	const char *helper_bin;		/* or a static cachebuild run on an empty image */
	const char *ns;			/* BUILDKIT_CACHE_MOUNT_NS, or NULL */
	const char *const *extra;	/* words for every helper build */
	size_t nextra;
	const char *tmp;		/* a private directory for contexts and outputs */
	enum df_mount_vars vars;	/* how the frontend reads --mount values */
	unsigned serial;
	double helper_secs;		/* time in helper builds (callers reset it) */
};

/* Computes m's key from its identity. */
void cb_mount_key(struct cb_mount *m, const char *ns);

/* Whether a helper build can name the same cache: false for an id, from
 * or source that is empty or holds blanks or commas. */
bool cb_mount_reproducible(const struct df_mount *d);

/* Reads HOSTDIR.cachebuild-state into state_host/state_mount (have_state
 * false when there is none). */
void cb_sync_read_state(struct cb_mount *m);

/* One helper build over the carried mounts whose state matches their host
 * directory (host_sig must be set): fills mount_sig and sets probed.  No
 * build when there is no such mount.  @return CC_OK or CC_EINTERNAL (the
 * message holds the last line the helper build printed and its log). */
enum cc_code cb_sync_probe(struct cb_sync *s, struct cb_mount *m, size_t n, struct cc_err *err);

/* After the probe: whether the builder already holds m's host directory. */
bool cb_sync_in_builder(const struct cb_mount *m);

/* One helper build that replaces the builder's copy of each of ms[0..n)
 * by its host directory (which must exist; host_sig must be set), then
 * records their state.  @return CC_OK, CC_ESOURCE (host side), CC_EDEST
 * (state file), CC_EINTERNAL (helper build). */
enum cc_code cb_sync_inject(struct cb_sync *s, struct cb_mount **ms, size_t n,
			    struct cc_err *err);

/* One helper build that archives every carried mount whose content is not
 * what its state says the host already holds, then replaces those host
 * directories (hostdir_replace()) and records their new state.
 * @return CC_OK, CC_EDEST (host side), CC_EINTERNAL (helper build). */
enum cc_code cb_sync_extract(struct cb_sync *s, struct cb_mount *m, size_t n,
			     struct cc_err *err);

#endif
