#include "identity.h"
#include "buf.h"

#include <stdio.h>
#include <xxhash.h>

enum cc_code cc_identity(const char *const *paths, size_t n, char ret[CC_IDENTITY_LEN + 1],
			 struct cc_err *err)
{
	struct buf b = BUF_INIT;
	enum cc_code rc = CC_OK;

	for (size_t i = 0; i < n && !rc; i++)
		if (!(rc = buf_addstr(&b, paths[i], err)))
			rc = buf_add(&b, "", 1, err);
	if (!rc)
		snprintf(ret, CC_IDENTITY_LEN + 1, "%016llx",
			 (unsigned long long)XXH3_64bits(b.data, b.len));
	buf_release(&b);
	return rc;
}

bool cc_identity_valid(const char *s, size_t len)
{
	if (len != CC_IDENTITY_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}
