/* dockerfile.h: the Dockerfile scanner of cachebuild.
 *
 * Reads a Dockerfile the way BuildKit's dockerfile frontend does as far as
 * cache mounts are concerned: parser directives (escape, syntax), comments,
 * line continuations, heredocs, stages, ARG and ENV, and every
 * `RUN --mount=type=cache,...` with its options after variable
 * substitution.  It does not execute anything and reports errors through
 * struct cc_err ("FILE:LINE: what"), never by printing.
 */
#ifndef CB_DOCKERFILE_H
#define CB_DOCKERFILE_H

#include <stdbool.h>
#include <stddef.h>
#include "../common/err.h"

enum df_sharing { DF_SHARING_SHARED, DF_SHARING_PRIVATE, DF_SHARING_LOCKED };

struct df_mount {
	char *id;		/* as given, else the cleaned target (BuildKit's rule) */
	char *target;		/* as given after substitution */
	char *from;		/* NULL unless from= was given */
	char *source;		/* NULL unless source=/src= was given */
	enum df_sharing sharing;
	unsigned mode;		/* default 0755 */
	unsigned uid, gid;	/* default 0 */
	/* Whether mode, uid, gid were written: BuildKit keys a cache on
	 * them only then (a mount with uid=0 is not the one without). */
	bool mode_set, uid_set, gid_set;
	bool readonly;
	size_t stage;		/* index into dockerfile.stages */
	unsigned line;		/* first line of the RUN instruction */
};

struct df_stage {
	char *name;		/* lowercased AS name, or NULL */
	char *base;		/* image or stage after substitution */
	unsigned line;
};

struct dockerfile {
	char *path;		/* as given to dockerfile_parse() */
	char escape;		/* '\\' or '`' */
	char *syntax;		/* the "# syntax=" directive, or NULL */
	struct df_stage *stages;
	size_t nstages;
	struct df_mount *mounts;	/* every cache mount of every RUN, in order */
	size_t nmounts, mounts_alloc;
};

/* How the builder's frontend reads --mount values.  Docker 20.10's
 * embedded frontend (BuildKit 0.8) uses them as written: `id=$X` is the
 * id "$X" and `target=$T` mounts at "/$T" (checked on the real engine);
 * newer frontends expand ARG and ENV in them first. */
enum df_mount_vars { DF_MOUNT_VARS_LITERAL, DF_MOUNT_VARS_EXPAND };

/* Scans text (len bytes, need not be NUL-terminated).  path only names the
 * file in messages.  build_args holds "NAME=VALUE" strings (a bare "NAME"
 * takes the value from the environment, as `docker build --build-arg NAME`
 * does).  vars says whether --mount values are expanded.  On success *df owns everything it points to; release it with
 * dockerfile_release().  @return CC_OK, CC_EUSAGE for a Dockerfile that
 * BuildKit would reject or that uses what the scanner does not support
 * (message "PATH:LINE: ..."), CC_ENOMEM. */
enum cc_code dockerfile_parse(struct dockerfile *df, const char *path, const char *text,
			      size_t len, const char *const *build_args, size_t nbuild_args,
			      enum df_mount_vars vars, struct cc_err *err);

/* Reads path (at most 4 MiB) and scans it.  @return as dockerfile_parse(),
 * or CC_ESOURCE when the file cannot be read. */
enum cc_code dockerfile_load(struct dockerfile *df, const char *path,
			     const char *const *build_args, size_t nbuild_args,
			     enum df_mount_vars vars, struct cc_err *err);

void dockerfile_release(struct dockerfile *df);

/* Index of the stage called name (case-insensitive) or given by its
 * number; -1 when there is none. */
long dockerfile_stage_index(const struct dockerfile *df, const char *name);

const char *df_sharing_name(enum df_sharing s);

/* Go's path.Clean: the id BuildKit derives from a target.  Returns a
 * malloc'd string or NULL when out of memory. */
char *df_path_clean(const char *p);

#endif
