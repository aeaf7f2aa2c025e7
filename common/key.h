/* key.h: cache keys and their encoding in object names. */
#ifndef CC_KEY_H
#define CC_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"

/* The longest key, counted as actions/cache counts (JavaScript's
 * String.length: UTF-16 code units, so a character >= U+10000 is 2). */
#define CC_KEY_MAX 512

/* A key is valid UTF-8 (no overlong forms, no surrogates), 1..512
 * characters counted as cc_key_length counts, and holds no ',', no C0
 * control byte, no DEL and no C1 control (U+0080..U+009F).  Spaces, '/',
 * ':' and other printable characters are allowed.
 * @return CC_OK, or CC_EUSAGE with a message naming the problem; what is
 * "key" or "restore key" in that message. */
enum cc_code cc_key_check(const char *key, const char *what, struct cc_err *err);

/* The length of s[0..n) in UTF-16 code units (what JavaScript's
 * String.length gives).  s must be valid UTF-8. */
size_t cc_key_length(const char *s, size_t n);

/* Appends E(key) to ret: every byte as is, except ' ' and '/', which
 * become ",20" and ",2F".  E works byte by byte, so E(prefix) is a prefix
 * of E(key).  key should be valid (cc_key_check). */
enum cc_code cc_key_encode(struct buf *ret, const char *key, struct cc_err *err);

/* @return true, with the key NUL-terminated in ret (reset first), iff
 * s[0..len) is the canonical encoding of a valid key: cc_key_encode of
 * the result gives s[0..len) back byte for byte. */
bool cc_key_decode(const char *s, size_t len, struct buf *ret);

#endif
