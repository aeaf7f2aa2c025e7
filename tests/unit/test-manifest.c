/* test-manifest.c: the manifest writer and its streaming, bounds-checking
 * reader.  A model (roots, entries, chunks, packs) is written to a
 * temporary file and read back; corrupted and hostile manifests must come
 * back as CC_ECORRUPT, never as a crash or a silent success. */
#include "harness.h"
#include "../../common/manifest.h"
#include "../../common/chunker.h"
#include "../../common/chunkset.h"
#include "../../common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- the model ---- */

struct item {
	bool is_root;
	char *root;
	struct mf_entry e;
};

struct model {
	struct item *items;
	size_t nitems, items_alloc;
	struct mf_chunk *chunks;
	size_t nchunks, chunks_alloc;
	struct cc_id *packs;
	size_t npacks;
	const char *key;
	int64_t created_ns;
	uint64_t data_bytes;	/* what the files contribute */
};

static uint64_t rng_state = 1;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->key = "test-key";
	m->created_ns = 1700000000123456789LL;
}

static void model_release(struct model *m)
{
	for (size_t i = 0; i < m->nitems; i++) {
		free(m->items[i].root);
		mf_entry_release(&m->items[i].e);
	}
	free(m->items);
	free(m->chunks);
	free(m->packs);
	memset(m, 0, sizeof(*m));
}

static struct item *new_item(struct model *m)
{
	struct item *it;

	if (m->nitems == m->items_alloc) {
		m->items_alloc = m->items_alloc ? 2 * m->items_alloc : 64;
		m->items = realloc(m->items, m->items_alloc * sizeof(*m->items));
	}
	it = &m->items[m->nitems++];
	memset(it, 0, sizeof(*it));
	mf_entry_init(&it->e);
	return it;
}

static void add_root(struct model *m, const char *spec)
{
	struct item *it = new_item(m);

	it->is_root = true;
	it->root = strdup(spec);
}

static struct mf_entry *add_entry(struct model *m, enum mf_type type, const char *path,
				  size_t path_len, const char *target)
{
	struct mf_entry *e = &new_item(m)->e;
	struct cc_err err;

	/* The model holds hostile entries too: no bounds on its buffers. */
	e->path.max = 0;
	e->target.max = 0;
	e->type = type;
	buf_add(&e->path, path, path_len, &err);
	e->mode = type == MF_DIR ? 0755 : 0644;
	e->mtime_sec = 1600000000 + (int64_t)m->nitems;
	e->mtime_nsec = (uint32_t)(m->nitems * 7919 % 1000000000);
	e->uid = 1000;
	e->gid = 100;
	if (target)
		buf_addstr(&e->target, target, &err);
	return e;
}

static struct mf_entry *add_file(struct model *m, const char *path, uint64_t size)
{
	struct mf_entry *e = add_entry(m, MF_FILE, path, strlen(path), NULL);

	e->size = size;
	m->data_bytes += size;
	return e;
}

static void add_extent(struct model *m, struct mf_entry *e, uint64_t off, uint64_t len)
{
	if (!(e->flags & MF_F_SPARSE)) {
		e->flags |= MF_F_SPARSE;
		m->data_bytes -= e->size;
	}
	e->extents = realloc(e->extents, (e->nextents + 1) * sizeof(*e->extents));
	e->extents[e->nextents].off = off;
	e->extents[e->nextents].len = len;
	e->nextents++;
	m->data_bytes += len;
}

static void set_packs(struct model *m, size_t n)
{
	free(m->packs);
	m->npacks = n;
	m->packs = calloc(n ? n : 1, sizeof(*m->packs));
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 0xa000 + i;

		cc_id_of(&m->packs[i], &v, sizeof(v));
	}
}

static void push_chunk(struct model *m, const struct mf_chunk *c)
{
	if (m->nchunks == m->chunks_alloc) {
		m->chunks_alloc = m->chunks_alloc ? 2 * m->chunks_alloc : 64;
		m->chunks = realloc(m->chunks, m->chunks_alloc * sizeof(*m->chunks));
	}
	m->chunks[m->nchunks++] = *c;
}

/* Chunks covering m->data_bytes: frames of up to frame_max bytes cut into
 * chunks of up to chunk_max, spread over all packs, codecs alternating. */
static void make_chunks(struct model *m, uint32_t frame_max, uint32_t chunk_max)
{
	uint64_t left = m->data_bytes, pack_off[64] = { 0 };
	uint32_t nframe = 0;

	m->nchunks = 0;
	while (left) {
		struct mf_frame f;
		uint32_t ulen = left < frame_max ? (uint32_t)left : frame_max, off = 0;

		f.pack = m->npacks ? nframe % (uint32_t)m->npacks : 0;
		f.codec = nframe % 2 ? FRAME_ZSTD : FRAME_RAW;
		f.ulen = ulen;
		f.clen = f.codec == FRAME_RAW ? ulen : ulen / 2 + 1;
		f.off = pack_off[f.pack % 64];
		pack_off[f.pack % 64] += f.clen;
		while (off < ulen) {
			struct mf_chunk c;
			uint32_t len = ulen - off;

			if (len > chunk_max)
				len = chunk_max - (uint32_t)(rnd() % (chunk_max / 4 + 1));
			c.frame = f;
			c.off = off;
			c.len = len;
			for (int i = 0; i < CC_ID_LEN; i += 8) {
				uint64_t v = rnd();

				memcpy(c.id.b + i, &v, 8);
			}
			push_chunk(m, &c);
			off += len;
		}
		left -= ulen;
		nframe++;
	}
}

/* Writes the model to a new temporary file.  @return its fd (or -1 with
 * *ret_rc set when the writer failed). */
static int write_model(const struct model *m, enum cc_code *ret_rc)
{
	struct mf_writer w;
	struct cc_err err;
	FILE *f = tmpfile();
	int fd = f ? dup(fileno(f)) : -1;
	enum cc_code rc;

	if (f)
		fclose(f);
	*ret_rc = CC_EINTERNAL;
	if (fd < 0)
		return -1;
	if ((rc = mf_writer_init(&w, &err)))
		goto cleanup;
	for (size_t i = 0; i < m->nitems && !rc; i++)
		rc = m->items[i].is_root ? mf_add_root(&w, m->items[i].root, &err)
					 : mf_add_entry(&w, &m->items[i].e, &err);
	for (size_t i = 0; i < m->nchunks && !rc; i++)
		rc = mf_add_chunk(&w, &m->chunks[i], &err);
	if (!rc)
		rc = mf_writer_finish(&w, m->key, m->created_ns, m->packs, m->npacks, fd, &err);
	mf_writer_release(&w);
cleanup:
	*ret_rc = rc;
	if (rc) {
		printf("#   writer failed: %s\n", err.msg);
		close(fd);
		return -1;
	}
	return fd;
}

