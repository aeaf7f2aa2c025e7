/* lifecycle.c: list, stats, delete, prune, check (lifecycle.h). */
#include "lifecycle.h"
#include "chunkset.h"
#include "hash.h"
#include "log.h"
#include "manifest.h"
#include "restore.h"
#include "summary.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* ---- listings ---- */

struct obj {
	char *name;
	uint64_t size;
	int64_t mtime_ns;
	char etag[72];
};

struct objs {
	struct obj *v;
	size_t n, alloc;
	bool nomem;
};

static int objs_add(void *ctx, const struct store_object *o)
{
	struct objs *l = ctx;

	if (ARRAY_GROW(l->v, l->alloc, l->n + 1)) {
		l->nomem = true;
		return 1;
	}
	if (!(l->v[l->n].name = strdup(o->name))) {
		l->nomem = true;
		return 1;
	}
	l->v[l->n].size = o->size;
	l->v[l->n].mtime_ns = o->mtime_ns;
	memcpy(l->v[l->n].etag, o->etag, sizeof(l->v[l->n].etag));
	l->n++;
	return 0;
}

static int obj_cmp(const void *a, const void *b)
{
	return strcmp(((const struct obj *)a)->name, ((const struct obj *)b)->name);
}

static void objs_free(struct objs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static enum cc_code list_sorted(struct store *s, const char *prefix, struct objs *ret,
				struct cc_err *err)
{
	enum cc_code rc;

	memset(ret, 0, sizeof(*ret));
	rc = store_list_all(s, prefix, objs_add, ret, err);
	if (!rc && ret->nomem)
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if (rc) {
		objs_free(ret);
		return rc;
	}
	if (ret->n)
		qsort(ret->v, ret->n, sizeof(*ret->v), obj_cmp);
	return CC_OK;
}

static struct obj *objs_find(const struct objs *l, const char *name)
{
	struct obj k = { .name = (char *)name };

	return l->n ? bsearch(&k, l->v, l->n, sizeof(*l->v), obj_cmp) : NULL;
}

/* ---- the state of a store ---- */

struct ent {
	struct obj *o;		/* in keys */
	struct buf key;
	char version[17];
	struct cc_summary sum;
	bool known;		/* sum is valid */
	bool gone;		/* deleted (or chosen for deletion) */
	int64_t last_used_ns;	/* used/ record, else 0 */
	size_t *df;		/* distinct-frame indices */
	size_t ndf;
};

/* A distinct frame of the store: (pack, off) with its length. */
struct dframe {
	size_t pack;		/* index in packs, or SIZE_MAX: not in the store */
	uint64_t off, len;
	uint32_t refs;		/* live entries referencing it */
	uint32_t refs_all;
};

struct state {
	struct store *s;
	int64_t now_ns;
	struct objs keys, sums, used, packs, marks;
	struct ent *ents;
	size_t nents;
	struct dframe *df;
	size_t ndf;
	uint64_t stored;	/* pack bytes */
	size_t unknown;		/* entries whose summary could not be had */
	bool prepared;		/* prepare_write done */
};

/* Before the first write: what a save does first (the local store
 * creates its tmp directory). */
static enum cc_code state_prepare(struct state *st, struct cc_err *err)
{
	enum cc_code rc;

	if (st->prepared)
		return CC_OK;
	if ((rc = st->s->ops->prepare_write(st->s, err)))
		return rc;
	st->prepared = true;
	return CC_OK;
}

static void state_free(struct state *st)
{
	for (size_t i = 0; i < st->nents; i++) {
		buf_release(&st->ents[i].key);
		cc_summary_release(&st->ents[i].sum);
		free(st->ents[i].df);
	}
	free(st->ents);
	free(st->df);
	objs_free(&st->keys);
	objs_free(&st->sums);
	objs_free(&st->used);
	objs_free(&st->packs);
	objs_free(&st->marks);
}

/* Copies object name (at most max bytes) into a new unnamed file in
 * $TMPDIR (else /tmp): *ret_fd is it, to be closed by the caller, also
 * when *ret_found is false; on error it is -1. */
static enum cc_code fetch(struct store *s, const char *name, uint64_t max, int *ret_fd,
			  bool *ret_found, struct cc_err *err)
{
	const char *tmpdir = getenv("TMPDIR");
	enum cc_code rc;

	*ret_found = false;
	*ret_fd = tmpfile_unnamed(tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (*ret_fd < 0)
		return cc_err_set(err, CC_ESTORE, errno, "cannot create a temporary file");
	if ((rc = s->ops->get_file(s, name, *ret_fd, max, ret_found, err))) {
		close(*ret_fd);
		*ret_fd = -1;
	}
	return rc;
}

/* Reads a whole small object into out (at most max bytes). */
static enum cc_code get_small(struct store *s, const char *name, uint64_t max, struct buf *out,
			      bool *ret_found, struct cc_err *err)
{
	enum cc_code rc;
	off_t end;
	int fd;

	if ((rc = fetch(s, name, max, &fd, ret_found, err)))
		return rc;
	if (*ret_found) {
		end = lseek(fd, 0, SEEK_END);
		buf_reset(out);
		if (end < 0)
			rc = cc_err_set(err, CC_ESTORE, errno, "cannot read back '%s'", name);
		else if (!(rc = buf_grow(out, (size_t)end, err))) {
			if (pread_full(fd, out->data, (size_t)end, 0) != end)
				rc = cc_err_set(err, CC_ESTORE, errno, "cannot read back '%s'", name);
			else
				buf_setlen(out, (size_t)end);
		}
	}
	close(fd);
	return rc;
}

/* The entry's summary: through sums/ when there is one, else from the
 * manifest (and then put, unless write is false). */
static enum cc_code ent_summary(struct state *st, struct ent *e, bool write, struct cc_err *err)
{
	struct store *s = st->s;
	unsigned char ck[CC_ID_LEN];
	char sname[64];
	struct buf b = BUF_INIT;
	enum cc_code rc;
	bool found = false;

	if (!(s->ops->caps & STORE_CAP_NO_SIZE) && e->o->size >= MF_HEADER_LEN + CC_ID_LEN) {
		if ((rc = s->ops->get_range(s, e->o->name, e->o->size - CC_ID_LEN, CC_ID_LEN, ck,
					    err)))
			return rc;
		cc_summary_name(ck, sname, sizeof(sname));
		if (objs_find(&st->sums, sname)) {
			struct cc_err e2 = { 0 };

			rc = get_small(s, sname, CC_SUMMARY_MAX, &b, &found, err);
			if (!rc && found && !cc_summary_parse(b.data, b.len, &e->sum, &e2) &&
			    !memcmp(e->sum.manifest, ck, CC_ID_LEN)) {
				e->known = true;
				buf_release(&b);
				return CC_OK;
			}
			cc_summary_release(&e->sum);
			buf_release(&b);
			if (rc)
				return rc;
			cc_debug("summary '%s' is missing or malformed: reading the manifest", sname);
		}
	}
	/* No usable summary: the manifest, whole. */
	int fd;

	if ((rc = fetch(s, e->o->name, MF_MAX_SIZE, &fd, &found, err)))
		return rc;
	if (!found)
		rc = cc_err_set(err, CC_ECORRUPT, 0, "entry '%s' vanished", e->o->name);
	else if ((rc = cc_summary_from_manifest(fd, &e->sum, err)))
		cc_err_prefix(err, "entry '%s'", e->o->name);
	close(fd);
	if (rc)
		return rc;
	e->known = true;
	if (write) {
		struct cc_err e2 = { 0 };

		if (state_prepare(st, &e2) || cc_summary_store(s, &e->sum, &e2))
			cc_debug("cannot store the summary of '%s': %s", e->o->name, e2.msg);
		else
			cc_debug("stored the missing summary of '%s'", e->o->name);
	}
	return CC_OK;
}

struct fref {
	size_t pack;
	uint64_t off, len;
	size_t ent;
};

static int fref_cmp(const void *a, const void *b)
{
	const struct fref *x = a, *y = b;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->ent < y->ent ? -1 : x->ent > y->ent;
}

static size_t pack_index(const struct state *st, const unsigned char id[16])
{
	char name[STORE_PACK_NAME_SIZE];
	struct cc_id cid;
	struct obj *o;

	memcpy(cid.b, id, CC_ID_LEN);
	store_pack_name(name, STORE_PACKS_PREFIX, &cid);
	o = objs_find(&st->packs, name);
	return o ? (size_t)(o - st->packs.v) : SIZE_MAX;
}

/* Builds the distinct frames and each entry's list of them. */
static enum cc_code build_frames(struct state *st, struct cc_err *err)
{
	struct fref *fr;
	size_t n = 0, k = 0;

	for (size_t i = 0; i < st->nents; i++)
		if (st->ents[i].known)
			n += st->ents[i].sum.n_frames;
	fr = malloc((n ? n : 1) * sizeof(*fr));
	st->df = malloc((n ? n : 1) * sizeof(*st->df));
	if (!fr || !st->df) {
		free(fr);
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	for (size_t i = 0; i < st->nents; i++) {
		struct ent *e = &st->ents[i];
		size_t *pidx;

		if (!e->known)
			continue;
		pidx = malloc((e->sum.n_packs ? e->sum.n_packs : 1) * sizeof(*pidx));
		e->df = malloc((e->sum.n_frames ? e->sum.n_frames : 1) * sizeof(*e->df));
		if (!pidx || !e->df) {
			free(pidx);
			free(fr);
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		}
		for (size_t p = 0; p < e->sum.n_packs; p++)
			pidx[p] = pack_index(st, e->sum.packs[p]);
		for (size_t f = 0; f < e->sum.n_frames; f++)
			fr[k++] = (struct fref){ pidx[e->sum.frames[f].pack], e->sum.frames[f].off,
						 e->sum.frames[f].len, i };
		free(pidx);
	}
	if (n)
		qsort(fr, n, sizeof(*fr), fref_cmp);
	st->ndf = 0;
	for (size_t i = 0; i < n; i++) {
		struct ent *e = &st->ents[fr[i].ent];

		if (!i || fr[i - 1].pack != fr[i].pack || fr[i - 1].off != fr[i].off)
			st->df[st->ndf++] = (struct dframe){ fr[i].pack, fr[i].off, fr[i].len, 0, 0 };
		st->df[st->ndf - 1].refs++;
		st->df[st->ndf - 1].refs_all++;
		e->df[e->ndf++] = st->ndf - 1;
	}
	free(fr);
	return CC_OK;
}

/* Loads the listings and every entry (whose key starts with prefix). */
static enum cc_code state_load(struct state *st, struct store *s, const char *prefix,
			       bool write, struct cc_err *err)
{
	struct buf kp = BUF_INIT, un = BUF_INIT;
	enum cc_code rc;

	memset(st, 0, sizeof(*st));
	st->s = s;
	st->now_ns = now_realtime_ns();
	if ((rc = store_key_name(&kp, prefix ? prefix : "", err)))
		goto cleanup;
	if ((rc = list_sorted(s, kp.data, &st->keys, err)) ||
	    (rc = list_sorted(s, STORE_SUMS_PREFIX, &st->sums, err)) ||
	    (rc = list_sorted(s, STORE_USED_PREFIX, &st->used, err)) ||
	    (rc = list_sorted(s, STORE_PACKS_PREFIX, &st->packs, err)) ||
	    (rc = list_sorted(s, STORE_CONDEMNED_PREFIX, &st->marks, err)))
		goto cleanup;
	for (size_t i = 0; i < st->packs.n; i++)
		st->stored += st->packs.v[i].size;
	st->ents = calloc(st->keys.n ? st->keys.n : 1, sizeof(*st->ents));
	if (!st->ents) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (size_t i = 0; i < st->keys.n; i++) {
		struct ent *e = &st->ents[st->nents];
		struct cc_err e2 = { 0 };
		struct obj *u;

		buf_init(&e->key, 0);
		if (!store_entry_parse(st->keys.v[i].name, &e->key, e->version)) {
			buf_release(&e->key);
			continue;
		}
		e->o = &st->keys.v[i];
		st->nents++;
		buf_reset(&un);
		if ((rc = buf_addf(&un, err, "%s%s", STORE_USED_PREFIX,
				   e->o->name + strlen(STORE_KEYS_PREFIX))))
			goto cleanup;
		if ((u = objs_find(&st->used, un.data)))
			e->last_used_ns = u->mtime_ns;
		rc = ent_summary(st, e, write, &e2);
		if (rc == CC_ENOMEM || rc == CC_EINTERNAL) {
			*err = e2;
			goto cleanup;
		}
		if (rc) {
			cc_warn("cannot read entry '%s': %s", e->key.data, e2.msg);
			st->unknown++;
			rc = CC_OK;
		}
	}
	rc = build_frames(st, err);
cleanup:
	buf_release(&kp);
	buf_release(&un);
	return rc;
}

/* Last use for ordering: the record, else the publication. */
static int64_t ent_used(const struct ent *e)
{
	return e->last_used_ns > e->o->mtime_ns ? e->last_used_ns : e->o->mtime_ns;
}

static void ent_bytes(const struct state *st, const struct ent *e, uint64_t *stored,
		      uint64_t *unique)
{
	*stored = *unique = 0;
	for (size_t i = 0; i < e->ndf; i++) {
		*stored += st->df[e->df[i]].len;
		if (st->df[e->df[i]].refs_all == 1)
			*unique += st->df[e->df[i]].len;
	}
}

/* ---- list ---- */

static int list_cmp(const void *a, const void *b)
{
	const struct cc_list_entry *x = a, *y = b;

	if (x->published_ns != y->published_ns)
		return x->published_ns > y->published_ns ? -1 : 1;
	return strcmp(x->name, y->name);
}

enum cc_code cc_store_list(struct store *s, const char *prefix, struct cc_store_list *ret,
			   struct cc_err *err)
{
	struct state *st = calloc(1, sizeof(*st));
	enum cc_code rc;

	memset(ret, 0, sizeof(*ret));
	if (!st)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if ((rc = state_load(st, s, prefix, true, err)))
		goto cleanup;
	ret->e = calloc(st->nents ? st->nents : 1, sizeof(*ret->e));
	if (!ret->e) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (size_t i = 0; i < st->nents; i++) {
		struct ent *e = &st->ents[i];
		struct cc_list_entry *l = &ret->e[i];

		l->name = e->o->name;
		l->key = e->key.data;
		memcpy(l->version, e->version, sizeof(l->version));
		l->known = e->known;
		l->published_ns = e->o->mtime_ns;
		l->last_used_ns = e->last_used_ns;
		if (e->known) {
			l->size = e->sum.size;
			l->files = e->sum.files;
			l->created_ns = e->sum.created_ns;
			l->manifest_bytes = e->sum.bytes;
			l->patterns = e->sum.patterns.data;
			l->n_patterns = e->sum.n_patterns;
			ent_bytes(st, e, &l->stored, &l->unique);
		}
	}
	ret->n = st->nents;
	ret->priv = st;
	st = NULL;
	if (ret->n)
		qsort(ret->e, ret->n, sizeof(*ret->e), list_cmp);
cleanup:
	if (st) {
		state_free(st);
		free(st);
	}
	return rc;
}

void cc_store_list_free(struct cc_store_list *l)
{
	if (l->priv) {
		state_free(l->priv);
		free(l->priv);
	}
	free(l->e);
	memset(l, 0, sizeof(*l));
}

/* ---- stats ---- */

enum cc_code cc_store_stats(struct store *s, struct cc_store_stats *ret, struct cc_err *err)
{
	struct state st;
	enum cc_code rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = state_load(&st, s, "", true, err)))
		goto cleanup;
	ret->entries = st.nents;
	ret->unknown_entries = st.unknown;
	ret->packs = st.packs.n;
	ret->stored = st.stored;
	ret->summaries = st.sums.n;
	ret->condemned = st.marks.n;
	for (size_t i = 0; i < st.ndf; i++)
		if (st.df[i].pack != SIZE_MAX)
			ret->referenced += st.df[i].len;
	ret->unreferenced = ret->stored > ret->referenced ? ret->stored - ret->referenced : 0;
	for (size_t i = 0; i < st.nents; i++) {
		uint64_t a, b;

		if (!st.ents[i].known)
			continue;
		ent_bytes(&st, &st.ents[i], &a, &b);
		ret->ref_sum += a;
		ret->logical += st.ents[i].sum.size;
		ret->manifests += st.ents[i].sum.bytes;
	}
cleanup:
	state_free(&st);
	return rc;
}

/* ---- delete ---- */

static enum cc_code delete_entry(struct store *s, const char *name, struct cc_err *err)
{
	struct buf un = BUF_INIT;
	enum cc_code rc;

	if ((rc = s->ops->del(s, name, err)))
		return rc;
	if (!(rc = buf_addf(&un, err, "%s%s", STORE_USED_PREFIX, name + strlen(STORE_KEYS_PREFIX))))
		rc = s->ops->del(s, un.data, err);
	buf_release(&un);
	return rc;
}

enum cc_code cc_store_delete(struct store *s, const char *const *keys, size_t nkeys,
			     const char *prefix, bool dry_run, cc_lifecycle_note_fn note,
			     void *ctx, size_t *ret_deleted, size_t *ret_missing,
			     struct cc_err *err)
{
	struct objs l = { 0 };
	struct buf k = BUF_INIT;
	bool *hit = calloc(nkeys ? nkeys : 1, sizeof(*hit));
	enum cc_code rc;
	char ver[17];

	*ret_deleted = *ret_missing = 0;
	if (!hit)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if ((rc = list_sorted(s, STORE_KEYS_PREFIX, &l, err)))
		goto cleanup;
	buf_init(&k, 0);
	for (size_t i = 0; i < l.n && !rc; i++) {
		bool del = false;

		if (!store_entry_parse(l.v[i].name, &k, ver))
			continue;
		if (prefix && !strncmp(k.data, prefix, strlen(prefix)))
			del = true;
		for (size_t j = 0; j < nkeys; j++)
			if (!strcmp(k.data, keys[j]))
				del = hit[j] = true;
		if (!del)
			continue;
		if (note)
			note(ctx, "delete entry", k.data, 0);
		if (!dry_run && (rc = delete_entry(s, l.v[i].name, err)))
			break;
		(*ret_deleted)++;
	}
	for (size_t j = 0; j < nkeys; j++)
		if (!hit[j])
			(*ret_missing)++;
cleanup:
	buf_release(&k);
	objs_free(&l);
	free(hit);
	return rc;
}

/* ---- prune ---- */

struct by_use {
	size_t i;
	int64_t t;
};

static int by_use_cmp(const void *a, const void *b)
{
	const struct by_use *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static void ent_drop(struct state *st, struct ent *e, uint64_t *live)
{
	e->gone = true;
	for (size_t i = 0; i < e->ndf; i++) {
		struct dframe *d = &st->df[e->df[i]];

		if (!--d->refs && d->pack != SIZE_MAX)
			*live -= d->len;
	}
}

static void pack_hex(const char *pack_name, char out[CC_ID_HEX_LEN + 1])
{
	snprintf(out, CC_ID_HEX_LEN + 1, "%s", pack_name + strlen(STORE_PACKS_PREFIX));
}

static enum cc_code put_mark(struct store *s, const char *name, int64_t now_ns,
			     struct cc_err *err)
{
	struct buf tmp = BUF_INIT;
	char text[64];
	enum cc_code rc = CC_OK;
	bool existed;
	int fd, n;

	fd = store_tmpfile(s, &tmp, err);
	if (fd < 0)
		return err->code;
	n = snprintf(text, sizeof(text), "cicache condemned 1\n%" PRId64 "\n", now_ns);
	if (write_all(fd, text, (size_t)n))
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
	if (close(fd) && !rc)
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
	if (!rc)
		rc = s->ops->put(s, name, tmp.data, STORE_PUT_MOVE | STORE_PUT_IF_ABSENT, &existed, err);
	unlink(tmp.data);
	buf_release(&tmp);
	return rc;
}

/* ---- repack (docs/format.md, "Lifecycle", step 5) ---- */

#define PACK_MAGIC "CCPACK1\n"
#define REPACK_MAX (64u << 20)	/* live bytes copied into one new pack per run */

static int move_cmp(const void *a, const void *b)
{
	const struct mf_move *x = a, *y = b;
	int c = memcmp(x->old_pack, y->old_pack, CC_ID_LEN);

	if (c)
		return c;
	return x->old_off < y->old_off ? -1 : x->old_off > y->old_off;
}

/* Rewrites entry e's manifest with its frames moved, its summary first,
 * then publishes it only if the key object is still the version listed.
 * *ret_done: the entry now points at the new pack. */
static enum cc_code repoint_entry(struct state *st, struct ent *e, const struct mf_move *mv,
				  size_t nmv, bool *ret_done, struct cc_err *err)
{
	struct store *s = st->s;
	struct buf tmp = BUF_INIT;
	struct cc_summary ns = { 0 };
	unsigned char ck[CC_ID_LEN];
	bool found = false, changed = false, mismatch = false;
	enum cc_code rc;
	int in = -1, out = -1;
	off_t end;

	*ret_done = false;
	if ((rc = fetch(s, e->o->name, MF_MAX_SIZE, &in, &found, err)))
		goto cleanup;
	end = lseek(in, 0, SEEK_END);
	/* Gone or republished since the listing: a save won; leave it. */
	if (!found || end < CC_ID_LEN || pread_full(in, ck, CC_ID_LEN, end - CC_ID_LEN) != CC_ID_LEN ||
	    memcmp(ck, e->sum.manifest, CC_ID_LEN))
		goto cleanup;
	out = store_tmpfile(s, &tmp, err);
	if (out < 0) {
		rc = err->code;
		goto cleanup;
	}
	if ((rc = cc_manifest_repoint(in, out, mv, nmv, &changed, err)) || !changed)
		goto cleanup;
	if ((rc = cc_summary_from_manifest(out, &ns, err)) || (rc = cc_summary_store(s, &ns, err)))
		goto cleanup;
	close(out);
	out = -1;
	if ((rc = s->ops->put_if_match(s, e->o->name, tmp.data, e->o->etag, &mismatch, err)))
		goto cleanup;
	if (mismatch)
		cc_info("'%s' was saved again meanwhile: that save wins, not repacked", e->key.data);
	*ret_done = !mismatch;
cleanup:
	cc_summary_release(&ns);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (tmp.len)
		unlink(tmp.data);
	buf_release(&tmp);
	return rc;
}

/* Copies the live frames of the candidate packs into pack (after its
 * magic), byte for byte: frames are self-contained, no recompression.
 * Each copy is a move in mv; a candidate that would overflow REPACK_MAX
 * is dropped (cand cleared: next run), with the moves already taken. */
static enum cc_code gather_frames(struct state *st, bool *cand, struct buf *pack,
				  struct mf_move *mv, size_t *ret_nmv, struct cc_err *err)
{
	struct store *s = st->s;
	char pname[STORE_PACK_NAME_SIZE];
	size_t nmv = 0, k = 0;
	enum cc_code rc;

	if ((rc = buf_add(pack, PACK_MAGIC, 8, err)))
		return rc;
	for (size_t i = 0; i < st->ndf; i++) {
		struct dframe *d = &st->df[i];
		const struct obj *po;
		struct cc_id oid;

		if (!d->refs || d->pack == SIZE_MAX || !cand[d->pack])
			continue;
		if (pack->len + d->len > REPACK_MAX) {
			cand[d->pack] = false;	/* next run */
			continue;
		}
		po = &st->packs.v[d->pack];
		if ((rc = buf_grow(pack, (size_t)d->len, err)) ||
		    (rc = s->ops->get_range(s, po->name, d->off, (size_t)d->len,
					    pack->data + pack->len, err)))
			return rc;
		store_pack_parse(po->name, STORE_PACKS_PREFIX, &oid);
		memcpy(mv[nmv].old_pack, oid.b, CC_ID_LEN);
		mv[nmv].old_off = d->off;
		mv[nmv].new_off = pack->len;
		nmv++;
		buf_setlen(pack, pack->len + (size_t)d->len);
	}
	/* A pack dropped for size after some of its frames were taken. */
	for (size_t i = 0; i < nmv; i++) {
		struct cc_id id;
		struct obj *po;

		memcpy(id.b, mv[i].old_pack, CC_ID_LEN);
		store_pack_name(pname, STORE_PACKS_PREFIX, &id);
		po = objs_find(&st->packs, pname);
		if (po && cand[po - st->packs.v])
			mv[k++] = mv[i];
	}
	*ret_nmv = k;
	return CC_OK;
}

/* Publishes pack as the pack named by its content, *ret_id. */
static enum cc_code put_pack(struct store *s, const struct buf *pack, struct cc_id *ret_id,
			     struct cc_err *err)
{
	struct buf tmp = BUF_INIT;
	char pname[STORE_PACK_NAME_SIZE];
	enum cc_code rc = CC_OK;
	bool existed;
	int fd;

	cc_id_of(ret_id, pack->data, pack->len);
	if ((fd = store_tmpfile(s, &tmp, err)) < 0) {
		rc = err->code;
		goto cleanup;
	}
	if (write_all(fd, pack->data, pack->len)) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
		close(fd);
		goto cleanup;
	}
	if (close(fd)) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
		goto cleanup;
	}
	store_pack_name(pname, STORE_PACKS_PREFIX, ret_id);
	rc = s->ops->put(s, pname, tmp.data, STORE_PUT_MOVE | STORE_PUT_IF_ABSENT, &existed, err);
cleanup:
	if (tmp.len)
		unlink(tmp.data);
	buf_release(&tmp);
	return rc;
}

