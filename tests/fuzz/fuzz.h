/* fuzz.h: what the libFuzzer targets of tests/fuzz/ share.
 *
 * A target checks what a reader promises beyond "no crash" with
 * FUZZ_CHECK, which names the broken promise and aborts (a crash that
 * libFuzzer saves).  With FUZZ_VERBOSE=1 in the environment a target
 * says on stderr what each input did, one "result: accepted ..." or
 * "result: refused: WHY" line per reader call; t0310 checks with it that
 * the seeds named ok-* are accepted and bad-* refused. */
#ifndef CC_FUZZ_H
#define CC_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static inline bool fuzz_verbose(void)
{
	static int v = -1;

	if (v < 0)
		v = getenv("FUZZ_VERBOSE") != NULL;
	return v;
}

static inline void fuzz_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void fuzz_say(const char *fmt, ...)
{
	va_list ap;

	if (!fuzz_verbose())
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Whether s (a C string) holds only printable ASCII and is shorter than n. */
static inline bool fuzz_printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && s[i]; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return i < n;
}

/* Whether s has no byte below 0x20 and no DEL: fit for an HTTP header or
 * a URL handed to curl. */
static inline bool fuzz_no_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

#endif
