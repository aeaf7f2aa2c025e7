/* fuzz-aws-json: libFuzzer target for the JSON answers of the AWS
 * credential providers: container credentials (ECS, EKS Pod Identity) and
 * EC2 instance metadata, read by aws_key_from_json(), and a JSON error
 * answer worded by aws_error_words().
 *
 * Beyond not crashing or leaking, it checks what the S3 store relies on:
 * accepted credentials have a non-empty alphanumeric access key id, and
 * no key or token holds a control character (the token becomes the
 * x-amz-security-token header, a line break in it a header of the
 * attacker's choosing); a refusal leaves *ret empty and its message is
 * printable.
 *
 *   make fuzz && build/fuzz/fuzz-aws-json tests/fuzz/corpus-aws-json */
#include "../../common/aws-creds.h"
#include "../../common/buf.h"
#include "fuzz.h"

#include <ctype.h>
#include <stdint.h>

static void check_key(const struct aws_key *k)
{
	FUZZ_CHECK(k->access_key && k->access_key[0] && k->secret_key && k->secret_key[0]);
	for (const char *p = k->access_key; *p; p++)
		FUZZ_CHECK(isalnum((unsigned char)*p));
	FUZZ_CHECK(fuzz_no_control(k->secret_key));
	FUZZ_CHECK(!k->session_token || (k->session_token[0] && fuzz_no_control(k->session_token)));
	FUZZ_CHECK(k->expires >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf body = BUF_INIT;
	struct aws_key k;
	struct cc_err err;
	char words[400];

	if (aws_key_from_json((const char *)data, size, &k, &err)) {
		FUZZ_CHECK(!k.access_key && !k.secret_key && !k.session_token);
		FUZZ_CHECK(fuzz_printable(err.msg, sizeof(err.msg)));
		fuzz_say("result: refused: %s", err.msg);
	} else {
		check_key(&k);
		fuzz_say("result: accepted %s%s", k.session_token ? "temporary" : "long-term",
			 k.expires ? " expiring" : "");
		aws_key_release(&k);
	}
	if (buf_add(&body, data, size, NULL))
		abort();
	aws_error_words(&body, words, sizeof(words));
	FUZZ_CHECK(fuzz_printable(words, sizeof(words)));
	buf_release(&body);
	return 0;
}
