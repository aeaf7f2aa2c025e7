/* sync.c: probe, inject and extract builds (see sync.h). */
#include "sync.h"
#include "delta.h"
#include "helper.h"
#include "../common/buf.h"
#include "../common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* What every helper script starts with.  The signature of a mount lists
 * names, types, sizes, mtimes and ctimes (ns), inodes and owners: a step
 * that writes into the mount changes it, reading does not. */
static const char script_head[] =
	"set -e\n"
	"sig() { (cd \"$1\" && find . -exec stat -c '%n|%f|%s|%y|%z|%i|%u|%g' {} + |"
	" LC_ALL=C sort | md5sum | cut -c1-32); }\n"
	"mkdir -p /cb/out\n"
	"nl='\n'\n"
	/* delta I: what differs from /cb/ctx/hostI.txt (see delta.h). */
	"delta() {\n"
	"  m=/cb/m$1 o=/cb/out/$1 w=/cb/w$1\n"
	"  [ -z \"$(cd $m && find . -name \"*$nl*\" | head -n 1)\" ] &&\n"
	"  (cd $m && find . -exec stat -c '%F|%a|%s|%Y|%n' {} +) >$w.stat &&\n"
	"  awk -v o=$o -v w=$w -f /cb/ctx/delta.awk /cb/ctx/host$1.txt $w.stat || return 1\n"
	"  if [ -s $w.cand ]; then\n"
	"    (cd $m && md5sum -c $w.cand 2>/dev/null; true) >$w.sum &&\n"
	"    awk -v o=$o -f /cb/ctx/cand.awk $w.sum $w.candmeta || return 1\n"
	"  fi\n"
	"  if [ -s $o.ship ]; then\n"
	"    (cd $m && tr '\\n' '\\0' <$o.ship | xargs -0 -x tar -cf $o.tar --no-recursion) ||\n"
	"      return 1\n"
	"  fi\n"
	"  echo delta >$o.mode\n"
	"}\n";

/* The helper's side of a delta extract (see delta.h).  Names are read
 * from the end of a line: a name may hold '|'. */
static const char delta_awk[] =
	"function rest(s, k,   i, p, q) {\n"
	"  p = 0\n"
	"  for (i = 0; i < k; i++) { q = index(substr(s, p + 1), \"|\"); if (!q) return \"\"; p += q }\n"
	"  return substr(s, p + 1)\n"
	"}\n"
	"function kind(f) {\n"
	"  return f ~ /^regular/ ? \"f\" : f == \"directory\" ? \"d\" : f == \"symbolic link\" ? \"l\" : \"o\"\n"
	"}\n"
	"BEGIN { FS = \"|\" }\n"
	"FILENAME == ARGV[1] { n = rest($0, 5); H[n] = $1 \"|\" $2 \"|\" $3 \"|\" $4; S[n] = $5; next }\n"
	"{\n"
	"  n = rest($0, 4); t = kind($1); seen[n] = 1\n"
	"  print t \"|\" $2 \"|\" (t == \"f\" ? $3 : 0) \"|\" (t == \"l\" ? 0 : $4) \"|\" n > (o \".list\")\n"
	"  if (t == \"d\") { print \"d|\" $2 \"|\" $4 \"|\" n > (o \".meta\"); next }\n"
	"  if (t == \"f\" && (n in H)) {\n"
	"    split(H[n], h, \"|\")\n"
	"    if (h[1] == \"f\" && h[2] == $3) {\n"
	"      print S[n] \"  \" n > (w \".cand\")\n"
	"      print \"f|\" $2 \"|\" $4 \"|\" n > (w \".candmeta\")\n"
	"      next\n"
	"    }\n"
	"  }\n"
	"  print n > (o \".ship\")\n"
	"}\n"
	"END { for (n in H) if (!(n in seen)) print n > (o \".gone\") }\n";

/* Candidates whose MD5 matched only changed mode or mtime. */
static const char cand_awk[] =
	"FILENAME == ARGV[1] { if (sub(/: OK$/, \"\")) ok[$0] = 1; next }\n"
	"{\n"
	"  s = $0; p = 0\n"
	"  for (i = 0; i < 3; i++) p += index(substr(s, p + 1), \"|\")\n"
	"  n = substr(s, p + 1)\n"
	"  if (n in ok) print s >> (o \".meta\"); else print n >> (o \".ship\")\n"
	"}\n";