/* Rewrites every live entry that uses a candidate pack to the moves; a
 * candidate some entry could not be rewritten for stays.  The others
 * are no longer live (pack_live 0); *ret_n counts them. */
static enum cc_code repoint_users(struct state *st, const bool *cand, uint64_t *pack_live,
				  const struct mf_move *mv, size_t nmv,
				  const struct cc_prune_opts *o, size_t *ret_n, struct cc_err *err)
{
	bool *failed = calloc(st->packs.n ? st->packs.n : 1, sizeof(*failed));
	enum cc_code rc = CC_OK;

	if (!failed)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < st->nents; i++) {
		struct ent *e = &st->ents[i];
		bool uses = false, done = false;

		if (e->gone || !e->known)
			continue;
		for (size_t j = 0; j < e->ndf && !uses; j++) {
			size_t p = st->df[e->df[j]].pack;

			uses = p != SIZE_MAX && cand[p];
		}
		if (!uses)
			continue;
		if ((rc = repoint_entry(st, e, mv, nmv, &done, err)))
			goto cleanup;
		if (o->note)
			o->note(o->ctx, done ? "repoint entry" : "leave entry", e->key.data, 0);
		if (!done)
			for (size_t j = 0; j < e->ndf; j++)
				if (st->df[e->df[j]].pack != SIZE_MAX)
					failed[st->df[e->df[j]].pack] = true;
	}
	for (size_t p = 0; p < st->packs.n; p++)
		if (cand[p] && !failed[p]) {
			pack_live[p] = 0;
			(*ret_n)++;
		}
