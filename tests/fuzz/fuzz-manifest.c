/* fuzz-manifest: libFuzzer target for the manifest reader and the
 * restorer's checks of a manifest (the dry run of cc_entry_open).
 *
 * Two input forms:
 *  - a manifest file as stored.  Its trailing checksum is recomputed
 *    first, or nearly every mutation would stop at the checksum;
 *  - the raw form (tests/helper/test-tool.c fuzz-seed): "CCRAWMF\n", the
 *    header's counts (roots u32, entries, files, data, chunks u64, packs
 *    u32), key length u16, entries length u32, the key, then the
 *    uncompressed entry and chunk streams.  The target compresses and
 *    assembles them into a manifest, so mutations land in the records.
 *
 * The manifest is written to a memfd and read with mf_open, every entry
 * and chunk until the end or the first error; if it reads cleanly it is
 * also put into a local store and opened with cc_entry_open, which checks
 * the tree (roots, parents, hard links, data lengths) without writing.
 *
 *   make fuzz && build/fuzz/fuzz-manifest tests/fuzz/corpus-manifest */
#include "../../common/buf.h"
#include "../../common/hash.h"
#include "../../common/key.h"
#include "../../common/manifest.h"
#include "../../common/restore.h"
#include "../../common/store.h"
#include "../../common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define RAW_MAGIC "CCRAWMF\n"
#define RAW_FIXED (8 + 4 + 8 * 4 + 4 + 2 + 4)

static char store_dir[256];
static struct store *store;
static ZSTD_CCtx *zc;
static bool verbose;	/* FUZZ_MANIFEST_VERBOSE=1: say what each input did */

/* Removes the store setup() made (empty by then: entry_check unlinks
 * what it puts there). */
static void teardown(void)
{
	static const char *const parts[] = { "keys", "packs", "tmp", "cicache-store" };
	char path[300];

	for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++) {
		snprintf(path, sizeof(path), "%s/%s", store_dir, parts[i]);
		if (rmdir(path))
			unlink(path);
	}
	rmdir(store_dir);
}

static void setup(void)
{
	struct cc_err err;
	char tmp[300];

	if (store)
		return;
	snprintf(store_dir, sizeof(store_dir), "%s/fuzz-manifest-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(store_dir) || store_open(&store, store_dir, &err) ||
	    store->ops->prepare_write(store, &err)) {
		fprintf(stderr, "fuzz-manifest: cannot set up a store in %s\n", store_dir);
		abort();
	}
	snprintf(tmp, sizeof(tmp), "%s/keys", store_dir);
	mkdir(tmp, 0755);
	atexit(teardown);
	zc = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, 1);
	verbose = getenv("FUZZ_MANIFEST_VERBOSE") != NULL;
}

static void put(struct buf *m, const void *p, size_t n)
{
	if (buf_add(m, p, n, NULL))
		abort();
}

static void compress(struct buf *m, const void *p, size_t n)
{
	size_t cap = ZSTD_compressBound(n), k;

	if (buf_grow(m, cap, NULL))
		abort();
	k = ZSTD_compress2(zc, m->data + m->len, cap, p, n);
	if (ZSTD_isError(k))
		abort();
	buf_setlen(m, m->len + k);
}

/* Builds a manifest from the raw form.  @return false if data is too
 * short to be one. */
static bool from_raw(const uint8_t *d, size_t size, struct buf *m)
{
	unsigned char h[MF_HEADER_LEN] = { 0 }, zero[CC_ID_LEN] = { 0 };
	uint32_t npacks, elen;
	uint16_t klen;
	size_t eoff, cstart;
	struct cc_id sum;

	if (size < RAW_FIXED)
		return false;
	npacks = get_le32(d + 44) % 4;	/* a few ids are enough */
	klen = (uint16_t)(d[48] | d[49] << 8);
	elen = get_le32(d + 50);
	if (klen > size - RAW_FIXED || elen > size - RAW_FIXED - klen)
		return false;
	eoff = RAW_FIXED + klen;
	cstart = eoff + elen;
	memcpy(h, MF_MAGIC, 8);
	put_le32(h + 8, MF_VERSION);
	put_le32(h + 12, MF_HEADER_LEN);
	put_le32(h + 24, klen);
	memcpy(h + 28, d + 8, 4);		/* roots */
	memcpy(h + 72, d + 12, 32);		/* entries, files, data, chunks */
	put_le64(h + 64, npacks);
	put(m, h, sizeof(h));
	put(m, d + RAW_FIXED, klen);
	compress(m, d + eoff, elen);
	put_le64((unsigned char *)m->data + 32, m->len - MF_HEADER_LEN - klen);
	put_le64((unsigned char *)m->data + 40, elen);
	{
		size_t before = m->len;

		compress(m, d + cstart, size - cstart);
		put_le64((unsigned char *)m->data + 48, m->len - before);
		put_le64((unsigned char *)m->data + 56, size - cstart);
	}
	for (uint32_t i = 0; i < npacks; i++)
		put(m, zero, sizeof(zero));
	cc_id_of(&sum, m->data, m->len);
	put(m, sum.b, sizeof(sum.b));
	return true;
}

