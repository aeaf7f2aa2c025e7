/* test-url.c: url_redact and url_redact_text keep scheme, host, port and
 * path, and drop userinfo, query and fragment; cc_err_set, cc_err_prefix
 * and cc_log redact every message. */
#include "harness.h"
#include "../../common/err.h"
#include "../../common/log.h"
#include "../../common/url.h"

#include <stdlib.h>

static void one(const char *in, const char *want)
{
	char out[256];

	CHECK_STR(url_redact(out, sizeof(out), in), want);
}

static void text(const char *in, const char *want)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", in);
	url_redact_text(msg);
	CHECK_STR(msg, want);
}

static void test_one_url(void)
{
	one("https://h.example:8443/a/b", "https://h.example:8443/a/b");
	one("http://user:s3cr3tpass@h:9000/x", "http://h:9000/x");
	one("http://user:s3cr3tpass@h:9000", "http://h:9000");
	one("http://u:p@ss@h/", "http://h/");
	one("http://169.254.170.2/creds?token=tok3nvalue", "http://169.254.170.2/creds");
	one("https://acct.blob.core.windows.net/c/b?sv=1&sig=abc%2F", "https://acct.blob.core.windows.net/c/b");
	one("https://h/p#frag", "https://h/p");
	one("https://h?x=1", "https://h");
	one("s3://bucket/pre?endpoint=http://u:s3cr3tpass@h:9000&region=r", "s3://bucket/pre");
	/* no scheme: an endpoint written without one */
	one("user:s3cr3tpass@h:9000", "h:9000");
	one("h:9000/p?tok3nvalue", "h:9000/p");
	one("", "");
	/* IPv6 literal */
	one("http://u:p@[::1]:80/x?y", "http://[::1]:80/x");
}

static void test_cut_after_redaction(void)
{
	char out[16];

	/* cut before the '@': the password must not pass for a host */
	url_redact(out, sizeof(out), "http://user:s3cr3tpassword-longer@h/");
	CHECK_STR(out, "http://h/");
}

static void test_text(void)
{
	text("GET 'https://h/p?sig=abc': HTTP 403", "GET 'https://h/p': HTTP 403");
	text("GET https://u:pw@h/p?x: why", "GET https://h/p: why");
	text("a http://u:p@h b https://h2/q?s=1 c", "a http://h b https://h2/q c");
	text("must start with http:// or https://", "must start with http:// or https://");
	text("no url here ?x=1 a@b", "no url here ?x=1 a@b");
	text("'s3://b?endpoint=http://u:s3cr3tpass@h', next", "'s3://b', next");
	text("x://", "x://");
	text("1http://u:p@h", "1http://h");
	text("(http://h/p?q)", "(http://h/p)");
}

static void test_messages(void)
{
	struct cc_err err;

	cc_err_clear(&err);
	cc_err_set(&err, CC_ESTORE, 0, "cannot reach '%s'", "http://u:s3cr3tpass@h:1/p?t=tok3nvalue");
	CHECK_STR(err.msg, "cannot reach 'http://h:1/p'");
	cc_err_prefix(&err, "at '%s'", "https://sts?X-Amz-Signature=tok3nvalue");
	CHECK_STR(err.msg, "at 'https://sts': cannot reach 'http://h:1/p'");
	{
		/* a URL past the message's size is redacted before the cut */
		char big[2000];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		cc_err_set(&err, CC_ESTORE, 0, "%.1010s http://user:s3cr3tpass@h/", big);
		CHECK(!strstr(err.msg, "s3cr3t"));
		CHECK(!strstr(err.msg, "user"));
	}
}

static char logged[512];

static void on_log(enum cc_log_level level, const char *msg)
{
	snprintf(logged, sizeof(logged), "%s", msg);
}

static void test_log(void)
{
	struct cc_log_hooks h = { on_log, NULL };

	cc_log_set_hooks(&h);
	cc_debug("GET %s: retrying", "http://u:s3cr3tpass@h/x?tok3nvalue");
	CHECK_STR(logged, "GET http://h/x: retrying");
	cc_log_set_hooks(NULL);
}

int main(void)
{
	RUN(test_one_url);
	RUN(test_cut_after_redaction);
	RUN(test_text);
	RUN(test_messages);
	RUN(test_log);
	return test_summary();
}
