/* fuzz-aws-xml: libFuzzer target for the XML answers of STS
 * (AssumeRoleWithWebIdentity), read by aws_key_from_sts_xml(), and an
 * XML error answer worded by aws_error_words().
 *
 * It checks what fuzz-aws-json checks: accepted credentials have a
 * non-empty alphanumeric access key id, a session token and an
 * expiration, and no control character in a key or token; a refusal
 * leaves *ret empty and its message is printable.
 *
 *   make fuzz && build/fuzz/fuzz-aws-xml tests/fuzz/corpus-aws-xml */
#include "../../common/aws-creds.h"
#include "../../common/buf.h"
#include "fuzz.h"

#include <ctype.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf body = BUF_INIT;
	struct aws_key k;
	struct cc_err err;
	char words[400];

	if (aws_key_from_sts_xml((const char *)data, size, &k, &err)) {
		FUZZ_CHECK(!k.access_key && !k.secret_key && !k.session_token);
		FUZZ_CHECK(fuzz_printable(err.msg, sizeof(err.msg)));
		fuzz_say("result: refused: %s", err.msg);
	} else {
		FUZZ_CHECK(k.access_key && k.access_key[0] && k.secret_key && k.secret_key[0]);
		for (const char *p = k.access_key; *p; p++)
			FUZZ_CHECK(isalnum((unsigned char)*p));
		FUZZ_CHECK(fuzz_no_control(k.secret_key));
		/* STS always hands out temporary credentials. */
		FUZZ_CHECK(k.session_token && k.session_token[0] &&
			   fuzz_no_control(k.session_token));
		FUZZ_CHECK(k.expires >= 0);
		fuzz_say("result: accepted temporary expiring at %lld", (long long)k.expires);
		aws_key_release(&k);
	}
	if (buf_add(&body, data, size, NULL))
		abort();
	aws_error_words(&body, words, sizeof(words));
	FUZZ_CHECK(fuzz_printable(words, sizeof(words)));
	fuzz_say("words: %s", words);
	buf_release(&body);
	return 0;
}
