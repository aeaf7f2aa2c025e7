/* glob.h: cache-save's path patterns, with @actions/glob's syntax.
 *
 * A pattern is `*`, `?`, `[...]` (`[!...]` and `[^...]` negate, ranges,
 * POSIX classes such as `[[:digit:]]`) within one path component, and `**`
 * as a whole component for zero or more directories.  `\` escapes the next
 * character.  Names starting with `.` match like any other (minimatch's
 * dot:true); matching is case-sensitive; braces, extglobs and `#` comments
 * are not special.  Leading and trailing white space is trimmed; each
 * leading `!` flips the pattern into an exclusion; a leading `~` or `~/`
 * is $HOME, a leading `/` is absolute, anything else is relative to the
 * current directory.  A trailing `/` matches directories only.  `.` and
 * `..` components are allowed only before the first wildcard.
 *
 * The decision for a path: the last pattern, in the order given, that
 * matches the path or one of its ancestors (every pattern has implicit
 * descendants) says whether it is included.  No pattern: not included.
 * See docs/patterns.md. */
#ifndef CC_GLOB_H
#define CC_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct glob_seg {
	char *text;		/* a literal name (unescaped) or a pattern */
	bool literal;
	bool globstar;		/* the component is exactly `**` */
};

struct glob_pattern {
	const char *raw;	/* as given; not owned */
	bool negate;
	bool dir_only;		/* ended with `/` */
	bool rel;		/* relative to the current directory */
	struct glob_seg *segs;	/* the absolute pattern, one per component */
	size_t nsegs, segs_alloc;
	size_t nlit;		/* leading literal components (the search path) */
	char *base_arg;		/* the search path spelt as given: "", "~/x", "../x", "/x" */
	char *base_abs;		/* the search path, absolute and clean */
	uint64_t hits;		/* paths it matched in cc_glob_expand() */
};

struct glob {
	struct glob_pattern *pats;
	size_t n;
	bool has_exclusions;
};

struct glob_root {
	char *arg;		/* the path spelt like its pattern, for cc_path_record() */
	char *abs;		/* absolute and clean */
};

/* Parses patterns (the strings are kept, not copied: they must outlive g).
 * cwd is absolute; home may be NULL (then `~` is an error).  @return
 * CC_EUSAGE with a message naming the pattern for an empty pattern, `.` or
 * `..` after a wildcard, or `~` without a usable HOME. */
enum cc_code glob_init(struct glob *g, const char *const *patterns, size_t n,
		       const char *cwd, const char *home, struct cc_err *err);
void glob_release(struct glob *g);

/* @return true if the decision for the absolute clean path abs (a directory
 * when is_dir) is "included". */
bool glob_included(const struct glob *g, const char *abs, bool is_dir);

/* @return true if some including pattern may match a path strictly below
 * the directory abs: a walk must look inside an excluded directory. */
bool glob_may_include_below(const struct glob *g, const char *abs);

/* Searches the file system for the included paths: each including pattern
 * is searched from its literal prefix, through real directories only (a
 * symbolic link is matched, never descended into); a path that matches and
 * is included becomes a root and is not searched further.  Roots are
 * returned in pattern order then name order, without duplicates or roots
 * lying below another root.  Each pattern's hits count what it matched.
 * A missing search path is no error; any other failure to read one is
 * CC_ESOURCE.  *ret_roots is freed with glob_roots_free(). */
enum cc_code glob_expand(struct glob *g, struct glob_root **ret_roots, size_t *ret_n,
			 struct cc_err *err);
void glob_roots_free(struct glob_root *roots, size_t n);

/* @return true if the component pattern pat matches the name (no `/`). */
bool glob_match_name(const char *pat, const char *name);

#endif
