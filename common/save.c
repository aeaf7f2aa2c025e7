/* save.c: save a tree as one entry (save.h; docs/internals/save-pipeline.md).
 *
 * Four kinds of thread, side by side:
 *  - the reader (the calling thread) loads the dedup bases, walks the
 *    roots, writes the entry records and reads file data into blocks;
 *  - the chunker thread cuts the data stream into chunks, looks each up
 *    in the chunk set, fills frames of about FRAME_TARGET bytes, appends
 *    compressed frames to the current pack in submission order and only
 *    then writes the chunk records that point into them;
 *  - the workers compress frames;
 *  - an upload thread puts the previous pack into a remote store while
 *    the next one fills.
 * After the chunker is joined, the reader publishes the manifest (the
 * commit point).  Memory is bounded by the blocks, frames and records in
 * flight, never by the size of the tree.
 *
 * struct saver is made of parts, each with one owner thread and its own
 * init/release; what two threads share goes through a part's mutex.  A
 * thread's error goes to the caller one way only: the thread writes its
 * own struct cc_err, and whoever joins it calls err_take(). */
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

/* The reader's part (the calling thread): the walk. */
struct walk {
	struct mf_entry ent;
	struct buf path;		/* relative path of the entry */
	struct block *rblock;		/* being filled, not yet queued */
	struct link_slot *links;	/* hard links seen in this root */
	size_t nlinks_slots, nlinks;
	/* The store's own directory, when it is on this machine: a path
	 * that holds it is saved without it. */
	bool store_local;
	dev_t store_dev;
	ino_t store_ino;
	/* Excluded directories entered because a later pattern may include
	 * something inside: recorded only before the first such entry. */
	struct pending_dir { char *path; struct stat st; } *pend;
	size_t npend, pend_alloc, pend_done;
	double last_progress;
	struct cc_progress prog;
};

/* Blocks of file data from the reader to the chunker, all under mu. */
struct blockq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct block *full_head, *full_tail, *free;
	size_t nblocks;		/* allocated: at most NBLOCKS */
	bool eof;		/* the reader has queued its last block */
	bool failed;		/* the chunker hit an error; reader stops */
};

/* The chunker thread's part.  The caller fills the chunk set before the
 * thread starts and reads it (and the pack table) after the join. */
struct packer {
	pthread_t thr;		/* started and joined by the caller */
	bool started;
	struct cc_err err;	/* the thread's error, read after the join */
	struct chunker ck;
	struct chunkset cs;

	/* stream buffer: [cstart, scanpos) scanned, [scanpos, slen) not yet */
	unsigned char *sbuf;
	size_t scap, slen, cstart, scanpos;

	struct job *cur;			/* being filled */
	struct job **ring;			/* submitted, in order */
	size_t ring_cap, ring_head, ring_len;
	struct job *free_jobs;

	/* pack being written */
	int pack_fd;
	struct buf pack_tmp;
	uint64_t pack_len;
	uint32_t pack_idx;
	XXH3_state_t *pack_hash;

	/* chunk records waiting for their frame */
	struct row *rows;
	size_t rows_head, rows_len;

	uint32_t *mpacks;	/* manifest pack table: chunkset pack indices */
	size_t nmpacks, mpacks_alloc;
};

/* The compression workers: the queue and the done flags of its jobs are
 * shared under mu. */
struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	pthread_t *threads;
	int nthreads;
	int level;
	bool stop;
	struct job *queue_head, *queue_tail;	/* waiting for a worker */
};

/* The previous pack's upload to a remote store, which runs while the
 * next pack fills.  The chunker starts it; whoever waits for it (the
 * chunker before the next upload, else the caller) takes its error. */
struct upload {
	struct store *store;
	pthread_t thr;
	bool running;
	char *name, *tmp;
	struct cc_err err;	/* the thread's result: code 0 on success */
};

struct saver {
	struct store *store;
	const struct save_opts *o;
	struct save_stats *st;	/* the reader and the chunker count apart */
	struct cc_err *err;	/* the caller's, also the reader's */
	/* Entry stream from the reader, chunk stream from the chunker
	 * (manifest.h allows one thread each). */
	struct mf_writer mw;
	struct walk w;
	struct blockq q;
	struct packer pk;
	struct pool pool;
	struct upload up;
};

/* The one way an error crosses threads: after joining a thread whose
 * error is in from, the joiner with result rc calls this.  The thread's
 * error becomes the joiner's (in *err) unless the joiner failed first.
 * @return the joiner's result. */
static enum cc_code err_take(const struct cc_err *from, enum cc_code rc, struct cc_err *err)
{
	if (rc || !from->code)
		return rc;
	*err = *from;
	return from->code;
}

/* ------------------------------------------------------------------ */
/* compression workers */

static void *worker(void *arg)
{
	struct pool *p = arg;
	ZSTD_CCtx *zc = ZSTD_createCCtx();

	if (zc)
		ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, p->level);
	for (;;) {
		struct job *j;
		size_t n = 0;

		pthread_mutex_lock(&p->mu);
		while (!p->queue_head && !p->stop)
			pthread_cond_wait(&p->cv_work, &p->mu);
		if (!p->queue_head) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		j = p->queue_head;
		p->queue_head = j->next;
		if (!p->queue_head)
			p->queue_tail = NULL;
		pthread_mutex_unlock(&p->mu);

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
		pthread_mutex_lock(&p->mu);
		j->done = true;
		pthread_cond_broadcast(&p->cv_done);
		pthread_mutex_unlock(&p->mu);
	}
	ZSTD_freeCCtx(zc);
	return NULL;
}

static void pool_init(struct pool *p, int level)
{
	memset(p, 0, sizeof(*p));
	p->level = level ? level : 3;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv_work, NULL);
	pthread_cond_init(&p->cv_done, NULL);
}

/* How many workers --jobs asks for: 1 to 64, the processors by default. */
static int pool_size(const struct save_opts *o)
{
	int n = o->jobs > 0 ? o->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : n;
}

