/* harness.h: a tiny unit-test harness.  Each TEST is a function; CHECK_*
 * macros print both values on failure and mark the test failed; main()
 * lists the tests with RUN and returns test_summary(). */
#ifndef CC_HARNESS_H
#define CC_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int harness_count, harness_failed, harness_cur_failed;

#define CHECK(cond) do { \
	if (!(cond)) { \
		printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		harness_cur_failed = 1; \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b); \
	if (a_ != b_) { \
		printf("#   %s:%d: %s == %s: %" PRIu64 " != %" PRIu64 "\n", \
		       __FILE__, __LINE__, #a, #b, a_, b_); \
		harness_cur_failed = 1; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_)) { \
		printf("#   %s:%d: %s == %s: '%s' != '%s'\n", __FILE__, __LINE__, \
		       #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
		harness_cur_failed = 1; \
	} \
} while (0)

#define RUN(fn) do { \
	harness_cur_failed = 0; \
	fn(); \
	harness_count++; \
	if (harness_cur_failed) \
		harness_failed++; \
	printf("%sok %d - %s\n", harness_cur_failed ? "not " : "", harness_count, #fn); \
	/* a test that forks must not hand its children unwritten lines */ \
	fflush(stdout); \
} while (0)

static inline int test_summary(void)
{
	printf("# %d/%d passed\n", harness_count - harness_failed, harness_count);
	return harness_failed != 0;
}

#endif