static bool entry_eq(const struct mf_entry *a, const struct mf_entry *b)
{
	if (a->type != b->type || a->path.len != b->path.len ||
	    memcmp(a->path.data, b->path.data, a->path.len) || a->mode != b->mode ||
	    a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec ||
	    a->uid != b->uid || a->gid != b->gid)
		return false;
	if (a->type == MF_FILE) {
		if (a->size != b->size || a->flags != b->flags)
			return false;
		if (a->flags & MF_F_SPARSE) {
			if (a->nextents != b->nextents)
				return false;
			for (size_t i = 0; i < a->nextents; i++)
				if (a->extents[i].off != b->extents[i].off ||
				    a->extents[i].len != b->extents[i].len)
					return false;
		}
	}
	if (a->type == MF_SYMLINK || a->type == MF_HARDLINK)
		if (a->target.len != b->target.len ||
		    memcmp(a->target.data, b->target.data, a->target.len))
			return false;
	return true;
}

static bool chunk_eq(const struct mf_chunk *a, const struct mf_chunk *b)
{
	return cc_id_eq(&a->id, &b->id) && a->off == b->off && a->len == b->len &&
	       a->frame.pack == b->frame.pack && a->frame.codec == b->frame.codec &&
	       a->frame.off == b->frame.off && a->frame.clen == b->frame.clen &&
	       a->frame.ulen == b->frame.ulen;
}

/* Set by read_all when what it read differs from the model. */
static bool content_differs;

/* Reads both streams to their end and compares them with the model (when
 * m is not NULL).  @return the first error, CC_OK, or CC_EINTERNAL with a
 * message (and content_differs set) when the content differs. */
static enum cc_code read_all(struct mf_reader *r, const struct model *m, struct cc_err *err)
{
	struct buf root = BUF_INIT;
	struct mf_entry e;
	size_t i = 0, nc = 0;
	enum cc_code rc;

	mf_entry_init(&e);
	content_differs = false;
	for (;;) {
		enum mf_item item;

		if ((rc = mf_next(r, &item, &root, &e, err)))
			goto cleanup;
		if (item == MF_ITEM_END)
			break;
		if (!m)
			continue;
		if (i >= m->nitems || (item == MF_ITEM_ROOT) != m->items[i].is_root ||
		    (item == MF_ITEM_ROOT ? strcmp(root.data, m->items[i].root) != 0
					  : !entry_eq(&e, &m->items[i].e))) {
			content_differs = true;
			rc = cc_err_set(err, CC_EINTERNAL, 0, "item %zu differs (path '%s')", i,
					item == MF_ITEM_ROOT ? root.data : e.path.data);
			goto cleanup;
		}
		i++;
	}
	if (m && i != m->nitems) {
		content_differs = true;
		rc = cc_err_set(err, CC_EINTERNAL, 0, "%zu items read, %zu written", i, m->nitems);
		goto cleanup;
	}
	for (;;) {
		struct mf_chunk c;
		bool end;

		if ((rc = mf_next_chunk(r, &c, &end, err)))
			goto cleanup;
		if (end)
			break;
		if (m && (nc >= m->nchunks || !chunk_eq(&c, &m->chunks[nc]))) {
			content_differs = true;
			rc = cc_err_set(err, CC_EINTERNAL, 0, "chunk %zu differs", nc);
			goto cleanup;
		}
		nc++;
	}
	if (m && nc != m->nchunks) {
		content_differs = true;
		rc = cc_err_set(err, CC_EINTERNAL, 0, "%zu chunks read, %zu written", nc, m->nchunks);
	}
cleanup:
	mf_entry_release(&e);
	buf_release(&root);
	return rc;
}

/* Writes, opens, reads and compares, checks the header.  @return true on
 * a perfect round trip. */
static bool roundtrip(const struct model *m, int line)
{
	struct mf_reader r;
	struct cc_err err;
	enum cc_code rc;
	int fd = write_model(m, &rc);
	uint64_t roots = 0, files = 0;
	bool ok = false;

	if (fd < 0) {
		printf("#   line %d: write failed (%d)\n", line, rc);
		return false;
	}
	cc_err_clear(&err);
	if ((rc = mf_open(&r, fd, &err))) {
		printf("#   line %d: mf_open: %d %s\n", line, rc, err.msg);
		close(fd);
		return false;
	}
	for (size_t i = 0; i < m->nitems; i++) {
		roots += m->items[i].is_root;
		files += !m->items[i].is_root && m->items[i].e.type == MF_FILE;
	}
	if (strcmp(r.key, m->key) || r.hdr.created_ns != m->created_ns ||
	    r.hdr.n_roots != roots || r.hdr.n_entries != m->nitems - roots ||
	    r.hdr.n_files != files || r.hdr.data_bytes != m->data_bytes ||
	    r.hdr.n_chunks != m->nchunks || r.hdr.n_packs != m->npacks ||
	    (m->npacks && memcmp(r.packs, m->packs, m->npacks * sizeof(*m->packs)))) {
		printf("#   line %d: header differs: key '%s' roots %u entries %" PRIu64
		       " files %" PRIu64 " data %" PRIu64 " chunks %" PRIu64 " packs %" PRIu64 "\n",
		       line, r.key, r.hdr.n_roots, r.hdr.n_entries, r.hdr.n_files,
		       r.hdr.data_bytes, r.hdr.n_chunks, r.hdr.n_packs);
		goto cleanup;
	}
	if ((rc = read_all(&r, m, &err))) {
		printf("#   line %d: read: %d %s\n", line, rc, err.msg);
		goto cleanup;
	}
	/* Reading again after a rewind gives the same. */
	if ((rc = mf_rewind(&r, &err)) || (rc = read_all(&r, m, &err))) {
		printf("#   line %d: read after rewind: %d %s\n", line, rc, err.msg);
		goto cleanup;
	}
	ok = true;
cleanup:
	mf_close(&r);
	close(fd);
	return ok;
}

/* ---- round trips ---- */

static void test_empty(void)
{
	struct model m;

	model_init(&m);
	CHECK(roundtrip(&m, __LINE__));
	add_root(&m, "~/.cache/empty");
	CHECK(roundtrip(&m, __LINE__));
	m.key = "k";
	m.created_ns = -1;
	add_root(&m, "node_modules");
	CHECK(roundtrip(&m, __LINE__));
	model_release(&m);
}

