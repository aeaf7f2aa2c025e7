/* chunker.h: content-defined chunking (FastCDC-style gear hash with
 * normalised chunking).  Boundaries depend only on content, so an insertion
 * shifts at most the chunks around it.  The chunker is streaming: feed any
 * split of the same byte stream and the boundaries come out the same. */
#ifndef CC_CHUNKER_H
#define CC_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHUNK_MIN_DEFAULT (8u << 10)
#define CHUNK_AVG_DEFAULT (32u << 10)
#define CHUNK_MAX_DEFAULT (128u << 10)
/* Hard bound on any chunk, ours or read from a manifest. */
#define CHUNK_MAX_LIMIT (4u << 20)

struct chunker {
	size_t min, avg, max;
	uint64_t mask_s, mask_l;	/* harder before avg, easier after */
	uint64_t hash;
	size_t pos;			/* bytes in the current chunk */
};

/* avg must be a power of two; min < avg < max <= CHUNK_MAX_LIMIT.
 * @return false for an invalid combination. */
bool chunker_init(struct chunker *c, size_t min, size_t avg, size_t max);

/* Scans data[0..len) as the continuation of the current chunk.
 * @return the number of bytes that belong to the current chunk; when
 * *ret_cut is true, the chunk ends after that many bytes and the chunker
 * has been reset for the next one. */
size_t chunker_scan(struct chunker *c, const void *data, size_t len, bool *ret_cut);

#endif
