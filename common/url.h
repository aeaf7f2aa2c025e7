/* url.h: URLs as messages may show them.
 *
 * Userinfo ("user:password@"), query and fragment can each carry a
 * credential: a password in AWS_ENDPOINT_URL, a token in
 * AWS_CONTAINER_CREDENTIALS_FULL_URI, a signature in a signed blob URL.
 * A message keeps only scheme, host, port and path.  This is the one
 * place that rule is written: every error, warning and -v line that may
 * show a URL goes through it (cc_err_set, cc_err_prefix and cc_log run
 * url_redact_text on each message; the programs do it again on all they
 * print).
 */
#ifndef CC_URL_H
#define CC_URL_H

#include <stddef.h>

/* Writes url without userinfo, query and fragment into out (outsz > 0
 * bytes, NUL-terminated, cut to fit after the redaction).  A missing scheme is allowed
 * ("user:pass@host:9000/x" gives "host:9000/x"); whatever follows
 * whitespace is redacted as url_redact_text does.  @return out. */
const char *url_redact(char *out, size_t outsz, const char *url);

/* Redacts, in place, every URL in msg: each "scheme://" and the rest of
 * its word.  Punctuation that closes the word (a quote, ':', ',') stays,
 * so "cannot GET 'https://h/p?sig=x': HTTP 403" becomes
 * "cannot GET 'https://h/p': HTTP 403". */
void url_redact_text(char *msg);

#endif
