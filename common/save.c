/* save.c: walk -> chunk + hash -> compress (worker threads) -> pack ->
 * publish packs -> publish the manifest (the commit point).
 *
 * The main thread walks the tree, reads file data into one stream buffer,
 * cuts it into content-defined chunks and looks each chunk up in what the
 * store already holds.  New chunks are gathered into frames of about
 * FRAME_TARGET bytes; worker threads compress frames; the main thread
 * appends finished frames to the current pack in submission order and
 * only then emits the chunk records that point into them.  Memory is
 * bounded by the frames in flight and the pending-record queue, never by
 * the size of the tree. */
#include "save.h"
#include "glob.h"
#include "chunker.h"
#include "chunkset.h"
#include "key.h"
#include "log.h"
#include "manifest.h"
#include "summary.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FRAME_TARGET (4u << 20)
#define PACK_TARGET (64u << 20)
#define READ_SIZE (1u << 20)
#define NBLOCKS 8
#define MAX_PENDING 65536
#define MAX_BASES 3
#define PACK_MAGIC "CCPACK1\n"

struct job {
	unsigned char *raw, *out;
	size_t rawlen, outlen, outcap;
	uint32_t codec, frame;
	bool done;
	struct job *next;
};

struct block {
	unsigned char *data;
	size_t len;
	struct block *next;
};

struct row {
	struct cc_id id;
	struct chunk_loc loc;
};

struct link_slot {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct saver {
	struct store *store;
	const struct save_opts *o;
	struct save_stats *st;
	struct cc_err *err;
	struct chunkset cs;
	struct mf_writer mw;
	struct chunker ck;

	/* The chunker thread owns everything from here to mpacks; it reports
	 * through cerr.  The reader (the calling thread) hands it file data
	 * in blocks through the queue below. */
	struct cc_err *cerr, cerr_store;
	pthread_t chunker;
	bool chunker_started;
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct block *full_head, *full_tail, *free_blocks, *rblock;
	size_t nblocks;
	bool eof;		/* the reader has queued its last block */
	bool cfailed;		/* the chunker hit an error; reader stops */

	/* stream buffer: [cstart, scanpos) scanned, [scanpos, slen) not yet */
	unsigned char *sbuf;
	size_t scap, slen, cstart, scanpos;

	/* compression pool */
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	pthread_t *threads;
	int nthreads;
	bool stop;
	struct job *queue_head, *queue_tail;	/* waiting for a worker */
	struct job **ring;			/* submitted, in order */
	size_t ring_cap, ring_head, ring_len;
	struct job *free_jobs;
	struct job *cur;			/* being filled */

	/* pack being written */
	int pack_fd;
	struct buf pack_tmp;
	uint64_t pack_len;
	uint32_t pack_idx;
	XXH3_state_t *pack_hash;

	/* The previous pack's upload to a remote store, which runs while the
	 * next pack fills. */
	struct {
		pthread_t thr;
		bool running;
		char *name, *tmp;
		enum cc_code rc;
		struct cc_err err;
	} up;

	/* chunk records waiting for their frame */
	struct row *rows;
	size_t rows_head, rows_len;

	uint32_t *mpacks;	/* manifest pack table: chunkset pack indices */
	size_t nmpacks, mpacks_alloc;

	struct link_slot *links;
	size_t nlinks_slots, nlinks;

	/* The store's own directory, when it is on this machine: a path
	 * that holds it is saved without it. */
	bool store_local;
	dev_t store_dev;
	ino_t store_ino;

	struct mf_entry ent;
	struct buf path;
	/* Excluded directories entered because a later pattern may include
	 * something inside: recorded only before the first such entry. */
	struct pending_dir { char *path; struct stat st; } *pend;
	size_t npend, pend_alloc, pend_done;
	double last_progress;
	struct cc_progress prog;
};

/* ------------------------------------------------------------------ */
/* compression workers */

static void *worker(void *arg)
{
	struct saver *sv = arg;
	ZSTD_CCtx *zc = ZSTD_createCCtx();

	if (zc)
		ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, sv->o->level ? sv->o->level : 3);
	for (;;) {
		struct job *j;
		size_t n = 0;

		pthread_mutex_lock(&sv->mu);
		while (!sv->queue_head && !sv->stop)
			pthread_cond_wait(&sv->cv_work, &sv->mu);
		if (!sv->queue_head) {
			pthread_mutex_unlock(&sv->mu);
			break;
		}
		j = sv->queue_head;
		sv->queue_head = j->next;
		if (!sv->queue_head)
			sv->queue_tail = NULL;
		pthread_mutex_unlock(&sv->mu);

		if (zc)
			n = ZSTD_compress2(zc, j->out, j->outcap, j->raw, j->rawlen);
		/* Store raw when compression does not pay (or failed). */
		if (!zc || ZSTD_isError(n) || n >= j->rawlen - j->rawlen / 32) {
			j->codec = FRAME_RAW;
			j->outlen = j->rawlen;
		} else {
			j->codec = FRAME_ZSTD;
			j->outlen = n;
		}
		pthread_mutex_lock(&sv->mu);
		j->done = true;
		pthread_cond_broadcast(&sv->cv_done);
		pthread_mutex_unlock(&sv->mu);
	}
	ZSTD_freeCCtx(zc);
	return NULL;
}

static enum cc_code pool_start(struct saver *sv)
{
	int n = sv->o->jobs > 0 ? sv->o->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	sv->threads = calloc((size_t)n, sizeof(*sv->threads));
	sv->ring_cap = (size_t)n * 2 + 2;
	sv->ring = calloc(sv->ring_cap, sizeof(*sv->ring));
	if (!sv->threads || !sv->ring)
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate the worker pool");
	for (int i = 0; i < n; i++) {
		int e = pthread_create(&sv->threads[i], NULL, worker, sv);

		if (e)
			return cc_err_set(sv->err, CC_EINTERNAL, e, "cannot start a thread");
		sv->nthreads++;
	}
	return CC_OK;
}

static void pool_stop(struct saver *sv)
{
	pthread_mutex_lock(&sv->mu);
	sv->stop = true;
	pthread_cond_broadcast(&sv->cv_work);
	pthread_mutex_unlock(&sv->mu);
	for (int i = 0; i < sv->nthreads; i++)
		pthread_join(sv->threads[i], NULL);
	sv->nthreads = 0;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->raw);
	free(j->out);
	free(j);
}

static enum cc_code job_get(struct saver *sv, struct job **ret)
{
	struct job *j = sv->free_jobs;

	if (j) {
		sv->free_jobs = j->next;
	} else {
		j = calloc(1, sizeof(*j));
		if (j) {
			j->outcap = ZSTD_compressBound(FRAME_TARGET + CHUNK_MAX_DEFAULT);
			j->raw = malloc(FRAME_TARGET + CHUNK_MAX_DEFAULT);
			j->out = malloc(j->outcap);
		}
		if (!j || !j->raw || !j->out) {
			job_free(j);
			return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate a frame");
		}
	}
	j->rawlen = j->outlen = 0;
	j->done = false;
	j->next = NULL;
	*ret = j;
	return CC_OK;
}

/* ------------------------------------------------------------------ */
/* packs */

static void *upload_main(void *arg)
{
	struct saver *sv = arg;

	sv->up.rc = sv->store->ops->put(sv->store, sv->up.name, sv->up.tmp, STORE_PUT_MOVE, NULL,
					&sv->up.err);
	return NULL;
}

/* Waits for the pack upload in flight, if any.  @return its result. */
static enum cc_code upload_wait(struct saver *sv, struct cc_err *err)
{
	enum cc_code rc;

	if (!sv->up.running)
		return CC_OK;
	pthread_join(sv->up.thr, NULL);
	sv->up.running = false;
	if ((rc = sv->up.rc)) {
		*err = sv->up.err;
		unlink(sv->up.tmp);
	}
	free(sv->up.name);
	free(sv->up.tmp);
	sv->up.name = sv->up.tmp = NULL;
	return rc;
}