static void test_basic(void)
{
	struct model m;
	struct mf_entry *e;

	model_init(&m);
	add_root(&m, "~/.npm");
	add_entry(&m, MF_DIR, "", 0, NULL);
	add_entry(&m, MF_DIR, "a", 1, NULL);
	e = add_file(&m, "a/f", 10);
	e->flags = MF_F_LINK_TARGET;
	e->mode = 04755;
	add_entry(&m, MF_SYMLINK, "a/l", 3, "f");
	add_entry(&m, MF_SYMLINK, "a/abs", 5, "/etc/passwd");	/* symlinks may point anywhere */
	add_entry(&m, MF_HARDLINK, "a/h", 3, "a/f");
	e = add_file(&m, "a/zero", 0);
	e = add_entry(&m, MF_DIR, "b", 1, NULL);
	e->mode = 07777;
	e->mtime_sec = -5;	/* before 1970 */
	e->mtime_nsec = 999999999;
	e->uid = UINT32_MAX;
	e->gid = 0;
	add_file(&m, "b/c", 1000);
	add_root(&m, "/opt/tool cache");
	add_entry(&m, MF_DIR, "", 0, NULL);
	add_file(&m, "x", 123456);
	add_root(&m, "../sibling");
	add_file(&m, "", 77);	/* a root that is a single file */
	set_packs(&m, 2);
	make_chunks(&m, 100000, 40000);
	CHECK(m.nchunks >= 4);
	CHECK(roundtrip(&m, __LINE__));
	model_release(&m);
}

static void test_big_sizes(void)
{
	struct model m;
	struct mf_entry *e;

	model_init(&m);
	add_root(&m, "big");
	add_entry(&m, MF_DIR, "", 0, NULL);
	add_file(&m, "five-gib", 5ULL << 30);
	e = add_file(&m, "sparse", 6ULL << 30);
	add_extent(&m, e, 0, 1 << 20);
	add_extent(&m, e, 2ULL << 30, 3 << 20);
	add_extent(&m, e, (6ULL << 30) - 4096, 4096);
	e = add_file(&m, "all-hole", 1ULL << 40);
	e->flags |= MF_F_SPARSE;	/* sparse without extents: nothing stored */
	m.data_bytes -= e->size;
	e = add_file(&m, "sparse-flag-and-link", 1 << 20);
	add_extent(&m, e, 4096, 8192);
	e->flags |= MF_F_LINK_TARGET;
	CHECK(m.data_bytes > (5ULL << 30));
	set_packs(&m, 3);
	make_chunks(&m, MF_MAX_FRAME, CHUNK_MAX_LIMIT);
	CHECK(m.nchunks >= 1280);
	CHECK(roundtrip(&m, __LINE__));
	CHECK_EQ(mf_entry_data_len(&m.items[2].e), 5ULL << 30);
	CHECK_EQ(mf_entry_data_len(&m.items[3].e), (4 << 20) + 4096);
	CHECK_EQ(mf_entry_data_len(&m.items[4].e), 0);
	model_release(&m);
}

/* A valid path of exactly len bytes, components up to 255 bytes. */
static char *long_path(size_t len, char fill)
{
	char *p = malloc(len + 1);
	size_t i = 0;

	while (i < len) {
		size_t k = len - i < MF_MAX_NAME ? len - i : MF_MAX_NAME;

		/* Do not leave a final component of length 0. */
		if (len - i > MF_MAX_NAME && len - i - k - 1 == 0)
			k--;
		memset(p + i, fill, k);
		i += k;
		if (i < len)
			p[i++] = '/';
	}
	p[len] = '\0';
	return p;
}

static void test_names(void)
{
	struct model m;
	char *lp = long_path(MF_MAX_PATH, 'p'), *lp2 = long_path(MF_MAX_PATH - 10, 'p');
	char link[MF_MAX_LINK + 1];

	CHECK(mf_path_valid(lp, strlen(lp)));
	CHECK_EQ(strlen(lp), MF_MAX_PATH);
	memset(link, 't', MF_MAX_LINK);
	link[MF_MAX_LINK] = '\0';
	model_init(&m);
	add_root(&m, "names with spaces/and\nnewline");
	add_entry(&m, MF_DIR, "", 0, NULL);
	add_entry(&m, MF_DIR, "with space", 10, NULL);
	add_file(&m, "with space/new\nline", 3);
	add_file(&m, "with space/tab\there", 3);
	add_file(&m, "latin1-\xe9t\xe9", 3);
	add_file(&m, "bad-utf8-\xff\xfe\x80", 3);
	add_file(&m, "\x01\x7f", 3);
	add_file(&m, "...", 3);
	add_file(&m, "..x", 3);
	add_file(&m, ".hidden", 3);
	add_entry(&m, MF_SYMLINK, "sl", 2, link);	/* longest target */
	add_entry(&m, MF_SYMLINK, "sl2", 3, "../../a b/\xff\n");
	add_file(&m, lp2, 1);
	add_file(&m, lp, 2);	/* shares most of its prefix with lp2 */
	add_entry(&m, MF_HARDLINK, "hl", 2, lp);
	add_entry(&m, MF_DIR, "x", 1, NULL);	/* short after long: prefix 0 */
	{
		char name[MF_MAX_NAME + 1];

		memset(name, 'n', MF_MAX_NAME);
		name[MF_MAX_NAME] = '\0';
		add_file(&m, name, 5);
	}
	{
		char root[MF_MAX_ROOT + 1];

		memset(root, 'r', MF_MAX_ROOT);
		root[MF_MAX_ROOT] = '\0';
		add_root(&m, root);
		add_file(&m, "", 1);
	}
	set_packs(&m, 1);
	make_chunks(&m, 1 << 20, 1 << 20);
	CHECK(roundtrip(&m, __LINE__));
	model_release(&m);
	free(lp);
	free(lp2);
}

/* Enough entries and chunks that both compressed streams are larger than
 * the reader's input buffer and their output larger than its output
 * buffer, so they are refilled many times. */
static void test_many(void)
{
	struct model m;
	char path[64];
	struct mf_reader r;
	struct cc_err err;
	enum cc_code rc;
	int fd;

	model_init(&m);
	add_root(&m, "many");
	add_entry(&m, MF_DIR, "", 0, NULL);
	for (int d = 0; d < 100; d++) {
		snprintf(path, sizeof(path), "d%03d-%08llx", d, (unsigned long long)(rnd() >> 32));
		add_entry(&m, MF_DIR, path, strlen(path), NULL);
		for (int f = 0; f < 200; f++) {
			struct mf_entry *e;
			size_t n = strlen(path);

			snprintf(path + n, sizeof(path) - n, "/%016llx", (unsigned long long)rnd());
			e = add_file(&m, path, 1 + rnd() % 5000);
			e->mtime_sec = (int64_t)(rnd() >> 20);
			e->mtime_nsec = (uint32_t)(rnd() % 1000000000);
			path[n] = '\0';
		}
	}
	set_packs(&m, 7);
	make_chunks(&m, 64 << 10, 2000);
	CHECK(m.nitems > 20000);
	CHECK(m.nchunks > 20000);
	CHECK(roundtrip(&m, __LINE__));

	/* The sections really are bigger than the reader's buffers. */
	fd = write_model(&m, &rc);
	CHECK(fd >= 0);
	if (fd >= 0 && !mf_open(&r, fd, &err)) {
		printf("# entries %" PRIu64 "/%" PRIu64 ", chunks %" PRIu64 "/%" PRIu64 " bytes\n",
		       r.hdr.entries_clen, r.hdr.entries_ulen, r.hdr.chunks_clen, r.hdr.chunks_ulen);
		CHECK(r.hdr.entries_clen > (128u << 10));
		CHECK(r.hdr.entries_ulen > (256u << 10));
		CHECK(r.hdr.chunks_clen > (128u << 10));
		CHECK(r.hdr.chunks_ulen > (256u << 10));
		/* Rewind in the middle of both streams. */
		{
			struct buf root = BUF_INIT;
			struct mf_entry e;
			enum mf_item item;
			struct mf_chunk c;
			bool end;

			mf_entry_init(&e);
			for (int i = 0; i < 12345; i++)
				if (mf_next(&r, &item, &root, &e, &err))
					break;
			for (int i = 0; i < 6789; i++)
				if (mf_next_chunk(&r, &c, &end, &err))
					break;
			CHECK_EQ(mf_rewind(&r, &err), CC_OK);
			CHECK_EQ(read_all(&r, &m, &err), CC_OK);
			mf_entry_release(&e);
			buf_release(&root);
		}
		mf_close(&r);
	} else {
		CHECK(0);
	}
	if (fd >= 0)
		close(fd);
	model_release(&m);
}

