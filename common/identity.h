/* identity.h: the path-list identity of an entry (docs/format.md,
 * section 1): like actions/cache's "version", the --path patterns
 * exactly as given, in order, are part of what an entry is. */
#ifndef CC_IDENTITY_H
#define CC_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

#define CC_IDENTITY_LEN 16

/* Sets ret to the 16 lowercase hex digits of XXH3_64bits (seed 0) over
 * paths[0] NUL paths[1] NUL ... paths[n-1] NUL, NUL-terminated.
 * @return CC_OK or CC_ENOMEM. */
enum cc_code cc_identity(const char *const *paths, size_t n, char ret[CC_IDENTITY_LEN + 1],
			 struct cc_err *err);

/* @return true if s is CC_IDENTITY_LEN lowercase hex digits. */
bool cc_identity_valid(const char *s, size_t len);

#endif