/* Publishes the sealed pack: at once into a local store, or by an upload
 * thread into a remote one (one upload in flight at a time). */
static enum cc_code pack_publish(struct saver *sv, const char *name)
{
	enum cc_code rc;

	if ((rc = upload_wait(sv, sv->cerr)))
		return rc;
	if (sv->store->ops->caps & STORE_CAP_LOCAL_TMP)
		return sv->store->ops->put(sv->store, name, sv->pack_tmp.data, STORE_PUT_MOVE, NULL,
					   sv->cerr);
	if (!(sv->up.name = strdup(name)) || !(sv->up.tmp = strdup(sv->pack_tmp.data))) {
		free(sv->up.name);
		sv->up.name = NULL;
		return cc_err_set(sv->cerr, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	cc_err_clear(&sv->up.err);
	if (pthread_create(&sv->up.thr, NULL, upload_main, sv)) {
		rc = sv->store->ops->put(sv->store, name, sv->up.tmp, STORE_PUT_MOVE, NULL,
					 sv->cerr);
		free(sv->up.name);
		free(sv->up.tmp);
		sv->up.name = sv->up.tmp = NULL;
		return rc;
	}
	sv->up.running = true;
	return CC_OK;
}

static enum cc_code pack_seal(struct saver *sv)
{
	char hex[CC_ID_HEX_LEN + 1];
	struct buf name = BUF_INIT;
	struct cc_id id;
	enum cc_code rc;

	if (sv->pack_fd < 0)
		return CC_OK;
	cc_id_from_hash(&id, XXH3_128bits_digest(sv->pack_hash));
	if (close(sv->pack_fd)) {
		sv->pack_fd = -1;
		return cc_err_set(sv->cerr, CC_ESTORE, errno, "cannot write pack '%s'", sv->pack_tmp.data);
	}
	sv->pack_fd = -1;
	cc_id_hex(&id, hex);
	if ((rc = buf_addf(&name, sv->cerr, "%s%s.pack", STORE_PACKS_PREFIX, hex)))
		goto cleanup;
	if ((rc = pack_publish(sv, name.data)))
		goto cleanup;
	buf_reset(&sv->pack_tmp);
	sv->cs.packs[sv->pack_idx].id = id;
	sv->cs.packs[sv->pack_idx].sealed = true;
	sv->st->packs++;
	sv->st->new_bytes += sv->pack_len;
	cc_debug("stored pack %s (%llu bytes)", hex, (unsigned long long)sv->pack_len);
cleanup:
	buf_release(&name);
	return rc;
}

static enum cc_code write_fd(int fd, const void *p, size_t n, const char *what,
			     struct cc_err *err)
{
	const char *c = p;

	while (n) {
		ssize_t k = write(fd, c, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return cc_err_set(err, CC_ESTORE, errno, "cannot write '%s'", what);
		c += k;
		n -= (size_t)k;
	}
	return CC_OK;
}

static enum cc_code pack_append(struct saver *sv, struct job *j)
{
	const void *data = j->codec == FRAME_RAW ? j->raw : j->out;
	struct frame_info *f;
	enum cc_code rc;

	if (sv->pack_fd < 0) {
		static const struct cc_id zero;

		sv->pack_fd = store_tmpfile(sv->store, &sv->pack_tmp, sv->cerr);
		if (sv->pack_fd < 0)
			return sv->cerr->code;
		XXH3_128bits_reset(sv->pack_hash);
		XXH3_128bits_update(sv->pack_hash, PACK_MAGIC, 8);
		if ((rc = write_fd(sv->pack_fd, PACK_MAGIC, 8, sv->pack_tmp.data, sv->cerr)))
			return rc;
		sv->pack_len = 8;
		if ((rc = chunkset_pack(&sv->cs, &zero, false, &sv->pack_idx, sv->cerr)))
			return rc;
	}
	if ((rc = write_fd(sv->pack_fd, data, j->outlen, sv->pack_tmp.data, sv->cerr)))
		return rc;
	XXH3_128bits_update(sv->pack_hash, data, j->outlen);
	f = &sv->cs.frames[j->frame];
	f->pack = sv->pack_idx;
	f->codec = j->codec;
	f->off = sv->pack_len;
	f->clen = (uint32_t)j->outlen;
	f->ulen = (uint32_t)j->rawlen;
	f->ready = true;
	sv->pack_len += j->outlen;
	if (sv->pack_len >= PACK_TARGET)
		return pack_seal(sv);
	return CC_OK;
}

/* ------------------------------------------------------------------ */
/* chunk records */

static enum cc_code emit_rows(struct saver *sv)
{
	enum cc_code rc;

	while (sv->rows_len) {
		struct row *r = &sv->rows[sv->rows_head];
		struct frame_info *f = &sv->cs.frames[r->loc.frame];
		struct pack_info *p;
		struct mf_chunk c;

		if (!f->ready)
			break;
		p = &sv->cs.packs[f->pack];
		if (p->manifest_idx < 0) {
			if (sv->nmpacks == sv->mpacks_alloc) {
				size_t na = sv->mpacks_alloc ? sv->mpacks_alloc * 2 : 64;
				uint32_t *x = realloc(sv->mpacks, na * sizeof(*x));

				if (!x)
					return cc_err_set(sv->cerr, CC_ENOMEM, ENOMEM, "cannot allocate");
				sv->mpacks = x;
				sv->mpacks_alloc = na;
			}
			p->manifest_idx = (int64_t)sv->nmpacks;
			sv->mpacks[sv->nmpacks++] = f->pack;
		}
		c.id = r->id;
		c.frame.pack = (uint32_t)p->manifest_idx;
		c.frame.codec = f->codec;
		c.frame.off = f->off;
		c.frame.clen = f->clen;
		c.frame.ulen = f->ulen;
		c.off = r->loc.off;
		c.len = r->loc.len;
		if ((rc = mf_add_chunk(&sv->mw, &c, sv->cerr)))
			return rc;
		sv->rows_head = (sv->rows_head + 1) % MAX_PENDING;
		sv->rows_len--;
	}
	return CC_OK;
}

/* Takes finished jobs off the ring in order.  With wait, blocks until at
 * least the oldest job is finished. */
static enum cc_code drain(struct saver *sv, bool wait)
{
	enum cc_code rc;

	while (sv->ring_len) {
		struct job *j = sv->ring[sv->ring_head];
		bool done;

		pthread_mutex_lock(&sv->mu);
		while (wait && !j->done)
			pthread_cond_wait(&sv->cv_done, &sv->mu);
		done = j->done;	/* workers write it under mu */
		pthread_mutex_unlock(&sv->mu);
		if (!done)
			break;
		wait = false;
		sv->ring_head = (sv->ring_head + 1) % sv->ring_cap;
		sv->ring_len--;
		rc = pack_append(sv, j);
		j->next = sv->free_jobs;
		sv->free_jobs = j;
		if (rc)
			return rc;
	}
	return emit_rows(sv);
}

static enum cc_code submit(struct saver *sv)
{
	struct job *j = sv->cur;
	enum cc_code rc;

	if (!j)
		return CC_OK;
	while (sv->ring_len == sv->ring_cap)
		if ((rc = drain(sv, true)))
			return rc;
	sv->cur = NULL;
	sv->ring[(sv->ring_head + sv->ring_len) % sv->ring_cap] = j;
	sv->ring_len++;
	pthread_mutex_lock(&sv->mu);
	if (sv->queue_tail)
		sv->queue_tail->next = j;
	else
		sv->queue_head = j;
	sv->queue_tail = j;
	pthread_cond_signal(&sv->cv_work);
	pthread_mutex_unlock(&sv->mu);
	return drain(sv, false);
}

static enum cc_code push_row(struct saver *sv, const struct cc_id *id,
			     const struct chunk_loc *loc)
{
	enum cc_code rc;

	while (sv->rows_len == MAX_PENDING) {
		/* The oldest record waits for a frame still being filled or
		 * compressed: push it through. */
		if ((rc = submit(sv)) || (rc = drain(sv, true)))
			return rc;
	}
	sv->rows[(sv->rows_head + sv->rows_len) % MAX_PENDING] = (struct row){ *id, *loc };
	sv->rows_len++;
	return sv->rows_len == 1 ? emit_rows(sv) : CC_OK;
}

static enum cc_code emit_chunk(struct saver *sv, const unsigned char *data, size_t len)
{
	const struct chunk_loc *found;
	struct chunk_loc loc;
	struct cc_id id;
	enum cc_code rc;

	cc_id_of(&id, data, len);
	sv->st->chunks++;
	found = chunkset_find(&sv->cs, &id);
	if (found)
		return push_row(sv, &id, found);
	if (!sv->cur) {
		struct frame_info f = { 0 };

		if ((rc = job_get(sv, &sv->cur)) ||
		    (rc = chunkset_add_frame(&sv->cs, &f, &sv->cur->frame, sv->cerr)))
			return rc;
	}
	loc.frame = sv->cur->frame;
	loc.off = (uint32_t)sv->cur->rawlen;
	loc.len = (uint32_t)len;
	memcpy(sv->cur->raw + sv->cur->rawlen, data, len);
	sv->cur->rawlen += len;
	sv->st->new_chunks++;
	sv->st->new_data += len;
	if ((rc = chunkset_add(&sv->cs, &id, &loc, sv->cerr)) ||
	    (rc = push_row(sv, &id, &loc)))
		return rc;
	if (sv->cur && sv->cur->rawlen >= FRAME_TARGET)
		return submit(sv);
	return CC_OK;
}

/* ------------------------------------------------------------------ */
/* the data stream */

static enum cc_code scan(struct saver *sv)
{
	enum cc_code rc;

	while (sv->scanpos < sv->slen) {
		bool cut;
		size_t n = chunker_scan(&sv->ck, sv->sbuf + sv->scanpos, sv->slen - sv->scanpos, &cut);

		sv->scanpos += n;
		if (!cut)
			break;
		if ((rc = emit_chunk(sv, sv->sbuf + sv->cstart, sv->scanpos - sv->cstart)))
			return rc;
		sv->cstart = sv->scanpos;
	}
	return CC_OK;
}

/* Appends a block of the data stream and cuts what can be cut. */
static enum cc_code feed(struct saver *sv, const unsigned char *data, size_t len)
{
	if (sv->scap - sv->slen < len) {
		memmove(sv->sbuf, sv->sbuf + sv->cstart, sv->slen - sv->cstart);
		sv->slen -= sv->cstart;
		sv->scanpos -= sv->cstart;
		sv->cstart = 0;
	}
	memcpy(sv->sbuf + sv->slen, data, len);
	sv->slen += len;
	return scan(sv);
}

/* After the last block: the tail is the last chunk; then every frame is
 * compressed, written and recorded, and the last pack sealed. */
static enum cc_code stream_finish(struct saver *sv)
{
	enum cc_code rc = CC_OK;

	if (sv->slen > sv->cstart)
		rc = emit_chunk(sv, sv->sbuf + sv->cstart, sv->slen - sv->cstart);
	sv->slen = sv->cstart = sv->scanpos = 0;
	if (!rc)
		rc = submit(sv);
	while (!rc && sv->ring_len)
		rc = drain(sv, true);
	if (!rc)
		rc = pack_seal(sv);
	if (!rc)
		rc = emit_rows(sv);
	if (!rc && sv->rows_len)
		rc = cc_err_set(sv->cerr, CC_EINTERNAL, 0, "chunk records left behind");
	return rc;
}

static void *chunker_main(void *arg)
{
	struct saver *sv = arg;
	enum cc_code rc = CC_OK;

	for (;;) {
		struct block *b;
		bool last;

		pthread_mutex_lock(&sv->qmu);
		while (!sv->full_head && !sv->eof)
			pthread_cond_wait(&sv->qcv, &sv->qmu);
		b = sv->full_head;
		if (b) {
			sv->full_head = b->next;
			if (!sv->full_head)
				sv->full_tail = NULL;
		}
		last = !b && sv->eof;
		pthread_mutex_unlock(&sv->qmu);
		if (last)
			break;
		/* After an error, keep taking blocks so the reader never waits
		 * forever; it sees cfailed and stops. */
		if (!rc && (rc = feed(sv, b->data, b->len))) {
			pthread_mutex_lock(&sv->qmu);
			sv->cfailed = true;
			pthread_mutex_unlock(&sv->qmu);
		}
		pthread_mutex_lock(&sv->qmu);
		b->next = sv->free_blocks;
		sv->free_blocks = b;
		pthread_cond_broadcast(&sv->qcv);
		pthread_mutex_unlock(&sv->qmu);
	}
	if (!rc)
		rc = stream_finish(sv);
	if (rc) {
		pthread_mutex_lock(&sv->qmu);
		sv->cfailed = true;
		pthread_mutex_unlock(&sv->qmu);
	}
	return NULL;
}

/* Reader side: queues the current block (if any) for the chunker. */
static void queue_block(struct saver *sv)
{
	struct block *b = sv->rblock;

	if (!b)
		return;
	sv->rblock = NULL;
	pthread_mutex_lock(&sv->qmu);
	b->next = NULL;
	if (sv->full_tail)
		sv->full_tail->next = b;
	else
		sv->full_head = b;
	sv->full_tail = b;
	pthread_cond_broadcast(&sv->qcv);
	pthread_mutex_unlock(&sv->qmu);
}

/* Reader side: makes sure rblock has room.  @return false if the chunker
 * failed (its error is reported at the end) or memory ran out. */
static enum cc_code reader_block(struct saver *sv)
{
	struct block *b = NULL;
	bool failed;

	if (sv->rblock && sv->rblock->len < READ_SIZE)
		return CC_OK;
	queue_block(sv);
	pthread_mutex_lock(&sv->qmu);
	while (!sv->free_blocks && sv->nblocks >= NBLOCKS && !sv->cfailed)
		pthread_cond_wait(&sv->qcv, &sv->qmu);
	failed = sv->cfailed;
	if (!failed && sv->free_blocks) {
		b = sv->free_blocks;
		sv->free_blocks = b->next;
	}
	pthread_mutex_unlock(&sv->qmu);
	if (failed)
		return CC_EINTERNAL;	/* the chunker's error wins */
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || !(b->data = malloc(READ_SIZE))) {
			free(b);
			return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		}
		sv->nblocks++;
	}
	b->len = 0;
	sv->rblock = b;
	return CC_OK;
}

static enum cc_code stream_read(struct saver *sv, int fd, uint64_t want, const char *what)
{
	enum cc_code rc;

