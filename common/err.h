/* err.h: the one error type of the library.
 *
 * Every fallible library function returns an enum cc_code and, on failure,
 * fills a struct cc_err with a one-line message (lowercase, no trailing
 * period, subject quoted).  A cache miss is never an error: lookups report
 * it through an out-parameter.
 */
#ifndef CC_ERR_H
#define CC_ERR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum cc_code {
	CC_OK = 0,
	CC_RETRY,	/* transient: the one retry loop may try again */
	CC_EUSAGE,	/* bad argument from the caller (key, path spec) */
	CC_ESOURCE,	/* a path to save is missing or unreadable */
	CC_ESTORE,	/* the store cannot be opened, read or written */
	CC_ECORRUPT,	/* a store object failed verification or is hostile */
	CC_EDEST,	/* writing the restored tree failed (disk full, perms) */
	CC_ENOMEM,	/* allocation failed or a size bound was exceeded */
	CC_EINTERNAL,
};

struct cc_err {
	enum cc_code code;
	int sys_errno;		/* errno that caused it, or 0 */
	char msg[1024];
};

/* Sets err (if not NULL) and returns code, so callers can write
 * `return cc_err_set(err, CC_ESTORE, errno, "cannot open '%s'", p);`.
 * When sys_errno is nonzero, ": strerror(sys_errno)" is appended. */
enum cc_code cc_err_set(struct cc_err *err, enum cc_code code, int sys_errno,
			const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prepends "context: " to an error already set. */
void cc_err_prefix(struct cc_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void cc_err_clear(struct cc_err *err);

/* Formats a message into out (n > 0 bytes, cut to fit) with every URL in
 * it redacted (url.h): what cc_err_set, cc_err_prefix and cc_log do to
 * each message, so none carries a password, token or signature. */
void cc_vformat(char *out, size_t n, const char *fmt, va_list ap);

/* Cancellation: a program's signal handler calls cc_cancel() (it is
 * async-signal-safe); transfers then stop and long loops give up with
 * CC_EINTERNAL "interrupted", through their normal cleanup. */
void cc_cancel(void);
bool cc_cancelled(void);
/* cc_cancel_hold(true) makes cc_cancelled() false until
 * cc_cancel_hold(false), a cancel that comes meanwhile is kept: for a
 * commit step (publishing a save's manifest) that, once started, must
 * finish, so that an exit status and the store agree. */
void cc_cancel_hold(bool on);

/* Giving up: a cancel with a reason that is not a signal.  The work stops
 * exactly as for cc_cancel() (same cleanup); cc_gave_up() then tells the
 * program why, so that it can report a miss instead of a failure.  The
 * first reason stays. */
enum cc_giveup {
	CC_GIVEUP_NONE = 0,
	CC_GIVEUP_DEADLINE,	/* the program's overall deadline passed (--timeout) */
	CC_GIVEUP_SEGMENT,	/* one download segment took too long (http.h) */
};
void cc_give_up(enum cc_giveup why);
enum cc_giveup cc_gave_up(void);

/* A short static description of a code. */
const char *cc_strerror(enum cc_code code);

#endif
