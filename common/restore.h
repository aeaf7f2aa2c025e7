/* restore.h: find the best entry for a key and materialise it. */
#ifndef CC_RESTORE_H
#define CC_RESTORE_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"
#include "manifest.h"
#include "store.h"

struct cc_match {
	char *key;		/* the entry's key */
	char *name;		/* its object name: what cc_entry_open() reads */
	char version[17];	/* its path-list identity; "" for a legacy entry */
	bool exact;		/* an entry of the primary key itself */
	int64_t mtime_ns;	/* as listed */
	int64_t created_ns;	/* read only to break a tie (docs/format.md) */
};

/* Lists the candidates in the order they should be tried (docs/format.md,
 * "Lookup order"): the entries of key, then the entries of keys that key
 * prefixes, then for each restore key in turn the entries it prefixes;
 * newest first within each step, each entry once.  With version (the
 * identity of the --path list, identity.h), only entries of that version
 * and legacy entries (saved without one) are candidates; without, every
 * entry is.  An empty list is a miss, not an error.  Free with
 * cc_matches_free(). */
enum cc_code cc_lookup(struct store *s, const char *key, const char *version,
		       const char *const *restore_keys, size_t nrestore_keys,
		       struct cc_match **ret, size_t *ret_n, struct cc_err *err);
void cc_matches_free(struct cc_match *m, size_t n);

struct cc_entry;

/* Fetches and verifies the manifest stored as object name (a match's
 * name), which must be key's, and checks every record of it.
 * CC_ECORRUPT means this candidate is unusable (try the next one); *ret is
 * NULL then.  An entry that vanished in between is CC_ECORRUPT too. */
enum cc_code cc_entry_open(struct store *s, const char *name, const char *key,
			   struct cc_entry **ret, struct cc_err *err);
void cc_entry_close(struct cc_entry *e);
/* Before anything is written: every pack the entry's chunk records use
 * must be in the store and, where the store reports sizes, hold the end
 * of the last frame read from it (one stat per pack; packs are few).
 * CC_ECORRUPT when one is missing or cut short: pass the candidate over,
 * as for a bad manifest.  Store errors are CC_ESTORE. */
enum cc_code cc_entry_check_packs(struct cc_entry *e, struct cc_err *err);
const struct mf_header *cc_entry_header(const struct cc_entry *e);
/* The recorded root specs, in order; valid until cc_entry_close(). */
size_t cc_entry_roots(const struct cc_entry *e, const char *const **ret);

struct restore_opts {
	const char *cwd, *home;
	const char *const *only;	/* recorded specs to restore; NULL: all */
	size_t nonly;
	const char *const *allow;	/* without only: recorded specs named by the
					 * user (--path), written even outside cwd
					 * and home */
	size_t nallow;
	bool same_owner;		/* restore uid/gid (root only) */
	bool keep_dir_symlink;		/* follow a symlink at a root's place (dest.h) */
	int jobs;			/* writer threads; 0 = online CPUs */
	uint64_t max_bytes;		/* refuse entries taking more; 0 = no cap */
};

struct restore_stats {
	uint64_t files, dirs, symlinks, hardlinks, bytes, roots, skipped_roots;
	bool started;	/* writing began: a failure may leave a partial tree */
};

/* @return how many of the entry's roots cc_entry_restore() would write
 * with these options (what --lookup-only reports). */
size_t cc_entry_restorable(struct cc_entry *e, const struct restore_opts *opts);

/* Writes the entry's selected roots through dest.c (see dest.h for the
 * rules).  Roots outside cwd and home (absolute specs, specs with "..",
 * "~" specs when home is "/") are restored only when named in
 * opts->only; "~" specs while home is unset or relative are passed over.
 * Roots that reach the same directory, or one inside another, by any
 * spelling are CC_ECORRUPT before anything is written.  Before writing
 * anything, what the roots will allocate is compared with the free space
 * of each destination file system and opts->max_bytes: CC_EDEST when it
 * does not fit, with nothing written.
 * Every chunk is verified; the first mismatch is CC_ECORRUPT naming the
 * file, and leaves a note in the store for the next save (docs/format.md
 * 7.1).  After a restore that wrote a root, the last-use record
 * used/E(K),@V is put when missing or more than an hour old (not on
 * STORE_CAP_KEEPS_FIRST stores; a failure is a debug note only); the
 * store is never otherwise changed.  Nothing is ever written outside the
 * resolved roots. */
/* The checks cc_entry_restore() makes before its first write (roots by
 * identity, free space and opts->max_bytes), without writing anything:
 * what --lookup-only runs so that it agrees with a restore.
 * @return CC_OK, CC_ECORRUPT or CC_EDEST (err set), or CC_ENOMEM. */
enum cc_code cc_entry_precheck(struct cc_entry *e, const struct restore_opts *opts,
			       struct cc_err *err);

enum cc_code cc_entry_restore(struct cc_entry *e, const struct restore_opts *opts,
			      struct restore_stats *ret_stats, struct cc_err *err);

#endif
