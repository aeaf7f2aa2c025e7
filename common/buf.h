/* buf.h: the growable byte buffer.
 *
 * Invariants (as git's strbuf): buf.data is never NULL and always
 * NUL-terminated; buf.len bytes are valid.  buf.max bounds the growth
 * (as curl's dynbuf) for anything filled from untrusted input: growing past
 * it fails with CC_ENOMEM instead of allocating.  Zero means "no bound
 * chosen beyond SIZE_MAX/2" and is only for data we produce ourselves.
 */
#ifndef CC_BUF_H
#define CC_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t max;
};

extern char buf_empty[];
#define BUF_INIT { buf_empty, 0, 0, 0 }

void buf_init(struct buf *b, size_t max);
/* Frees the storage and resets to the empty state (max is kept). */
void buf_release(struct buf *b);
/* Makes room for extra more bytes.  @return CC_OK or CC_ENOMEM. */
enum cc_code buf_grow(struct buf *b, size_t extra, struct cc_err *err);
enum cc_code buf_add(struct buf *b, const void *p, size_t n, struct cc_err *err);
enum cc_code buf_addstr(struct buf *b, const char *s, struct cc_err *err);
enum cc_code buf_addf(struct buf *b, struct cc_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sets the length (<= alloc) and re-terminates. */
void buf_setlen(struct buf *b, size_t len);
static inline void buf_reset(struct buf *b) { buf_setlen(b, 0); }
/* Hands the storage to the caller (malloc'd, NUL-terminated); b is reset. */
char *buf_detach(struct buf *b, size_t *ret_len);

#endif