cleanup:
	free(failed);
	return rc;
}

/* Copies the live frames of the packs chosen (cand[p]) into one new
 * pack, repoints the entries that use them, and sets pack_live[p] = 0
 * for every old pack all of whose entries now point elsewhere (a later
 * step marks it).  *ret_new: the new pack's size (0: none). */
static enum cc_code repack(struct state *st, bool *cand, uint64_t *pack_live,
			   const struct cc_prune_opts *o, uint64_t *ret_new, size_t *ret_n,
			   struct cc_err *err)
{
	struct buf pack = BUF_INIT;
	struct mf_move *mv = calloc(st->ndf ? st->ndf : 1, sizeof(*mv));
	size_t nmv = 0;
	struct cc_id nid;
	char hex[CC_ID_HEX_LEN + 1];
	enum cc_code rc;

	*ret_new = 0;
	*ret_n = 0;
	if (!mv)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if ((rc = gather_frames(st, cand, &pack, mv, &nmv, err)) || !nmv ||
	    (rc = put_pack(st->s, &pack, &nid, err)))
		goto cleanup;
	for (size_t i = 0; i < nmv; i++)
		memcpy(mv[i].new_pack, nid.b, CC_ID_LEN);
	qsort(mv, nmv, sizeof(*mv), move_cmp);
	*ret_new = pack.len;
	cc_id_hex(&nid, hex);
	if (o->note)
		o->note(o->ctx, "new pack", hex, pack.len);
	rc = repoint_users(st, cand, pack_live, mv, nmv, o, ret_n, err);
cleanup:
	buf_release(&pack);
	free(mv);
	return rc;
}

