/* test-tool: internals for the shell tests (after git's t/helper/test-tool.c).
 *
 *   test-tool chunk FILE [MIN AVG MAX]     chunk boundaries: "offset length id"
 *   test-tool id FILE                      XXH3-128 of a file, as object names use it
 *   test-tool manifest-dump FILE           every record of a manifest, or the error
 *   test-tool hostile STORE KIND KEY [OUTSIDE]
 *                                          write a hostile entry into a store
 *   test-tool hostile --list               the kinds, one per line
 *   test-tool corrupt FILE OFFSET [BIT]    flip one bit (OFFSET < 0: from the end)
 *   test-tool corrupt FILE random N [SEED [FROM [TO]]]
 *                                          flip N random bits, print "offset bit"
 *   test-tool corrupt FILE truncate LEN    keep LEN bytes (LEN < 0: drop -LEN)
 *   test-tool mf-flip FILE SEED            flip one bit inside a manifest's
 *                                          decompressed records and rewrite it
 *                                          with valid lengths and checksum
 *   test-tool fuzz-seed FILE OUT           a manifest in the raw form that
 *                                          tests/fuzz/fuzz-manifest.c accepts
 *
 * This is a test program: it exits on any unexpected failure. */
#include "../../common/buf.h"
#include "../../common/chunker.h"
#include "../../common/chunkset.h"
#include "../../common/err.h"
#include "../../common/hash.h"
#include "../../common/manifest.h"
#include "../../common/store.h"
#include "../../common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define PACK_MAGIC "CCPACK1\n"
#define MTIME 1700000000
#define RAW_MAGIC "CCRAWMF\n"	/* fuzz-seed format, see fuzz-manifest.c */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("test-tool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(100);
}

static void check(enum cc_code rc, const struct cc_err *err)
{
	if (rc)
		die("%s", err->msg);
}

static void xadd(struct buf *b, const void *p, size_t n)
{
	struct cc_err err;

	check(buf_add(b, p, n, &err), &err);
}

static void xadds(struct buf *b, const char *s)
{
	xadd(b, s, strlen(s));
}

static uint64_t parse_u64(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		die("bad number '%s'", s);
	return v;
}

static int64_t parse_i64(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end)
		die("bad number '%s'", s);
	return v;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void read_file(const char *path, struct buf *out)
{
	char tmp[1 << 16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("cannot open '%s': %s", path, strerror(errno));
	for (;;) {
		ssize_t k = read(fd, tmp, sizeof(tmp));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("cannot read '%s': %s", path, strerror(errno));
		if (!k)
			break;
		xadd(out, tmp, (size_t)k);
	}
	close(fd);
}

static void write_fd(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = write(fd, c, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("write: %s", strerror(errno));
		c += k;
		n -= (size_t)k;
	}
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		die("cannot create '%s': %s", path, strerror(errno));
	write_fd(fd, p, n);
	if (close(fd))
		die("cannot write '%s': %s", path, strerror(errno));
}

/* Prints bytes with anything unusual escaped, so a hostile name stays on
 * one line. */
static void print_escaped(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* ------------------------------------------------------------------ */
/* chunk, id */

static int cmd_chunk(int argc, char **argv)
{
	struct buf data = BUF_INIT;
	struct chunker ck;
	size_t min = CHUNK_MIN_DEFAULT, avg = CHUNK_AVG_DEFAULT, max = CHUNK_MAX_DEFAULT;
	size_t start = 0, pos = 0;

	if (argc != 2 && argc != 5)
		die("usage: test-tool chunk FILE [MIN AVG MAX]");
	if (argc == 5) {
		min = parse_u64(argv[2]);
		avg = parse_u64(argv[3]);
		max = parse_u64(argv[4]);
	}
	if (!chunker_init(&ck, min, avg, max))
		die("bad chunker parameters %zu/%zu/%zu", min, avg, max);
	read_file(argv[1], &data);
	/* Feed in uneven pieces: boundaries must not depend on the split. */
	while (pos < data.len) {
		size_t piece = 1 + (size_t)(pos * 7919 % 65521), n;
		bool cut;

		if (piece > data.len - pos)
			piece = data.len - pos;
		n = chunker_scan(&ck, data.data + pos, piece, &cut);
		pos += n;
		if (cut) {
			struct cc_id id;
			char hex[CC_ID_HEX_LEN + 1];

			cc_id_of(&id, data.data + start, pos - start);
			cc_id_hex(&id, hex);
			printf("%zu %zu %s\n", start, pos - start, hex);
			start = pos;
		}
	}
	if (pos > start) {
		struct cc_id id;
		char hex[CC_ID_HEX_LEN + 1];

		cc_id_of(&id, data.data + start, pos - start);
		cc_id_hex(&id, hex);
		printf("%zu %zu %s\n", start, pos - start, hex);
	}
	buf_release(&data);
	return 0;
}

static int cmd_id(int argc, char **argv)
{
	struct buf data = BUF_INIT;
	struct cc_id id;
	char hex[CC_ID_HEX_LEN + 1];

	if (argc != 2)
		die("usage: test-tool id FILE");
	read_file(argv[1], &data);
	cc_id_of(&id, data.data, data.len);
	cc_id_hex(&id, hex);
	printf("%s\n", hex);
	buf_release(&data);
	return 0;
}

/* ------------------------------------------------------------------ */
/* manifest-dump */

static int cmd_manifest_dump(int argc, char **argv)
{
	struct mf_reader r;
	struct mf_entry e;
	struct buf root = BUF_INIT;
	struct cc_err err;
	enum cc_code rc;
	int fd;

	if (argc != 2)
		die("usage: test-tool manifest-dump FILE");
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open '%s': %s", argv[1], strerror(errno));
	cc_err_clear(&err);
	mf_entry_init(&e);
	if ((rc = mf_open(&r, fd, &err))) {
		mf_close(&r);
		goto fail;
	}
	printf("header version=%u created=%" PRId64 " roots=%u entries=%" PRIu64 " files=%" PRIu64
	       " data=%" PRIu64 " chunks=%" PRIu64 " packs=%" PRIu64 "\n",
	       r.hdr.version, r.hdr.created_ns, r.hdr.n_roots, r.hdr.n_entries, r.hdr.n_files,
	       r.hdr.data_bytes, r.hdr.n_chunks, r.hdr.n_packs);
	printf("key ");
	print_escaped(r.key, strlen(r.key));
	putchar('\n');
	r.want_patterns = true;
	for (uint64_t i = 0; i < r.hdr.n_packs; i++) {
		char hex[CC_ID_HEX_LEN + 1];

		cc_id_hex(&r.packs[i], hex);
		printf("pack %" PRIu64 " %s\n", i, hex);
	}
	for (;;) {
		enum mf_item item;

		if ((rc = mf_next(&r, &item, &root, &e, &err)))
			break;
		if (item == MF_ITEM_END) {
			printf("end entries\n");
			break;
		}
		if (item == MF_ITEM_PATTERN) {
			printf("pattern ");
			print_escaped(root.data, root.len);
			putchar('\n');
			continue;
		}
		if (item == MF_ITEM_ROOT) {
			printf("root ");
			print_escaped(root.data, root.len);
			putchar('\n');
			continue;
		}
		printf("entry %c %04o %" PRId64 ".%09u %u:%u ", (char)e.type, e.mode,
		       e.mtime_sec, e.mtime_nsec, e.uid, e.gid);
		if (e.type == MF_FILE)
			printf("size=%" PRIu64 " flags=%u ", e.size, e.flags);
		printf("'");
		print_escaped(e.path.data, e.path.len);
		printf("'");
		if (e.type == MF_SYMLINK || e.type == MF_HARDLINK) {
			printf(" -> '");
			print_escaped(e.target.data, e.target.len);
			printf("'");
		}
		for (size_t i = 0; i < e.nextents; i++)
			printf(" %" PRIu64 "+%" PRIu64, e.extents[i].off, e.extents[i].len);
		putchar('\n');
	}
	while (!rc) {
		struct mf_chunk c;
		bool end;
		char hex[CC_ID_HEX_LEN + 1];

		if ((rc = mf_next_chunk(&r, &c, &end, &err)))
			break;
		if (end) {
			printf("end chunks\n");
			break;
		}
		cc_id_hex(&c.id, hex);
		printf("chunk %s frame=%u@%" PRIu64 " codec=%u clen=%u ulen=%u off=%u len=%u\n",
		       hex, c.frame.pack, c.frame.off, c.frame.codec, c.frame.clen, c.frame.ulen,
		       c.off, c.len);
	}
	mf_close(&r);
	if (!rc) {
		mf_entry_release(&e);
		buf_release(&root);
		close(fd);
		return 0;
	}
fail:
	fflush(stdout);
	fprintf(stderr, "error: %s\n", err.msg);
	mf_entry_release(&e);
	buf_release(&root);
	close(fd);
	return rc == CC_ECORRUPT ? 1 : 3;
}

/* ------------------------------------------------------------------ */
/* corrupt */

static int cmd_corrupt(int argc, char **argv)
{
	const char *path;
	struct stat st;
	int fd;

	if (argc < 3)
		die("usage: test-tool corrupt FILE OFFSET [BIT] | random N [SEED [FROM [TO]]] | truncate LEN");
	path = argv[1];
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		die("cannot open '%s': %s", path, strerror(errno));
	if (!strcmp(argv[2], "truncate")) {
		int64_t len;

		if (argc != 4)
			die("usage: test-tool corrupt FILE truncate LEN");
		len = parse_i64(argv[3]);
		if (len < 0)
			len += st.st_size;
		if (len < 0 || len > st.st_size)
			die("length %" PRId64 " outside the file", len);
		if (ftruncate(fd, (off_t)len))
			die("cannot truncate '%s': %s", path, strerror(errno));
	} else if (!strcmp(argv[2], "random")) {
		uint64_t n, from = 0, to = (uint64_t)st.st_size;

		if (argc < 4 || argc > 7)
			die("usage: test-tool corrupt FILE random N [SEED [FROM [TO]]]");
		n = parse_u64(argv[3]);
		rng_state = argc > 4 ? parse_u64(argv[4]) : (uint64_t)getpid();
		if (argc > 5)
			from = parse_u64(argv[5]);
		if (argc > 6)
			to = parse_u64(argv[6]);
		if (to > (uint64_t)st.st_size)
			to = (uint64_t)st.st_size;
		if (from >= to)
			die("empty range %" PRIu64 "..%" PRIu64, from, to);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t off = from + rng() % (to - from);
			unsigned bit = (unsigned)(rng() & 7);
			unsigned char c;

			if (pread(fd, &c, 1, (off_t)off) != 1)
				die("cannot read '%s'", path);
			c ^= (unsigned char)(1u << bit);
			if (pwrite(fd, &c, 1, (off_t)off) != 1)
				die("cannot write '%s'", path);
			printf("%" PRIu64 " %u\n", off, bit);
		}
	} else {
		int64_t off = parse_i64(argv[2]);
		unsigned bit = argc > 3 ? (unsigned)parse_u64(argv[3]) : 0;
		unsigned char c;

		if (off < 0)
			off += st.st_size;
		if (off < 0 || off >= st.st_size || bit > 7)
			die("offset %s bit %u outside the file", argv[2], bit);
		if (pread(fd, &c, 1, (off_t)off) != 1)
			die("cannot read '%s'", path);
		c ^= (unsigned char)(1u << bit);
		if (pwrite(fd, &c, 1, (off_t)off) != 1)
			die("cannot write '%s'", path);
	}
	if (close(fd))
		die("cannot write '%s': %s", path, strerror(errno));
	return 0;
}

/* ------------------------------------------------------------------ */
/* manifests in pieces: header, key, decompressed streams, pack table */

struct parts {
	unsigned char hdr[MF_HEADER_LEN];
	struct buf key, ents, chunks, packs;
	int window_log;		/* entries stream: nonzero forces this window */
	bool ents_unterminated;	/* entries frame flushed, never ended */
	bool ents_garbage;	/* entries "compressed" bytes are not zstd */
	size_t ents_trailing;	/* garbage bytes after the entries frame */
};

static void parts_init(struct parts *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->key, 0);
	buf_init(&p->ents, 0);
	buf_init(&p->chunks, 0);
	buf_init(&p->packs, 0);
	memcpy(p->hdr, MF_MAGIC, 8);
	put_le32(p->hdr + 8, MF_VERSION);
	put_le32(p->hdr + 12, MF_HEADER_LEN);
	put_le64(p->hdr + 16, (uint64_t)MTIME * 1000000000);
}

