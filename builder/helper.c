/* helper.c: the helper mode (see helper.h).  It runs inside a build on
 * an empty image, as root, with nothing but this binary: no shell, no
 * tar(1), no NSS. */
#include "helper.h"
#include "../common/hash.h"
#include "../common/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define OUT "/cb/out"

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("cachebuild helper: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* A growable list of strings. */
struct lines {
	char **v;
	size_t n, cap;
};

static int lines_add(struct lines *l, char *s)
{
	if (!s)
		return fail("out of memory");
	if (ARRAY_GROW(l->v, l->cap, l->n + 1)) {
		free(s);
		return fail("out of memory");
	}
	l->v[l->n++] = s;
	return 0;
}

static void lines_release(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct lines){ 0 };
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Calls fn for every entry under the directory dfd (named name, "./..."),
 * parents before children, without following symbolic links.  Closes
 * dfd. */
typedef int (*walk_fn)(int dfd, const char *leaf, const char *name, const struct stat *st,
		       void *arg);

static int walk(int dfd, char *name, size_t len, walk_fn fn, void *arg)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		close(dfd);
		return fail("cannot list '%s': %s", name, strerror(errno));
	}
	while (!rc && (errno = 0, de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (len + 1 + strlen(de->d_name) >= PATH_MAX) {
			rc = fail("name too long under '%s'", name);
			break;
		}
		snprintf(name + len, PATH_MAX - len, "/%s", de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			rc = fail("cannot read '%s': %s", name, strerror(errno));
		else
			rc = fn(dirfd(d), de->d_name, name, &st, arg);
		if (!rc && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			rc = sub < 0 ? fail("cannot open '%s': %s", name, strerror(errno)) :
				       walk(sub, name, strlen(name), fn, arg);
		}
		name[len] = '\0';
	}
	if (!rc && errno)
		rc = fail("cannot list '%s': %s", name, strerror(errno));
	closedir(d);
	return rc;
}

/* Walks the tree at dir: "." itself first, then everything under it. */
static int walk_tree(const char *dir, walk_fn fn, void *arg)
{
	char name[PATH_MAX] = ".";
	struct stat st;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || fstat(dfd, &st)) {
		if (dfd >= 0)
			close(dfd);
		return fail("cannot open '%s': %s", dir, strerror(errno));
	}
	if (fn(AT_FDCWD, dir, ".", &st, arg)) {
		close(dfd);
		return -1;
	}
	return walk(dfd, name, 1, fn, arg);
}

static int sig_line(int dfd, const char *leaf, const char *name, const struct stat *st,
		    void *arg)
{
	char *s = NULL;

	if (asprintf(&s, "%s|%x|%lld|%lld.%09ld|%lld.%09ld|%llu|%u|%u", name,
		     (unsigned)st->st_mode, (long long)st->st_size,
		     (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
		     (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec,
		     (unsigned long long)st->st_ino, (unsigned)st->st_uid, (unsigned)st->st_gid) < 0)
		s = NULL;
	return lines_add(arg, s);
}

/* The signature of the tree at dir: 32 hex characters. */
static int sig(const char *dir, char ret[33])
{
	struct lines l = { 0 };
	XXH3_state_t *h = XXH3_createState();
	XXH128_hash_t v;
	int rc = h ? walk_tree(dir, sig_line, &l) : fail("out of memory");

	if (!rc) {
		if (l.n)
			qsort(l.v, l.n, sizeof(*l.v), cmp_str);
		XXH3_128bits_reset(h);
		for (size_t i = 0; i < l.n; i++)
			XXH3_128bits_update(h, l.v[i], strlen(l.v[i]) + 1);
		v = XXH3_128bits_digest(h);
		snprintf(ret, 33, "%016llx%016llx", (unsigned long long)v.high64,
			 (unsigned long long)v.low64);
	}
	XXH3_freeState(h);
	lines_release(&l);
	return rc;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		return fail("cannot write '%s': %s", path, strerror(errno));
	return 0;
}

static int write_sig(const char *dir, const char *path)
{
	char s[40];

	if (sig(dir, s))
		return -1;
	strcat(s, "\n");
	return write_text(path, s);
}

/* inject */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level > 0 && remove(path))
		return fail("cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

static unsigned chown_uid, chown_gid;

static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (lchown(path, chown_uid, chown_gid))
		return fail("cannot change the owner of '%s': %s", path, strerror(errno));
	return 0;
}

static int copy_data(struct archive *in, struct archive *out, const char *what)
{
	const void *buf;
	size_t n;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(in, &buf, &n, &off)) == ARCHIVE_OK)
		if (archive_write_data_block(out, buf, n, off) < ARCHIVE_WARN)
			return fail("%s: %s", what, archive_error_string(out));
	if (r != ARCHIVE_EOF)
		return fail("%s: %s", what, archive_error_string(in));
	return 0;
}

