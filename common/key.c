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