/* Reads every record; @return true if the whole manifest was valid. */
static bool read_all(int fd, char *ret_key, size_t keymax)
{
	struct mf_reader r;
	struct mf_entry e;
	struct buf root = BUF_INIT;
	struct cc_err err;
	enum cc_code rc;
	bool ok = false;

	mf_entry_init(&e);
	if ((rc = mf_open(&r, fd, &err)))
		goto cleanup;
	for (int pass = 0; pass < 2 && !rc; pass++) {
		for (;;) {
			enum mf_item item;

			if ((rc = mf_next(&r, &item, &root, &e, &err)) || item == MF_ITEM_END)
				break;
		}
		while (!rc) {
			struct mf_chunk c;
			bool end;

			if ((rc = mf_next_chunk(&r, &c, &end, &err)) || end)
				break;
		}
		/* A second pass after rewinding must behave the same. */
		if (!rc && pass == 0)
			rc = mf_rewind(&r, &err);
	}
	if (!rc) {
		ok = true;
		snprintf(ret_key, keymax, "%s", r.key);
	}
cleanup:
	if (verbose)
		fprintf(stderr, "manifest: %s\n", rc ? err.msg : "valid");
	mf_close(&r);
	mf_entry_release(&e);
	buf_release(&root);
	return ok;
}

/* Puts the manifest under its own key (when that is a key the local
 * store spells plainly) and checks the tree the way a restore does. */
static void entry_check(const struct buf *m, const char *mkey)
{
	char path[600], name[600];
	const char *key = mkey;
	struct cc_entry *ent = NULL;
	struct cc_err err;
	int fd;

	if (cc_key_check(key, "key", NULL) || mkey[0] == '.' || strpbrk(mkey, " /") ||
	    strlen(mkey) > 200)
		key = "fuzz";
	snprintf(path, sizeof(path), "%s/keys/%s", store_dir, key);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		abort();
	if (write_all(fd, m->data, m->len))
		abort();
	close(fd);
	snprintf(name, sizeof(name), "keys/%s", key);
	if (!cc_entry_open(store, name, key, &ent, &err)) {
		const char *const *roots;

		cc_entry_roots(ent, &roots);
		cc_entry_header(ent);
		cc_entry_close(ent);
		if (verbose)
			fprintf(stderr, "entry: valid\n");
	} else if (verbose) {
		fprintf(stderr, "entry: %s\n", err.msg);
	}
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct buf m = BUF_INIT;
	char key[MF_MAX_KEY + 1];

	setup();
	if (fd < 0 && (fd = memfd_create("fuzz-manifest", MFD_CLOEXEC)) < 0)
		abort();
	if (size >= 8 && !memcmp(data, RAW_MAGIC, 8)) {
		if (!from_raw(data, size, &m))
			goto out;
	} else {
		put(&m, data, size);
		if (m.len >= MF_HEADER_LEN + CC_ID_LEN) {
			struct cc_id sum;

			cc_id_of(&sum, m.data, m.len - CC_ID_LEN);
			memcpy(m.data + m.len - CC_ID_LEN, sum.b, CC_ID_LEN);
		}
	}
	if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET) || write_all(fd, m.data, m.len))
		abort();
	if (read_all(fd, key, sizeof(key)))
		entry_check(&m, key);
out:
	buf_release(&m);
	return 0;
}
