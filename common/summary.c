/* summary.c: entry summaries (summary.h). */
#include "summary.h"
#include "hash.h"
#include "log.h"
#include "manifest.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cc_summary_release(struct cc_summary *s)
{
	buf_release(&s->patterns);
	free(s->packs);
	free(s->frames);
	memset(s, 0, sizeof(*s));
}

void cc_summary_name(const unsigned char manifest[16], char *out, size_t n)
{
	struct cc_id id;
	char hex[CC_ID_HEX_LEN + 1];

	memcpy(id.b, manifest, CC_ID_LEN);
	cc_id_hex(&id, hex);
	snprintf(out, n, "%s%s", STORE_SUMS_PREFIX, hex);
}

static int frame_cmp(const void *a, const void *b)
{
	const struct cc_summary_frame *x = a, *y = b;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return 0;
}

/* The P records (the --path patterns as given), which come before the
 * first root of the entries stream. */
static enum cc_code read_patterns(struct mf_reader *r, struct cc_summary *ret,
				  struct cc_err *err)
{
	struct buf pat = BUF_INIT;
	struct mf_entry e;
	enum mf_item item = MF_ITEM_PATTERN;
	enum cc_code rc = CC_OK;

	memset(&e, 0, sizeof(e));
	r->want_patterns = true;
	while (!(rc = mf_next(r, &item, &pat, &e, err)) && item == MF_ITEM_PATTERN) {
		if (ret->n_patterns == CC_SUMMARY_MAX_PATTERNS || pat.len > CC_SUMMARY_MAX_PATTERN ||
		    memchr(pat.data, '\0', pat.len)) {
			rc = cc_err_set(err, CC_ECORRUPT, 0, "too many or too long --path patterns");
			break;
		}
		if ((rc = buf_add(&ret->patterns, pat.data, pat.len + 1, err)))
			break;
		ret->n_patterns++;
	}
	mf_entry_release(&e);
	buf_release(&pat);
	return rc;
}

enum cc_code cc_summary_from_manifest(int fd, struct cc_summary *ret, struct cc_err *err)
{
	struct mf_reader r;
	struct mf_chunk c;
	size_t alloc = 0, n = 0;
	struct cc_summary_frame *fr = NULL;
	enum cc_code rc;
	off_t end;
	bool done = false;

	memset(ret, 0, sizeof(*ret));
	if ((rc = mf_open(&r, fd, err)))
		goto cleanup;
	end = lseek(fd, 0, SEEK_END);
	if (end < CC_ID_LEN || pread_full(fd, ret->manifest, CC_ID_LEN, end - CC_ID_LEN) != CC_ID_LEN) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot read the manifest");
		goto cleanup;
	}
	ret->bytes = (uint64_t)end;
	ret->created_ns = r.hdr.created_ns;
	ret->size = r.hdr.data_bytes;
	ret->files = r.hdr.n_entries;
	ret->n_packs = (size_t)r.hdr.n_packs;
	ret->packs = calloc(ret->n_packs ? ret->n_packs : 1, sizeof(*ret->packs));
	if (!ret->packs) {
		rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
		goto cleanup;
	}
	for (size_t i = 0; i < ret->n_packs; i++)
		memcpy(ret->packs[i], r.packs[i].b, CC_ID_LEN);
	if ((rc = read_patterns(&r, ret, err)))
		goto cleanup;
	/* Chunk records name their frame; consecutive chunks mostly share
	 * one, so only a change of frame is a new row (duplicates from
	 * dedup across the stream are removed after sorting). */
	while (!(rc = mf_next_chunk(&r, &c, &done, err)) && !done) {
		if (n && fr[n - 1].pack == c.frame.pack && fr[n - 1].off == c.frame.off)
			continue;
		if (ARRAY_GROW(fr, alloc, n + 1)) {
			rc = cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
			goto cleanup;
		}
		fr[n].pack = c.frame.pack;
		fr[n].off = c.frame.off;
		fr[n].len = c.frame.clen;
		n++;
	}
	if (rc)
		goto cleanup;
	if (n)
		qsort(fr, n, sizeof(*fr), frame_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || frame_cmp(&fr[k - 1], &fr[i]))
			fr[k++] = fr[i];
	ret->frames = fr;
	ret->n_frames = k;
	fr = NULL;
cleanup:
	mf_close(&r);
	free(fr);
	if (rc)
		cc_summary_release(ret);
	return rc;
}

enum cc_code cc_summary_format(const struct cc_summary *s, struct buf *out, struct cc_err *err)
{
	char hex[CC_ID_HEX_LEN + 1];
	struct cc_id id;
	enum cc_code rc;

