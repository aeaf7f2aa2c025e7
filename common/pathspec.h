/* pathspec.h: how a saved path is recorded and where it is restored.
 *
 * A recorded spec is one of: "~" or "~/REL" (under $HOME), a relative path
 * (under the current directory), or an absolute path.  Specs are cleaned
 * lexically: no empty or "." components, ".." only leading a relative spec,
 * except that a relative path whose first component is a directory named
 * "~" is recorded as "./~/..." so it cannot be read as $HOME. */
#ifndef CC_PATHSPEC_H
#define CC_PATHSPEC_H

#include <stdbool.h>
#include "buf.h"
#include "err.h"

/* Turns a user's PATH argument into its recorded spec and the absolute
 * path to read now.  "~" and "~/x" expand with home; an absolute path under
 * home is recorded as "~/..."; a relative one stays relative to cwd. */
enum cc_code cc_path_record(const char *arg, const char *cwd, const char *home,
			    struct buf *ret_spec, struct buf *ret_abs, struct cc_err *err);

/* Resolves a recorded spec (untrusted: it comes from the store) to the
 * absolute destination.  *ret_contained is true when the destination lies
 * under home or cwd: "x" always, "~/x", an absolute or a ".." spec only
 * when it lands under a home or cwd other than "/" ("~/x" obeys exactly
 * the rules of its absolute spelling). */
enum cc_code cc_path_resolve(const char *spec, const char *cwd, const char *home,
			     struct buf *ret_abs, bool *ret_contained, struct cc_err *err);

/* @return true if the absolute clean paths a and b are the same or one
 * lies below the other. */
bool cc_path_overlap(const char *a, const char *b);

#endif