static enum cc_code pool_start(struct pool *p, int n, struct cc_err *err)
{
	p->threads = calloc((size_t)n, sizeof(*p->threads));
	if (!p->threads)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate the worker pool");
	for (int i = 0; i < n; i++) {
		int e = pthread_create(&p->threads[i], NULL, worker, p);

		if (e)
			return cc_err_set(err, CC_EINTERNAL, e, "cannot start a thread");
		p->nthreads++;
	}
	return CC_OK;
}

/* Stops and joins the workers; safe whether or not they were started. */
static void pool_release(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
	free(p->threads);
	p->threads = NULL;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv_work);
	pthread_cond_destroy(&p->cv_done);
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->raw);
	free(j->out);
	free(j);
}

static enum cc_code job_get(struct packer *pk, struct job **ret)
{
	struct job *j = pk->free_jobs;

	if (j) {
		pk->free_jobs = j->next;
	} else {
		j = calloc(1, sizeof(*j));
		if (j) {
			j->outcap = ZSTD_compressBound(FRAME_TARGET + CHUNK_MAX_DEFAULT);
			j->raw = malloc(FRAME_TARGET + CHUNK_MAX_DEFAULT);
			j->out = malloc(j->outcap);
		}
		if (!j || !j->raw || !j->out) {
			job_free(j);
			return cc_err_set(&pk->err, CC_ENOMEM, ENOMEM, "cannot allocate a frame");
		}
	}
	j->rawlen = j->outlen = 0;
	j->done = false;
	j->next = NULL;
	*ret = j;
	return CC_OK;
}

/* ------------------------------------------------------------------ */
/* pack uploads */

static void upload_init(struct upload *up, struct store *s)
{
	memset(up, 0, sizeof(*up));
	up->store = s;
}

static void *upload_main(void *arg)
{
	struct upload *up = arg;
	enum cc_code rc;

	rc = up->store->ops->put(up->store, up->name, up->tmp, STORE_PUT_MOVE, NULL, &up->err);
	if (rc && !up->err.code)
		up->err.code = rc;
	return NULL;
}

/* Waits for the upload in flight, if any, and hands its error on
 * (err_take).  @return rc, or the upload's error. */
static enum cc_code upload_wait(struct upload *up, enum cc_code rc, struct cc_err *err)
{
	if (!up->running)
		return rc;
	pthread_join(up->thr, NULL);
	up->running = false;
	if (up->err.code)
		unlink(up->tmp);
	free(up->name);
	free(up->tmp);
	up->name = up->tmp = NULL;
	return err_take(&up->err, rc, err);
}

/* Hands the sealed pack tmp to an upload thread as name; if no thread
 * starts, puts it here. */
static enum cc_code upload_start(struct upload *up, const char *name, const char *tmp,
				 struct cc_err *err)
{
	enum cc_code rc;

	if (!(up->name = strdup(name)) || !(up->tmp = strdup(tmp))) {
		free(up->name);
		up->name = NULL;
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	cc_err_clear(&up->err);
	if (pthread_create(&up->thr, NULL, upload_main, up)) {
		rc = up->store->ops->put(up->store, name, up->tmp, STORE_PUT_MOVE, NULL, err);
		free(up->name);
		free(up->tmp);
		up->name = up->tmp = NULL;
		return rc;
	}
	up->running = true;
	return CC_OK;
}

/* ------------------------------------------------------------------ */
/* packs */

/* Publishes the sealed pack: at once into a local store, or by an upload
 * thread into a remote one (one upload in flight at a time). */
static enum cc_code pack_publish(struct saver *sv, const char *name)
{
	enum cc_code rc;

	if ((rc = upload_wait(&sv->up, CC_OK, &sv->pk.err)))
		return rc;
	if (sv->store->ops->caps & STORE_CAP_LOCAL_TMP)
		return sv->store->ops->put(sv->store, name, sv->pk.pack_tmp.data, STORE_PUT_MOVE,
					   NULL, &sv->pk.err);
	return upload_start(&sv->up, name, sv->pk.pack_tmp.data, &sv->pk.err);
}

static enum cc_code pack_seal(struct saver *sv)
{
	struct packer *pk = &sv->pk;
	char name[STORE_PACK_NAME_SIZE];
	struct cc_id id;
	enum cc_code rc;

	if (pk->pack_fd < 0)
		return CC_OK;
	cc_id_from_hash(&id, XXH3_128bits_digest(pk->pack_hash));
	if (close(pk->pack_fd)) {
		pk->pack_fd = -1;
		return cc_err_set(&pk->err, CC_ESTORE, errno, "cannot write pack '%s'",
				  pk->pack_tmp.data);
	}
	pk->pack_fd = -1;
	store_pack_name(name, STORE_PACKS_PREFIX, &id);
	if ((rc = pack_publish(sv, name)))
		return rc;
	buf_reset(&pk->pack_tmp);
	pk->cs.packs[pk->pack_idx].id = id;
	pk->cs.packs[pk->pack_idx].sealed = true;
	sv->st->packs++;
	sv->st->new_bytes += pk->pack_len;
	cc_debug("stored pack %s (%llu bytes)", name + strlen(STORE_PACKS_PREFIX),
		 (unsigned long long)pk->pack_len);
	return CC_OK;
}

/* Appends to the pack being written (and its hash). */
static enum cc_code pack_write(struct packer *pk, const void *p, size_t n)
{
	if (write_all(pk->pack_fd, p, n))
		return cc_err_set(&pk->err, CC_ESTORE, errno, "cannot write '%s'", pk->pack_tmp.data);
	XXH3_128bits_update(pk->pack_hash, p, n);
	pk->pack_len += n;
	return CC_OK;
}

static enum cc_code pack_append(struct saver *sv, struct job *j)
{
	struct packer *pk = &sv->pk;
	const void *data = j->codec == FRAME_RAW ? j->raw : j->out;
	struct frame_info *f;
	uint64_t off;
	enum cc_code rc;