	while (want) {
		size_t room, n;
		ssize_t k;

		if ((rc = reader_block(sv)))
			return rc;
		room = READ_SIZE - sv->rblock->len;
		n = want < room ? (size_t)want : room;
		k = read(fd, sv->rblock->data + sv->rblock->len, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return cc_err_set(sv->err, CC_ESOURCE, errno, "cannot read '%s'", what);
		if (k == 0)
			return cc_err_set(sv->err, CC_ESOURCE, 0,
					  "'%s' shrank while it was being saved", what);
		sv->rblock->len += (size_t)k;
		want -= (uint64_t)k;
		sv->st->bytes += (uint64_t)k;
		sv->prog.bytes_done = sv->st->bytes;
	}
	return CC_OK;
}

/* Reader side: tells the chunker the stream has ended and waits for it.
 * @return the chunker's error, if any. */
static enum cc_code chunker_join(struct saver *sv, enum cc_code rc)
{
	if (!sv->chunker_started)
		return rc;
	if (!rc)
		queue_block(sv);
	pthread_mutex_lock(&sv->qmu);
	sv->eof = true;
	pthread_cond_broadcast(&sv->qcv);
	pthread_mutex_unlock(&sv->qmu);
	pthread_join(sv->chunker, NULL);
	sv->chunker_started = false;
	if (sv->cfailed && (!rc || rc == CC_EINTERNAL) && sv->cerr->code) {
		*sv->err = *sv->cerr;
		return sv->cerr->code;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* the walk */

static void progress(struct saver *sv)
{
	double t = now_monotonic();

	if (t - sv->last_progress < 0.1)
		return;
	sv->last_progress = t;
	cc_progress(&sv->prog);
}

static void fill_meta(struct mf_entry *e, const struct stat *st)
{
	e->mode = st->st_mode & 07777;
	e->mtime_sec = st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->flags = 0;
	e->size = 0;
	e->nextents = 0;
	buf_reset(&e->target);
}

/* Finds the data extents of a sparse file; leaves e dense when the file
 * has no holes or too many extents to list. */
static enum cc_code find_extents(struct saver *sv, int fd, const struct stat *st,
				 struct mf_entry *e)
{
	off_t pos = 0, size = st->st_size;

	if ((uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size || !size)
		return CC_OK;
	while (pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO)
				break;
			e->nextents = 0;	/* no SEEK_DATA here: read it all */
			return CC_OK;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		if (e->nextents == MF_MAX_EXTENTS) {
			e->nextents = 0;
			return CC_OK;
		}
		if (e->nextents == e->extents_alloc) {
			size_t na = e->extents_alloc ? e->extents_alloc * 2 : 16;
			struct mf_extent *x = realloc(e->extents, na * sizeof(*x));

			if (!x)
				return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
			e->extents = x;
			e->extents_alloc = na;
		}
		e->extents[e->nextents].off = (uint64_t)data;
		e->extents[e->nextents].len = (uint64_t)(hole - data);
		e->nextents++;
		pos = hole;
	}
	if (e->nextents == 1 && e->extents[0].off == 0 && e->extents[0].len == (uint64_t)size) {
		e->nextents = 0;
		return CC_OK;
	}
	e->flags |= MF_F_SPARSE;
	return CC_OK;
}

static uint64_t link_hash(dev_t dev, ino_t ino)
{
	uint64_t k[2] = { (uint64_t)dev, (uint64_t)ino };

	return XXH3_64bits(k, sizeof(k));
}

/* Looks up (dev, ino); if absent, remembers it under path.
 * *ret_path gets the first path seen, or NULL if this is the first. */
static enum cc_code link_lookup(struct saver *sv, const struct stat *st, const char *path,
				const char **ret_path)
{
	size_t mask, i;

	*ret_path = NULL;
	if ((sv->nlinks + 1) * 2 >= sv->nlinks_slots) {
		size_t n = sv->nlinks_slots ? sv->nlinks_slots * 2 : 256;
		struct link_slot *s = calloc(n, sizeof(*s));

		if (!s)
			return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		for (size_t k = 0; k < sv->nlinks_slots; k++) {
			if (!sv->links[k].path)
				continue;
			for (i = link_hash(sv->links[k].dev, sv->links[k].ino) & (n - 1); s[i].path;
			     i = (i + 1) & (n - 1))
				;
			s[i] = sv->links[k];
		}
		free(sv->links);
		sv->links = s;
		sv->nlinks_slots = n;
	}
	mask = sv->nlinks_slots - 1;
	for (i = link_hash(st->st_dev, st->st_ino) & mask; sv->links[i].path; i = (i + 1) & mask)
		if (sv->links[i].dev == st->st_dev && sv->links[i].ino == st->st_ino) {
			*ret_path = sv->links[i].path;
			return CC_OK;
		}
	sv->links[i].path = strdup(path);
	if (!sv->links[i].path)
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	sv->links[i].dev = st->st_dev;
	sv->links[i].ino = st->st_ino;
	sv->nlinks++;
	return CC_OK;
}

static void links_reset(struct saver *sv)
{
	for (size_t k = 0; k < sv->nlinks_slots; k++)
		free(sv->links[k].path);
	free(sv->links);
	sv->links = NULL;
	sv->nlinks_slots = sv->nlinks = 0;
}

/* what: the path for messages. */
static enum cc_code save_file(struct saver *sv, int dfd, const char *name, const char *what)
{
	struct mf_entry *e = &sv->ent;
	struct stat st;
	enum cc_code rc = CC_OK;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cc_err_set(sv->err, CC_ESOURCE, errno, "cannot open '%s'", what);
	if (fstat(fd, &st)) {
		rc = cc_err_set(sv->err, CC_ESOURCE, errno, "cannot stat '%s'", what);
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = cc_err_set(sv->err, CC_ESOURCE, 0, "'%s' changed type while it was being saved", what);
		goto cleanup;
	}
	fill_meta(e, &st);
	e->type = MF_FILE;
	e->size = (uint64_t)st.st_size;
	if (st.st_nlink > 1) {
		const char *first;

		if ((rc = link_lookup(sv, &st, e->path.data, &first)))
			goto cleanup;
		if (first) {
			e->type = MF_HARDLINK;
			e->size = 0;
			if ((rc = buf_addstr(&e->target, first, sv->err)))
				goto cleanup;
			sv->st->hardlinks++;
			rc = mf_add_entry(&sv->mw, e, sv->err);
			goto cleanup;
		}
		e->flags |= MF_F_LINK_TARGET;
	}
	if ((rc = find_extents(sv, fd, &st, e)))
		goto cleanup;
	if ((rc = mf_add_entry(&sv->mw, e, sv->err)))
		goto cleanup;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (e->flags & MF_F_SPARSE) {
		for (size_t i = 0; i < e->nextents && !rc; i++) {
			if (lseek(fd, (off_t)e->extents[i].off, SEEK_SET) < 0)
				rc = cc_err_set(sv->err, CC_ESOURCE, errno, "cannot seek in '%s'", what);
			else
				rc = stream_read(sv, fd, e->extents[i].len, what);
		}
	} else {
		rc = stream_read(sv, fd, e->size, what);
	}
	sv->st->files++;
	sv->prog.files_done++;
cleanup:
	close(fd);
	return rc;
}

static enum cc_code save_entry(struct saver *sv, int dfd, const char *name,
			       const char *root_abs);

/* Whether st is the local store's directory: by identity, so any
 * spelling of it (a symbolic link, "..", a bind mount) is caught. */
static bool is_store(const struct saver *sv, const struct stat *st)
{
	return sv->store_local && st->st_dev == sv->store_dev && st->st_ino == sv->store_ino;
}

/* Saves the contents of the directory open as dfd (taken over). */
static enum cc_code save_dir_contents(struct saver *sv, int dfd, const char *root_abs)
{
	DIR *d = fdopendir(dfd);
	char **names = NULL;
	size_t n = 0, base = sv->path.len;
	enum cc_code rc = CC_OK;

	if (!d) {
		close(dfd);
		return cc_err_set(sv->err, CC_ESOURCE, errno, "cannot read directory '%s/%s'",
				  root_abs, sv->path.data);
	}
	/* Sorted: a fixed order makes the data stream, and so the chunks,
	 * independent of the file system's directory order. */
	if (dir_names_sorted(d, &names, &n)) {
		rc = cc_err_set(sv->err, errno == ENOMEM ? CC_ENOMEM : CC_ESOURCE, errno,
				"cannot read directory '%s/%s'", root_abs, sv->path.data);
		goto cleanup;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		buf_setlen(&sv->path, base);
		if ((base && (rc = buf_add(&sv->path, "/", 1, sv->err))) ||
		    (rc = buf_addstr(&sv->path, names[i], sv->err)))
			break;
		rc = save_entry(sv, dirfd(d), names[i], root_abs);
	}
	buf_setlen(&sv->path, base);
cleanup:
	free_names(names, n);
	closedir(d);
	return rc;
}

/* Records the pending directories, outermost first, before an entry
 * below them. */
static enum cc_code pending_flush(struct saver *sv)
{
	struct mf_entry e;
	enum cc_code rc = CC_OK;

	if (sv->pend_done == sv->npend)
		return CC_OK;
	mf_entry_init(&e);
	for (; sv->pend_done < sv->npend && !rc; sv->pend_done++) {
		const struct pending_dir *d = &sv->pend[sv->pend_done];

		fill_meta(&e, &d->st);
		e.type = MF_DIR;
		buf_reset(&e.path);
		if (!(rc = buf_addstr(&e.path, d->path, sv->err)))
			rc = mf_add_entry(&sv->mw, &e, sv->err);
		sv->st->dirs++;
	}
	mf_entry_release(&e);
	return rc;
}

/* Walks the excluded directory name (relative path in sv->path) for what a
 * later pattern includes; the directory is recorded only if something is. */
static enum cc_code save_excluded_dir(struct saver *sv, int dfd, const char *name,
				      const struct stat *st, const char *root_abs,
				      const char *what)
{
	struct pending_dir *d;
	enum cc_code rc;
	int sub;

	if (sv->npend == sv->pend_alloc) {
		size_t na = sv->pend_alloc ? sv->pend_alloc * 2 : 8;
		struct pending_dir *x = realloc(sv->pend, na * sizeof(*x));

		if (!x)
			return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		sv->pend = x;
		sv->pend_alloc = na;
	}
	sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return cc_err_set(sv->err, CC_ESOURCE, errno, "cannot open directory '%s'", what);
	d = &sv->pend[sv->npend];
	if (!(d->path = strdup(sv->path.data))) {
		close(sub);
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	d->st = *st;
	sv->npend++;
	rc = save_dir_contents(sv, sub, root_abs);
	sv->npend--;
	if (sv->pend_done > sv->npend)
		sv->pend_done = sv->npend;
	else
		sv->st->excluded++;
	free(sv->pend[sv->npend].path);
	return rc;
}

/* Saves the entry name in dfd, whose relative path is in sv->path. */
static enum cc_code save_entry(struct saver *sv, int dfd, const char *name,
			       const char *root_abs)
{
	struct mf_entry *e = &sv->ent;
	struct buf what = BUF_INIT;
	struct stat st;
	enum cc_code rc;

	if (cc_cancelled())
		return cc_err_set(sv->err, CC_EINTERNAL, EINTR, "interrupted by a signal");
	if ((rc = buf_addf(&what, sv->err, "%s%s%s", root_abs, sv->path.len ? "/" : "",
			   sv->path.data)))
		return rc;
	buf_reset(&e->path);
	if ((rc = buf_add(&e->path, sv->path.data, sv->path.len, sv->err)))
		goto cleanup;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		rc = cc_err_set(sv->err, CC_ESOURCE, errno, "cannot stat '%s'", what.data);
		goto cleanup;
	}
	/* Exclusions apply below the roots too (see glob.h). */
	if (sv->o->filter && sv->path.len &&
	    !glob_included(sv->o->filter, what.data, S_ISDIR(st.st_mode))) {
		if (S_ISDIR(st.st_mode) && glob_may_include_below(sv->o->filter, what.data))
			rc = save_excluded_dir(sv, dfd, name, &st, root_abs, what.data);
		else
			sv->st->excluded++;
		goto cleanup;
	}
	if ((rc = pending_flush(sv)))
		goto cleanup;
	if (S_ISREG(st.st_mode)) {
		rc = save_file(sv, dfd, name, what.data);
	} else if (S_ISDIR(st.st_mode) && is_store(sv, &st)) {
		/* Saving the store into itself would grow every entry by the
		 * one before; a path that is the store is a usage error. */
		if (!sv->path.len)
			rc = cc_err_set(sv->err, CC_EUSAGE, 0, "path '%s' is the store", what.data);
		else
			cc_info("leaving out the store '%s' inside '%s'", sv->path.data, root_abs);
	} else if (S_ISDIR(st.st_mode)) {
		int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (sub < 0) {
			rc = cc_err_set(sv->err, CC_ESOURCE, errno, "cannot open directory '%s'", what.data);
			goto cleanup;
		}
		fill_meta(e, &st);
		e->type = MF_DIR;
		sv->st->dirs++;
		if ((rc = mf_add_entry(&sv->mw, e, sv->err))) {
			close(sub);
			goto cleanup;
		}
		rc = save_dir_contents(sv, sub, root_abs);
	} else if (S_ISLNK(st.st_mode)) {
		char target[MF_MAX_LINK + 1];
		ssize_t n = readlinkat(dfd, name, target, sizeof(target));

		if (n < 0) {
			rc = cc_err_set(sv->err, CC_ESOURCE, errno, "cannot read link '%s'", what.data);
			goto cleanup;
		}
		if ((size_t)n > MF_MAX_LINK) {
			rc = cc_err_set(sv->err, CC_ESOURCE, 0, "link '%s' has a target over %d bytes",
					what.data, MF_MAX_LINK);
			goto cleanup;
		}
		fill_meta(e, &st);
		e->type = MF_SYMLINK;
		if ((rc = buf_add(&e->target, target, (size_t)n, sv->err)))
			goto cleanup;
		sv->st->symlinks++;
		rc = mf_add_entry(&sv->mw, e, sv->err);
	} else {
		cc_warn("skipping '%s': %s are not cached", what.data,
			S_ISFIFO(st.st_mode) ? "FIFOs" : S_ISSOCK(st.st_mode) ? "sockets"
							     : "device files");
		sv->st->skipped++;
	}
	progress(sv);
cleanup:
	buf_release(&what);
	return rc;
}

static enum cc_code save_root(struct saver *sv, const struct save_root *r)
{
	char *slash, *parent = NULL;
	const char *base;
	enum cc_code rc;
	int dfd = -1;
	struct stat st;

	if (lstat(r->abs, &st)) {
		if (errno == ENOENT)
			return cc_err_set(sv->err, CC_ESOURCE, 0, "path '%s' does not exist", r->abs);
		return cc_err_set(sv->err, CC_ESOURCE, errno, "cannot stat '%s'", r->abs);
	}
	if ((rc = mf_add_root(&sv->mw, r->spec, sv->err)))
		return rc;
	links_reset(sv);
	buf_reset(&sv->path);
	/* Open the parent so the root is read with the same *at() calls as
	 * everything below it. */
	if (!strcmp(r->abs, "/")) {
		parent = strdup("/");
		base = ".";
	} else {
		parent = strdup(r->abs);
		if (!parent)
			return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		slash = strrchr(parent, '/');
		base = r->abs + (slash - parent) + 1;
		if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	if (!parent)
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = cc_err_set(sv->err, CC_ESOURCE, errno, "cannot open '%s'", parent);
		goto cleanup;
	}
	rc = save_entry(sv, dfd, base, r->abs);
cleanup:
	if (dfd >= 0)
		close(dfd);
	free(parent);
	return rc;
}

/* ------------------------------------------------------------------ */
/* what the store already holds */

struct cand {
	char *key;		/* decoded */
	char *name;		/* object name */
	char version[17];	/* "" for a legacy entry */
	int64_t mtime;
};

struct cands {
	struct cand *v;
	size_t n, alloc;
	struct buf kb;
	bool oom;
	bool dedupe;	/* several listings: skip names already collected */
};

static int collect(void *ctx, const struct store_object *o)
{
	struct cands *c = ctx;
	char version[17];

	for (size_t i = 0; c->dedupe && i < c->n; i++)
		if (!strcmp(c->v[i].name, o->name))
			return 0;
	if (!store_entry_parse(o->name, &c->kb, version))
		return 0;	/* no entry of a valid key */
	if (c->n == c->alloc) {
		size_t na = c->alloc ? c->alloc * 2 : 64;
		struct cand *x = realloc(c->v, na * sizeof(*x));

		if (!x) {
			c->oom = true;
			return 1;
		}
		c->v = x;
		c->alloc = na;
	}
	c->v[c->n].key = strdup(c->kb.data);
	c->v[c->n].name = strdup(o->name);
	memcpy(c->v[c->n].version, version, sizeof(version));
	c->v[c->n].mtime = o->mtime_ns;
	c->n++;
	if (!c->v[c->n - 1].key || !c->v[c->n - 1].name) {
		c->oom = true;
		return 1;
	}
	return 0;
}

/* Entries saved with the same paths share the most: they come first. */
static bool same_version(const struct saver *sv, const struct cand *c)
{
	return sv->o->version && !strcmp(c->version, sv->o->version);
}

/* @return true if a is a better base than b (NULL) at equal rank: same
 * version first, then newest. */
static bool better(const struct saver *sv, const struct cand *a, const struct cand *b)
{
	if (!b)
		return true;
	if (same_version(sv, a) != same_version(sv, b))
		return same_version(sv, a);
	return a->mtime > b->mtime;
}

static size_t common_prefix(const char *a, const char *b)
{
	size_t n = 0;

	while (a[n] && a[n] == b[n])
		n++;
	return n;
}

/* Damage notes (docs/format.md, "Damaged packs"): a restore that found a
 * pack damaged leaves "damaged/HEX.pack" and never touches the pack.  A
 * noted pack is not reused, so its chunks are stored again, unless the
 * pack object is newer than the note: a save has put it again since (the
 * same chunks make the same pack), and that copy is whole.
 * Prune's marks, "condemned/HEX.pack" (docs/format.md, "Lifecycle"), are
 * read the same way: a marked pack is deleted after the grace period, so
 * it is never reused, whatever its time (a pack put again after the mark
 * may still be deleted by a prune that listed it before). */
#define DAMAGE_NOTES_MAX (1u << 20)
#define NOTE_DAMAGED 1u
#define NOTE_CONDEMNED 2u

struct damage_note {
	struct cc_id pack;
	int64_t mtime;
	unsigned kind;		/* NOTE_* */
};

struct damage {
	struct damage_note *v;
	size_t n, alloc;
	bool listed;		/* v holds every note; else ask per pack */
	bool oom;
	unsigned kind;		/* of the notes being listed */
};

static const char *note_prefix(unsigned kind)
{
	return kind == NOTE_DAMAGED ? STORE_DAMAGED_PREFIX : STORE_CONDEMNED_PREFIX;
}

static int collect_note(void *ctx, const struct store_object *o)
{
	struct damage *d = ctx;
	const char *hex = o->name + strlen(note_prefix(d->kind));
	char buf[CC_ID_HEX_LEN + 1];
	struct cc_id id;

	if (strlen(hex) != CC_ID_HEX_LEN + 5 || strcmp(hex + CC_ID_HEX_LEN, ".pack"))
		return 0;
	memcpy(buf, hex, CC_ID_HEX_LEN);
	buf[CC_ID_HEX_LEN] = '\0';
	if (!cc_id_parse_hex(&id, buf))
		return 0;
	if (d->n == DAMAGE_NOTES_MAX) {
		d->listed = false;	/* too many to hold: ask per pack */
		return 1;
	}
	if (d->n == d->alloc) {
		size_t na = d->alloc ? d->alloc * 2 : 16;
		struct damage_note *x = realloc(d->v, na * sizeof(*x));

		if (!x) {
			d->oom = true;
			return 1;
		}
		d->v = x;
		d->alloc = na;
	}
	d->v[d->n].pack = id;
	d->v[d->n].mtime = o->mtime_ns;
	d->v[d->n].kind = d->kind;
	d->n++;
	return 0;
}

static int note_cmp(const void *a, const void *b)
{
	const struct damage_note *x = a, *y = b;
	int c = memcmp(&x->pack, &y->pack, sizeof(struct cc_id));

	return c ? c : (int)x->kind - (int)y->kind;
}

/* Reads the notes of the kinds asked for (NOTE_* bits) with one listing
 * each where the store lists them all; a store that lists only the
 * newest match (gha) is asked per pack. */
static enum cc_code damage_load(struct saver *sv, struct damage *d, unsigned kinds)
{
	enum cc_code rc = CC_OK;

	memset(d, 0, sizeof(*d));
	if (sv->store->ops->caps & STORE_CAP_LIST_NEWEST)
		return CC_OK;
	d->listed = true;
	for (unsigned k = NOTE_DAMAGED; k <= NOTE_CONDEMNED && !rc && d->listed && !d->oom; k <<= 1)
		if (kinds & k) {
			d->kind = k;
			rc = sv->store->ops->list(sv->store, note_prefix(k), collect_note, d,
						  sv->err);
		}
	if (!rc && d->oom)
		rc = cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	if (!rc && d->listed && d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), note_cmp);
	return rc;
}

/* Whether the pack has a note of that kind (and its time). */
static enum cc_code note_find(struct saver *sv, struct damage *d, const struct cc_id *pack,
			      unsigned kind, bool *ret_found, int64_t *ret_mtime,
			      struct cc_err *err)
{
	struct store_object o = { 0 };
	bool found = false;