void cb_mount_key(struct cb_mount *m, const char *ns)
{
	XXH3_state_t *h = XXH3_createState();
	char num[64];
	uint64_t v;

	/* Everything that makes BuildKit pick one cache directory. */
	XXH3_64bits_reset(h);
	XXH3_64bits_update(h, m->df->id, strlen(m->df->id) + 1);
	snprintf(num, sizeof(num), "%d%u:%d%u:%d%o", m->df->uid_set, m->df->uid, m->df->gid_set,
		 m->df->gid, m->df->mode_set, m->df->mode);
	XXH3_64bits_update(h, num, strlen(num) + 1);
	XXH3_64bits_update(h, m->df->from ? m->df->from : "", strlen(m->df->from ? m->df->from : "") + 1);
	XXH3_64bits_update(h, m->df->source ? m->df->source : "",
			   strlen(m->df->source ? m->df->source : "") + 1);
	XXH3_64bits_update(h, ns ? ns : "", strlen(ns ? ns : "") + 1);
	v = XXH3_64bits_digest(h);
	XXH3_freeState(h);
	snprintf(m->key, sizeof(m->key), "%016llx", (unsigned long long)v);
}

static enum cc_code write_file(const char *path, const char *text, struct cc_err *err)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return cc_err_set(err, CC_EINTERNAL, errno, "cannot create '%s'", path);
	fputs(text, f);
	if (fclose(f))
		return cc_err_set(err, CC_EINTERNAL, errno, "cannot write '%s'", path);
	return CC_OK;
}

/* Reads the first line of dir/name into out (n bytes); "" when missing. */
static void read_line(const char *dir, const char *name, char *out, size_t n)
{
	char path[4096];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(out, (int)n, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* The last non-empty line of a log that mentions an error, else its last
 * line: what the message of a failed helper build quotes. */
static void log_tail(const char *path, char *out, size_t n)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		if (strstr(line, "ERROR") || strstr(line, "error") || !*out ||
		    !(strstr(out, "ERROR") || strstr(out, "error")))
			snprintf(out, n, "%.500s", line);
	}
	fclose(f);
}

/* A mount option value as the frontend will read it back: as written for
 * a literal frontend, with $, quotes and backslashes escaped for one that
 * expands. */
static enum cc_code add_value(struct buf *df, const char *v, enum df_mount_vars vars,
			      struct cc_err *err)
{
	for (; *v; v++) {
		if (vars == DF_MOUNT_VARS_EXPAND && strchr("$\\\"'", *v) && buf_add(df, "\\", 1, err))
			return CC_ENOMEM;
		if (buf_add(df, v, 1, err))
			return CC_ENOMEM;
	}
	return CC_OK;
}

static enum cc_code mount_flag(struct buf *df, const struct cb_mount *m, const char *target,
			       enum df_mount_vars vars, struct cc_err *err)
{
	const struct df_mount *d = m->df;

	if (buf_addf(df, err, " \\\n    --mount=type=cache,id=") ||
	    add_value(df, d->id, vars, err) ||
	    buf_addf(df, err, ",target=%s,sharing=%s", target, df_sharing_name(d->sharing)))
		return CC_ENOMEM;
	if ((d->uid_set && buf_addf(df, err, ",uid=%u", d->uid)) ||
	    (d->gid_set && buf_addf(df, err, ",gid=%u", d->gid)) ||
	    (d->mode_set && buf_addf(df, err, ",mode=0%o", d->mode)))
		return CC_ENOMEM;
	if (d->from && (buf_addf(df, err, ",from=") || add_value(df, d->from, vars, err)))
		return CC_ENOMEM;
	if (d->source && (buf_addf(df, err, ",source=") || add_value(df, d->source, vars, err)))
		return CC_ENOMEM;
	return CC_OK;
}