static void parts_release(struct parts *p)
{
	buf_release(&p->key);
	buf_release(&p->ents);
	buf_release(&p->chunks);
	buf_release(&p->packs);
}

/* Header offsets (manifest.c, mf_writer_finish). */
enum {
	H_VERSION = 8, H_HLEN = 12, H_KEYLEN = 24, H_ROOTS = 28, H_ECLEN = 32, H_EULEN = 40,
	H_CCLEN = 48, H_CULEN = 56, H_NPACKS = 64, H_NENTRIES = 72, H_NFILES = 80,
	H_DATA = 88, H_NCHUNKS = 96,
};

static void parts_counts(struct parts *p, uint32_t roots, uint64_t entries, uint64_t files,
			 uint64_t data, uint64_t chunks)
{
	put_le32(p->hdr + H_ROOTS, roots);
	put_le64(p->hdr + H_NENTRIES, entries);
	put_le64(p->hdr + H_NFILES, files);
	put_le64(p->hdr + H_DATA, data);
	put_le64(p->hdr + H_NCHUNKS, chunks);
}

static void unzstd(const unsigned char *src, size_t n, struct buf *out)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	ZSTD_inBuffer in = { src, n, 0 };
	struct cc_err err;

	buf_reset(out);
	while (in.pos < in.size) {
		ZSTD_outBuffer o;
		size_t r;

		check(buf_grow(out, 1 << 16, &err), &err);
		o = (ZSTD_outBuffer){ out->data + out->len, out->alloc - out->len - 1, 0 };
		r = ZSTD_decompressStream(dc, &o, &in);
		if (ZSTD_isError(r))
			die("zstd: %s", ZSTD_getErrorName(r));
		buf_setlen(out, out->len + o.pos);
		if (!r && in.pos == in.size)
			break;
	}
	ZSTD_freeDCtx(dc);
}

/* Splits a serialised manifest (trusted: we wrote it). */
static void parts_load(struct parts *p, const struct buf *m)
{
	const unsigned char *d = (const unsigned char *)m->data;
	uint64_t klen, eclen, cclen, np;

	if (m->len < MF_HEADER_LEN + CC_ID_LEN)
		die("manifest too short");
	memcpy(p->hdr, d, MF_HEADER_LEN);
	klen = get_le32(d + H_KEYLEN);
	eclen = get_le64(d + H_ECLEN);
	cclen = get_le64(d + H_CCLEN);
	np = get_le64(d + H_NPACKS);
	buf_reset(&p->key);
	xadd(&p->key, d + MF_HEADER_LEN, klen);
	unzstd(d + MF_HEADER_LEN + klen, eclen, &p->ents);
	unzstd(d + MF_HEADER_LEN + klen + eclen, cclen, &p->chunks);
	buf_reset(&p->packs);
	xadd(&p->packs, d + MF_HEADER_LEN + klen + eclen + cclen, np * CC_ID_LEN);
}

static void zcompress(const struct buf *in, struct buf *out, int window_log, bool end)
{
	ZSTD_CCtx *zc = ZSTD_createCCtx();
	ZSTD_inBuffer ib = { in->data, in->len, 0 };
	struct cc_err err;

	ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setParameter(zc, ZSTD_c_checksumFlag, 1);
	if (window_log) {
		ZSTD_CCtx_setParameter(zc, ZSTD_c_windowLog, window_log);
		ZSTD_CCtx_setParameter(zc, ZSTD_c_contentSizeFlag, 0);
	}
	buf_reset(out);
	/* Continue first, so the frame does not learn the content size and
	 * keeps the window it was given. */
	for (int pass = 0; pass < 2; pass++) {
		ZSTD_EndDirective mode = pass == 0 ? ZSTD_e_continue : end ? ZSTD_e_end : ZSTD_e_flush;

		for (;;) {
			ZSTD_outBuffer o;
			size_t left;

			check(buf_grow(out, ZSTD_CStreamOutSize(), &err), &err);
			o = (ZSTD_outBuffer){ out->data + out->len, out->alloc - out->len - 1, 0 };
			left = ZSTD_compressStream2(zc, &o, &ib, mode);
			if (ZSTD_isError(left))
				die("zstd: %s", ZSTD_getErrorName(left));
			buf_setlen(out, out->len + o.pos);
			if (mode == ZSTD_e_continue ? ib.pos == ib.size : left == 0)
				break;
		}
	}
	ZSTD_freeCCtx(zc);
}

static void rechecksum(struct buf *m)
{
	struct cc_id sum;

	if (m->len < CC_ID_LEN)
		die("manifest too short");
	cc_id_of(&sum, m->data, m->len - CC_ID_LEN);
	memcpy(m->data + m->len - CC_ID_LEN, sum.b, CC_ID_LEN);
}

/* Serialises p into m with lengths computed from the parts and a valid
 * checksum.  Counts are whatever p->hdr holds. */
static void parts_serialize(struct parts *p, struct buf *m)
{
	struct buf ce = BUF_INIT, cc = BUF_INIT;
	unsigned char h[MF_HEADER_LEN], zero[CC_ID_LEN] = { 0 };

	if (p->ents_garbage) {
		buf_reset(&ce);
		xadds(&ce, "this is not a zstd frame at all");
	} else {
		zcompress(&p->ents, &ce, p->window_log, !p->ents_unterminated);
	}
	for (size_t i = 0; i < p->ents_trailing; i++)
		xadd(&ce, "\x5a", 1);
	zcompress(&p->chunks, &cc, 0, true);
	memcpy(h, p->hdr, sizeof(h));
	put_le32(h + H_KEYLEN, (uint32_t)p->key.len);
	put_le64(h + H_ECLEN, ce.len);
	put_le64(h + H_EULEN, p->ents.len);
	put_le64(h + H_CCLEN, cc.len);
	put_le64(h + H_CULEN, p->chunks.len);
	put_le64(h + H_NPACKS, p->packs.len / CC_ID_LEN);
	buf_reset(m);
	xadd(m, h, sizeof(h));
	xadd(m, p->key.data, p->key.len);
	xadd(m, ce.data, ce.len);
	xadd(m, cc.data, cc.len);
	xadd(m, p->packs.data, p->packs.len);
	xadd(m, zero, sizeof(zero));
	rechecksum(m);
	buf_release(&ce);
	buf_release(&cc);
}

static uint64_t hget64(const struct buf *m, unsigned off)
{
	return get_le64((const unsigned char *)m->data + off);
}

static void hset64(struct buf *m, unsigned off, uint64_t v)
{
	put_le64((unsigned char *)m->data + off, v);
}