/* What one prune works with: the store's state, the options, the clock. */
struct prune {
	struct store *s;
	const struct cc_prune_opts *o;
	struct cc_prune_result *ret;
	struct state st;
	int64_t now, grace_ns;
	uint64_t live;		/* bytes of frames the remaining entries use */
	uint64_t *pack_live;	/* per pack: bytes of its frames still referenced */
	bool dry;
};

/* Sorts the candidates bu[0..n) by last use and drops them oldest first,
 * keeping the newest keep_last (SIZE_MAX: no such bound), until the live
 * bytes are at most max_size (0: no such bound). */
static void drop_oldest(struct prune *pr, struct by_use *bu, size_t n, size_t keep_last,
			uint64_t max_size)
{
	qsort(bu, n, sizeof(*bu), by_use_cmp);
	for (size_t j = 0; j < n; j++) {
		if (keep_last != SIZE_MAX && j + keep_last >= n)
			break;
		if (max_size && pr->live <= max_size)
			break;
		ent_drop(&pr->st, &pr->st.ents[bu[j].i], &pr->live);
	}
}

/* Step 1: the policies choose entries (--max-age, --keep-last, --max-size,
 * in this order). */
static enum cc_code choose_entries(struct prune *pr, struct cc_err *err)
{
	const struct cc_prune_opts *o = pr->o;
	struct state *st = &pr->st;
	struct by_use *bu = calloc(st->nents ? st->nents : 1, sizeof(*bu));
	size_t n;