	if (pk->pack_fd < 0) {
		static const struct cc_id zero;

		pk->pack_fd = store_tmpfile(sv->store, &pk->pack_tmp, &pk->err);
		if (pk->pack_fd < 0)
			return pk->err.code;
		XXH3_128bits_reset(pk->pack_hash);
		pk->pack_len = 0;
		if ((rc = pack_write(pk, PACK_MAGIC, 8)) ||
		    (rc = chunkset_pack(&pk->cs, &zero, false, &pk->pack_idx, &pk->err)))
			return rc;
	}
	off = pk->pack_len;
	if ((rc = pack_write(pk, data, j->outlen)))
		return rc;
	f = &pk->cs.frames[j->frame];
	f->pack = pk->pack_idx;
	f->codec = j->codec;
	f->off = off;
	f->clen = (uint32_t)j->outlen;
	f->ulen = (uint32_t)j->rawlen;
	f->ready = true;
	if (pk->pack_len >= PACK_TARGET)
		return pack_seal(sv);
	return CC_OK;
}

/* ------------------------------------------------------------------ */
/* chunk records */

static enum cc_code emit_rows(struct saver *sv)
{
	enum cc_code rc;

	while (sv->pk.rows_len) {
		struct row *r = &sv->pk.rows[sv->pk.rows_head];
		struct frame_info *f = &sv->pk.cs.frames[r->loc.frame];
		struct pack_info *p;
		struct mf_chunk c;

		if (!f->ready)
			break;
		p = &sv->pk.cs.packs[f->pack];
		if (p->manifest_idx < 0) {
			if (ARRAY_GROW(sv->pk.mpacks, sv->pk.mpacks_alloc, sv->pk.nmpacks + 1))
				return cc_err_set(&sv->pk.err, CC_ENOMEM, ENOMEM, "cannot allocate");
			p->manifest_idx = (int64_t)sv->pk.nmpacks;
			sv->pk.mpacks[sv->pk.nmpacks++] = f->pack;
		}
		c.id = r->id;
		c.frame.pack = (uint32_t)p->manifest_idx;
		c.frame.codec = f->codec;
		c.frame.off = f->off;
		c.frame.clen = f->clen;
		c.frame.ulen = f->ulen;
		c.off = r->loc.off;
		c.len = r->loc.len;
		if ((rc = mf_add_chunk(&sv->mw, &c, &sv->pk.err)))
			return rc;
		sv->pk.rows_head = (sv->pk.rows_head + 1) % MAX_PENDING;
		sv->pk.rows_len--;
	}
	return CC_OK;
}

/* Takes finished jobs off the ring in order.  With wait, blocks until at
 * least the oldest job is finished. */
static enum cc_code drain(struct saver *sv, bool wait)
{
	enum cc_code rc;

	while (sv->pk.ring_len) {
		struct job *j = sv->pk.ring[sv->pk.ring_head];
		bool done;

		pthread_mutex_lock(&sv->pool.mu);
		while (wait && !j->done)
			pthread_cond_wait(&sv->pool.cv_done, &sv->pool.mu);
		done = j->done;	/* workers write it under mu */
		pthread_mutex_unlock(&sv->pool.mu);
		if (!done)
			break;
		wait = false;
		sv->pk.ring_head = (sv->pk.ring_head + 1) % sv->pk.ring_cap;
		sv->pk.ring_len--;
		rc = pack_append(sv, j);
		j->next = sv->pk.free_jobs;
		sv->pk.free_jobs = j;
		if (rc)
			return rc;
	}
	return emit_rows(sv);
}

static enum cc_code submit(struct saver *sv)
{
	struct job *j = sv->pk.cur;
	enum cc_code rc;

	if (!j)
		return CC_OK;
	while (sv->pk.ring_len == sv->pk.ring_cap)
		if ((rc = drain(sv, true)))
			return rc;
	sv->pk.cur = NULL;
	sv->pk.ring[(sv->pk.ring_head + sv->pk.ring_len) % sv->pk.ring_cap] = j;
	sv->pk.ring_len++;
	pthread_mutex_lock(&sv->pool.mu);
	if (sv->pool.queue_tail)
		sv->pool.queue_tail->next = j;
	else
		sv->pool.queue_head = j;
	sv->pool.queue_tail = j;
	pthread_cond_signal(&sv->pool.cv_work);
	pthread_mutex_unlock(&sv->pool.mu);
	return drain(sv, false);
}

static enum cc_code push_row(struct saver *sv, const struct cc_id *id,
			     const struct chunk_loc *loc)
{
	enum cc_code rc;

	while (sv->pk.rows_len == MAX_PENDING) {
		/* The oldest record waits for a frame still being filled or
		 * compressed: push it through. */
		if ((rc = submit(sv)) || (rc = drain(sv, true)))
			return rc;
	}
	sv->pk.rows[(sv->pk.rows_head + sv->pk.rows_len) % MAX_PENDING] = (struct row){ *id, *loc };
	sv->pk.rows_len++;
	return sv->pk.rows_len == 1 ? emit_rows(sv) : CC_OK;
}

static enum cc_code emit_chunk(struct saver *sv, const unsigned char *data, size_t len)
{
	const struct chunk_loc *found;
	struct chunk_loc loc;
	struct cc_id id;
	enum cc_code rc;

