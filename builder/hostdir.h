/* hostdir.h: the host side of a cache mount: a directory cachebuild fills
 * from the builder (extract) and copies into it (inject). */
#ifndef CB_HOSTDIR_H
#define CB_HOSTDIR_H

#include <stdbool.h>
#include <stdint.h>
#include "../common/err.h"

#define HOSTDIR_SIG_LEN 32	/* hex characters */

/* A signature of the tree at dir: names, types, modes, sizes, mtimes (ns)
 * and link targets, not file contents (like make, a rewrite that keeps
 * size and mtime goes unnoticed).  A missing dir gives "none" and
 * *ret_exists false.  Adds the bytes of regular files to *ret_bytes when
 * not NULL.  @return CC_OK, CC_ESOURCE when the tree cannot be read. */
enum cc_code hostdir_sig(const char *dir, char ret[HOSTDIR_SIG_LEN + 1], bool *ret_exists,
			 uint64_t *ret_bytes, struct cc_err *err);

/* Writes a tar archive of dir's content to tar_path with tar(1).
 * @return CC_OK, CC_ESOURCE. */
enum cc_code hostdir_pack(const char *dir, const char *tar_path, struct cc_err *err);

/* Replaces dir by the content of the archive at tar_path: unpacks into a
 * sibling temporary directory, then swaps it in with one rename (the old
 * tree is removed afterwards), so dir is never half-written.  Files come
 * out owned by the invoking user; modes, mtimes and symbolic links are
 * kept.  Creates dir's parents.  @return CC_OK, CC_EDEST. */
enum cc_code hostdir_replace(const char *dir, const char *tar_path, struct cc_err *err);

/* A new empty directory next to dir ("DIR.cachebuild-XXXXXX"), or NULL
 * with err set (CC_ENOMEM, CC_EDEST).  Free the name. */
char *hostdir_sibling(const char *dir, struct cc_err *err);

/* Unpacks the archive at tar_path into the directory into with tar(1):
 * modes and mtimes kept, owned by the invoking user.  @return CC_OK,
 * CC_EDEST. */
enum cc_code hostdir_unpack(const char *tar_path, const char *into, struct cc_err *err);

/* Swaps the tree at tmp (a sibling of dir) in for dir with one rename
 * (dir may be missing) and removes the old tree; on failure tmp is
 * removed and dir is untouched.  @return CC_OK, CC_EDEST. */
enum cc_code hostdir_swap(const char *tmp, const char *dir, struct cc_err *err);

#endif
