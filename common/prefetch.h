/* prefetch.h: reading a remote entry's frames ahead of the restore.
 *
 * A restore consumes frames one at a time, in the order of the chunk
 * stream.  Against a remote store each would be one round trip, so a
 * prefetcher thread walks the same chunk stream with a second reader,
 * ahead of the consumer, and fetches the frames it names in batches with
 * the store's get_ranges (parallel, adjacent ranges merged), holding at
 * most PREFETCH_WINDOW compressed bytes.  The consumer asks for each frame
 * it needs; frames it passed over (data it skipped, or a frame its own
 * cache still held) are dropped.  The last KEEP_BYTES of fetched frames
 * are kept compressed, so a frame used again further on (content that
 * repeats within the entry) is not fetched again.  A frame the prefetcher could not fetch
 * is left to the consumer, whose own read reports the error, unless the
 * store kept failing (then its error is the consumer's).
 */
#ifndef CC_PREFETCH_H
#define CC_PREFETCH_H

#include "err.h"
#include "manifest.h"
#include "store.h"

#define PREFETCH_WINDOW (96u << 20)
#define PREFETCH_BATCH (32u << 20)

struct prefetch;

/* Starts prefetching the frames of the manifest open in mf_fd (which the
 * caller keeps open until prefetch_stop). */
enum cc_code prefetch_start(struct prefetch **ret, struct store *s, int mf_fd,
			    struct cc_err *err);

/* Hands over the compressed bytes of frame f: *ret_data is malloc'd (the
 * caller frees it), or NULL when the caller must read the frame itself.
 * @return CC_ESTORE (err set) when the store kept failing on the batch
 * that held f: reading it again would repeat every retry. */
enum cc_code prefetch_take(struct prefetch *p, const struct mf_frame *f, unsigned char **ret_data,
			   struct cc_err *err);

/* Stops the thread (cancelling the batch in flight) and frees
 * everything; p may be NULL. */
void prefetch_stop(struct prefetch *p);

#endif
