#include "manifest.h"
#include "chunkset.h"
#include "chunker.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZIN_SIZE (128u << 10)
#define ZOUT_SIZE (256u << 10)

void mf_entry_init(struct mf_entry *e)
{
	memset(e, 0, sizeof(*e));
	buf_init(&e->path, MF_MAX_PATH);
	buf_init(&e->target, MF_MAX_PATH);
}

void mf_entry_release(struct mf_entry *e)
{
	buf_release(&e->path);
	buf_release(&e->target);
	free(e->extents);
	mf_entry_init(e);
}

uint64_t mf_entry_data_len(const struct mf_entry *e)
{
	uint64_t n = 0;

	if (e->type != MF_FILE)
		return 0;
	if (!(e->flags & MF_F_SPARSE))
		return e->size;
	for (size_t i = 0; i < e->nextents; i++)
		n += e->extents[i].len;
	return n;
}

bool mf_path_valid(const char *path, size_t len)
{
	size_t start = 0;

	if (len == 0)
		return true;
	if (len > MF_MAX_PATH || memchr(path, '\0', len))
		return false;
	for (size_t i = 0; i <= len; i++) {
		size_t n;

		if (i < len && path[i] != '/')
			continue;
		n = i - start;
		if (n == 0 || n > MF_MAX_NAME ||
		    (n == 1 && path[start] == '.') ||
		    (n == 2 && path[start] == '.' && path[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* writer */

static enum cc_code zappend(ZSTD_CCtx *zc, struct buf *out, const void *data,
			    size_t n, ZSTD_EndDirective end, struct cc_err *err)
{
	ZSTD_inBuffer in = { data, n, 0 };

	for (;;) {
		ZSTD_outBuffer o;
		size_t left;
		enum cc_code rc = buf_grow(out, ZSTD_CStreamOutSize(), err);

		if (rc)
			return rc;
		o = (ZSTD_outBuffer){ out->data + out->len, out->alloc - out->len - 1, 0 };
		left = ZSTD_compressStream2(zc, &o, &in, end);
		if (ZSTD_isError(left))
			return cc_err_set(err, CC_EINTERNAL, 0, "zstd: %s",
					  ZSTD_getErrorName(left));
		buf_setlen(out, out->len + o.pos);
		if (end == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return CC_OK;
	}
}

static enum cc_code put_varint(struct buf *b, uint64_t v, struct cc_err *err)
{
	unsigned char tmp[10];

	return buf_add(b, tmp, varint_put(tmp, v), err);
}

static enum cc_code put_bytes(struct buf *b, const void *p, size_t n, struct cc_err *err)
{
	enum cc_code rc = put_varint(b, n, err);

	return rc ? rc : buf_add(b, p, n, err);
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static ZSTD_CCtx *new_cctx(void)
{
	ZSTD_CCtx *zc = ZSTD_createCCtx();

	if (zc) {
		ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, 3);
		ZSTD_CCtx_setParameter(zc, ZSTD_c_checksumFlag, 1);
	}
	return zc;
}

enum cc_code mf_writer_init(struct mf_writer *w, struct cc_err *err)
{
	memset(w, 0, sizeof(*w));
	buf_init(&w->entries, 0);
	buf_init(&w->chunks, 0);
	buf_init(&w->prev_path, 0);
	buf_init(&w->scratch, 0);
	buf_init(&w->cscratch, 0);
	w->zc_entries = new_cctx();
	w->zc_chunks = new_cctx();
	if (!w->zc_entries || !w->zc_chunks) {
		mf_writer_release(w);
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot create a zstd context");
	}
	return CC_OK;
}

void mf_writer_release(struct mf_writer *w)
{
	ZSTD_freeCCtx(w->zc_entries);
	ZSTD_freeCCtx(w->zc_chunks);
	buf_release(&w->entries);
	buf_release(&w->chunks);
	buf_release(&w->prev_path);
	buf_release(&w->scratch);
	buf_release(&w->cscratch);
	w->zc_entries = w->zc_chunks = NULL;
}

static enum cc_code flush_entry(struct mf_writer *w, struct cc_err *err)
{
	w->entries_ulen += w->scratch.len;
	return zappend(w->zc_entries, &w->entries, w->scratch.data, w->scratch.len,
		       ZSTD_e_continue, err);
}

enum cc_code mf_add_pattern(struct mf_writer *w, const char *pattern, struct cc_err *err)
{
	size_t n = strlen(pattern);
	enum cc_code rc;

	if (w->hdr.n_roots)
		return cc_err_set(err, CC_EINTERNAL, 0, "pattern after a root");
	if (!n || n > MF_MAX_PATTERN)
		return cc_err_set(err, CC_EUSAGE, 0, "pattern of %zu bytes (1 to %d)", n, MF_MAX_PATTERN);
	buf_reset(&w->scratch);
	if ((rc = buf_add(&w->scratch, "P", 1, err)) ||
	    (rc = put_bytes(&w->scratch, pattern, n, err)))
		return rc;
	w->has_patterns = true;
	return flush_entry(w, err);
}

enum cc_code mf_add_root(struct mf_writer *w, const char *spec, struct cc_err *err)
{
	enum cc_code rc;

	buf_reset(&w->scratch);
	if ((rc = buf_add(&w->scratch, "R", 1, err)) ||
	    (rc = put_bytes(&w->scratch, spec, strlen(spec), err)))
		return rc;
	buf_reset(&w->prev_path);
	w->hdr.n_roots++;
	return flush_entry(w, err);
}

enum cc_code mf_add_entry(struct mf_writer *w, const struct mf_entry *e, struct cc_err *err)
{
	struct buf *s = &w->scratch;
	size_t common = 0, max = e->path.len < w->prev_path.len ? e->path.len : w->prev_path.len;
	char t = (char)e->type;
	enum cc_code rc;

	while (common < max && e->path.data[common] == w->prev_path.data[common])
		common++;
	buf_reset(s);
	if ((rc = buf_add(s, &t, 1, err)) ||
	    (rc = put_varint(s, common, err)) ||
	    (rc = put_bytes(s, e->path.data + common, e->path.len - common, err)) ||
	    (rc = put_varint(s, e->mode, err)) ||
	    (rc = put_varint(s, zigzag(e->mtime_sec), err)) ||
	    (rc = put_varint(s, e->mtime_nsec, err)) ||
	    (rc = put_varint(s, e->uid, err)) ||
	    (rc = put_varint(s, e->gid, err)))
		return rc;
	switch (e->type) {
	case MF_FILE:
		if ((rc = put_varint(s, e->size, err)) ||
		    (rc = put_varint(s, e->flags, err)))
			return rc;
		if (e->flags & MF_F_SPARSE) {
			uint64_t pos = 0;

			if ((rc = put_varint(s, e->nextents, err)))
				return rc;
			for (size_t i = 0; i < e->nextents; i++) {
				if ((rc = put_varint(s, e->extents[i].off - pos, err)) ||
				    (rc = put_varint(s, e->extents[i].len, err)))
					return rc;
				pos = e->extents[i].off + e->extents[i].len;
			}
		}
		w->hdr.n_files++;
		w->hdr.data_bytes += mf_entry_data_len(e);
		break;
	case MF_SYMLINK:
	case MF_HARDLINK:
		if ((rc = put_bytes(s, e->target.data, e->target.len, err)))
			return rc;
		break;
	case MF_DIR:
		break;
	}
	w->hdr.n_entries++;
	buf_reset(&w->prev_path);
	if ((rc = buf_add(&w->prev_path, e->path.data, e->path.len, err)))
		return rc;
	return flush_entry(w, err);
}

enum cc_code mf_add_chunk(struct mf_writer *w, const struct mf_chunk *c, struct cc_err *err)
{
	struct buf *s = &w->cscratch;
	enum cc_code rc;

	buf_reset(s);
	if (!w->have_frame || w->cur_frame_pack != c->frame.pack ||
	    w->cur_frame_off != c->frame.off) {
		unsigned char codec = (unsigned char)c->frame.codec;

		if ((rc = buf_add(s, "F", 1, err)) ||
		    (rc = put_varint(s, c->frame.pack, err)) ||
		    (rc = put_varint(s, c->frame.off, err)) ||
		    (rc = put_varint(s, c->frame.clen, err)) ||
		    (rc = put_varint(s, c->frame.ulen, err)) ||
		    (rc = buf_add(s, &codec, 1, err)))
			return rc;
		w->have_frame = true;
		w->cur_frame_pack = c->frame.pack;
		w->cur_frame_off = c->frame.off;
	}
	if ((rc = buf_add(s, "C", 1, err)) ||
	    (rc = buf_add(s, c->id.b, CC_ID_LEN, err)) ||
	    (rc = put_varint(s, c->off, err)) ||
	    (rc = put_varint(s, c->len, err)))
		return rc;
	w->hdr.n_chunks++;
	w->chunks_ulen += s->len;
	return zappend(w->zc_chunks, &w->chunks, s->data, s->len, ZSTD_e_continue, err);
}

/* Writes p to fd and adds it to the checksum st. */
static enum cc_code write_hashed(int fd, const void *p, size_t n, XXH3_state_t *st,
				 struct cc_err *err)
{
	XXH3_128bits_update(st, p, n);
	if (write_all(fd, p, n))
		return cc_err_set(err, CC_ESTORE, errno, "cannot write the manifest");
	return CC_OK;
}

enum cc_code mf_writer_finish(struct mf_writer *w, const char *key, int64_t created_ns,
			      const struct cc_id *packs, size_t npacks, int fd,
			      struct cc_err *err)
{
	unsigned char h[MF_HEADER_LEN] = { 0 }, trailer[CC_ID_LEN];
	struct cc_id sum;
	XXH3_state_t *st = NULL;
	enum cc_code rc;
	size_t klen = strlen(key);

	/* An end record in each stream lets the reader check the counts
	 * without trusting the header alone. */
	buf_reset(&w->scratch);
	if ((rc = buf_add(&w->scratch, "E", 1, err)) ||
	    (rc = put_varint(&w->scratch, w->hdr.n_entries, err)) ||
	    (rc = put_varint(&w->scratch, w->hdr.data_bytes, err)))
		return rc;
	w->entries_ulen += w->scratch.len;
	if ((rc = zappend(w->zc_entries, &w->entries, w->scratch.data, w->scratch.len,
			  ZSTD_e_end, err)))
		return rc;
	buf_reset(&w->scratch);
	if ((rc = buf_add(&w->scratch, "E", 1, err)) ||
	    (rc = put_varint(&w->scratch, w->hdr.n_chunks, err)) ||
	    (rc = put_varint(&w->scratch, w->hdr.data_bytes, err)))
		return rc;
	w->chunks_ulen += w->scratch.len;
	if ((rc = zappend(w->zc_chunks, &w->chunks, w->scratch.data, w->scratch.len,
			  ZSTD_e_end, err)))
		return rc;

	memcpy(h, MF_MAGIC, 8);
	put_le32(h + 8, w->has_patterns ? 2 : 1);
	put_le32(h + 12, MF_HEADER_LEN);
	put_le64(h + 16, (uint64_t)created_ns);
	put_le32(h + 24, (uint32_t)klen);
	put_le32(h + 28, w->hdr.n_roots);
	put_le64(h + 32, w->entries.len);
	put_le64(h + 40, w->entries_ulen);
	put_le64(h + 48, w->chunks.len);
	put_le64(h + 56, w->chunks_ulen);
	put_le64(h + 64, npacks);
	put_le64(h + 72, w->hdr.n_entries);
	put_le64(h + 80, w->hdr.n_files);
	put_le64(h + 88, w->hdr.data_bytes);
	put_le64(h + 96, w->hdr.n_chunks);

	st = XXH3_createState();
	if (!st)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot create a hash state");
	XXH3_128bits_reset(st);
	if ((rc = write_hashed(fd, h, sizeof(h), st, err)) ||
	    (rc = write_hashed(fd, key, klen, st, err)) ||
	    (rc = write_hashed(fd, w->entries.data, w->entries.len, st, err)) ||
	    (rc = write_hashed(fd, w->chunks.data, w->chunks.len, st, err)) ||
	    (rc = write_hashed(fd, packs, npacks * sizeof(*packs), st, err)))
		goto cleanup;
	cc_id_from_hash(&sum, XXH3_128bits_digest(st));
	memcpy(trailer, sum.b, sizeof(trailer));
	rc = write_hashed(fd, trailer, sizeof(trailer), st, err);
cleanup:
	XXH3_freeState(st);
	return rc;
}

/* ------------------------------------------------------------------ */
/* reader */

static enum cc_code corrupt(struct cc_err *err, const char *what)
{
	return cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: %s", what);
}

static enum cc_code read_at(int fd, void *p, size_t n, uint64_t off, struct cc_err *err)
{
	ssize_t k = pread_full(fd, p, n, (off_t)off);

	if (k < 0)
		return cc_err_set(err, CC_ESTORE, errno, "cannot read the manifest");
	if ((size_t)k < n)
		return corrupt(err, "truncated");
	return CC_OK;
}

static void zr_release(struct mf_zreader *z)
{
	ZSTD_freeDCtx(z->dc);
	free(z->in);
	free(z->out);
	memset(z, 0, sizeof(*z));
}

static enum cc_code zr_start(struct mf_zreader *z, int fd, uint64_t off, uint64_t clen,
			     uint64_t ulen, struct cc_err *err)
{
	if (!z->dc) {
		z->dc = ZSTD_createDCtx();
		z->in = malloc(ZIN_SIZE);
		z->out = malloc(ZOUT_SIZE);
		if (!z->dc || !z->in || !z->out)
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate a reader");
		/* The writer never uses a window above 2^23 for these
		 * streams; refuse frames that ask for more memory. */
		ZSTD_DCtx_setParameter(z->dc, ZSTD_d_windowLogMax, 23);
	}
	ZSTD_DCtx_reset(z->dc, ZSTD_reset_session_only);
	z->fd = fd;
	z->off = off;
	z->end = off + clen;
	z->ulen = ulen;
	z->produced = 0;
	z->in_pos = z->in_len = z->out_pos = z->out_len = 0;
	z->frame_done = false;
	return CC_OK;
}

/* Refills z->out.  @return CC_OK with out_len > out_pos, or an error;
 * *ret_eof is set when the stream has ended cleanly. */
static enum cc_code zr_fill(struct mf_zreader *z, bool *ret_eof, struct cc_err *err)
{
	*ret_eof = false;
	z->out_pos = z->out_len = 0;
	while (!z->out_len) {
		ZSTD_inBuffer in;
		ZSTD_outBuffer out = { z->out, ZOUT_SIZE, 0 };
		size_t r;

		if (z->frame_done) {
			if (z->in_pos != z->in_len || z->off != z->end ||
			    z->produced != z->ulen)
				return corrupt(err, "stream length mismatch");
			*ret_eof = true;
			return CC_OK;
		}
		if (z->in_pos == z->in_len) {
			size_t n = z->end - z->off < ZIN_SIZE ? (size_t)(z->end - z->off) : ZIN_SIZE;
			enum cc_code rc;

			if (!n)
				return corrupt(err, "truncated stream");
			if ((rc = read_at(z->fd, z->in, n, z->off, err)))
				return rc;
			z->off += n;
			z->in_pos = 0;
			z->in_len = n;
		}
		in = (ZSTD_inBuffer){ z->in, z->in_len, z->in_pos };
		r = ZSTD_decompressStream(z->dc, &out, &in);
		if (ZSTD_isError(r))
			return cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: %s",
					  ZSTD_getErrorName(r));
		z->in_pos = in.pos;
		z->out_len = out.pos;
		z->produced += out.pos;
		if (z->produced > z->ulen)
			return corrupt(err, "stream longer than declared");
		if (r == 0)
			z->frame_done = true;
	}
	return CC_OK;
}

static enum cc_code zr_bytes(struct mf_zreader *z, void *dst, size_t n, struct cc_err *err)
{
	unsigned char *d = dst;

	while (n) {
		size_t k;

		if (z->out_pos == z->out_len) {
			bool eof;
			enum cc_code rc = zr_fill(z, &eof, err);

			if (rc)
				return rc;
			if (eof)
				return corrupt(err, "record truncated");
		}
		k = z->out_len - z->out_pos;
		if (k > n)
			k = n;
		memcpy(d, z->out + z->out_pos, k);
		z->out_pos += k;
		d += k;
		n -= k;
	}
	return CC_OK;
}

static enum cc_code zr_varint(struct mf_zreader *z, uint64_t *ret, struct cc_err *err)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		unsigned char c;
		enum cc_code rc = zr_bytes(z, &c, 1, err);

		if (rc)
			return rc;
		if (shift == 63 && (c & 0x7e))
			break;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*ret = v;
			return CC_OK;
		}
	}
	return corrupt(err, "bad varint");
}

static enum cc_code zr_bounded(struct mf_zreader *z, uint64_t max, uint64_t *ret,
			       const char *what, struct cc_err *err)
{
	enum cc_code rc = zr_varint(z, ret, err);

	if (rc)
		return rc;
	if (*ret > max)
		return cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: %s %llu out of range",
				  what, (unsigned long long)*ret);
	return CC_OK;
}

static enum cc_code zr_string(struct mf_zreader *z, struct buf *b, size_t max,
			      const char *what, struct cc_err *err)
{
	uint64_t n;
	enum cc_code rc;

	if ((rc = zr_bounded(z, max, &n, what, err)))
		return rc;
	buf_reset(b);
	if ((rc = buf_grow(b, n, err)))
		return rc;
	if ((rc = zr_bytes(z, b->data, n, err)))
		return rc;
	buf_setlen(b, n);
	return CC_OK;
}

void mf_close(struct mf_reader *r)
{
	zr_release(&r->ents);
	zr_release(&r->chunks);
	free(r->packs);
	buf_release(&r->path);
	memset(r, 0, sizeof(*r));
}

static enum cc_code verify_checksum(int fd, uint64_t size, struct cc_err *err)
{
	unsigned char *tmp = malloc(1 << 20), trailer[CC_ID_LEN];
	XXH3_state_t *st = XXH3_createState();
	uint64_t off = 0, body = size - CC_ID_LEN;
	struct cc_id sum;
	enum cc_code rc = CC_OK;

	if (!tmp || !st) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	XXH3_128bits_reset(st);
	while (off < body) {
		size_t n = body - off < (1 << 20) ? (size_t)(body - off) : (1 << 20);

		if ((rc = read_at(fd, tmp, n, off, err)))
			goto cleanup;
		XXH3_128bits_update(st, tmp, n);
		off += n;
	}
	if ((rc = read_at(fd, trailer, sizeof(trailer), body, err)))
		goto cleanup;
	cc_id_from_hash(&sum, XXH3_128bits_digest(st));
	if (memcmp(sum.b, trailer, sizeof(trailer)))
		rc = corrupt(err, "checksum mismatch");
cleanup:
	free(tmp);
	XXH3_freeState(st);
	return rc;
}

enum cc_code mf_rewind(struct mf_reader *r, struct cc_err *err)
{
	uint64_t eoff = MF_HEADER_LEN + r->hdr.key_len;
	enum cc_code rc;

	if ((rc = zr_start(&r->ents, r->fd, eoff, r->hdr.entries_clen,
			   r->hdr.entries_ulen, err)) ||
	    (rc = zr_start(&r->chunks, r->fd, eoff + r->hdr.entries_clen,
			   r->hdr.chunks_clen, r->hdr.chunks_ulen, err)))
		return rc;
	buf_reset(&r->path);
	r->have_frame = r->ents_done = r->chunks_done = r->in_root = false;
	r->seen_entries = r->seen_files = r->seen_data = r->seen_chunks = 0;
	r->seen_roots = r->chunk_data = 0;
	return CC_OK;
}

enum cc_code mf_open(struct mf_reader *r, int fd, struct cc_err *err)
{
	unsigned char h[MF_HEADER_LEN];
	struct mf_header *hd = &r->hdr;
	uint64_t size, expect;
	off_t end;
	enum cc_code rc;

	memset(r, 0, sizeof(*r));
	buf_init(&r->path, MF_MAX_PATH);
	r->fd = fd;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return cc_err_set(err, CC_ESTORE, errno, "cannot read the manifest");
	size = (uint64_t)end;
	if (size < MF_HEADER_LEN + CC_ID_LEN)
		return corrupt(err, "too short");
	if (size > MF_MAX_SIZE)
		return corrupt(err, "too large");
	if ((rc = read_at(fd, h, sizeof(h), 0, err)))
		return rc;
	if (memcmp(h, MF_MAGIC, 8))
		return corrupt(err, "bad magic");
	hd->version = get_le32(h + 8);
	if (hd->version < MF_VERSION_MIN || hd->version > MF_VERSION)
		return cc_err_set(err, CC_ECORRUPT, 0,
				  "unsupported manifest version %u (this cicache reads %d to %d)",
				  hd->version, MF_VERSION_MIN, MF_VERSION);
	if (get_le32(h + 12) != MF_HEADER_LEN)
		return corrupt(err, "bad header length");
	hd->created_ns = (int64_t)get_le64(h + 16);
	hd->key_len = get_le32(h + 24);
	hd->n_roots = get_le32(h + 28);
	hd->entries_clen = get_le64(h + 32);
	hd->entries_ulen = get_le64(h + 40);
	hd->chunks_clen = get_le64(h + 48);
	hd->chunks_ulen = get_le64(h + 56);
	hd->n_packs = get_le64(h + 64);
	hd->n_entries = get_le64(h + 72);
	hd->n_files = get_le64(h + 80);
	hd->data_bytes = get_le64(h + 88);
	hd->n_chunks = get_le64(h + 96);
	/* Each part is bounded by the file size first, so the sum below
	 * cannot overflow. */
	for (int i = 104; i < MF_HEADER_LEN; i++)
		if (h[i])
			return corrupt(err, "reserved header bytes are not zero");
	if (!hd->key_len || hd->key_len > MF_MAX_KEY || hd->entries_clen > size || hd->chunks_clen > size ||
	    hd->n_packs > MF_MAX_PACKS)
		return corrupt(err, "section length out of range");
	expect = MF_HEADER_LEN + hd->key_len + hd->entries_clen + hd->chunks_clen +
		 hd->n_packs * CC_ID_LEN + CC_ID_LEN;
	if (expect != size)
		return corrupt(err, "size does not match its header");
	if ((rc = verify_checksum(fd, size, err)))
		return rc;
	if ((rc = read_at(fd, r->key, hd->key_len, MF_HEADER_LEN, err)))
		return rc;
	r->key[hd->key_len] = '\0';
	if (strlen(r->key) != hd->key_len)
		return corrupt(err, "key contains a NUL byte");
	r->packs = calloc(hd->n_packs ? hd->n_packs : 1, sizeof(*r->packs));
	if (!r->packs)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate the pack table");
	if ((rc = read_at(fd, r->packs, hd->n_packs * CC_ID_LEN,
			  size - CC_ID_LEN - hd->n_packs * CC_ID_LEN, err)))
		return rc;
	return mf_rewind(r, err);
}

static enum cc_code read_entry(struct mf_reader *r, char type, struct mf_entry *e,
			       struct cc_err *err)
{
	struct mf_zreader *z = &r->ents;
	uint64_t common, slen, v;
	enum cc_code rc;

	e->type = (enum mf_type)type;
	e->flags = 0;
	e->size = 0;
	e->nextents = 0;
	buf_reset(&e->target);
	if ((rc = zr_bounded(z, r->path.len, &common, "path prefix", err)) ||
	    (rc = zr_bounded(z, MF_MAX_PATH - common, &slen, "path length", err)))
		return rc;
	buf_reset(&e->path);
	if ((rc = buf_add(&e->path, r->path.data, common, err)) ||
	    (rc = buf_grow(&e->path, slen, err)) ||
	    (rc = zr_bytes(z, e->path.data + common, slen, err)))
		return rc;
	buf_setlen(&e->path, common + slen);
	if (!mf_path_valid(e->path.data, e->path.len))
		return cc_err_set(err, CC_ECORRUPT, 0, "corrupt manifest: unsafe path '%s'",
				  e->path.data);
	buf_reset(&r->path);
	if ((rc = buf_add(&r->path, e->path.data, e->path.len, err)))
		return rc;
	if ((rc = zr_bounded(z, 07777, &v, "mode", err)))
		return rc;
	e->mode = (uint32_t)v;
	if ((rc = zr_varint(z, &v, err)))
		return rc;
	e->mtime_sec = unzigzag(v);
	if ((rc = zr_bounded(z, 999999999, &v, "nanoseconds", err)))
		return rc;
	e->mtime_nsec = (uint32_t)v;
	if ((rc = zr_bounded(z, UINT32_MAX, &v, "uid", err)))
		return rc;
	e->uid = (uint32_t)v;
	if ((rc = zr_bounded(z, UINT32_MAX, &v, "gid", err)))
		return rc;
	e->gid = (uint32_t)v;

	switch (type) {
	case MF_DIR:
		break;
	case MF_FILE: {
		uint64_t pos = 0;

		if ((rc = zr_bounded(z, INT64_MAX, &e->size, "file size", err)) ||
		    (rc = zr_bounded(z, MF_F_LINK_TARGET | MF_F_SPARSE, &v, "flags", err)))
			return rc;
		e->flags = (uint32_t)v;
		if (!(e->flags & MF_F_SPARSE))
			break;
		if ((rc = zr_bounded(z, MF_MAX_EXTENTS, &v, "extent count", err)))
			return rc;
		if (ARRAY_GROW(e->extents, e->extents_alloc, v))
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate extents");
		e->nextents = v;
		for (size_t i = 0; i < e->nextents; i++) {
			uint64_t gap, len;

			if ((rc = zr_varint(z, &gap, err)) || (rc = zr_varint(z, &len, err)))
				return rc;
			if (add_overflow_u64(pos, gap, &pos) || len == 0 ||
			    pos > e->size || len > e->size - pos)
				return corrupt(err, "extent out of range");
			e->extents[i].off = pos;
			e->extents[i].len = len;
			pos += len;
		}
		break;
	}
	case MF_SYMLINK:
		if ((rc = zr_string(z, &e->target, MF_MAX_LINK, "link length", err)))
			return rc;
		if (!e->target.len || memchr(e->target.data, '\0', e->target.len))
			return corrupt(err, "bad symlink target");
		break;
	case MF_HARDLINK:
		if ((rc = zr_string(z, &e->target, MF_MAX_PATH, "link length", err)))
			return rc;
		if (!e->target.len || !mf_path_valid(e->target.data, e->target.len))
			return corrupt(err, "unsafe hardlink target");
		break;
	}
	return CC_OK;
}

/* A pattern record after its type byte: as given, before the first
 * root, version 2 only. */
static enum cc_code read_pattern(struct mf_reader *r, struct buf *root, struct cc_err *err)
{
	enum cc_code rc;

	if (r->hdr.version < 2 || r->seen_roots)
		return corrupt(err, "misplaced pattern");
	if ((rc = zr_string(&r->ents, root, MF_MAX_PATTERN, "pattern length", err)))
		return rc;
	if (!root->len || memchr(root->data, '\0', root->len))
		return corrupt(err, "bad pattern");
	return CC_OK;
}

enum cc_code mf_next(struct mf_reader *r, enum mf_item *ret_item, struct buf *root,
		     struct mf_entry *e, struct cc_err *err)
{
	unsigned char type;
	enum cc_code rc;

	if (r->ents_done)
		return cc_err_set(err, CC_EINTERNAL, 0, "manifest read past its end");
	/* Patterns are checked even when the caller skips them. */
	do {
		if ((rc = zr_bytes(&r->ents, &type, 1, err)) ||
		    (type == 'P' && (rc = read_pattern(r, root, err))))
			return rc;
	} while (type == 'P' && !r->want_patterns);
	switch (type) {
	case 'P':
		*ret_item = MF_ITEM_PATTERN;
		return CC_OK;
	case 'R':
		if (r->seen_roots >= r->hdr.n_roots)
			return corrupt(err, "more roots than declared");
		if ((rc = zr_string(&r->ents, root, MF_MAX_ROOT, "root length", err)))
			return rc;
		if (!root->len || memchr(root->data, '\0', root->len))
			return corrupt(err, "bad root");
		buf_reset(&r->path);
		r->seen_roots++;
		r->in_root = true;
		*ret_item = MF_ITEM_ROOT;
		return CC_OK;
	case 'E': {
		uint64_t n, data;
		bool eof;

		if ((rc = zr_varint(&r->ents, &n, err)) || (rc = zr_varint(&r->ents, &data, err)))
			return rc;
		if (n != r->seen_entries || n != r->hdr.n_entries ||
		    data != r->seen_data || data != r->hdr.data_bytes ||
		    r->seen_files != r->hdr.n_files || r->seen_roots != r->hdr.n_roots)
			return corrupt(err, "entry counts do not match");
		if (r->ents.out_pos != r->ents.out_len)
			return corrupt(err, "data after the end record");
		if ((rc = zr_fill(&r->ents, &eof, err)))
			return rc;
		if (!eof)
			return corrupt(err, "data after the end record");
		r->ents_done = true;
		*ret_item = MF_ITEM_END;
		return CC_OK;
	}
	case MF_DIR: case MF_FILE: case MF_SYMLINK: case MF_HARDLINK:
		if (!r->in_root)
			return corrupt(err, "entry before any root");
		if ((rc = read_entry(r, (char)type, e, err)))
			return rc;
		r->seen_entries++;
		if (type == MF_FILE) {
			r->seen_files++;
			if (add_overflow_u64(r->seen_data, mf_entry_data_len(e), &r->seen_data))
				return corrupt(err, "data size overflow");
		}
		*ret_item = MF_ITEM_ENTRY;
		return CC_OK;
	default:
		return corrupt(err, "unknown entry record");
	}
}

enum cc_code mf_next_chunk(struct mf_reader *r, struct mf_chunk *c, bool *ret_end,
			   struct cc_err *err)
{
	struct mf_zreader *z = &r->chunks;
	unsigned char type;
	uint64_t v;
	enum cc_code rc;

	*ret_end = false;
	if (r->chunks_done) {
		*ret_end = true;
		return CC_OK;
	}
	for (;;) {
		if ((rc = zr_bytes(z, &type, 1, err)))
			return rc;
		if (type == 'F') {
			struct mf_frame *f = &r->frame;
			unsigned char codec;

			if ((rc = zr_bounded(z, r->hdr.n_packs ? r->hdr.n_packs - 1 : 0, &v,
					     "pack index", err)))
				return rc;
			if (!r->hdr.n_packs)
				return corrupt(err, "frame without packs");
			f->pack = (uint32_t)v;
			if ((rc = zr_bounded(z, INT64_MAX, &f->off, "frame offset", err)))
				return rc;
			if ((rc = zr_bounded(z, MF_MAX_FRAME + (MF_MAX_FRAME >> 4) + 1024, &v,
					     "frame length", err)))
				return rc;
			f->clen = (uint32_t)v;
			if ((rc = zr_bounded(z, MF_MAX_FRAME, &v, "frame size", err)))
				return rc;
			f->ulen = (uint32_t)v;
			if ((rc = zr_bytes(z, &codec, 1, err)))
				return rc;
			if (codec != FRAME_RAW && codec != FRAME_ZSTD)
				return corrupt(err, "unknown frame codec");
			if (codec == FRAME_RAW && f->clen != f->ulen)
				return corrupt(err, "raw frame length mismatch");
			f->codec = codec;
			r->have_frame = true;
			continue;
		}
		if (type == 'C') {
			uint64_t off, len;

			if (!r->have_frame)
				return corrupt(err, "chunk before any frame");
			if ((rc = zr_bytes(z, c->id.b, CC_ID_LEN, err)) ||
			    (rc = zr_varint(z, &off, err)) ||
			    (rc = zr_bounded(z, CHUNK_MAX_LIMIT, &len, "chunk length", err)))
				return rc;
			if (len == 0 || off > r->frame.ulen || len > r->frame.ulen - off)
				return corrupt(err, "chunk outside its frame");
			c->frame = r->frame;
			c->off = (uint32_t)off;
			c->len = (uint32_t)len;
			r->seen_chunks++;
			if (add_overflow_u64(r->chunk_data, len, &r->chunk_data))
				return corrupt(err, "data size overflow");
			return CC_OK;
		}
		if (type == 'E') {
			uint64_t n, data;
			bool eof;

			if ((rc = zr_varint(z, &n, err)) || (rc = zr_varint(z, &data, err)))
				return rc;
			if (n != r->seen_chunks || n != r->hdr.n_chunks ||
			    data != r->chunk_data || data != r->hdr.data_bytes)
				return corrupt(err, "chunk counts do not match");
			if (z->out_pos != z->out_len)
				return corrupt(err, "data after the end record");
			if ((rc = zr_fill(z, &eof, err)))
				return rc;
			if (!eof)
				return corrupt(err, "data after the end record");
			r->chunks_done = true;
			*ret_end = true;
			return CC_OK;
		}
		return corrupt(err, "unknown chunk record");
	}
}

/* ------------------------------------------------------------------ */
/* rewriting */

static int move_cmp(const unsigned char *pack, uint64_t off, const struct mf_move *m)
{
	int c = memcmp(pack, m->old_pack, CC_ID_LEN);

	return c ? c : off < m->old_off ? -1 : off > m->old_off;
}

static const struct mf_move *find_move(const struct mf_move *moves, size_t n,
				       const unsigned char *pack, uint64_t off)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = move_cmp(pack, off, &moves[mid]);

		if (!c)
			return &moves[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* A pack id and its index, sorted by id for lookups. */
struct id_idx {
	struct cc_id id;
	size_t idx;
};

static int id_idx_cmp(const void *a, const void *b)
{
	return memcmp(((const struct id_idx *)a)->id.b, ((const struct id_idx *)b)->id.b,
		      CC_ID_LEN);
}

/* Position of id in the sorted array v[0..n), or where it would go. */
static size_t id_pos(const struct id_idx *v, size_t n, const unsigned char *id, bool *ret_found)
{
	size_t lo = 0, hi = n;

	*ret_found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(id, v[mid].id.b, CC_ID_LEN);

		if (!c) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Where a frame of the old manifest goes: the pack's id and offset. */
static void move_frame(const struct mf_reader *r, const struct mf_frame *f,
		       const struct mf_move *moves, size_t n, const unsigned char **ret_pack,
		       uint64_t *ret_off, bool *ret_moved)
{
	const struct mf_move *m = find_move(moves, n, r->packs[f->pack].b, f->off);

	*ret_moved = m != NULL;
	*ret_pack = m ? m->new_pack : r->packs[f->pack].b;
	*ret_off = m ? m->new_off : f->off;
}

/* One manifest being repointed: the old pack table sorted for lookup,
 * the packs the moves bring in, and the new table. */
struct repoint {
	struct mf_reader r;
	const struct mf_move *moves;
	size_t n;
	struct id_idx *old_sorted;	/* the old table, sorted by id */
	size_t *old_map;		/* old index -> new index (SIZE_MAX: unused) */
	struct id_idx *added;		/* new packs, sorted by id; idx: new index */
	size_t n_added, alloc_added;
	struct cc_id *table;		/* the new table */
	size_t n_packs;
};

/* Pass 1: which packs the rewritten manifest uses; *ret_changed when a
 * frame moves. */
static enum cc_code repoint_scan(struct repoint *rp, bool *ret_changed, struct cc_err *err)
{
	struct mf_reader *r = &rp->r;
	struct mf_chunk c;
	bool end, have_prev = false, moved, found;
	uint32_t prev_pack = 0;
	uint64_t prev_off = 0, off;
	const unsigned char *pack;
	enum cc_code rc;
	size_t at;

	for (;;) {
		if ((rc = mf_next_chunk(r, &c, &end, err)))
			return rc;
		if (end)
			return CC_OK;
		if (have_prev && c.frame.pack == prev_pack && c.frame.off == prev_off)
			continue;
		have_prev = true;
		prev_pack = c.frame.pack;
		prev_off = c.frame.off;
		move_frame(r, &c.frame, rp->moves, rp->n, &pack, &off, &moved);
		if (moved)
			*ret_changed = true;
		at = id_pos(rp->old_sorted, r->hdr.n_packs, pack, &found);
		if (found) {
			rp->old_map[rp->old_sorted[at].idx] = 0;
			continue;
		}
		at = id_pos(rp->added, rp->n_added, pack, &found);
		if (found)
			continue;
		if (rp->n_added + r->hdr.n_packs >= MF_MAX_PACKS)
			return corrupt(err, "too many packs");
		if (ARRAY_GROW(rp->added, rp->alloc_added, rp->n_added + 1))
			return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		memmove(rp->added + at + 1, rp->added + at, (rp->n_added - at) * sizeof(*rp->added));
		memcpy(rp->added[at].id.b, pack, CC_ID_LEN);
		rp->n_added++;
	}
}

/* The new table: old packs still used, in order, then the new ones. */
static enum cc_code repoint_table(struct repoint *rp, struct cc_err *err)
{
	size_t n_kept = 0;

	for (size_t i = 0; i < rp->r.hdr.n_packs; i++)
		if (rp->old_map[i] != SIZE_MAX)
			rp->old_map[i] = n_kept++;
	rp->n_packs = n_kept + rp->n_added;
	if (!(rp->table = calloc(rp->n_packs + 1, sizeof(*rp->table))))
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	for (size_t i = 0; i < rp->r.hdr.n_packs; i++)
		if (rp->old_map[i] != SIZE_MAX)
			rp->table[rp->old_map[i]] = rp->r.packs[i];
	for (size_t i = 0; i < rp->n_added; i++) {
		rp->added[i].idx = n_kept + i;
		rp->table[n_kept + i] = rp->added[i].id;
	}
	return CC_OK;
}

/* Pass 2: the chunk stream into w, each chunk in its frame's new place. */
static enum cc_code repoint_chunks(struct repoint *rp, struct mf_writer *w, struct cc_err *err)
{
	struct mf_reader *r = &rp->r;
	struct mf_chunk c;
	const unsigned char *pack;
	uint64_t off;
	bool end, moved, found;
	enum cc_code rc;

	if ((rc = mf_rewind(r, err)))
		return rc;
	for (;;) {
		size_t at;

		if ((rc = mf_next_chunk(r, &c, &end, err)))
			return rc;
		if (end)
			break;
		move_frame(r, &c.frame, rp->moves, rp->n, &pack, &off, &moved);
		at = id_pos(rp->old_sorted, r->hdr.n_packs, pack, &found);
		if (found) {
			c.frame.pack = (uint32_t)rp->old_map[rp->old_sorted[at].idx];
		} else {
			at = id_pos(rp->added, rp->n_added, pack, &found);
			c.frame.pack = (uint32_t)rp->added[at].idx;
		}
		c.frame.off = off;
		if ((rc = mf_add_chunk(w, &c, err)))
			return rc;
	}
	buf_reset(&w->scratch);
	if ((rc = buf_add(&w->scratch, "E", 1, err)) ||
	    (rc = put_varint(&w->scratch, w->hdr.n_chunks, err)) ||
	    (rc = put_varint(&w->scratch, r->hdr.data_bytes, err)))
		return rc;
	w->chunks_ulen += w->scratch.len;
	return zappend(w->zc_chunks, &w->chunks, w->scratch.data, w->scratch.len, ZSTD_e_end, err);
}

/* Writes the manifest: header, key and entries as they were in in_fd but
 * for the chunk stream's lengths and the pack count, then w's chunk
 * stream, the new table and the checksum. */
static enum cc_code repoint_write(struct repoint *rp, struct mf_writer *w, int in_fd,
				  int out_fd, struct cc_err *err)
{
	const struct mf_reader *r = &rp->r;
	unsigned char h[MF_HEADER_LEN];
	size_t head = r->hdr.key_len + r->hdr.entries_clen;
	XXH3_state_t *st = NULL;
	struct buf copy = BUF_INIT;
	struct cc_id sum;
	enum cc_code rc;

	if ((rc = read_at(in_fd, h, sizeof(h), 0, err)))
		goto cleanup;
	put_le64(h + 48, w->chunks.len);
	put_le64(h + 56, w->chunks_ulen);
	put_le64(h + 64, rp->n_packs);
	if ((rc = buf_grow(&copy, head, err)) ||
	    (rc = read_at(in_fd, copy.data, head, MF_HEADER_LEN, err)))
		goto cleanup;
	if (!(st = XXH3_createState())) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot create a hash state");
		goto cleanup;
	}
	XXH3_128bits_reset(st);
	if ((rc = write_hashed(out_fd, h, sizeof(h), st, err)) ||
	    (rc = write_hashed(out_fd, copy.data, head, st, err)) ||
	    (rc = write_hashed(out_fd, w->chunks.data, w->chunks.len, st, err)) ||
	    (rc = write_hashed(out_fd, rp->table, rp->n_packs * sizeof(*rp->table), st, err)))
		goto cleanup;
	cc_id_from_hash(&sum, XXH3_128bits_digest(st));
	rc = write_hashed(out_fd, sum.b, CC_ID_LEN, st, err);
cleanup:
	XXH3_freeState(st);
	buf_release(&copy);
	return rc;
}

enum cc_code cc_manifest_repoint(int in_fd, int out_fd, const struct mf_move *moves,
				 size_t n, bool *ret_changed, struct cc_err *err)
{
	struct repoint rp = { .moves = moves, .n = n };
	struct mf_writer w;
	bool opened = false;
	enum cc_code rc;

	*ret_changed = false;
	memset(&w, 0, sizeof(w));
	for (size_t i = 1; i < n; i++)
		if (move_cmp(moves[i].old_pack, moves[i].old_off, &moves[i - 1]) <= 0)
			return cc_err_set(err, CC_ECORRUPT, 0, "frame moves are not sorted");
	if ((rc = mf_open(&rp.r, in_fd, err)))
		goto cleanup;
	opened = true;
	if ((rc = mf_writer_init(&w, err)))
		goto cleanup;
	rp.old_sorted = calloc(rp.r.hdr.n_packs + 1, sizeof(*rp.old_sorted));
	rp.old_map = calloc(rp.r.hdr.n_packs + 1, sizeof(*rp.old_map));
	if (!rp.old_sorted || !rp.old_map) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (size_t i = 0; i < rp.r.hdr.n_packs; i++) {
		rp.old_sorted[i].id = rp.r.packs[i];
		rp.old_sorted[i].idx = i;
		rp.old_map[i] = SIZE_MAX;	/* unused so far */
	}
	qsort(rp.old_sorted, rp.r.hdr.n_packs, sizeof(*rp.old_sorted), id_idx_cmp);
	if (!(rc = repoint_scan(&rp, ret_changed, err)) && !(rc = repoint_table(&rp, err)) &&
	    !(rc = repoint_chunks(&rp, &w, err)))
		rc = repoint_write(&rp, &w, in_fd, out_fd, err);
cleanup:
	free(rp.table);
	free(rp.added);
	free(rp.old_map);
	free(rp.old_sorted);
	mf_writer_release(&w);
	if (opened)
		mf_close(&rp.r);
	return rc;
}
