/* summary.h: an entry's summary, "sums/HEX" (docs/format.md, "Lifecycle").
 *
 * What lifecycle work (cache-store list, stats, prune) needs of an entry,
 * so that it never downloads a manifest whole: the packs and frames it
 * references, its sizes and creation time.  HEX is the manifest's
 * checksum (its last 16 bytes), so a summary is content-addressed and
 * never replaced.  Text, one record a line:
 *
 *   cicache summary 1
 *   manifest HEX
 *   bytes N          manifest object size
 *   created NS
 *   size N           logical bytes (the manifest's data_bytes)
 *   files N          entry records
 *   pack HEX         one per pack-table row, in table order
 *   frame I OFF LEN  every distinct frame used, sorted by (I, OFF)
 *   end
 *
 * A reader takes it whole or not at all: anything malformed is "no
 * summary", and the caller falls back to the manifest. */
#ifndef CC_SUMMARY_H
#define CC_SUMMARY_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "err.h"
#include "store.h"

#define CC_SUMMARY_MAX (16u << 20)
#define CC_SUMMARY_MAX_PACKS (1u << 20)
#define CC_SUMMARY_MAX_FRAMES (1u << 24)
#define CC_SUMMARY_MAX_PATTERNS 4096u
#define CC_SUMMARY_MAX_PATTERN 4096u	/* bytes of one pattern */

struct cc_summary_frame {
	uint32_t pack;		/* index in packs */
	uint64_t off, len;
};

struct cc_summary {
	unsigned char manifest[16];	/* the manifest's checksum */
	uint64_t bytes;			/* manifest object size */
	int64_t created_ns;
	uint64_t size, files;
	struct buf patterns;		/* the --path patterns, each NUL-terminated */
	size_t n_patterns;
	size_t n_packs;
	unsigned char (*packs)[16];
	size_t n_frames;
	struct cc_summary_frame *frames;
};

struct store;

/* Reads the manifest file fd (from its start; the position is not used)
 * and builds its summary.  CC_ECORRUPT on a bad manifest. */
enum cc_code cc_summary_from_manifest(int fd, struct cc_summary *ret, struct cc_err *err);
/* Parses a summary object.  CC_ECORRUPT when it is malformed in any way. */
enum cc_code cc_summary_parse(const void *p, size_t n, struct cc_summary *ret,
			      struct cc_err *err);
/* Appends the text form to out.  @return CC_OK or CC_ENOMEM. */
enum cc_code cc_summary_format(const struct cc_summary *s, struct buf *out, struct cc_err *err);
/* Builds the summary of the manifest file and puts it as sums/HEX
 * (keeping one that exists already). */
enum cc_code cc_summary_put(struct store *st, int manifest_fd, struct cc_err *err);
/* Puts s as sums/HEX (keeping one that exists already). */
enum cc_code cc_summary_store(struct store *st, const struct cc_summary *s, struct cc_err *err);
/* "sums/" + 32 hex digits into out (at least 40 bytes). */
void cc_summary_name(const unsigned char manifest[16], char *out, size_t n);
void cc_summary_release(struct cc_summary *s);

#endif
