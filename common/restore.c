/* restore.c: lookup -> manifest (fetched, checksummed, every record
 * checked in a dry run) -> walk the records, pulling file data from a
 * verified chunk stream, writing them through dest.c.
 *
 * Safety rests on dest.c's rules (every name one clean component created
 * inside a directory it opened itself with O_NOFOLLOW, an existing
 * non-directory replaced by renaming a new one over it, never opened or
 * followed; roots compared by identity) and on one of its own: a record
 * whose parent is not the directory just above it on our stack is
 * corrupt. */
#include "restore.h"
#include "chunkset.h"
#include "chunker.h"
#include "dest.h"
#include "identity.h"
#include "key.h"
#include "log.h"
#include "pathspec.h"
#include "prefetch.h"
#include "strset.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <stdio.h>
#include <unistd.h>

#define NCACHE 8
#define STACK_MAX 4096

/* ------------------------------------------------------------------ */
/* lookup */

struct collect_ctx {
	struct cc_match *v;
	size_t n, alloc;
	const char *version;	/* keep this version and legacy entries; NULL: any */
	const char *only_key;	/* keep only entries of this key */
	const char *not_key;	/* drop entries of this key */
	struct buf kb;
	bool oom;
};

static int collect(void *ctx, const struct store_object *o)
{
	struct collect_ctx *c = ctx;
	char version[CC_IDENTITY_LEN + 1];

	/* A name in the store that is no entry of a valid key (a newline,
	 * say) could forge the step outputs it is printed in: it matches
	 * nothing. */
	if (!store_entry_parse(o->name, &c->kb, version))
		return 0;
	if (c->version && version[0] && strcmp(version, c->version))
		return 0;	/* saved with other paths */
	if ((c->only_key && strcmp(c->kb.data, c->only_key)) ||
	    (c->not_key && !strcmp(c->kb.data, c->not_key)))
		return 0;
	if (ARRAY_GROW(c->v, c->alloc, c->n + 1)) {
		c->oom = true;
		return 1;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	c->v[c->n].key = strdup(c->kb.data);
	c->v[c->n].name = strdup(o->name);
	memcpy(c->v[c->n].version, version, sizeof(version));
	c->v[c->n].mtime_ns = o->mtime_ns;
	c->n++;
	if (!c->v[c->n - 1].key || !c->v[c->n - 1].name) {
		c->oom = true;
		return 1;
	}
	return 0;
}

/* The entry time at the resolution of the store's listing: two entries
 * with the same value are a tie, broken by created_ns. */
static int64_t listed_time(const struct store *s, int64_t t)
{
	if (s->ops->caps & STORE_CAP_MTIME_NS)
		return t;
	return t >= 0 ? t / 1000000000 : -((-t + 999999999) / 1000000000);
}

static const struct store *sort_store;	/* for the qsort callbacks */

static int newest_listed_first(const void *a, const void *b)
{
	const struct cc_match *x = a, *y = b;
	int64_t tx = listed_time(sort_store, x->mtime_ns), ty = listed_time(sort_store, y->mtime_ns);

	if (tx != ty)
		return tx < ty ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int newest_created_first(const void *a, const void *b)
{
	const struct cc_match *x = a, *y = b;

	if (x->created_ns != y->created_ns)
		return x->created_ns < y->created_ns ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* created_ns of the manifest named name: one ranged read of the start of
 * its header (docs/format.md 4.1).  A manifest that is not one (or is
 * gone) sorts last; the restore finds out why when it opens it. */
static enum cc_code read_created(struct store *s, const char *name, int64_t *ret,
				 struct cc_err *err)
{
	unsigned char h[24];
	struct cc_err e2;
	uint64_t v = 0;
	enum cc_code rc;

	*ret = INT64_MIN;
	cc_err_clear(&e2);
	rc = s->ops->get_range(s, name, 0, sizeof(h), h, &e2);
	if (rc == CC_ECORRUPT || (!rc && (memcmp(h, "CCMANIF\n", 8) || h[8] < MF_VERSION_MIN ||
					  h[8] > MF_VERSION || h[9] || h[10] || h[11])))
		return CC_OK;
	if (rc) {
		*err = e2;
		return rc;
	}
	for (int i = 7; i >= 0; i--)
		v = v << 8 | h[16 + i];
	*ret = (int64_t)v;
	return CC_OK;
}

/* Orders one step's candidates newest first (docs/format.md, "Entry
 * time"): by the listed time; candidates that tie on it at the store's
 * resolution by the created_ns of their manifests, read only then. */
static enum cc_code order_step(struct store *s, struct cc_match *v, size_t n, struct cc_err *err)
{
	enum cc_code rc;

	sort_store = s;
	if (n > 1)
		qsort(v, n, sizeof(*v), newest_listed_first);
	for (size_t i = 0, j; i < n; i = j) {
		int64_t t = listed_time(s, v[i].mtime_ns);

		for (j = i + 1; j < n && listed_time(s, v[j].mtime_ns) == t; j++)
			;
		if (j - i < 2)
			continue;
		for (size_t k = i; k < j; k++)
			if ((rc = read_created(s, v[k].name, &v[k].created_ns, err)))
				return rc;
		qsort(v + i, j - i, sizeof(*v), newest_created_first);
	}
	return CC_OK;
}

static void match_free(struct cc_match *m)
{
	free(m->key);
	free(m->name);
}

void cc_matches_free(struct cc_match *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		match_free(&m[i]);
	free(m);
}

/* Orders the step's candidates in c and moves those not already in out
 * to its end (c is emptied). */
static enum cc_code add_step(struct store *s, struct collect_ctx *out, struct collect_ctx *c,
			     bool exact, struct cc_err *err)
{
	enum cc_code rc = CC_OK;

	if (c->oom)
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if (!rc)
		rc = order_step(s, c->v, c->n, err);
	for (size_t i = 0; i < c->n; i++) {
		bool dup = false;

		for (size_t j = 0; j < out->n && !dup; j++)
			dup = !strcmp(out->v[j].name, c->v[i].name);
		if (dup || rc) {
			match_free(&c->v[i]);
			continue;
		}
		if (ARRAY_GROW(out->v, out->alloc, out->n + 1)) {
			rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
			match_free(&c->v[i]);
			continue;
		}
		c->v[i].exact = exact;
		out->v[out->n++] = c->v[i];
	}
	free(c->v);
	c->v = NULL;
	c->n = c->alloc = 0;
	c->oom = false;
	return rc;
}

/* Adds the object name to c if it exists (a stat). */
static enum cc_code collect_stat(struct store *s, const char *name, struct collect_ctx *c,
				 struct cc_err *err)
{
	struct store_object obj = { 0 };
	bool found;
	enum cc_code rc = s->ops->stat(s, name, &found, &obj, err);

	if (!rc && found) {
		obj.name = name;
		collect(c, &obj);
	}
	return rc;
}

enum cc_code cc_lookup(struct store *s, const char *key, const char *version,
		       const char *const *restore_keys, size_t nrk, struct cc_match **ret,
		       size_t *ret_n, struct cc_err *err)
{
	struct collect_ctx out = { 0 }, c = { 0 };
	struct buf name = BUF_INIT;
	enum cc_code rc;

	*ret = NULL;
	*ret_n = 0;
	c.version = version;
	/* A key too long for this store's object names can have no entry:
	 * a usage error, as on save, rather than a silent miss. */
	if ((rc = store_check_key(s, key, "key", err)))
		goto cleanup;
	for (size_t k = 0; k < nrk; k++)
		if ((rc = store_check_key(s, restore_keys[k], "restore key", err)))
			goto cleanup;
	if ((rc = store_key_name(&name, key, err)))
		goto cleanup;
	if (!(s->ops->caps & STORE_CAP_LIST_NEWEST)) {
		/* One listing of the key as a prefix gives both the entries
		 * of the key (the exact step) and the primary-key-as-prefix
		 * step. */
		struct collect_ctx pre = { .version = version };

		if ((rc = s->ops->list(s, name.data, collect, &c, err))) {
			cc_matches_free(c.v, c.n);
			goto cleanup;
		}
		for (size_t i = 0; i < c.n; i++) {
			struct collect_ctx *to = !strcmp(c.v[i].key, key) ? &out : &pre;

			if (to == &out)
				continue;
			if (ARRAY_GROW(pre.v, pre.alloc, pre.n + 1)) {
				pre.oom = true;
				break;
			}
			pre.v[pre.n++] = c.v[i];
			c.v[i].key = c.v[i].name = NULL;
		}
		/* c keeps the entries of key (moved-out slots are empty) */
		{
			size_t k = 0;

			for (size_t i = 0; i < c.n; i++)
				if (c.v[i].key)
					c.v[k++] = c.v[i];
				else if (c.v[i].name)
					free(c.v[i].name);
			c.n = k;
		}
		if (pre.oom)
			c.oom = true;
		rc = add_step(s, &out, &c, true, err);
		if (!rc)
			rc = add_step(s, &out, &pre, false, err);
		else
			cc_matches_free(pre.v, pre.n);
		if (rc)
			goto cleanup;
	} else {
		/* The store answers one entry per prefix: ask for the entry
		 * of this identity (or, without one, the newest of any) and
		 * for the legacy entry by name, then for the key as a
		 * prefix, which finds only the newest entry under it. */
		size_t base = name.len;

		c.only_key = key;
		if (version) {
			rc = store_entry_name(&name, key, version, err);
			if (!rc)
				rc = collect_stat(s, name.data, &c, err);
		} else if (!(rc = buf_addstr(&name, STORE_VERSION_SEP, err))) {
			rc = s->ops->list(s, name.data, collect, &c, err);
		}
		buf_setlen(&name, base);
		if (!rc)
			rc = collect_stat(s, name.data, &c, err);
		if (rc || (rc = add_step(s, &out, &c, true, err))) {
			cc_matches_free(c.v, c.n);
			goto cleanup;
		}
		c.only_key = NULL;
		c.not_key = key;
		if ((rc = s->ops->list(s, name.data, collect, &c, err)) ||
		    (rc = add_step(s, &out, &c, false, err))) {
			cc_matches_free(c.v, c.n);
			goto cleanup;
		}
		c.not_key = NULL;
	}
	for (size_t k = 0; k < nrk; k++) {
		if ((rc = store_key_name(&name, restore_keys[k], err)) ||
		    (rc = s->ops->list(s, name.data, collect, &c, err)) ||
		    (rc = add_step(s, &out, &c, false, err))) {
			cc_matches_free(c.v, c.n);
			goto cleanup;
		}
	}
cleanup:
	buf_release(&name);
	buf_release(&c.kb);
	if (rc) {
		cc_matches_free(out.v, out.n);
		return rc;
	}
	*ret = out.v;
	*ret_n = out.n;
	return CC_OK;
}

/* ------------------------------------------------------------------ */
/* the verified data stream */

struct frame_cache {
	uint32_t pack;
	uint64_t off;
	uint32_t ulen;
	bool valid;
	unsigned long used;
	unsigned char *data;
};

struct dstream {
	struct store *store;
	struct mf_reader *mr;
	struct mf_chunk cur;
	bool have;		/* cur holds a chunk */
	uint32_t pos;		/* bytes of cur consumed */
	const unsigned char *data;	/* cur's bytes once fetched and verified */
	struct frame_cache cache[NCACHE];
	unsigned long tick;
	struct buf cbuf;
	ZSTD_DCtx *dc;
	struct prefetch *pf;	/* remote stores: frames read ahead */
	bool noted;		/* the damaged pack was noted in the store */
	uint64_t *pack_end;	/* dry run: where each pack's last frame read ends */
};

static void ds_release(struct dstream *ds)
{
	prefetch_stop(ds->pf);
	for (int i = 0; i < NCACHE; i++)
		free(ds->cache[i].data);
	buf_release(&ds->cbuf);
	ZSTD_freeDCtx(ds->dc);
	memset(ds, 0, sizeof(*ds));
}

static enum cc_code ds_next(struct dstream *ds, const char *what, struct cc_err *err)
{
	bool end;
	enum cc_code rc;

	if (ds->have && ds->pos < ds->cur.len)
		return CC_OK;
	if ((rc = mf_next_chunk(ds->mr, &ds->cur, &end, err)))
		return rc;
	if (end)
		return cc_err_set(err, CC_ECORRUPT, 0, "data of '%s' runs past the last chunk", what);
	ds->have = true;
	ds->pos = 0;
	ds->data = NULL;
	if (ds->pack_end) {
		uint64_t fend = ds->cur.frame.off + ds->cur.frame.clen;

		if (ds->pack_end[ds->cur.frame.pack] < fend)
			ds->pack_end[ds->cur.frame.pack] = fend;
	}
	return CC_OK;
}

/* Reads frame f into slot->data: from the prefetcher when it has it,
 * else from the store. */
static enum cc_code ds_fill(struct dstream *ds, struct frame_cache *slot, const struct mf_frame *f,
			    bool use_prefetch, const char *what, struct cc_err *err)
{
	char name[STORE_PACK_NAME_SIZE];
	unsigned char *pre = NULL;
	const unsigned char *src;
	enum cc_code rc = CC_OK;
	size_t n;

	store_pack_name(name, STORE_PACKS_PREFIX, &ds->mr->packs[f->pack]);
	if (use_prefetch && ds->pf && (rc = prefetch_take(ds->pf, f, &pre, err)))
		return rc;
	if (f->codec == FRAME_RAW) {
		if (pre)
			memcpy(slot->data, pre, f->clen);
		else
			rc = ds->store->ops->get_range(ds->store, name, f->off, f->clen, slot->data, err);
		free(pre);
		return rc;
	}
	if (!(src = pre)) {
		buf_reset(&ds->cbuf);
		if ((rc = buf_grow(&ds->cbuf, f->clen, err)) ||
		    (rc = ds->store->ops->get_range(ds->store, name, f->off, f->clen, ds->cbuf.data,
						    err)))
			return rc;
		src = (const unsigned char *)ds->cbuf.data;
	}
	n = ZSTD_decompressDCtx(ds->dc, slot->data, f->ulen, src, f->clen);
	free(pre);
	if (ZSTD_isError(n) || n != f->ulen)
		return cc_err_set(err, CC_ECORRUPT, 0,
				  "data of '%s' is corrupt: pack %.*s at %llu does not decompress (%s)",
				  what, CC_ID_HEX_LEN, name + strlen(STORE_PACKS_PREFIX),
				  (unsigned long long)f->off,
				  ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong length");
	return CC_OK;
}

/* A frame of the pack failed every check (or the pack is shorter than
 * it): a reader never deletes or rewrites a store object, since other
 * entries may still read intact frames of the pack and a save may be
 * about to reference it.  It leaves a note instead, a new object written
 * at most once (docs/format.md, "Damaged packs"), that tells the next
 * save not to reuse the pack's frames, so the chunks are stored again
 * and the store heals.  A store that refuses the write (read-only
 * credentials) costs a warning only. */
static void note_damaged_pack(struct dstream *ds, const struct mf_frame *f)
{
	struct store *s = ds->store;
	const struct cc_id *id = &ds->mr->packs[f->pack];
	char hex[CC_ID_HEX_LEN + 1], name[STORE_PACK_NAME_SIZE];
	struct buf tmp = BUF_INIT, line = BUF_INIT;
	struct cc_err e;
	bool existed = false;
	int fd;

	if (ds->noted)
		return;
	ds->noted = true;
	cc_err_clear(&e);
	cc_id_hex(id, hex);
	store_pack_name(name, STORE_DAMAGED_PREFIX, id);
	fd = store_tmpfile(s, &tmp, &e);
	if (fd < 0)
		goto cleanup;
	if (buf_addf(&line, &e, "cicache damaged pack 1\npack %s\nframe %llu %u\n", hex,
		     (unsigned long long)f->off, f->clen)) {
		close(fd);
		goto cleanup;
	}
	if (write_all(fd, line.data, line.len) || close(fd)) {
		cc_err_set(&e, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
		goto cleanup;
	}
	if (s->ops->put(s, name, tmp.data, STORE_PUT_MOVE | STORE_PUT_IF_ABSENT, &existed, &e))
		goto cleanup;
	if (!existed)
		cc_warn("noted the damaged pack '%s%s.pack' in the store as '%s': the next save "
			"stores its data again", STORE_PACKS_PREFIX, hex, name);
cleanup:
	if (e.code)
		cc_warn("the pack '%s%s.pack' is damaged, and the note for the next save cannot be "
			"written: %s", STORE_PACKS_PREFIX, hex, e.msg);
	if (tmp.len)
		unlink(tmp.data);
	buf_release(&tmp);
	buf_release(&line);
}

static enum cc_code ds_load(struct dstream *ds, const char *what, struct cc_err *err)
{
	const struct mf_frame *f = &ds->cur.frame;
	struct frame_cache *slot = NULL, *victim = &ds->cache[0];
	/* Bytes from a remote store may have been damaged on the way: a
	 * frame that fails is read once more before the data is called
	 * corrupt. */
	int tries = (ds->store->ops->caps & STORE_CAP_REMOTE) ? 2 : 1;
	struct cc_id id;
	enum cc_code rc = CC_OK;

	for (int i = 0; i < NCACHE; i++) {
		struct frame_cache *c = &ds->cache[i];

		if (c->valid && c->pack == f->pack && c->off == f->off && c->ulen == f->ulen) {
			slot = c;
			break;
		}
		if (!c->valid || c->used < victim->used)
			victim = c;
	}
	for (int t = 0; t < tries; t++) {
		if (t)
			cc_debug("%s; reading its frame again", err->msg);
		if (!slot || t) {
			if (!slot)
				slot = victim;
			slot->valid = false;
			if (!slot->data && !(slot->data = malloc(MF_MAX_FRAME)))
				return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate a frame buffer");
			rc = ds_fill(ds, slot, f, t == 0, what, err);
			if (rc == CC_ECORRUPT)
				continue;
			if (rc)
				return rc;
			slot->pack = f->pack;
			slot->off = f->off;
			slot->ulen = f->ulen;
			slot->valid = true;
		}
		slot->used = ++ds->tick;
		cc_id_of(&id, slot->data + ds->cur.off, ds->cur.len);
		if (cc_id_eq(&id, &ds->cur.id)) {
			ds->data = slot->data + ds->cur.off;
			return CC_OK;
		}
		rc = cc_err_set(err, CC_ECORRUPT, 0, "data of '%s' failed verification", what);
	}
	if (slot)
		slot->valid = false;
	if (rc == CC_ECORRUPT)
		note_damaged_pack(ds, f);
	return rc;
}

/* Consumes n bytes of the stream: writes them to fd (at off) when fd >= 0,
 * copies them to mem when mem is not NULL, else only skips them (a skip
 * never fetches data). */
static enum cc_code ds_take(struct dstream *ds, uint64_t n, int fd, uint64_t off,
			    unsigned char *mem, const char *what, struct cc_err *err)
{
	enum cc_code rc;

	while (n) {
		size_t k;

		if (cc_cancelled())	/* a big file is no reason to wait */
			return cc_err_set(err, CC_EINTERNAL, EINTR, "interrupted by a signal at '%s'", what);
		if ((rc = ds_next(ds, what, err)))
			return rc;
		k = ds->cur.len - ds->pos;
		if (k > n)
			k = (size_t)n;
		if (mem) {
			if (!ds->data && (rc = ds_load(ds, what, err)))
				return rc;
			memcpy(mem, ds->data + ds->pos, k);
			mem += k;
		} else if (fd >= 0) {
			const unsigned char *p;
			size_t left = k;

			if (!ds->data && (rc = ds_load(ds, what, err)))
				return rc;
			p = ds->data + ds->pos;
			if (pwrite_all(fd, p, left, (off_t)off))
				return cc_err_set(err, CC_EDEST, errno, "cannot write '%s'", what);
			off += left;
		}
		ds->pos += (uint32_t)k;
		n -= k;
	}
	return CC_OK;
}

/* ------------------------------------------------------------------ */
/* opening an entry */

struct cc_entry {
	struct store *store;
	struct mf_reader mr;
	bool opened;
	int fd;			/* the manifest's copy: a file without a name */
	char **roots;
	size_t nroots;
	uint64_t *pack_end;	/* per pack: end of the last frame the chunks read */
	char *name;		/* its keys/ object */
};

void cc_entry_close(struct cc_entry *e)
{
	if (!e)
		return;
	if (e->opened)
		mf_close(&e->mr);
	if (e->fd >= 0)
		close(e->fd);
	for (size_t i = 0; i < e->nroots; i++)
		free(e->roots[i]);
	free(e->roots);
	free(e->name);
	free(e->pack_end);
	free(e);
}

const struct mf_header *cc_entry_header(const struct cc_entry *e)
{
	return &e->mr.hdr;
}

size_t cc_entry_roots(const struct cc_entry *e, const char *const **ret)
{
	*ret = (const char *const *)e->roots;
	return e->nroots;
}

static enum cc_code walk(struct cc_entry *ent, const struct restore_opts *o, bool dry,
			 struct restore_stats *st, struct cc_err *err);

enum cc_code cc_entry_check_packs(struct cc_entry *e, struct cc_err *err)
{
	struct mf_reader *r = &e->mr;
	enum cc_code rc = CC_OK;

	for (uint64_t i = 0; i < r->hdr.n_packs && !rc; i++) {
		char name[STORE_PACK_NAME_SIZE];
		struct store_object o = { 0 };
		bool found;

		if (!e->pack_end[i])
			continue;
		store_pack_name(name, STORE_PACKS_PREFIX, &r->packs[i]);
		if ((rc = e->store->ops->stat(e->store, name, &found, &o, err)))
			break;
		if (!found)
			rc = cc_err_set(err, CC_ECORRUPT, 0, "pack '%s' is missing from the store",
					name);
		else if (!(e->store->ops->caps & STORE_CAP_NO_SIZE) && o.size < e->pack_end[i])
			rc = cc_err_set(err, CC_ECORRUPT, 0,
					"pack '%s' is truncated: %llu bytes, its frames end at %llu",
					name, (unsigned long long)o.size,
					(unsigned long long)e->pack_end[i]);
	}
	return rc;
}

enum cc_code cc_entry_open(struct store *s, const char *name, const char *key,
			   struct cc_entry **ret, struct cc_err *err)
{
	struct cc_entry *e = calloc(1, sizeof(*e));
	const char *tmpdir = getenv("TMPDIR");
	bool found;
	enum cc_code rc;

	*ret = NULL;
	if (!e)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	e->store = s;
	e->fd = -1;
	if (!(e->name = strdup(name))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	/* Nameless, so nothing is left behind however the restore ends; the
	 * prefetcher reads it through the same fd (pread). */
	e->fd = tmpfile_unnamed(tmpdir);
	if (e->fd < 0) {
		rc = cc_err_set(err, CC_EDEST, errno, "cannot create a temporary file in '%s'", tmpdir);
		goto cleanup;
	}
	if ((rc = s->ops->get_file(s, name, e->fd, MF_MAX_SIZE, &found, err)))
		goto cleanup;
	if (!found) {
		rc = cc_err_set(err, CC_ECORRUPT, 0, "entry '%s' disappeared from the store", key);
		goto cleanup;
	}
	if ((rc = mf_open(&e->mr, e->fd, err)))
		goto cleanup;
	e->opened = true;
	if (strcmp(e->mr.key, key)) {
		rc = cc_err_set(err, CC_ECORRUPT, 0, "entry '%s' holds the manifest of '%s'", key,
				e->mr.key);
		goto cleanup;
	}
	/* The dry run checks every record and the tree shape before a single
	 * file is written, and collects the roots and where each pack's
	 * frames end. */
	if (!(e->pack_end = calloc(e->mr.hdr.n_packs ? e->mr.hdr.n_packs : 1,
				   sizeof(*e->pack_end)))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	if ((rc = walk(e, NULL, true, NULL, err)) || (rc = mf_rewind(&e->mr, err)))
		goto cleanup;
	*ret = e;
	e = NULL;
cleanup:
	if (e)
		cc_entry_close(e);
	return rc;
}

/* ------------------------------------------------------------------ */
/* writing */

/* A directory being restored.  The walk holds one reference while the
 * directory is on its stack, each queued file job one more; whoever drops
 * the last applies the directory's mode and times (after every entry in
 * it exists, so its mtime sticks) and closes it. */
struct dirref {
	int fd;
	int refs;
	uint32_t mode, uid, gid;
	struct timespec times[2];
};

struct level {
	size_t len;		/* length of this directory's path in dirpath */
	struct dirref *dir;	/* NULL in the dry run and for skipped roots */
	struct buf last;	/* the name of its previous entry */
};

/* A small file handed to a writer thread, with its data. */
struct wjob {
	struct dirref *dir;
	char *name, *what;
	unsigned char *data;
	size_t len;
	uint32_t mode, uid, gid;
	struct timespec times[2];
	struct wjob *next;
};

#define MAX_WRITERS 8
#define WJOB_MAX_FILE (1u << 20)	/* larger files are written in line */
#define WJOB_MAX_BYTES (64u << 20)	/* data waiting in the queue */
#define WJOB_MAX_JOBS 4096

struct walker {
	struct cc_entry *ent;
	const struct restore_opts *o;
	struct restore_stats *st;
	struct cc_err *err;
	bool dry, selected;
	struct dest dest;	/* the writer of everything under the roots */
	struct dstream ds;
	struct level *stack;
	size_t depth;
	struct buf dirpath;	/* path of the top directory */
	struct buf root_abs;	/* destination of the current root */
	struct buf what;	/* path for messages */
	int parent_fd;		/* the directory holding the root */
	size_t root_idx;	/* the root's number in dest */
	const char *root_base;	/* the root's name in parent_fd */
	bool root_seen;		/* the root's own record was read */
	bool root_is_dir;
	struct strset links;	/* link targets restored in this root */
	struct cc_progress prog;
	double last_progress;

	/* Writer threads: creating files is system-call bound, and two
	 * threads creating files overlap in the kernel. */
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_idle;
	pthread_t threads[MAX_WRITERS];
	int nthreads;
	bool stop;
	struct wjob *qhead, *qtail;
	size_t busy, queued_bytes;	/* jobs queued or running, their data */
	bool wfailed;
	struct cc_err werr;		/* first failure of any thread */
};

/* wfailed is written under mu, and also read without it (a writer that
 * can skip its work): both through these atomics. */
static bool any_failed(struct walker *w)
{
	return __atomic_load_n(&w->wfailed, __ATOMIC_ACQUIRE);
}

static void fail(struct walker *w, const struct cc_err *e)
{
	pthread_mutex_lock(&w->mu);
	if (!w->wfailed) {
		w->werr = *e;
		__atomic_store_n(&w->wfailed, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&w->mu);
}

/* @return the first failure recorded by any thread, copied to err. */
static enum cc_code failed(struct walker *w, struct cc_err *err)
{
	enum cc_code rc = CC_OK;

	pthread_mutex_lock(&w->mu);
	if (w->wfailed) {
		*err = w->werr;
		rc = w->werr.code;
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static void dir_unref(struct walker *w, struct dirref *d)
{
	struct cc_err e;
	bool last;

	if (!d)
		return;
	pthread_mutex_lock(&w->mu);
	last = --d->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (!last)
		return;
	cc_err_clear(&e);
	if (!any_failed(w)) {
		if (w->o->same_owner && fchown(d->fd, d->uid, d->gid))
			cc_err_set(&e, CC_EDEST, errno, "cannot set the owner of a directory");
		else if (fchmod(d->fd, d->mode))
			cc_err_set(&e, CC_EDEST, errno, "cannot set the mode of a directory");
		else if (futimens(d->fd, d->times))
			cc_err_set(&e, CC_EDEST, errno, "cannot set the time of a directory");
		if (e.code)
			fail(w, &e);
	}
	close(d->fd);
	free(d);
}

static void pop(struct walker *w)
{
	struct level *l = &w->stack[--w->depth];

	dir_unref(w, l->dir);
	l->dir = NULL;
}

static void set_what(struct walker *w, const char *path)
{
	buf_reset(&w->what);
	buf_addf(&w->what, NULL, "%s%s%s", w->root_abs.data, *path ? "/" : "", path);
}

static uint32_t file_mode(const struct walker *w, uint32_t mode)
{
	/* Without --same-owner the files belong to whoever restores them:
	 * a set-id bit from the cache must not come with them. */
	return w->o->same_owner ? mode : mode & ~(uint32_t)(S_ISUID | S_ISGID);
}

/* Sets the metadata of a written file and puts it in place (or drops
 * it on failure). */
static enum cc_code finish_file(struct walker *w, struct dest_file *f, const char *what,
				uint32_t mode, uint32_t uid, uint32_t gid,
				const struct timespec times[2], struct cc_err *err)
{
	enum cc_code rc = CC_OK;

	if (w->o->same_owner && fchown(f->fd, uid, gid))
		rc = cc_err_set(err, CC_EDEST, errno, "cannot set the owner of '%s'", what);
	else if (fchmod(f->fd, file_mode(w, mode)))
		rc = cc_err_set(err, CC_EDEST, errno, "cannot set the mode of '%s'", what);
	else if (futimens(f->fd, times))
		rc = cc_err_set(err, CC_EDEST, errno, "cannot set the time of '%s'", what);
	if (rc) {
		dest_file_abort(f);
		return rc;
	}
	return dest_file_commit(f, what, err);
}

static void wjob_free(struct wjob *j)
{
	free(j->name);
	free(j->what);
	free(j->data);
	free(j);
}

static void run_job(struct walker *w, struct wjob *j)
{
	struct dest_file f;
	struct cc_err e;

	cc_err_clear(&e);
	if (any_failed(w))
		return;
	if (dest_file_create(&w->dest, &f, j->dir->fd, j->name, j->what, &e) < 0) {
		fail(w, &e);
		return;
	}
	if (write_all(f.fd, j->data, j->len)) {
		cc_err_set(&e, CC_EDEST, errno, "cannot write '%s'", j->what);
		dest_file_abort(&f);
		fail(w, &e);
		return;
	}
	if (finish_file(w, &f, j->what, j->mode, j->uid, j->gid, j->times, &e))
		fail(w, &e);
}

static void *writer_main(void *arg)
{
	struct walker *w = arg;

	for (;;) {
		struct wjob *j;

		pthread_mutex_lock(&w->mu);
		while (!w->qhead && !w->stop)
			pthread_cond_wait(&w->cv_work, &w->mu);
		j = w->qhead;
		if (!j) {
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		w->qhead = j->next;
		if (!w->qhead)
			w->qtail = NULL;
		pthread_mutex_unlock(&w->mu);

		run_job(w, j);
		dir_unref(w, j->dir);

		pthread_mutex_lock(&w->mu);
		w->busy--;
		w->queued_bytes -= j->len;
		if (!w->wfailed) {
			w->st->files++;
			w->st->bytes += j->len;
		}
		pthread_cond_broadcast(&w->cv_idle);
		pthread_mutex_unlock(&w->mu);
		wjob_free(j);
	}
}

static void writers_start(struct walker *w)
{
	long n = w->o->jobs > 0 ? w->o->jobs : sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 0)
		n = 0;
	if (n > MAX_WRITERS)
		n = MAX_WRITERS;
	while (w->nthreads < n && !pthread_create(&w->threads[w->nthreads], NULL, writer_main, w))
		w->nthreads++;
}

/* Waits until every queued file is written. */
static void writers_barrier(struct walker *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv_idle, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

static void writers_stop(struct walker *w)
{
	writers_barrier(w);
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv_work);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	w->nthreads = 0;
}

static void dispatch(struct walker *w, struct wjob *j)
{
	pthread_mutex_lock(&w->mu);
	while ((w->busy >= WJOB_MAX_JOBS || w->queued_bytes >= WJOB_MAX_BYTES) && !w->wfailed)
		pthread_cond_wait(&w->cv_idle, &w->mu);
	j->dir->refs++;
	j->next = NULL;
	if (w->qtail)
		w->qtail->next = j;
	else
		w->qhead = j;
	w->qtail = j;
	w->busy++;
	w->queued_bytes += j->len;
	pthread_cond_signal(&w->cv_work);
	pthread_mutex_unlock(&w->mu);
}

static enum cc_code make_dir(struct walker *w, int dfd, const char *name,
			     const struct mf_entry *e, bool root, struct cc_err *err)
{
	struct level *l;
	struct dirref *d;
	int fd;

	if (w->depth == STACK_MAX)
		return cc_err_set(err, CC_ECORRUPT, 0, "directories nested too deeply at '%s'",
				  w->what.data);
	l = &w->stack[w->depth];
	l->dir = NULL;
	l->len = e->path.len;
	buf_reset(&l->last);
	w->depth++;
	if (w->dry || !w->selected)
		return CC_OK;
	fd = root ? dest_root_dir(&w->dest, w->root_idx, dfd, name, 0700, w->what.data, err)
		  : dest_enter_dir(&w->dest, dfd, name, 0700, w->what.data, err);
	if (fd < 0)
		return err->code;
	d = calloc(1, sizeof(*d));
	if (!d) {
		close(fd);
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	d->fd = fd;
	d->refs = 1;
	d->mode = e->mode & 07777;
	d->uid = e->uid;
	d->gid = e->gid;
	d->times[0].tv_sec = d->times[1].tv_sec = e->mtime_sec;
	d->times[0].tv_nsec = d->times[1].tv_nsec = e->mtime_nsec;
	l->dir = d;
	w->st->dirs++;
	return CC_OK;
}

static enum cc_code make_file(struct walker *w, struct dirref *dir, int dfd, const char *name,
			      const struct mf_entry *e, struct cc_err *err)
{
	uint64_t len = mf_entry_data_len(e);
	struct timespec times[2];
	struct dest_file f;
	enum cc_code rc = CC_OK;

	if (w->dry || !w->selected)
		return ds_take(&w->ds, len, -1, 0, NULL, w->what.data, err);
	times[0].tv_sec = times[1].tv_sec = e->mtime_sec;
	times[0].tv_nsec = times[1].tv_nsec = e->mtime_nsec;
	/* Small dense files inside a directory go to the writer threads with
	 * their data; a hard-link target is written here, so it exists when
	 * the link comes. */
	if (dir && w->nthreads && !(e->flags & (MF_F_SPARSE | MF_F_LINK_TARGET)) &&
	    e->size <= WJOB_MAX_FILE) {
		struct wjob *j = calloc(1, sizeof(*j));

		if (!j || !(j->name = strdup(name)) || !(j->what = strdup(w->what.data)) ||
		    !(j->data = malloc(e->size ? e->size : 1))) {
			if (j)
				wjob_free(j);
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		}
		if ((rc = ds_take(&w->ds, e->size, -1, 0, j->data, w->what.data, err))) {
			wjob_free(j);
			return rc;
		}
		j->dir = dir;
		j->len = (size_t)e->size;
		j->mode = e->mode;
		j->uid = e->uid;
		j->gid = e->gid;
		j->times[0] = times[0];
		j->times[1] = times[1];
		dispatch(w, j);
		return CC_OK;
	}
	if (dest_file_create(&w->dest, &f, dfd, name, w->what.data, err) < 0)
		return err->code;
	if (e->flags & MF_F_SPARSE) {
		if (ftruncate(f.fd, (off_t)e->size))
			rc = cc_err_set(err, CC_EDEST, errno, "cannot size '%s'", w->what.data);
		for (size_t i = 0; i < e->nextents && !rc; i++)
			rc = ds_take(&w->ds, e->extents[i].len, f.fd, e->extents[i].off, NULL,
				     w->what.data, err);
	} else {
		rc = ds_take(&w->ds, e->size, f.fd, 0, NULL, w->what.data, err);
	}
	if (rc) {
		dest_file_abort(&f);
		return rc;
	}
	if ((rc = finish_file(w, &f, w->what.data, e->mode, e->uid, e->gid, times, err)))
		return rc;
	pthread_mutex_lock(&w->mu);
	w->st->files++;
	w->st->bytes += e->size;
	pthread_mutex_unlock(&w->mu);
	return CC_OK;
}

static enum cc_code make_symlink(struct walker *w, int dfd, const char *name,
				 const struct mf_entry *e, struct cc_err *err)
{
	struct timespec times[2];
	enum cc_code rc;

	if (w->dry || !w->selected)
		return CC_OK;
	times[0].tv_sec = times[1].tv_sec = e->mtime_sec;
	times[0].tv_nsec = times[1].tv_nsec = e->mtime_nsec;
	if ((rc = dest_symlink(&w->dest, dfd, name, e->target.data, times, w->o->same_owner,
			       e->uid, e->gid, w->what.data, err)))
		return rc;
	w->st->symlinks++;
	return CC_OK;
}

static enum cc_code make_hardlink(struct walker *w, int dfd, const char *name,
				  const struct mf_entry *e, struct cc_err *err)
{
	const char *tname;
	enum cc_code rc = CC_OK;
	int tfd;

	/* Only to a file this same restore created in this root. */
	if (!w->root_is_dir || !strset_has(&w->links, e->target.data))
		return cc_err_set(err, CC_ECORRUPT, 0,
				  "corrupt manifest: hard link '%s' points at '%s', not an earlier file of the entry",
				  w->what.data, e->target.data);
	if (w->dry || !w->selected)
		return CC_OK;
	tfd = dest_open_parent(w->stack[0].dir->fd, e->target.data, &tname);
	if (tfd < 0)
		return cc_err_set(err, CC_EDEST, errno, "cannot open the target of '%s'", w->what.data);
	rc = dest_hardlink(&w->dest, tfd, tname, dfd, name, w->what.data, err);
	close(tfd);
	if (!rc)
		w->st->hardlinks++;
	return rc;
}

/* Ends the current root: drops the directories, waits for the writers
 * (the last of them applies each directory's metadata).
 * @return the first failure of any thread. */
static enum cc_code finish_root(struct walker *w, struct cc_err *err)
{
	while (w->depth)
		pop(w);
	writers_barrier(w);
	if (w->parent_fd >= 0) {
		close(w->parent_fd);
		w->parent_fd = -1;
	}
	strset_clear(&w->links);
	return failed(w, err);
}

static bool spec_in(const char *const *list, size_t n, const char *spec)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], spec))
			return true;
	return false;
}

/* The one rule for which roots are written: those named in opts->only,
 * or (with no --only) those landing under home or cwd and those named
 * with --path (opts->allow). */
static bool root_wanted(const struct restore_opts *o, const char *spec, bool contained)
{
	if (o->only)
		return spec_in(o->only, o->nonly, spec);
	return contained || spec_in(o->allow, o->nallow, spec);
}

/* A "~" spec while HOME is unset or not absolute has no place: such a
 * root is passed over (the others restore), as the lookup says too. */
static bool home_unusable(const struct restore_opts *o, const char *spec)
{
	return spec[0] == '~' && (!spec[1] || spec[1] == '/') && (!o->home || o->home[0] != '/');
}

static enum cc_code start_root(struct walker *w, const char *spec, struct cc_err *err)
{
	bool contained;
	enum cc_code rc;

	if ((rc = finish_root(w, err)))
		return rc;
	w->root_seen = false;
	w->root_is_dir = false;
	buf_reset(&w->dirpath);
	if (w->dry) {
		char **x = realloc(w->ent->roots, (w->ent->nroots + 1) * sizeof(*x));

		if (!x || !(x[w->ent->nroots] = strdup(spec))) {
			if (x)
				w->ent->roots = x;
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		}
		w->ent->roots = x;
		w->ent->nroots++;
		w->selected = false;
		return CC_OK;
	}
	if (home_unusable(w->o, spec)) {
		cc_warn("not restoring '%s': HOME is %s", spec, w->o->home ? "not an absolute path"
								     : "not set");
		w->st->skipped_roots++;
		w->selected = false;
		return CC_OK;
	}
	rc = cc_path_resolve(spec, w->o->cwd, w->o->home, &w->root_abs, &contained, err);
	if (rc)
		return rc;
	if (!strcmp(w->root_abs.data, "/"))
		return cc_err_set(err, CC_ECORRUPT, 0, "refusing to restore over '/'");
	w->selected = root_wanted(w->o, spec, contained);
	if (!w->selected && !w->o->only)
		cc_warn("not restoring '%s': it lies outside the home and current directories; "
			"name it with --path or --only to restore it", spec);
	if (!w->selected) {
		w->st->skipped_roots++;
		return CC_OK;
	}
	w->st->roots++;
	cc_debug("restoring '%s' to '%s'", spec, w->root_abs.data);
	w->parent_fd = dest_root_parent(&w->dest, w->root_abs.data, &w->root_idx, &w->root_base,
					err);
	return w->parent_fd < 0 ? err->code : CC_OK;
}

static enum cc_code place_entry(struct walker *w, const struct mf_entry *e, struct cc_err *err)
{
	const char *name;
	struct dirref *dir = NULL;
	int dfd;
	enum cc_code rc;

	set_what(w, e->path.data);
	if (!e->path.len) {
		/* The root's own record: the first of its root, exactly once. */
		if (w->root_seen)
			return cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: second root record");
		w->root_seen = true;
		w->root_is_dir = e->type == MF_DIR;
		if (e->type == MF_HARDLINK)
			return cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: root is a hard link");
		name = w->root_base;
		dfd = w->parent_fd;
	} else {
		if (!w->root_seen || !w->root_is_dir)
			return cc_err_set(err, CC_ECORRUPT, 0,
					  "corrupt manifest: '%s' is not inside a directory", e->path.data);
		/* Climb until the top of the stack is this entry's parent. */
		for (;;) {
			size_t L = w->depth ? w->stack[w->depth - 1].len : 0;

			if (!w->depth)
				return cc_err_set(err, CC_ECORRUPT, 0,
						  "corrupt manifest: '%s' comes without its parent directory",
						  e->path.data);
			if ((L == 0 || (e->path.len > L && e->path.data[L] == '/' &&
					!memcmp(e->path.data, w->dirpath.data, L))) &&
			    !strchr(e->path.data + (L ? L + 1 : 0), '/'))
				break;
			pop(w);
			buf_setlen(&w->dirpath, w->depth ? w->stack[w->depth - 1].len : 0);
		}
		{
			struct level *l = &w->stack[w->depth - 1];
			size_t L = l->len;

			name = e->path.data + (L ? L + 1 : 0);
			/* A save lists each directory in strcmp order: a name
			 * out of order, or twice, is no manifest of ours, and
			 * two records racing for one name are refused here. */
			if (l->last.len && strcmp(name, l->last.data) <= 0)
				return cc_err_set(err, CC_ECORRUPT, 0,
						  "corrupt manifest: '%s' is out of order or given twice",
						  e->path.data);
			buf_reset(&l->last);
			if ((rc = buf_addstr(&l->last, name, err)))
				return rc;
			dir = w->stack[w->depth - 1].dir;
			dfd = dir ? dir->fd : -1;
		}
	}
	switch (e->type) {
	case MF_DIR:
		if ((rc = make_dir(w, dfd, name, e, !e->path.len, err)))
			return rc;
		buf_reset(&w->dirpath);
		return buf_add(&w->dirpath, e->path.data, e->path.len, err);
	case MF_FILE:
		if ((rc = make_file(w, dir, dfd, name, e, err)))
			return rc;
		if ((e->flags & MF_F_LINK_TARGET) && (rc = strset_add(&w->links, e->path.data, err)))
			return rc;
		return CC_OK;
	case MF_SYMLINK:
		return make_symlink(w, dfd, name, e, err);
	case MF_HARDLINK:
		return make_hardlink(w, dfd, name, e, err);
	}
	return cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: unknown entry type");
}

static enum cc_code walk(struct cc_entry *ent, const struct restore_opts *o, bool dry,
			 struct restore_stats *st, struct cc_err *err)
{
	static const struct restore_opts none;
	struct restore_stats dummy = { 0 };
	struct walker w = { 0 };
	struct mf_entry e;
	struct buf root = BUF_INIT;
	enum cc_code rc = CC_OK;

	mf_entry_init(&e);
	w.ent = ent;
	w.o = o ? o : &none;
	w.st = st ? st : &dummy;
	w.err = err;
	w.dry = dry;
	w.parent_fd = -1;
	dest_init(&w.dest, "the cache", w.o->cwd, w.o->home, w.o->keep_dir_symlink);
	w.ds.store = ent->store;
	w.ds.mr = &ent->mr;
	w.ds.pack_end = dry ? ent->pack_end : NULL;
	w.prog.phase = "restoring";
	w.prog.files_total = ent->mr.hdr.n_files;
	w.prog.bytes_total = ent->mr.hdr.data_bytes;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv_work, NULL);
	pthread_cond_init(&w.cv_idle, NULL);
	buf_init(&w.dirpath, 0);
	buf_init(&w.root_abs, 0);
	buf_init(&w.what, 0);
	buf_init(&w.ds.cbuf, MF_MAX_FRAME + (MF_MAX_FRAME >> 4) + 1024);
	w.stack = calloc(STACK_MAX, sizeof(*w.stack));
	for (size_t i = 0; w.stack && i < STACK_MAX; i++)
		buf_init(&w.stack[i].last, MF_MAX_NAME + 1);
	w.ds.dc = ZSTD_createDCtx();
	if (!w.stack || !w.ds.dc) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	ZSTD_DCtx_setParameter(w.ds.dc, ZSTD_d_windowLogMax, 23);
	if (!dry)
		writers_start(&w);
	if (!dry && (ent->store->ops->caps & STORE_CAP_REMOTE) &&
	    (rc = prefetch_start(&w.ds.pf, ent->store, ent->fd, err)))
		goto cleanup;
	for (;;) {
		enum mf_item item;

		if (cc_cancelled()) {
			rc = cc_err_set(err, CC_EINTERNAL, EINTR, "interrupted by a signal");
			break;
		}
		if ((rc = mf_next(&ent->mr, &item, &root, &e, err)))
			break;
		if (item == MF_ITEM_END)
			break;
		if (item == MF_ITEM_ROOT) {
			if (w.ent->mr.seen_roots > 1 && !w.root_seen) {
				rc = cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: root without records");
				break;
			}
			if ((rc = start_root(&w, root.data, err)))
				break;
			continue;
		}
		if ((rc = place_entry(&w, &e, err)) || (!dry && (rc = failed(&w, err))))
			break;
		if (!dry && e.type == MF_FILE) {
			double t = now_monotonic();

			w.prog.files_done++;
			w.prog.bytes_done += e.size;
			if (t - w.last_progress >= 0.1) {
				w.last_progress = t;
				cc_progress(&w.prog);
			}
		}
	}
	if (!rc && ent->mr.seen_roots && !w.root_seen)
		rc = cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: root without records");
	if (!rc) {
		bool end = false;
		struct mf_chunk c;

		/* All data must have been consumed, and the chunk stream's own
		 * end record checked. */
		if (w.ds.have && w.ds.pos < w.ds.cur.len)
			rc = cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: chunk data left over");
		else if (!(rc = mf_next_chunk(&ent->mr, &c, &end, err)) && !end)
			rc = cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: chunk data left over");
	}
	{
		enum cc_code r2 = finish_root(&w, err);

		if (!rc)
			rc = r2;
	}
	if (!rc && !dry)
		cc_progress(&w.prog);
cleanup:
	/* On failure: stop the writers first, then let go of the
	 * directories they may still hold. */
	if (rc)
		fail(&w, err);
	writers_stop(&w);
	while (w.depth)
		pop(&w);
	if (w.parent_fd >= 0)
		close(w.parent_fd);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv_work);
	pthread_cond_destroy(&w.cv_idle);
	strset_release(&w.links);
	dest_release(&w.dest);
	for (size_t i = 0; w.stack && i < STACK_MAX; i++)
		buf_release(&w.stack[i].last);
	free(w.stack);
	ds_release(&w.ds);
	buf_release(&w.dirpath);
	buf_release(&w.root_abs);
	buf_release(&w.what);
	buf_release(&root);
	mf_entry_release(&e);
	return rc;
}

/* @return whether root i of e is written with options o; *ret_abs is
 * its destination then. */
static bool root_restored(struct cc_entry *e, size_t i, const struct restore_opts *o,
			  struct buf *ret_abs)
{
	bool contained;

	return !home_unusable(o, e->roots[i]) &&
	       !cc_path_resolve(e->roots[i], o->cwd, o->home, ret_abs, &contained, NULL) &&
	       strcmp(ret_abs->data, "/") && root_wanted(o, e->roots[i], contained);
}

size_t cc_entry_restorable(struct cc_entry *e, const struct restore_opts *o)
{
	struct buf abs = BUF_INIT;
	size_t n = 0;

	for (size_t i = 0; i < e->nroots; i++)
		if (root_restored(e, i, o, &abs))
			n++;
	buf_release(&abs);
	return n;
}

/* Refuses entries whose roots land on or inside one another: an earlier
 * root could otherwise plant a symlink that a later root is written
 * through.  First by their spelling (any two roots, a property of the
 * entry), then, for the roots to be written, by the directories they
 * reach now (dest.c), before anything is written. */
static enum cc_code check_roots(struct cc_entry *e, const struct restore_opts *o,
				struct cc_err *err)
{
	struct buf *abs = calloc(e->nroots ? e->nroots : 1, sizeof(*abs));
	const char **sel = calloc(e->nroots ? e->nroots : 1, sizeof(*sel));
	const char **names = calloc(e->nroots ? e->nroots : 1, sizeof(*names));
	struct dest d;
	enum cc_code rc = CC_OK;
	size_t nsel = 0;
	bool contained;

	dest_init(&d, "the cache", o->cwd, o->home, o->keep_dir_symlink);
	if (!abs || !sel || !names) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (size_t i = 0; i < e->nroots && !rc; i++) {
		buf_init(&abs[i], 0);
		if (home_unusable(o, e->roots[i]))
			continue;
		rc = cc_path_resolve(e->roots[i], o->cwd, o->home, &abs[i], &contained, err);
		for (size_t j = 0; j < i && !rc; j++)
			if (abs[j].len && cc_path_overlap(abs[i].data, abs[j].data))
				rc = cc_err_set(err, CC_ECORRUPT, 0,
						"corrupt manifest: paths '%s' and '%s' overlap",
						e->roots[j], e->roots[i]);
		if (!rc && strcmp(abs[i].data, "/") && root_wanted(o, e->roots[i], contained)) {
			sel[nsel] = abs[i].data;
			names[nsel++] = e->roots[i];
		}
	}
	if (!rc)
		rc = dest_check_roots(&d, sel, names, nsel, err);
cleanup:
	for (size_t i = 0; abs && i < e->nroots; i++)
		buf_release(&abs[i]);
	free(abs);
	free(sel);
	free(names);
	dest_release(&d);
	return rc;
}

/* ------------------------------------------------------------------ */
/* planning: what the entry will take on disk, before anything is written */

/* Metadata allowance per record (an inode, a directory entry), on top of
 * the blocks of data; docs/internals/restore.md. */
#define PLAN_RECORD_BYTES 256
/* A symlink target longer than this takes a block of its own. */
#define PLAN_INLINE_LINK 60

/* One destination file system: the roots whose nearest existing
 * ancestor lies on it. */
struct plan_fs {
	dev_t dev;
	uint64_t block, avail, need;
	char *where;		/* a path on it, for messages */
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return add_overflow_u64(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t round_up(uint64_t n, uint64_t block)
{
	uint64_t r = n % block;

	return r ? sat_add(n, block - r) : n;
}

/* Bytes a record will allocate on a file system of this block size:
 * the blocks of a dense file's data, the blocks its extents touch for a
 * sparse one (holes take none), a block per directory and per symlink
 * too long to live in its inode, and PLAN_RECORD_BYTES for each. */
static uint64_t record_cost(const struct mf_entry *e, uint64_t block)
{
	uint64_t n = PLAN_RECORD_BYTES, end = 0;

	switch (e->type) {
	case MF_DIR:
		return sat_add(n, block);
	case MF_SYMLINK:
		return e->target.len > PLAN_INLINE_LINK ? sat_add(n, block) : n;
	case MF_HARDLINK:
		return n;
	case MF_FILE:
		if (!(e->flags & MF_F_SPARSE))
			return sat_add(n, round_up(e->size, block));
		/* Extents are sorted; two that share a block count it once. */
		for (size_t i = 0; i < e->nextents; i++) {
			uint64_t a = e->extents[i].off - e->extents[i].off % block;
			uint64_t b = round_up(e->extents[i].off + e->extents[i].len, block);

			if (a < end)
				a = end;
			if (b > a)
				n = sat_add(n, b - a);
			if (b > end)
				end = b;
		}
		return n;
	}
	return n;
}

/* Finds the file system a destination will be written on: the
 * destination itself when it is a directory (a root may be a mount
 * point), else its nearest existing ancestor, followed like any path the
 * user types.  Appends it to *fs unless a known device. */
static enum cc_code plan_fs_of(const char *abs, struct plan_fs **fs, size_t *nfs,
			       size_t *ret_idx, struct cc_err *err)
{
	struct stat st;
	struct statvfs vf;
	char *p = strdup(abs), *slash;
	struct plan_fs *x;
	enum cc_code rc = CC_OK;

	if (!p)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if (lstat(p, &st) || !S_ISDIR(st.st_mode)) {
		/* abs is absolute and clean: climb until something exists. */
		do {
			slash = strrchr(p, '/');
			slash[slash == p] = '\0';
		} while (stat(p, &st) && strcmp(p, "/"));
		if (stat(p, &st)) {
			rc = cc_err_set(err, CC_EDEST, errno, "cannot stat '%s'", p);
			goto cleanup;
		}
	}
	for (size_t i = 0; i < *nfs; i++)
		if ((*fs)[i].dev == st.st_dev) {
			*ret_idx = i;
			goto cleanup;
		}
	if (statvfs(p, &vf)) {
		rc = cc_err_set(err, CC_EDEST, errno, "cannot read the free space of '%s'", p);
		goto cleanup;
	}
	if (!(x = realloc(*fs, (*nfs + 1) * sizeof(*x)))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	*fs = x;
	x[*nfs].dev = st.st_dev;
	x[*nfs].block = vf.f_frsize ? vf.f_frsize : vf.f_bsize ? vf.f_bsize : 512;
	x[*nfs].avail = (uint64_t)vf.f_bavail * x[*nfs].block;
	if (vf.f_bavail && x[*nfs].avail / x[*nfs].block != (uint64_t)vf.f_bavail)
		x[*nfs].avail = UINT64_MAX;
	x[*nfs].need = 0;
	x[*nfs].where = p;
	p = NULL;
	*ret_idx = (*nfs)++;
cleanup:
	free(p);
	return rc;
}

/* Before anything is written: sums, per destination file system, what
 * the selected roots will allocate (record_cost) and compares it with the
 * free space there and, in all, with opts->max_bytes.  A manifest can
 * declare a terabyte with a few kilobytes of chunk records that repeat
 * one frame: what counts is what will be written, not what is fetched.
 * @return CC_EDEST naming both numbers when it does not fit. */
static enum cc_code plan_space(struct cc_entry *ent, const struct restore_opts *o,
			       struct cc_err *err)
{
	struct plan_fs *fs = NULL;
	size_t nfs = 0, *root_fs = NULL, cur = SIZE_MAX, r = 0;
	struct buf abs = BUF_INIT, root = BUF_INIT;
	struct mf_entry e;
	uint64_t total = 0;
	char b1[32], b2[32];
	enum cc_code rc;

	mf_entry_init(&e);
	if (!(root_fs = calloc(ent->nroots ? ent->nroots : 1, sizeof(*root_fs)))) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (size_t i = 0; i < ent->nroots; i++) {
		bool contained;

		root_fs[i] = SIZE_MAX;
		if (home_unusable(o, ent->roots[i]))
			continue;	/* passed over by the walk too */
		if ((rc = cc_path_resolve(ent->roots[i], o->cwd, o->home, &abs, &contained, err)))
			goto cleanup;
		if (!root_wanted(o, ent->roots[i], contained) || !strcmp(abs.data, "/"))
			continue;
		if ((rc = plan_fs_of(abs.data, &fs, &nfs, &root_fs[i], err)))
			goto cleanup;
	}
	if (!nfs && !o->max_bytes) {
		rc = CC_OK;
		goto cleanup;
	}
	if ((rc = mf_rewind(&ent->mr, err)))
		goto cleanup;
	for (;;) {
		enum mf_item item;

		if ((rc = mf_next(&ent->mr, &item, &root, &e, err)))
			goto cleanup;
		if (item == MF_ITEM_END)
			break;
		if (item == MF_ITEM_ROOT) {
			cur = r < ent->nroots ? root_fs[r] : SIZE_MAX;
			r++;
		} else if (cur != SIZE_MAX) {
			uint64_t c = record_cost(&e, fs[cur].block);

			fs[cur].need = sat_add(fs[cur].need, c);
			total = sat_add(total, c);
		}
	}
	if (o->max_bytes && total > o->max_bytes) {
		rc = cc_err_set(err, CC_EDEST, 0,
				"the entry would take %llu bytes (%s) on disk, more than the "
				"restore size limit of %llu bytes (%s)",
				(unsigned long long)total, fmt_bytes(b1, sizeof(b1), total),
				(unsigned long long)o->max_bytes,
				fmt_bytes(b2, sizeof(b2), o->max_bytes));
		goto cleanup;
	}
	for (size_t i = 0; i < nfs; i++) {
		if (fs[i].need <= fs[i].avail)
			continue;
		rc = cc_err_set(err, CC_EDEST, ENOSPC,
				"the entry would take %llu bytes (%s) on the file system of '%s', "
				"which has %llu bytes (%s) free",
				(unsigned long long)fs[i].need, fmt_bytes(b1, sizeof(b1), fs[i].need),
				fs[i].where, (unsigned long long)fs[i].avail,
				fmt_bytes(b2, sizeof(b2), fs[i].avail));
		goto cleanup;
	}
	rc = CC_OK;
cleanup:
	for (size_t i = 0; i < nfs; i++)
		free(fs[i].where);
	free(fs);
	free(root_fs);
	buf_release(&abs);
	buf_release(&root);
	mf_entry_release(&e);
	return rc;
}

enum cc_code cc_entry_precheck(struct cc_entry *e, const struct restore_opts *o,
			       struct cc_err *err)
{
	enum cc_code rc;

	if ((rc = check_roots(e, o, err)))
		return rc;
	return plan_space(e, o, err);
}

/* The last-use record (docs/format.md, "Lifecycle"): "used/" + the rest
 * of the entry's keys/ name, whose mtime is when a restore last used it.
 * Written at most once an hour per entry (a stat first), never on a store
 * whose puts keep the first object (gha tracks use itself).  This is the
 * one write a restore makes; it failing (read-only credentials) changes
 * nothing but a note under -v. */
#define USE_RECORD_EVERY_NS (3600LL * 1000000000)

static void record_use(struct cc_entry *e)
{
	struct store *s = e->store;
	struct buf name = BUF_INIT, tmp = BUF_INIT, text = BUF_INIT;
	struct store_object o = { 0 };
	struct cc_err err;
	int64_t now = now_realtime_ns();
	bool found = false;
	int fd = -1;

	cc_err_clear(&err);
	if ((s->ops->caps & STORE_CAP_KEEPS_FIRST) ||
	    strncmp(e->name, STORE_KEYS_PREFIX, strlen(STORE_KEYS_PREFIX)))
		return;
	if (buf_addf(&name, &err, "%s%s", STORE_USED_PREFIX, e->name + strlen(STORE_KEYS_PREFIX)) ||
	    s->ops->stat(s, name.data, &found, &o, &err))
		goto cleanup;
	if (found && o.mtime_ns > now - USE_RECORD_EVERY_NS)
		goto cleanup;	/* recorded within the hour */
	if (buf_addf(&text, &err, "cicache used 1\n%lld\n", (long long)now) ||
	    (fd = store_tmpfile(s, &tmp, &err)) < 0)
		goto cleanup;
	if (write_all(fd, text.data, text.len)) {
		cc_err_set(&err, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
		goto cleanup;
	}
	if (close(fd)) {
		fd = -1;
		cc_err_set(&err, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
		goto cleanup;
	}
	fd = -1;
	if (s->ops->put(s, name.data, tmp.data, STORE_PUT_MOVE, NULL, &err))
		goto cleanup;
	cc_debug("recorded the use of '%s'", name.data);
cleanup:
	if (err.code)
		cc_debug("cannot record the use of this entry (a prune may take it for unused): %s",
			 err.msg);
	if (fd >= 0)
		close(fd);
	if (tmp.len)
		unlink(tmp.data);
	buf_release(&tmp);
	buf_release(&name);
	buf_release(&text);
}

enum cc_code cc_entry_restore(struct cc_entry *e, const struct restore_opts *o,
			      struct restore_stats *ret_stats, struct cc_err *err)
{
	struct restore_stats dummy;
	enum cc_code rc;

	if (!ret_stats)
		ret_stats = &dummy;
	memset(ret_stats, 0, sizeof(*ret_stats));
	if ((rc = cc_entry_precheck(e, o, err)) || (rc = mf_rewind(&e->mr, err)))
		return rc;
	ret_stats->started = true;
	rc = walk(e, o, false, ret_stats, err);
	if (!rc && ret_stats->roots)
		record_use(e);
	return rc;
}