	cc_id_of(&id, data, len);
	sv->st->chunks++;
	found = chunkset_find(&sv->pk.cs, &id);
	if (found)
		return push_row(sv, &id, found);
	if (!sv->pk.cur) {
		struct frame_info f = { 0 };

		if ((rc = job_get(&sv->pk, &sv->pk.cur)) ||
		    (rc = chunkset_add_frame(&sv->pk.cs, &f, &sv->pk.cur->frame, &sv->pk.err)))
			return rc;
	}
	loc.frame = sv->pk.cur->frame;
	loc.off = (uint32_t)sv->pk.cur->rawlen;
	loc.len = (uint32_t)len;
	memcpy(sv->pk.cur->raw + sv->pk.cur->rawlen, data, len);
	sv->pk.cur->rawlen += len;
	sv->st->new_chunks++;
	sv->st->new_data += len;
	if ((rc = chunkset_add(&sv->pk.cs, &id, &loc, &sv->pk.err)) ||
	    (rc = push_row(sv, &id, &loc)))
		return rc;
	if (sv->pk.cur && sv->pk.cur->rawlen >= FRAME_TARGET)
		return submit(sv);
	return CC_OK;
}

/* ------------------------------------------------------------------ */
/* the data stream */

static enum cc_code scan(struct saver *sv)
{
	enum cc_code rc;

	while (sv->pk.scanpos < sv->pk.slen) {
		bool cut;
		size_t n = chunker_scan(&sv->pk.ck, sv->pk.sbuf + sv->pk.scanpos, sv->pk.slen - sv->pk.scanpos, &cut);

		sv->pk.scanpos += n;
		if (!cut)
			break;
		if ((rc = emit_chunk(sv, sv->pk.sbuf + sv->pk.cstart, sv->pk.scanpos - sv->pk.cstart)))
			return rc;
		sv->pk.cstart = sv->pk.scanpos;
	}
	return CC_OK;
}

/* Appends a block of the data stream and cuts what can be cut. */
static enum cc_code feed(struct saver *sv, const unsigned char *data, size_t len)
{
	if (sv->pk.scap - sv->pk.slen < len) {
		memmove(sv->pk.sbuf, sv->pk.sbuf + sv->pk.cstart, sv->pk.slen - sv->pk.cstart);
		sv->pk.slen -= sv->pk.cstart;
		sv->pk.scanpos -= sv->pk.cstart;
		sv->pk.cstart = 0;
	}
	memcpy(sv->pk.sbuf + sv->pk.slen, data, len);
	sv->pk.slen += len;
	return scan(sv);
}

/* After the last block: the tail is the last chunk; then every frame is
 * compressed, written and recorded, and the last pack sealed. */
static enum cc_code stream_finish(struct saver *sv)
{
	enum cc_code rc = CC_OK;

