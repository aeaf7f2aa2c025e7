/* test-chunkset.c: the chunk id -> location table and its frame and pack
 * side tables. */
#include "harness.h"
#include "../../common/chunkset.h"

#include <stdlib.h>

static void make_id(struct cc_id *id, uint64_t n)
{
	cc_id_of(id, &n, sizeof(n));
}

static void test_empty(void)
{
	struct chunkset cs;
	struct cc_id id;

	chunkset_init(&cs);
	make_id(&id, 1);
	CHECK(chunkset_find(&cs, &id) == NULL);
	CHECK_EQ(cs.used, 0);
	chunkset_release(&cs);
	CHECK(chunkset_find(&cs, &id) == NULL);
	/* Release of a released set is harmless. */
	chunkset_release(&cs);
}

#define MANY 100000

static void test_many(void)
{
	struct chunkset cs;
	struct cc_err err = { 0 };
	struct cc_id id;
	size_t bad_find = 0, bad_loc = 0, bad_absent = 0, prev_slots = 0, grew = 0;

	chunkset_init(&cs);
	for (uint32_t i = 0; i < MANY; i++) {
		struct chunk_loc loc = { .frame = i / 7, .off = i * 3, .len = i + 1 };

		make_id(&id, i);
		if (chunkset_add(&cs, &id, &loc, &err) != CC_OK) {
			CHECK(0);
			break;
		}
		if (cs.nslots != prev_slots) {
			grew++;
			prev_slots = cs.nslots;
			/* power of two, and never full */
			CHECK_EQ(cs.nslots & (cs.nslots - 1), 0);
		}
		/* Half-way lookups: the table stays consistent while it grows. */
		if (i % 997 == 0) {
			struct cc_id old;

			make_id(&old, i / 2);
			if (!chunkset_find(&cs, &old))
				bad_find++;
		}
	}
	CHECK_EQ(cs.used, MANY);
	CHECK(cs.nslots > MANY);
	CHECK(grew >= 5);
	for (uint32_t i = 0; i < MANY; i++) {
		const struct chunk_loc *l;

		make_id(&id, i);
		l = chunkset_find(&cs, &id);
		if (!l) {
			bad_find++;
			continue;
		}
		if (l->frame != i / 7 || l->off != i * 3 || l->len != i + 1)
			bad_loc++;
	}
	for (uint32_t i = MANY; i < 2 * MANY; i++) {
		make_id(&id, i);
		if (chunkset_find(&cs, &id))
			bad_absent++;
	}
	CHECK_EQ(bad_find, 0);
	CHECK_EQ(bad_loc, 0);
	CHECK_EQ(bad_absent, 0);
	chunkset_release(&cs);
	CHECK_EQ(cs.used, 0);
	CHECK_EQ(cs.nslots, 0);
}

/* Ids that agree on the bytes the table hashes collide into one probe
 * chain; they must still be told apart. */
