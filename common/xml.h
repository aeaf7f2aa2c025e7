/* xml.h: the one reader of the XML answers of S3, STS and Azure blob
 * storage, on top of expat.  Every answer is untrusted input: a document
 * with a DOCTYPE is refused (so no entity can be declared, and none
 * expanded: only the five predefined ones and character references are
 * decoded), nesting deeper than CC_XML_DEPTH_MAX is refused, and each
 * text kept is bounded by the max of the buf that receives it.  Elements
 * are known by their local name: a namespace (S3's and STS's default
 * xmlns, or a declared prefix) is resolved by expat and then ignored.
 * A text never holds a NUL (XML cannot carry one). */
#ifndef CC_XML_H
#define CC_XML_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"

#define CC_XML_DEPTH_MAX 64	/* elements open at once */
#define CC_XML_NAME_MAX 63	/* longest name a field or record may have */

/* An element the reader wants.  The caller fills parent, name, text and
 * cut; the reader sets seen. */
struct xml_field {
	const char *parent;	/* the element it sits directly in; NULL: anywhere */
	const char *name;
	/* Receives its text (of its descendants too, CDATA included,
	 * entities decoded), emptied first; valid when seen.  NULL: only
	 * note that the element is there (seen at its start tag). */
	struct buf *text;
	bool cut;		/* a text past text->max is cut there, not refused */
	bool seen;		/* found, its end tag read */
};

/* Fills each field from the first element of the document (body, len
 * bytes) that matches it.  While one field takes text, the elements inside
 * it match no other field.  @return CC_OK for a well-formed document;
 * CC_ESTORE ("the answer is not well-formed XML (line L, column C: why)",
 * "the answer has a DOCTYPE", a text longer than its max, deeper than
 * CC_XML_DEPTH_MAX); CC_ENOMEM.  On failure the fields seen before the
 * fault keep their text: a reader that only words an error may use them. */
enum cc_code xml_get(const char *body, size_t len, struct xml_field *fields, size_t n,
		     struct cc_err *err);

/* Called at the end of each record.  @return non-zero to stop reading. */
typedef int (*xml_record_fn)(void *ctx);

/* As xml_get, for a document holding records (elements named record,
 * e.g. S3's Contents): the fields whose parent is record are emptied and
 * unseen at each record's start, match only inside it, and fn(ctx) is
 * called at its end; the other fields are matched once in the whole
 * document, as by xml_get.  Records do not nest (one inside another is an
 * ordinary element).  A stop by fn returns CC_OK, the rest unread. */
enum cc_code xml_each(const char *body, size_t len, const char *record,
		      struct xml_field *fields, size_t n, xml_record_fn fn, void *ctx,
		      struct cc_err *err);

/* Whether an element named name starts in body before any fault. */
bool xml_has(const char *body, size_t len, const char *name);

/* The Code and Message of an error answer (<Error><Code>..</Code>
 * <Message>..</Message>, at any depth: S3, STS's ErrorResponse, Azure)
 * into code and msg (ncode, nmsg > 0 bytes), cut to fit, non-printable
 * bytes as '?'; "" for what the answer does not name.  A body cut short
 * (or not XML past some point) still gives what came before. */
void xml_error_words(const char *body, size_t len, char *code, size_t ncode, char *msg,
		     size_t nmsg);

/* Whether body is an error answer whose Code is code. */
bool xml_error_is(const char *body, size_t len, const char *code);

#endif