/* Unpacks the archive tar into the current directory. */
static int unpack(const char *tar)
{
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	struct archive_entry *e;
	int r, rc = 0;

	if (!in || !out) {
		rc = fail("out of memory");
		goto cleanup;
	}
	archive_read_support_format_tar(in);
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
				       ARCHIVE_EXTRACT_SECURE_NODOTDOT |
				       ARCHIVE_EXTRACT_SECURE_SYMLINKS |
				       ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
	if (archive_read_open_filename(in, tar, 1 << 16) != ARCHIVE_OK) {
		rc = fail("cannot open '%s': %s", tar, archive_error_string(in));
		goto cleanup;
	}
	while (!rc && (r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
		if (archive_write_header(out, e) < ARCHIVE_WARN)
			rc = fail("cannot unpack '%s': %s", archive_entry_pathname(e),
				  archive_error_string(out));
		else if (archive_entry_size(e) > 0)
			rc = copy_data(in, out, archive_entry_pathname(e));
		if (!rc && archive_write_finish_entry(out) < ARCHIVE_WARN)
			rc = fail("cannot unpack '%s': %s", archive_entry_pathname(e),
				  archive_error_string(out));
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = fail("cannot read '%s': %s", tar, archive_error_string(in));
	if (!rc && archive_write_close(out) != ARCHIVE_OK)
		rc = fail("cannot unpack '%s': %s", tar, archive_error_string(out));
cleanup:
	archive_read_free(in);
	archive_write_free(out);
	return rc;
}

static int do_inject(unsigned i, unsigned uid, unsigned gid, unsigned mode)
{
	char m[64], tar[64], out[64];

	snprintf(m, sizeof(m), "/cb/m%u", i);
	snprintf(tar, sizeof(tar), "/cb/ctx/data%u.tar", i);
	snprintf(out, sizeof(out), OUT "/%u", i);
	if (nftw(m, rm_entry, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT))
		return -1;
	if (chdir(m))
		return fail("cannot enter '%s': %s", m, strerror(errno));
	if (unpack(tar) || chdir("/"))
		return -1;
	chown_uid = uid;
	chown_gid = gid;
	if (nftw(m, chown_entry, 64, FTW_PHYS | FTW_MOUNT))
		return -1;
	if (chmod(m, mode))
		return fail("cannot change the mode of '%s': %s", m, strerror(errno));
	return write_sig(m, out);
}

/* extract */

/* Writes the entries names (relative to root, "./...") to the archive at
 * path, in that order: a directory before what it holds, as tar(1)
 * writes them, so that tar(1) sets a directory's mtime after its
 * content. */
static int pack(const char *path, const char *root, const struct lines *names)
{
	struct archive *out = archive_write_new(), *disk = archive_read_disk_new();
	struct archive_entry *e = NULL;
	int rc = 0;

	if (!out || !disk) {
		rc = fail("out of memory");
		goto cleanup;
	}
	archive_write_set_format_pax_restricted(out);
	archive_read_disk_set_symlink_physical(disk);
#ifdef ARCHIVE_READDISK_NO_XATTR
	archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
				       ARCHIVE_READDISK_NO_FFLAGS);
#endif
	if (archive_write_open_filename(out, path) != ARCHIVE_OK) {
		rc = fail("cannot create '%s': %s", path, archive_error_string(out));
		goto cleanup;
	}
	if (chdir(root)) {
		rc = fail("cannot enter '%s': %s", root, strerror(errno));
		goto cleanup;
	}
	for (size_t k = 0; !rc; k++) {
		int fd = -1;

		if (k == names->n)
			break;
		archive_entry_free(e);
		e = archive_entry_new();
		if (!e) {
			rc = fail("out of memory");
			break;
		}
		archive_entry_copy_pathname(e, names->v[k]);
		archive_entry_copy_sourcepath(e, names->v[k]);
		if (archive_read_disk_entry_from_file(disk, e, -1, NULL) != ARCHIVE_OK) {
			rc = fail("cannot read '%s/%s': %s", root, names->v[k],
				  archive_error_string(disk));
			break;
		}
		/* As tar(1) writes them: no names (no NSS here), mtimes to
		 * the second, no atime or ctime. */
		archive_entry_set_uname(e, NULL);
		archive_entry_set_gname(e, NULL);
		archive_entry_set_mtime(e, archive_entry_mtime(e), 0);
		archive_entry_unset_atime(e);
		archive_entry_unset_ctime(e);
		archive_entry_unset_birthtime(e);
		if (archive_write_header(out, e) < ARCHIVE_WARN) {
			rc = fail("cannot pack '%s': %s", archive_entry_pathname(e),
				  archive_error_string(out));
			break;
		}
		if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0) {
			char buf[1 << 16];
			ssize_t n;

			fd = open(archive_entry_sourcepath(e), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				rc = fail("cannot open '%s/%s': %s", root,
					  archive_entry_sourcepath(e), strerror(errno));
				break;
			}
			while ((n = read(fd, buf, sizeof(buf))) > 0)
				if (archive_write_data(out, buf, (size_t)n) < 0) {
					rc = fail("cannot pack '%s': %s", archive_entry_pathname(e),
						  archive_error_string(out));
					break;
				}
			if (n < 0)
				rc = fail("cannot read '%s/%s': %s", root,
					  archive_entry_sourcepath(e), strerror(errno));
			close(fd);
		}
	}
	if (!rc && archive_write_close(out) != ARCHIVE_OK)
		rc = fail("cannot write '%s': %s", path, archive_error_string(out));
cleanup:
	archive_entry_free(e);
	archive_read_free(disk);
	archive_write_free(out);
	if (chdir("/") && !rc)
		rc = fail("cannot enter '/': %s", strerror(errno));
	return rc;
}

