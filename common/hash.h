/* hash.h: chunk and object identities (XXH3-128). */
#ifndef CC_HASH_H
#define CC_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#define CC_ID_LEN 16
#define CC_ID_HEX_LEN 32

struct cc_id {
	unsigned char b[CC_ID_LEN];	/* canonical (big-endian) XXH3-128 */
};

void cc_id_of(struct cc_id *ret, const void *data, size_t len);
void cc_id_from_hash(struct cc_id *ret, XXH128_hash_t h);
static inline bool cc_id_eq(const struct cc_id *a, const struct cc_id *b)
{
	return !__builtin_memcmp(a->b, b->b, CC_ID_LEN);
}
/* Writes 32 hex digits and a NUL into out (33 bytes). */
void cc_id_hex(const struct cc_id *id, char *out);
/* @return false unless hex is exactly 32 lowercase hex digits. */
bool cc_id_parse_hex(struct cc_id *ret, const char *hex);
/* A 64-bit digest of the id for hash tables. */
static inline uint64_t cc_id_hash64(const struct cc_id *id)
{
	uint64_t v;

	__builtin_memcpy(&v, id->b + 8, 8);
	return v;
}

/* The MD5 of len bytes of fd from off (S3's Content-MD5 and ETags,
 * cachebuild's manifests).  @return 0, or -1 with errno set (ENOMEM, a
 * read error, or EIO for a file shorter than off + len). */
int cc_md5_range(int fd, uint64_t off, uint64_t len, unsigned char md[16]);

#endif