	memcpy(id.b, s->manifest, CC_ID_LEN);
	cc_id_hex(&id, hex);
	if ((rc = buf_addf(out, err,
			   "cicache summary 1\nmanifest %s\nbytes %" PRIu64 "\ncreated %" PRId64
			   "\nsize %" PRIu64 "\nfiles %" PRIu64 "\n",
			   hex, s->bytes, s->created_ns, s->size, s->files)))
		return rc;
	for (size_t at = 0, i = 0; i < s->n_patterns; i++) {
		const unsigned char *q = (const unsigned char *)s->patterns.data + at;

		if ((rc = buf_addstr(out, "path ", err)))
			return rc;
		/* %XX for what would break a line or a field: controls,
		 * space, DEL and %; the rest (UTF-8 too) as it is. */
		for (; *q; q++)
			if ((rc = *q <= 0x20 || *q == 0x7f || *q == '%' ?
				  buf_addf(out, err, "%%%02X", *q) : buf_add(out, q, 1, err)))
				return rc;
		if ((rc = buf_addstr(out, "\n", err)))
			return rc;
		at += strlen(s->patterns.data + at) + 1;
	}
	for (size_t i = 0; i < s->n_packs; i++) {
		memcpy(id.b, s->packs[i], CC_ID_LEN);
		cc_id_hex(&id, hex);
		if ((rc = buf_addf(out, err, "pack %s\n", hex)))
			return rc;
	}
	for (size_t i = 0; i < s->n_frames; i++)
		if ((rc = buf_addf(out, err, "frame %" PRIu32 " %" PRIu64 " %" PRIu64 "\n",
				   s->frames[i].pack, s->frames[i].off, s->frames[i].len)))
			return rc;
	return buf_addstr(out, "end\n", err);
}

/* ---- parsing: strict, whole or nothing ---- */

struct lines {
	const char *p, *end;
	char line[16 + 3 * CC_SUMMARY_MAX_PATTERN];
};

/* Next line (without LF) into l->line; false at the end, on a line
 * without LF, or one too long or holding a NUL. */
static bool next_line(struct lines *l)
{
	const char *nl;
	size_t n;

	if (l->p >= l->end || !(nl = memchr(l->p, '\n', (size_t)(l->end - l->p))))
		return false;
	n = (size_t)(nl - l->p);
	if (n >= sizeof(l->line) || memchr(l->p, '\0', n))
		return false;
	memcpy(l->line, l->p, n);
	l->line[n] = '\0';
	l->p = nl + 1;
	return true;
}

/* A decimal number without sign, leading zeros or spaces, ending at
 * *end (which is then past it). */
static bool parse_u64(const char *s, const char **end, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*end = p;
	*ret = v;
	return true;
}

static bool field_u64(const char *line, const char *name, uint64_t *ret)
{
	size_t n = strlen(name);
	const char *end;

	return !strncmp(line, name, n) && line[n] == ' ' && parse_u64(line + n + 1, &end, ret) &&
	       !*end;
}

static bool field_hex(const char *line, const char *name, unsigned char out[16])
{
	size_t n = strlen(name);
	struct cc_id id;
	const char *h = line + n + 1;

	if (strncmp(line, name, n) || line[n] != ' ' || strlen(h) != CC_ID_HEX_LEN)
		return false;
	for (const char *q = h; *q; q++)
		if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')))
			return false;
	if (!cc_id_parse_hex(&id, h))
		return false;
	memcpy(out, id.b, CC_ID_LEN);
	return true;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One "path" line's value: %XX exactly where the writer puts it. */
static bool parse_pattern(const char *p, struct cc_summary *ret, struct cc_err *err)
{
	size_t start = ret->patterns.len, n = 0;

	if (!*p || ret->n_patterns == CC_SUMMARY_MAX_PATTERNS)
		return false;
	for (; *p; p++, n++) {
		unsigned char c = (unsigned char)*p;

		if (c == '%') {
			int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);

			if (l < 0)
				return false;
			c = (unsigned char)(h << 4 | l);
			if (!c || !(c <= 0x20 || c == 0x7f || c == '%'))
				return false;
			p += 2;
		} else if (c <= 0x20 || c == 0x7f) {
			return false;
		}
		if (n == CC_SUMMARY_MAX_PATTERN || buf_add(&ret->patterns, &c, 1, err))
			return false;
	}
	if (buf_add(&ret->patterns, "", 1, err)) {
		ret->patterns.len = start;
		return false;
	}
	ret->n_patterns++;
	return true;
}

enum cc_code cc_summary_parse(const void *p, size_t n, struct cc_summary *ret,
			      struct cc_err *err)
{
	struct lines l = { .p = p, .end = (const char *)p + n };
	size_t pa = 0, fa = 0;
	bool nomem = false;
	uint64_t v;