	if (d->listed) {
		struct damage_note key = { .pack = *pack, .kind = kind }, *n;

		n = d->n ? bsearch(&key, d->v, d->n, sizeof(*d->v), note_cmp) : NULL;
		found = n != NULL;
		o.mtime_ns = n ? n->mtime : 0;
	} else {
		char hex[CC_ID_HEX_LEN + 1], name[64];
		enum cc_code rc;

		cc_id_hex(pack, hex);
		snprintf(name, sizeof(name), "%s%s.pack", note_prefix(kind), hex);
		if ((rc = sv->store->ops->stat(sv->store, name, &found, &o, err)))
			return rc;
	}
	*ret_found = found;
	*ret_mtime = o.mtime_ns;
	return CC_OK;
}

/* @return in *ret_why why the pack (stored with mtime pack_mtime) is not
 * to be reused, or NULL: noted damaged and not put again since, or
 * marked by a prune. */
static enum cc_code damage_check(struct saver *sv, struct damage *d, const struct cc_id *pack,
				 int64_t pack_mtime, const char **ret_why, struct cc_err *err)
{
	int64_t mtime;
	bool found;
	enum cc_code rc;

	*ret_why = NULL;
	if ((rc = note_find(sv, d, pack, NOTE_DAMAGED, &found, &mtime, err)))
		return rc;
	if (found && pack_mtime <= mtime) {
		*ret_why = "a restore found it damaged";
		return CC_OK;
	}
	if ((rc = note_find(sv, d, pack, NOTE_CONDEMNED, &found, &mtime, err)))
		return rc;
	if (found)
		*ret_why = "a prune is deleting it";
	return CC_OK;
}

/* Adds the chunks of one stored entry to the chunk set: only those whose
 * pack is there, not noted damaged, and (where the store knows sizes)
 * long enough to hold their frame. */
static enum cc_code load_base(struct saver *sv, const char *name, const char *key,
			     struct damage *dmg)
{
	struct mf_reader r;
	struct cc_err e2;
	uint32_t *packmap = NULL;
	uint64_t *psize = NULL, cut = 0;
	bool found, end, opened = false;
	uint32_t frame = 0;
	uint32_t last_pack = UINT32_MAX;
	uint64_t last_off = 0;
	enum cc_code rc;
	int fd = -1;