bool cb_mount_reproducible(const struct df_mount *d)
{
	const char *v[] = { d->id, d->from, d->source };

	for (size_t i = 0; i < 3; i++)
		if (v[i] && (!*v[i] || strpbrk(v[i], " \t\r\n,")))
			return false;
	return true;
}

/* Puts the helper binary into ctx as "cachebuild": a hard link when it
 * can, else a copy. */
static enum cc_code place_helper(const struct cb_sync *s, const char *ctx, struct cc_err *err)
{
	char path[4096], buf[1 << 16];
	int in, out;
	ssize_t n = 0;

	snprintf(path, sizeof(path), "%s/cachebuild", ctx);
	if (!link(s->helper_bin, path))
		return CC_OK;
	in = open(s->helper_bin, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cc_err_set(err, CC_EINTERNAL, errno, "cannot read the helper binary '%s'",
				  s->helper_bin);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (out < 0) {
		close(in);
		return cc_err_set(err, CC_EINTERNAL, errno, "cannot create '%s'", path);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (close(out) || n < 0)
		return cc_err_set(err, CC_EINTERNAL, errno, "cannot copy '%s' to '%s'",
				  s->helper_bin, path);
	return CC_OK;
}

/* Runs one helper build: ctx holds the script or plan (and maybe data
 * tars); the generated Dockerfile mounts ms[0..n) at /cb/m0.., runs the
 * script with sh on the helper image, or the plan with the helper binary
 * on an empty image (helper.h), and exports /cb/out to out. */
static enum cc_code helper_build(struct cb_sync *s, const char *what, const char *ctx,
				 const char *script, const char *plan, struct cb_mount *const *ms,
				 size_t n, const char *out, struct cc_err *err)
{
	struct buf df = BUF_INIT, path = BUF_INIT, script_all = BUF_INIT;
	struct cb_argv a = CB_ARGV_INIT;
	enum cc_code rc = CC_ENOMEM;
	char log[4096], tail[600], target[32];
	long long nonce = (long long)now_realtime_ns();
	unsigned serial = s->serial;
	int fd = -1, st;
	double t0;

	if (s->helper_bin ? buf_addf(&df, err, "FROM scratch AS work\nARG CB_NONCE\n") :
			    buf_addf(&df, err, "ARG CB_HELPER\nFROM $CB_HELPER AS work\nARG CB_NONCE\n"))
		goto cleanup;
	if (buf_addf(&df, err, "RUN --mount=type=bind,target=/cb/ctx"))
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		snprintf(target, sizeof(target), "/cb/m%zu", i);
		if (mount_flag(&df, ms[i], target, s->vars, err))
			goto cleanup;
	}
	/* The nonce makes each run new to the builder's cache, also for an
	 * exec-form RUN: the plan holds it too. */
	if (s->helper_bin ? buf_addf(&df, err, " \\\n    [\"/cb/ctx/cachebuild\", \"" CB_HELPER_FLAG
				     "\", \"/cb/ctx/plan\"]\n") :
			    buf_addf(&df, err, " \\\n    sh /cb/ctx/script.sh \"$CB_NONCE\"\n"))
		goto cleanup;
	if (buf_addf(&df, err, "FROM scratch\nCOPY --from=work /cb/out/ /\n"))
		goto cleanup;
	if (buf_addf(&path, err, "%s/Dockerfile", ctx))
		goto cleanup;
	if (s->helper_bin ? buf_addf(&script_all, err, "# %lld.%u.%d\n%s", nonce, serial,
				     (int)getpid(), plan) :
			    buf_addf(&script_all, err, "%s%s", script_head, script))
		goto cleanup;
	if ((rc = write_file(path.data, df.data, err)))
		goto cleanup;
	buf_reset(&path);
	if (buf_addf(&path, err, "%s/%s", ctx, s->helper_bin ? "plan" : "script.sh")) {
		rc = CC_ENOMEM;
		goto cleanup;
	}
	if ((rc = write_file(path.data, script_all.data, err)))
		goto cleanup;
	if (s->helper_bin && (rc = place_helper(s, ctx, err)))
		goto cleanup;
	buf_reset(&path);
	if (buf_addf(&path, err, "%s/Dockerfile", ctx)) {
		rc = CC_ENOMEM;
		goto cleanup;
	}

	if ((rc = s->drv->build_cmd(&a, err)))
		goto cleanup;
	for (size_t i = 0; i < s->nextra; i++)
		if ((rc = cb_argv_add(&a, s->extra[i], err)))
			goto cleanup;
	if ((rc = cb_argv_add(&a, "--network=none", err)) ||
	    (rc = cb_argv_add(&a, "--progress=plain", err)) ||
	    (rc = cb_argv_add(&a, "-f", err)) || (rc = cb_argv_add(&a, path.data, err)) ||
	    (rc = cb_argv_add(&a, "--build-arg", err)) ||
	    (rc = cb_argv_addf(&a, err, "CB_NONCE=%lld.%u.%d", nonce, serial, (int)getpid())))
		goto cleanup;
	if (!s->helper_bin && ((rc = cb_argv_add(&a, "--build-arg", err)) ||
			       (rc = cb_argv_addf(&a, err, "CB_HELPER=%s", s->helper))))
		goto cleanup;
	if (s->ns && ((rc = cb_argv_add(&a, "--build-arg", err)) ||
		      (rc = cb_argv_addf(&a, err, "BUILDKIT_CACHE_MOUNT_NS=%s", s->ns))))
		goto cleanup;
	if ((rc = cb_argv_add(&a, "--output", err)) ||
	    (rc = cb_argv_addf(&a, err, "type=local,dest=%s", out)) ||
	    (rc = cb_argv_add(&a, ctx, err)))
		goto cleanup;

	snprintf(log, sizeof(log), "%s/%02u-%s.log", s->tmp, s->serial++, what);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = cc_err_set(err, CC_EINTERNAL, errno, "cannot create '%s'", log);
		goto cleanup;
	}
	t0 = now_monotonic();
	st = cb_run(a.v, s->drv->env, -1, fd, fd, err);
	s->helper_secs += now_monotonic() - t0;
	if (st < 0) {
		rc = CC_EINTERNAL;
		goto cleanup;
	}
	if (st) {
		log_tail(log, tail, sizeof(tail));
		rc = cc_err_set(err, CC_EINTERNAL, 0, "the %s build %s '%s' failed "
				"(exit %d): %s (full log: '%s')", what,
				s->helper_bin ? "with the helper binary" : "on helper image",
				s->helper_bin ? s->helper_bin : s->helper, st, tail, log);
		goto cleanup;
	}
	rc = CC_OK;
cleanup:
	if (fd >= 0)
		close(fd);
	cb_argv_release(&a);
	buf_release(&df);
	buf_release(&path);
	buf_release(&script_all);
	return rc;
}