/* One entry of a host manifest (delta.h). */
struct host_entry {
	char *name;
	char t;
	long long size;
	char md5[33];
	bool seen;
};

struct delta {
	struct host_entry *h;
	size_t nh;
	const char *root;
	FILE *list, *meta, *ship;
	struct lines shipped;
	bool newline;
};

static int cmp_host(const void *a, const void *b)
{
	return strcmp(((const struct host_entry *)a)->name, ((const struct host_entry *)b)->name);
}

/* Reads "T|SIZE|MTIME|PERM|MD5|NAME" lines; names are what follows the
 * fifth '|'. */
static int read_manifest(const char *path, struct delta *d)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, ncap = 0;
	ssize_t len;
	int rc = 0;

	if (!f)
		return fail("cannot open '%s': %s", path, strerror(errno));
	while (!rc && (len = getline(&line, &cap, f)) > 0) {
		struct host_entry e = { 0 };
		char *p = line, *q[5];

		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		for (int k = 0; k < 5; k++) {
			q[k] = p;
			p = strchr(p, '|');
			if (!p) {
				rc = fail("bad line in '%s'", path);
				break;
			}
			*p++ = '\0';
		}
		if (rc)
			break;
		e.t = q[0][0];
		e.size = atoll(q[1]);
		snprintf(e.md5, sizeof(e.md5), "%s", q[4]);
		if (!(e.name = strdup(p))) {
			rc = fail("out of memory");
			break;
		}
		if (ARRAY_GROW(d->h, ncap, d->nh + 1)) {
			free(e.name);
			rc = fail("out of memory");
			break;
		}
		d->h[d->nh++] = e;
	}
	free(line);
	fclose(f);
	if (!rc && d->nh)
		qsort(d->h, d->nh, sizeof(*d->h), cmp_host);
	return rc;
}