/* Reading past the end is refused; the chunk stream keeps saying "end". */
static void test_past_end(void)
{
	struct model m;
	struct mf_reader r;
	struct cc_err err;
	enum cc_code rc;
	int fd;

	model_init(&m);
	add_root(&m, "r");
	add_file(&m, "", 5);
	set_packs(&m, 1);
	make_chunks(&m, 100, 100);
	fd = write_model(&m, &rc);
	CHECK_EQ(mf_open(&r, fd, &err), CC_OK);
	CHECK_EQ(read_all(&r, &m, &err), CC_OK);
	{
		struct buf root = BUF_INIT;
		struct mf_entry e;
		enum mf_item item;
		struct mf_chunk c;
		bool end = false;

		mf_entry_init(&e);
		CHECK(mf_next(&r, &item, &root, &e, &err) != CC_OK);
		CHECK_EQ(mf_next_chunk(&r, &c, &end, &err), CC_OK);
		CHECK(end);
		mf_entry_release(&e);
		buf_release(&root);
	}
	mf_close(&r);
	close(fd);
	model_release(&m);
}

/* ---- mf_path_valid ---- */

static void test_path_valid(void)
{
	char name[300];

	CHECK(mf_path_valid("", 0));
	CHECK(mf_path_valid("a", 1));
	CHECK(mf_path_valid("a/b", 3));
	CHECK(mf_path_valid("a b/\n/\xff", 7));
	CHECK(mf_path_valid("...", 3));
	CHECK(mf_path_valid(".a/..b/a..", 10));
	CHECK(!mf_path_valid("/a", 2));
	CHECK(!mf_path_valid("/", 1));
	CHECK(!mf_path_valid("a/", 2));
	CHECK(!mf_path_valid("a//b", 4));
	CHECK(!mf_path_valid(".", 1));
	CHECK(!mf_path_valid("..", 2));
	CHECK(!mf_path_valid("a/..", 4));
	CHECK(!mf_path_valid("../a", 4));
	CHECK(!mf_path_valid("a/../b", 6));
	CHECK(!mf_path_valid("a/./b", 5));
	CHECK(!mf_path_valid("./a", 3));
	CHECK(!mf_path_valid("a/.", 3));
	CHECK(!mf_path_valid("a\0b", 3));
	CHECK(!mf_path_valid("\0", 1));
	/* len is what counts, not the NUL */
	CHECK(mf_path_valid("ab/..", 2));
	memset(name, 'x', sizeof(name));
	CHECK(mf_path_valid(name, 255));
	CHECK(!mf_path_valid(name, 256));
	name[0] = 'a';
	name[1] = '/';
	CHECK(mf_path_valid(name, 257));	/* "a/" + 255 */
	CHECK(!mf_path_valid(name, 258));
	{
		char *lp = long_path(MF_MAX_PATH, 'q'), *lp2 = long_path(MF_MAX_PATH + 1, 'q');

		CHECK(mf_path_valid(lp, MF_MAX_PATH));
		CHECK(!mf_path_valid(lp2, MF_MAX_PATH + 1));
		free(lp);
		free(lp2);
	}
}

/* ---- corruption ---- */

static unsigned char *slurp(int fd, size_t *ret_len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	unsigned char *p = malloc((size_t)end + 1);

	if (pread(fd, p, (size_t)end, 0) != end)
		abort();
	*ret_len = (size_t)end;
	return p;
}

static void put_bytes(int fd, const unsigned char *p, size_t len)
{
	if (ftruncate(fd, 0) || pwrite(fd, p, len, 0) != (ssize_t)len)
		abort();
}

/* Recomputes the trailing checksum, as a hostile writer would. */
static void reseal(unsigned char *p, size_t len)
{
	struct cc_id sum;

	cc_id_from_hash(&sum, XXH3_128bits(p, len - CC_ID_LEN));
	memcpy(p + len - CC_ID_LEN, sum.b, CC_ID_LEN);
}

/* Opens and fully reads p, comparing with m if not NULL.  @return the
 * first error, or CC_OK. */
static enum cc_code open_and_read(int fd, const unsigned char *p, size_t len,
				  const struct model *m, struct cc_err *err)
{
	struct mf_reader r;
	enum cc_code rc;

	put_bytes(fd, p, len);
	cc_err_clear(err);
	rc = mf_open(&r, fd, err);
	if (!rc)
		rc = read_all(&r, m, err);
	mf_close(&r);
	return rc;
}

static void small_model(struct model *m)
{
	struct mf_entry *e;

	model_init(m);
	m->key = "corrupt-me";
	add_root(m, "~/r");
	add_entry(m, MF_DIR, "", 0, NULL);
	e = add_file(m, "f", 300);
	add_extent(m, e, 10, 20);
	add_extent(m, e, 100, 50);
	add_file(m, "g", 40);
	add_entry(m, MF_SYMLINK, "l", 1, "f");
	add_entry(m, MF_HARDLINK, "h", 1, "g");
	set_packs(m, 2);
	make_chunks(m, 60, 30);
}

/* Flipping any bit anywhere is caught (the checksum covers everything). */
static void test_bitflips(void)
{
	struct model m;
	enum cc_code rc;
	int fd, work;
	unsigned char *orig, *p;
	size_t len, missed = 0, wrong_code = 0;
	struct cc_err err;

	small_model(&m);
	fd = write_model(&m, &rc);
	orig = slurp(fd, &len);
	p = malloc(len);
	work = dup(fd);
	printf("# small manifest: %zu bytes\n", len);
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(p, orig, len);
			p[i] ^= (unsigned char)(1 << bit);
			rc = open_and_read(work, p, len, NULL, &err);
			if (rc == CC_OK) {
				if (missed++ < 5)
					printf("#   flip of bit %d at %zu not detected\n", bit, i);
			} else if (rc != CC_ECORRUPT) {
				if (wrong_code++ < 5)
					printf("#   flip of bit %d at %zu: code %d (%s)\n", bit, i, rc,
					       err.msg);
			}
		}
	CHECK_EQ(missed, 0);
	CHECK_EQ(wrong_code, 0);
	/* The untouched copy still reads. */
	CHECK_EQ(open_and_read(work, orig, len, &m, &err), CC_OK);
	close(work);
	close(fd);
	free(p);
	free(orig);
	model_release(&m);
}

