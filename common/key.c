#include "key.h"

#include <string.h>

enum cc_code cc_key_check(const char *key, const char *what, struct cc_err *err)
{
	size_t n = strlen(key);

	if (n == 0)
		return cc_err_set(err, CC_EUSAGE, 0, "%s is empty", what);
	if (n > CC_KEY_MAX)
		return cc_err_set(err, CC_EUSAGE, 0, "%s is %zu bytes long (at most %d)",
				  what, n, CC_KEY_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c == '/' || c == ',')
			return cc_err_set(err, CC_EUSAGE, 0, "%s '%s' contains '%c'", what, key, c);
		if (c <= ' ' || c >= 0x7f)
			return cc_err_set(err, CC_EUSAGE, 0,
					  "%s contains %s at byte %zu (0x%02x)", what,
					  c == ' ' || c == '\t' || c == '\n' || c == '\r'
						  ? "whitespace" : "a non-printable byte",
					  i + 1, c);
	}
	return CC_OK;
}

/* stand-in: replaced by the keys branch (cc_key_encode/cc_key_decode of
 * naming.md); until then E(K) == K for today's keys. */
enum cc_code cc_key_encode(struct buf *ret, const char *key, struct cc_err *err)
{
	return buf_addstr(ret, key, err);
}

/* stand-in: replaced by the keys branch. */
bool cc_key_decode(const char *s, size_t len, struct buf *ret)
{
	buf_reset(ret);
	if (memchr(s, '\0', len) || buf_add(ret, s, len, NULL))
		return false;
	return cc_key_check(ret->data, "key", NULL) == CC_OK;
}