static void hset32(struct buf *m, unsigned off, uint32_t v)
{
	put_le32((unsigned char *)m->data + off, v);
}

/* ---- raw record encoding ---- */

static void rv(struct buf *b, uint64_t v)
{
	unsigned char tmp[10];

	xadd(b, tmp, varint_put(tmp, v));
}

static void rstr(struct buf *b, const char *s, size_t n)
{
	rv(b, n);
	xadd(b, s, n);
}

static void rroot(struct buf *b, const char *spec)
{
	xadd(b, "R", 1);
	rstr(b, spec, strlen(spec));
}

/* The common part of an entry record; the type-specific fields follow. */
static void rent(struct buf *b, char type, uint64_t common, const char *suffix, size_t n,
		 uint64_t mode, uint64_t uid, uint64_t gid)
{
	xadd(b, &type, 1);
	rv(b, common);
	rstr(b, suffix, n);
	rv(b, mode);
	rv(b, (uint64_t)MTIME << 1);	/* zigzag */
	rv(b, 0);
	rv(b, uid);
	rv(b, gid);
}

static void rframe(struct buf *b, uint64_t pack, uint64_t off, uint64_t clen, uint64_t ulen,
		   unsigned char codec)
{
	xadd(b, "F", 1);
	rv(b, pack);
	rv(b, off);
	rv(b, clen);
	rv(b, ulen);
	xadd(b, &codec, 1);
}

static void rchunk(struct buf *b, const struct cc_id *id, uint64_t off, uint64_t len)
{
	xadd(b, "C", 1);
	xadd(b, id->b, CC_ID_LEN);
	rv(b, off);
	rv(b, len);
}

/* ------------------------------------------------------------------ */
/* hostile entries */

struct frame_opts {
	bool raw;		/* store uncompressed */
	bool wrong_id;		/* record the id of other bytes */
	uint32_t ulen_extra;	/* declare more uncompressed bytes than there are */
	uint32_t chunk_extra;	/* chunk runs this far past the frame */
	uint64_t off_override;	/* frame offset to record instead of the real one */
	unsigned nchunks;	/* split into this many chunks (0: 1) */
};

struct hctx {
	struct store *store;
	const char *key, *outside;
	struct mf_writer w;
	struct buf pack;
	bool publish_pack;
	int64_t pack_truncate;	/* bytes to cut from the end of the pack */
	int64_t pack_flip;	/* offset of a bit flip in the pack, or -1 */
	struct cc_err err;
	struct buf scratch;
};

static void h_init(struct hctx *h, struct store *s, const char *key, const char *outside)
{
	memset(h, 0, sizeof(*h));
	h->store = s;
	h->key = key;
	h->outside = outside;
	h->publish_pack = true;
	h->pack_flip = -1;
	buf_init(&h->pack, 0);
	buf_init(&h->scratch, 0);
	xadd(&h->pack, PACK_MAGIC, 8);
	check(mf_writer_init(&h->w, &h->err), &h->err);
}

static void h_release(struct hctx *h)
{
	mf_writer_release(&h->w);
	buf_release(&h->pack);
	buf_release(&h->scratch);
}

static void h_root(struct hctx *h, const char *spec)
{
	check(mf_add_root(&h->w, spec, &h->err), &h->err);
}

static void h_entry(struct hctx *h, enum mf_type t, const char *path, size_t plen,
		    uint32_t mode, const char *target, size_t tlen)
{
	struct mf_entry e;

	mf_entry_init(&e);
	e.type = t;
	e.mode = mode;
	e.mtime_sec = MTIME;
	buf_init(&e.path, 0);
	buf_init(&e.target, 0);
	xadd(&e.path, path, plen);
	if (target)
		xadd(&e.target, target, tlen);
	check(mf_add_entry(&h->w, &e, &h->err), &h->err);
	mf_entry_release(&e);
}

static void h_dir(struct hctx *h, const char *path)
{
	h_entry(h, MF_DIR, path, strlen(path), 0755, NULL, 0);
}

static void h_symlink(struct hctx *h, const char *path, const char *target)
{
	h_entry(h, MF_SYMLINK, path, strlen(path), 0777, target, strlen(target));
}

static void h_hardlink(struct hctx *h, const char *path, const char *target)
{
	h_entry(h, MF_HARDLINK, path, strlen(path), 0644, target, strlen(target));
}

/* Appends data to the pack as one frame and records its chunks. */
static void h_data(struct hctx *h, const void *data, size_t len, const struct frame_opts *fo)
{
	static const struct frame_opts none;
	struct mf_chunk c;
	uint64_t off = h->pack.len;
	uint32_t clen;
	unsigned n;

	if (!fo)
		fo = &none;
	n = fo->nchunks ? fo->nchunks : 1;
	if (fo->raw) {
		xadd(&h->pack, data, len);
		clen = (uint32_t)len;
	} else {
		size_t cap = ZSTD_compressBound(len), k;

		check(buf_grow(&h->pack, cap, &h->err), &h->err);
		k = ZSTD_compress(h->pack.data + h->pack.len, cap, data, len, 3);
		if (ZSTD_isError(k))
			die("zstd: %s", ZSTD_getErrorName(k));
		buf_setlen(&h->pack, h->pack.len + k);
		clen = (uint32_t)k;
	}
	memset(&c, 0, sizeof(c));
	c.frame.pack = 0;
	c.frame.codec = fo->raw ? FRAME_RAW : FRAME_ZSTD;
	c.frame.off = fo->off_override ? fo->off_override : off;
	c.frame.clen = clen;
	c.frame.ulen = (uint32_t)len + fo->ulen_extra;
	if (fo->raw)
		c.frame.clen = c.frame.ulen;
	for (unsigned i = 0; i < n; i++) {
		size_t a = len * i / n, b = len * (i + 1) / n;

		c.off = (uint32_t)a;
		c.len = (uint32_t)(b - a) + (i == n - 1 ? fo->chunk_extra : 0);
		if (fo->wrong_id)
			cc_id_of(&c.id, "something else", 14);
		else
			cc_id_of(&c.id, (const char *)data + a, b - a);
		check(mf_add_chunk(&h->w, &c, &h->err), &h->err);
	}
}

static void h_file_ex(struct hctx *h, const char *path, const void *data, size_t len,
		      uint32_t flags, const struct frame_opts *fo)
{
	struct mf_entry e;

	mf_entry_init(&e);
	e.type = MF_FILE;
	e.mode = 0644;
	e.mtime_sec = MTIME;
	e.size = len;
	e.flags = flags;
	xadd(&e.path, path, strlen(path));
	check(mf_add_entry(&h->w, &e, &h->err), &h->err);
	mf_entry_release(&e);
	if (len)
		h_data(h, data, len, fo);
}

static void h_file(struct hctx *h, const char *path, const char *content)
{
	h_file_ex(h, path, content, strlen(content), 0, NULL);
}

static void publish(struct hctx *h, const char *name, const void *p, size_t n)
{
	struct buf tmp = BUF_INIT;
	int fd = store_tmpfile(h->store, &tmp, &h->err);

	if (fd < 0)
		die("%s", h->err.msg);
	write_fd(fd, p, n);
	if (close(fd))
		die("cannot write '%s': %s", tmp.data, strerror(errno));
	check(h->store->ops->put(h->store, name, tmp.data, STORE_PUT_MOVE, NULL, &h->err),
	      &h->err);
	buf_release(&tmp);
}

/* Publishes the pack (named by the hash of its bytes, as save.c does,
 * even when it is then damaged) and returns its id. */
static void h_pack(struct hctx *h, struct cc_id *ret)
{
	char hex[CC_ID_HEX_LEN + 1], name[64];

	cc_id_of(ret, h->pack.data, h->pack.len);
	if (!h->publish_pack)
		return;
	if (h->pack_flip >= 0) {
		if ((size_t)h->pack_flip >= h->pack.len)
			die("flip outside the pack");
		h->pack.data[h->pack_flip] ^= 0x10;
	}
	if (h->pack_truncate)
		buf_setlen(&h->pack, h->pack.len - (size_t)h->pack_truncate);
	cc_id_hex(ret, hex);
	snprintf(name, sizeof(name), "%s%s.pack", STORE_PACKS_PREFIX, hex);
	publish(h, name, h->pack.data, h->pack.len);
}

/* Writes the manifest the writer holds (for key) into m. */
static void h_serialize(struct hctx *h, const char *key, struct buf *m)
{
	struct cc_id id;
	int fd = memfd_create("manifest", MFD_CLOEXEC);
	off_t end;

	if (fd < 0)
		die("memfd_create: %s", strerror(errno));
	h_pack(h, &id);
	check(mf_writer_finish(&h->w, key, (int64_t)MTIME * 1000000000, &id, 1, fd, &h->err),
	      &h->err);
	end = lseek(fd, 0, SEEK_END);
	buf_reset(m);
	check(buf_grow(m, (size_t)end, &h->err), &h->err);
	if (pread(fd, m->data, (size_t)end, 0) != end)
		die("cannot read the manifest back");
	buf_setlen(m, (size_t)end);
	close(fd);
}

static void h_publish_manifest(struct hctx *h, const struct buf *m)
{
	struct buf name = BUF_INIT;

	check(store_key_name(&name, h->key, &h->err), &h->err);
	publish(h, name.data, m->data, m->len);
	printf("wrote %s (%zu bytes)\n", name.data, m->len);
	buf_release(&name);
}

/* The usual ending: serialise for h->key and publish. */
static void h_finish(struct hctx *h)
{
	struct buf m = BUF_INIT;

	h_serialize(h, h->key, &m);
	h_publish_manifest(h, &m);
	buf_release(&m);
}