	if (sv->pk.slen > sv->pk.cstart)
		rc = emit_chunk(sv, sv->pk.sbuf + sv->pk.cstart, sv->pk.slen - sv->pk.cstart);
	sv->pk.slen = sv->pk.cstart = sv->pk.scanpos = 0;
	if (!rc)
		rc = submit(sv);
	while (!rc && sv->pk.ring_len)
		rc = drain(sv, true);
	if (!rc)
		rc = pack_seal(sv);
	if (!rc)
		rc = emit_rows(sv);
	if (!rc && sv->pk.rows_len)
		rc = cc_err_set(&sv->pk.err, CC_EINTERNAL, 0, "chunk records left behind");
	return rc;
}

/* ------------------------------------------------------------------ */
/* the block queue, reader -> chunker */

static void blockq_init(struct blockq *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
}

static void blocks_free(struct block *b)
{
	while (b) {
		struct block *n = b->next;

		free(b->data);
		free(b);
		b = n;
	}
}

/* After both sides are done with it. */
static void blockq_release(struct blockq *q)
{
	blocks_free(q->full_head);
	blocks_free(q->free);
	q->full_head = q->full_tail = q->free = NULL;
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

/* Chunker side: waits for the next full block.  @return NULL once the
 * reader has queued its last one. */
static struct block *blockq_next(struct blockq *q)
{
	struct block *b;

	pthread_mutex_lock(&q->mu);
	while (!q->full_head && !q->eof)
		pthread_cond_wait(&q->cv, &q->mu);
	b = q->full_head;
	if (b) {
		q->full_head = b->next;
		if (!q->full_head)
			q->full_tail = NULL;
	}
	pthread_mutex_unlock(&q->mu);
	return b;
}

/* Chunker side: gives a block back to the reader. */
static void blockq_recycle(struct blockq *q, struct block *b)
{
	pthread_mutex_lock(&q->mu);
	b->next = q->free;
	q->free = b;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Chunker side: tells the reader to stop. */
static void blockq_fail(struct blockq *q)
{
	pthread_mutex_lock(&q->mu);
	q->failed = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Reader side: queues b (NULL: nothing), or with b NULL and eof, says the
 * stream has ended. */
static void blockq_put(struct blockq *q, struct block *b, bool eof)
{
	pthread_mutex_lock(&q->mu);
	if (b) {
		b->next = NULL;
		if (q->full_tail)
			q->full_tail->next = b;
		else
			q->full_head = b;
		q->full_tail = b;
	}
	q->eof |= eof;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Reader side: a free block, or NULL with *ret_failed false when the
 * reader may allocate one more; waits while NBLOCKS are in use.
 * *ret_failed is set when the chunker failed. */
static struct block *blockq_get_free(struct blockq *q, bool *ret_failed)
{
	struct block *b = NULL;

	pthread_mutex_lock(&q->mu);
	while (!q->free && q->nblocks >= NBLOCKS && !q->failed)
		pthread_cond_wait(&q->cv, &q->mu);
	*ret_failed = q->failed;
	if (!q->failed && q->free) {
		b = q->free;
		q->free = b->next;
	}
	pthread_mutex_unlock(&q->mu);
	return b;
}

/* ------------------------------------------------------------------ */
/* the chunker thread */

static void *chunker_main(void *arg)
{
	struct saver *sv = arg;
	struct block *b;
	enum cc_code rc = CC_OK;

	while ((b = blockq_next(&sv->q))) {
		/* After an error, keep taking blocks so the reader never waits
		 * forever; it sees q.failed and stops. */
		if (!rc && (rc = feed(sv, b->data, b->len)))
			blockq_fail(&sv->q);
		blockq_recycle(&sv->q, b);
	}
	if (!rc && (rc = stream_finish(sv)))
		blockq_fail(&sv->q);
	if (rc && !sv->pk.err.code)
		sv->pk.err.code = rc;
	return NULL;
}

static enum cc_code chunker_start(struct saver *sv)
{
	int e = pthread_create(&sv->pk.thr, NULL, chunker_main, sv);

	if (e)
		return cc_err_set(sv->err, CC_EINTERNAL, e, "cannot start a thread");
	sv->pk.started = true;
	return CC_OK;
}

/* Reader side: queues the current block (if any) for the chunker. */
static void queue_block(struct saver *sv)
{
	struct block *b = sv->w.rblock;

	if (!b)
		return;
	sv->w.rblock = NULL;
	blockq_put(&sv->q, b, false);
}

/* Reader side: makes sure rblock has room.  @return CC_EINTERNAL, with
 * no message, if the chunker failed (chunker_join reports its error), or
 * CC_ENOMEM. */
static enum cc_code reader_block(struct saver *sv)
{
	struct block *b;
	bool failed;

	if (sv->w.rblock && sv->w.rblock->len < READ_SIZE)
		return CC_OK;
	queue_block(sv);
	b = blockq_get_free(&sv->q, &failed);
	if (failed)
		return CC_EINTERNAL;	/* the chunker's error wins */
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || !(b->data = malloc(READ_SIZE))) {
			free(b);
			return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		}
		sv->q.nblocks++;
	}
	b->len = 0;
	sv->w.rblock = b;
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
		room = READ_SIZE - sv->w.rblock->len;
		n = want < room ? (size_t)want : room;
		k = read(fd, sv->w.rblock->data + sv->w.rblock->len, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return cc_err_set(sv->err, CC_ESOURCE, errno, "cannot read '%s'", what);
		if (k == 0)
			return cc_err_set(sv->err, CC_ESOURCE, 0,
					  "'%s' shrank while it was being saved", what);
		sv->w.rblock->len += (size_t)k;
		want -= (uint64_t)k;
		sv->st->bytes += (uint64_t)k;
		sv->w.prog.bytes_done = sv->st->bytes;
	}
	return CC_OK;
}

/* Reader side: tells the chunker the stream has ended (queueing the
 * last block unless the reader failed) and joins it.  @return rc, or the
 * chunker's error (err_take), which also wins over the reader's
 * CC_EINTERNAL: the reader stopped because the chunker failed, or a
 * signal came. */
static enum cc_code chunker_join(struct saver *sv, enum cc_code rc)
{
	if (!sv->pk.started)
		return rc;
	if (!rc)
		queue_block(sv);
	blockq_put(&sv->q, NULL, true);
	pthread_join(sv->pk.thr, NULL);
	sv->pk.started = false;
	if (rc == CC_EINTERNAL && sv->pk.err.code)
		rc = CC_OK;
	return err_take(&sv->pk.err, rc, sv->err);
}

/* ------------------------------------------------------------------ */
/* the walk */

static void walk_init(struct walk *w)
{
	memset(w, 0, sizeof(*w));
	mf_entry_init(&w->ent);
	buf_init(&w->path, MF_MAX_PATH);
	w->prog.phase = "saving";
}

static void links_reset(struct walk *w);

static void walk_release(struct walk *w)
{
	if (w->rblock) {
		free(w->rblock->data);
		free(w->rblock);
		w->rblock = NULL;
	}
	links_reset(w);
	free(w->pend);
	w->pend = NULL;
	mf_entry_release(&w->ent);
	buf_release(&w->path);
}

static void progress(struct saver *sv)
{
	double t = now_monotonic();

	if (t - sv->w.last_progress < 0.1)
		return;
	sv->w.last_progress = t;
	cc_progress(&sv->w.prog);
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
		if (ARRAY_GROW(e->extents, e->extents_alloc, e->nextents + 1))
			return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
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
	if ((sv->w.nlinks + 1) * 2 >= sv->w.nlinks_slots) {
		size_t n = sv->w.nlinks_slots ? sv->w.nlinks_slots * 2 : 256;
		struct link_slot *s = calloc(n, sizeof(*s));

		if (!s)
			return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		for (size_t k = 0; k < sv->w.nlinks_slots; k++) {
			if (!sv->w.links[k].path)
				continue;
			for (i = link_hash(sv->w.links[k].dev, sv->w.links[k].ino) & (n - 1); s[i].path;
			     i = (i + 1) & (n - 1))
				;
			s[i] = sv->w.links[k];
		}
		free(sv->w.links);
		sv->w.links = s;
		sv->w.nlinks_slots = n;
	}
	mask = sv->w.nlinks_slots - 1;
	for (i = link_hash(st->st_dev, st->st_ino) & mask; sv->w.links[i].path; i = (i + 1) & mask)
		if (sv->w.links[i].dev == st->st_dev && sv->w.links[i].ino == st->st_ino) {
			*ret_path = sv->w.links[i].path;
			return CC_OK;
		}
	sv->w.links[i].path = strdup(path);
	if (!sv->w.links[i].path)
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	sv->w.links[i].dev = st->st_dev;
	sv->w.links[i].ino = st->st_ino;
	sv->w.nlinks++;
	return CC_OK;
}

static void links_reset(struct walk *w)
{
	for (size_t k = 0; k < w->nlinks_slots; k++)
		free(w->links[k].path);
	free(w->links);
	w->links = NULL;
	w->nlinks_slots = w->nlinks = 0;
}

/* what: the path for messages. */
static enum cc_code save_file(struct saver *sv, int dfd, const char *name, const char *what)
{
	struct mf_entry *e = &sv->w.ent;
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
	sv->w.prog.files_done++;
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
	return sv->w.store_local && st->st_dev == sv->w.store_dev && st->st_ino == sv->w.store_ino;
}

/* Saves the contents of the directory open as dfd (taken over). */
static enum cc_code save_dir_contents(struct saver *sv, int dfd, const char *root_abs)
{
	DIR *d = fdopendir(dfd);
	char **names = NULL;
	size_t n = 0, base = sv->w.path.len;
	enum cc_code rc = CC_OK;

	if (!d) {
		close(dfd);
		return cc_err_set(sv->err, CC_ESOURCE, errno, "cannot read directory '%s/%s'",
				  root_abs, sv->w.path.data);
	}
	/* Sorted: a fixed order makes the data stream, and so the chunks,
	 * independent of the file system's directory order. */
	if (dir_names_sorted(d, &names, &n)) {
		rc = cc_err_set(sv->err, errno == ENOMEM ? CC_ENOMEM : CC_ESOURCE, errno,
				"cannot read directory '%s/%s'", root_abs, sv->w.path.data);
		goto cleanup;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		buf_setlen(&sv->w.path, base);
		if ((base && (rc = buf_add(&sv->w.path, "/", 1, sv->err))) ||
		    (rc = buf_addstr(&sv->w.path, names[i], sv->err)))
			break;
		rc = save_entry(sv, dirfd(d), names[i], root_abs);
	}
	buf_setlen(&sv->w.path, base);
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

	if (sv->w.pend_done == sv->w.npend)
		return CC_OK;
	mf_entry_init(&e);
	for (; sv->w.pend_done < sv->w.npend && !rc; sv->w.pend_done++) {
		const struct pending_dir *d = &sv->w.pend[sv->w.pend_done];

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

/* Walks the excluded directory name (relative path in sv->w.path) for what a
 * later pattern includes; the directory is recorded only if something is. */
static enum cc_code save_excluded_dir(struct saver *sv, int dfd, const char *name,
				      const struct stat *st, const char *root_abs,
				      const char *what)
{
	struct pending_dir *d;
	enum cc_code rc;
	int sub;

	if (ARRAY_GROW(sv->w.pend, sv->w.pend_alloc, sv->w.npend + 1))
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return cc_err_set(sv->err, CC_ESOURCE, errno, "cannot open directory '%s'", what);
	d = &sv->w.pend[sv->w.npend];
	if (!(d->path = strdup(sv->w.path.data))) {
		close(sub);
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	}
	d->st = *st;
	sv->w.npend++;
	rc = save_dir_contents(sv, sub, root_abs);
	sv->w.npend--;
	if (sv->w.pend_done > sv->w.npend)
		sv->w.pend_done = sv->w.npend;
	else
		sv->st->excluded++;
	free(sv->w.pend[sv->w.npend].path);
	return rc;
}

/* Saves the entry name in dfd, whose relative path is in sv->w.path. */
static enum cc_code save_entry(struct saver *sv, int dfd, const char *name,
			       const char *root_abs)
{
	struct mf_entry *e = &sv->w.ent;
	struct buf what = BUF_INIT;
	struct stat st;
	enum cc_code rc;

	if (cc_cancelled())
		return cc_err_set(sv->err, CC_EINTERNAL, EINTR, "interrupted by a signal");
	if ((rc = buf_addf(&what, sv->err, "%s%s%s", root_abs, sv->w.path.len ? "/" : "",
			   sv->w.path.data)))
		return rc;
	buf_reset(&e->path);
	if ((rc = buf_add(&e->path, sv->w.path.data, sv->w.path.len, sv->err)))
		goto cleanup;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		rc = cc_err_set(sv->err, CC_ESOURCE, errno, "cannot stat '%s'", what.data);
		goto cleanup;
	}
	/* Exclusions apply below the roots too (see glob.h). */
	if (sv->o->filter && sv->w.path.len &&
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
		if (!sv->w.path.len)
			rc = cc_err_set(sv->err, CC_EUSAGE, 0, "path '%s' is the store", what.data);
		else
			cc_info("leaving out the store '%s' inside '%s'", sv->w.path.data, root_abs);
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
	links_reset(&sv->w);
	buf_reset(&sv->w.path);
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
	if (ARRAY_GROW(c->v, c->alloc, c->n + 1)) {
		c->oom = true;
		return 1;
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
	struct cc_id id;

	if (!store_pack_parse(o->name, note_prefix(d->kind), &id))
		return 0;
	if (d->n == DAMAGE_NOTES_MAX) {
		d->listed = false;	/* too many to hold: ask per pack */
		return 1;
	}
	if (ARRAY_GROW(d->v, d->alloc, d->n + 1)) {
		d->oom = true;
		return 1;
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
		char name[STORE_PACK_NAME_SIZE];
		enum cc_code rc;

		store_pack_name(name, note_prefix(kind), pack);
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

/* Adds the chunks of the base open in r whose pack is mapped (packmap)
 * and long enough (psize) to the chunk set; *ret_cut counts those whose
 * pack is too short.  @return a hard error (sv->err), or a soft one in
 * e2 with *ret_soft set: the base is unreadable. */
static enum cc_code base_chunks(struct saver *sv, struct mf_reader *r, const uint32_t *packmap,
				const uint64_t *psize, uint64_t *ret_cut, struct cc_err *e2,
				bool *ret_soft)
{
	uint32_t frame = 0, last_pack = UINT32_MAX;
	uint64_t last_off = 0;
	enum cc_code rc;
	bool end;

	for (;;) {
		struct mf_chunk c;
		struct chunk_loc loc;

		if ((rc = mf_next_chunk(r, &c, &end, e2))) {
			*ret_soft = true;
			return rc;
		}
		if (end)
			break;
		if (packmap[c.frame.pack] == UINT32_MAX)
			continue;
		if (c.frame.off + c.frame.clen > psize[c.frame.pack]) {
			(*ret_cut)++;
			continue;
		}
		if (c.frame.pack != last_pack || c.frame.off != last_off) {
			struct frame_info f = {
				.pack = packmap[c.frame.pack], .codec = c.frame.codec,
				.off = c.frame.off, .clen = c.frame.clen, .ulen = c.frame.ulen,
				.ready = true,
			};

			if ((rc = chunkset_add_frame(&sv->pk.cs, &f, &frame, sv->err)))
				return rc;
			last_pack = c.frame.pack;
			last_off = c.frame.off;
		}
		loc = (struct chunk_loc){ frame, c.off, c.len };
		if ((rc = chunkset_add(&sv->pk.cs, &c.id, &loc, sv->err)))
			return rc;
	}
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
	bool found, opened = false, soft = false;
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
	if ((rc = sv->store->ops->get_file(sv->store, name, fd, MF_MAX_SIZE, &found, &e2))) {
		soft = true;
		goto cleanup;
	}
	if (!found)
		goto cleanup;
	if ((rc = mf_open(&r, fd, &e2))) {
		soft = true;
		goto cleanup;
	}
	opened = true;
	packmap = malloc((r.hdr.n_packs ? r.hdr.n_packs : 1) * sizeof(*packmap));
	psize = calloc(r.hdr.n_packs ? r.hdr.n_packs : 1, sizeof(*psize));
	if (!packmap || !psize) {
		rc = cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (uint64_t i = 0; i < r.hdr.n_packs; i++) {
		char pname[STORE_PACK_NAME_SIZE];
		struct store_object o = { 0 };
		const char *why = NULL;
		bool have;

		/* A chunk is only reused if its pack is really there. */
		store_pack_name(pname, STORE_PACKS_PREFIX, &r.packs[i]);
		if ((rc = sv->store->ops->stat(sv->store, pname, &have, &o, &e2)) ||
		    (have && (rc = damage_check(sv, dmg, &r.packs[i], o.mtime_ns, &why, &e2)))) {
			soft = true;
			goto cleanup;
		}
		if (why)
			cc_warn("not reusing the pack '%s': %s; its chunks are stored again",
				pname, why);
		packmap[i] = UINT32_MAX;
		psize[i] = sv->store->ops->caps & STORE_CAP_NO_SIZE ? UINT64_MAX : o.size;
		if (have && !why &&
		    (rc = chunkset_pack(&sv->pk.cs, &r.packs[i], true, &packmap[i], sv->err)))
			goto cleanup;
	}
	if ((rc = base_chunks(sv, &r, packmap, psize, &cut, &e2, &soft)))
		goto cleanup;
	if (cut)
		cc_warn("not reusing %llu chunks of entry '%s': their pack ends before their frame",
			(unsigned long long)cut, key);
	sv->st->bases++;
	cc_debug("dedup base '%s': %llu chunks", key, (unsigned long long)r.hdr.n_chunks);
cleanup:
	if (soft) {
		/* A base we cannot read only costs dedup; the save goes on. */
		cc_warn("not using entry '%s' for dedup: %s", key, e2.msg);
		rc = CC_OK;
	}
	if (opened)
		mf_close(&r);
	free(packmap);
	free(psize);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Picks the bases among the listed entries into chosen (room for
 * MAX_BASES + 16).  @return how many: the previous value of this entry
 * (or, failing that, the newest entry of this key saved with other
 * paths), then the newest match of each restore key, then the entries
 * whose keys share the longest prefix with this one: in CI those are
 * the entries the job most likely restored from.  At each rank an entry
 * saved with the same paths is preferred. */
static size_t bases_choose(const struct saver *sv, struct cands *c, struct cand **chosen)
{
	const char *key = sv->o->key;
	size_t nchosen = 0;

	{
		struct cand *best = NULL;

		for (size_t i = 0; i < c->n; i++)
			if (!strcmp(c->v[i].key, key) && better(sv, &c->v[i], best))
				best = &c->v[i];
		if (best)
			chosen[nchosen++] = best;
	}
	for (size_t k = 0; k < sv->o->nrestore_keys && nchosen < MAX_BASES + 8; k++) {
		const char *p = sv->o->restore_keys[k];
		struct cand *best = NULL;

		for (size_t i = 0; i < c->n; i++)
			if (!strncmp(c->v[i].key, p, strlen(p)) && better(sv, &c->v[i], best))
				best = &c->v[i];
		if (best)
			chosen[nchosen++] = best;
	}
	while (nchosen < MAX_BASES) {
		struct cand *best = NULL;
		size_t best_common = 0;

		for (size_t i = 0; i < c->n; i++) {
			size_t cp = common_prefix(c->v[i].key, key);
			bool dup = false;

			for (size_t j = 0; j < nchosen; j++)
				dup |= chosen[j] == &c->v[i];
			if (dup)
				continue;
			if (!best || cp > best_common ||
			    (cp == best_common && better(sv, &c->v[i], best))) {
				best = &c->v[i];
				best_common = cp;
			}
		}
		if (!best)
			break;
		chosen[nchosen++] = best;
	}
	return nchosen;
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
	nchosen = bases_choose(sv, &c, chosen);
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
		char hex[CC_ID_HEX_LEN + 1], name[STORE_PACK_NAME_SIZE];
		bool have, marked;
		int64_t mtime;

		cc_id_hex(&packs[i], hex);
		store_pack_name(name, STORE_PACKS_PREFIX, &packs[i]);
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

	packs = calloc(sv->pk.nmpacks ? sv->pk.nmpacks : 1, sizeof(*packs));
	if (!packs)
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < sv->pk.nmpacks; i++)
		packs[i] = sv->pk.cs.packs[sv->pk.mpacks[i]].id;
	fd = store_tmpfile(sv->store, &tmp, sv->err);
	if (fd < 0) {
		rc = sv->err->code;
		goto cleanup;
	}
	rc = mf_writer_finish(&sv->mw, sv->o->key, now_realtime_ns(), packs, sv->pk.nmpacks, fd,
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
	if ((rc = prune_guard(sv, packs, sv->pk.nmpacks)))
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

/* ------------------------------------------------------------------ */

static void packer_init(struct packer *pk)
{
	memset(pk, 0, sizeof(*pk));
	cc_err_clear(&pk->err);
	chunkset_init(&pk->cs);
	buf_init(&pk->pack_tmp, 0);
	pk->pack_fd = -1;
}

static enum cc_code packer_alloc(struct packer *pk, struct cc_err *err)
{
	if (!chunker_init(&pk->ck, CHUNK_MIN_DEFAULT, CHUNK_AVG_DEFAULT, CHUNK_MAX_DEFAULT))
		return cc_err_set(err, CC_EINTERNAL, 0, "bad chunker parameters");
	pk->scap = READ_SIZE + CHUNK_MAX_DEFAULT;	/* a block + the carried chunk */
	pk->sbuf = malloc(pk->scap);
	pk->rows = malloc(MAX_PENDING * sizeof(*pk->rows));
	pk->pack_hash = XXH3_createState();
	if (!pk->sbuf || !pk->rows || !pk->pack_hash)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	return CC_OK;
}

/* After the chunker thread and the workers are joined: drops the pack
 * being written and every frame. */
static void packer_release(struct packer *pk)
{
	if (pk->pack_fd >= 0)
		close(pk->pack_fd);
	if (pk->pack_tmp.len)
		unlink(pk->pack_tmp.data);
	buf_release(&pk->pack_tmp);
	job_free(pk->cur);
	for (size_t i = 0; i < pk->ring_len; i++)
		job_free(pk->ring[(pk->ring_head + i) % pk->ring_cap]);
	while (pk->free_jobs) {
		struct job *j = pk->free_jobs;

		pk->free_jobs = j->next;
		job_free(j);
	}
	free(pk->ring);
	free(pk->sbuf);
	free(pk->rows);
	free(pk->mpacks);
	XXH3_freeState(pk->pack_hash);
	chunkset_release(&pk->cs);
}

static void saver_init(struct saver *sv, struct store *s, const struct save_opts *o,
		       struct save_stats *st, struct cc_err *err)
{
	sv->store = s;
	sv->o = o;
	sv->st = st;
	sv->err = err;
	walk_init(&sv->w);
	blockq_init(&sv->q);
	packer_init(&sv->pk);
	pool_init(&sv->pool, o->level);
	upload_init(&sv->up, s);
}

/* Stops the threads (the chunker, the upload in flight, the workers),
 * taking their errors (err_take), then releases every part.
 * @return rc or a thread's error. */
static enum cc_code saver_release(struct saver *sv, enum cc_code rc)
{
	rc = chunker_join(sv, rc);
	rc = upload_wait(&sv->up, rc, sv->err);
	pool_release(&sv->pool);
	packer_release(&sv->pk);
	blockq_release(&sv->q);
	walk_release(&sv->w);
	mf_writer_release(&sv->mw);
	return rc;
}

/* Before anything is read: the key is valid, the store writable and
 * known (when local) so the walk leaves it out.  *ret_done is set when an
 * --immutable entry already stands: nothing to save. */
static enum cc_code save_begin(struct saver *sv, bool *ret_done)
{
	struct store *s = sv->store;
	enum cc_code rc;

	*ret_done = false;
	if ((rc = store_check_key(s, sv->o->key, "key", sv->err)) ||
	    (rc = s->ops->prepare_write(s, sv->err)))
		return rc;
	if (s->ops->caps & STORE_CAP_LOCAL_DIR) {
		struct stat st;

		/* prepare_write made it: a failure here is not ours to judge */
		if (!s->ops->local_dir(s, &st)) {
			sv->w.store_local = true;
			sv->w.store_dev = st.st_dev;
			sv->w.store_ino = st.st_ino;
		}
	}
	if (sv->o->immutable) {
		struct buf name = BUF_INIT;
		bool found = false;

		rc = store_entry_name(&name, sv->o->key, sv->o->version, sv->err);
		if (!rc)
			rc = s->ops->stat(s, name.data, &found, NULL, sv->err);
		buf_release(&name);
		if (!rc && found) {
			sv->st->kept_existing = true;
			*ret_done = true;
		}
	}
	return rc;
}

/* Starts the workers and the chunker thread. */
static enum cc_code threads_start(struct saver *sv)
{
	int n = pool_size(sv->o);
	enum cc_code rc;

	sv->pk.ring_cap = (size_t)n * 2 + 2;
	sv->pk.ring = calloc(sv->pk.ring_cap, sizeof(*sv->pk.ring));
	if (!sv->pk.ring)
		return cc_err_set(sv->err, CC_ENOMEM, ENOMEM, "cannot allocate the worker pool");
	if ((rc = pool_start(&sv->pool, n, sv->err)))
		return rc;
	return chunker_start(sv);
}

/* The reader's work: the patterns, then each root. */
static enum cc_code save_roots(struct saver *sv)
{
	enum cc_code rc = CC_OK;

	for (size_t i = 0; i < sv->o->npatterns && !rc; i++)
		rc = mf_add_pattern(&sv->mw, sv->o->patterns[i], sv->err);
	for (size_t i = 0; i < sv->o->nroots && !rc; i++)
		rc = save_root(sv, &sv->o->roots[i]);
	return rc;
}

enum cc_code cc_save(struct store *s, const struct save_opts *o,
		     struct save_stats *ret_stats, struct cc_err *err)
{
	struct saver *sv = calloc(1, sizeof(*sv));
	struct save_stats dummy;
	bool done = false;
	enum cc_code rc;

	if (!ret_stats)
		ret_stats = &dummy;
	memset(ret_stats, 0, sizeof(*ret_stats));
	if (!sv)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	saver_init(sv, s, o, ret_stats, err);
	if ((rc = save_begin(sv, &done)) || done ||
	    (rc = mf_writer_init(&sv->mw, err)) ||
	    (rc = packer_alloc(&sv->pk, err)) ||
	    (rc = load_bases(sv)) ||
	    (rc = threads_start(sv)))
		goto cleanup;
	rc = save_roots(sv);
	rc = chunker_join(sv, rc);
	rc = upload_wait(&sv->up, rc, err);
	if (!rc)
		rc = publish(sv);
	cc_progress(&sv->w.prog);
cleanup:
	rc = saver_release(sv, rc);
	free(sv);
	return rc;
}
