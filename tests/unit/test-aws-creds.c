/* test-aws-creds.c: the parsers of the AWS credential chain (expiration
 * times, container and instance metadata JSON, STS XML), their errors
 * (which never quote a secret), and the offline part of the chain: the
 * environment before the shared files, partial keys, named profiles,
 * unsupported profile kinds, and the "no AWS credentials" list. */
#include "harness.h"
#include "../../common/aws-creds.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"

static void test_time_parse(void)
{
	CHECK_EQ(aws_time_parse("1970-01-01T00:00:00Z"), 0);
	CHECK_EQ(aws_time_parse("2024-01-02T03:04:05Z"), 1704164645);
	CHECK_EQ(aws_time_parse("2024-01-02T03:04:05.123456Z"), 1704164645);
	CHECK_EQ(aws_time_parse("2024-01-02T04:04:05+01:00"), 1704164645);
	CHECK_EQ(aws_time_parse("2024-01-02T01:04:05-02:00"), 1704164645);
	CHECK(aws_time_parse("2024-01-02T03:04:05") == -1);	/* no zone */
	CHECK(aws_time_parse("2024-01-02T03:04:05Zjunk") == -1);
	CHECK(aws_time_parse("yesterday") == -1);
	CHECK(aws_time_parse("") == -1);
	CHECK(aws_time_parse(NULL) == -1);
}

static enum cc_code json(const char *s, struct aws_key *k, struct cc_err *err)
{
	return aws_key_from_json(s, strlen(s), k, err);
}

static void test_json_container(void)
{
	struct aws_key k;
	struct cc_err err;

	CHECK_EQ(json("{\"RoleArn\":\"arn:aws:iam::1:role/x\",\"AccessKeyId\":\"ASIAEXAMPLE\","
		      "\"SecretAccessKey\":\"" SECRET "\",\"Token\":\"tok\\/en\\u0041=\","
		      "\"Expiration\":\"2024-01-02T03:04:05Z\"}", &k, &err), CC_OK);
	CHECK_STR(k.access_key, "ASIAEXAMPLE");
	CHECK_STR(k.secret_key, SECRET);
	CHECK_STR(k.session_token, "tok/enA=");
	CHECK_EQ(k.expires, 1704164645);
	aws_key_release(&k);
	CHECK(!k.access_key && !k.secret_key && !k.session_token);

	/* An empty token is a long-term key; no expiration is "never". */
	CHECK_EQ(json(" {\n \"AccessKeyId\" : \"AKIAEXAMPLE\", \"SecretAccessKey\": \"s\", "
		      "\"Token\": \"\" }\n", &k, &err), CC_OK);
	CHECK(k.session_token == NULL);
	CHECK_EQ(k.expires, 0);
	aws_key_release(&k);
}

static void test_json_imds(void)
{
	struct aws_key k;
	struct cc_err err;

	/* Other members of any kind are skipped. */
	CHECK_EQ(json("{\"Code\":\"Success\",\"LastUpdated\":\"2024-01-02T00:00:00Z\","
		      "\"Type\":\"AWS-HMAC\",\"Extra\":{\"a\":[1,2,{\"b\":\"}\"}],\"c\":null},"
		      "\"N\":-1.5e3,\"T\":true,\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"" SECRET
		      "\",\"Token\":\"t\",\"Expiration\":\"2024-01-02T03:04:05Z\"}", &k, &err), CC_OK);
	CHECK_STR(k.access_key, "ASIAX");
	CHECK_STR(k.session_token, "t");
	aws_key_release(&k);

	CHECK_EQ(json("{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"no\","
		      "\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\"}", &k, &err),
		 CC_ESTORE);
	CHECK(strstr(err.msg, "AssumeRoleUnauthorizedAccess") != NULL);
	CHECK(k.access_key == NULL);
}

