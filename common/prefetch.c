/* prefetch.c: see prefetch.h.
 *
 * The queue holds one record per run of chunks from one frame, in stream
 * order.  The consumer's misses are a subsequence of it: it only ever
 * needs a frame whose run the prefetcher has recorded, at or after the
 * head, so dropping records that do not match is safe.  A record whose
 * frame was among the last few fetched is queued without fetching (the
 * consumer's frame cache most likely still has it). */
#include "prefetch.h"
#include "hash.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 256
#define NRECENT 8
/* Compressed frames kept after they were fetched, for the runs that use
 * a frame again later (content deduplicated within an entry). */
#define KEEP_BYTES (64u << 20)

enum pf_state { PF_SKIP, PF_FETCHING, PF_READY, PF_FAILED };

struct pf_frame {
	struct pf_frame *next;
	uint32_t pack, clen;
	uint64_t off;
	enum pf_state st;
	unsigned char *data;
	enum cc_code rc;	/* PF_FAILED: why */
	struct cc_err err;
};

struct prefetch {
	struct store *store;
	struct mf_reader mr;
	bool mr_open, thr_started;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pf_frame *head, *tail;
	uint64_t held;		/* compressed bytes fetching or ready */
	bool stop, done;
	volatile int cancel;	/* stops the batch in flight */
	struct { uint32_t pack; uint64_t off; bool valid; } recent[NRECENT];
	unsigned recent_pos;
	/* Only the prefetch thread touches these. */
	struct kept {
		struct kept *next;
		uint32_t pack, clen;
		uint64_t off;
		unsigned long used;
		unsigned char *data;
	} *kept;
	uint64_t kept_bytes;
	unsigned long tick;
};

static struct kept *kept_find(struct prefetch *p, uint32_t pack, uint64_t off, uint32_t clen)
{
	for (struct kept *k = p->kept; k; k = k->next)
		if (k->pack == pack && k->off == off && k->clen == clen) {
			k->used = ++p->tick;
			return k;
		}
	return NULL;
}

/* Keeps a copy of a fetched frame, dropping the least recently used
 * ones beyond KEEP_BYTES.  Failure to allocate only costs a fetch. */
static void kept_add(struct prefetch *p, const struct pf_frame *f)
{
	struct kept *k;

	if (f->clen > KEEP_BYTES / 4 || kept_find(p, f->pack, f->off, f->clen))
		return;
	while (p->kept && p->kept_bytes + f->clen > KEEP_BYTES) {
		struct kept **victim = &p->kept, *v;

		for (struct kept **q = &p->kept; *q; q = &(*q)->next)
			if ((*q)->used < (*victim)->used)
				victim = q;
		v = *victim;
		*victim = v->next;
		p->kept_bytes -= v->clen;
		free(v->data);
		free(v);
	}
	if (!(k = calloc(1, sizeof(*k))) || !(k->data = malloc(f->clen ? f->clen : 1))) {
		free(k);
		return;
	}
	memcpy(k->data, f->data, f->clen);
	k->pack = f->pack;
	k->off = f->off;
	k->clen = f->clen;
	k->used = ++p->tick;
	k->next = p->kept;
	p->kept = k;
	p->kept_bytes += f->clen;
}

static void pf_free(struct prefetch *p, struct pf_frame *f)
{
	if (f->st == PF_FETCHING || f->st == PF_READY)
		p->held -= f->clen;
	free(f->data);
	free(f);
}

static bool recent(struct prefetch *p, const struct mf_frame *f)
{
	for (int i = 0; i < NRECENT; i++)
		if (p->recent[i].valid && p->recent[i].pack == f->pack && p->recent[i].off == f->off)
			return true;
	p->recent[p->recent_pos].pack = f->pack;
	p->recent[p->recent_pos].off = f->off;
	p->recent[p->recent_pos].valid = true;
	p->recent_pos = (p->recent_pos + 1) % NRECENT;
	return false;
}

static void append(struct prefetch *p, struct pf_frame *f)
{
	if (p->tail)
		p->tail->next = f;
	else
		p->head = f;
	p->tail = f;
	pthread_cond_broadcast(&p->cv);
}

