/* key.h: cache keys. */
#ifndef CC_KEY_H
#define CC_KEY_H

#include "err.h"

#define CC_KEY_MAX 512

/* A key is 1..512 printable ASCII bytes without '/', ',' or whitespace.
 * @return CC_OK, or CC_EUSAGE with a message naming the problem; what is
 * "key" or "restore key" in that message. */
enum cc_code cc_key_check(const char *key, const char *what, struct cc_err *err);

#endif