/* A fresh directory under s->tmp. */
static enum cc_code tmp_dir(struct cb_sync *s, const char *what, struct buf *ret,
			    struct cc_err *err)
{
	buf_reset(ret);
	if (buf_addf(ret, err, "%s/%s.XXXXXX", s->tmp, what))
		return CC_ENOMEM;
	if (!mkdtemp(ret->data))
		return cc_err_set(err, CC_EINTERNAL, errno, "cannot create a directory in '%s'",
				  s->tmp);
	return CC_OK;
}

enum cc_code cb_sync_probe(struct cb_sync *s, struct cb_mount *m, size_t n, struct cc_err *err)
{
	struct buf ctx = BUF_INIT, out = BUF_INIT, script = BUF_INIT, plan = BUF_INIT;
	struct cb_mount **ms = calloc(n + 1, sizeof(*ms));
	size_t k = 0;
	enum cc_code rc;

	if (!ms)
		return cc_err_set(err, CC_ENOMEM, 0, "out of memory");
	/* Only a mount whose host state matches the host directory can be
	 * skipped; the others are injected without asking. */
	for (size_t i = 0; i < n; i++)
		if (m[i].carried && !m[i].skip && m[i].have_state &&
		    !strcmp(m[i].state_host, m[i].host_sig))
			ms[k++] = &m[i];
	rc = CC_OK;
	if (!k)
		goto cleanup;
	for (size_t i = 0; i < k; i++)
		if (buf_addf(&script, err, "sig /cb/m%zu >/cb/out/%zu\n", i, i) ||
		    buf_addf(&plan, err, "probe %zu\n", i)) {
			rc = CC_ENOMEM;
			goto cleanup;
		}
	if ((rc = tmp_dir(s, "probe-ctx", &ctx, err)) || (rc = tmp_dir(s, "probe-out", &out, err)))
		goto cleanup;
	if ((rc = helper_build(s, "probe", ctx.data, script.data, plan.data, ms, k, out.data, err)))
		goto cleanup;
	for (size_t i = 0; i < k; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%zu", i);
		read_line(out.data, name, ms[i]->mount_sig, sizeof(ms[i]->mount_sig));
		if (strlen(ms[i]->mount_sig) != HOSTDIR_SIG_LEN) {
			rc = cc_err_set(err, CC_EINTERNAL, 0, "the probe build gave no answer for "
					"cache '%s' (%s '%s'%s)", ms[i]->df->id,
					s->helper_bin ? "helper binary" : "is", s->helper_bin ?
					s->helper_bin : s->helper, s->helper_bin ? "" :
					" a busybox-like image?");
			goto cleanup;
		}
		ms[i]->probed = true;
	}
cleanup:
	buf_release(&ctx);
	buf_release(&out);
	buf_release(&script);
	buf_release(&plan);
	free(ms);
	return rc;
}