/* Serialises, lets the caller edit the header, fixes the checksum and
 * publishes. */
static void h_finish_parts(struct hctx *h, struct parts *p)
{
	struct buf m = BUF_INIT;

	parts_serialize(p, &m);
	h_publish_manifest(h, &m);
	buf_release(&m);
}

static void h_to_parts(struct hctx *h, struct parts *p)
{
	struct buf m = BUF_INIT;

	h_serialize(h, h->key, &m);
	parts_load(p, &m);
	buf_release(&m);
}

/* The tree most kinds start from: "r" holding one file. */
static void base(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_file(h, "f", "hello\n");
}

/* Raw entries that begin "R r", "d ''", count roots 1. */
static void raw_start(struct parts *p)
{
	rroot(&p->ents, "r");
	rent(&p->ents, 'd', 0, "", 0, 0755, 0, 0);
	parts_counts(p, 1, 0, 0, 0, 0);
}

static char *outside_path(struct hctx *h, const char *leaf)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s%s%s", h->outside, *leaf ? "/" : "", leaf);
	return path;
}

/* A larger compressible file, so its frame really is zstd. */
static void text(struct buf *b, size_t n)
{
	buf_reset(b);
	for (size_t i = 0; b->len < n; i++) {
		char line[64];

		snprintf(line, sizeof(line), "line %zu of some compressible text\n", i);
		xadds(b, line);
	}
	buf_setlen(b, n);
}

/* ---- the kinds ---- */

/* header */
static void k_too_short(struct hctx *h)
{
	struct buf m = BUF_INIT;

	xadd(&m, MF_MAGIC, 8);
	for (int i = 0; i < 92; i++)
		xadd(&m, "", 1);
	h_publish_manifest(h, &m);
	buf_release(&m);
}

static void edit_header(struct hctx *h, unsigned off, unsigned width, uint64_t v, bool fix)
{
	struct buf m = BUF_INIT;

	base(h);
	h_serialize(h, h->key, &m);
	if (width == 4)
		hset32(&m, off, (uint32_t)v);
	else if (width == 8)
		hset64(&m, off, v);
	else
		m.data[off] ^= (char)v;
	if (fix)
		rechecksum(&m);
	h_publish_manifest(h, &m);
	buf_release(&m);
}

static void k_bad_magic(struct hctx *h) { edit_header(h, 0, 1, 0x20, true); }
static void k_bad_version(struct hctx *h) { edit_header(h, H_VERSION, 4, MF_VERSION + 1, true); }
static void k_bad_header_len(struct hctx *h) { edit_header(h, H_HLEN, 4, 129, true); }
static void k_key_too_long(struct hctx *h) { edit_header(h, H_KEYLEN, 4, MF_MAX_KEY + 1, true); }
static void k_huge_packs(struct hctx *h) { edit_header(h, H_NPACKS, 8, 1ULL << 40, true); }
static void k_huge_count(struct hctx *h) { edit_header(h, H_NENTRIES, 8, 1ULL << 60, true); }
static void k_reserved_bytes(struct hctx *h) { edit_header(h, MF_HEADER_LEN - 1, 1, 1, true); }

static void k_empty_key(struct hctx *h)
{
	struct parts p;

	parts_init(&p);
	base(h);
	h_to_parts(h, &p);
	buf_reset(&p.key);
	h_finish_parts(h, &p);
	parts_release(&p);
}

static void k_size_mismatch(struct hctx *h)
{
	struct buf m = BUF_INIT;

	base(h);
	h_serialize(h, h->key, &m);
	hset64(&m, H_ECLEN, hget64(&m, H_ECLEN) + 1);
	rechecksum(&m);
	h_publish_manifest(h, &m);
	buf_release(&m);
}

static void k_bad_checksum(struct hctx *h)
{
	struct buf m = BUF_INIT;

	base(h);
	h_serialize(h, h->key, &m);
	m.data[m.len - 1] ^= 1;
	h_publish_manifest(h, &m);
	buf_release(&m);
}

static void k_key_nul(struct hctx *h)
{
	struct parts p;

	parts_init(&p);
	base(h);
	h_to_parts(h, &p);
	xadd(&p.key, "\0x", 2);
	h_finish_parts(h, &p);
	parts_release(&p);
}

static void k_key_mismatch(struct hctx *h)
{
	struct buf m = BUF_INIT, other = BUF_INIT;

	base(h);
	xadds(&other, h->key);
	xadds(&other, "-other");
	h_serialize(h, other.data, &m);
	h_publish_manifest(h, &m);
	buf_release(&m);
	buf_release(&other);
}

/* The manifest's key carries a line break and a CI workflow command. */
static void k_newline_key(struct hctx *h)
{
	struct buf m = BUF_INIT;

	base(h);
	h_serialize(h, "x\n::warning::injected-by-key", &m);
	h_publish_manifest(h, &m);
	buf_release(&m);
}

/* streams */
static void k_huge_window(struct hctx *h)
{
	struct parts p;

	parts_init(&p);
	base(h);
	h_to_parts(h, &p);
	p.window_log = 27;
	h_finish_parts(h, &p);
	parts_release(&p);
}

static void stream_kind(struct hctx *h, int what)
{
	struct parts p;
	struct buf m = BUF_INIT;

	parts_init(&p);
	base(h);
	h_to_parts(h, &p);
	switch (what) {
	case 0: p.ents_garbage = true; break;
	case 1: p.ents_unterminated = true; break;
	case 2: p.ents_trailing = 4; break;
	case 3: xadds(&p.ents, "junk"); break;		/* after the end record */
	case 4: xadds(&p.chunks, "junk"); break;
	}
	parts_serialize(&p, &m);
	if (what == 5 || what == 6) {
		hset64(&m, H_EULEN, hget64(&m, H_EULEN) + (what == 5 ? 10 : (uint64_t)-1));
		rechecksum(&m);
	}
	h_publish_manifest(h, &m);
	buf_release(&m);
	parts_release(&p);
}

static void k_zstd_garbage(struct hctx *h) { stream_kind(h, 0); }
static void k_stream_unterminated(struct hctx *h) { stream_kind(h, 1); }
static void k_stream_trailing(struct hctx *h) { stream_kind(h, 2); }
static void k_entries_after_end(struct hctx *h) { stream_kind(h, 3); }
static void k_chunks_after_end(struct hctx *h) { stream_kind(h, 4); }
static void k_stream_short(struct hctx *h) { stream_kind(h, 5); }
static void k_stream_long(struct hctx *h) { stream_kind(h, 6); }

/* Raw entry streams: the reader must stop at the bad record; what follows
 * does not matter. */
static void raw_kind(struct hctx *h, void (*fill)(struct parts *p, struct hctx *h))
{
	struct parts p;

	parts_init(&p);
	base(h);
	h_to_parts(h, &p);
	buf_reset(&p.ents);
	parts_counts(&p, 1, 0, 0, 0, 0);
	fill(&p, h);
	h_finish_parts(h, &p);
	parts_release(&p);
}

static void f_record_truncated(struct parts *p, struct hctx *h)
{
	xadd(&p->ents, "R", 1);
	rv(&p->ents, 10);
	xadd(&p->ents, "ab", 2);
}

static void f_bad_varint(struct parts *p, struct hctx *h)
{
	xadd(&p->ents, "R", 1);
	for (int i = 0; i < 11; i++)
		xadd(&p->ents, "\xff", 1);
	xadd(&p->ents, "\x01", 1);
}

static void f_entry_before_root(struct parts *p, struct hctx *h)
{
	rent(&p->ents, 'd', 0, "", 0, 0755, 0, 0);
}

static void f_extra_root(struct parts *p, struct hctx *h)
{
	raw_start(p);
	rroot(&p->ents, "r2");
	rent(&p->ents, 'd', 0, "", 0, 0755, 0, 0);
}

static void f_empty_root(struct parts *p, struct hctx *h)
{
	rroot(&p->ents, "");
}

static void f_nul_root(struct parts *p, struct hctx *h)
{
	xadd(&p->ents, "R", 1);
	rstr(&p->ents, "r\0x", 3);
}

/* P records (patterns as given): version 2 only, before the first root. */
static void f_pattern_v1(struct parts *p, struct hctx *h)
{
	xadd(&p->ents, "P", 1);
	rstr(&p->ents, "**/x", 4);
	raw_start(p);
	put_le32(p->hdr + 8, 1);
}

static void f_pattern_after_root(struct parts *p, struct hctx *h)
{
	put_le32(p->hdr + 8, 2);
	raw_start(p);
	xadd(&p->ents, "P", 1);
	rstr(&p->ents, "**/x", 4);
}

static void f_pattern_empty(struct parts *p, struct hctx *h)
{
	put_le32(p->hdr + 8, 2);
	xadd(&p->ents, "P", 1);
	rstr(&p->ents, "", 0);
	raw_start(p);
}

static void f_unknown_record(struct parts *p, struct hctx *h)
{
	raw_start(p);
	xadd(&p->ents, "Z", 1);
}

static void f_prefix_range(struct parts *p, struct hctx *h)
{
	raw_start(p);
	rent(&p->ents, 'd', 5, "x", 1, 0755, 0, 0);
}

static void f_path_too_long(struct parts *p, struct hctx *h)
{
	char *big = malloc(20000);

	memset(big, 'a', 20000);
	raw_start(p);
	rent(&p->ents, 'd', 0, big, 20000, 0755, 0, 0);
	free(big);
}

