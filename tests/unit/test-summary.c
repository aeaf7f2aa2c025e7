/* test-summary.c: entry summaries (summary.h): built from a manifest,
 * formatted, parsed back; every malformation is refused whole. */
#include "harness.h"
#include "../../common/manifest.h"
#include "../../common/summary.h"
#include "../../common/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A manifest of one file whose chunks lie in frames of two packs, one
 * frame used twice (dedup) and frames out of order. */
static int make_manifest(void)
{
	struct mf_writer w;
	struct mf_entry e;
	struct cc_id packs[2];
	struct cc_err err = { 0 };
	int fd = tmpfile_unnamed("/tmp");
	static const struct { uint32_t pack; uint64_t off; uint32_t clen; } fr[] = {
		{ 1, 500, 40 }, { 0, 8, 30 }, { 1, 500, 40 }, { 0, 100, 20 },
	};

	CHECK(fd >= 0);
	memset(packs[0].b, 0xaa, 16);
	memset(packs[1].b, 0x0b, 16);
	CHECK_EQ(mf_writer_init(&w, &err), CC_OK);
	CHECK_EQ(mf_add_pattern(&w, "data", &err), CC_OK);
	CHECK_EQ(mf_add_pattern(&w, "!data/a b%\tc", &err), CC_OK);
	CHECK_EQ(mf_add_root(&w, "data", &err), CC_OK);
	mf_entry_init(&e);
	e.type = MF_DIR;
	e.mode = 0755;
	CHECK_EQ(mf_add_entry(&w, &e, &err), CC_OK);
	e.type = MF_FILE;
	buf_addstr(&e.path, "f", &err);
	e.mode = 0644;
	e.size = 400;
	CHECK_EQ(mf_add_entry(&w, &e, &err), CC_OK);
	for (size_t i = 0; i < 4; i++) {
		struct mf_chunk c = { 0 };

		memset(c.id.b, (int)i + 1, 16);
		c.frame.pack = fr[i].pack;
		c.frame.codec = 1;
		c.frame.off = fr[i].off;
		c.frame.clen = fr[i].clen;
		c.frame.ulen = 100;
		c.off = 0;
		c.len = 100;
		CHECK_EQ(mf_add_chunk(&w, &c, &err), CC_OK);
	}
	CHECK_EQ(mf_writer_finish(&w, "k", 1234567890123, packs, 2, fd, &err), CC_OK);
	if (err.msg[0])
		printf("# %s\n", err.msg);
	mf_writer_release(&w);
	mf_entry_release(&e);
	return fd;
}

static void test_roundtrip(void)
{
	struct cc_summary s, t;
	struct cc_err err = { 0 };
	struct buf text = BUF_INIT, again = BUF_INIT;
	unsigned char ck[16];
	int fd = make_manifest();
	off_t end = lseek(fd, 0, SEEK_END);

	CHECK_EQ(cc_summary_from_manifest(fd, &s, &err), CC_OK);
	CHECK_EQ(pread(fd, ck, 16, end - 16), 16);
	CHECK(!memcmp(s.manifest, ck, 16));
	CHECK_EQ(s.bytes, end);
	CHECK_EQ(s.created_ns, 1234567890123);
	CHECK_EQ(s.size, 400);
	CHECK_EQ(s.files, 2);
	CHECK_EQ(s.n_packs, 2);
	CHECK_EQ(s.n_patterns, 2);
	CHECK_STR(s.patterns.data, "data");
	CHECK_STR(s.patterns.data + 5, "!data/a b%\tc");
	/* distinct, sorted by (pack, offset) */
	CHECK_EQ(s.n_frames, 3);
	CHECK_EQ(s.frames[0].pack, 0);
	CHECK_EQ(s.frames[0].off, 8);
	CHECK_EQ(s.frames[0].len, 30);
	CHECK_EQ(s.frames[1].off, 100);
	CHECK_EQ(s.frames[2].pack, 1);
	CHECK_EQ(s.frames[2].len, 40);
	CHECK_EQ(cc_summary_format(&s, &text, &err), CC_OK);
	CHECK(!strncmp(text.data, "cicache summary 1\nmanifest ", 27));
	CHECK(strstr(text.data, "\nfiles 2\npath data\npath !data/a%20b%25%09c\npack ") != NULL);
	CHECK(strstr(text.data, "\npack aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\npack 0b0b0b0b") != NULL);
	CHECK(strstr(text.data, "\nframe 0 8 30\nframe 0 100 20\nframe 1 500 40\nend\n") != NULL);
	CHECK_EQ(cc_summary_parse(text.data, text.len, &t, &err), CC_OK);
	CHECK_EQ(cc_summary_format(&t, &again, &err), CC_OK);
	CHECK_STR(again.data, text.data);
	cc_summary_release(&t);
	cc_summary_release(&s);
	buf_release(&text);
	buf_release(&again);
	close(fd);
}