bool cb_sync_in_builder(const struct cb_mount *m)
{
	return m->probed && m->have_state && !strcmp(m->state_host, m->host_sig) &&
	       !strcmp(m->state_mount, m->mount_sig);
}

/* The host-side record: "HOSTSIG MOUNTSIG" in HOSTDIR.cachebuild-state,
 * next to the host directory (not in it, so cache-save does not carry it
 * unless asked to; carried, it is harmless: a fresh builder's mount never
 * has the recorded signature). */
static char *state_path(const struct cb_mount *m)
{
	char *p = NULL;
	size_t n = strlen(m->hostdir);

	while (n > 1 && m->hostdir[n - 1] == '/')
		n--;
	if (asprintf(&p, "%.*s.cachebuild-state", (int)n, m->hostdir) < 0)
		return NULL;
	return p;
}

void cb_sync_read_state(struct cb_mount *m)
{
	char *p = state_path(m), line[128] = "";
	FILE *f = p ? fopen(p, "r") : NULL;

	m->have_state = false;
	if (f) {
		if (fgets(line, sizeof(line), f) &&
		    sscanf(line, "%32s %32s", m->state_host, m->state_mount) == 2)
			m->have_state = true;
		fclose(f);
	}
	free(p);
}

static enum cc_code write_state(struct cb_mount *m, struct cc_err *err)
{
	char *p = state_path(m), *tmp = NULL;
	enum cc_code rc = CC_OK;
	FILE *f;

	snprintf(m->state_host, sizeof(m->state_host), "%s", m->host_sig);
	snprintf(m->state_mount, sizeof(m->state_mount), "%s", m->mount_sig);
	m->have_state = true;
	if (!p || asprintf(&tmp, "%s.%d.tmp", p, (int)getpid()) < 0) {
		free(p);
		return cc_err_set(err, CC_ENOMEM, 0, "out of memory");
	}
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s %s\n", m->host_sig, m->mount_sig) < 0 || fclose(f) ||
	    rename(tmp, p)) {
		rc = cc_err_set(err, CC_EDEST, errno, "cannot write '%s'", p);
		unlink(tmp);
	}
	free(p);
	free(tmp);
	return rc;
}

enum cc_code cb_sync_inject(struct cb_sync *s, struct cb_mount **ms, size_t n,
			    struct cc_err *err)
{
	struct buf ctx = BUF_INIT, out = BUF_INIT, script = BUF_INIT, tar = BUF_INIT, plan = BUF_INIT;
	double t0 = now_monotonic(), each;
	struct stat st;
	enum cc_code rc = CC_OK;

	if (!n)
		return CC_OK;
	if ((rc = tmp_dir(s, "inject-ctx", &ctx, err)) || (rc = tmp_dir(s, "inject-out", &out, err)))
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		const struct df_mount *d = ms[i]->df;