	cc_err_clear(&e2);
	/* Nameless: a killed save leaves no copy behind. */
	fd = tmpfile_unnamed(sv->store->tmpdir);
	if (fd < 0) {
		rc = cc_err_set(sv->err, CC_ESTORE, errno, "cannot create a temporary file in '%s'",
				sv->store->tmpdir);
		goto cleanup;
	}
	if ((rc = sv->store->ops->get_file(sv->store, name, fd, MF_MAX_SIZE, &found, &e2)))
		goto soft;
	if (!found)
		goto cleanup;
	if ((rc = mf_open(&r, fd, &e2)))
		goto soft;
	opened = true;
	packmap = malloc((r.hdr.n_packs ? r.hdr.n_packs : 1) * sizeof(*packmap));
	psize = calloc(r.hdr.n_packs ? r.hdr.n_packs : 1, sizeof(*psize));
	if (!packmap || !psize) {
		rc = cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (uint64_t i = 0; i < r.hdr.n_packs; i++) {
		char hex[CC_ID_HEX_LEN + 1];
		struct buf pname = BUF_INIT;
		struct store_object o = { 0 };
		const char *why = NULL;
		bool have;

		/* A chunk is only reused if its pack is really there. */
		cc_id_hex(&r.packs[i], hex);
		if ((rc = buf_addf(&pname, sv->err, "%s%s.pack", STORE_PACKS_PREFIX, hex)) ||
		    (rc = sv->store->ops->stat(sv->store, pname.data, &have, &o, &e2)) ||
		    (have && (rc = damage_check(sv, dmg, &r.packs[i], o.mtime_ns, &why, &e2)))) {
			buf_release(&pname);
			goto soft;
		}
		if (why)
			cc_warn("not reusing the pack '%s': %s; its chunks are stored again",
				pname.data, why);
		buf_release(&pname);
		packmap[i] = UINT32_MAX;
		psize[i] = sv->store->ops->caps & STORE_CAP_NO_SIZE ? UINT64_MAX : o.size;
		if (have && !why &&
		    (rc = chunkset_pack(&sv->cs, &r.packs[i], true, &packmap[i], sv->err)))
			goto cleanup;
	}
	for (;;) {
		struct mf_chunk c;
		struct chunk_loc loc;

		if ((rc = mf_next_chunk(&r, &c, &end, &e2)))
			goto soft;
		if (end)
			break;
		if (packmap[c.frame.pack] == UINT32_MAX)
			continue;
		if (c.frame.off + c.frame.clen > psize[c.frame.pack]) {
			cut++;
			continue;
		}
		if (c.frame.pack != last_pack || c.frame.off != last_off) {
			struct frame_info f = {
				.pack = packmap[c.frame.pack], .codec = c.frame.codec,
				.off = c.frame.off, .clen = c.frame.clen, .ulen = c.frame.ulen,
				.ready = true,
			};

			if ((rc = chunkset_add_frame(&sv->cs, &f, &frame, sv->err)))
				goto cleanup;
			last_pack = c.frame.pack;
			last_off = c.frame.off;
		}
		loc = (struct chunk_loc){ frame, c.off, c.len };
		if ((rc = chunkset_add(&sv->cs, &c.id, &loc, sv->err)))
			goto cleanup;
	}
	if (cut)
		cc_warn("not reusing %llu chunks of entry '%s': their pack ends before their frame",
			(unsigned long long)cut, key);
	sv->st->bases++;
	cc_debug("dedup base '%s': %llu chunks", key, (unsigned long long)r.hdr.n_chunks);
	goto cleanup;
soft:
	/* A base we cannot read only costs dedup; the save goes on. */
	cc_warn("not using entry '%s' for dedup: %s", key, e2.msg);
	rc = CC_OK;
cleanup:
	if (opened)
		mf_close(&r);
	free(packmap);
	free(psize);
	if (fd >= 0)
		close(fd);
	return rc;
}

static enum cc_code load_bases(struct saver *sv)
{
	struct damage dmg = { 0 };
	struct cands c = { .kb = BUF_INIT };
	const char *key = sv->o->key;
	struct cand *chosen[MAX_BASES + 16];
	size_t nchosen = 0;
	enum cc_code rc;

