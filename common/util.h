/* util.h: checked size arithmetic, growing arrays, whole reads and
 * writes, varints, little-endian helpers, time, unnamed temporary files. */
#ifndef CC_UTIL_H
#define CC_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* @return true on overflow; *ret is only valid when false is returned. */
static inline bool add_overflow_u64(uint64_t a, uint64_t b, uint64_t *ret)
{
	return __builtin_add_overflow(a, b, ret);
}
static inline bool mul_overflow_size(size_t a, size_t b, size_t *ret)
{
	return __builtin_mul_overflow(a, b, ret);
}

/* Makes room for need elements of elem bytes in the array *pp (a pointer
 * to the array pointer), whose capacity is *alloc elements: grows to at
 * least need, and by at least half (8 at first).  @return 0, or -1 with
 * errno ENOMEM (also on overflow), *pp and *alloc unchanged.  Use the
 * macro: `if (ARRAY_GROW(v->items, v->alloc, v->n + 1)) ...`. */
int array_grow(void *pp, size_t *alloc, size_t need, size_t elem);
#define ARRAY_GROW(p, alloc, need) array_grow(&(p), &(alloc), (need), sizeof(*(p)))

/* Whole writes and reads: retry short counts and EINTR.  write_all and
 * pwrite_all @return 0, or -1 with errno set.  pread_full reads until n
 * bytes or end of file; @return the bytes read (less than n only at end
 * of file), or -1 with errno set. */
int write_all(int fd, const void *p, size_t n);
int pwrite_all(int fd, const void *p, size_t n, off_t off);
ssize_t pread_full(int fd, void *p, size_t n, off_t off);

static inline void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static inline void put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* LEB128 varint: writes at most 10 bytes, @return bytes written. */
static inline size_t varint_put(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* Reads a varint from [*pp, end).  @return false on truncation or overlong
 * encoding; *pp advances only on success. */
static inline bool varint_get(const unsigned char **pp, const unsigned char *end,
			      uint64_t *ret)
{
	const unsigned char *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;

	while (p < end && shift < 64) {
		unsigned char c = *p++;

		if (shift == 63 && (c & 0x7e))
			return false;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*pp = p;
			*ret = v;
			return true;
		}
		shift += 7;
	}
	return false;
}

/* Monotonic and wall-clock time in seconds / nanoseconds. */
double now_monotonic(void);
int64_t now_realtime_ns(void);
/* "2024-01-02T03:04:05.678Z" (UTC, as S3 and GitHub write it) -> ns
 * since the epoch, or 0 (also for a time before 1970 or after 2262). */
int64_t iso8601_ns(const char *p);

/* Human-readable byte count into out (e.g. "761.2 MiB"). */
const char *fmt_bytes(char *out, size_t outsz, uint64_t n);

/* Opens a new read-write temporary file in dir that has no name (Linux's
 * O_TMPFILE, or a name unlinked at once where the file system lacks it):
 * it vanishes with its last fd, even when the program is killed with
 * SIGKILL.  @return the fd (O_CLOEXEC), or -1 with errno set. */
int tmpfile_unnamed(const char *dir);

/* The names in the open directory d, but "." and "..", sorted bytewise
 * (a fixed order, whatever the file system's).  On success *ret_names
 * holds *ret_n strings, freed with free_names.  @return 0, or -1 with
 * errno set (ENOMEM, or readdir's error) and nothing to free. */
int dir_names_sorted(DIR *d, char ***ret_names, size_t *ret_n);
void free_names(char **names, size_t n);

#endif
