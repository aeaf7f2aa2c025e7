/* manifest.h: one saved entry, written last as the commit point.
 *
 * Layout (docs/format.md): a 128-byte header, the key, the entry records
 * (one zstd frame), the chunk records (one zstd frame), the pack table
 * (16-byte ids), and an XXH3-128 of everything before it.  Records are
 * streamed on both sides: neither the writer nor the reader holds the tree.
 *
 * Everything the reader returns has been bounds-checked: paths are relative,
 * without empty, "." or ".." components; lengths are below the limits
 * here.  Tree-level rules (a parent precedes its children) are the
 * restorer's to check. */
#ifndef CC_MANIFEST_H
#define CC_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <zstd.h>
#include "buf.h"
#include "err.h"
#include "hash.h"

#define MF_MAGIC "CCMANIF\n"
/* Version 2 may hold `P` records (the patterns as given) before the first
 * root; a writer uses it only when it has some, readers take both. */
#define MF_VERSION 2
#define MF_VERSION_MIN 1
#define MF_HEADER_LEN 128
/* Bytes: a key is at most 512 UTF-16 code units (CC_KEY_MAX), which is
 * at most 1536 bytes of UTF-8; the header allows some room above. */
#define MF_MAX_KEY 2048
#define MF_MAX_PATH 16384
#define MF_MAX_NAME 255
#define MF_MAX_LINK 4095
#define MF_MAX_ROOT 4096
#define MF_MAX_PATTERN 4096
#define MF_MAX_EXTENTS (1u << 20)
#define MF_MAX_PACKS (1u << 20)
#define MF_MAX_FRAME (8u << 20)
#define MF_MAX_SIZE (1ULL << 32)	/* whole manifest file */

enum mf_type { MF_DIR = 'd', MF_FILE = 'f', MF_SYMLINK = 'l', MF_HARDLINK = 'h' };

#define MF_F_LINK_TARGET 1u	/* other entries hard-link to this file */
#define MF_F_SPARSE 2u		/* data extents listed; the rest are holes */

struct mf_extent {
	uint64_t off, len;
};

struct mf_entry {
	enum mf_type type;
	struct buf path;	/* relative to the root; "" is the root itself */
	uint32_t mode;		/* permission bits and S_ISUID/S_ISGID/S_ISVTX */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t uid, gid;
	uint64_t size;		/* MF_FILE: file size */
	uint32_t flags;		/* MF_F_* */
	struct mf_extent *extents;	/* MF_F_SPARSE: data extents, sorted */
	size_t nextents, extents_alloc;
	struct buf target;	/* symlink target, or hardlink's path in the root */
};

void mf_entry_init(struct mf_entry *e);
void mf_entry_release(struct mf_entry *e);
/* Bytes of file data this entry contributes to the data stream. */
uint64_t mf_entry_data_len(const struct mf_entry *e);
/* @return true if path is "" or a clean relative path (see above). */
bool mf_path_valid(const char *path, size_t len);

struct mf_frame {
	uint32_t pack;		/* index in the pack table */
	uint32_t codec;		/* enum frame_codec */
	uint64_t off;
	uint32_t clen, ulen;
};

struct mf_chunk {
	struct cc_id id;
	struct mf_frame frame;	/* the frame holding it */
	uint32_t off, len;	/* in the frame's uncompressed bytes */
};

struct mf_header {
	uint32_t version;
	int64_t created_ns;
	uint32_t key_len, n_roots;
	uint64_t entries_clen, entries_ulen, chunks_clen, chunks_ulen;
	uint64_t n_packs, n_entries, n_files, data_bytes, n_chunks;
};

/* ---- writing ---- */

struct mf_writer {
	ZSTD_CCtx *zc_entries, *zc_chunks;
	struct buf entries, chunks;	/* compressed so far */
	struct buf prev_path;
	/* Entries and chunks may be added from two threads (one each):
	 * each stream has its own scratch buffer and header fields. */
	struct buf scratch, cscratch;
	struct mf_header hdr;
	uint64_t entries_ulen, chunks_ulen;
	uint32_t cur_frame_pack;
	uint64_t cur_frame_off;
	bool have_frame;
	bool has_patterns;
};