	if (!bu)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if (o->max_age > 0) {
		int64_t cut = pr->now - (int64_t)(o->max_age * 1e9);

		for (size_t i = 0; i < st->nents; i++)
			if (ent_used(&st->ents[i]) < cut)
				ent_drop(st, &st->ents[i], &pr->live);
	}
	if (o->keep_last >= 0) {
		const char *p = o->keep_prefix ? o->keep_prefix : "";

		n = 0;
		for (size_t i = 0; i < st->nents; i++)
			if (!st->ents[i].gone && !strncmp(st->ents[i].key.data, p, strlen(p)))
				bu[n++] = (struct by_use){ i, ent_used(&st->ents[i]) };
		drop_oldest(pr, bu, n, (size_t)o->keep_last, 0);
	}
	if (o->max_size) {
		n = 0;
		for (size_t i = 0; i < st->nents; i++)
			if (!st->ents[i].gone &&
			    !(o->protect_key && !strcmp(st->ents[i].key.data, o->protect_key)))
				bu[n++] = (struct by_use){ i, ent_used(&st->ents[i]) };
		drop_oldest(pr, bu, n, SIZE_MAX, o->max_size);
	}
	free(bu);
	return CC_OK;
}

/* Step 2: the chosen entries go: the key object first, then its last-use
 * record. */