/* A hostile writer recomputes the checksum: then the reader's own checks
 * (zstd frame checksums, counts, bounds) must catch every change to what
 * it returns.  A change may only go through if everything read is still
 * identical (the key, creation time, pack ids and reserved header bytes
 * are not compared here, and some zstd header bits are don't-cares). */
static void check_resealed(int work, unsigned char *p, size_t len, const struct model *m,
			   size_t at, size_t *missed, size_t *wrong_code, size_t *same)
{
	struct cc_err err;
	enum cc_code rc;

	reseal(p, len);
	rc = open_and_read(work, p, len, m, &err);
	if (rc == CC_OK) {
		(*same)++;
	} else if (content_differs) {
		if ((*missed)++ < 10)
			printf("#   resealed change at %zu not detected: %s\n", at, err.msg);
	} else if (rc != CC_ECORRUPT) {
		if ((*wrong_code)++ < 5)
			printf("#   resealed change at %zu: code %d (%s)\n", at, rc, err.msg);
	}
}

static void test_resealed_flips(void)
{
	struct model m;
	enum cc_code rc;
	int fd, work;
	unsigned char *orig, *p;
	size_t len, missed = 0, wrong_code = 0, same = 0;

	small_model(&m);
	fd = write_model(&m, &rc);
	orig = slurp(fd, &len);
	p = malloc(len);
	work = dup(fd);
	for (size_t i = 0; i < len - CC_ID_LEN; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(p, orig, len);
			p[i] ^= (unsigned char)(1 << bit);
			check_resealed(work, p, len, &m, i, &missed, &wrong_code, &same);
		}
	printf("# %zu of %zu resealed flips read the same content\n", same,
	       (len - CC_ID_LEN) * 8);
	CHECK_EQ(missed, 0);
	CHECK_EQ(wrong_code, 0);
	/* Not everything can be a don't-care. */
	CHECK(same < (len - CC_ID_LEN) * 8 / 2);
	close(work);
	close(fd);
	free(p);
	free(orig);
	model_release(&m);
}

/* A larger manifest: a sample of positions in the compressed streams,
 * flipped with and without resealing, plus random garbage spans. */
static void test_sampled_flips(void)
{
	struct model m;
	enum cc_code rc;
	int fd, work;
	unsigned char *orig, *p;
	size_t len, missed = 0, wrong_code = 0, same = 0, lo, hi;
	struct cc_err err;

	model_init(&m);
	add_root(&m, "sample");
	add_entry(&m, MF_DIR, "", 0, NULL);
	for (int i = 0; i < 2000; i++) {
		char path[32];

		snprintf(path, sizeof(path), "f%05d", i);
		add_file(&m, path, 100 + (uint64_t)i);
	}
	set_packs(&m, 3);
	make_chunks(&m, 4000, 700);
	fd = write_model(&m, &rc);
	orig = slurp(fd, &len);
	p = malloc(len);
	work = dup(fd);
	lo = MF_HEADER_LEN + strlen(m.key);
	hi = len - CC_ID_LEN * (1 + m.npacks);
	for (int n = 0; n < 1500; n++) {
		size_t i = lo + (size_t)(rnd() % (hi - lo));

		memcpy(p, orig, len);
		if (n % 3 == 2) {
			size_t span = 1 + (size_t)(rnd() % 64);

			for (size_t k = i; k < i + span && k < hi; k++)
				p[k] = (unsigned char)rnd();
		} else {
			p[i] ^= (unsigned char)(1 << (rnd() % 8));
		}
		if (n % 2) {
			check_resealed(work, p, len, &m, i, &missed, &wrong_code, &same);
			continue;
		}
		rc = open_and_read(work, p, len, NULL, &err);
		if (rc == CC_OK && memcmp(p, orig, len)) {
			if (missed++ < 5)
				printf("#   change at %zu (try %d) not detected\n", i, n);
		} else if (rc != CC_OK && rc != CC_ECORRUPT) {
			if (wrong_code++ < 5)
				printf("#   change at %zu: code %d (%s)\n", i, rc, err.msg);
		}
	}
	CHECK_EQ(missed, 0);
	CHECK_EQ(wrong_code, 0);
	close(work);
	close(fd);
	free(p);
	free(orig);
	model_release(&m);
}

static void test_truncation(void)
{
	struct model m;
	enum cc_code rc;
	int fd, work;
	unsigned char *orig, *p;
	size_t len, bad = 0;
	struct cc_err err;

	small_model(&m);
	fd = write_model(&m, &rc);
	orig = slurp(fd, &len);
	p = malloc(len + 100);
	work = dup(fd);
	for (size_t l = 0; l < len; l++) {
		rc = open_and_read(work, orig, l, NULL, &err);
		if (rc != CC_ECORRUPT && bad++ < 5)
			printf("#   truncated to %zu of %zu: code %d\n", l, len, rc);
		/* Truncated and resealed. */
		if (l >= MF_HEADER_LEN + CC_ID_LEN) {
			memcpy(p, orig, l);
			reseal(p, l);
			rc = open_and_read(work, p, l, NULL, &err);
			if (rc != CC_ECORRUPT && bad++ < 5)
				printf("#   resealed truncation to %zu: code %d\n", l, rc);
		}
	}
	/* Extended by a few bytes, sealed or not. */
	for (size_t extra = 1; extra < 100; extra += 17) {
		memcpy(p, orig, len);
		memset(p + len, 0, extra);
		rc = open_and_read(work, p, len + extra, NULL, &err);
		if (rc != CC_ECORRUPT && bad++ < 5)
			printf("#   extended by %zu: code %d\n", extra, rc);
		reseal(p, len + extra);
		rc = open_and_read(work, p, len + extra, NULL, &err);
		if (rc != CC_ECORRUPT && bad++ < 5)
			printf("#   extended and resealed by %zu: code %d\n", extra, rc);
	}
	CHECK_EQ(bad, 0);
	close(work);
	close(fd);
	free(p);
	free(orig);
	model_release(&m);
}

/* A header that lies about sizes must not make the reader allocate or
 * read beyond the file. */
