/* xml.c: expat under the readers of S3, STS and Azure answers (xml.h). */
#include "xml.h"

#include <ctype.h>
#include <expat.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Expat is fed at most this much per call (its length is an int). */
#define CHUNK (1u << 20)
/* Expanded names arrive as "URI\1local" (no XML character is \1). */
#define NS_SEP '\1'

struct reader {
	XML_Parser p;
	const char *record;
	struct xml_field *f;
	size_t n;
	xml_record_fn fn;
	void *ctx;
	/* The local names of the open elements; a name longer than
	 * CC_XML_NAME_MAX is kept as "" (it matches no field). */
	char open[CC_XML_DEPTH_MAX][CC_XML_NAME_MAX + 1];
	size_t depth;
	size_t in_record;	/* depth of the open record, 0 when none */
	size_t taking;		/* index + 1 of the field taking text, 0 when none */
	size_t taking_depth;
	bool stopped;		/* by fn */
	enum cc_code rc;	/* a fault of ours (DOCTYPE, depth, a text too long) */
	struct cc_err *err;
};

/* ---- Memory: the answers hold secrets (STS), so expat's buffers are
 * wiped before they go back to malloc.  Each block carries its size. */

#define HDR _Alignof(max_align_t)

static void *wipe_malloc(size_t n)
{
	char *p;

	if (n > SIZE_MAX - HDR || !(p = malloc(n + HDR)))
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static size_t wipe_size(void *q)
{
	size_t n;

	memcpy(&n, (char *)q - HDR, sizeof(n));
	return n;
}

static void wipe_free(void *q)
{
	if (q) {
		OPENSSL_cleanse((char *)q - HDR, wipe_size(q) + HDR);
		free((char *)q - HDR);
	}
}

static void *wipe_realloc(void *q, size_t n)
{
	void *r;
	size_t old;

	if (!q)
		return wipe_malloc(n);
	if (!(r = wipe_malloc(n)))
		return NULL;
	old = wipe_size(q);
	memcpy(r, q, old < n ? old : n);
	wipe_free(q);
	return r;
}

static const XML_Memory_Handling_Suite wipe_suite = { wipe_malloc, wipe_realloc, wipe_free };

/* ---- Handlers. */

/* Ends the reading with rc (err already set).  Expat may still call a
 * handler or two after a stop: each returns at once when done() says so. */
static void fault(struct reader *r, enum cc_code rc)
{
	r->rc = rc;
	XML_StopParser(r->p, XML_FALSE);
}

static bool done(const struct reader *r)
{
	return r->rc || r->stopped;
}

static const char *local_name(const XML_Char *name)
{
	const char *sep = strrchr(name, NS_SEP);

	return sep ? sep + 1 : name;
}

static bool record_field(const struct reader *r, const struct xml_field *f)
{
	return r->record && f->parent && !strcmp(f->parent, r->record);
}

static void XMLCALL on_start(void *ud, const XML_Char *qname, const XML_Char **attrs)
{
	struct reader *r = ud;
	const char *name = local_name(qname), *parent = r->depth ? r->open[r->depth - 1] : NULL;
	size_t len = strlen(name);

	if (done(r))
		return;
	if (r->depth == CC_XML_DEPTH_MAX) {
		fault(r, cc_err_set(r->err, CC_ESTORE, 0, "the answer nests elements deeper than %d",
				    CC_XML_DEPTH_MAX));
		return;
	}
	memcpy(r->open[r->depth], name, len <= CC_XML_NAME_MAX ? len + 1 : 1);
	r->open[r->depth][len <= CC_XML_NAME_MAX ? len : 0] = '\0';
	r->depth++;
	if (r->record && !r->in_record && !strcmp(name, r->record)) {
		r->in_record = r->depth;
		for (size_t i = 0; i < r->n; i++) {
			if (record_field(r, &r->f[i])) {
				r->f[i].seen = false;
				if (r->f[i].text)
					buf_reset(r->f[i].text);
			}
		}
	}
	if (r->taking)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct xml_field *f = &r->f[i];

		if (f->seen || strcmp(f->name, name) ||
		    (f->parent && (!parent || strcmp(f->parent, parent))) ||
		    (record_field(r, f) && !r->in_record))
			continue;
		if (!f->text) {
			f->seen = true;
		} else if (!r->taking) {
			buf_reset(f->text);
			r->taking = i + 1;
			r->taking_depth = r->depth;
		}
	}
}

static void XMLCALL on_end(void *ud, const XML_Char *qname)
{
	struct reader *r = ud;

	if (done(r))
		return;
	if (r->taking && r->depth == r->taking_depth) {
		r->f[r->taking - 1].seen = true;
		r->taking = 0;
	}
	if (r->in_record && r->depth == r->in_record) {
		r->in_record = 0;
		if (r->fn(r->ctx)) {
			r->stopped = true;
			XML_StopParser(r->p, XML_FALSE);
		}
	}
	r->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct reader *r = ud;
	struct xml_field *f;
	size_t n = (size_t)len, room;

	if (done(r) || !r->taking)
		return;
	f = &r->f[r->taking - 1];
	room = f->text->max ? f->text->max - f->text->len : n;
	if (f->cut && n > room)
		n = room;
	if (f->text->max && n > room) {
		fault(r, cc_err_set(r->err, CC_ESTORE, 0,
				    "the answer's <%s> is longer than %zu bytes", f->name,
				    f->text->max));
		return;
	}
	if (buf_add(f->text, s, n, r->err))
		fault(r, CC_ENOMEM);
}