static void test_collisions(void)
{
	struct chunkset cs;
	struct cc_err err = { 0 };
	size_t bad = 0;

	chunkset_init(&cs);
	for (uint32_t i = 0; i < 3000; i++) {
		struct cc_id id;
		struct chunk_loc loc = { .frame = i, .off = 0, .len = 1 };

		memset(&id, 0xab, sizeof(id));
		memcpy(id.b, &i, sizeof(i));	/* bytes 8..15 all equal */
		CHECK_EQ(chunkset_add(&cs, &id, &loc, &err), CC_OK);
	}
	for (uint32_t i = 0; i < 3000; i++) {
		struct cc_id id;
		const struct chunk_loc *l;

		memset(&id, 0xab, sizeof(id));
		memcpy(id.b, &i, sizeof(i));
		l = chunkset_find(&cs, &id);
		if (!l || l->frame != i)
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(cs.used, 3000);
	chunkset_release(&cs);
}

static void test_duplicates(void)
{
	struct chunkset cs;
	struct cc_err err = { 0 };
	struct cc_id id;
	struct chunk_loc a = { 1, 2, 3 }, b = { 4, 5, 6 };
	const struct chunk_loc *l;

	chunkset_init(&cs);
	make_id(&id, 42);
	CHECK_EQ(chunkset_add(&cs, &id, &a, &err), CC_OK);
	CHECK_EQ(chunkset_add(&cs, &id, &b, &err), CC_OK);
	CHECK_EQ(cs.used, 1);
	l = chunkset_find(&cs, &id);
	CHECK(l != NULL);
	if (l) {
		/* The first location wins: adding is a no-op if present. */
		CHECK_EQ(l->frame, 1);
		CHECK_EQ(l->off, 2);
		CHECK_EQ(l->len, 3);
	}
	for (int round = 0; round < 3; round++)
		for (uint32_t i = 0; i < 10000; i++) {
			struct chunk_loc loc = { .frame = round, .off = i, .len = 1 };

			make_id(&id, 1000 + i);
			chunkset_add(&cs, &id, &loc, &err);
		}
	CHECK_EQ(cs.used, 10001);
	make_id(&id, 1000 + 1234);
	l = chunkset_find(&cs, &id);
	CHECK(l && l->frame == 0 && l->off == 1234);
	chunkset_release(&cs);
}

static void test_frames(void)
{
	struct chunkset cs;
	struct cc_err err = { 0 };
	size_t bad = 0;

	chunkset_init(&cs);
	for (uint32_t i = 0; i < 5000; i++) {
		struct frame_info f = {
			.pack = i % 13, .codec = i % 2 ? FRAME_ZSTD : FRAME_RAW,
			.off = (uint64_t)i << 33, .clen = i, .ulen = 2 * i, .ready = i % 3 == 0,
		};
		uint32_t idx = UINT32_MAX;

		CHECK_EQ(chunkset_add_frame(&cs, &f, &idx, &err), CC_OK);
		if (idx != i)
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(cs.nframes, 5000);
	CHECK(cs.frames_alloc >= 5000);
	for (uint32_t i = 0; i < 5000; i++) {
		const struct frame_info *f = &cs.frames[i];

		if (f->pack != i % 13 || f->off != (uint64_t)i << 33 || f->clen != i ||
		    f->ulen != 2 * i || f->ready != (i % 3 == 0) ||
		    f->codec != (i % 2 ? FRAME_ZSTD : FRAME_RAW))
			bad++;
	}
	CHECK_EQ(bad, 0);
	chunkset_release(&cs);
	CHECK_EQ(cs.nframes, 0);
}

static void test_packs(void)
{
	struct chunkset cs;
	struct cc_err err = { 0 };
	struct cc_id a, b, c;
	uint32_t ia = 99, ib = 99, ia2 = 99, iu = 99, iu2 = 99, ic = 99;

	chunkset_init(&cs);
	make_id(&a, 1);
	make_id(&b, 2);
	make_id(&c, 3);
	CHECK_EQ(chunkset_pack(&cs, &a, true, &ia, &err), CC_OK);
	CHECK_EQ(chunkset_pack(&cs, &b, true, &ib, &err), CC_OK);
	CHECK_EQ(ia, 0);
	CHECK_EQ(ib, 1);
	/* A sealed pack is found by id. */
	CHECK_EQ(chunkset_pack(&cs, &a, true, &ia2, &err), CC_OK);
	CHECK_EQ(ia2, 0);
	CHECK_EQ(cs.npacks, 2);
	CHECK(cs.packs[0].sealed);
	CHECK_EQ(cs.packs[0].manifest_idx, -1);
	CHECK(cc_id_eq(&cs.packs[1].id, &b));
	/* Unsealed packs (still being written) always get a new slot and
	 * are never returned for a sealed lookup. */
	CHECK_EQ(chunkset_pack(&cs, &c, false, &iu, &err), CC_OK);
	CHECK_EQ(chunkset_pack(&cs, &c, false, &iu2, &err), CC_OK);
	CHECK_EQ(iu, 2);
	CHECK_EQ(iu2, 3);
	CHECK(!cs.packs[2].sealed);
	CHECK_EQ(chunkset_pack(&cs, &c, true, &ic, &err), CC_OK);
	CHECK_EQ(ic, 4);
	CHECK_EQ(cs.npacks, 5);
	/* An unsealed lookup never returns a sealed pack, even with its id. */
	CHECK_EQ(chunkset_pack(&cs, &a, false, &iu, &err), CC_OK);
	CHECK_EQ(iu, 5);
	CHECK(!cs.packs[5].sealed);
	/* and a sealed lookup still finds the first sealed one */
	CHECK_EQ(chunkset_pack(&cs, &a, true, &ia2, &err), CC_OK);
	CHECK_EQ(ia2, 0);
	CHECK_EQ(cs.npacks, 6);
	/* Many packs: the table grows past its first allocation. */
	for (uint64_t i = 100; i < 1100; i++) {
		struct cc_id id;
		uint32_t idx;

		make_id(&id, i);
		CHECK_EQ(chunkset_pack(&cs, &id, true, &idx, &err), CC_OK);
		CHECK_EQ(idx, i - 100 + 6);
	}
	{
		struct cc_id id;
		uint32_t idx = 0;

		make_id(&id, 600);
		CHECK_EQ(chunkset_pack(&cs, &id, true, &idx, &err), CC_OK);
		CHECK_EQ(idx, 506);
		CHECK_EQ(cs.npacks, 1006);
	}
	chunkset_release(&cs);
	CHECK_EQ(cs.npacks, 0);
}

int main(void)
{
	RUN(test_empty);
	RUN(test_many);
	RUN(test_collisions);
	RUN(test_duplicates);
	RUN(test_frames);
	RUN(test_packs);
	return test_summary();
}
