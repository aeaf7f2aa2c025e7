/* dist/musl-compat.h: what the code takes from glibc and musl 1.2.3 lacks,
 * for the static release build only (dist/build.sh passes it with
 * -include; the host build never sees it).  Each definition is the same
 * system call or answer glibc gives.  Better moved into the code that
 * needs it; until then it is here so dist/ builds the sources as they are. */
#ifndef CICACHE_MUSL_COMPAT_H
#define CICACHE_MUSL_COMPAT_H
#ifndef __GLIBC__
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* builder/hostdir.c: the atomic exchange of two trees (Linux 3.15).
 * An old kernel answers ENOSYS, which hostdir.c already handles. */
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
static inline int renameat2(int olddirfd, const char *oldpath, int newdirfd,
			    const char *newpath, unsigned int flags)
{
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}
#endif

/* tools/cache-save.c: a signal's abbreviation ("TERM"), NULL for an
 * unknown number, as glibc's sigabbrev_np(). */
static inline const char *sigabbrev_np(int sig)
{
	static const struct { int sig; const char *name; } names[] = {
		{ SIGHUP, "HUP" }, { SIGINT, "INT" }, { SIGQUIT, "QUIT" }, { SIGILL, "ILL" },
		{ SIGTRAP, "TRAP" }, { SIGABRT, "ABRT" }, { SIGBUS, "BUS" }, { SIGFPE, "FPE" },
		{ SIGKILL, "KILL" }, { SIGUSR1, "USR1" }, { SIGSEGV, "SEGV" }, { SIGUSR2, "USR2" },
		{ SIGPIPE, "PIPE" }, { SIGALRM, "ALRM" }, { SIGTERM, "TERM" }, { SIGCHLD, "CHLD" },
		{ SIGCONT, "CONT" }, { SIGSTOP, "STOP" }, { SIGTSTP, "TSTP" }, { SIGTTIN, "TTIN" },
		{ SIGTTOU, "TTOU" }, { SIGURG, "URG" }, { SIGXCPU, "XCPU" }, { SIGXFSZ, "XFSZ" },
		{ SIGVTALRM, "VTALRM" }, { SIGPROF, "PROF" }, { SIGWINCH, "WINCH" }, { SIGIO, "IO" },
		{ SIGPWR, "PWR" }, { SIGSYS, "SYS" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	return NULL;
}
#endif
#endif