static enum cc_code delete_entries(struct prune *pr, struct cc_err *err)
{
	for (size_t i = 0; i < pr->st.nents; i++) {
		struct ent *e = &pr->st.ents[i];
		enum cc_code rc;

		if (!e->gone)
			continue;
		if (pr->o->note)
			pr->o->note(pr->o->ctx, "delete entry", e->key.data, e->known ? e->sum.size : 0);
		pr->ret->entries_deleted++;
		if (!pr->dry && (rc = delete_entry(pr->s, e->o->name, err)))
			return rc;
	}
	return CC_OK;
}

/* Step 3a: repack a pack at least half dead, or any partly dead pack
 * while --max-size is not reached by what stays (stores that write
 * conditionally only). */
static enum cc_code repack_packs(struct prune *pr, struct cc_err *err)
{
	struct state *st = &pr->st;
	uint64_t keep = 0, newsz = 0;
	size_t nrep = 0, ncand = 0;
	enum cc_code rc = CC_OK;
	bool *cand;

	if (!pr->s->ops->put_if_match)
		return CC_OK;
	if (!(cand = calloc(st->packs.n ? st->packs.n : 1, sizeof(*cand))))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t p = 0; p < st->packs.n; p++)
		if (pr->pack_live[p])
			keep += st->packs.v[p].size;
	for (size_t p = 0; p < st->packs.n; p++) {
		uint64_t sz = st->packs.v[p].size, live = pr->pack_live[p];
		uint64_t dead = sz > 8 + live ? sz - 8 - live : 0;

		if (!live || !dead || (dead * 2 < sz && !(pr->o->max_size && keep > pr->o->max_size)))
			continue;
		cand[p] = true;
		ncand++;
		if (pr->dry && pr->o->note) {
			char hex[CC_ID_HEX_LEN + 1];

			pack_hex(st->packs.v[p].name, hex);
			pr->o->note(pr->o->ctx, "repack", hex, dead);
		}
	}
	if (ncand && !pr->dry) {
		rc = repack(st, cand, pr->pack_live, pr->o, &newsz, &nrep, err);
		pr->ret->packs_repacked = nrep;
		pr->ret->stored_after += newsz;
	}
	free(cand);
	return rc;
}