enum cc_code mf_writer_init(struct mf_writer *w, struct cc_err *err);
void mf_writer_release(struct mf_writer *w);
/* Records one pattern as given (cache-save --path); all of them come
 * before the first root.  The manifest is then version 2. */
enum cc_code mf_add_pattern(struct mf_writer *w, const char *pattern, struct cc_err *err);
enum cc_code mf_add_root(struct mf_writer *w, const char *spec, struct cc_err *err);
enum cc_code mf_add_entry(struct mf_writer *w, const struct mf_entry *e, struct cc_err *err);
/* Chunks are added in data-stream order; each names its frame. */
enum cc_code mf_add_chunk(struct mf_writer *w, const struct mf_chunk *c, struct cc_err *err);
/* Writes the whole manifest to fd (at its current position). */
enum cc_code mf_writer_finish(struct mf_writer *w, const char *key, int64_t created_ns,
			      const struct cc_id *packs, size_t npacks, int fd,
			      struct cc_err *err);

/* ---- reading ---- */

struct mf_zreader {
	int fd;
	uint64_t off, end;		/* compressed bytes left: [off, end) */
	uint64_t ulen, produced;	/* expected and produced output */
	ZSTD_DCtx *dc;
	unsigned char *in, *out;
	size_t in_pos, in_len, out_pos, out_len;
	bool frame_done;
};

enum mf_item { MF_ITEM_ROOT, MF_ITEM_ENTRY, MF_ITEM_END, MF_ITEM_PATTERN };

struct mf_reader {
	int fd;
	struct mf_header hdr;
	char key[MF_MAX_KEY + 1];
	struct cc_id *packs;
	struct mf_zreader ents, chunks;
	struct buf path;		/* previous path for prefix decoding */
	struct mf_frame frame;		/* current frame of the chunk stream */
	bool have_frame, ents_done, chunks_done;
	bool in_root;
	bool want_patterns;	/* set after mf_open: mf_next returns MF_ITEM_PATTERN */
	uint64_t seen_entries, seen_files, seen_data, seen_chunks, seen_roots;
	uint64_t chunk_data;
};

/* Opens a manifest from fd (not taken over): checks the size, header and
 * checksum, and loads the pack table.  Every failure is CC_ECORRUPT (or
 * CC_ENOMEM / CC_ESTORE for local trouble). */
enum cc_code mf_open(struct mf_reader *r, int fd, struct cc_err *err);
void mf_close(struct mf_reader *r);
/* Next entry-stream item.  For MF_ITEM_ROOT, *root gets the spec (and
 * for MF_ITEM_PATTERN, returned only with want_patterns, the pattern); for
 * MF_ITEM_ENTRY, *e is filled (reusing its buffers).  At MF_ITEM_END the
 * counts in the header have been checked. */
enum cc_code mf_next(struct mf_reader *r, enum mf_item *ret_item, struct buf *root,
		     struct mf_entry *e, struct cc_err *err);
/* Next chunk in data-stream order; *ret_end set after the last one. */
enum cc_code mf_next_chunk(struct mf_reader *r, struct mf_chunk *c, bool *ret_end,
			   struct cc_err *err);
/* Rewinds both streams to their start. */
enum cc_code mf_rewind(struct mf_reader *r, struct cc_err *err);

/* ---- rewriting (prune's repack) ---- */

/* A frame copied byte for byte from (old_pack, old_off) to (new_pack, new_off). */
struct mf_move {
	unsigned char old_pack[16];
	uint64_t old_off;
	unsigned char new_pack[16];
	uint64_t new_off;
};

/* Rewrites the manifest file in_fd into out_fd (at its position): every
 * frame (old_pack, old_off) listed in moves (sorted by old_pack, then
 * old_off; no two alike) now points at (new_pack, new_off).  The header,
 * key and entries stream are copied; the chunk stream is written anew;
 * the pack table is rebuilt: the packs still used in their old order,
 * then the new ones by id (packs no longer used dropped); the checksum
 * is recomputed.  CC_ECORRUPT on a bad manifest or unsorted moves.
 * *ret_changed: whether any frame moved (out_fd gets the copy anyway). */
enum cc_code cc_manifest_repoint(int in_fd, int out_fd, const struct mf_move *moves,
				 size_t n, bool *ret_changed, struct cc_err *err);

#endif
