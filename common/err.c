#include <signal.h>
#include "err.h"
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The message is redacted whole and cut afterwards, so a cut cannot
 * turn a password into what looks like a host. */
void cc_vformat(char *out, size_t n, const char *fmt, va_list ap)
{
	char *all = NULL;
	va_list aq;

	va_copy(aq, ap);
	if (vasprintf(&all, fmt, aq) < 0)
		all = NULL;
	va_end(aq);
	if (all) {
		url_redact_text(all);
		snprintf(out, n, "%s", all);
		free(all);
		return;
	}
	/* Out of memory: a message cut inside a URL loses that URL. */
	if (vsnprintf(out, n, fmt, ap) >= (int)n) {
		char *w = strrchr(out, ' '), *u = strstr(w ? w : out, "://");

		if (u)
			*(w ? w + 1 : out) = '\0';
	}
	url_redact_text(out);
}

enum cc_code cc_err_set(struct cc_err *err, enum cc_code code, int sys_errno,
			const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!err)
		return code;
	err->code = code;
	err->sys_errno = sys_errno;
	va_start(ap, fmt);
	cc_vformat(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (sys_errno && n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
			 strerror(sys_errno));
	return code;
}

void cc_err_prefix(struct cc_err *err, const char *fmt, ...)
{
	char head[512], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	cc_vformat(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	{
		size_t h = strlen(head), o = strlen(old), cap = sizeof(err->msg) - 1;

		/* Truncate rather than fail: the tail of a message is the
		 * least useful part. */
		if (h > cap - 2)
			h = cap - 2;
		memcpy(err->msg, head, h);
		memcpy(err->msg + h, ": ", 2);
		if (o > cap - h - 2)
			o = cap - h - 2;
		memcpy(err->msg + h + 2, old, o);
		err->msg[h + 2 + o] = '\0';
	}
}

void cc_err_clear(struct cc_err *err)
{
	if (!err)
		return;
	err->code = CC_OK;
	err->sys_errno = 0;
	err->msg[0] = '\0';
}

const char *cc_strerror(enum cc_code code)
{
	switch (code) {
	case CC_OK: return "success";
	case CC_RETRY: return "transient failure";
	case CC_EUSAGE: return "invalid argument";
	case CC_ESOURCE: return "cannot read a path to save";
	case CC_ESTORE: return "store error";
	case CC_ECORRUPT: return "corrupt store object";
	case CC_EDEST: return "cannot write the restored files";
	case CC_ENOMEM: return "out of memory";
	case CC_EINTERNAL: return "internal error";
	}
	return "unknown error";
}

/* Set from a signal handler, the deadline thread or a transfer thread
 * and read from any thread: lock-free atomics, which are also
 * async-signal-safe. */
static volatile sig_atomic_t cancel_flag;
static volatile sig_atomic_t cancel_held;

void cc_cancel(void)
{
	__atomic_store_n(&cancel_flag, 1, __ATOMIC_SEQ_CST);
}

bool cc_cancelled(void)
{
	return __atomic_load_n(&cancel_flag, __ATOMIC_SEQ_CST) &&
	       !__atomic_load_n(&cancel_held, __ATOMIC_SEQ_CST);
}

void cc_cancel_hold(bool on)
{
	__atomic_store_n(&cancel_held, on, __ATOMIC_SEQ_CST);
}

static int giveup_reason;

void cc_give_up(enum cc_giveup why)
{
	int none = CC_GIVEUP_NONE;

	/* From a timer thread or a transfer thread; the first reason stays. */
	__atomic_compare_exchange_n(&giveup_reason, &none, (int)why, false, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
	__atomic_store_n(&cancel_flag, 1, __ATOMIC_SEQ_CST);
}

enum cc_giveup cc_gave_up(void)
{
	return (enum cc_giveup)__atomic_load_n(&giveup_reason, __ATOMIC_SEQ_CST);
}
