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

/* Hashes p[i..end) with no cut test; @return the new hash. */
static inline uint64_t roll(uint64_t h, const unsigned char *p, size_t i, size_t end)
{
	for (; i < end; i++)
		h = (h << 1) + gear[p[i]];
	return h;
}

/* Hashes p[*i..end) and stops after the first byte where (h & mask) == 0.
 * @return true if it stopped on a cut. */
static inline bool roll_cut(uint64_t *h, const unsigned char *p, size_t *i, size_t end,
			    uint64_t mask)
{
	uint64_t x = *h;

	for (size_t k = *i; k < end; k++) {
		x = (x << 1) + gear[p[k]];
		if (!(x & mask)) {
			*h = x;
			*i = k + 1;
			return true;
		}
	}
	*h = x;
	*i = end;
	return false;
}

size_t chunker_scan(struct chunker *c, const void *data, size_t len, bool *ret_cut)
{
	const unsigned char *p = data;
	size_t i = 0, pos = c->pos, n;
	uint64_t h = c->hash;
	bool cut = false;

	*ret_cut = false;
	/* The first min bytes of a chunk cannot hold a cut, and the gear
	 * hash only remembers the last 64 bytes: skip to min - 64 and start
	 * hashing there.  Then one tight loop per region, so the inner loops
	 * test nothing but the hash. */
	if (pos < c->min - 64) {
		size_t skip = c->min - 64 - pos;

		if (skip >= len) {
			c->pos = pos + len;
			return len;
		}
		i = skip;
		pos += skip;
		h = 0;
	}
	if (pos < c->min) {
		n = c->min - pos < len - i ? c->min - pos : len - i;
		h = roll(h, p, i, i + n);
		i += n;
		pos += n;
	}
	if (i < len && pos < c->avg) {
		size_t start = i;

		n = c->avg - pos < len - i ? c->avg - pos : len - i;
		cut = roll_cut(&h, p, &i, start + n, c->mask_s);
		pos += i - start;
	}
	if (!cut && i < len && pos < c->max) {
		size_t start = i;

		n = c->max - pos < len - i ? c->max - pos : len - i;
		cut = roll_cut(&h, p, &i, start + n, c->mask_l);
		pos += i - start;
	}
	if (cut || pos >= c->max) {
		*ret_cut = true;
		c->hash = 0;
		c->pos = 0;
		return i;
	}
	c->hash = h;
	c->pos = pos;
	return i;
}
