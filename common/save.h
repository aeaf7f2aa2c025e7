/* save.h: snapshot paths under a key. */
#ifndef CC_SAVE_H
#define CC_SAVE_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"
#include "store.h"

struct save_root {
	const char *spec;	/* as recorded (see pathspec.h) */
	const char *abs;	/* where to read it now */
};

struct glob;

struct save_opts {
	const char *key;
	const struct save_root *roots;
	size_t nroots;
	const char *const *patterns;	/* recorded as given (cache-save --path) */
	size_t npatterns;
	const struct glob *filter;	/* NULL, or what below the roots is saved */
	const char *const *restore_keys;	/* extra dedup bases, by prefix */
	size_t nrestore_keys;
	int level;		/* zstd level, 0 = default (3) */
	int jobs;		/* compression threads, 0 = online CPUs */
	bool immutable;		/* keep an existing entry (first writer wins) */
	const char *version;	/* path-list identity (identity.h): the entry is
				 * "keys/E(key),@version"; NULL: legacy name */
};

struct save_stats {
	uint64_t files, dirs, symlinks, hardlinks, skipped;
	uint64_t excluded;	/* left out by the filter */
	uint64_t bytes;		/* file data read */
	uint64_t new_bytes;	/* bytes added to the store (packs + manifest) */
	uint64_t new_data;	/* uncompressed bytes of chunks not already stored */
	uint64_t chunks, new_chunks, packs;
	unsigned bases;		/* manifests used to know what is stored */
	bool kept_existing;	/* immutable: the key existed, nothing saved */
};

/* Saves opts->roots under opts->key and opts->version (immutable,
 * rolling and dedup all work per (key, version)).  The manifest is published last; on
 * any failure nothing becomes visible under the key. */
enum cc_code cc_save(struct store *s, const struct save_opts *opts,
		     struct save_stats *ret_stats, struct cc_err *err);

#endif