static void test_json_errors(void)
{
	static const char *const bad[] = {
		"", "[]", "{", "{\"AccessKeyId\":\"A\"", "{\"AccessKeyId\" \"A\"}",
		"{\"AccessKeyId\":\"A\",}", "{\"AccessKeyId\":\"A\\x\"}", "{\"a\":\"\n\"}",
		"{} {}", "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\"} x",
	};
	struct aws_key k;
	struct cc_err err;
	char deep[200];
	size_t n = 0;

	/* Nesting deeper than the parser follows. */
	n += (size_t)snprintf(deep, sizeof(deep), "{\"x\":");
	for (int i = 0; i < 70; i++)
		deep[n++] = '[';
	for (int i = 0; i < 70; i++)
		deep[n++] = ']';
	snprintf(deep + n, sizeof(deep) - n, "}");
	CHECK_EQ(json(deep, &k, &err), CC_ESTORE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		CHECK_EQ(json(bad[i], &k, &err), CC_ESTORE);
		CHECK(k.access_key == NULL);
		CHECK(strstr(err.msg, SECRET) == NULL);
	}
	CHECK_EQ(json("{\"SecretAccessKey\":\"" SECRET "\"}", &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "access key id") != NULL);
	CHECK_EQ(json("{\"AccessKeyId\":\"A\"}", &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "secret access key") != NULL);
	CHECK_EQ(json("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET "\","
		      "\"Expiration\":\"soon\"}", &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "expiration") != NULL);
	CHECK(strstr(err.msg, SECRET) == NULL);
	CHECK_EQ(json("{\"AccessKeyId\":\"A B\",\"SecretAccessKey\":\"" SECRET "\"}", &k, &err),
		 CC_ESTORE);
	/* Found by fuzz-aws-json: a line break in the token (a header of the
	 * answer's choosing) and a NUL that cut the access key id short. */
	CHECK_EQ(json("{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"" SECRET "\","
		      "\"Token\":\"tok\\r\\nX-Injected: 1\"}", &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "control character in its session token") != NULL);
	CHECK(k.session_token == NULL);
	CHECK_EQ(json("{\"AccessKeyId\":\"ASIA\\u0000EVIL\",\"SecretAccessKey\":\"" SECRET "\"}",
		      &k, &err), CC_ESTORE);
	/* jansson refuses the \u0000 itself (no JSON_ALLOW_NUL), before
	 * the check for control characters sees it. */
	CHECK_STR(err.msg, "the answer is not a JSON object: a \\u0000 in a string at byte 31");
	CHECK_EQ(json("{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"a\\tb\"}", &k, &err),
		 CC_ESTORE);
	CHECK(strstr(err.msg, "secret access key") != NULL);
}

/* A key whose member x holds levels nested arrays. */
static void nested(char *out, size_t n, int levels)
{
	size_t o = (size_t)snprintf(out, n, "{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"s\",\"x\":");

	for (int i = 0; i < levels && o < n - 1; i++)
		out[o++] = '[';
	for (int i = 0; i < levels && o < n - 1; i++)
		out[o++] = ']';
	snprintf(out + o, n - o, "}");
}

