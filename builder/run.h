/* run.h: argument vectors and child processes for cachebuild. */
#ifndef CB_RUN_H
#define CB_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include "../common/err.h"

/* A NULL-terminated argv that owns its strings. */
struct cb_argv {
	char **v;
	size_t n;
};

#define CB_ARGV_INIT { NULL, 0 }

/* @return CC_OK or CC_ENOMEM. */
enum cc_code cb_argv_add(struct cb_argv *a, const char *s, struct cc_err *err);
enum cc_code cb_argv_addf(struct cb_argv *a, struct cc_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cb_argv_release(struct cb_argv *a);

/* Runs argv (PATH lookup) with env_add ("NAME=VALUE" entries, NULL-ended,
 * may be NULL) added to the environment.  Standard output goes to out_fd
 * and standard error to err_fd (-1: inherited); standard input is
 * /dev/null unless in_fd >= 0.  @return the exit status (0-255), 128 + a
 * signal number, or -1 with err set when the program cannot be started
 * (CC_EUSAGE for a program that does not exist, else CC_EINTERNAL). */
int cb_run(char *const argv[], const char *const *env_add, int in_fd, int out_fd,
	   int err_fd, struct cc_err *err);

/* Removes a tree (never following symbolic links), making directories
 * writable first so a read-only directory does not stop it.  A missing
 * path is not an error.  @return CC_OK or CC_EDEST. */
enum cc_code cb_rmtree(const char *path, struct cc_err *err);
/* The same for name under the directory at. */
enum cc_code cb_rmtree_at(int at, const char *name, struct cc_err *err);

#endif
