/* store.h: the object store interface.
 *
 * A store is a flat namespace of immutable objects ("packs/<id>.pack",
 * "keys/<key>").  Each backend lives in its own store-*.c file and exports
 * one const struct store_ops; callers test the capability bits, never the
 * backend's name. */
#ifndef CC_STORE_H
#define CC_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include "buf.h"
#include "err.h"
#include "hash.h"

#define STORE_PUT_MOVE 1u	/* src_path may be renamed into the store */
#define STORE_PUT_IF_ABSENT 2u	/* keep an existing object; report it */

#define STORE_DEFAULT_JOBS 8
#define STORE_PART_MIN (5u << 20)	/* S3's smallest part but the last */
#define STORE_PART_MAX (128u << 20)	/* actions/cache's upload-chunk-size cap */

#define STORE_CAP_LOCAL_TMP 1u	/* tmpdir is inside the store: MOVE is a rename */
#define STORE_CAP_LIST_NEWEST 2u	/* list() yields only the newest match of a prefix */
#define STORE_CAP_LOCAL_DIR 4u	/* a directory of this machine holds it: see local_dir */
#define STORE_CAP_NO_SIZE 8u	/* stat() and list() do not know sizes (size is 0) */
#define STORE_CAP_MTIME_NS 16u	/* mtime_ns is exact to the ns (else: to the second) */
#define STORE_CAP_KEEPS_FIRST 32u	/* put never replaces an existing object (GitHub cache service) */
/* Objects come over a network: bytes may be damaged on the way (a
 * restore reads a frame that fails its check once more) and reading
 * ahead pays (a restore prefetches frames through get_ranges, which a
 * store with this bit must have). */
#define STORE_CAP_REMOTE 64u

struct store_object {
	const char *name;	/* full object name */
	uint64_t size;
	int64_t mtime_ns;	/* when it was published */
	/* Opaque version of the object, from stat() and list(); "" if
	 * unknown.  put_if_match compares it.  Local store:
	 * "<dev>:<ino>:<size>:<mtime_ns>"; S3: the ETag, quotes kept. */
	char etag[72];
};

/* One range of a batched read. */
struct store_range {
	const char *name;
	uint64_t off;
	size_t len;
	void *dst;		/* len bytes */
	const volatile int *cancel;	/* optional: nonzero stops the read */
};

/* @return 0 to continue listing, nonzero to stop. */
typedef int (*store_list_fn)(void *ctx, const struct store_object *o);

struct store;