/* Step 3b: an unreferenced pack is marked, and deleted by a later prune
 * once its mark is older than the grace; a referenced pack loses a mark
 * (docs/format.md, two phases). */
static enum cc_code settle_pack(struct prune *pr, size_t p, struct buf *name,
				struct cc_err *err)
{
	const struct cc_prune_opts *o = pr->o;
	struct obj *pk = &pr->st.packs.v[p], *mark;
	char hex[CC_ID_HEX_LEN + 1];
	enum cc_code rc;

	pack_hex(pk->name, hex);
	buf_reset(name);
	if ((rc = buf_addf(name, err, "%s%s", STORE_CONDEMNED_PREFIX,
			   pk->name + strlen(STORE_PACKS_PREFIX))))
		return rc;
	mark = objs_find(&pr->st.marks, name->data);
	if (pr->pack_live[p] > 0) {
		if (!mark)
			return CC_OK;
		if (o->note)
			o->note(o->ctx, "unmark pack", hex, pk->size);
		pr->ret->packs_rescued++;
		return pr->dry ? CC_OK : pr->s->ops->del(pr->s, name->data, err);
	}
	if (pk->mtime_ns > pr->now - pr->grace_ns) {
		pr->ret->packs_kept_young++;
		return CC_OK;
	}
	if (!mark) {
		if (o->note)
			o->note(o->ctx, "mark pack", hex, pk->size);
		pr->ret->packs_marked++;
		if (!pr->dry && (rc = put_mark(pr->s, name->data, pr->now, err)))
			return rc;
		if (pr->grace_ns > 0)
			return CC_OK;
	} else if (pr->grace_ns > 0 && mark->mtime_ns > pr->now - pr->grace_ns) {
		return CC_OK;	/* marked, grace not over */
	}
	if (o->note)
		o->note(o->ctx, "delete pack", hex, pk->size);
	pr->ret->packs_deleted++;
	pr->ret->bytes_freed += pk->size;
	pr->ret->stored_after -= pk->size;
	if (pr->dry)
		return CC_OK;
	if ((rc = pr->s->ops->del(pr->s, pk->name, err)))
		return rc;
	return pr->s->ops->del(pr->s, name->data, err);
}

/* Step 3: packs (skipped when an entry could not be read). */
static enum cc_code prune_packs(struct prune *pr, struct cc_err *err)
{
	struct state *st = &pr->st;
	struct buf name = BUF_INIT;
	enum cc_code rc = CC_OK;

	if (st->unknown) {
		cc_warn("%zu entr%s could not be read: no pack is marked or deleted", st->unknown,
			st->unknown == 1 ? "y" : "ies");
		pr->ret->packs_skipped = true;
		pr->ret->stored_after = st->stored;
		return CC_OK;
	}
	if (!(pr->pack_live = calloc(st->packs.n ? st->packs.n : 1, sizeof(*pr->pack_live))))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < st->ndf; i++)
		if (st->df[i].refs && st->df[i].pack != SIZE_MAX)
			pr->pack_live[st->df[i].pack] += st->df[i].len;
	pr->ret->stored_after = st->stored;
	if ((rc = repack_packs(pr, err)))
		return rc;
	for (size_t p = 0; p < st->packs.n && !rc; p++)
		rc = settle_pack(pr, p, &name, err);
	buf_release(&name);
	return rc;
}

/* Whether a remaining entry's summary is the object so. */
static bool sum_named(const struct state *st, const struct obj *so)
{
	for (size_t j = 0; j < st->nents; j++) {
		char sn[64];

		if (st->ents[j].gone || !st->ents[j].known)
			continue;
		cc_summary_name(st->ents[j].sum.manifest, sn, sizeof(sn));
		if (!strcmp(sn, so->name))
			return true;
	}
	return false;
}

/* Step 4: leftovers: summaries no entry names (older than the grace),
 * last-use records of no entry, marks of packs that are gone. */
static enum cc_code sweep(struct prune *pr, struct cc_err *err)
{
	struct state *st = &pr->st;
	struct store *s = pr->s;
	struct buf name = BUF_INIT;
	enum cc_code rc = CC_OK;

	for (size_t i = 0; i < st->sums.n; i++) {
		struct obj *so = &st->sums.v[i];

		if (so->mtime_ns > pr->now - pr->grace_ns || st->unknown || sum_named(st, so))
			continue;
		if ((rc = s->ops->del(s, so->name, err)))
			goto cleanup;
	}
	for (size_t i = 0; i < st->used.n; i++) {
		buf_reset(&name);
		if ((rc = buf_addf(&name, err, "%s%s", STORE_KEYS_PREFIX,
				   st->used.v[i].name + strlen(STORE_USED_PREFIX))))
			goto cleanup;
		if (!objs_find(&st->keys, name.data) &&
		    (rc = s->ops->del(s, st->used.v[i].name, err)))
			goto cleanup;
	}
	for (size_t i = 0; i < st->marks.n; i++) {
		buf_reset(&name);
		if ((rc = buf_addf(&name, err, "%s%s", STORE_PACKS_PREFIX,
				   st->marks.v[i].name + strlen(STORE_CONDEMNED_PREFIX))))
			goto cleanup;
		if (!objs_find(&st->packs, name.data) &&
		    (rc = s->ops->del(s, st->marks.v[i].name, err)))
			goto cleanup;
	}
cleanup:
	buf_release(&name);
	return rc;
}

enum cc_code cc_store_prune(struct store *s, const struct cc_prune_opts *o,
			    struct cc_prune_result *ret, struct cc_err *err)
{
	struct prune pr = { .s = s, .o = o, .ret = ret, .dry = o->dry_run,
			    .grace_ns = (int64_t)(o->grace * 1e9) };
	enum cc_code rc;

