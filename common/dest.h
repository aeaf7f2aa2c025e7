/* dest.h: the one writer of restored files.
 *
 * Both readers of cache entries (restore.c for cicache manifests,
 * gha-legacy.c for actions/cache tar archives) create everything through
 * these functions, so each rule is implemented once:
 *
 * - A root is reached by walking its absolute path from "/" one component
 *   at a time.  The user's own directories and symlinks on the way are
 *   followed, but never a symlink this restore created, and never a
 *   directory that is (or holds) another root of the same restore: roots
 *   are compared by device and inode, not by spelling.
 * - A symlink at a root's place is replaced by the entry's directory, as
 *   GNU tar does; with keep_dir_symlink (tar's --keep-directory-symlink)
 *   it is followed instead, if this restore did not create it and it
 *   leads to a directory under the home or current directory.
 * - Below a root every name is one component, created with *at() calls in
 *   a directory opened here with O_NOFOLLOW.  Nothing already at a name is
 *   opened or followed.
 * - A new name is created directly (O_EXCL).  An existing non-directory is
 *   replaced atomically: the new file, symlink or hard link is made under
 *   a temporary sibling name (".cicache-<random>.tmp") and renamed over
 *   it, so a reader or a killed restore sees the old or the new, never
 *   half.  A directory where a non-directory goes is an error (CC_EDEST).
 *
 * Threads: dest_enter_dir() and dest_file_*() may run on any thread; the
 * root functions and dest_symlink() on one thread at a time.
 * Errors are CC_EDEST (the file system refused), CC_ECORRUPT (a root that
 * would break the rules above) or CC_ENOMEM, with err set. */
#ifndef CC_DEST_H
#define CC_DEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "err.h"

struct dest_id {
	dev_t dev;
	ino_t ino;
};

struct dest_root;

struct dest {
	const char *holder;		/* "the cache": who holds a file there */
	const char *cwd, *home;		/* where a kept root symlink may lead */
	bool keep_dir_symlink;
	struct dest_id *made;		/* symlinks this restore created */
	size_t nmade, made_alloc;
	struct dest_root *roots;	/* roots entered so far */
	size_t nroots;
	uint64_t seed, counter;		/* temporary names */
};

/* Sets d up; holder, cwd and home are borrowed and must outlive d. */
void dest_init(struct dest *d, const char *holder, const char *cwd, const char *home,
	       bool keep_dir_symlink);
void dest_release(struct dest *d);

/* Checks, before anything is written, that no two of the n roots (clean
 * absolute paths; names[] spells them for messages) reach the same
 * directory or one inside the other, following what exists now as a
 * restore would.  @return CC_OK or CC_ECORRUPT naming both. */
enum cc_code dest_check_roots(const struct dest *d, const char *const *abs,
			      const char *const *names, size_t n, struct cc_err *err);

/* Opens the directory holding root abs (clean, absolute, not "/"),
 * creating missing parents, and records the root as *ret_root.  Refuses
 * (CC_ECORRUPT) a way in that passes through a symlink this restore
 * created or through another root's directory.  *ret_base points at the
 * root's name in abs.  Call it once per root.
 * @return an fd the caller closes, or -1. */
int dest_root_parent(struct dest *d, const char *abs, size_t *ret_root, const char **ret_base,
		     struct cc_err *err);

/* Opens (creating) the directory of root number root, base in pfd (as
 * dest_root_parent() returned them); see the top for a symlink there.
 * Refuses (CC_ECORRUPT) a directory that is another root's, or on the
 * way in of one.  @return an fd the caller closes, or -1. */
int dest_root_dir(struct dest *d, size_t root, int pfd, const char *base, mode_t mode,
		  const char *what, struct cc_err *err);

/* Opens directory name in dfd without following it, creating it (with
 * mode) when missing and replacing a non-directory there.  An existing
 * directory without owner rwx gets it, to take new entries.
 * @return an fd the caller closes, or -1. */
int dest_enter_dir(struct dest *d, int dfd, const char *name, mode_t mode, const char *what,
		   struct cc_err *err);

/* A regular file being written: dest_file_create(), write to fd and set
 * its metadata, then dest_file_commit() or dest_file_abort(). */
struct dest_file {
	struct dest *d;
	int dfd, fd;
	const char *name;		/* borrowed until commit or abort */
	char tmp[32];			/* the temporary name, or "" */
};

/* @return f->fd (mode 0600, empty), or -1. */
int dest_file_create(struct dest *d, struct dest_file *f, int dfd, const char *name,
		     const char *what, struct cc_err *err);
/* Closes the file and puts it in place.  On failure the temporary name
 * is removed. */
enum cc_code dest_file_commit(struct dest_file *f, const char *what, struct cc_err *err);
/* Closes the file and removes its temporary name (a new name created
 * directly stays, as written so far). */
void dest_file_abort(struct dest_file *f);

/* Creates symlink name -> target in dfd, with times (NULL: now) and,
 * with own, owner uid:gid, before it takes the name, and remembers it
 * as one this restore created. */
enum cc_code dest_symlink(struct dest *d, int dfd, const char *name, const char *target,
			  const struct timespec *times, bool own, uint32_t uid, uint32_t gid,
			  const char *what, struct cc_err *err);

/* Makes name in dfd a hard link to tname in tfd. */
enum cc_code dest_hardlink(struct dest *d, int tfd, const char *tname, int dfd, const char *name,
			   const char *what, struct cc_err *err);

/* Opens the directory holding rel (a path below the root dir rootfd)
 * without following any symlink or creating anything; *ret_name points
 * at rel's last component.  @return an fd the caller closes, or -1 with
 * errno set. */
int dest_open_parent(int rootfd, const char *rel, const char **ret_name);

#endif