static void f_bad_uid(struct parts *p, struct hctx *h)
{
	raw_start(p);
	rent(&p->ents, 'd', 0, "x", 1, 0755, 1ULL << 32, 0);
}

static void f_bad_gid(struct parts *p, struct hctx *h)
{
	raw_start(p);
	rent(&p->ents, 'd', 0, "x", 1, 0755, 0, 1ULL << 32);
}

static void f_bad_size(struct parts *p, struct hctx *h)
{
	raw_start(p);
	rent(&p->ents, 'f', 0, "x", 1, 0644, 0, 0);
	rv(&p->ents, 1ULL << 63);
	rv(&p->ents, 0);
}

static void f_huge_extents(struct parts *p, struct hctx *h)
{
	raw_start(p);
	rent(&p->ents, 'f', 0, "x", 1, 0644, 0, 0);
	rv(&p->ents, 10);
	rv(&p->ents, MF_F_SPARSE);
	rv(&p->ents, MF_MAX_EXTENTS + 1);
}

static void f_extent_overflow(struct parts *p, struct hctx *h)
{
	raw_start(p);
	rent(&p->ents, 'f', 0, "x", 1, 0644, 0, 0);
	rv(&p->ents, 10);
	rv(&p->ents, MF_F_SPARSE);
	rv(&p->ents, 2);
	rv(&p->ents, 0);
	rv(&p->ents, 1);
	rv(&p->ents, UINT64_MAX);
	rv(&p->ents, 1);
}

static void k_record_truncated(struct hctx *h) { raw_kind(h, f_record_truncated); }
static void k_bad_varint(struct hctx *h) { raw_kind(h, f_bad_varint); }
static void k_entry_before_root(struct hctx *h) { raw_kind(h, f_entry_before_root); }
static void k_extra_root(struct hctx *h) { raw_kind(h, f_extra_root); }
static void k_empty_root(struct hctx *h) { raw_kind(h, f_empty_root); }
static void k_nul_root(struct hctx *h) { raw_kind(h, f_nul_root); }
static void k_unknown_record(struct hctx *h) { raw_kind(h, f_unknown_record); }
static void k_pattern_v1(struct hctx *h) { raw_kind(h, f_pattern_v1); }
static void k_pattern_after_root(struct hctx *h) { raw_kind(h, f_pattern_after_root); }
static void k_pattern_empty(struct hctx *h) { raw_kind(h, f_pattern_empty); }
static void k_prefix_range(struct hctx *h) { raw_kind(h, f_prefix_range); }
static void k_path_too_long(struct hctx *h) { raw_kind(h, f_path_too_long); }
static void k_bad_uid(struct hctx *h) { raw_kind(h, f_bad_uid); }
static void k_bad_gid(struct hctx *h) { raw_kind(h, f_bad_gid); }
static void k_bad_size(struct hctx *h) { raw_kind(h, f_bad_size); }
static void k_huge_extents(struct hctx *h) { raw_kind(h, f_huge_extents); }
static void k_extent_overflow(struct hctx *h) { raw_kind(h, f_extent_overflow); }

/* Entries through the writer, which checks nothing. */
static void path_kind(struct hctx *h, const char *path, size_t n)
{
	h_root(h, "r");
	h_dir(h, "");
	h_file_ex(h, "ok", "hello\n", 6, 0, NULL);
	{
		struct mf_entry e;

		mf_entry_init(&e);
		e.type = MF_FILE;
		e.mode = 0644;
		e.mtime_sec = MTIME;
		e.size = 7;
		buf_init(&e.path, 0);
		xadd(&e.path, path, n);
		check(mf_add_entry(&h->w, &e, &h->err), &h->err);
		mf_entry_release(&e);
		h_data(h, "pwned!\n", 7, NULL);
	}
	h_finish(h);
}

static void k_dotdot_path(struct hctx *h) { path_kind(h, "a/../../x", 9); }
static void k_slash_path(struct hctx *h)
{
	/* Inside the outside directory when it is absolute. */
	path_kind(h, outside_path(h, "slash-path"), strlen(outside_path(h, "slash-path")));
}
static void k_dot_path(struct hctx *h) { path_kind(h, "a/./b", 5); }
static void k_empty_component(struct hctx *h) { path_kind(h, "a//b", 4); }
static void k_trailing_slash(struct hctx *h) { path_kind(h, "a/", 2); }
static void k_nul_path(struct hctx *h) { path_kind(h, "x\0/../../y", 10); }
static void k_long_name(struct hctx *h)
{
	char name[MF_MAX_NAME + 2];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	path_kind(h, name, strlen(name));
}
/* A line break and a CI workflow command in a path that is rejected: the
 * message naming it must stay one line. */
static void k_newline_path(struct hctx *h)
{
	const char *p = "a\n::warning::injected-by-path\n/../../x";

	path_kind(h, p, strlen(p));
}

static void meta_kind(struct hctx *h, uint32_t mode, uint32_t nsec, uint32_t flags)
{
	struct mf_entry e;

	h_root(h, "r");
	h_dir(h, "");
	mf_entry_init(&e);
	e.type = MF_FILE;
	e.mode = mode;
	e.mtime_sec = MTIME;
	e.mtime_nsec = nsec;
	e.flags = flags;
	e.size = 6;
	xadds(&e.path, "f");
	check(mf_add_entry(&h->w, &e, &h->err), &h->err);
	mf_entry_release(&e);
	h_data(h, "hello\n", 6, NULL);
	h_finish(h);
}

static void k_bad_mode(struct hctx *h) { meta_kind(h, 010644, 0, 0); }
static void k_bad_nsec(struct hctx *h) { meta_kind(h, 0644, 1000000000, 0); }
static void k_bad_flags(struct hctx *h) { meta_kind(h, 0644, 0, 4); }

static void extent_kind(struct hctx *h, uint64_t size, uint64_t off, uint64_t len)
{
	struct mf_entry e;
	struct mf_extent x = { off, len };

	h_root(h, "r");
	h_dir(h, "");
	mf_entry_init(&e);
	e.type = MF_FILE;
	e.mode = 0644;
	e.mtime_sec = MTIME;
	e.flags = MF_F_SPARSE;
	e.size = size;
	e.extents = &x;
	e.nextents = 1;
	xadds(&e.path, "f");
	check(mf_add_entry(&h->w, &e, &h->err), &h->err);
	e.extents = NULL;
	mf_entry_release(&e);
	if (len && len < 64)
		h_data(h, "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz", len,
		       NULL);
	h_finish(h);
}

static void k_extent_range(struct hctx *h) { extent_kind(h, 10, 5, 10); }
static void k_extent_zero(struct hctx *h) { extent_kind(h, 10, 0, 0); }
/* Valid but enormous: a 4 EiB sparse file with six bytes of data. */
static void k_huge_sparse(struct hctx *h) { extent_kind(h, 1ULL << 62, 0, 6); }

static void link_kind(struct hctx *h, enum mf_type t, const char *target, size_t n)
{
	h_root(h, "r");
	h_dir(h, "");
	h_file(h, "f", "hello\n");
	h_entry(h, t, "l", 1, t == MF_SYMLINK ? 0777 : 0644, target, n);
	h_finish(h);
}

static void k_empty_symlink(struct hctx *h) { link_kind(h, MF_SYMLINK, "", 0); }
static void k_nul_symlink(struct hctx *h) { link_kind(h, MF_SYMLINK, "f\0../../x", 9); }
static void k_long_symlink(struct hctx *h)
{
	char *t = malloc(MF_MAX_LINK + 1);

	memset(t, 't', MF_MAX_LINK + 1);
	link_kind(h, MF_SYMLINK, t, MF_MAX_LINK + 1);
	free(t);
}
static void k_hardlink_outside(struct hctx *h) { link_kind(h, MF_HARDLINK, "../../x", 7); }
static void k_hardlink_abs(struct hctx *h)
{
	link_kind(h, MF_HARDLINK, outside_path(h, "victim"), strlen(outside_path(h, "victim")));
}
static void k_hardlink_empty(struct hctx *h) { link_kind(h, MF_HARDLINK, "", 0); }

/* Three files of 2^63-1 bytes: the total overflows. */
static void k_data_overflow(struct hctx *h)
{
	struct parts p;

	parts_init(&p);
	base(h);
	h_to_parts(h, &p);
	buf_reset(&p.ents);
	raw_start(&p);
	parts_counts(&p, 1, 4, 3, 0, 0);
	for (int i = 0; i < 3; i++) {
		char name[2] = { (char)('a' + i), 0 };

		rent(&p.ents, 'f', 0, name, 1, 0644, 0, 0);
		rv(&p.ents, INT64_MAX);
		rv(&p.ents, 0);
	}
	xadd(&p.ents, "E", 1);
	rv(&p.ents, 4);
	rv(&p.ents, 0);
	h_finish_parts(h, &p);
	parts_release(&p);
}

