#include "log.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static struct cc_log_hooks hooks;

void cc_log_set_hooks(const struct cc_log_hooks *h)
{
	if (h)
		hooks = *h;
	else
		hooks = (struct cc_log_hooks){ 0 };
}

void cc_log(enum cc_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!hooks.log)
		return;
	va_start(ap, fmt);
	cc_vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hooks.log(level, msg);
}

void cc_progress(const struct cc_progress *p)
{
	if (hooks.progress)
		hooks.progress(p);
}
