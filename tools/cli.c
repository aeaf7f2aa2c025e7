#include "cli.h"
#include "../common/http.h"
#include "../common/key.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../common/version.h"

#include <archive.h>
#include <curl/curl.h>
#include <expat.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <xxhash.h>
#include <zstd.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *cli_prog = "cicache";
int cli_verbosity;
static double start_time, last_progress;
static bool progress_tty, progress_shown;
/* Messages also come from the library's worker threads (a retried
 * upload, say): one line at a time, and the progress line's state with
 * them. */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

/* Messages quote names that come from the store or the file system: a
 * newline or escape in them must not start a new log line (a CI runner
 * reads "::warning::" or "::set-output" lines as commands), so control
 * bytes are printed escaped.  A URL loses its userinfo and query
 * (common/url.h), whoever wrote the message. */
static void vmsg(const char *level, const char *fmt, va_list ap)
{
	char msg[4096];

	cc_vformat(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&out_mu);
	if (progress_shown && progress_tty) {
		fputs("\r\033[K", stderr);
		progress_shown = false;
	}
	fprintf(stderr, "%s: %s", cli_prog, level);
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		if (*p == '\n')
			fputs("\\n", stderr);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(stderr, "\\x%02x", *p);
		else
			fputc(*p, stderr);
	}
	fputc('\n', stderr);
	pthread_mutex_unlock(&out_mu);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	if (cli_verbosity < 0)
		return;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void cli_info(const char *fmt, ...)
{
	va_list ap;

	if (cli_verbosity < 0)
		return;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

static void log_hook(enum cc_log_level level, const char *msg)
{
	switch (level) {
	case CC_LOG_ERROR: cli_error("%s", msg); break;
	case CC_LOG_WARN: cli_warn("%s", msg); break;
	case CC_LOG_INFO: cli_info("%s", msg); break;
	case CC_LOG_DEBUG:
		if (cli_verbosity > 0)
			cli_info("%s", msg);
		break;
	}
}

/* Progress: nothing for the first second (short jobs stay silent), then a
 * redrawn line on a terminal, or a plain line every few seconds in a CI
 * log. */
static void progress_hook(const struct cc_progress *p)
{
	double t = now_monotonic(), since = t - start_time;
	char done[32], total[32];

	if (cli_verbosity < 0 || since < 1.0)
		return;
	pthread_mutex_lock(&out_mu);
	if (t - last_progress < (progress_tty ? 0.2 : 5.0)) {
		pthread_mutex_unlock(&out_mu);
		return;
	}
	last_progress = t;
	fmt_bytes(done, sizeof(done), p->bytes_done);
	if (p->bytes_total) {
		fmt_bytes(total, sizeof(total), p->bytes_total);
		fprintf(stderr, "%s%s: %s %3.0f%% (%llu/%llu files, %s/%s)%s", progress_tty ? "\r\033[K" : "",
			cli_prog, p->phase,
			100.0 * (double)p->bytes_done / (double)p->bytes_total,
			(unsigned long long)p->files_done, (unsigned long long)p->files_total,
			done, total, progress_tty ? "" : "\n");
	} else {
		fprintf(stderr, "%s%s: %s %llu files, %s, %.1f s%s", progress_tty ? "\r\033[K" : "",
			cli_prog, p->phase, (unsigned long long)p->files_done, done, since,
			progress_tty ? "" : "\n");
	}
	progress_shown = true;
	fflush(stderr);
	pthread_mutex_unlock(&out_mu);
}

void cli_init(const char *prog)
{
	static const struct cc_log_hooks hooks = { log_hook, progress_hook };

	cli_prog = prog;
	start_time = now_monotonic();
	progress_tty = isatty(STDERR_FILENO);
	cc_log_set_hooks(&hooks);
}

void cli_version(const char *prog, int argc, char **argv)
{
	bool verbose = cli_verbosity > 0;
	unsigned xxh = XXH_versionNumber();
	XML_Expat_Version xml = XML_ExpatVersionInfo();

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v"))
			verbose = true;
	printf("%s (cicache) %s\n", prog, CICACHE_VERSION);
	if (!verbose)
		exit(EXIT_OK);
	/* The libraries linked, as they report themselves at run time. */
	printf("libcurl: %s\n", curl_version());
	printf("openssl: %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("libarchive: %s\n", archive_version_details());
	printf("zstd: %s\n", ZSTD_versionString());
	printf("xxhash: %u.%u.%u\n", xxh / 10000, xxh / 100 % 100, xxh % 100);
	printf("jansson: %s\n", jansson_version_str());
	printf("expat: %d.%d.%d\n", xml.major, xml.minor, xml.micro);
#ifdef __GLIBC__
	printf("libc: glibc %s\n", gnu_get_libc_version());
#endif
#ifdef CICACHE_DIST_INFO
	/* A release binary (dist/build.sh): the exact sources it was built from. */
	printf("build: %s\n", CICACHE_DIST_INFO);
#endif
	exit(EXIT_OK);
}

int cli_exit_code(enum cc_code code)
{
	switch (code) {
	case CC_OK: return EXIT_OK;
	case CC_EUSAGE: return EXIT_USAGE;
	case CC_ESOURCE: return EXIT_SOURCE;
	case CC_ESTORE: case CC_RETRY: return EXIT_STORE;
	case CC_ECORRUPT: return EXIT_CORRUPT;
	case CC_EDEST: return EXIT_DEST;
	case CC_ENOMEM: case CC_EINTERNAL: return EXIT_INTERNAL;
	}
	return EXIT_INTERNAL;
}

bool cli_env_bool(const char *name)
{
	const char *v = getenv(name);

	return v && (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
		     !strcasecmp(v, "on"));
}

void cli_list_add(const char ***list, size_t *n, const char *item)
{
	const char **x = realloc(*list, (*n + 1) * sizeof(*x));

	if (!x) {
		cli_error("out of memory");
		exit(EXIT_INTERNAL);
	}
	x[(*n)++] = item;
	*list = x;
}

static char *env_copies[8];

void cli_env_list(const char *name, const char ***list, size_t *n)
{
	const char *v = getenv(name);
	char *copy, *save = NULL;

	if (!v)
		return;
	copy = strdup(v);
	if (!copy) {
		cli_error("out of memory");
		exit(EXIT_INTERNAL);
	}
	for (char *tok = strtok_r(copy, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(tok);

		/* Tolerate the blank lines and indentation of YAML blocks. */
		while (*tok == ' ' || *tok == '\t' || *tok == '\r')
			tok++, len--;
		while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t' || tok[len - 1] == '\r'))
			tok[--len] = '\0';
		if (*tok)
			cli_list_add(list, n, tok);
	}
	/* The list points into copy for the program's life; keeping it here
	 * says so to the leak checker too. */
	for (size_t i = 0; i < sizeof(env_copies) / sizeof(*env_copies); i++)
		if (!env_copies[i]) {
			env_copies[i] = copy;
			return;
		}
}

int cli_int(const char *opt, const char *val, int min, int max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(val, &end, 10);
	if (errno || end == val || *end || v < min || v > max) {
		cli_error("%s takes a whole number from %d to %d, not '%s'", opt, min, max, val);
		exit(EXIT_USAGE);
	}
	return (int)v;
}

/* A size with an optional K, M, G or T suffix (powers of 1024), at
 * least 1.  @return 0 when val is none. */
static uint64_t parse_size(const char *val)
{
	static const char units[] = "KMGT";
	const char *u;
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || end == val || !isdigit((unsigned char)*val))
		return 0;
	if (*end) {
		if (end[1] || !(u = strchr(units, toupper((unsigned char)*end))))
			return 0;
		for (const char *k = units; k <= u; k++) {
			if (v > UINT64_MAX / 1024)
				return 0;
			v *= 1024;
		}
	}
	return v;
}

uint64_t cli_size(const char *opt, const char *val)
{
	uint64_t v = parse_size(val);

	if (!v) {
		cli_error("%s takes a size in bytes, with an optional K, M, G or T suffix "
			  "(powers of 1024), not '%s'", opt, val);
		exit(EXIT_USAGE);
	}
	return v;
}

const char *cli_store(const char *flag)
{
	static char def[PATH_MAX];
	const char *v = flag ? flag : getenv("CACHE_STORE");

	if (flag && !*flag) {
		cli_error("--store is empty");
		exit(EXIT_USAGE);
	}
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

	if (v && *v)
		return v;
	if (xdg && xdg[0] == '/')
		snprintf(def, sizeof(def), "%s/cicache/store", xdg);
	else if (home && home[0] == '/')
		snprintf(def, sizeof(def), "%s/.cache/cicache/store", home);
	else
		snprintf(def, sizeof(def), "/tmp/cicache-%u/store", (unsigned)getuid());
	return def;
}

static void append_line(const char *var, const char *name, const char *value)
{
	const char *path = getenv(var);
	FILE *f;

	if (!path || !*path)
		return;
	f = fopen(path, "a");
	if (!f) {
		cli_warn("cannot append to %s '%s': %s", var, path, strerror(errno));
		return;
	}
	fprintf(f, "%s=%s\n", name, value);
	if (fclose(f))
		cli_warn("cannot append to %s '%s': %s", var, path, strerror(errno));
}

void cli_output(const char *name, const char *value)
{
	char dotenv[64];
	size_t i;

	printf("%s=%s\n", name, value);
	fflush(stdout);
	append_line("GITHUB_OUTPUT", name, value);
	/* GitLab's dotenv reports take [A-Z0-9_] names: cache-hit becomes
	 * CACHE_HIT in the file CACHE_DOTENV names. */
	for (i = 0; name[i] && i < sizeof(dotenv) - 1; i++)
		dotenv[i] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	dotenv[i] = '\0';
	/* A later GitLab job gets these as variables, and CACHE_KEY would
	 * become that job's key: cache-save's key is CACHE_SAVED_KEY there. */
	if (!strcmp(dotenv, "CACHE_KEY"))
		snprintf(dotenv, sizeof(dotenv), "CACHE_SAVED_KEY");
	append_line("CACHE_DOTENV", dotenv, value);
}

double cli_elapsed(void)
{
	return now_monotonic() - start_time;
}

const char *cli_rate(char *out, size_t n, uint64_t bytes, double seconds)
{
	char b[32];

	if (seconds < 0.001)
		seconds = 0.001;
	fmt_bytes(b, sizeof(b), (uint64_t)((double)bytes / seconds));
	snprintf(out, n, "%s/s", b);
	return out;
}

void cli_shared_twins(const char **key, const char ***paths, size_t *npaths,
		      const char ***restore_keys, size_t *nrestore_keys, int *jobs,
		      const char **store)
{
	const char *env = getenv("CACHE_JOBS");
	struct cc_err err;

	/* Twins are read after the flags, so a flag hides a bad twin. */
	if (!*jobs && env && *env)
		*jobs = cli_int("CACHE_JOBS", env, 1, 64);
	if (!*key)
		*key = getenv("CACHE_KEY");
	if (!*npaths)
		cli_env_list("CACHE_PATH", paths, npaths);
	if (!*nrestore_keys)
		cli_env_list("CACHE_RESTORE_KEYS", restore_keys, nrestore_keys);
	if (!*key || !**key) {
		cli_error("no key given (use --key or CACHE_KEY)");
		exit(EXIT_USAGE);
	}
	cc_err_clear(&err);
	if (cc_key_check(*key, "key", &err)) {
		cli_error("%s", err.msg);
		exit(EXIT_USAGE);
	}
	for (size_t i = 0; i < *nrestore_keys; i++)
		if (cc_key_check((*restore_keys)[i], "restore key", &err)) {
			cli_error("%s", err.msg);
			exit(EXIT_USAGE);
		}
	*store = cli_store(*store);
}

static volatile sig_atomic_t caught_signal;
static volatile sig_atomic_t signals_settled;

static void on_signal(int sig)
{
	/* A second signal ends the program at once, without the cleanup
	 * (as SIGKILL would), for whoever will not wait for it. */
	if (caught_signal && !signals_settled) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	caught_signal = sig;
	cc_cancel();
}

void cli_trap_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int cli_settle_signals(void)
{
	signals_settled = 1;
	return caught_signal;
}

void cli_reraise(void)
{
	int sig = caught_signal;

	if (!sig || signals_settled)
		return;
	fflush(stdout);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* A positive duration of at most a year, in seconds, with an optional
 * s, m or h suffix (d too with days).  @return 0 when val is none. */
static double parse_duration(const char *val, bool days)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(val, &end);
	if (errno || end == val || !(isdigit((unsigned char)*val) || *val == '.'))
		return 0;
	if (*end) {
		if (end[1])
			return 0;
		switch (*end) {
		case 's': break;
		case 'm': v *= 60; break;
		case 'h': v *= 3600; break;
		case 'd': if (days) { v *= 86400; break; } return 0;
		default: return 0;
		}
	}
	/* At most a year: a longer deadline is no deadline. */
	if (!isfinite(v) || v <= 0 || v > 366.0 * 86400)
		return 0;
	return v;
}

/* A duration; days only where days make sense (cache-store's ages). */
static double duration(const char *opt, const char *val, bool days)
{
	double v = parse_duration(val, days);

	if (v <= 0) {
		cli_error("%s takes a duration: a positive number of seconds, or with an s, m%s "
			  "suffix (90, 1.5m, 2h%s), not '%s'", opt, days ? ", h or d" : " or h",
			  days ? ", 7d" : "", val);
		exit(EXIT_USAGE);
	}
	return v;
}

double cli_duration(const char *opt, const char *val)
{
	return duration(opt, val, false);
}

double cli_age(const char *opt, const char *val)
{
	return duration(opt, val, true);
}

static double deadline_at;		/* on now_monotonic()'s clock */
static double deadline_len;

static void *deadline_main(void *arg)
{
	struct timespec ts;
	double left;

	(void)arg;
	/* Signals are the main thread's business: the handlers only set
	 * flags, and a sleep they cut short is simply resumed. */
	while ((left = deadline_at - now_monotonic()) > 0) {
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
	cc_give_up(CC_GIVEUP_DEADLINE);
	return NULL;
}

/* SEGMENT_DOWNLOAD_TIMEOUT_MINS, read as actions/cache reads it (a number
 * of minutes, fractions allowed; 10 when unset).  It is actions/cache's
 * variable, set for it in workflows that never meant to break cicache:
 * a value it would not use is a warning, and the default stands. */
static void segment_timeout_env(void)
{
	const char *v = getenv("SEGMENT_DOWNLOAD_TIMEOUT_MINS");
	double mins = 10, m;
	uint64_t ms;
	char *end;

	/* Blank is unset (actions/cache then keeps its default too). */
	while (v && (*v == ' ' || *v == '\t'))
		v++;
	if (v && *v) {
		errno = 0;
		m = strtod(v, &end);

		while (*end == ' ' || *end == '\t')
			end++;
		if (errno || end == v || *end || !isfinite(m) || m <= 0 || m > 366.0 * 1440)
			cli_warn("SEGMENT_DOWNLOAD_TIMEOUT_MINS='%s' is not a positive number of "
				 "minutes: using 10", v);
		else
			mins = m;
	}
	ms = (uint64_t)(mins * 60000.0 + 0.5);
	http_set_segment_timeout(ms ? ms : 1);
}

void cli_timeouts(const char *flag)
{
	const char *env = getenv("CACHE_TIMEOUT");
	pthread_attr_t attr;
	pthread_t t;

	segment_timeout_env();
	if (flag)
		deadline_len = cli_duration("--timeout", flag);
	else if (env && *env)
		deadline_len = cli_duration("CACHE_TIMEOUT", env);
	else
		return;
	deadline_at = start_time + deadline_len;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, deadline_main, NULL)) {
		cli_error("cannot start the --timeout timer");
		exit(EXIT_INTERNAL);
	}
	pthread_attr_destroy(&attr);
}

const char *cli_gave_up_why(char *out, size_t n)
{
	switch (cc_gave_up()) {
	case CC_GIVEUP_DEADLINE:
		snprintf(out, n, "the --timeout of %g s passed", deadline_len);
		return out;
	case CC_GIVEUP_SEGMENT:
		snprintf(out, n, "a download segment took longer than "
			 "SEGMENT_DOWNLOAD_TIMEOUT_MINS allows");
		return out;
	case CC_GIVEUP_NONE:
		break;
	}
	return NULL;
}
