#include "hash.h"
#include "util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cc_id_from_hash(struct cc_id *ret, XXH128_hash_t h)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, h);
	memcpy(ret->b, c.digest, CC_ID_LEN);
}

void cc_id_of(struct cc_id *ret, const void *data, size_t len)
{
	cc_id_from_hash(ret, XXH3_128bits(data, len));
}

void cc_id_hex(const struct cc_id *id, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < CC_ID_LEN; i++) {
		out[2 * i] = digits[id->b[i] >> 4];
		out[2 * i + 1] = digits[id->b[i] & 15];
	}
	out[CC_ID_HEX_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool cc_id_parse_hex(struct cc_id *ret, const char *hex)
{
	for (int i = 0; i < CC_ID_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo;

		if (hi < 0)
			return false;
		lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return false;
		ret->b[i] = (unsigned char)(hi << 4 | lo);
	}
	return hex[CC_ID_HEX_LEN] == '\0';
}

int cc_md5_range(int fd, uint64_t off, uint64_t len, unsigned char md[16])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = malloc(1 << 20);
	int ret = -1;

	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) {
		errno = ENOMEM;
		goto cleanup;
	}
	while (len) {
		size_t want = len < (1 << 20) ? (size_t)len : (1 << 20);
		ssize_t k = pread_full(fd, buf, want, (off_t)off);

		if (k < 0)
			goto cleanup;
		if ((size_t)k < want) {
			errno = EIO;	/* the file ends early */
			goto cleanup;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)k);
		off += (uint64_t)k;
		len -= (uint64_t)k;
	}
	ret = EVP_DigestFinal_ex(ctx, md, NULL) ? 0 : -1;
cleanup:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return ret;
}
