/* test-util.c: the shared loops of util.h: array_grow (ARRAY_GROW),
 * write_all, pwrite_all and pread_full. */
#include "harness.h"
#include "../../common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under AddressSanitizer and ThreadSanitizer a huge malloc aborts unless
 * told to return NULL: test_array_grow_failure needs the NULL.  Each
 * sanitizer reads its own hook; without one, they are unused. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static void test_array_grow(void)
{
	int *v = NULL;
	size_t alloc = 0;

	CHECK_EQ(ARRAY_GROW(v, alloc, 0), 0);
	CHECK(v == NULL);
	CHECK_EQ(alloc, 0);
	CHECK_EQ(ARRAY_GROW(v, alloc, 1), 0);
	CHECK(v != NULL);
	CHECK_EQ(alloc, 8);
	for (int i = 0; i < 8; i++)
		v[i] = i;
	/* enough room: nothing moves */
	int *same = v;
	CHECK_EQ(ARRAY_GROW(v, alloc, 8), 0);
	CHECK(v == same);
	CHECK_EQ(alloc, 8);
	/* grows by half at least, keeps the contents */
	CHECK_EQ(ARRAY_GROW(v, alloc, 9), 0);
	CHECK_EQ(alloc, 12);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(v[i], i);
	/* or to exactly what is asked when that is more */
	CHECK_EQ(ARRAY_GROW(v, alloc, 1000), 0);
	CHECK_EQ(alloc, 1000);
	v[999] = 7;
	for (int i = 0; i < 8; i++)
		CHECK_EQ(v[i], i);
	free(v);
}

static void test_array_grow_overflow(void)
{
	uint64_t *v = NULL;
	size_t alloc = 0;

	CHECK_EQ(ARRAY_GROW(v, alloc, 4), 0);
	v[0] = 42;
	uint64_t *before = v;
	/* need * elem overflows size_t: ENOMEM, array intact */
	errno = 0;
	CHECK_EQ(ARRAY_GROW(v, alloc, SIZE_MAX / 4), -1);
	CHECK_EQ(errno, ENOMEM);
	CHECK(v == before);
	CHECK_EQ(alloc, 8);
	CHECK_EQ(v[0], 42);
	/* growth by half that would overflow is refused the same way */
	size_t big = SIZE_MAX / 8 + 1;
	errno = 0;
	CHECK_EQ(ARRAY_GROW(v, alloc, big), -1);
	CHECK_EQ(errno, ENOMEM);
	CHECK(v == before);
	CHECK_EQ(alloc, 8);
	free(v);
}

static void test_array_grow_failure(void)
{
	char *v = NULL;
	size_t alloc = 0;

	CHECK_EQ(ARRAY_GROW(v, alloc, 3), 0);
	memcpy(v, "abc", 3);
	char *before = v;
	/* no overflow in the product, but no allocator gives this much:
	 * realloc fails, the array and its capacity stay as they were */
	errno = 0;
	CHECK_EQ(ARRAY_GROW(v, alloc, SIZE_MAX / 2), -1);
	CHECK_EQ(errno, ENOMEM);
	CHECK(v == before);
	CHECK_EQ(alloc, 8);
	CHECK(!memcmp(v, "abc", 3));
	free(v);
}

/* A temporary file, unlinked: @return its fd. */
static int tmpfd(void)
{
	char name[] = "/tmp/test-util.XXXXXX";
	int fd = mkstemp(name);

	if (fd >= 0)
		unlink(name);
	return fd;
}

static void test_write_all_pipe(void)
{
	int p[2];
	size_t n = 1 << 20;	/* far more than a pipe holds: many short writes */
	unsigned char *data = malloc(n);
	pid_t pid;

	CHECK(data != NULL);
	if (!data)
		return;
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 11));
	CHECK_EQ(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		_exit(write_all(p[1], data, n) ? 1 : 0);
	}
	close(p[1]);
	/* read slowly in odd sizes so the writer sees a full pipe */
	unsigned char *got = malloc(n + 1);
	size_t have = 0;
	ssize_t k;

	while (got && (k = read(p[0], got + have, have % 3 ? 4093 : 65537)) > 0)
		have += (size_t)k;
	close(p[0]);
	int status = -1;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(have, n);
	CHECK(got && !memcmp(got, data, n));
	free(got);

	/* the reader gone: EPIPE, not a silent success */
	CHECK_EQ(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	CHECK_EQ(write_all(p[1], data, 10), -1);
	CHECK_EQ(errno, EPIPE);
	close(p[1]);
	free(data);
}

static void test_write_all_full(void)
{
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	errno = 0;
	CHECK_EQ(write_all(fd, "x", 1), -1);
	CHECK_EQ(errno, ENOSPC);
	errno = 0;
	CHECK_EQ(pwrite_all(fd, "xyz", 3, 0), -1);
	CHECK_EQ(errno, ENOSPC);
	close(fd);
	/* nothing to write is a success, even there */
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	CHECK_EQ(write_all(fd, "", 0), 0);
	close(fd);
}

static void test_pwrite_all(void)
{
	int fd = tmpfd();
	char out[16] = { 0 };

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(pwrite_all(fd, "world", 5, 6), 0);
	CHECK_EQ(pwrite_all(fd, "hello ", 6, 0), 0);
	/* pwrite leaves the file offset alone */
	CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
	CHECK_EQ(pread_full(fd, out, 11, 0), 11);
	CHECK_STR(out, "hello world");
	/* a bad fd is an error with errno */
	errno = 0;
	CHECK_EQ(pwrite_all(-1, "x", 1, 0), -1);
	CHECK_EQ(errno, EBADF);
	close(fd);
}

static void test_pread_full_short(void)
{
	int fd = tmpfd();
	char out[32];

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(write_all(fd, "0123456789", 10), 0);
	memset(out, '.', sizeof(out));
	/* all of it */
	CHECK_EQ(pread_full(fd, out, 10, 0), 10);
	CHECK(!memcmp(out, "0123456789", 10));
	/* more than there is: the rest of the file, less than asked */
	memset(out, '.', sizeof(out));
	CHECK_EQ(pread_full(fd, out, sizeof(out), 4), 6);
	CHECK(!memcmp(out, "456789", 6));
	CHECK_EQ(out[6], '.');
	/* at and past the end: 0 */
	CHECK_EQ(pread_full(fd, out, 4, 10), 0);
	CHECK_EQ(pread_full(fd, out, 4, 100), 0);
	/* a write-only fd: -1 with errno */
	int w = open("/dev/null", O_WRONLY | O_CLOEXEC);

	errno = 0;
	CHECK_EQ(pread_full(w, out, 4, 0), -1);
	CHECK(errno != 0);
	close(w);
	close(fd);
}

/* A pipe gives pread ESPIPE: the error comes back, not a short count. */
static void test_pread_full_pipe(void)
{
	int p[2];
	char out[4];

	CHECK_EQ(pipe(p), 0);
	errno = 0;
	CHECK_EQ(pread_full(p[0], out, sizeof(out), 0), -1);
	CHECK_EQ(errno, ESPIPE);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	RUN(test_array_grow);
	RUN(test_array_grow_overflow);
	RUN(test_array_grow_failure);
	RUN(test_write_all_pipe);
	RUN(test_write_all_full);
	RUN(test_pwrite_all);
	RUN(test_pread_full_short);
	RUN(test_pread_full_pipe);
	return test_summary();
}