	memset(ret, 0, sizeof(*ret));
	if ((rc = state_load(&pr.st, s, "", !pr.dry, err)))
		goto cleanup;
	pr.now = o->now_ns ? o->now_ns : pr.st.now_ns;
	ret->entries_before = pr.st.nents;
	ret->stored_before = pr.st.stored;
	for (size_t i = 0; i < pr.st.ndf; i++)
		if (pr.st.df[i].pack != SIZE_MAX)
			pr.live += pr.st.df[i].len;
	if ((rc = choose_entries(&pr, err)) ||
	    (!pr.dry && (pr.st.nents || pr.st.packs.n) && (rc = state_prepare(&pr.st, err))) ||
	    (rc = delete_entries(&pr, err)) ||
	    (rc = prune_packs(&pr, err)))
		goto cleanup;
	if (!pr.dry)
		rc = sweep(&pr, err);
cleanup:
	free(pr.pack_live);
	state_free(&pr.st);
	return rc;
}

/* ---- check ---- */

/* Reads every frame the manifest's chunk records use, decompresses it
 * and checks each chunk's id. */
static enum cc_code check_data(struct store *s, const char *name, struct cc_check_result *res,
			       struct cc_err *err)
{
	struct mf_reader r;
	struct mf_chunk c;
	struct buf cbuf = BUF_INIT, ubuf = BUF_INIT;
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	struct mf_frame cur = { 0 };
	char hex[CC_ID_HEX_LEN + 1] = "";
	bool have = false, done = false, found = false, opened = false;
	enum cc_code rc;
	int fd;

	if (!dc) {
		fd = -1;
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate a zstd context");
		goto cleanup;
	}
	if ((rc = fetch(s, name, MF_MAX_SIZE, &fd, &found, err)))
		goto cleanup;
	if (!found) {
		rc = cc_err_set(err, CC_ECORRUPT, 0, "entry vanished");
		goto cleanup;
	}
	if ((rc = mf_open(&r, fd, err)))
		goto cleanup;
	opened = true;
	while (!(rc = mf_next_chunk(&r, &c, &done, err)) && !done) {
		struct cc_id id;
		char pname[STORE_PACK_NAME_SIZE];

		if (!have || c.frame.pack != cur.pack || c.frame.off != cur.off) {
			cur = c.frame;
			have = true;
			cc_id_hex(&r.packs[cur.pack], hex);
			store_pack_name(pname, STORE_PACKS_PREFIX, &r.packs[cur.pack]);
			buf_reset(&cbuf);
			buf_reset(&ubuf);
			if ((rc = buf_grow(&cbuf, cur.clen, err)) || (rc = buf_grow(&ubuf, cur.ulen, err)))
				break;
			if ((rc = s->ops->get_range(s, pname, cur.off, cur.clen, cbuf.data, err)))
				break;
			res->frames_read++;
			res->bytes_read += cur.clen;
			if (cur.codec == FRAME_RAW) {
				if (cur.clen != cur.ulen) {
					rc = cc_err_set(err, CC_ECORRUPT, 0, "raw frame of bad length");
					break;
				}
				memcpy(ubuf.data, cbuf.data, cur.clen);
			} else {
				size_t k = ZSTD_decompressDCtx(dc, ubuf.data, cur.ulen, cbuf.data, cur.clen);

				if (ZSTD_isError(k) || k != cur.ulen) {
					rc = cc_err_set(err, CC_ECORRUPT, 0,
							"pack %s at %" PRIu64 " does not decompress", hex,
							cur.off);
					break;
				}
			}
		}
		if ((uint64_t)c.off + c.len > cur.ulen) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "chunk outside its frame");
			break;
		}
		cc_id_of(&id, ubuf.data + c.off, c.len);
		if (!cc_id_eq(&id, &c.id)) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "a chunk of pack %s at %" PRIu64
					" does not match its id", hex, cur.off);
			break;
		}
	}
cleanup:
	if (opened)
		mf_close(&r);
	if (fd >= 0)
		close(fd);
	ZSTD_freeDCtx(dc);
	buf_release(&cbuf);
	buf_release(&ubuf);
	return rc;
}

enum cc_code cc_store_check(struct store *s, bool read_data, cc_lifecycle_note_fn note,
			    void *ctx, struct cc_check_result *ret, struct cc_err *err)
{
	struct objs l;
	struct buf k = BUF_INIT;
	enum cc_code rc;
	char ver[17];

	memset(ret, 0, sizeof(*ret));
	if ((rc = list_sorted(s, STORE_KEYS_PREFIX, &l, err)))
		return rc;
	buf_init(&k, 0);
	for (size_t i = 0; i < l.n; i++) {
		struct cc_entry *e = NULL;
		struct cc_err e2 = { 0 };
		enum cc_code r2;

		if (!store_entry_parse(l.v[i].name, &k, ver))
			continue;
		ret->entries++;
		r2 = cc_entry_open(s, l.v[i].name, k.data, &e, &e2);
		if (!r2)
			r2 = cc_entry_check_packs(e, &e2);
		if (e)
			cc_entry_close(e);
		if (!r2 && read_data)
			r2 = check_data(s, l.v[i].name, ret, &e2);
		if (r2 == CC_ECORRUPT) {
			ret->bad_entries++;
			if (note)
				note(ctx, e2.msg, k.data, 0);
			continue;
		}
		if (r2) {
			*err = e2;
			rc = r2;
			break;
		}
		if (note)
			note(ctx, "ok", k.data, 0);
	}
	buf_release(&k);
	objs_free(&l);
	return rc;
}