/* A DOCTYPE could declare entities (the billion laughs) or fetch an
 * external subset: no answer we read has one, so it ends the reading
 * before anything in it is read. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	struct reader *r = ud;

	if (!done(r))
		fault(r, cc_err_set(r->err, CC_ESTORE, 0, "the answer has a DOCTYPE, refused"));
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param,
			      const XML_Char *value, int value_len, const XML_Char *base,
			      const XML_Char *sysid, const XML_Char *pubid,
			      const XML_Char *notation)
{
	struct reader *r = ud;

	if (!done(r))
		fault(r, cc_err_set(r->err, CC_ESTORE, 0, "the answer declares an entity, refused"));
}

static enum cc_code xml_read(const char *body, size_t len, const char *record,
			     struct xml_field *fields, size_t n, xml_record_fn fn, void *ctx,
			     struct cc_err *err)
{
	static const XML_Char sep[] = { NS_SEP, '\0' };
	struct reader *r = NULL;
	enum cc_code rc = CC_OK;
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		fields[i].seen = false;
		if (fields[i].text)
			buf_reset(fields[i].text);
	}
	if (!(r = calloc(1, sizeof(*r))) || !(r->p = XML_ParserCreate_MM(NULL, &wipe_suite, sep))) {
		rc = cc_err_set(err, CC_ENOMEM, 0, "cannot allocate an XML parser");
		goto cleanup;
	}
	r->record = record;
	r->f = fields;
	r->n = n;
	r->fn = fn;
	r->ctx = ctx;
	r->err = err;
	XML_SetUserData(r->p, r);
	XML_SetElementHandler(r->p, on_start, on_end);
	XML_SetCharacterDataHandler(r->p, on_text);
	XML_SetStartDoctypeDeclHandler(r->p, on_doctype);
	XML_SetEntityDeclHandler(r->p, on_entity);
	XML_SetParamEntityParsing(r->p, XML_PARAM_ENTITY_PARSING_NEVER);
	for (;;) {
		size_t k = len - off < CHUNK ? len - off : CHUNK;
		bool last = off + k == len;

		if (XML_Parse(r->p, body + off, (int)k, last) != XML_STATUS_OK) {
			if (r->stopped)
				break;
			if ((rc = r->rc))
				goto cleanup;
			rc = cc_err_set(err, CC_ESTORE, 0,
					"the answer is not well-formed XML (line %lu, column %lu: %s)",
					(unsigned long)XML_GetCurrentLineNumber(r->p),
					(unsigned long)XML_GetCurrentColumnNumber(r->p) + 1,
					XML_ErrorString(XML_GetErrorCode(r->p)));
			goto cleanup;
		}
		off += k;
		if (last)
			break;
	}
cleanup:
	if (r && r->p)
		XML_ParserFree(r->p);
	free(r);
	return rc;
}

enum cc_code xml_get(const char *body, size_t len, struct xml_field *fields, size_t n,
		     struct cc_err *err)
{
	return xml_read(body, len, NULL, fields, n, NULL, NULL, err);
}

enum cc_code xml_each(const char *body, size_t len, const char *record,
		      struct xml_field *fields, size_t n, xml_record_fn fn, void *ctx,
		      struct cc_err *err)
{
	return xml_read(body, len, record, fields, n, fn, ctx, err);
}

bool xml_has(const char *body, size_t len, const char *name)
{
	struct xml_field f = { .name = name };

	xml_get(body, len, &f, 1, NULL);
	return f.seen;
}

/* Copies a text into out (n > 0 bytes), cut to fit, non-printable bytes as '?'. */
static void printable_copy(char *out, size_t n, const struct xml_field *f)
{
	size_t k = 0;

	if (f->seen) {
		k = f->text->len < n - 1 ? f->text->len : n - 1;
		for (size_t i = 0; i < k; i++)
			out[i] = isprint((unsigned char)f->text->data[i]) ? f->text->data[i] : '?';
	}
	out[k] = '\0';
}

void xml_error_words(const char *body, size_t len, char *code, size_t ncode, char *msg,
		     size_t nmsg)
{
	struct buf c, m;
	struct xml_field f[2] = {
		{ .parent = "Error", .name = "Code", .text = &c, .cut = true },
		{ .parent = "Error", .name = "Message", .text = &m, .cut = true },
	};

	buf_init(&c, ncode);	/* bounded, and cut to n - 1 below */
	buf_init(&m, nmsg);
	xml_get(body, len, f, 2, NULL);	/* what came before a fault is good enough */
	printable_copy(code, ncode, &f[0]);
	printable_copy(msg, nmsg, &f[1]);
	buf_release(&c);
	buf_release(&m);
}

bool xml_error_is(const char *body, size_t len, const char *code)
{
	size_t n = strlen(code);
	struct buf c;
	struct xml_field f = { .parent = "Error", .name = "Code", .text = &c, .cut = true };
	bool is;

	buf_init(&c, n + 1);	/* one more: a longer code is not this one */
	xml_get(body, len, &f, 1, NULL);
	is = f.seen && c.len == n && !memcmp(c.data, code, n);
	buf_release(&c);
	return is;
}
