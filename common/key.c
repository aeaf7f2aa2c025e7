#include "key.h"

#include <string.h>

/* Decodes the UTF-8 sequence at s[0..n).  @return its length (1..4) with
 * *ret_cp set, or 0 if it is not valid UTF-8 (truncated, a bad
 * continuation byte, an overlong form, a surrogate, above U+10FFFF). */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned long *ret_cp)
{
	unsigned long cp, min;
	size_t len;

	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;	/* a continuation byte, 0xc0/0xc1 (overlong) or 0xf5.. */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return len;
}

size_t cc_key_length(const char *s, size_t n)
{
	size_t units = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* Every lead byte starts one code unit; a 4-byte sequence
		 * (>= U+10000) is a surrogate pair in UTF-16. */
		if ((c & 0xc0) != 0x80)
			units += c >= 0xf0 ? 2 : 1;
	}
	return units;
}

enum cc_code cc_key_check(const char *key, const char *what, struct cc_err *err)
{
	const unsigned char *s = (const unsigned char *)key;
	size_t n = strlen(key), len;

	if (n == 0)
		return cc_err_set(err, CC_EUSAGE, 0, "%s is empty", what);
	for (size_t i = 0; i < n; i += len) {
		unsigned long cp;

		if (!(len = utf8_next(s + i, n - i, &cp)))
			return cc_err_set(err, CC_EUSAGE, 0,
					  "%s is not valid UTF-8 (byte %zu is 0x%02x)", what,
					  i + 1, s[i]);
		if (cp == ',')
			return cc_err_set(err, CC_EUSAGE, 0,
					  "%s contains ',' at byte %zu (keys cannot contain commas)",
					  what, i + 1);
		if (cp < 0x20 || cp == 0x7f)
			return cc_err_set(err, CC_EUSAGE, 0,
					  "%s contains a control character (0x%02lx) at byte %zu",
					  what, cp, i + 1);
		if (cp >= 0x80 && cp <= 0x9f)
			return cc_err_set(err, CC_EUSAGE, 0,
					  "%s contains a control character (U+%04lX) at byte %zu",
					  what, cp, i + 1);
	}
	len = cc_key_length(key, n);
	if (len > CC_KEY_MAX)
		return cc_err_set(err, CC_EUSAGE, 0,
				  "%s is %zu characters long (at most %d, counted in UTF-16 code "
				  "units as actions/cache counts)", what, len, CC_KEY_MAX);
	return CC_OK;
}

static const char HEX[] = "0123456789ABCDEF";

static bool escaped(unsigned char c)
{
	return c == ' ' || c == '/';
}

enum cc_code cc_key_encode(struct buf *ret, const char *key, struct cc_err *err)
{
	const char *p = key, *run = key;
	enum cc_code rc;

	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		char esc[3] = { ',', HEX[c >> 4], HEX[c & 15] };

		if (!escaped(c))
			continue;
		if ((rc = buf_add(ret, run, (size_t)(p - run), err)) ||
		    (rc = buf_add(ret, esc, 3, err)))
			return rc;
		run = p + 1;
	}
	return buf_add(ret, run, (size_t)(p - run), err);
}

static int hexval(char c)
{
	const char *p = c ? strchr(HEX, c) : NULL;

	return p ? (int)(p - HEX) : -1;
}

bool cc_key_decode(const char *s, size_t len, struct buf *ret)
{
	buf_reset(ret);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0' || escaped(c))
			return false;	/* a NUL, or a byte E never leaves bare */
		if (c == ',') {
			int hi, lo;

			/* Only the uppercase escapes E writes: anything else
			 * would decode to a key whose name is another. */
			if (len - i < 3 || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
				return false;
			c = (unsigned char)(hi << 4 | lo);
			if (!escaped(c))
				return false;
			i += 2;
		}
		if (buf_add(ret, &c, 1, NULL))
			return false;
	}
	return cc_key_check(ret->data, "key", NULL) == CC_OK;
}