/* Whether the file at leaf (in dfd) has the content whose MD5 is hex. */
static bool same_md5(int dfd, const char *leaf, long long size, const char *hex)
{
	unsigned char md[16];
	char got[33];
	int fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	bool ok = fd >= 0 && !cc_md5_range(fd, 0, (uint64_t)size, md);

	if (fd >= 0)
		close(fd);
	if (!ok)
		return false;
	for (int k = 0; k < 16; k++)
		snprintf(got + 2 * k, 3, "%02x", md[k]);
	return !strcmp(got, hex);
}

static int delta_entry(int dfd, const char *leaf, const char *name, const struct stat *st,
		       void *arg)
{
	struct delta *d = arg;
	char t = S_ISREG(st->st_mode) ? 'f' : S_ISDIR(st->st_mode) ? 'd' :
		 S_ISLNK(st->st_mode) ? 'l' : 'o';
	unsigned perm = (unsigned)(st->st_mode & 07777);
	long long mtime = (long long)st->st_mtim.tv_sec;
	struct host_entry key = { .name = (char *)name }, *h;

	if (strchr(name, '\n')) {
		d->newline = true;
		return -1;
	}
	h = bsearch(&key, d->h, d->nh, sizeof(*d->h), cmp_host);
	if (h)
		h->seen = true;
	if (fprintf(d->list, "%c|%o|%lld|%lld|%s\n", t, perm, t == 'f' ? (long long)st->st_size : 0,
		    t == 'l' ? 0 : mtime, name) < 0)
		return fail("cannot write the list: %s", strerror(errno));
	if (t == 'd') {
		if (fprintf(d->meta, "d|%o|%lld|%s\n", perm, mtime, name) < 0)
			return fail("cannot write the meta list: %s", strerror(errno));
		return 0;
	}
	if (t == 'f' && h && h->t == 'f' && h->size == (long long)st->st_size &&
	    same_md5(dfd, leaf, (long long)st->st_size, h->md5)) {
		if (fprintf(d->meta, "f|%o|%lld|%s\n", perm, mtime, name) < 0)
			return fail("cannot write the meta list: %s", strerror(errno));
		return 0;
	}
	if (fprintf(d->ship, "%s\n", name) < 0)
		return fail("cannot write the ship list: %s", strerror(errno));
	return lines_add(&d->shipped, strdup(name));
}

static FILE *open_out(unsigned i, const char *ext, const char *mode)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), OUT "/%u.%s", i, ext);
	if (!(f = fopen(path, mode)))
		fail("cannot create '%s': %s", path, strerror(errno));
	return f;
}

static int close_out(FILE *f, int rc)
{
	if (f && fclose(f) && !rc)
		rc = fail("cannot write an output file: %s", strerror(errno));
	return rc;
}

/* The delta of mount i against /cb/ctx/hostI.txt; -1 when none can be
 * given (the caller archives the whole mount). */
