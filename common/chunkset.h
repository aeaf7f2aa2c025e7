/* chunkset.h: what the store already holds, keyed by chunk id.
 *
 * An open-addressing table from chunk id to where the chunk lives: a frame
 * (a compressed run of chunks inside a pack) and the chunk's offset and
 * length in the frame's uncompressed bytes.  Frames and packs are kept in
 * side tables so a table slot stays small. */
#ifndef CC_CHUNKSET_H
#define CC_CHUNKSET_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"
#include "hash.h"
#include "util.h"

struct chunk_loc {
	uint32_t frame;		/* index into chunkset.frames */
	uint32_t off;		/* offset in the frame's uncompressed bytes */
	uint32_t len;		/* uncompressed chunk length */
};

struct chunkset_slot {
	struct cc_id id;
	struct chunk_loc loc;
	uint32_t used;
};

enum frame_codec { FRAME_RAW = 0, FRAME_ZSTD = 1 };

struct frame_info {
	uint32_t pack;		/* index into chunkset.packs */
	uint32_t codec;		/* enum frame_codec */
	uint64_t off;		/* offset of the frame in the pack */
	uint32_t clen, ulen;	/* stored and uncompressed length */
	bool ready;		/* false while still being compressed */
};

struct pack_info {
	struct cc_id id;
	int64_t manifest_idx;	/* index in the manifest being written, or -1 */
	bool sealed;		/* id known (pack closed) */
};

struct chunkset {
	struct chunkset_slot *slots;
	size_t nslots, used;
	struct frame_info *frames;
	size_t nframes, frames_alloc;
	struct pack_info *packs;
	size_t npacks, packs_alloc;
};

void chunkset_init(struct chunkset *cs);
void chunkset_release(struct chunkset *cs);
/* @return the location of id, or NULL. */
const struct chunk_loc *chunkset_find(const struct chunkset *cs, const struct cc_id *id);
/* Adds id (no-op if present).  @return CC_OK or CC_ENOMEM. */
enum cc_code chunkset_add(struct chunkset *cs, const struct cc_id *id,
			  const struct chunk_loc *loc, struct cc_err *err);
/* Appends a frame; *ret_idx gets its index. */
enum cc_code chunkset_add_frame(struct chunkset *cs, const struct frame_info *f,
				uint32_t *ret_idx, struct cc_err *err);
/* Finds or appends a pack by id (sealed packs only). */
enum cc_code chunkset_pack(struct chunkset *cs, const struct cc_id *id, bool sealed,
			   uint32_t *ret_idx, struct cc_err *err);

#endif
