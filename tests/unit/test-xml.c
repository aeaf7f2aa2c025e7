/* test-xml.c: the XML reader under every answer of S3, STS and Azure
 * (xml.h): entities and character references, CDATA, the namespaces S3
 * and STS use, fields in the wrong place or nested, records, bounds, and
 * what it refuses (a DOCTYPE, so no entity is ever declared or expanded;
 * a NUL; a document cut short; too deep a nesting). */
#include "harness.h"
#include "../../common/xml.h"

#include <stdlib.h>

/* A string literal and its length. */
#define LIT(s) s, sizeof(s) - 1

/* Reads one field named name (parent may be NULL) of doc into out. */
static enum cc_code one(const char *doc, const char *parent, const char *name, struct buf *out,
			bool *ret_seen, struct cc_err *err)
{
	struct xml_field f = { .parent = parent, .name = name, .text = out };
	enum cc_code rc = xml_get(doc, strlen(doc), &f, 1, err);

	*ret_seen = f.seen;
	return rc;
}

static void test_entities(void)
{
	struct buf b = BUF_INIT;
	struct cc_err err;
	bool seen;

	CHECK_EQ(one("<a>&amp;&lt;&gt;&quot;&apos;</a>", NULL, "a", &b, &seen, &err), CC_OK);
	CHECK(seen);
	CHECK_STR(b.data, "&<>\"'");
	/* Character references, decimal and hex, beyond ASCII too (UTF-8). */
	CHECK_EQ(one("<a>&#33;&#x21;&#xe9;&#8364;&#x1F600;</a>", NULL, "a", &b, &seen, &err), CC_OK);
	CHECK_STR(b.data, "!!\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	/* An entity nobody declared, a character XML forbids, a bare '&'. */
	CHECK_EQ(one("<a>&nbsp;</a>", NULL, "a", &b, &seen, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "not well-formed XML") != NULL);
	CHECK(strstr(err.msg, "undefined entity") != NULL);
	CHECK_EQ(one("<a>&#0;</a>", NULL, "a", &b, &seen, &err), CC_ESTORE);
	CHECK_EQ(one("<a>&#1;</a>", NULL, "a", &b, &seen, &err), CC_ESTORE);
	CHECK_EQ(one("<a>a & b</a>", NULL, "a", &b, &seen, &err), CC_ESTORE);
	CHECK(!seen);
	/* A raw NUL cannot be in XML: refused, never a text cut short. */
	{
		static const char nul[] = "<a>x\0y</a>";
		struct xml_field f = { .name = "a", .text = &b };

		CHECK_EQ(xml_get(nul, sizeof(nul) - 1, &f, 1, &err), CC_ESTORE);
		CHECK(!f.seen);
	}
	buf_release(&b);
}

static void test_cdata_and_text(void)
{
	struct buf b = BUF_INIT;
	struct cc_err err;
	bool seen;

	CHECK_EQ(one("<a>x<![CDATA[<b>&amp;</b>]]>y</a>", NULL, "a", &b, &seen, &err), CC_OK);
	CHECK_STR(b.data, "x<b>&amp;</b>y");
	/* Whitespace is kept as written; comments and PIs are not text. */
	CHECK_EQ(one("<a> 1 <!-- c --><?pi x?>\n</a>", NULL, "a", &b, &seen, &err), CC_OK);
	CHECK_STR(b.data, " 1 \n");
	/* Empty: seen, with no text. */
	CHECK_EQ(one("<r><a/></r>", NULL, "a", &b, &seen, &err), CC_OK);
	CHECK(seen);
	CHECK_EQ(b.len, 0);
	/* The text of the descendants counts (XPath's string value). */
	CHECK_EQ(one("<a>x<i>y</i>z</a>", NULL, "a", &b, &seen, &err), CC_OK);
	CHECK_STR(b.data, "xyz");
	/* Line ends are normalized by XML: \r\n reads as \n. */
	CHECK_EQ(one("<a>x\r\ny</a>", NULL, "a", &b, &seen, &err), CC_OK);
	CHECK_STR(b.data, "x\ny");
	buf_release(&b);
}

static void test_namespaces(void)
{
	struct buf b = BUF_INIT;
	struct cc_err err;
	bool seen;

	/* S3's and STS's default namespace. */
	CHECK_EQ(one("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		     "<Contents><Key>k</Key></Contents></ListBucketResult>",
		     "Contents", "Key", &b, &seen, &err), CC_OK);
	CHECK(seen);
	CHECK_STR(b.data, "k");
	/* A declared prefix: known by the local name. */
	CHECK_EQ(one("<s3:R xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		     "<s3:Key>k2</s3:Key></s3:R>", "R", "Key", &b, &seen, &err), CC_OK);
	CHECK_STR(b.data, "k2");
	/* An undeclared prefix is not namespace-well-formed. */
	CHECK_EQ(one("<s3:Key>k</s3:Key>", NULL, "Key", &b, &seen, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "unbound prefix") != NULL);
	/* Attributes do not hide an element. */
	CHECK_EQ(one("<Key a=\"1\" xmlns:x=\"u\" x:b=\"2\">v</Key>", NULL, "Key", &b, &seen, &err),
		 CC_OK);
	CHECK_STR(b.data, "v");
	buf_release(&b);
}

static void test_placement(void)
{
	struct buf k = BUF_INIT, c = BUF_INIT;
	struct cc_err err;
	bool seen;

	/* The first match wins; one in the wrong parent does not match. */
	CHECK_EQ(one("<r><x><Key>no</Key></x><C><Key>1</Key><Key>2</Key></C></r>", "C", "Key", &k,
		     &seen, &err), CC_OK);
	CHECK_STR(k.data, "1");
	CHECK_EQ(one("<r><x><Key>no</Key></x></r>", "C", "Key", &k, &seen, &err), CC_OK);
	CHECK(!seen);
	/* Nested in itself: the outer one, with all its text. */
	CHECK_EQ(one("<Key>a<Key>b</Key>c</Key>", NULL, "Key", &k, &seen, &err), CC_OK);
	CHECK_STR(k.data, "abc");
	/* While one field takes text, the elements inside it match no other. */
	{
		struct xml_field f[2] = {
			{ .name = "Message", .text = &k }, { .name = "Code", .text = &c },
		};
		static const char doc[] = "<E><Message>m<Code>in</Code></Message><Code>X</Code></E>";

		CHECK_EQ(xml_get(doc, sizeof(doc) - 1, f, 2, &err), CC_OK);
		CHECK_STR(k.data, "min");
		CHECK_STR(c.data, "X");
	}
	/* Misplaced and mismatched tags are refused. */
	CHECK_EQ(one("<a><b></a></b>", NULL, "a", &k, &seen, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "mismatched tag") != NULL);
	CHECK_EQ(one("<a>1</a><a>2</a>", NULL, "a", &k, &seen, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "junk after document element") != NULL);
	CHECK(seen);	/* ... what came before the fault stays */
	CHECK_STR(k.data, "1");
	CHECK_EQ(one("", NULL, "a", &k, &seen, &err), CC_ESTORE);
	CHECK_EQ(one("not xml", NULL, "a", &k, &seen, &err), CC_ESTORE);
	buf_release(&k);
	buf_release(&c);
}

/* A DOCTYPE is refused before anything in it is read: no entity can be
 * declared, so none is expanded (the billion laughs, an external file). */
static void test_doctype(void)
{
	static const char *const docs[] = {
		"<!DOCTYPE a><a>x</a>",
		"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		"<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
		"<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
		"<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
		"]><a>&lol3;</a>",
		"<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>",
		"<!DOCTYPE a SYSTEM \"http://127.0.0.1:1/a.dtd\"><a>x</a>",
		"<!DOCTYPE a [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><a>x</a>",
	};
	struct buf b = BUF_INIT;
	struct cc_err err;
	bool seen;

	for (size_t i = 0; i < sizeof(docs) / sizeof(*docs); i++) {
		CHECK_EQ(one(docs[i], NULL, "a", &b, &seen, &err), CC_ESTORE);
		CHECK_STR(err.msg, "the answer has a DOCTYPE, refused");
		CHECK(!seen);
		CHECK_EQ(b.len, 0);
	}
	buf_release(&b);
}

/* Cut anywhere, a document is refused, read within its bounds; the
 * fields closed before the cut keep their text. */
static void test_truncated(void)
{
	static const char doc[] =
		"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone &amp; lost"
		"</Message></Error>";
	static const char *const code_end = "</Code>";
	struct buf c, m;
	struct cc_err err;
	size_t code_done = (size_t)(strstr(doc, code_end) - doc) + strlen(code_end);

	buf_init(&c, 64);
	buf_init(&m, 64);
	for (size_t n = 0; n <= sizeof(doc) - 1; n++) {
		char *copy = malloc(n ? n : 1);
		struct xml_field f[2] = {
			{ .parent = "Error", .name = "Code", .text = &c },
			{ .parent = "Error", .name = "Message", .text = &m },
		};

		memcpy(copy, doc, n);
		CHECK_EQ(xml_get(copy, n, f, 2, &err), n == sizeof(doc) - 1 ? CC_OK : CC_ESTORE);
		CHECK_EQ(f[0].seen, n >= code_done);
		if (f[0].seen)
			CHECK_STR(c.data, "NoSuchKey");
		free(copy);
	}
	buf_release(&c);
	buf_release(&m);
}

static void test_bounds(void)
{
	struct buf b;
	struct cc_err err;
	bool seen;
	char deep[4 * (CC_XML_DEPTH_MAX + 1) + 8], *p = deep;

	/* A text past its buf's max is refused, or cut when asked. */
	buf_init(&b, 4);
	CHECK_EQ(one("<a>1234</a>", NULL, "a", &b, &seen, &err), CC_OK);
	CHECK_STR(b.data, "1234");
	CHECK_EQ(one("<a>12345</a>", NULL, "a", &b, &seen, &err), CC_ESTORE);
	CHECK_STR(err.msg, "the answer's <a> is longer than 4 bytes");
	{
		struct xml_field f = { .name = "a", .text = &b, .cut = true };

		CHECK_EQ(xml_get(LIT("<a>12&amp;456</a>"), &f, 1, &err), CC_OK);
		CHECK(f.seen);
		CHECK_STR(b.data, "12&4");
	}
	buf_release(&b);
	/* Nesting: CC_XML_DEPTH_MAX is fine, one more is refused. */
	buf_init(&b, 64);
	for (int i = 0; i < CC_XML_DEPTH_MAX; i++)
		p += sprintf(p, "<a>");
	*p = '\0';
	CHECK_EQ(one(deep, NULL, "zz", &b, &seen, &err), CC_ESTORE);	/* unclosed */
	CHECK(strstr(err.msg, "not well-formed") != NULL);
	p += sprintf(p, "<a>");
	CHECK_EQ(one(deep, NULL, "zz", &b, &seen, &err), CC_ESTORE);
	CHECK_STR(err.msg, "the answer nests elements deeper than 64");
	buf_release(&b);
}

struct rec {
	struct buf key, top;
	struct xml_field f[2];
	char seen[4][16];
	size_t n, stop_after;
};

static int each(void *ctx)
{
	struct rec *r = ctx;

	if (r->n < 4)
		snprintf(r->seen[r->n], sizeof(r->seen[0]), "%s", r->f[0].seen ? r->key.data : "-");
	r->n++;
	return r->stop_after && r->n >= r->stop_after;
}

static void test_records(void)
{
	static const char doc[] =
		"<L><T>yes</T><C><K>a</K><K>dup</K></C><C><x><K>no</K></x></C>"
		"<K>outside</K><C><C><K>in</K></C></C><C><K>d</K></C></L>";
	struct rec r = { 0 };
	struct cc_err err;

	buf_init(&r.key, 64);
	buf_init(&r.top, 64);
	r.f[0] = (struct xml_field){ .parent = "C", .name = "K", .text = &r.key };
	r.f[1] = (struct xml_field){ .parent = "L", .name = "T", .text = &r.top };
	CHECK_EQ(xml_each(doc, sizeof(doc) - 1, "C", r.f, 2, each, &r, &err), CC_OK);
	CHECK_EQ(r.n, 4);
	CHECK_STR(r.seen[0], "a");
	CHECK_STR(r.seen[1], "-");	/* reset between records */
	CHECK_STR(r.seen[2], "in");	/* records do not nest */
	CHECK_STR(r.seen[3], "d");
	CHECK(r.f[1].seen);
	CHECK_STR(r.top.data, "yes");
	/* fn stops the reading: the rest, even if broken, is not read. */
	{
		static const char broken[] = "<L><C><K>a</K></C><C><K>b</K></C><C></L>";

		memset(r.seen, 0, sizeof(r.seen));
		r.n = 0;
		r.stop_after = 2;
		CHECK_EQ(xml_each(broken, sizeof(broken) - 1, "C", r.f, 2, each, &r, &err), CC_OK);
		CHECK_EQ(r.n, 2);
		r.stop_after = 0;
		r.n = 0;
		CHECK_EQ(xml_each(broken, sizeof(broken) - 1, "C", r.f, 2, each, &r, &err),
			 CC_ESTORE);
		CHECK_EQ(r.n, 2);
	}
	buf_release(&r.key);
	buf_release(&r.top);
}

static void test_errors(void)
{
	static const char s3[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch"
		"</Code><Message>The request signature &amp; \xc3\xa9</Message></Error>";
	static const char sts[] =
		"<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
		"<Type>Sender</Type><Code>IDPCommunicationError</Code><Message>m</Message>"
		"</Error></ErrorResponse>";
	char code[32], msg[64];

	xml_error_words(s3, sizeof(s3) - 1, code, sizeof(code), msg, sizeof(msg));
	CHECK_STR(code, "SignatureDoesNotMatch");
	CHECK_STR(msg, "The request signature & ??");
	xml_error_words(sts, sizeof(sts) - 1, code, sizeof(code), msg, sizeof(msg));
	CHECK_STR(code, "IDPCommunicationError");
	CHECK_STR(msg, "m");
	/* A Code outside an Error is not an error's code. */
	xml_error_words(LIT("<R><Code>X</Code></R>"), code, sizeof(code), msg, sizeof(msg));
	CHECK_STR(code, "");
	/* HTML from a proxy, and nothing at all. */
	xml_error_words(LIT("<!DOCTYPE html><html><Error><Code>X</Code></Error></html>"), code,
			sizeof(code), msg, sizeof(msg));
	CHECK_STR(code, "");
	xml_error_words("", 0, code, sizeof(code), msg, sizeof(msg));
	CHECK_STR(code, "");
	CHECK_STR(msg, "");
	/* Output of one byte: always terminated. */
	xml_error_words(s3, sizeof(s3) - 1, code, 1, msg, 1);
	CHECK_STR(code, "");

	CHECK(xml_error_is(s3, sizeof(s3) - 1, "SignatureDoesNotMatch"));
	CHECK(!xml_error_is(s3, sizeof(s3) - 1, "SignatureDoesNot"));
	CHECK(!xml_error_is(s3, sizeof(s3) - 1, "SignatureDoesNotMatchX"));
	CHECK(xml_error_is(sts, sizeof(sts) - 1, "IDPCommunicationError"));
	/* A body cut after the Code still names it; one cut inside does not. */
	CHECK(xml_error_is(LIT("<Error><Code>RequestTimeout</Code>"), "RequestTimeout"));
	CHECK(!xml_error_is(LIT("<Error><Code>Request"), "Request"));

	CHECK(xml_has(LIT("<?xml version=\"1.0\"?>\n\n<Error><Code>InternalError</Code></Error>"),
		      "Error"));
	CHECK(xml_has(LIT("<Error>"), "Error"));
	CHECK(!xml_has(LIT("<Error"), "Error"));
	CHECK(!xml_has(LIT("<CompleteMultipartUploadResult><ETag>x</ETag>"
			   "</CompleteMultipartUploadResult>"), "Error"));
}

int main(void)
{
	RUN(test_entities);
	RUN(test_cdata_and_text);
	RUN(test_namespaces);
	RUN(test_placement);
	RUN(test_doctype);
	RUN(test_truncated);
	RUN(test_bounds);
	RUN(test_records);
	RUN(test_errors);
	return test_summary();
}