static void test_bad_manifest(void)
{
	struct cc_summary s;
	struct cc_err err = { 0 };
	int fd = make_manifest();

	CHECK_EQ(pwrite(fd, "X", 1, 140), 1);
	CHECK_EQ(cc_summary_from_manifest(fd, &s, &err), CC_ECORRUPT);
	close(fd);
}

static const char good[] =
	"cicache summary 1\n"
	"manifest 0123456789abcdef0123456789abcdef\n"
	"bytes 500\ncreated 7\nsize 10\nfiles 1\n"
	"path ~/.npm\npath a%20b\n"
	"pack aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	"frame 0 8 30\nframe 0 40 2\nend\n";

static void refused(const char *from, const char *to)
{
	struct cc_summary s;
	struct cc_err err = { 0 };
	char buf[1024];
	const char *p = strstr(good, from);
	size_t n;

	CHECK(p != NULL);
	if (!p)
		return;
	n = (size_t)snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - good), good, to,
			     p + strlen(from));
	if (cc_summary_parse(buf, n, &s, &err) != CC_ECORRUPT) {
		printf("#   accepted with '%s' -> '%s'\n", from, to);
		harness_cur_failed = 1;
		cc_summary_release(&s);
	}
	CHECK(s.packs == NULL && s.frames == NULL);
}

static void test_parse_strict(void)
{
	struct cc_summary s;
	struct cc_err err = { 0 };

	CHECK_EQ(cc_summary_parse(good, strlen(good), &s, &err), CC_OK);
	CHECK_EQ(s.n_frames, 2);
	CHECK_EQ(s.n_patterns, 2);
	CHECK_STR(s.patterns.data + 7, "a b");
	cc_summary_release(&s);
	refused("summary 1", "summary 2");
	refused("0123456789abcdef0123", "0123456789ABCDEF0123");	/* lowercase only */
	refused("bytes 500", "bytes 0500");
	refused("bytes 500", "bytes -5");
	refused("size 10", "size 99999999999999999999");
	refused("frame 0 40 2", "frame 1 40 2");	/* no pack 1 */
	refused("frame 0 40 2", "frame 0 8 30");	/* duplicate */
	refused("frame 0 8 30\nframe 0 40 2", "frame 0 40 2\nframe 0 8 30");	/* unsorted */
	refused("frame 0 40 2", "frame 0 40 0");	/* empty */
	refused("frame 0 40 2", "frame 0 40 2 ");
	refused("end\n", "end");
	refused("end\n", "end\nextra\n");
	refused("files 1\n", "");
	refused("pack aaaa", "pack  aaaa");
	refused("frame 0 8 30\n", "frame 0 8 30\npack bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n");
	refused("path a%20b", "path a b");		/* a blank unescaped */
	refused("path a%20b", "path a%2");		/* a cut escape */
	refused("path a%20b", "path a%00b");	/* NUL */
	refused("path a%20b", "path a%41b");	/* escaped where the writer does not */
	refused("path a%20b", "path a%2fb");	/* lowercase hex */
	refused("path a%20b", "path ");		/* empty */
	refused("frame 0 8 30\n", "frame 0 8 30\npath x\n");	/* after the packs */
}

int main(void)
{
	RUN(test_roundtrip);
	RUN(test_bad_manifest);
	RUN(test_parse_strict);
	return test_summary();
}
