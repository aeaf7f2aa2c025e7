/* gha-legacy.h: entries the official actions/cache saved in the GitHub
 * Actions cache service, restored by cicache so that moving to cicache
 * starts warm.
 *
 * Such an entry is one blob: `tar --posix -P -C $GITHUB_WORKSPACE` of the
 * step's resolved paths, compressed with zstd (without --long) or gzip.
 * Its version is the SHA-256 (hex) of the step's `path:` lines as written,
 * the compression method and the salt "1.0", joined with '|'; the service
 * only answers a lookup whose version matches.  Member names are relative
 * to the workspace ("data/x", "../../home/u/.npm/y") or absolute.
 *
 * A legacy entry is untrusted input: extraction writes only inside the
 * roots the caller names (the --path values), under directories opened
 * with O_NOFOLLOW, and checks the whole archive (names, types, links, a
 * complete stream) before it writes anything. */
#ifndef CC_GHA_LEGACY_H
#define CC_GHA_LEGACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "err.h"
#include "store.h"

/* Compression methods of actions/cache, as named in its version text. */
enum gha_legacy_comp {
	GHA_LEGACY_ZSTD_WITHOUT_LONG,	/* "zstd-without-long": zstd on the runner */
	GHA_LEGACY_GZIP,		/* "gzip": no zstd on the runner */
};

/* Computes the version actions/cache gives an entry of these paths (as
 * written in its step, in order) into ret_hex (64 hex digits and NUL). */
enum cc_code gha_legacy_version(const char *const *paths, size_t npaths,
				enum gha_legacy_comp comp, char ret_hex[65], struct cc_err *err);

/* A legacy entry found by gha_legacy_find(). */
struct gha_legacy_entry {
	char *key;			/* the entry's key */
	bool exact;			/* key is the primary key */
	enum gha_legacy_comp comp;
	char *url;			/* signed download URL: a credential */
};

/* Looks for a legacy entry of paths in store s (its legacy_lookup, in
 * struct store_ops: a store without one holds no such entries, a miss):
 * the versions of "zstd-without-long" and then "gzip", each with key and
 * restore keys.  paths must be the `path:` lines of the actions/cache
 * step exactly as written.
 * @return CC_OK with *ret NULL on a miss, or a new entry (free with
 * gha_legacy_entry_free()). */
enum cc_code gha_legacy_find(struct store *s, const char *const *paths, size_t npaths,
			     const char *key, const char *const *restore_keys,
			     size_t nrestore_keys, struct gha_legacy_entry **ret,
			     struct cc_err *err);
void gha_legacy_entry_free(struct gha_legacy_entry *e);

struct gha_legacy_opts {
	const char *cwd, *home;
	const char *workspace;		/* member names are relative to it; NULL: cwd */
	const char *const *paths;	/* the roots, as given (globs allowed) */
	size_t npaths;
	uint64_t max_bytes;		/* download bound; 0: GHA_LEGACY_MAX_BYTES */
	bool keep_dir_symlink;		/* follow a symlink at a root's place (dest.h) */
};

#define GHA_LEGACY_MAX_BYTES (10ull << 30)	/* the service's limit per repository */

struct gha_legacy_stats {
	uint64_t files, dirs, symlinks, hardlinks, bytes, archive_bytes;
};

/* Downloads entry e into a temporary file of s (unlinked at once) and
 * extracts it into the roots of opts->paths: for a path with glob
 * characters the directory before its first glob component, and no root
 * for a "!" exclusion.  Every member must map into a root; hard links
 * only to earlier regular files of the archive; no device files, fifos
 * or sockets.  Modes (without set-id bits) and times are restored,
 * owners are not.  A damaged or truncated archive, or a hostile member,
 * is CC_ECORRUPT, found before anything is written.
 * @return CC_OK with *ret_stats, or an error (CC_ESTORE, CC_ECORRUPT,
 * CC_EDEST, CC_EUSAGE for a root of '/', CC_ENOMEM). */
enum cc_code gha_legacy_restore(struct store *s, const struct gha_legacy_entry *e,
				const struct gha_legacy_opts *opts,
				struct gha_legacy_stats *ret_stats, struct cc_err *err);

#endif