	if ((rc = sv->store->ops->list(sv->store, STORE_KEYS_PREFIX, collect, &c, sv->err)))
		goto cleanup;
	/* A store that lists only the newest match of a prefix is asked for
	 * this entry by name, this key and each restore key. */
	if (sv->store->ops->caps & STORE_CAP_LIST_NEWEST) {
		struct buf pfx = BUF_INIT;

		c.dedupe = true;
		if (sv->o->version &&
		    !(rc = store_entry_name(&pfx, key, sv->o->version, sv->err)))
			rc = sv->store->ops->list(sv->store, pfx.data, collect, &c, sv->err);
		for (size_t k = 0; k <= sv->o->nrestore_keys && !rc && !c.oom; k++)
			if (!(rc = store_key_name(&pfx, k ? sv->o->restore_keys[k - 1] : key,
						  sv->err)))
				rc = sv->store->ops->list(sv->store, pfx.data, collect, &c, sv->err);
		buf_release(&pfx);
		if (rc)
			goto cleanup;
	}
	if (c.oom) {
		rc = cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	/* The previous value of this entry (or, failing that, the newest
	 * entry of this key saved with other paths), then the newest match
	 * of each restore key, then the entries whose keys share the longest
	 * prefix with this one: in CI those are the entries the job most
	 * likely restored from.  At each rank an entry saved with the same
	 * paths is preferred. */
	{
		struct cand *best = NULL;

		for (size_t i = 0; i < c.n; i++)
			if (!strcmp(c.v[i].key, key) && better(sv, &c.v[i], best))
				best = &c.v[i];
		if (best)
			chosen[nchosen++] = best;
	}
	for (size_t k = 0; k < sv->o->nrestore_keys && nchosen < MAX_BASES + 8; k++) {
		const char *p = sv->o->restore_keys[k];
		struct cand *best = NULL;

		for (size_t i = 0; i < c.n; i++)
			if (!strncmp(c.v[i].key, p, strlen(p)) && better(sv, &c.v[i], best))
				best = &c.v[i];
		if (best)
			chosen[nchosen++] = best;
	}
	while (nchosen < MAX_BASES) {
		struct cand *best = NULL;
		size_t best_common = 0;

		for (size_t i = 0; i < c.n; i++) {
			size_t cp = common_prefix(c.v[i].key, key);
			bool dup = false;

			for (size_t j = 0; j < nchosen; j++)
				dup |= chosen[j] == &c.v[i];
			if (dup)
				continue;
			if (!best || cp > best_common ||
			    (cp == best_common && better(sv, &c.v[i], best))) {
				best = &c.v[i];
				best_common = cp;
			}
		}
		if (!best)
			break;
		chosen[nchosen++] = best;
	}
	if (nchosen && (rc = damage_load(sv, &dmg, NOTE_DAMAGED | NOTE_CONDEMNED)) &&
	    rc != CC_ENOMEM) {
		/* Without the notes a base might hand us damaged frames:
		 * store everything instead. */
		cc_warn("not deduplicating against stored entries: %s", sv->err->msg);
		cc_err_clear(sv->err);
		nchosen = 0;
		rc = CC_OK;
	}
	if (rc)
		goto cleanup;
	for (size_t j = 0; j < nchosen && !rc; j++) {
		bool dup = false;

		for (size_t i = 0; i < j; i++)
			dup |= chosen[i] == chosen[j];
		if (!dup)
			rc = load_base(sv, chosen[j]->name, chosen[j]->key, &dmg);
	}
cleanup:
	for (size_t i = 0; i < c.n; i++) {
		free(c.v[i].key);
		free(c.v[i].name);
	}
	free(c.v);
	buf_release(&c.kb);
	free(dmg.v);
	return rc;
}

/* ------------------------------------------------------------------ */

/* The pre-publish check (docs/format.md, "The commit protocol"): every
 * pack the manifest references is there and has no prune mark, else
 * nothing is published.  A prune deletes a pack only a grace period
 * after marking it, so a check that passes before the mark is followed
 * by the publication long before the deletion, and the prune that
 * deletes lists the entries again first. */
static enum cc_code prune_guard(struct saver *sv, const struct cc_id *packs, size_t n)
{
	struct damage marks;
	enum cc_code rc;

