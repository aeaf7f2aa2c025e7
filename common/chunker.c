#include "chunker.h"

/* The gear table: 256 pseudo-random words from splitmix64 with a fixed seed.
 * Changing the seed changes every boundary and so every chunk id: it is part
 * of the store format (docs/format.md). */
static uint64_t gear[256];
static bool gear_ready;

static void gear_init(void)
{
	uint64_t x = 0x63696361636865ULL;	/* "cicache" */

	for (int i = 0; i < 256; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		gear[i] = z ^ (z >> 31);
	}
	gear_ready = true;
}

/* A mask with `bits` one bits spread over the high half of the word, so the
 * condition looks at bytes far back in the gear window. */
static uint64_t spread_mask(unsigned bits)
{
	uint64_t m = 0;
	unsigned placed = 0;

	for (unsigned i = 63; placed < bits && i > 0; i -= 2) {
		m |= 1ULL << i;
		placed++;
	}
	for (unsigned i = 62; placed < bits; i -= 2) {
		m |= 1ULL << i;
		placed++;
	}
	return m;
}

bool chunker_init(struct chunker *c, size_t min, size_t avg, size_t max)
{
	unsigned bits = 0;

	if (!gear_ready)
		gear_init();
	if (!avg || (avg & (avg - 1)) || min >= avg || avg >= max ||
	    max > CHUNK_MAX_LIMIT || min < 64)
		return false;
	while ((1ULL << bits) < avg)
		bits++;
	c->min = min;
	c->avg = avg;
	c->max = max;
	/* Normalised chunking, level 2: two bits harder before the average,
	 * two bits easier after it. */
	c->mask_s = spread_mask(bits + 2);
	c->mask_l = spread_mask(bits - 2);
	c->hash = 0;
	c->pos = 0;
	return true;
}

size_t chunker_scan(struct chunker *c, const void *data, size_t len, bool *ret_cut)
{
	const unsigned char *p = data;
	size_t i = 0;
	uint64_t h = c->hash;

	*ret_cut = false;
	/* Skip the first min bytes of a chunk: no cut can happen there, and
	 * the gear window only spans 64 bytes, so hashing can start late. */
	if (c->pos < c->min - 64) {
		size_t skip = c->min - 64 - c->pos;

		if (skip >= len) {
			c->pos += len;
			return len;
		}
		i = skip;
		c->pos += skip;
		h = 0;
	}
	for (; i < len; i++) {
		h = (h << 1) + gear[p[i]];
		c->pos++;
		if (c->pos < c->min)
			continue;
		if ((c->pos < c->avg ? (h & c->mask_s) : (h & c->mask_l)) == 0 ||
		    c->pos >= c->max) {
			*ret_cut = true;
			c->hash = 0;
			c->pos = 0;
			return i + 1;
		}
	}
	c->hash = h;
	return len;
}