		buf_reset(&tar);
		if (buf_addf(&tar, err, "%s/data%zu.tar", ctx.data, i)) {
			rc = CC_ENOMEM;
			goto cleanup;
		}
		if ((rc = hostdir_pack(ms[i]->hostdir, tar.data, err)))
			goto cleanup;
		if (!stat(tar.data, &st))
			ms[i]->bytes_in = (uint64_t)st.st_size;
		/* Owners become the mount's uid/gid: the build sees its cache
		 * as it left it, whoever owns the host directory. */
		if (buf_addf(&script, err,
			     "find /cb/m%zu -mindepth 1 -maxdepth 1 -exec rm -rf {} +\n"
			     "tar -xf /cb/ctx/data%zu.tar -C /cb/m%zu\n"
			     "chown -hR %u:%u /cb/m%zu\n"
			     "chmod %o /cb/m%zu\n"
			     "sig /cb/m%zu >/cb/out/%zu\n",
			     i, i, i, d->uid, d->gid, i, d->mode, i, i, i) ||
		    buf_addf(&plan, err, "inject %zu %u %u %o\n", i, d->uid, d->gid, d->mode)) {
			rc = CC_ENOMEM;
			goto cleanup;
		}
	}
	if ((rc = helper_build(s, "inject", ctx.data, script.data, plan.data, ms, n, out.data, err)))
		goto cleanup;
	each = (now_monotonic() - t0) / (double)n;
	for (size_t i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%zu", i);
		read_line(out.data, name, ms[i]->mount_sig, sizeof(ms[i]->mount_sig));
		ms[i]->injected = true;
		ms[i]->secs_in = each;
		if ((rc = write_state(ms[i], err)))
			goto cleanup;
	}
cleanup:
	buf_release(&ctx);
	buf_release(&out);
	buf_release(&script);
	buf_release(&tar);
	buf_release(&plan);
	return rc;
}

