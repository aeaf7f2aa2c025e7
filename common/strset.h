/* strset.h: a set of strings (open addressing, copies kept), for the
 * paths a restore has written that later entries may name. */
#ifndef CC_STRSET_H
#define CC_STRSET_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

struct strset {
	char **slots;		/* alloc slots, a power of two; NULL is free */
	size_t alloc, n;
};

bool strset_has(const struct strset *s, const char *p);
enum cc_code strset_add(struct strset *s, const char *p, struct cc_err *err);
/* Empties the set, keeping its slots for reuse. */
void strset_clear(struct strset *s);
void strset_release(struct strset *s);

#endif
