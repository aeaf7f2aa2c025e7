/* run.c: argument vectors, child processes, tree removal. */
#include "run.h"
#include "../common/buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum cc_code cb_argv_add(struct cb_argv *a, const char *s, struct cc_err *err)
{
	char **x = realloc(a->v, (a->n + 2) * sizeof(*x));

	if (!x)
		return cc_err_set(err, CC_ENOMEM, 0, "out of memory");
	a->v = x;
	x[a->n] = strdup(s);
	if (!x[a->n])
		return cc_err_set(err, CC_ENOMEM, 0, "out of memory");
	x[++a->n] = NULL;
	return CC_OK;
}

enum cc_code cb_argv_addf(struct cb_argv *a, struct cc_err *err, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return cc_err_set(err, CC_ENOMEM, 0, "out of memory");
	enum cc_code rc = cb_argv_add(a, s, err);

	free(s);
	return rc;
}

void cb_argv_release(struct cb_argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

int cb_run(char *const argv[], const char *const *env_add, int in_fd, int out_fd,
	   int err_fd, struct cc_err *err)
{
	int pipefd[2], status, child_errno = 0;
	pid_t pid;

	/* The pipe tells the parent whether exec worked. */
	if (pipe2(pipefd, O_CLOEXEC)) {
		cc_err_set(err, CC_EINTERNAL, errno, "cannot create a pipe");
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		cc_err_set(err, CC_EINTERNAL, errno, "cannot start '%s'", argv[0]);
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		int e;

		if (in_fd < 0)
			in_fd = open("/dev/null", O_RDONLY);
		if (in_fd >= 0 && in_fd != 0)
			dup2(in_fd, 0);
		if (out_fd >= 0 && out_fd != 1)
			dup2(out_fd, 1);
		if (err_fd >= 0 && err_fd != 2)
			dup2(err_fd, 2);
		for (size_t i = 0; env_add && env_add[i]; i++)
			putenv((char *)env_add[i]);
		execvp(argv[0], argv);
		e = errno;
		if (write(pipefd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &child_errno, sizeof(child_errno)) != sizeof(child_errno))
		child_errno = 0;
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			cc_err_set(err, CC_EINTERNAL, errno, "cannot wait for '%s'", argv[0]);
			return -1;
		}
	if (child_errno) {
		cc_err_set(err, child_errno == ENOENT ? CC_EUSAGE : CC_EINTERNAL, child_errno,
			   "cannot run '%s'", argv[0]);
		return -1;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static enum cc_code rmtree_at(int at, const char *name, const char *path,
			      struct cc_err *err)
{
	struct stat st;
	enum cc_code rc = CC_OK;

	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT)
			return CC_OK;
		return cc_err_set(err, CC_EDEST, errno, "cannot remove '%s'", path);
	}
	if (S_ISDIR(st.st_mode)) {
		int fd;
		DIR *d;
		struct dirent *de;

		if ((st.st_mode & 0700) != 0700)
			fchmodat(at, name, (st.st_mode & 07777) | 0700, 0);
		fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return cc_err_set(err, CC_EDEST, errno, "cannot open '%s'", path);
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			return cc_err_set(err, CC_EDEST, errno, "cannot list '%s'", path);
		}
		while (!rc && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char *sub = NULL;

			if (asprintf(&sub, "%s/%s", path, de->d_name) < 0) {
				rc = cc_err_set(err, CC_ENOMEM, 0, "out of memory");
				break;
			}
			rc = rmtree_at(dirfd(d), de->d_name, sub, err);
			free(sub);
		}
		closedir(d);
		if (!rc && unlinkat(at, name, AT_REMOVEDIR) && errno != ENOENT)
			rc = cc_err_set(err, CC_EDEST, errno, "cannot remove '%s'", path);
		return rc;
	}
	if (unlinkat(at, name, 0) && errno != ENOENT)
		return cc_err_set(err, CC_EDEST, errno, "cannot remove '%s'", path);
	return CC_OK;
}

enum cc_code cb_rmtree(const char *path, struct cc_err *err)
{
	return rmtree_at(AT_FDCWD, path, path, err);
}

enum cc_code cb_rmtree_at(int at, const char *name, struct cc_err *err)
{
	return rmtree_at(at, name, name, err);
}