/* chunk streams */
static void chunk_kind(struct hctx *h, int what)
{
	struct parts p;
	struct cc_id id;
	struct buf *c = &p.chunks;

	parts_init(&p);
	base(h);
	h_to_parts(h, &p);
	buf_reset(c);
	cc_id_of(&id, "hello\n", 6);
	switch (what) {
	case 0:		/* frame without packs */
		buf_reset(&p.packs);
		rframe(c, 0, 8, 15, 6, FRAME_ZSTD);
		break;
	case 1: rframe(c, 5, 8, 15, 6, FRAME_ZSTD); break;
	case 2: rframe(c, 0, 1ULL << 63, 15, 6, FRAME_ZSTD); break;
	case 3: rframe(c, 0, 8, 100, 9u << 20, FRAME_ZSTD); break;
	case 4: rframe(c, 0, 8, 1u << 30, 6, FRAME_ZSTD); break;
	case 5: rframe(c, 0, 8, 15, 6, 7); break;
	case 6: rframe(c, 0, 8, 6, 7, FRAME_RAW); break;
	case 7: rchunk(c, &id, 0, 6); break;
	case 8:
		rframe(c, 0, 8, 100, 100, FRAME_ZSTD);
		rchunk(c, &id, 0, 8u << 20);
		break;
	case 9:
		rframe(c, 0, 8, 15, 6, FRAME_ZSTD);
		rchunk(c, &id, 2, 6);
		break;
	case 10:
		rframe(c, 0, 8, 15, 6, FRAME_ZSTD);
		rchunk(c, &id, 0, 0);
		break;
	case 11:
		rframe(c, 0, 8, 15, 6, FRAME_ZSTD);
		xadd(c, "X", 1);
		break;
	case 12:	/* one chunk more than the header says */
		rframe(c, 0, 8, 15, 6, FRAME_ZSTD);
		rchunk(c, &id, 0, 3);
		rchunk(c, &id, 3, 3);
		xadd(c, "E", 1);
		rv(c, 2);
		rv(c, 6);
		break;
	case 13:	/* off beyond the frame, overflowing off + len in 32 bits */
		rframe(c, 0, 8, 15, 6, FRAME_ZSTD);
		rchunk(c, &id, UINT32_MAX, 6);
		break;
	}
	h_finish_parts(h, &p);
	parts_release(&p);
}

static void k_frame_no_packs(struct hctx *h) { chunk_kind(h, 0); }
static void k_bad_pack_index(struct hctx *h) { chunk_kind(h, 1); }
static void k_frame_offset_range(struct hctx *h) { chunk_kind(h, 2); }
static void k_huge_frame(struct hctx *h) { chunk_kind(h, 3); }
static void k_huge_frame_clen(struct hctx *h) { chunk_kind(h, 4); }
static void k_bad_codec(struct hctx *h) { chunk_kind(h, 5); }
static void k_raw_len_mismatch(struct hctx *h) { chunk_kind(h, 6); }
static void k_chunk_before_frame(struct hctx *h) { chunk_kind(h, 7); }
static void k_chunk_too_long(struct hctx *h) { chunk_kind(h, 8); }
static void k_chunk_outside_frame(struct hctx *h) { chunk_kind(h, 9); }
static void k_chunk_zero(struct hctx *h) { chunk_kind(h, 10); }
static void k_unknown_chunk_record(struct hctx *h) { chunk_kind(h, 11); }
static void k_chunk_counts(struct hctx *h) { chunk_kind(h, 12); }
static void k_chunk_off_range(struct hctx *h) { chunk_kind(h, 13); }

/* tree shape */
static void k_root_slash(struct hctx *h)
{
	h_root(h, "/");
	h_dir(h, "");
	h_finish(h);
}

static void k_abs_root(struct hctx *h)
{
	h_root(h, outside_path(h, "abs-root"));
	h_dir(h, "");
	h_file(h, "pwned", "pwned\n");
	h_finish(h);
}

static void k_dotdot_root(struct hctx *h)
{
	char spec[4096];
	const char *leaf = strrchr(h->outside, '/');

	/* Restores run in a sibling of the outside directory. */
	snprintf(spec, sizeof(spec), "..%s/dotdot-root", leaf ? leaf : "/outside");
	h_root(h, spec);
	h_dir(h, "");
	h_file(h, "pwned", "pwned\n");
	h_finish(h);
}

static void k_root_no_records(struct hctx *h)
{
	h_root(h, "r1");
	h_root(h, "r2");
	h_dir(h, "");
	h_finish(h);
}

static void k_last_root_no_records(struct hctx *h)
{
	h_root(h, "r1");
	h_dir(h, "");
	h_root(h, "r2");
	h_finish(h);
}

static void k_second_root_record(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_dir(h, "");
	h_finish(h);
}

static void k_root_hardlink(struct hctx *h)
{
	h_root(h, "r");
	h_hardlink(h, "", "f");
	h_finish(h);
}

static void k_root_not_dir(struct hctx *h)
{
	h_root(h, "r");
	h_symlink(h, "", h->outside);
	h_file(h, "pwned", "pwned\n");
	h_finish(h);
}

static void k_orphan_entry(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_file(h, "a/x", "orphan\n");
	h_finish(h);
}

static void k_symlink_escape(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_symlink(h, "a", h->outside);
	h_file(h, "a/pwned", "pwned\n");
	h_finish(h);
}

static void k_symlink_dir_swap(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_symlink(h, "a", h->outside);
	h_dir(h, "a");
	h_file(h, "a/pwned", "pwned\n");
	h_finish(h);
}

static void k_dir_symlink_swap(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_dir(h, "a");
	h_symlink(h, "a", h->outside);
	h_file(h, "a/pwned", "pwned\n");
	h_finish(h);
}

static void k_symlink_file_swap(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_symlink(h, "v", outside_path(h, "victim"));
	h_file(h, "v", "pwned\n");
	h_finish(h);
}

static void k_hardlink_symlink_swap(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_file_ex(h, "t", "target\n", 7, MF_F_LINK_TARGET, NULL);
	h_symlink(h, "t", outside_path(h, "victim"));
	h_hardlink(h, "h", "t");
	h_file(h, "h", "pwned\n");
	h_finish(h);
}

static void k_hardlink_unknown(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_hardlink(h, "h", "never-restored");
	h_finish(h);
}

static void k_hardlink_before_target(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_hardlink(h, "h", "t");
	h_file_ex(h, "t", "target\n", 7, MF_F_LINK_TARGET, NULL);
	h_finish(h);
}

static void k_hardlink_not_target(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_file(h, "t", "target\n");
	h_hardlink(h, "h", "t");
	h_finish(h);
}

static void k_hardlink_to_dir(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_dir(h, "d");
	h_hardlink(h, "h", "d");
	h_finish(h);
}

static void k_hardlink_other_root(struct hctx *h)
{
	h_root(h, "r1");
	h_dir(h, "");
	h_file_ex(h, "t", "target\n", 7, MF_F_LINK_TARGET, NULL);
	h_root(h, "r2");
	h_dir(h, "");
	h_hardlink(h, "h", "t");
	h_finish(h);
}

/* One root puts a symlink where a later root is restored. */
static void k_root_symlink_swap(struct hctx *h)
{
	h_root(h, "r");
	h_symlink(h, "", h->outside);
	h_root(h, "r");
	h_dir(h, "");
	h_file(h, "pwned", "pwned\n");
	h_finish(h);
}

/* The same overlap, spelled so that only cleaning the spec shows it. */
static void k_root_overlap_dotdot(struct hctx *h)
{
	h_root(h, "r");
	h_symlink(h, "", h->outside);
	h_root(h, "q/../r/pwned");
	h_file(h, "", "pwned\n");
	h_finish(h);
}

/* A small file (written by a writer thread) and then a symlink of the
 * same name: whichever lands last, nothing is written through the link. */
static void k_file_symlink_swap(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_file(h, "v", "pwned\n");
	h_symlink(h, "v", outside_path(h, "victim"));
	h_file(h, "w", "pwned\n");
	h_symlink(h, "w", outside_path(h, "victim"));
	h_file(h, "w", "pwned again\n");
	h_finish(h);
}

static void k_root_symlink_parent(struct hctx *h)
{
	h_root(h, "r");
	h_dir(h, "");
	h_symlink(h, "s", h->outside);
	h_root(h, "r/s/pwned");
	h_file(h, "", "pwned\n");
	h_finish(h);
}

static void nest_kind(struct hctx *h, size_t levels, size_t namelen)
{
	struct buf p = BUF_INIT;
	char name[MF_MAX_NAME + 1];

	memset(name, 'a', namelen);
	h_root(h, "r");
	h_dir(h, "");
	for (size_t i = 0; i < levels; i++) {
		if (i)
			xadd(&p, "/", 1);
		xadd(&p, name, namelen);
		h_entry(h, MF_DIR, p.data, p.len, 0755, NULL, 0);
	}
	buf_release(&p);
	h_finish(h);
}

/* More levels than the restorer's directory stack holds. */
static void k_deep_nesting(struct hctx *h) { nest_kind(h, 5000, 1); }
/* A path longer than MF_MAX_PATH, built from prefix-compressed records. */
static void k_long_path(struct hctx *h) { nest_kind(h, 100, 200); }

/* Control: a well-formed entry ("r" holding "f"). */
static void k_valid(struct hctx *h)
{
	base(h);
	h_finish(h);
}

/* data */
static void k_size_past_chunks(struct hctx *h)
{
	struct mf_entry e;

	h_root(h, "r");
	h_dir(h, "");
	mf_entry_init(&e);
	e.type = MF_FILE;
	e.mode = 0644;
	e.mtime_sec = MTIME;
	e.size = 100;
	xadds(&e.path, "f");
	check(mf_add_entry(&h->w, &e, &h->err), &h->err);
	mf_entry_release(&e);
	h_data(h, "hello\n", 6, NULL);
	h->w.hdr.data_bytes = 6;	/* header and end records agree with the chunks */
	h_finish(h);
}

