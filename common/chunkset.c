#include "chunkset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void chunkset_init(struct chunkset *cs)
{
	memset(cs, 0, sizeof(*cs));
}

void chunkset_release(struct chunkset *cs)
{
	free(cs->slots);
	free(cs->frames);
	free(cs->packs);
	chunkset_init(cs);
}

const struct chunk_loc *chunkset_find(const struct chunkset *cs, const struct cc_id *id)
{
	size_t mask, i;

	if (!cs->nslots)
		return NULL;
	mask = cs->nslots - 1;
	for (i = cc_id_hash64(id) & mask; cs->slots[i].used; i = (i + 1) & mask)
		if (cc_id_eq(&cs->slots[i].id, id))
			return &cs->slots[i].loc;
	return NULL;
}

static enum cc_code rehash(struct chunkset *cs, struct cc_err *err)
{
	size_t n = cs->nslots ? cs->nslots * 2 : 4096, mask = n - 1;
	struct chunkset_slot *s = calloc(n, sizeof(*s));

	if (!s)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot grow the chunk table");
	for (size_t k = 0; k < cs->nslots; k++) {
		size_t i;

		if (!cs->slots[k].used)
			continue;
		for (i = cc_id_hash64(&cs->slots[k].id) & mask; s[i].used; i = (i + 1) & mask)
			;
		s[i] = cs->slots[k];
	}
	free(cs->slots);
	cs->slots = s;
	cs->nslots = n;
	return CC_OK;
}

enum cc_code chunkset_add(struct chunkset *cs, const struct cc_id *id,
			  const struct chunk_loc *loc, struct cc_err *err)
{
	size_t mask, i;

	if ((cs->used + 1) * 4 >= cs->nslots * 3) {
		enum cc_code rc = rehash(cs, err);

		if (rc)
			return rc;
	}
	mask = cs->nslots - 1;
	for (i = cc_id_hash64(id) & mask; cs->slots[i].used; i = (i + 1) & mask)
		if (cc_id_eq(&cs->slots[i].id, id))
			return CC_OK;
	cs->slots[i].id = *id;
	cs->slots[i].loc = *loc;
	cs->slots[i].used = 1;
	cs->used++;
	return CC_OK;
}

/* Grows an array of elem-sized items to hold one more; one helper so the
 * frame and pack tables share the same bound and overflow check. */
static enum cc_code grow_one(void **arr, size_t *alloc, size_t n, size_t elem,
			     struct cc_err *err)
{
	size_t na, bytes;
	void *p;

	if (n < *alloc)
		return CC_OK;
	na = *alloc ? *alloc * 2 : 256;
	if (na > UINT32_MAX || mul_overflow_size(na, elem, &bytes) ||
	    !(p = realloc(*arr, bytes)))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot grow a table to %zu entries", na);
	*arr = p;
	*alloc = na;
	return CC_OK;
}

enum cc_code chunkset_add_frame(struct chunkset *cs, const struct frame_info *f,
				uint32_t *ret_idx, struct cc_err *err)
{
	enum cc_code rc = grow_one((void **)&cs->frames, &cs->frames_alloc,
				   cs->nframes, sizeof(*f), err);

	if (rc)
		return rc;
	cs->frames[cs->nframes] = *f;
	*ret_idx = (uint32_t)cs->nframes++;
	return CC_OK;
}

enum cc_code chunkset_pack(struct chunkset *cs, const struct cc_id *id, bool sealed,
			   uint32_t *ret_idx, struct cc_err *err)
{
	enum cc_code rc;

	if (sealed)
		for (size_t i = cs->npacks; i-- > 0;)
			if (cs->packs[i].sealed && cc_id_eq(&cs->packs[i].id, id)) {
				*ret_idx = (uint32_t)i;
				return CC_OK;
			}
	rc = grow_one((void **)&cs->packs, &cs->packs_alloc, cs->npacks,
		      sizeof(*cs->packs), err);
	if (rc)
		return rc;
	cs->packs[cs->npacks].id = *id;
	cs->packs[cs->npacks].sealed = sealed;
	cs->packs[cs->npacks].manifest_idx = -1;
	*ret_idx = (uint32_t)cs->npacks++;
	return CC_OK;
}