static void test_header_lies(void)
{
	struct model m;
	enum cc_code rc;
	int fd, work;
	unsigned char *orig, *p;
	size_t len;
	struct cc_err err;
	static const struct { size_t off; int width; uint64_t v; } lies[] = {
		{ 8, 4, 3 },			/* version */
		{ 8, 4, 0 },
		{ 12, 4, 64 },			/* header length */
		{ 24, 4, 0xffffffff },		/* key length */
		{ 24, 4, MF_MAX_KEY + 1 },
		{ 28, 4, 0xffffffff },		/* roots */
		{ 32, 8, UINT64_MAX },		/* entries clen */
		{ 32, 8, 1ULL << 63 },
		{ 40, 8, UINT64_MAX },		/* entries ulen */
		{ 40, 8, 1 },
		{ 48, 8, UINT64_MAX - 200 },	/* chunks clen */
		{ 56, 8, 0 },			/* chunks ulen */
		{ 64, 8, UINT64_MAX / 16 + 1 },	/* packs: overflow of n * 16 */
		{ 64, 8, MF_MAX_PACKS + 1 },
		{ 72, 8, UINT64_MAX },		/* entries */
		{ 80, 8, 0 },			/* files */
		{ 88, 8, UINT64_MAX },		/* data bytes */
		{ 96, 8, 0 },			/* chunks */
	};

	small_model(&m);
	fd = write_model(&m, &rc);
	orig = slurp(fd, &len);
	p = malloc(len);
	work = dup(fd);
	for (size_t i = 0; i < sizeof(lies) / sizeof(*lies); i++) {
		memcpy(p, orig, len);
		if (lies[i].width == 4)
			put_le32(p + lies[i].off, (uint32_t)lies[i].v);
		else
			put_le64(p + lies[i].off, lies[i].v);
		reseal(p, len);
		rc = open_and_read(work, p, len, NULL, &err);
		if (rc != CC_ECORRUPT) {
			printf("#   header field at %zu = %" PRIu64 ": code %d (%s)\n", lies[i].off,
			       lies[i].v, rc, err.msg);
			harness_cur_failed = 1;
		}
	}
	/* A NUL inside the key. */
	memcpy(p, orig, len);
	p[MF_HEADER_LEN + 2] = '\0';
	reseal(p, len);
	CHECK_EQ(open_and_read(work, p, len, NULL, &err), CC_ECORRUPT);
	/* Bad magic; not a manifest at all. */
	memcpy(p, orig, len);
	p[0] = 'X';
	reseal(p, len);
	CHECK_EQ(open_and_read(work, p, len, NULL, &err), CC_ECORRUPT);
	close(work);
	close(fd);
	free(p);
	free(orig);
	model_release(&m);
}

/* ---- hostile content with a valid checksum, made by the writer ---- */

/* Builds a manifest from m and expects reading it to fail with
 * CC_ECORRUPT. */
static void expect_corrupt(const struct model *m, int line)
{
	struct mf_reader r;
	struct cc_err err;
	enum cc_code rc;
	int fd = write_model(m, &rc);

	if (fd < 0) {
		printf("#   line %d: the writer refused it (%d): fine too\n", line, rc);
		return;
	}
	cc_err_clear(&err);
	rc = mf_open(&r, fd, &err);
	if (!rc)
		rc = read_all(&r, NULL, &err);
	if (rc != CC_ECORRUPT) {
		printf("#   line %d: code %d (%s), expected CC_ECORRUPT\n", line, rc, err.msg);
		harness_cur_failed = 1;
	} else if (strncmp(err.msg, "corrupt manifest", 16) && !strstr(err.msg, "manifest")) {
		printf("#   line %d: message '%s' does not say what is corrupt\n", line, err.msg);
		harness_cur_failed = 1;
	}
	mf_close(&r);
	close(fd);
}

/* A valid base: one root, one file of 100 bytes in one chunk. */
static struct mf_entry *hostile_base(struct model *m, const char *path)
{
	struct mf_entry *e;

	model_init(m);
	add_root(m, "r");
	add_entry(m, MF_DIR, "", 0, NULL);
	e = add_file(m, path, 100);
	set_packs(m, 1);
	make_chunks(m, 100, 100);
	return e;
}

static void test_hostile_paths(void)
{
	static const char *bad[] = {
		"../x", "a/../../x", "/etc/passwd", "a//b", "a/", "./a", "a/.", "..", ".",
		"a/./b",
	};
	struct model m;

	/* The base itself is fine. */
	hostile_base(&m, "ok");
	CHECK(roundtrip(&m, __LINE__));
	model_release(&m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		hostile_base(&m, bad[i]);
		expect_corrupt(&m, __LINE__);
		model_release(&m);
	}
	/* Embedded NUL, a 256-byte name, a path over the limit. */
	{
		char name[300];
		char *lp = long_path(MF_MAX_PATH + 1, 'z');
		struct mf_entry *e;

		e = hostile_base(&m, "ok");
		buf_reset(&e->path);
		buf_add(&e->path, "a\0b", 3, NULL);
		expect_corrupt(&m, __LINE__);
		model_release(&m);
		memset(name, 'n', 256);
		name[256] = '\0';
		hostile_base(&m, name);
		expect_corrupt(&m, __LINE__);
		model_release(&m);
		hostile_base(&m, lp);
		expect_corrupt(&m, __LINE__);
		model_release(&m);
		free(lp);
	}
	/* Hard link targets are paths in the root too. */
	{
		static const char *badt[] = { "", "../f", "/f", "a//f", "f/" };

		for (size_t i = 0; i < sizeof(badt) / sizeof(*badt); i++) {
			hostile_base(&m, "f");
			add_entry(&m, MF_HARDLINK, "h", 1, badt[i]);
			expect_corrupt(&m, __LINE__);
			model_release(&m);
		}
	}
	/* Symlinks: empty target, NUL in the target, target too long. */
	{
		char link[MF_MAX_LINK + 2];
		struct mf_entry *e;

		hostile_base(&m, "f");
		add_entry(&m, MF_SYMLINK, "l", 1, "");
		expect_corrupt(&m, __LINE__);
		model_release(&m);
		hostile_base(&m, "f");
		e = add_entry(&m, MF_SYMLINK, "l", 1, NULL);
		buf_add(&e->target, "a\0b", 3, NULL);
		expect_corrupt(&m, __LINE__);
		model_release(&m);
		memset(link, 'L', MF_MAX_LINK + 1);
		link[MF_MAX_LINK + 1] = '\0';
		hostile_base(&m, "f");
		add_entry(&m, MF_SYMLINK, "l", 1, link);
		expect_corrupt(&m, __LINE__);
		model_release(&m);
	}
	/* Roots: empty, NUL, too long. */
	{
		char root[MF_MAX_ROOT + 2];

		hostile_base(&m, "f");
		add_root(&m, "");
		expect_corrupt(&m, __LINE__);
		model_release(&m);
		memset(root, 'R', MF_MAX_ROOT + 1);
		root[MF_MAX_ROOT + 1] = '\0';
		hostile_base(&m, "f");
		add_root(&m, root);
		expect_corrupt(&m, __LINE__);
		model_release(&m);
	}
}