/* What changed when jansson took over the reading (issue 14). */
static void test_json_strict(void)
{
	struct aws_key k;
	struct cc_err err;
	char deep[256], *big;
	size_t n;

	/* A surrogate pair is one 4-byte UTF-8 character (it was two 3-byte
	 * halves); a lone surrogate is refused. */
	CHECK_EQ(json("{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"" SECRET "\","
		      "\"Token\":\"t\\ud83d\\ude00\"}", &k, &err), CC_OK);
	CHECK_STR(k.session_token, "t\xf0\x9f\x98\x80");
	aws_key_release(&k);
	CHECK_EQ(json("{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"" SECRET "\","
		      "\"Token\":\"t\\ud83d\"}", &k, &err), CC_ESTORE);
	CHECK(k.access_key == NULL);
	/* A member named twice (the later one used to win). */
	CHECK_EQ(json("{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"" SECRET "\","
		      "\"AccessKeyId\":\"ASIAY\"}", &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "a member named twice") != NULL);
	CHECK(k.access_key == NULL);
	/* Invalid UTF-8, even in a member nobody reads. */
	CHECK_EQ(json("{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"" SECRET "\","
		      "\"Note\":\"\xff\"}", &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "invalid UTF-8") != NULL);
	/* A \u0000 in a member nobody reads refuses the answer too. */
	CHECK_EQ(json("{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"" SECRET "\","
		      "\"Note\":\"\\u0000\"}", &k, &err), CC_ESTORE);
	/* 64 levels of objects and arrays, the top object included. */
	nested(deep, sizeof(deep), 63);
	CHECK_EQ(json(deep, &k, &err), CC_OK);
	aws_key_release(&k);
	nested(deep, sizeof(deep), 64);
	CHECK_EQ(json(deep, &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "nested deeper than 64 levels") != NULL);
	/* The whole answer is bounded, not only each value (64 KiB). */
	n = 70 * 1024;
	big = malloc(n + 1);
	CHECK(big != NULL);
	memset(big, ' ', n);
	memcpy(big, "{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"s\"}", 45);
	big[n] = '\0';
	CHECK_EQ(json(big, &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "longer than 65536 bytes") != NULL);
	big[60 * 1024] = '\0';
	CHECK_EQ(json(big, &k, &err), CC_OK);
	aws_key_release(&k);
	free(big);
}

static void test_sts_xml(void)
{
	static const char ok[] =
		"<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
		"<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId>"
		"<SecretAccessKey>" SECRET "</SecretAccessKey><SessionToken>FQo+Gb/3a&amp;==</SessionToken>"
		"<Expiration>2024-01-02T03:04:05.064238Z</Expiration></Credentials>"
		"<AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>"
		"</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
	static const char refused[] =
		"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
		"<Message>No OpenIDConnect provider found</Message></Error></ErrorResponse>";
	static const char no_token[] =
		"<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>" SECRET
		"</SecretAccessKey><Expiration>2024-01-02T03:04:05Z</Expiration></Credentials>";
	struct aws_key k;
	struct cc_err err;

	CHECK_EQ(aws_key_from_sts_xml(ok, sizeof(ok) - 1, &k, &err), CC_OK);
	CHECK_STR(k.access_key, "ASIAEXAMPLE");
	CHECK_STR(k.secret_key, SECRET);
	CHECK_STR(k.session_token, "FQo+Gb/3a&==");
	CHECK_EQ(k.expires, 1704164645);
	aws_key_release(&k);
	CHECK_EQ(aws_key_from_sts_xml(refused, sizeof(refused) - 1, &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "no Credentials") != NULL);
	CHECK_EQ(aws_key_from_sts_xml(no_token, sizeof(no_token) - 1, &k, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "SessionToken") != NULL);
	CHECK(strstr(err.msg, SECRET) == NULL);
	CHECK(k.access_key == NULL);
	/* Found by fuzz-aws-xml: a raw line break in the session token. */
	{
		static const char crlf[] =
			"<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>" SECRET
			"</SecretAccessKey><SessionToken>tok\r\nX-Injected: 1</SessionToken>"
			"<Expiration>2024-01-02T03:04:05Z</Expiration></Credentials>";

		CHECK_EQ(aws_key_from_sts_xml(crlf, sizeof(crlf) - 1, &k, &err), CC_ESTORE);
		CHECK(strstr(err.msg, "session token") != NULL);
		CHECK(k.session_token == NULL);
	}
	/* Truncated in the middle of the secret. */
	CHECK_EQ(aws_key_from_sts_xml(ok, 200, &k, &err), CC_ESTORE);
}

/* The offline part of the chain, driven by the environment. */
static char dir[256];