/* Fetches the batch b[0..n) into fresh buffers and publishes the result. */
static void fetch(struct prefetch *p, struct pf_frame **b, size_t n)
{
	struct store_range r[BATCH_MAX];
	char names[BATCH_MAX][STORE_PACK_NAME_SIZE];
	struct cc_err err;
	enum cc_code rc = CC_OK;

	pthread_mutex_lock(&p->mu);
	if (p->stop)
		rc = CC_EINTERNAL;
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < n && !rc; i++) {
		store_pack_name(names[i], STORE_PACKS_PREFIX, &p->mr.packs[b[i]->pack]);
		if (!(b[i]->data = malloc(b[i]->clen ? b[i]->clen : 1)))
			rc = CC_ENOMEM;
		r[i] = (struct store_range){ names[i], b[i]->off, b[i]->clen, b[i]->data, &p->cancel };
	}
	if (!rc)
		rc = p->store->ops->get_ranges(p->store, r, n, &err);
	if (rc)
		cc_debug("prefetch of %zu frames failed; the restore reads them itself", n);
	for (size_t i = 0; !rc && i < n; i++)
		kept_add(p, b[i]);
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < n; i++) {
		b[i]->st = rc ? PF_FAILED : PF_READY;
		b[i]->rc = rc;
		if (rc == CC_ESTORE)
			b[i]->err = err;
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void *run(void *arg)
{
	struct prefetch *p = arg;
	struct pf_frame *batch[BATCH_MAX], *carry = NULL;
	struct mf_frame last = { 0 };
	bool have_last = false, end = false;

	while (!end) {
		size_t n = 0;
		uint64_t bytes = 0;

		for (;;) {
			struct pf_frame *f = carry;
			struct mf_chunk c;
			struct cc_err err;
			struct kept *k;

			carry = NULL;
			if (!f) {
				if (n == BATCH_MAX || bytes >= PREFETCH_BATCH)
					break;
				if (mf_next_chunk(&p->mr, &c, &end, &err) || end) {
					end = true;
					break;
				}
				if (have_last && c.frame.pack == last.pack && c.frame.off == last.off)
					continue;
				last = c.frame;
				have_last = true;
				if (!(f = calloc(1, sizeof(*f)))) {
					end = true;
					break;
				}
				f->pack = c.frame.pack;
				f->off = c.frame.off;
				f->clen = c.frame.clen;
				f->st = recent(p, &c.frame) ? PF_SKIP : PF_FETCHING;
			}
			pthread_mutex_lock(&p->mu);
			if (f->st == PF_FETCHING) {
				/* A full window: fetch what the batch has first,
				 * since the consumer may be waiting for it. */
				if (n && p->held + f->clen > PREFETCH_WINDOW) {
					pthread_mutex_unlock(&p->mu);
					carry = f;
					break;
				}
				while (!p->stop && p->held && p->held + f->clen > PREFETCH_WINDOW)
					pthread_cond_wait(&p->cv, &p->mu);
				p->held += f->clen;
				k = kept_find(p, f->pack, f->off, f->clen);
				if (k && (f->data = malloc(f->clen ? f->clen : 1))) {
					memcpy(f->data, k->data, f->clen);
					f->st = PF_READY;
				} else {
					batch[n++] = f;
					bytes += f->clen;
				}
			}
			append(p, f);
			if (p->stop)
				end = true;
			pthread_mutex_unlock(&p->mu);
			if (end)
				break;
		}
		if (n)
			fetch(p, batch, n);
	}
	free(carry);
	pthread_mutex_lock(&p->mu);
	p->done = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

enum cc_code prefetch_start(struct prefetch **ret, struct store *s, int mf_fd,
			    struct cc_err *err)
{
	struct prefetch *p = calloc(1, sizeof(*p));
	enum cc_code rc;

	*ret = NULL;
	if (!p)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	p->store = s;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if ((rc = mf_open(&p->mr, mf_fd, err))) {
		prefetch_stop(p);
		return rc;
	}
	p->mr_open = true;
	if (pthread_create(&p->thr, NULL, run, p)) {
		prefetch_stop(p);
		return cc_err_set(err, CC_EINTERNAL, EAGAIN, "cannot start the prefetch thread");
	}
	p->thr_started = true;
	*ret = p;
	return CC_OK;
}

enum cc_code prefetch_take(struct prefetch *p, const struct mf_frame *f, unsigned char **ret_data,
			   struct cc_err *err)
{
	enum cc_code rc = CC_OK;

	*ret_data = NULL;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct pf_frame *h = p->head;

		if (!h) {
			if (p->done)
				break;
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		if (h->st == PF_FETCHING) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		if (!(p->head = h->next))
			p->tail = NULL;
		if (h->pack == f->pack && h->off == f->off) {
			if (h->st == PF_READY && h->clen == f->clen) {
				*ret_data = h->data;
				h->data = NULL;
			} else if (h->st == PF_FAILED && h->rc == CC_ESTORE) {
				/* The server kept failing: asking again would
				 * only repeat every retry. */
				rc = h->rc;
				if (err)
					*err = h->err;
			}
			pf_free(p, h);
			break;
		}
		pf_free(p, h);
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void prefetch_stop(struct prefetch *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	__atomic_store_n(&p->cancel, 1, __ATOMIC_RELAXED);	/* read by the transfers */
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->thr_started)
		pthread_join(p->thr, NULL);
	while (p->head) {
		struct pf_frame *h = p->head;

		p->head = h->next;
		pf_free(p, h);
	}
	while (p->kept) {
		struct kept *k = p->kept;

		p->kept = k->next;
		free(k->data);
		free(k);
	}
	if (p->mr_open)
		mf_close(&p->mr);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
