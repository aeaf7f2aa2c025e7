/* lifecycle.h: what cache-store does to a store: list, stats, delete,
 * prune, check (docs/format.md, "Lifecycle").
 *
 * Store-agnostic: everything goes through store_ops.  Entries are read
 * through their summaries (summary.h): one 16-byte ranged read of the key
 * object (the manifest's checksum) and one small GET each; an entry
 * without a summary (saved before summaries existed) costs its manifest,
 * and the missing summary is then put (except in a dry run). */
#ifndef CC_LIFECYCLE_H
#define CC_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"
#include "store.h"

struct cc_list_entry {
	const char *name;	/* object name, "keys/..." */
	const char *key;
	char version[17];	/* identity of the --path list; "" legacy */
	const char *patterns;	/* that list as given: n_patterns NUL-terminated strings */
	size_t n_patterns;	/* 0: not recorded (or not known) */
	bool known;		/* summary or manifest read; else only name/times */
	uint64_t size;		/* logical bytes */
	uint64_t files;
	uint64_t stored;	/* stored bytes of the frames it references */
	uint64_t unique;	/* ... that no other entry references */
	uint64_t manifest_bytes;
	int64_t created_ns, published_ns, last_used_ns;	/* last use: 0 if never recorded */
};

struct cc_store_list {
	struct cc_list_entry *e;
	size_t n;
	void *priv;
};

/* Lists the entries whose key starts with prefix ("" for all), newest
 * publication first.  Free with cc_store_list_free(). */
enum cc_code cc_store_list(struct store *s, const char *prefix, struct cc_store_list *ret,
			   struct cc_err *err);
void cc_store_list_free(struct cc_store_list *l);

struct cc_store_stats {
	uint64_t entries, unknown_entries, packs;
	uint64_t stored;	/* bytes of all packs */
	uint64_t referenced;	/* bytes of distinct frames some entry references */
	uint64_t unreferenced;	/* stored - referenced */
	uint64_t logical;	/* sum of the entries' logical sizes */
	uint64_t ref_sum;	/* sum over entries of the bytes each references */
	uint64_t manifests, summaries, condemned;
};

enum cc_code cc_store_stats(struct store *s, struct cc_store_stats *ret, struct cc_err *err);

/* Called for every action (or, in a dry run, every action that would be
 * taken): what is "delete entry", "mark pack", "delete pack", ... */
typedef void (*cc_lifecycle_note_fn)(void *ctx, const char *what, const char *name,
				     uint64_t bytes);

/* Deletes the entries of the keys given (every version) and, with
 * prefix, of every key starting with it.  *ret_deleted: how many;
 * *ret_missing: how many keys matched none. */
enum cc_code cc_store_delete(struct store *s, const char *const *keys, size_t nkeys,
			     const char *prefix, bool dry_run, cc_lifecycle_note_fn note,
			     void *ctx, size_t *ret_deleted, size_t *ret_missing,
			     struct cc_err *err);

struct cc_prune_opts {
	uint64_t max_size;	/* 0: no cap */
	double max_age;		/* seconds; 0: none */
	long keep_last;		/* -1: none */
	const char *keep_prefix;	/* with keep_last; NULL = "" */
	const char *protect_key;	/* --max-size never deletes this key's entries
				 * (cache-save --max-store-size: the one just saved) */
	double grace;		/* seconds */
	bool dry_run;
	int64_t now_ns;		/* 0: the clock */
	cc_lifecycle_note_fn note;
	void *ctx;
};

struct cc_prune_result {
	uint64_t entries_before, entries_deleted;
	uint64_t stored_before, stored_after;	/* pack bytes */
	uint64_t packs_marked, packs_deleted, packs_kept_young, packs_rescued;
	uint64_t packs_repacked;
	uint64_t bytes_freed;
	bool packs_skipped;	/* an entry could not be read: no pack was touched */
};

enum cc_code cc_store_prune(struct store *s, const struct cc_prune_opts *o,
			    struct cc_prune_result *ret, struct cc_err *err);

struct cc_check_result {
	uint64_t entries, bad_entries, frames_read, bytes_read;
};

/* Checks every entry: its manifest parses and every frame it references
 * lies in an existing pack; with read_data, every frame decompresses and
 * every chunk matches its id.  A bad entry is reported through note
 * ("bad entry", name) with the reason in *err's message... and counted;
 * the return value is CC_OK unless the store itself failed. */
enum cc_code cc_store_check(struct store *s, bool read_data, cc_lifecycle_note_fn note,
			    void *ctx, struct cc_check_result *ret, struct cc_err *err);

#endif
