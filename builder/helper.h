/* helper.h: cachebuild's helper mode, what runs inside a helper build
 * when the helper is cachebuild's own static binary (see sync.h) instead
 * of a shell script on an image.
 *
 * `cachebuild --cb-helper PLAN` reads PLAN, one command per line:
 *   probe I                    /cb/out/I: the signature of mount /cb/mI
 *   inject I UID GID MODE      empties /cb/mI, unpacks /cb/ctx/dataI.tar
 *                              into it, gives every entry UID:GID and the
 *                              top MODE (octal), then writes /cb/out/I
 *   extract I KNOWN            /cb/out/I.sig; unless the signature is
 *                              KNOWN, a delta against /cb/ctx/hostI.txt
 *                              (see delta.h) or else /cb/out/I.tar, the
 *                              whole mount
 * Lines starting with '#' are comments (the nonce that makes each plan
 * unique).  The signature covers names, types, modes, sizes, mtimes and
 * ctimes (ns), inodes and owners: a step that writes into the mount
 * changes it, reading does not. */
#ifndef CB_HELPER_H
#define CB_HELPER_H

#define CB_HELPER_FLAG "--cb-helper"

/* Runs the plan at path; errors go to standard error.
 * @return the exit status: 0, or 1 when a command failed. */
int cb_helper_main(const char *path);

#endif