static void k_huge_size(struct hctx *h)
{
	struct mf_entry e;
	struct frame_opts fo = { .nchunks = 2 };

	h_root(h, "r");
	h_dir(h, "");
	mf_entry_init(&e);
	e.type = MF_FILE;
	e.mode = 0644;
	e.mtime_sec = MTIME;
	e.size = 1ULL << 62;
	xadds(&e.path, "f");
	check(mf_add_entry(&h->w, &e, &h->err), &h->err);
	mf_entry_release(&e);
	h_data(h, "hello\n", 6, &fo);
	h_finish(h);
}

/* Size bombs.  A dense 1 TiB file whose data stream is one zero frame
 * of 4 MiB repeated by 262144 chunk records: a manifest of a few KiB
 * that is valid in every record, and would fill any disk. */
static void k_dense_bomb(struct hctx *h)
{
	const uint32_t len = 4u << 20;
	const uint64_t size = 1ULL << 40;
	unsigned char *zero = calloc(1, len);
	struct mf_entry e;
	struct mf_chunk c;

	if (!zero)
		die("out of memory");
	h_root(h, "r");
	h_dir(h, "");
	mf_entry_init(&e);
	e.type = MF_FILE;
	e.mode = 0644;
	e.mtime_sec = MTIME;
	e.size = size;
	xadds(&e.path, "f");
	check(mf_add_entry(&h->w, &e, &h->err), &h->err);
	mf_entry_release(&e);
	h_data(h, zero, len, NULL);	/* the frame and its first chunk */
	memset(&c, 0, sizeof(c));
	cc_id_of(&c.id, zero, len);
	c.frame.codec = FRAME_ZSTD;
	c.frame.off = 8;
	c.frame.clen = (uint32_t)(h->pack.len - 8);
	c.frame.ulen = len;
	c.len = len;
	for (uint64_t done = len; done < size; done += len)
		check(mf_add_chunk(&h->w, &c, &h->err), &h->err);
	free(zero);
	h_finish(h);
}

/* The legitimate twin: a sparse 1 TiB file holding 1 MiB of data in 16
 * extents of 64 KiB spread over it. */
static void k_sparse_bomb(struct hctx *h)
{
	const uint64_t size = 1ULL << 40, step = size / 16, xlen = 64 << 10;
	struct mf_extent x[16];
	struct frame_opts fo = { .nchunks = 16 };
	struct mf_entry e;
	struct buf t = BUF_INIT;

	for (int i = 0; i < 16; i++)
		x[i] = (struct mf_extent){ (uint64_t)i * step + 4096 * (uint64_t)i, xlen };
	h_root(h, "r");
	h_dir(h, "");
	mf_entry_init(&e);
	e.type = MF_FILE;
	e.mode = 0644;
	e.mtime_sec = MTIME;
	e.flags = MF_F_SPARSE;
	e.size = size;
	e.extents = x;
	e.nextents = 16;
	xadds(&e.path, "f");
	check(mf_add_entry(&h->w, &e, &h->err), &h->err);
	e.extents = NULL;
	mf_entry_release(&e);
	text(&t, 16 * xlen);
	h_data(h, t.data, t.len, &fo);
	h_finish(h);
	buf_release(&t);
}

static void k_missing_pack(struct hctx *h)
{
	base(h);
	h->publish_pack = false;
	h_finish(h);
}

static void k_truncated_pack(struct hctx *h)
{
	struct buf t = BUF_INIT;

	text(&t, 20000);
	h_root(h, "r");
	h_dir(h, "");
	h_file_ex(h, "f", t.data, t.len, 0, NULL);
	h->pack_truncate = 3;
	h_finish(h);
	buf_release(&t);
}

static void k_bitflip_pack(struct hctx *h)
{
	struct buf t = BUF_INIT;

	text(&t, 20000);
	h_root(h, "r");
	h_dir(h, "");
	h_file_ex(h, "f", t.data, t.len, 0, NULL);
	h->pack_flip = 8 + (int64_t)(h->pack.len - 8) / 2;
	h_finish(h);
	buf_release(&t);
}

static void k_raw_bitflip(struct hctx *h)
{
	struct frame_opts fo = { .raw = true };

	h_root(h, "r");
	h_dir(h, "");
	h_file_ex(h, "f", "raw data of a file\n", 19, 0, &fo);
	h->pack_flip = 12;
	h_finish(h);
}

static void k_wrong_chunk_id(struct hctx *h)
{
	struct frame_opts fo = { .wrong_id = true };

	h_root(h, "r");
	h_dir(h, "");
	h_file_ex(h, "f", "hello\n", 6, 0, &fo);
	h_finish(h);
}

static void k_frame_ulen_mismatch(struct hctx *h)
{
	struct frame_opts fo = { .ulen_extra = 100 };

	h_root(h, "r");
	h_dir(h, "");
	h_file_ex(h, "f", "hello\n", 6, 0, &fo);
	h_finish(h);
}

static void k_frame_beyond_pack(struct hctx *h)
{
	struct frame_opts fo = { .off_override = 1u << 30 };

	h_root(h, "r");
	h_dir(h, "");
	h_file_ex(h, "f", "hello\n", 6, 0, &fo);
	h_finish(h);
}

/* A good file first, then a bad one: the restore has written something
 * when it finds out. */
static void k_late_corruption(struct hctx *h)
{
	struct frame_opts fo = { .wrong_id = true };

	h_root(h, "r");
	h_dir(h, "");
	h_file(h, "a-good", "good\n");
	h_file_ex(h, "b-bad", "hello\n", 6, 0, &fo);
	h_finish(h);
}

struct kind {
	const char *name;
	void (*fn)(struct hctx *h);
};

static const struct kind kinds[] = {
	{ "abs-root", k_abs_root },
	{ "bad-checksum", k_bad_checksum },
	{ "bad-codec", k_bad_codec },
	{ "bad-flags", k_bad_flags },
	{ "bad-gid", k_bad_gid },
	{ "bad-header-len", k_bad_header_len },
	{ "bad-magic", k_bad_magic },
	{ "bad-mode", k_bad_mode },
	{ "bad-nsec", k_bad_nsec },
	{ "bad-pack-index", k_bad_pack_index },
	{ "bad-size", k_bad_size },
	{ "bad-uid", k_bad_uid },
	{ "bad-varint", k_bad_varint },
	{ "bad-version", k_bad_version },
	{ "bitflip-pack", k_bitflip_pack },
	{ "chunk-before-frame", k_chunk_before_frame },
	{ "chunk-counts", k_chunk_counts },
	{ "chunk-off-range", k_chunk_off_range },
	{ "chunk-outside-frame", k_chunk_outside_frame },
	{ "chunk-too-long", k_chunk_too_long },
	{ "chunk-zero", k_chunk_zero },
	{ "chunks-after-end", k_chunks_after_end },
	{ "data-overflow", k_data_overflow },
	{ "deep-nesting", k_deep_nesting },
	{ "dense-bomb", k_dense_bomb },
	{ "dir-symlink-swap", k_dir_symlink_swap },
	{ "dot-path", k_dot_path },
	{ "dotdot-path", k_dotdot_path },
	{ "dotdot-root", k_dotdot_root },
	{ "empty-component", k_empty_component },
	{ "empty-key", k_empty_key },
	{ "empty-root", k_empty_root },
	{ "empty-symlink", k_empty_symlink },
	{ "entries-after-end", k_entries_after_end },
	{ "entry-before-root", k_entry_before_root },
	{ "extent-overflow", k_extent_overflow },
	{ "extent-range", k_extent_range },
	{ "extent-zero", k_extent_zero },
	{ "extra-root", k_extra_root },
	{ "file-symlink-swap", k_file_symlink_swap },
	{ "frame-beyond-pack", k_frame_beyond_pack },
	{ "frame-no-packs", k_frame_no_packs },
	{ "frame-offset-range", k_frame_offset_range },
	{ "frame-ulen-mismatch", k_frame_ulen_mismatch },
	{ "hardlink-abs", k_hardlink_abs },
	{ "hardlink-before-target", k_hardlink_before_target },
	{ "hardlink-empty", k_hardlink_empty },
	{ "hardlink-not-target", k_hardlink_not_target },
	{ "hardlink-other-root", k_hardlink_other_root },
	{ "hardlink-outside", k_hardlink_outside },
	{ "hardlink-symlink-swap", k_hardlink_symlink_swap },
	{ "hardlink-to-dir", k_hardlink_to_dir },
	{ "hardlink-unknown", k_hardlink_unknown },
	{ "huge-count", k_huge_count },
	{ "huge-extents", k_huge_extents },
	{ "huge-frame", k_huge_frame },
	{ "huge-frame-clen", k_huge_frame_clen },
	{ "huge-packs", k_huge_packs },
	{ "huge-size", k_huge_size },
	{ "huge-sparse", k_huge_sparse },
	{ "huge-window", k_huge_window },
	{ "key-mismatch", k_key_mismatch },
	{ "key-nul", k_key_nul },
	{ "key-too-long", k_key_too_long },
	{ "last-root-no-records", k_last_root_no_records },
	{ "late-corruption", k_late_corruption },
	{ "long-name", k_long_name },
	{ "long-path", k_long_path },
	{ "long-symlink", k_long_symlink },
	{ "missing-pack", k_missing_pack },
	{ "newline-key", k_newline_key },
	{ "newline-path", k_newline_path },
	{ "nul-path", k_nul_path },
	{ "nul-root", k_nul_root },
	{ "nul-symlink", k_nul_symlink },
	{ "orphan-entry", k_orphan_entry },
	{ "prefix-range", k_prefix_range },
	{ "path-too-long", k_path_too_long },
	{ "pattern-after-root", k_pattern_after_root },
	{ "pattern-empty", k_pattern_empty },
	{ "pattern-v1", k_pattern_v1 },
	{ "raw-bitflip", k_raw_bitflip },
	{ "raw-len-mismatch", k_raw_len_mismatch },
	{ "record-truncated", k_record_truncated },
	{ "root-hardlink", k_root_hardlink },
	{ "reserved-bytes", k_reserved_bytes },
	{ "root-no-records", k_root_no_records },
	{ "root-not-dir", k_root_not_dir },
	{ "root-overlap-dotdot", k_root_overlap_dotdot },
	{ "root-slash", k_root_slash },
	{ "root-symlink-parent", k_root_symlink_parent },
	{ "root-symlink-swap", k_root_symlink_swap },
	{ "second-root-record", k_second_root_record },
	{ "size-mismatch", k_size_mismatch },
	{ "size-past-chunks", k_size_past_chunks },
	{ "slash-path", k_slash_path },
	{ "sparse-bomb", k_sparse_bomb },
	{ "stream-long", k_stream_long },
	{ "stream-short", k_stream_short },
	{ "stream-trailing", k_stream_trailing },
	{ "stream-unterminated", k_stream_unterminated },
	{ "symlink-dir-swap", k_symlink_dir_swap },
	{ "symlink-escape", k_symlink_escape },
	{ "symlink-file-swap", k_symlink_file_swap },
	{ "too-short", k_too_short },
	{ "trailing-slash", k_trailing_slash },
	{ "truncated-pack", k_truncated_pack },
	{ "unknown-chunk-record", k_unknown_chunk_record },
	{ "unknown-record", k_unknown_record },
	{ "valid", k_valid },
	{ "wrong-chunk-id", k_wrong_chunk_id },
	{ "zstd-garbage", k_zstd_garbage },
};

