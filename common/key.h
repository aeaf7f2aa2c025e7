/* key.h: cache keys. */
#ifndef CC_KEY_H
#define CC_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"

#define CC_KEY_MAX 512

/* A key is 1..512 printable ASCII bytes without '/', ',' or whitespace.
 * @return CC_OK, or CC_EUSAGE with a message naming the problem; what is
 * "key" or "restore key" in that message. */
enum cc_code cc_key_check(const char *key, const char *what, struct cc_err *err);

/* stand-in: replaced by the keys branch.  Appends E(key) to ret (the
 * store encoding of a key, docs/format.md). */
enum cc_code cc_key_encode(struct buf *ret, const char *key, struct cc_err *err);
/* stand-in: replaced by the keys branch.  @return true, with the key
 * NUL-terminated in ret, iff s[0..len) is the canonical encoding of a
 * valid key. */
bool cc_key_decode(const char *s, size_t len, struct buf *ret);

#endif
