/* delta.h: the host side of a delta extract.
 *
 * Instead of the whole mount, the extract build ships only what differs
 * from the host directory.  The host first describes its directory in a
 * manifest (hostdir_manifest()); the helper compares the mount with it:
 * a regular file of the same size whose MD5 matches the host's keeps its
 * content and gets only its mode and mtime set ("meta").  Sizes and
 * mtimes alone are not trusted: a build that writes a file within the
 * second the host copy was written, or a package manager that sets fixed
 * mtimes (npm's 1985-10-26), would fool them.  It writes
 * to its output directory, for mount I:
 *   I.mode  "delta"
 *   I.tar   the entries that are new or changed (absent when none)
 *   I.meta  "T|PERM|MTIME|NAME" for every directory and every meta file
 *   I.gone  names the host has and the mount does not
 *   I.list  "T|PERM|SIZE|MTIME|NAME" for every entry of the mount
 * Names are "./a/b", T is f, d, l or o (other), PERM octal, MTIME seconds.
 *
 * hostdir_delta() applies that to a sibling copy of the host directory
 * whose files are hard links to the host's, checks the result against
 * I.list, then swaps it in with one rename.  New content never writes
 * through a link (it is renamed over it), so the host directory's content
 * is all old or all new; only a "meta" file's mode and mtime are set on
 * the shared inode, so an interrupted extract may leave those applied. */
#ifndef CB_DELTA_H
#define CB_DELTA_H

#include <stdbool.h>
#include "../common/err.h"

/* Writes dir's manifest to path: "T|SIZE|MTIME|PERM|MD5|NAME" per entry
 * ("." first; MD5 of regular files, "-" for the others).  *usable is false
 * when a delta cannot describe dir (a name holds a newline, or an entry is
 * neither a file, a directory nor a symbolic link): extract in full then.
 * @return CC_OK, CC_ESOURCE (dir unreadable), CC_EINTERNAL (path). */
enum cc_code hostdir_manifest(const char *dir, const char *path, bool *usable,
			      struct cc_err *err);

/* Applies the delta for mount i found in out (see above) to dir.
 * @return CC_OK, or an error (err says why) after which dir is as it was
 * but for meta modes and mtimes: the caller then extracts in full. */
enum cc_code hostdir_delta(const char *dir, const char *out, unsigned i, struct cc_err *err);

#endif