static int cmd_hostile(int argc, char **argv)
{
	struct store *s = NULL;
	struct hctx h;
	struct cc_err err;
	const struct kind *k = NULL;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
			printf("%s\n", kinds[i].name);
		return 0;
	}
	if (argc != 4 && argc != 5)
		die("usage: test-tool hostile STORE KIND KEY [OUTSIDE] | --list");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
		if (!strcmp(kinds[i].name, argv[2]))
			k = &kinds[i];
	if (!k)
		die("unknown kind '%s' (see test-tool hostile --list)", argv[2]);
	check(store_open(&s, argv[1], &err), &err);
	check(s->ops->prepare_write(s, &err), &err);
	h_init(&h, s, argv[3], argc == 5 ? argv[4] : "/tmp/cicache-outside");
	k->fn(&h);
	h_release(&h);
	store_close(s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* mf-flip, fuzz-seed */

static int cmd_mf_flip(int argc, char **argv)
{
	struct buf m = BUF_INIT;
	struct parts p;
	uint64_t total, at;
	unsigned bit;
	struct buf *s;

	if (argc != 3)
		die("usage: test-tool mf-flip FILE SEED");
	rng_state = parse_u64(argv[2]);
	read_file(argv[1], &m);
	parts_init(&p);
	parts_load(&p, &m);
	total = p.ents.len + p.chunks.len;
	if (!total)
		die("empty streams");
	at = rng() % total;
	bit = (unsigned)(rng() & 7);
	s = at < p.ents.len ? &p.ents : &p.chunks;
	if (s == &p.chunks)
		at -= p.ents.len;
	s->data[at] ^= (char)(1u << bit);
	printf("%s %" PRIu64 " %u\n", s == &p.ents ? "entries" : "chunks", at, bit);
	parts_serialize(&p, &m);
	write_file(argv[1], m.data, m.len);
	parts_release(&p);
	buf_release(&m);
	return 0;
}

/* The raw form: RAW_MAGIC, then the header's count fields (roots u32,
 * entries, files, data, chunks u64, packs u32), key length u16, entries
 * length u32, the key, the entries stream, and the chunk stream to the
 * end.  The fuzz target compresses and checksums it into a manifest, so
 * mutations reach the record parser instead of the checksum. */
static int cmd_fuzz_seed(int argc, char **argv)
{
	struct buf m = BUF_INIT, out = BUF_INIT;
	struct parts p;
	unsigned char tmp[8];

	if (argc != 3)
		die("usage: test-tool fuzz-seed MANIFEST OUT");
	read_file(argv[1], &m);
	parts_init(&p);
	parts_load(&p, &m);
	xadd(&out, RAW_MAGIC, 8);
	xadd(&out, p.hdr + H_ROOTS, 4);
	xadd(&out, p.hdr + H_NENTRIES, 8);
	xadd(&out, p.hdr + H_NFILES, 8);
	xadd(&out, p.hdr + H_DATA, 8);
	xadd(&out, p.hdr + H_NCHUNKS, 8);
	put_le32(tmp, (uint32_t)(p.packs.len / CC_ID_LEN));
	xadd(&out, tmp, 4);
	tmp[0] = (unsigned char)p.key.len;
	tmp[1] = (unsigned char)(p.key.len >> 8);
	xadd(&out, tmp, 2);
	put_le32(tmp, (uint32_t)p.ents.len);
	xadd(&out, tmp, 4);
	xadd(&out, p.key.data, p.key.len);
	xadd(&out, p.ents.data, p.ents.len);
	xadd(&out, p.chunks.data, p.chunks.len);
	write_file(argv[2], out.data, out.len);
	parts_release(&p);
	buf_release(&m);
	buf_release(&out);
	return 0;
}

/* Publishes FILE as object NAME in STORE, as it is: how a test puts the
 * objects of an old store (tests/data/store-v1) into S3 or the gha
 * service, where no old build can write them. */
static int cmd_store_put(int argc, char **argv)
{
	struct store *s = NULL;
	struct cc_err err;
	struct buf data = BUF_INIT, tmp = BUF_INIT;
	int fd;

	if (argc != 4)
		die("usage: test-tool store-put STORE NAME FILE");
	read_file(argv[3], &data);
	check(store_open(&s, argv[1], &err), &err);
	check(s->ops->prepare_write(s, &err), &err);
	/* A staged copy: a store may move what it publishes. */
	if ((fd = store_tmpfile(s, &tmp, &err)) < 0)
		check(err.code, &err);
	close(fd);
	write_file(tmp.data, data.data, data.len);
	check(s->ops->put(s, argv[2], tmp.data, STORE_PUT_MOVE, NULL, &err), &err);
	unlink(tmp.data);
	buf_release(&data);
	buf_release(&tmp);
	store_close(s);
	return 0;
}

/* "NAME SIZE MTIME_NS ETAG" of an object, or "missing". */
static int cmd_store_stat(int argc, char **argv)
{
	struct store *s = NULL;
	struct store_object o = { 0 };
	struct cc_err err;
	bool found;

	if (argc != 3)
		die("usage: test-tool store-stat STORE NAME");
	check(store_open(&s, argv[1], &err), &err);
	check(s->ops->stat(s, argv[2], &found, &o, &err), &err);
	if (found)
		printf("%s %llu %lld %s\n", argv[2], (unsigned long long)o.size,
		       (long long)o.mtime_ns, o.etag);
	else
		printf("missing\n");
	store_close(s);
	return 0;
}

static int print_listed(void *ctx, const struct store_object *o)
{
	printf("%s %llu %lld %s\n", o->name, (unsigned long long)o->size, (long long)o->mtime_ns,
	       o->etag);
	return 0;
}

/* One "NAME SIZE MTIME_NS ETAG" line per object under PREFIX. */
static int cmd_store_list(int argc, char **argv)
{
	struct store *s = NULL;
	struct cc_err err;

	if (argc != 3)
		die("usage: test-tool store-list STORE PREFIX");
	check(store_open(&s, argv[1], &err), &err);
	check(s->ops->list(s, argv[2], print_listed, NULL, &err), &err);
	store_close(s);
	return 0;
}

/* put_if_match: prints "replaced" or "mismatch". */
static int cmd_store_put_if_match(int argc, char **argv)
{
	struct store *s = NULL;
	struct cc_err err;
	struct buf data = BUF_INIT, tmp = BUF_INIT;
	bool mismatch;
	int fd;

	if (argc != 5)
		die("usage: test-tool store-put-if-match STORE NAME FILE ETAG");
	read_file(argv[3], &data);
	check(store_open(&s, argv[1], &err), &err);
	if (!s->ops->put_if_match)
		die("store '%s' cannot write conditionally", argv[1]);
	if ((fd = store_tmpfile(s, &tmp, &err)) < 0)
		check(err.code, &err);
	close(fd);
	write_file(tmp.data, data.data, data.len);
	check(s->ops->put_if_match(s, argv[2], tmp.data, argv[4], &mismatch, &err), &err);
	printf("%s\n", mismatch ? "mismatch" : "replaced");
	buf_release(&data);
	buf_release(&tmp);
	store_close(s);
	return 0;
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "chunk", cmd_chunk },
	{ "corrupt", cmd_corrupt },
	{ "fuzz-seed", cmd_fuzz_seed },
	{ "hostile", cmd_hostile },
	{ "id", cmd_id },
	{ "manifest-dump", cmd_manifest_dump },
	{ "mf-flip", cmd_mf_flip },
	{ "store-list", cmd_store_list },
	{ "store-put", cmd_store_put },
	{ "store-put-if-match", cmd_store_put_if_match },
	{ "store-stat", cmd_store_stat },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test-tool COMMAND ARGS...; commands:");
		for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
			fprintf(stderr, " %s", commands[i].name);
		fputc('\n', stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (!strcmp(commands[i].name, argv[1]))
			return commands[i].fn(argc - 1, argv + 1);
	die("unknown command '%s'", argv[1]);
}
