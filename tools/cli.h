/* cli.h: what the programs share: messages, progress, environment twins,
 * exit codes, outputs for CI steps. */
#ifndef CC_CLI_H
#define CC_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include "../common/err.h"
#include "../common/buf.h"

/* Exit codes (documented in the man pages and docs/exit-codes.md). */
enum {
	EXIT_OK = 0,
	EXIT_MISS = 1,		/* cache-restore --fail-on-miss and no entry */
	EXIT_USAGE = 2,
	EXIT_SOURCE = 3,	/* a path to save is missing or unreadable */
	EXIT_STORE = 4,		/* store unreachable, unreadable or unwritable */
	EXIT_CORRUPT = 5,	/* entry failed verification */
	EXIT_DEST = 6,		/* cannot write the restored files */
	EXIT_INTERNAL = 7,	/* out of memory, internal error */
};

extern const char *cli_prog;
extern int cli_verbosity;	/* -1 quiet, 0 normal, 1 verbose */

void cli_init(const char *prog);
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_exit_code(enum cc_code code);
/* --version: prints "PROG (cicache) VERSION" and exits with EXIT_OK; with
 * --verbose or -v anywhere in argv (or CACHE_VERBOSE), also the libraries
 * linked and, in a release binary, the sources it was built from. */
void cli_version(const char *prog, int argc, char **argv) __attribute__((noreturn));

/* Boolean environment twin: "1", "true", "yes", "on" (any case). */
bool cli_env_bool(const char *name);
/* Splits a newline-separated environment list into *list (appending). */
void cli_env_list(const char *name, const char ***list, size_t *n);
void cli_list_add(const char ***list, size_t *n, const char *item);
/* Parses an integer option in [min, max]; exits with EXIT_USAGE otherwise. */
int cli_int(const char *opt, const char *val, int min, int max);
/* Parses a size: a positive number of bytes with an optional K, M, G or T
 * suffix (either case; powers of 1024); exits with EXIT_USAGE otherwise. */
uint64_t cli_size(const char *opt, const char *val);

/* After the flags: fills what no flag set from the twins both programs
 * share (CACHE_JOBS, CACHE_KEY, CACHE_PATH, CACHE_RESTORE_KEYS), checks the
 * key and restore keys, and picks the store.  Exits with EXIT_USAGE on a
 * missing or bad key. */
void cli_shared_twins(const char **key, const char ***paths, size_t *npaths,
		      const char ***restore_keys, size_t *nrestore_keys, int *jobs,
		      const char **store);

/* The store to use: the flag, else $CACHE_STORE, else the per-user default. */
const char *cli_store(const char *flag);

/* Writes "name=value" to stdout and appends it to $GITHUB_OUTPUT. */
void cli_output(const char *name, const char *value);

/* Elapsed seconds since cli_init(). */
double cli_elapsed(void);

/* SIGTERM, SIGINT and SIGHUP cancel the library's work (cc_cancel) so it
 * cleans up (aborts uploads, removes staged files); cli_reraise() then
 * ends the program by the same signal, as if it had not been caught. */
void cli_trap_signals(void);
void cli_reraise(void);
/* Called once the work can no longer be undone (cache-save: the entry
 * is published): from then on cli_reraise() does nothing, and a signal
 * that comes later no longer ends the program. Returns the signal caught
 * so far, 0 if none. */
int cli_settle_signals(void);
const char *cli_rate(char *out, size_t n, uint64_t bytes, double seconds);

/* Parses a duration: a positive number of seconds (fractions allowed)
 * with an optional s, m or h suffix, at most a year; exits with
 * EXIT_USAGE otherwise.  cli_age also takes a d suffix (cache-store). */
double cli_duration(const char *opt, const char *val);
double cli_age(const char *opt, const char *val);
/* After parsing: sets the segment timeout from SEGMENT_DOWNLOAD_TIMEOUT_MINS
 * (http.h; a bad value is a warning) and, when flag (--timeout) or
 * CACHE_TIMEOUT gives one, starts the overall deadline, counted from
 * cli_init(): when it passes, the work is given up (cc_give_up). */
void cli_timeouts(const char *flag);
/* Why the work was given up (cc_gave_up()), written into out; NULL when
 * it was not. */
const char *cli_gave_up_why(char *out, size_t n);

#endif
