#include "url.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS " \t\r\n\v\f"

static bool scheme_char(char c)
{
	return isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.';
}

/* @return the length of "scheme://" at s, 0 if s does not start so. */
static size_t scheme_len(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char)s[0]))
		return 0;
	while (scheme_char(s[n]))
		n++;
	return strncmp(s + n, "://", 3) ? 0 : n + 3;
}

/* Redacts the URL at s (scheme optional), which ends at the first
 * whitespace, and moves the rest of the string up.  @return where the
 * rest now starts. */
static char *redact_at(char *s)
{
	char *auth = s + scheme_len(s), *end, *at = NULL, *w = auth, *r;

	/* The userinfo ends at the authority's last '@'; a '/' '?' or '#'
	 * ends the authority. */
	end = auth + strcspn(auth, WS "/?#");
	for (char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	r = at ? at + 1 : auth;
	while (*r && !strchr(WS "?#", *r))
		*w++ = *r++;
	if (*r == '?' || *r == '#') {
		char *q = r + strcspn(r, WS), *keep = q;

		/* Keep what closes the word in the message around it. */
		while (keep > r + 1 && strchr("'\":,;)]>", keep[-1]))
			keep--;
		r = keep;
		while (r < q)
			*w++ = *r++;
	}
	memmove(w, r, strlen(r) + 1);
	return w;
}

void url_redact_text(char *msg)
{
	char *p = msg;

	while ((p = strstr(p, "://"))) {
		char *s = p;

		while (s > msg && scheme_char(s[-1]))
			s--;
		while (s < p && !isalpha((unsigned char)*s))
			s++;
		if (s == p) {
			p += 3;
			continue;
		}
		p = redact_at(s);
	}
}

const char *url_redact(char *out, size_t outsz, const char *url)
{
	/* Redacted before it is cut: cut first, a password whose '@' fell
	 * beyond the cut would look like a host. */
	char *copy = strdup(url);

	if (!copy) {
		snprintf(out, outsz, "(URL)");
		return out;
	}
	url_redact_text(redact_at(copy));
	snprintf(out, outsz, "%s", copy);
	free(copy);
	return out;
}