struct store_ops {
	const char *name;
	unsigned caps;
	/* Parses location: what follows "SCHEME://" (or the whole path for
	 * a local directory), never the scheme itself; "" for a backend
	 * whose table row in store.c allows it ("gha" alone).  s->location
	 * holds the whole URL, for messages.  Must not create anything: a
	 * restore from a store that does not exist is a miss. */
	enum cc_code (*open)(struct store *s, const char *location, struct cc_err *err);
	void (*close)(struct store *s);
	/* Creates what a save needs and checks that it can write. */
	enum cc_code (*prepare_write)(struct store *s, struct cc_err *err);
	/* Publishes the local file src_path as object name, atomically.
	 * With STORE_PUT_IF_ABSENT and an existing object, nothing changes
	 * and *ret_existed is set. */
	enum cc_code (*put)(struct store *s, const char *name, const char *src_path,
			    unsigned flags, bool *ret_existed, struct cc_err *err);
	/* Reads exactly len bytes at off; a short object is CC_ECORRUPT. */
	enum cc_code (*get_range)(struct store *s, const char *name, uint64_t off,
				  size_t len, void *dst, struct cc_err *err);
	/* Copies a whole object (at most max bytes) to fd. */
	enum cc_code (*get_file)(struct store *s, const char *name, int fd, uint64_t max,
				 bool *ret_found, struct cc_err *err);
	enum cc_code (*stat)(struct store *s, const char *name, bool *ret_found,
			     struct store_object *ret, struct cc_err *err);
	/* Calls fn for every object whose name starts with prefix. */
	enum cc_code (*list)(struct store *s, const char *prefix, store_list_fn fn,
			     void *ctx, struct cc_err *err);
	/* Optional (NULL: list enumerates already, unless the store has
	 * STORE_CAP_LIST_NEWEST).  Like list, but every object whose name
	 * starts with prefix, once each, for lifecycle work: a store whose
	 * list yields only the newest match enumerates another way (gha:
	 * GitHub's REST API, which needs a token).  Sizes are real here even
	 * with STORE_CAP_NO_SIZE. */
	enum cc_code (*list_all)(struct store *s, const char *prefix, store_list_fn fn,
				 void *ctx, struct cc_err *err);
	enum cc_code (*del)(struct store *s, const char *name, struct cc_err *err);
	/* Optional (NULL: this store cannot write conditionally).  Publishes
	 * the local file src_path as object name only if the object's current
	 * version is etag (a store_object's etag); when it changed or
	 * vanished, *ret_mismatch is set, nothing is published and the result
	 * is CC_OK.  src_path is consumed either way.  The local store keeps
	 * the old object's mtime (a rewrite must not change "newest first"). */
	enum cc_code (*put_if_match)(struct store *s, const char *name, const char *src_path,
				     const char *etag, bool *ret_mismatch, struct cc_err *err);
	/* Optional (NULL: callers loop over get_range); required with
	 * STORE_CAP_REMOTE.  Reads n ranges, up to s->jobs transfers at a
	 * time, merging adjacent ranges of one object where the backend
	 * gains from it (store_get_spans does that for it).  Fails as a
	 * whole: on error, which dst buffers were filled is unspecified. */
	enum cc_code (*get_ranges)(struct store *s, const struct store_range *r, size_t n,
				   struct cc_err *err);
	/* With STORE_CAP_LOCAL_DIR.  Stats the directory that holds the
	 * store (following symbolic links): a save compares it, by device
	 * and inode, with the directories it reads, to leave the store out.
	 * @return 0, or -1 with errno set (ENOENT: not created yet). */
	int (*local_dir)(struct store *s, struct stat *ret);
	/* Optional (NULL: names of any length).  The longest object name
	 * this store can hold (its own prefixes and suffixes deducted), in
	 * bytes or, with *ret_utf16, in UTF-16 code units (cc_key_length). */
	size_t (*name_max)(struct store *s, bool *ret_utf16);
	/* With name_max: whose limit it is, for messages. */
	const char *name_max_why;
	/* Optional (NULL: this store holds no such entries, a lookup is a
	 * miss).  Entries the official actions/cache saved in the same
	 * service (gha-legacy.h): asks for the entry of version, key exactly,
	 * then the newest entry each restore key prefixes.  @return CC_OK
	 * with *ret_found; on a hit ret_key gets the entry's key and ret_url
	 * its signed download URL (a credential: never print it). */
	enum cc_code (*legacy_lookup)(struct store *s, const char *version, const char *key,
				      const char *const *restore_keys, size_t nrestore_keys,
				      bool *ret_found, struct buf *ret_key, struct buf *ret_url,
				      struct cc_err *err);
	/* With legacy_lookup.  Downloads the blob at url (from legacy_lookup)
	 * to fd, at most max bytes; name (the entry's key) is for messages.
	 * @return CC_OK, CC_ESTORE (transport or HTTP error; the URL is kept
	 * out of the message) or CC_ENOMEM (over max). */
	enum cc_code (*legacy_fetch)(struct store *s, const char *url, const char *name, int fd,
				     uint64_t max, struct cc_err *err);
};

struct store {
	const struct store_ops *ops;
	char *location;		/* as given less userinfo and query (url.h), for messages */
	char *tmpdir;		/* where to stage files before put */
	int jobs;		/* parallel transfers a remote backend may run */
	/* Upload part size: an S3 multipart part (objects up to it are one
	 * PUT) or a gha Azure block; 0 is the backend's default (8 MiB).
	 * Between STORE_PART_MIN and STORE_PART_MAX. */
	uint64_t part_size;
	void *priv;
};

/* The backends, for store.c's table: nothing else names them. */
extern const struct store_ops store_local;
extern const struct store_ops store_s3;
extern const struct store_ops store_gha;

/* Opens the store a URL or path names ("file://DIR", "DIR",
 * "s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path-style=true]",
 * "gha" or "gha://NAMESPACE": the GitHub Actions cache service).  The
 * backend is the row of store.c's table whose scheme the URL has; its
 * open() gets the rest (see struct store_ops).
 * @return CC_OK with *ret set, or CC_EUSAGE for an unknown scheme. */
enum cc_code store_open(struct store **ret, const char *url, struct cc_err *err);
void store_close(struct store *s);

/* Batched ranged reads, for a backend's get_ranges.  A span is one read
 * of len bytes at off of one object into dst: one range, or several
 * adjacent ranges merged. */
struct store_span {
	const char *name;
	uint64_t off;
	size_t len;
	void *dst;
	const volatile int *cancel;	/* the first range's */
};
/* Reads n spans, up to s->jobs at a time, each exactly len bytes (a
 * short or missing object is CC_ECORRUPT).  @return CC_OK, or the
 * first failure in span order. */
typedef enum cc_code (*store_spans_fn)(struct store *s, const struct store_span *sp, size_t n,
				       struct cc_err *err);
/* The get_ranges of a remote backend: merges each run of ranges of one
 * object (in the order given) that follow each other without a gap
 * into one span of at most span_max bytes (a range longer than
 * span_max is a span of its own), reads the spans with fetch (a span of
 * one range straight into its dst, a merged one into a buffer of its
 * own) and scatters merged spans into their ranges' dst.  Fails as a
 * whole, like get_ranges. */