	if ((rc = damage_load(sv, &marks, NOTE_CONDEMNED)))
		goto cleanup;
	for (size_t i = 0; i < n && !rc; i++) {
		char hex[CC_ID_HEX_LEN + 1], name[64];
		bool have, marked;
		int64_t mtime;

		cc_id_hex(&packs[i], hex);
		snprintf(name, sizeof(name), "%s%s.pack", STORE_PACKS_PREFIX, hex);
		if ((rc = sv->store->ops->stat(sv->store, name, &have, NULL, sv->err)) ||
		    (have && (rc = note_find(sv, &marks, &packs[i], NOTE_CONDEMNED, &marked,
					     &mtime, sv->err))))
			break;
		if (!have || marked)
			rc = cc_err_set(sv->err, CC_ESTORE, 0,
					"pack %s that this entry references is being pruned%s: "
					"nothing published; save again", hex,
					have ? "" : " (it is gone)");
	}
cleanup:
	free(marks.v);
	return rc;
}

static enum cc_code publish(struct saver *sv)
{
	struct buf tmp = BUF_INIT, name = BUF_INIT;
	struct cc_id *packs = NULL;
	struct stat st;
	bool existed = false;
	enum cc_code rc;
	int fd;

	packs = calloc(sv->nmpacks ? sv->nmpacks : 1, sizeof(*packs));
	if (!packs)
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < sv->nmpacks; i++)
		packs[i] = sv->cs.packs[sv->mpacks[i]].id;
	fd = store_tmpfile(sv->store, &tmp, sv->err);
	if (fd < 0) {
		rc = sv->err->code;
		goto cleanup;
	}
	rc = mf_writer_finish(&sv->mw, sv->o->key, now_realtime_ns(), packs, sv->nmpacks, fd,
			      sv->err);
	if (!rc && fstat(fd, &st) == 0)
		sv->st->new_bytes += (uint64_t)st.st_size;
	/* Its summary first (docs/format.md, "Lifecycle"): prune reads
	 * that, not the manifest; one that is missing costs prune a
	 * manifest download, so a failure here is only a warning. */
	if (!rc && cc_summary_put(sv->store, fd, sv->err)) {
		cc_warn("cannot store the entry summary: %s", sv->err->msg);
		cc_err_clear(sv->err);
	}
	if (close(fd) && !rc)
		rc = cc_err_set(sv->err, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
	if (rc)
		goto cleanup;
	if ((rc = store_entry_name(&name, sv->o->key, sv->o->version, sv->err)))
		goto cleanup;
	if ((rc = prune_guard(sv, packs, sv->nmpacks)))
		goto cleanup;
	/* The last chance to stop. Once the manifest is on its way the put
	 * is not interrupted (a remote store might keep an object whose
	 * response never came): the entry stands, and the caller sees
	 * success and the signal both. */
	if (cc_cancelled()) {
		rc = cc_err_set(sv->err, CC_EINTERNAL, EINTR, "interrupted by a signal");
		goto cleanup;
	}
	cc_cancel_hold(true);
	rc = sv->store->ops->put(sv->store, name.data, tmp.data,
				 STORE_PUT_MOVE | (sv->o->immutable ? STORE_PUT_IF_ABSENT : 0),
				 &existed, sv->err);
	cc_cancel_hold(false);
	if (!rc && existed)
		sv->st->kept_existing = true;
cleanup:
	if (tmp.len)
		unlink(tmp.data);
	buf_release(&tmp);
	buf_release(&name);
	free(packs);
	return rc;
}

enum cc_code cc_save(struct store *s, const struct save_opts *o,
		     struct save_stats *ret_stats, struct cc_err *err)
{
	struct saver *sv = calloc(1, sizeof(*sv));
	struct save_stats dummy;
	enum cc_code rc;
	bool pool = false;
	int e;

