#include "strset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

bool strset_has(const struct strset *s, const char *p)
{
	size_t mask = s->alloc - 1;

	if (!s->alloc)
		return false;
	for (size_t i = XXH3_64bits(p, strlen(p)) & mask; s->slots[i]; i = (i + 1) & mask)
		if (!strcmp(s->slots[i], p))
			return true;
	return false;
}

static void insert(char **slots, size_t alloc, char *p)
{
	size_t i, mask = alloc - 1;

	for (i = XXH3_64bits(p, strlen(p)) & mask; slots[i]; i = (i + 1) & mask)
		;
	slots[i] = p;
}

enum cc_code strset_add(struct strset *s, const char *p, struct cc_err *err)
{
	char *copy;

	if (strset_has(s, p))
		return CC_OK;
	if ((s->n + 1) * 2 > s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 64;
		char **x = calloc(na, sizeof(*x));

		if (!x)
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		for (size_t i = 0; i < s->alloc; i++)
			if (s->slots[i])
				insert(x, na, s->slots[i]);
		free(s->slots);
		s->slots = x;
		s->alloc = na;
	}
	if (!(copy = strdup(p)))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	insert(s->slots, s->alloc, copy);
	s->n++;
	return CC_OK;
}

void strset_clear(struct strset *s)
{
	for (size_t i = 0; i < s->alloc; i++) {
		free(s->slots[i]);
		s->slots[i] = NULL;
	}
	s->n = 0;
}

void strset_release(struct strset *s)
{
	strset_clear(s);
	free(s->slots);
	s->slots = NULL;
	s->alloc = 0;
}
