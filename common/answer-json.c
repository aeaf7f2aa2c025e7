/* answer-json.c: JSON answers of remote services, read through jansson
 * with bounds (see answer-json.h). */
#include "answer-json.h"

#include <inttypes.h>
#include <stdio.h>

/* Whether v holds at most depth levels of objects and arrays.  jansson
 * itself stops at JSON_PARSER_MAX_DEPTH (2048); this walk stops at
 * depth, so its own recursion is bounded by the caller's limit. */
static bool depth_ok(json_t *v, size_t depth)
{
	const char *k;
	json_t *m;
	size_t i;

	if (!json_is_object(v) && !json_is_array(v))
		return true;
	if (!depth)
		return false;
	if (json_is_object(v)) {
		json_object_foreach(v, k, m)
			if (!depth_ok(m, depth - 1))
				return false;
	} else {
		json_array_foreach(v, i, m)
			if (!depth_ok(m, depth - 1))
				return false;
	}
	return true;
}

/* jansson's error text may quote the input (a token near the error): the
 * reason is worded from its code and position instead. */
static const char *error_words(enum json_error_code code)
{
	switch (code) {
	case json_error_out_of_memory: return "out of memory";
	case json_error_stack_overflow: return "nested too deep";
	case json_error_invalid_utf8: return "invalid UTF-8";
	case json_error_premature_end_of_input: return "cut short";
	case json_error_end_of_input_expected: return "more after the value";
	case json_error_null_character: return "a \\u0000 in a string";
	case json_error_null_byte_in_key: return "a \\u0000 in a member name";
	case json_error_duplicate_key: return "a member named twice";
	case json_error_numeric_overflow: return "a number out of range";
	default: return "malformed";
	}
}

json_t *answer_json_load(const char *text, size_t len, size_t max_len, size_t max_depth,
			 char *why, size_t n)
{
	json_error_t e;
	json_t *root = NULL, *ret = NULL;

	if (len > max_len) {
		snprintf(why, n, "longer than %zu bytes", max_len);
		goto cleanup;
	}
	/* Not JSON_DECODE_ANY (the top is an object or array), not
	 * JSON_ALLOW_NUL, not JSON_DISABLE_EOF_CHECK. */
	if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e))) {
		snprintf(why, n, "%s at byte %d", error_words(json_error_code(&e)), e.position);
		goto cleanup;
	}
	if (!json_is_object(root)) {
		snprintf(why, n, "not an object");
		goto cleanup;
	}
	if (!depth_ok(root, max_depth)) {
		snprintf(why, n, "nested deeper than %zu levels", max_depth);
		goto cleanup;
	}
	ret = root;
	root = NULL;
cleanup:
	json_decref(root);
	return ret;
}

bool answer_json_member(const json_t *obj, const char *name, struct buf *out)
{
	json_t *v = json_object_get(obj, name);
	bool ok = false;

	buf_reset(out);
	if (json_is_string(v))
		ok = !buf_add(out, json_string_value(v), json_string_length(v), NULL);
	else if (json_is_integer(v))
		ok = !buf_addf(out, NULL, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_true(v) || json_is_false(v) || json_is_null(v))
		ok = !buf_addstr(out, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null",
				 NULL);
	if (!ok)
		buf_reset(out);
	return ok;
}