static void clear_env(void)
{
	static const char *const vars[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_REGION", "AWS_DEFAULT_REGION",
	};
	char path[300];

	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
		unsetenv(vars[i]);
	setenv("HOME", dir, 1);
	snprintf(path, sizeof(path), "%s/credentials", dir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	snprintf(path, sizeof(path), "%s/config", dir);
	setenv("AWS_CONFIG_FILE", path, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void write_file(const char *name, const char *text)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Opens the chain; on success returns the key in *k. */
static enum cc_code open_chain(struct aws_key *k, char **region, struct cc_err *err)
{
	struct aws_creds *c = NULL;
	enum cc_code rc = aws_creds_open(&c, "bkt", region, err);

	memset(k, 0, sizeof(*k));
	if (!rc) {
		rc = aws_creds_get(c, k, err);
		aws_creds_free(c);
	}
	return rc;
}

static void test_chain_offline(void)
{
	struct aws_key k;
	struct cc_err err;
	char *region = NULL;

	clear_env();
	write_file("credentials", "[default]\naws_access_key_id = AKIADEFAULT\n"
		   "aws_secret_access_key = " SECRET "\n\n[ci]\n  aws_access_key_id=AKIACI\n"
		   "aws_secret_access_key=s2\naws_session_token = tok\n[half]\naws_access_key_id = A\n"
		   "[oidc]\n");
	write_file("config", "[default]\nregion = eu-west-3\n[profile ci]\nregion = us-west-2\n"
		   "[profile sso]\nsso_session = x\n[profile chain]\nrole_arn = arn:aws:iam::1:role/r\n"
		   "source_profile = ci\n");

	/* The default profile, and its region from the config file. */
	CHECK_EQ(open_chain(&k, &region, &err), CC_OK);
	CHECK_STR(k.access_key, "AKIADEFAULT");
	CHECK_STR(k.secret_key, SECRET);
	CHECK(k.session_token == NULL);
	CHECK_STR(region, "eu-west-3");
	aws_key_release(&k);
	free(region);

	/* A named profile with a session token. */
	setenv("AWS_PROFILE", "ci", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_OK);
	CHECK_STR(k.access_key, "AKIACI");
	CHECK_STR(k.session_token, "tok");
	CHECK_STR(region, "us-west-2");
	aws_key_release(&k);
	free(region);

	/* The environment wins over the profile. */
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_OK);
	CHECK_STR(k.access_key, "AKIAENV");
	CHECK(k.session_token == NULL);
	aws_key_release(&k);
	free(region);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not") != NULL);
	CHECK(region == NULL);
	unsetenv("AWS_ACCESS_KEY_ID");

	setenv("AWS_PROFILE", "half", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "has aws_access_key_id but no aws_secret_access_key") != NULL);
	setenv("AWS_PROFILE", "ghost", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "profile 'ghost' is in neither") != NULL);
	setenv("AWS_PROFILE", "sso", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "not support") != NULL);
	setenv("AWS_PROFILE", "chain", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "role_arn with source_profile") != NULL);

	/* An existing profile without keys goes on down the chain. */
	setenv("AWS_PROFILE", "oidc", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "no AWS credentials for bucket 'bkt'") != NULL);
	CHECK(strstr(err.msg, "AWS_EC2_METADATA_DISABLED") != NULL);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/r", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "AWS_WEB_IDENTITY_TOKEN_FILE is not set") != NULL);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "web identity") != NULL);
	CHECK(strstr(err.msg, "/nonexistent/token") != NULL);
	unsetenv("AWS_ROLE_ARN");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");

	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://evil.example/creds", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "loopback") != NULL);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1.evil.example/creds", 1);
	CHECK_EQ(open_chain(&k, &region, &err), CC_ESTORE);
	CHECK(strstr(err.msg, "loopback") != NULL);
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	clear_env();
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[300];

	snprintf(dir, sizeof(dir), "%s/test-aws-creds.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	RUN(test_time_parse);
	RUN(test_json_container);
	RUN(test_json_imds);
	RUN(test_json_errors);
	RUN(test_json_strict);
	RUN(test_sts_xml);
	RUN(test_chain_offline);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		return 1;
	return test_summary();
}