static void test_hostile_fields(void)
{
	struct model m;
	struct mf_entry *e;

	/* Entry before any root. */
	model_init(&m);
	add_entry(&m, MF_DIR, "", 0, NULL);
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	/* Mode beyond 07777; nanoseconds beyond 999999999. */
	e = hostile_base(&m, "f");
	e->mode = 010000 | 0644;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	e = hostile_base(&m, "f");
	e->mtime_nsec = 1000000000;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	/* Unknown flags. */
	e = hostile_base(&m, "f");
	e->flags = 4;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	/* Unknown entry type. */
	e = hostile_base(&m, "f");
	e->type = (enum mf_type)'x';
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	/* File size above INT64_MAX. */
	e = hostile_base(&m, "f");
	e->size = (uint64_t)INT64_MAX + 1;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	/* Extents: beyond the size, empty, overlapping (negative gap wraps). */
	{
		static const uint64_t ext[][4] = {
			{ 0, 50, 90, 20 },	/* ends at 110 > 100 */
			{ 0, 0, 10, 10 },	/* empty extent */
			{ 0, 50, 40, 20 },	/* overlap: gap would be negative */
			{ 60, 10, 20, 10 },	/* out of order */
			{ 100, 1, 0, 0 },	/* starts at the end */
		};

		for (size_t i = 0; i < sizeof(ext) / sizeof(*ext); i++) {
			e = hostile_base(&m, "f");
			add_extent(&m, e, ext[i][0], ext[i][1]);
			if (ext[i][3])
				add_extent(&m, e, ext[i][2], ext[i][3]);
			make_chunks(&m, 100, 100);
			expect_corrupt(&m, __LINE__);
			model_release(&m);
		}
	}
	/* Counts: chunks that do not add up to the data. */
	hostile_base(&m, "f");
	m.chunks[0].len = 99;
	m.chunks[0].frame.ulen = 99;
	m.chunks[0].frame.clen = 99;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	hostile_base(&m, "f");
	m.nchunks = 0;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	/* Chunk outside its frame, or empty. */
	hostile_base(&m, "f");
	m.chunks[0].off = 1;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	hostile_base(&m, "f");
	push_chunk(&m, &m.chunks[0]);
	m.chunks[1].off = 100;
	m.chunks[1].len = 0;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	/* Pack index beyond the table; no packs at all. */
	hostile_base(&m, "f");
	m.chunks[0].frame.pack = 1;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	hostile_base(&m, "f");
	set_packs(&m, 0);
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	/* Codecs: unknown, or raw with clen != ulen. */
	hostile_base(&m, "f");
	m.chunks[0].frame.codec = 2;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	hostile_base(&m, "f");
	m.chunks[0].frame.codec = FRAME_RAW;
	m.chunks[0].frame.clen = 50;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	/* Frame and chunk size limits. */
	hostile_base(&m, "f");
	m.chunks[0].frame.ulen = MF_MAX_FRAME + 1;
	m.chunks[0].frame.clen = MF_MAX_FRAME + 1;
	expect_corrupt(&m, __LINE__);
	model_release(&m);
	{
		struct model big;

		model_init(&big);
		add_root(&big, "r");
		add_file(&big, "", CHUNK_MAX_LIMIT + 1);
		set_packs(&big, 1);
		make_chunks(&big, CHUNK_MAX_LIMIT + 1, CHUNK_MAX_LIMIT + 1);
		big.chunks[0].len = CHUNK_MAX_LIMIT + 1;
		big.nchunks = 1;
		expect_corrupt(&big, __LINE__);
		model_release(&big);
	}
	/* No valid key is empty: a manifest naming none is corrupt. */
	hostile_base(&m, "f");
	m.key = "";
	expect_corrupt(&m, __LINE__);
	model_release(&m);
}

/* ---- patterns (version 2) ---- */

/* Writes patterns, one root "a" holding an empty directory, and no data. */
static int write_patterns(const char *const *pats, size_t n, struct cc_err *err)
{
	struct mf_writer w;
	struct mf_entry e;
	FILE *f = tmpfile();
	int fd = f ? dup(fileno(f)) : -1;
	enum cc_code rc;

	if (f)
		fclose(f);
	mf_entry_init(&e);
	e.type = MF_DIR;
	e.mode = 0755;
	rc = mf_writer_init(&w, err);
	for (size_t i = 0; i < n && !rc; i++)
		rc = mf_add_pattern(&w, pats[i], err);
	if (!rc)
		rc = mf_add_root(&w, "a", err);
	if (!rc)
		rc = mf_add_entry(&w, &e, err);
	/* every pattern comes before the first root */
	if (!rc && n)
		CHECK_EQ(mf_add_pattern(&w, "late", err), CC_EINTERNAL);
	if (!rc)
		rc = mf_writer_finish(&w, "pk", 1, NULL, 0, fd, err);
	mf_writer_release(&w);
	mf_entry_release(&e);
	CHECK_EQ(rc, CC_OK);
	return fd;
}

static void test_patterns(void)
{
	static const char *const pats[] = { "**/node_modules", " !**/.cache", "~/x" };
	struct mf_reader r;
	struct mf_entry e;
	struct buf s = BUF_INIT;
	struct cc_err err;
	enum mf_item item;
	unsigned char *p;
	size_t len;
	int fd, work;

	mf_entry_init(&e);
	/* no pattern: version 1, as before */
	fd = write_patterns(NULL, 0, &err);
	CHECK_EQ(mf_open(&r, fd, &err), CC_OK);
	CHECK_EQ(r.hdr.version, 1);
	mf_close(&r);
	close(fd);

	fd = write_patterns(pats, 3, &err);
	CHECK_EQ(mf_open(&r, fd, &err), CC_OK);
	CHECK_EQ(r.hdr.version, 2);
	r.want_patterns = true;
	for (size_t i = 0; i < 3; i++) {
		CHECK_EQ(mf_next(&r, &item, &s, &e, &err), CC_OK);
		CHECK_EQ(item, MF_ITEM_PATTERN);
		CHECK_STR(s.data, pats[i]);
	}
	CHECK_EQ(mf_next(&r, &item, &s, &e, &err), CC_OK);
	CHECK_EQ(item, MF_ITEM_ROOT);
	CHECK_STR(s.data, "a");
	mf_close(&r);
	/* a reader that did not ask passes over them */
	CHECK_EQ(mf_open(&r, fd, &err), CC_OK);
	CHECK_EQ(mf_next(&r, &item, &s, &e, &err), CC_OK);
	CHECK_EQ(item, MF_ITEM_ROOT);
	CHECK_EQ(mf_next(&r, &item, &s, &e, &err), CC_OK);
	CHECK_EQ(item, MF_ITEM_ENTRY);
	CHECK_EQ(mf_next(&r, &item, &s, &e, &err), CC_OK);
	CHECK_EQ(item, MF_ITEM_END);
	mf_close(&r);
	/* a P record in a version 1 manifest is corrupt */
	p = slurp(fd, &len);
	put_le32(p + 8, 1);
	reseal(p, len);
	work = dup(fd);
	CHECK_EQ(open_and_read(work, p, len, NULL, &err), CC_ECORRUPT);
	close(work);
	free(p);
	close(fd);
	buf_release(&s);
	mf_entry_release(&e);
}