enum cc_code store_get_spans(struct store *s, const struct store_range *r, size_t n,
			     size_t span_max, store_spans_fn fetch, struct cc_err *err);

/* Object names.  store_key_name sets ret to "keys/" + E(key)
 * (cc_key_encode, docs/format.md section 1); as E is per byte, it also
 * gives the list prefix of a restore key. */
enum cc_code store_key_name(struct buf *ret, const char *key, struct cc_err *err);
/* The identity suffix ",@" + 16 hex digits an entry name may carry after
 * E(key) (docs/format.md): length limits leave room for it. */
#define STORE_VERSION_SUFFIX_LEN 18
/* Whether entries of key (a valid key, or a restore-key prefix) fit in
 * s's object names, identity suffix included.  @return CC_OK, or
 * CC_EUSAGE with a message naming the limit and the key's encoded length;
 * what is "key" or "restore key". */
enum cc_code store_check_key(struct store *s, const char *key, const char *what,
			     struct cc_err *err);
/* "keys/" + E(key) + ",@" + version: the entry of key saved with the
 * path list whose identity (identity.h) is version; version NULL gives
 * the legacy name (store_key_name). */
enum cc_code store_entry_name(struct buf *ret, const char *key, const char *version,
			      struct cc_err *err);
/* Decodes an entry name (the full object name).  @return true with the
 * key in ret_key and the version in ret_version ("" for a legacy entry),
 * false for a name that is no entry of a valid key (ignore it). */
bool store_entry_parse(const char *name, struct buf *ret_key, char ret_version[17]);
#define STORE_VERSION_SEP ",@"
#define STORE_KEYS_PREFIX "keys/"
#define STORE_PACKS_PREFIX "packs/"
/* "damaged/HEX.pack": a restore found that pack damaged (docs/format.md). */
#define STORE_DAMAGED_PREFIX "damaged/"
/* "sums/HEX": an entry's summary; "used/" + the rest of its keys/ name:
 * its last-use record; "condemned/HEX.pack": prune's mark on a pack it
 * will delete (docs/format.md, "Lifecycle"). */
/* A pack's object name: prefix (STORE_PACKS_PREFIX, STORE_DAMAGED_PREFIX
 * or STORE_CONDEMNED_PREFIX) + the 32 hex digits of its id + ".pack".
 * The one place that spells it; out holds STORE_PACK_NAME_SIZE bytes. */
#define STORE_PACK_NAME_SIZE 64
void store_pack_name(char out[STORE_PACK_NAME_SIZE], const char *prefix, const struct cc_id *id);
/* The reverse: @return true with *ret set when name is prefix + a pack
 * id + ".pack", false for any other name. */
bool store_pack_parse(const char *name, const char *prefix, struct cc_id *ret);
#define STORE_SUMS_PREFIX "sums/"
#define STORE_USED_PREFIX "used/"
#define STORE_CONDEMNED_PREFIX "condemned/"

/* Calls fn for every object whose name starts with prefix: ops->list_all
 * if the store has one, else ops->list when that enumerates (no
 * STORE_CAP_LIST_NEWEST).  @return CC_OK, the store's error, or
 * CC_EUSAGE when this store cannot list all its objects. */
enum cc_code store_list_all(struct store *s, const char *prefix, store_list_fn fn, void *ctx,
			    struct cc_err *err);

/* A bucket location as object-store backends take it (after the
 * scheme): "BUCKET[/PREFIX][?KEY=VALUE&...]". */
#define STORE_LOC_OPTS_MAX 8
struct store_loc {
	char *bucket;		/* up to the first '/' or '?' (unchecked) */
	/* "" or "a/b/": the pieces of PREFIX, each followed by one '/', with
	 * no empty piece ("a//b/" is "a/b/"); "." and ".." are refused. */
	char *prefix;
	/* The value of known option i, percent-decoded, or NULL. */
	char *opt[STORE_LOC_OPTS_MAX];
};
/* Parses location (s->location is named in messages; scheme is the
 * backend's, e.g. "s3"), knowing the nknown option names of known (at
 * most STORE_LOC_OPTS_MAX).  @return CC_OK, CC_EUSAGE (an unknown option,
 * a bad prefix) or CC_ENOMEM; ret is released on failure. */
enum cc_code store_loc_parse(struct store *s, const char *scheme, const char *location,
			     const char *const *known, size_t nknown, struct store_loc *ret,
			     struct cc_err *err);
void store_loc_release(struct store_loc *l);

/* Creates a private temporary file in s->tmpdir; *ret_path gets its name.
 * @return an open fd or -1 with err set. */
int store_tmpfile(struct store *s, struct buf *ret_path, struct cc_err *err);

#endif
