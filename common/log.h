/* log.h: how the library talks.  It never writes to stdout or stderr
 * itself: it calls the hooks the program installed (or nothing). */
#ifndef CC_LOG_H
#define CC_LOG_H

#include <stdint.h>

enum cc_log_level { CC_LOG_ERROR, CC_LOG_WARN, CC_LOG_INFO, CC_LOG_DEBUG };

/* Progress of long work; called often, the program throttles. */
struct cc_progress {
	const char *phase;	/* "saving", "restoring", "uploading" ... */
	uint64_t files_done, files_total;	/* total 0 when unknown */
	uint64_t bytes_done, bytes_total;
};

struct cc_log_hooks {
	void (*log)(enum cc_log_level level, const char *msg);
	void (*progress)(const struct cc_progress *p);
};

/* Installs the hooks (copied); NULL members mean "stay silent". */
void cc_log_set_hooks(const struct cc_log_hooks *hooks);

void cc_log(enum cc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define cc_warn(...) cc_log(CC_LOG_WARN, __VA_ARGS__)
#define cc_info(...) cc_log(CC_LOG_INFO, __VA_ARGS__)
#define cc_debug(...) cc_log(CC_LOG_DEBUG, __VA_ARGS__)
void cc_progress(const struct cc_progress *p);

#endif