/* ---- repoint (prune's repack) ---- */

static int move_sort(const void *a, const void *b)
{
	const struct mf_move *x = a, *y = b;
	int c = memcmp(x->old_pack, y->old_pack, 16);

	return c ? c : x->old_off < y->old_off ? -1 : x->old_off > y->old_off;
}

static int new_tmp_fd(void)
{
	FILE *f = tmpfile();
	int fd = f ? dup(fileno(f)) : -1;

	if (f)
		fclose(f);
	return fd;
}

static bool same_file(int a, int b)
{
	off_t na = lseek(a, 0, SEEK_END), nb = lseek(b, 0, SEEK_END);
	char *pa = malloc((size_t)na + 1), *pb = malloc((size_t)nb + 1);
	bool same = na == nb && pread(a, pa, (size_t)na, 0) == na &&
		    pread(b, pb, (size_t)nb, 0) == nb && !memcmp(pa, pb, (size_t)na);

	free(pa);
	free(pb);
	return same;
}

/* A manifest of three packs A B C: every frame of B and one of A move to
 * a new pack N.  The result reads back (its checksum holds) with the
 * same entries, the chunks in their new places, and the table A C N. */
static void test_repoint(void)
{
	struct model m, want;
	struct mf_move *moves = NULL;
	struct mf_reader r;
	struct cc_id newp;
	struct cc_err err;
	enum cc_code rc;
	uint64_t nv = 0xbeef, new_off = 0, moved_a = UINT64_MAX;
	size_t nmoves = 0;
	bool changed = true;
	int in, out;

	model_init(&m);
	add_root(&m, "~/.cache");
	add_entry(&m, MF_DIR, "", 0, NULL);
	add_file(&m, "a", 300000);
	add_file(&m, "b", 77777);
	set_packs(&m, 3);
	make_chunks(&m, 30000, 10000);
	cc_id_of(&newp, &nv, sizeof(nv));
	/* The moves, one per distinct frame; the expected model alongside. */
	model_init(&want);
	want = m;
	want.items = NULL;
	want.nitems = 0;
	want.chunks = calloc(m.nchunks, sizeof(*m.chunks));
	memcpy(want.chunks, m.chunks, m.nchunks * sizeof(*m.chunks));
	want.packs = calloc(3, sizeof(*want.packs));
	want.packs[0] = m.packs[0];
	want.packs[1] = m.packs[2];
	want.packs[2] = newp;
	want.npacks = 3;
	moves = calloc(m.nchunks, sizeof(*moves));
	for (size_t i = 0; i < m.nchunks; i++) {
		struct mf_frame *f = &m.chunks[i].frame;
		bool first = !i || f->pack != m.chunks[i - 1].frame.pack ||
			     f->off != m.chunks[i - 1].frame.off;
		bool move = f->pack == 1 || (f->pack == 0 && (moved_a == UINT64_MAX ||
							      moved_a == f->off));

		if (move && first) {
			if (f->pack == 0)
				moved_a = f->off;
			memcpy(moves[nmoves].old_pack, m.packs[f->pack].b, 16);
			moves[nmoves].old_off = f->off;
			memcpy(moves[nmoves].new_pack, newp.b, 16);
			moves[nmoves].new_off = new_off;
			new_off += f->clen;
			nmoves++;
		}
		want.chunks[i].frame.pack = move ? 2 : f->pack == 2 ? 1 : 0;
		if (move)
			want.chunks[i].frame.off = moves[nmoves - 1].new_off;
	}
	CHECK(nmoves > 2);
	qsort(moves, nmoves, sizeof(*moves), move_sort);
	/* The entries are the same as the original's. */
	want.items = m.items;
	want.nitems = m.nitems;

	in = write_model(&m, &rc);
	out = new_tmp_fd();
	CHECK(in >= 0 && out >= 0);
	cc_err_clear(&err);
	CHECK_EQ(cc_manifest_repoint(in, out, moves, nmoves, &changed, &err), CC_OK);
	CHECK(changed);
	CHECK_EQ(mf_open(&r, out, &err), CC_OK);
	CHECK_EQ(r.hdr.n_packs, 3);
	CHECK(!memcmp(r.packs, want.packs, 3 * sizeof(*want.packs)));
	CHECK_STR(r.key, m.key);
	CHECK_EQ(r.hdr.created_ns, m.created_ns);
	CHECK_EQ(r.hdr.data_bytes, m.data_bytes);
	CHECK_EQ(r.hdr.n_chunks, m.nchunks);
	rc = read_all(&r, &want, &err);
	if (rc)
		printf("#   %s\n", err.msg);
	CHECK_EQ(rc, CC_OK);
	mf_close(&r);

	/* No moves at all: unchanged, and the same bytes. */
	{
		int same = new_tmp_fd();

		CHECK_EQ(cc_manifest_repoint(in, same, NULL, 0, &changed, &err), CC_OK);
		CHECK(!changed);
		CHECK(same_file(in, same));
		close(same);
	}
	/* Unsorted moves are refused. */
	if (nmoves > 1) {
		struct mf_move t = moves[0];
		int o2 = new_tmp_fd();

		moves[0] = moves[1];
		moves[1] = t;
		CHECK_EQ(cc_manifest_repoint(in, o2, moves, nmoves, &changed, &err), CC_ECORRUPT);
		moves[1] = moves[0];
		moves[0] = t;
		close(o2);
	}
	/* A corrupt manifest is refused, whatever byte is flipped. */
	for (off_t at = 0; at < lseek(in, 0, SEEK_END); at += 997) {
		unsigned char b;
		int o2 = new_tmp_fd();

		CHECK(pread(in, &b, 1, at) == 1);
		b ^= 0x20;
		CHECK(pwrite(in, &b, 1, at) == 1);
		rc = cc_manifest_repoint(in, o2, moves, nmoves, &changed, &err);
		if (rc != CC_ECORRUPT)
			printf("#   flip at %lld: %d\n", (long long)at, rc);
		CHECK_EQ(rc, CC_ECORRUPT);
		b ^= 0x20;
		CHECK(pwrite(in, &b, 1, at) == 1);
		close(o2);
	}
	close(in);
	close(out);
	free(moves);
	free(want.chunks);
	free(want.packs);
	model_release(&m);
}

int main(void)
{
	RUN(test_empty);
	RUN(test_basic);
	RUN(test_big_sizes);
	RUN(test_names);
	RUN(test_many);
	RUN(test_past_end);
	RUN(test_path_valid);
	RUN(test_bitflips);
	RUN(test_resealed_flips);
	RUN(test_sampled_flips);
	RUN(test_truncation);
	RUN(test_header_lies);
	RUN(test_hostile_paths);
	RUN(test_hostile_fields);
	RUN(test_patterns);
	RUN(test_repoint);
	return test_summary();
}