/* Counts the lines of out/I.ext (0 when missing). */
static unsigned long count_lines(const char *out, size_t i, const char *ext)
{
	char path[4096];
	unsigned long n = 0;
	int c;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%zu.%s", out, i, ext);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* One extract build over ms[0..k); with full, every mount is archived
 * whole, else a mount with a host manifest sends only its changes.
 * Mounts whose delta could not be applied are put in redo (*nredo). */
static enum cc_code extract_pass(struct cb_sync *s, struct cb_mount **ms, size_t k, bool full,
				 struct cb_mount **redo, size_t *nredo, struct cc_err *err)
{
	struct buf ctx = BUF_INIT, out = BUF_INIT, script = BUF_INIT, path = BUF_INIT, plan = BUF_INIT;
	double t0 = now_monotonic(), t1;
	bool awk_written = false;
	enum cc_code rc;

	if ((rc = tmp_dir(s, "extract-ctx", &ctx, err)) || (rc = tmp_dir(s, "extract-out", &out, err)))
		goto cleanup;
	for (size_t i = 0; i < k; i++) {
		/* Unchanged means: the mount is as the state recorded it and
		 * the state describes what the host holds now. */
		const char *known = !full && ms[i]->have_state &&
				    !strcmp(ms[i]->state_host, ms[i]->host_sig) ?
				    ms[i]->state_mount : "changed";
		bool usable = false;

		if (!full && ms[i]->host_exists) {
			struct cc_err ignored;

			buf_reset(&path);
			if (buf_addf(&path, err, "%s/host%zu.txt", ctx.data, i)) {
				rc = CC_ENOMEM;
				goto cleanup;
			}
			if (hostdir_manifest(ms[i]->hostdir, path.data, &usable, &ignored) || !usable)
				unlink(path.data);
		}
		for (size_t j = 0; usable && !awk_written && j < 2; j++) {
			buf_reset(&path);
			if (buf_addf(&path, err, "%s/%s", ctx.data, j ? "cand.awk" : "delta.awk")) {
				rc = CC_ENOMEM;
				goto cleanup;
			}
			if ((rc = write_file(path.data, j ? cand_awk : delta_awk, err)))
				goto cleanup;
			awk_written = j == 1;
		}
		if (buf_addf(&script, err, "s=$(sig /cb/m%zu)\n"
			     "if [ \"$s\" != \"%s\" ]; then\n"
			     "  if [ -f /cb/ctx/host%zu.txt ] && delta %zu; then :; else\n"
			     "    rm -f /cb/out/%zu.*\n"
			     "    tar -cf /cb/out/%zu.tar -C /cb/m%zu .\n"
			     "  fi\n"
			     "fi\n"
			     "echo \"$s\" >/cb/out/%zu.sig\n", i, known, i, i, i, i, i, i) ||
		    buf_addf(&plan, err, "extract %zu %s\n", i, known)) {
			rc = CC_ENOMEM;
			goto cleanup;
		}
	}
	if ((rc = helper_build(s, "extract", ctx.data, script.data, plan.data, ms, k, out.data, err)))
		goto cleanup;
	t1 = now_monotonic();
	for (size_t i = 0; i < k; i++) {
		char name[32], mode[16];
		struct stat st;
		double t2 = now_monotonic();
		bool delta, have_tar;

		snprintf(name, sizeof(name), "%zu.sig", i);
		read_line(out.data, name, ms[i]->mount_sig, sizeof(ms[i]->mount_sig));
		snprintf(name, sizeof(name), "%zu.mode", i);
		read_line(out.data, name, mode, sizeof(mode));
		delta = !strcmp(mode, "delta");
		buf_reset(&path);
		if (buf_addf(&path, err, "%s/%zu.tar", out.data, i)) {
			rc = CC_ENOMEM;
			goto cleanup;
		}
		have_tar = !stat(path.data, &st);
		if (!have_tar && !delta)
			continue;	/* unchanged */
		ms[i]->bytes_out = have_tar ? (uint64_t)st.st_size : 0;
		if (delta) {
			struct cc_err why;

			ms[i]->delta = true;
			ms[i]->nship = count_lines(out.data, i, "ship");
			ms[i]->ngone = count_lines(out.data, i, "gone");
			if (hostdir_delta(ms[i]->hostdir, out.data, (unsigned)i, &why)) {
				snprintf(ms[i]->note, sizeof(ms[i]->note), "%.500s", why.msg);
				ms[i]->delta = false;
				redo[(*nredo)++] = ms[i];
				continue;
			}
		} else if ((rc = hostdir_replace(ms[i]->hostdir, path.data, err))) {
			goto cleanup;
		}
		unlink(path.data);
		ms[i]->host_exists = true;
		if ((rc = hostdir_sig(ms[i]->hostdir, ms[i]->host_sig, &ms[i]->host_exists, NULL,
				      err))) {
			rc = CC_EDEST;
			goto cleanup;
		}
		ms[i]->extracted = true;
		ms[i]->secs_out += (t1 - t0) / (double)k + (now_monotonic() - t2);
		if ((rc = write_state(ms[i], err)))
			goto cleanup;
	}
cleanup:
	buf_release(&ctx);
	buf_release(&out);
	buf_release(&script);
	buf_release(&path);
	buf_release(&plan);
	return rc;
}

enum cc_code cb_sync_extract(struct cb_sync *s, struct cb_mount *m, size_t n,
			     struct cc_err *err)
{
	struct cb_mount **ms = calloc(n + 1, sizeof(*ms)), **redo = calloc(n + 1, sizeof(*redo));
	const char *full = getenv("CACHEBUILD_FULL_EXTRACT");
	size_t k = 0, nredo = 0, none = 0;
	enum cc_code rc = CC_OK;

	if (!ms || !redo) {
		free(ms);
		free(redo);
		return cc_err_set(err, CC_ENOMEM, 0, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (m[i].carried && !m[i].skip)
			ms[k++] = &m[i];
	if (k)
		rc = extract_pass(s, ms, k, full && *full && strcmp(full, "0"), redo, &nredo, err);
	/* A delta that did not apply: the whole mount, once more. */
	if (!rc && nredo)
		rc = extract_pass(s, redo, nredo, true, ms, &none, err);
	free(ms);
	free(redo);
	return rc;
}