	if (!ret_stats)
		ret_stats = &dummy;
	memset(ret_stats, 0, sizeof(*ret_stats));
	if (!sv)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	sv->store = s;
	sv->o = o;
	sv->st = ret_stats;
	sv->err = err;
	sv->cerr = &sv->cerr_store;
	cc_err_clear(sv->cerr);
	sv->pack_fd = -1;
	sv->prog.phase = "saving";
	chunkset_init(&sv->cs);
	mf_entry_init(&sv->ent);
	buf_init(&sv->path, MF_MAX_PATH);
	buf_init(&sv->pack_tmp, 0);
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->cv_work, NULL);
	pthread_cond_init(&sv->cv_done, NULL);
	pthread_mutex_init(&sv->qmu, NULL);
	pthread_cond_init(&sv->qcv, NULL);

	if ((rc = store_check_key(s, o->key, "key", err)) ||
	    (rc = s->ops->prepare_write(s, err)))
		goto cleanup;
	if (s->ops->caps & STORE_CAP_LOCAL_DIR) {
		struct stat st;

		/* prepare_write made it: a failure here is not ours to judge */
		if (!s->ops->local_dir(s, &st)) {
			sv->store_local = true;
			sv->store_dev = st.st_dev;
			sv->store_ino = st.st_ino;
		}
	}
	if (o->immutable) {
		struct buf name = BUF_INIT;
		bool found = false;

		rc = store_entry_name(&name, o->key, o->version, err);
		if (!rc)
			rc = s->ops->stat(s, name.data, &found, NULL, err);
		buf_release(&name);
		if (rc)
			goto cleanup;
		if (found) {
			ret_stats->kept_existing = true;
			goto cleanup;
		}
	}
	if ((rc = mf_writer_init(&sv->mw, err)))
		goto cleanup;
	if (!chunker_init(&sv->ck, CHUNK_MIN_DEFAULT, CHUNK_AVG_DEFAULT, CHUNK_MAX_DEFAULT)) {
		rc = cc_err_set(err, CC_EINTERNAL, 0, "bad chunker parameters");
		goto cleanup;
	}
	sv->scap = READ_SIZE + CHUNK_MAX_DEFAULT;	/* a block + the carried chunk */
	sv->sbuf = malloc(sv->scap);
	sv->rows = malloc(MAX_PENDING * sizeof(*sv->rows));
	sv->pack_hash = XXH3_createState();
	if (!sv->sbuf || !sv->rows || !sv->pack_hash) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	if ((rc = load_bases(sv)))
		goto cleanup;
	pool = true;
	if ((rc = pool_start(sv)))
		goto cleanup;
	if ((e = pthread_create(&sv->chunker, NULL, chunker_main, sv))) {
		rc = cc_err_set(err, CC_EINTERNAL, e, "cannot start a thread");
		goto cleanup;
	}
	sv->chunker_started = true;
	for (size_t i = 0; i < o->npatterns && !rc; i++)
		rc = mf_add_pattern(&sv->mw, o->patterns[i], sv->err);
	for (size_t i = 0; i < o->nroots && !rc; i++)
		rc = save_root(sv, &o->roots[i]);
	rc = chunker_join(sv, rc);
	if (!rc)
		rc = upload_wait(sv, sv->err);
	if (!rc)
		rc = publish(sv);
	cc_progress(&sv->prog);
cleanup:
	rc = chunker_join(sv, rc);
	{
		struct cc_err e2;
		enum cc_code r2 = upload_wait(sv, &e2);

		if (r2 && !rc) {
			*sv->err = e2;
			rc = r2;
		}
	}
	if (pool)
		pool_stop(sv);
	if (sv->pack_fd >= 0)
		close(sv->pack_fd);
	if (sv->pack_tmp.len)
		unlink(sv->pack_tmp.data);
	job_free(sv->cur);
	for (size_t i = 0; i < sv->ring_len; i++)
		job_free(sv->ring[(sv->ring_head + i) % (sv->ring_cap ? sv->ring_cap : 1)]);
	while (sv->free_jobs) {
		struct job *j = sv->free_jobs;

		sv->free_jobs = j->next;
		job_free(j);
	}
	links_reset(sv);
	if (sv->rblock) {
		sv->rblock->next = sv->free_blocks;
		sv->free_blocks = sv->rblock;
	}
	for (struct block *b = sv->full_head; b;) {
		struct block *n = b->next;

		free(b->data);
		free(b);
		b = n;
	}
	while (sv->free_blocks) {
		struct block *b = sv->free_blocks;

		sv->free_blocks = b->next;
		free(b->data);
		free(b);
	}
	pthread_mutex_destroy(&sv->qmu);
	pthread_cond_destroy(&sv->qcv);
	free(sv->threads);
	free(sv->ring);
	free(sv->sbuf);
	free(sv->rows);
	free(sv->mpacks);
	XXH3_freeState(sv->pack_hash);
	mf_writer_release(&sv->mw);
	mf_entry_release(&sv->ent);
	buf_release(&sv->path);
	free(sv->pend);
	buf_release(&sv->pack_tmp);
	chunkset_release(&sv->cs);
	pthread_mutex_destroy(&sv->mu);
	pthread_cond_destroy(&sv->cv_work);
	pthread_cond_destroy(&sv->cv_done);
	free(sv);
	return rc;
}