	memset(ret, 0, sizeof(*ret));
	if (n > CC_SUMMARY_MAX)
		goto cleanup;
	if (!next_line(&l) || strcmp(l.line, "cicache summary 1"))
		goto cleanup;
	if (!next_line(&l) || !field_hex(l.line, "manifest", ret->manifest))
		goto cleanup;
	if (!next_line(&l) || !field_u64(l.line, "bytes", &ret->bytes) ||
	    ret->bytes > MF_MAX_SIZE)
		goto cleanup;
	if (!next_line(&l) || !field_u64(l.line, "created", &v) || v > INT64_MAX)
		goto cleanup;
	ret->created_ns = (int64_t)v;
	if (!next_line(&l) || !field_u64(l.line, "size", &ret->size))
		goto cleanup;
	if (!next_line(&l) || !field_u64(l.line, "files", &ret->files))
		goto cleanup;
	for (;;) {
		if (!next_line(&l))
			goto cleanup;
		if (!strncmp(l.line, "path ", 5)) {
			if (ret->n_packs || ret->n_frames || !parse_pattern(l.line + 5, ret, err))
				goto cleanup;
		} else if (!strncmp(l.line, "pack ", 5)) {
			if (ret->n_frames || ret->n_packs >= CC_SUMMARY_MAX_PACKS)
				goto cleanup;
			if (ARRAY_GROW(ret->packs, pa, ret->n_packs + 1)) {
				nomem = true;
				goto cleanup;
			}
			if (!field_hex(l.line, "pack", ret->packs[ret->n_packs]))
				goto cleanup;
			ret->n_packs++;
		} else if (!strncmp(l.line, "frame ", 6)) {
			struct cc_summary_frame f;
			const char *q = l.line + 6;
			uint64_t pk;

			if (ret->n_frames >= CC_SUMMARY_MAX_FRAMES)
				goto cleanup;
			if (!parse_u64(q, &q, &pk) || *q++ != ' ' || !parse_u64(q, &q, &f.off) ||
			    *q++ != ' ' || !parse_u64(q, &q, &f.len) || *q || pk >= ret->n_packs ||
			    !f.len || f.len > MF_MAX_FRAME || f.off > UINT64_MAX - f.len)
				goto cleanup;
			f.pack = (uint32_t)pk;
			if (ret->n_frames && frame_cmp(&ret->frames[ret->n_frames - 1], &f) >= 0)
				goto cleanup;	/* sorted, distinct */
			if (ARRAY_GROW(ret->frames, fa, ret->n_frames + 1)) {
				nomem = true;
				goto cleanup;
			}
			ret->frames[ret->n_frames++] = f;
		} else if (!strcmp(l.line, "end")) {
			break;
		} else {
			goto cleanup;
		}
	}
	if (l.p != l.end)
		goto cleanup;
	return CC_OK;
cleanup:
	cc_summary_release(ret);
	if (nomem)
		return cc_err_set(err, CC_ENOMEM, ENOMEM, "cannot allocate");
	return cc_err_set(err, CC_ECORRUPT, 0, "malformed entry summary");
}

enum cc_code cc_summary_store(struct store *st, const struct cc_summary *s, struct cc_err *err)
{
	struct buf text = BUF_INIT, tmp = BUF_INIT;
	char name[64];
	enum cc_code rc;
	bool existed = false;
	int fd;

	if ((rc = cc_summary_format(s, &text, err)))
		goto cleanup;
	fd = store_tmpfile(st, &tmp, err);
	if (fd < 0) {
		rc = err->code;
		goto cleanup;
	}
	if (write_all(fd, text.data, text.len)) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
		close(fd);
		goto cleanup;
	}
	if (close(fd)) {
		rc = cc_err_set(err, CC_ESTORE, errno, "cannot write '%s'", tmp.data);
		goto cleanup;
	}
	cc_summary_name(s->manifest, name, sizeof(name));
	rc = st->ops->put(st, name, tmp.data, STORE_PUT_MOVE | STORE_PUT_IF_ABSENT, &existed, err);
cleanup:
	if (tmp.len)
		unlink(tmp.data);
	buf_release(&tmp);
	buf_release(&text);
	return rc;
}

enum cc_code cc_summary_put(struct store *st, int manifest_fd, struct cc_err *err)
{
	struct cc_summary s;
	enum cc_code rc;

	if ((rc = cc_summary_from_manifest(manifest_fd, &s, err)))
		return rc;
	rc = cc_summary_store(st, &s, err);
	cc_summary_release(&s);
	return rc;
}
