#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t iso8601_ns(const char *p)
{
	struct tm tm;
	char *rest;
	int64_t ns = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (!(rest = strptime(p, "%Y-%m-%dT%H:%M:%S", &tm)) ||
	    (t = timegm(&tm)) < 0 || (int64_t)t > INT64_MAX / 1000000000 - 1)
		return 0;
	if (*rest == '.') {
		int64_t scale = 100000000;

		for (rest++; isdigit((unsigned char)*rest); rest++) {
			ns += (*rest - '0') * scale;
			scale /= 10;
		}
	}
	return (int64_t)t * 1000000000 + ns;
}

const char *fmt_bytes(char *out, size_t outsz, uint64_t n)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outsz, "%llu B", (unsigned long long)n);
	else
		snprintf(out, outsz, "%.1f %s", v, units[u]);
	return out;
}

int array_grow(void *pp, size_t *alloc, size_t need, size_t elem)
{
	void *p, *q;
	size_t n, bytes;

	if (need <= *alloc)
		return 0;
	n = *alloc < 8 ? 8 : *alloc + *alloc / 2;
	if (n < need)
		n = need;
	if (mul_overflow_size(n, elem, &bytes)) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(&p, pp, sizeof(p));
	if (!(q = realloc(p, bytes)))
		return -1;
	memcpy(pp, &q, sizeof(q));
	*alloc = n;
	return 0;
}

/* write_all, or pwrite_all at off when off >= 0. */
static int write_whole(int fd, const void *p, size_t n, off_t off)
{
	const char *c = p;

	while (n) {
		ssize_t k = off < 0 ? write(fd, c, n) : pwrite(fd, c, n, off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return -1;
		}
		c += k;
		n -= (size_t)k;
		if (off >= 0)
			off += k;
	}
	return 0;
}

int write_all(int fd, const void *p, size_t n)
{
	return write_whole(fd, p, n, -1);
}

int pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	return write_whole(fd, p, n, off);
}

ssize_t pread_full(int fd, void *p, size_t n, off_t off)
{
	char *c = p;
	size_t got = 0;

	while (got < n) {
		ssize_t k = pread(fd, c + got, n - got, off + (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

int tmpfile_unnamed(const char *dir)
{
	char *path = NULL;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), e;

	/* EISDIR and EOPNOTSUPP: a kernel or file system without O_TMPFILE */
	if (fd >= 0 || (errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL))
		return fd;
	if (asprintf(&path, "%s/cicache-XXXXXX", dir) < 0) {
		errno = ENOMEM;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	e = errno;
	if (fd >= 0)
		unlink(path);
	free(path);
	errno = e;
	return fd;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int dir_names_sorted(DIR *d, char ***ret_names, size_t *ret_n)
{
	char **names = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	int e;

	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ARRAY_GROW(names, alloc, n + 1) || !(names[n] = strdup(de->d_name)))
			goto cleanup;
		n++;
	}
	if (errno)
		goto cleanup;
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	*ret_names = names;
	*ret_n = n;
	return 0;
cleanup:
	e = errno ? errno : ENOMEM;
	free_names(names, n);
	errno = e;
	return -1;
}
