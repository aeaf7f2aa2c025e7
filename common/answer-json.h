/* answer-json.h: reading the JSON answers of remote services (the AWS
 * credential providers, the GitHub Actions cache service, GitHub's REST
 * API) through jansson, with the bounds untrusted input needs.  The
 * readers of aws-creds.c and store-gha.c use it; nothing here prints. */
#ifndef CC_ANSWER_JSON_H
#define CC_ANSWER_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "buf.h"

/* Parses the len bytes at text as one JSON object, strictly (RFC 8259:
 * valid UTF-8, one value, nothing but white space after it) and refusing
 * what a reader of untrusted answers must not guess about: a "\u0000" in
 * a string (values become C strings: one cut short at a NUL is another
 * value), a member name twice in one object (two readers could take
 * different ones), more than max_depth levels of objects and arrays (the
 * top object is level 1), more than max_len bytes.
 * @return the object, which the caller json_decref()s, or NULL with a
 * short printable reason in why (n > 0 bytes; it never quotes the text). */
json_t *answer_json_load(const char *text, size_t len, size_t max_len, size_t max_depth,
			 char *why, size_t n);

/* The text of member name of object obj into out (emptied first): a
 * string decoded, true, false, null and integers as JSON writes them
 * ("true", "-12").  @return false when obj is not an object, has no such
 * member, the member is a real, an object or an array, or its text does
 * not fit out's bound (out is then empty). */
bool answer_json_member(const json_t *obj, const char *name, struct buf *out);

#endif
