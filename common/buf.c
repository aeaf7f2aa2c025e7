#include "buf.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char buf_empty[1];

void buf_init(struct buf *b, size_t max)
{
	b->data = buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	if (b->alloc)
		free(b->data);
	buf_init(b, b->max);
}

enum cc_code buf_grow(struct buf *b, size_t extra, struct cc_err *err)
{
	size_t need, limit = b->max ? b->max : SIZE_MAX / 2;
	char *p;

	if (extra > limit || b->len > limit - extra)
		return cc_err_set(err, CC_ENOMEM, 0,
				  "buffer limit of %zu bytes exceeded", limit);
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return CC_OK;
	if (b->alloc && need < b->alloc + b->alloc / 2)
		need = b->alloc + b->alloc / 2;
	if (need < 64)
		need = 64;
	if (need > limit + 1)
		need = limit + 1;
	p = realloc(b->alloc ? b->data : NULL, need);
	if (!p)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate %zu bytes",
				  need);
	if (!b->alloc)
		p[0] = '\0';
	b->data = p;
	b->alloc = need;
	return CC_OK;
}

enum cc_code buf_add(struct buf *b, const void *p, size_t n, struct cc_err *err)
{
	enum cc_code rc = buf_grow(b, n, err);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return CC_OK;
}

enum cc_code buf_addstr(struct buf *b, const char *s, struct cc_err *err)
{
	return buf_add(b, s, strlen(s), err);
}

enum cc_code buf_addf(struct buf *b, struct cc_err *err, const char *fmt, ...)
{
	va_list ap;
	int n;
	enum cc_code rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return cc_err_set(err, CC_EINTERNAL, errno, "formatting failed");
	rc = buf_grow(b, (size_t)n, err);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return CC_OK;
}

void buf_setlen(struct buf *b, size_t len)
{
	if (!b->alloc)
		return;
	b->len = len;
	b->data[len] = '\0';
}

char *buf_detach(struct buf *b, size_t *ret_len)
{
	char *p = b->alloc ? b->data : calloc(1, 1);

	if (ret_len)
		*ret_len = b->len;
	buf_init(b, b->max);
	return p;
}