static int delta(unsigned i, const char *m)
{
	struct delta d = { .root = m };
	char path[64];
	FILE *gone = NULL;
	int rc;

	snprintf(path, sizeof(path), "/cb/ctx/host%u.txt", i);
	rc = read_manifest(path, &d);
	if (!rc && (!(d.list = open_out(i, "list", "w")) || !(d.meta = open_out(i, "meta", "w")) ||
		    !(d.ship = open_out(i, "ship", "w")) || !(gone = open_out(i, "gone", "w"))))
		rc = -1;
	if (!rc)
		rc = walk_tree(m, delta_entry, &d);
	for (size_t k = 0; !rc && k < d.nh; k++)
		if (!d.h[k].seen && fprintf(gone, "%s\n", d.h[k].name) < 0)
			rc = fail("cannot write the gone list: %s", strerror(errno));
	rc = close_out(d.list, rc);
	rc = close_out(d.meta, rc);
	rc = close_out(d.ship, rc);
	rc = close_out(gone, rc);
	if (!rc && d.shipped.n) {
		snprintf(path, sizeof(path), OUT "/%u.tar", i);
		rc = pack(path, m, &d.shipped);
	}
	if (!rc) {
		snprintf(path, sizeof(path), OUT "/%u.mode", i);
		rc = write_text(path, "delta\n");
	}
	if (d.newline)
		fprintf(stderr, "cachebuild helper: a name in '%s' holds a newline: "
			"extracting it whole\n", m);
	for (size_t k = 0; k < d.nh; k++)
		free(d.h[k].name);
	free(d.h);
	lines_release(&d.shipped);
	return rc;
}

static int name_entry(int dfd, const char *leaf, const char *name, const struct stat *st,
		      void *arg)
{
	return lines_add(arg, strdup(name));
}

/* The whole tree at m, as `tar -cf path -C m .` writes it. */
static int pack_all(const char *path, const char *m)
{
	struct lines l = { 0 };
	int rc = walk_tree(m, name_entry, &l);

	if (!rc)
		rc = pack(path, m, &l);
	lines_release(&l);
	return rc;
}

static int do_extract(unsigned i, const char *known)
{
	static const char *const parts[] = { "list", "meta", "ship", "gone", "tar", "mode" };
	char m[64], path[64], s[40];

	snprintf(m, sizeof(m), "/cb/m%u", i);
	if (sig(m, s))
		return -1;
	if (strcmp(s, known)) {
		snprintf(path, sizeof(path), "/cb/ctx/host%u.txt", i);
		if (access(path, F_OK) || delta(i, m)) {
			for (size_t k = 0; k < sizeof(parts) / sizeof(*parts); k++) {
				snprintf(path, sizeof(path), OUT "/%u.%s", i, parts[k]);
				unlink(path);
			}
			snprintf(path, sizeof(path), OUT "/%u.tar", i);
			if (pack_all(path, m))
				return -1;
		}
	}
	snprintf(path, sizeof(path), OUT "/%u.sig", i);
	strcat(s, "\n");
	return write_text(path, s);
}

int cb_helper_main(const char *plan)
{
	FILE *f = fopen(plan, "r");
	char line[512];
	int rc = 0;

	if (!f) {
		fail("cannot open '%s': %s", plan, strerror(errno));
		return 1;
	}
	if (mkdir("/cb", 0755) && errno != EEXIST)
		rc = fail("cannot create '/cb': %s", strerror(errno));
	if (!rc && mkdir(OUT, 0755) && errno != EEXIST)
		rc = fail("cannot create '" OUT "': %s", strerror(errno));
	while (!rc && fgets(line, sizeof(line), f)) {
		char cmd[16], known[40], out[64];
		unsigned i, uid, gid, mode;

		line[strcspn(line, "\n")] = '\0';
		if (!*line || *line == '#')
			continue;
		if (sscanf(line, "probe %u", &i) == 1) {
			snprintf(out, sizeof(out), OUT "/%u", i);
			snprintf(cmd, sizeof(cmd), "/cb/m%u", i);
			rc = write_sig(cmd, out);
		} else if (sscanf(line, "inject %u %u %u %o", &i, &uid, &gid, &mode) == 4) {
			rc = do_inject(i, uid, gid, mode);
		} else if (sscanf(line, "extract %u %39s", &i, known) == 2) {
			rc = do_extract(i, known);
		} else {
			rc = fail("unknown command in '%s': %s", plan, line);
		}
	}
	fclose(f);
	return rc ? 1 : 0;
}
