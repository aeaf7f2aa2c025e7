/* aws-creds.h: AWS credentials for the S3 store, found the way the AWS
 * SDKs find them, and kept fresh while a store is open.
 *
 * aws_creds_open() walks the chain once, in this order, and keeps the
 * first source that is configured:
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      AWS_SESSION_TOKEN;
 *   2. the shared files: profile AWS_PROFILE (else AWS_DEFAULT_PROFILE,
 *      else "default") of AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials)
 *      and AWS_CONFIG_FILE (~/.aws/config): static keys, or role_arn with
 *      web_identity_token_file (and role_session_name);
 *   3. web identity: AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (and
 *      AWS_ROLE_SESSION_NAME), traded at STS (AssumeRoleWithWebIdentity,
 *      AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else the regional
 *      endpoint) for temporary credentials;
 *   4. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
 *      169.254.170.2) or _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *      or AWS_CONTAINER_AUTHORIZATION_TOKEN as the Authorization header;
 *   5. EC2 instance metadata, IMDSv2 only (token PUT, then the role's
 *      credentials), unless AWS_EC2_METADATA_DISABLED=true; at
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT, else 169.254.169.254 (or
 *      [fd00:ec2::254] when AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6),
 *      given AWS_METADATA_SERVICE_TIMEOUT seconds (default 1) to answer.
 * A source that is configured but fails (a partial key, STS refusing the
 * token, a container endpoint answering 403) is an error naming it, never
 * a silent fall through to the next one.  Only the instance metadata,
 * which is tried without being asked for, may be absent: then the error
 * lists everything that was tried.
 *
 * Temporary credentials (2 to 5) are fetched again REFRESH_WINDOW_S
 * before they expire, by the first caller of aws_creds_get() that needs
 * them; a failed refresh keeps the current ones while they are valid.
 *
 * No message, log line or error ever holds a secret key, session token,
 * web identity token, container authorization token or IMDS token.
 */
#ifndef CC_AWS_CREDS_H
#define CC_AWS_CREDS_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "err.h"

#define AWS_CREDS_REFRESH_WINDOW_S 300

struct aws_creds;

/* One set of credentials; every string is malloc'd and owned by it. */
struct aws_key {
	char *access_key;
	char *secret_key;
	char *session_token;	/* NULL for long-term keys */
	int64_t expires;	/* seconds since the epoch; 0 for never */
};

/* Finds credentials for the S3 bucket named in messages.  *ret_region
 * gets the profile's region from the config file (malloc'd) or NULL.
 * @return CC_OK with a provider in *ret; CC_ESTORE when no source has
 * credentials or a configured source fails; CC_ENOMEM. */
enum cc_code aws_creds_open(struct aws_creds **ret, const char *bucket, char **ret_region,
			    struct cc_err *err);

/* Copies the current credentials into *ret (release with
 * aws_key_release), refreshing them first when they are due.  Safe to call
 * from several threads at once (one of them refreshes, the others wait).
 * @return CC_OK, or CC_ESTORE when they expired and cannot be refreshed. */
enum cc_code aws_creds_get(struct aws_creds *c, struct aws_key *ret, struct cc_err *err);

/* Where the credentials come from, e.g. "web identity (AWS_ROLE_ARN)". */
const char *aws_creds_source(const struct aws_creds *c);

/* Frees c (NULL is fine), wiping the secrets. */
void aws_creds_free(struct aws_creds *c);

/* Wipes and frees the strings of k and zeroes it. */
void aws_key_release(struct aws_key *k);

/* The readers of what the credential services answer, exposed for the
 * unit tests and the fuzzers (tests/fuzz/fuzz-aws-json.c, fuzz-aws-xml.c). */

/* "2024-01-02T03:04:05Z", with optional fraction and "+hh:mm" offset.
 * @return seconds since the epoch, or -1 when malformed. */
int64_t aws_time_parse(const char *s);

/* Credentials from a container or instance metadata JSON answer
 * (AccessKeyId, SecretAccessKey, Token, Expiration; Code must be
 * "Success" when present).  @return CC_OK or CC_ESTORE (the message never
 * quotes the answer). */
enum cc_code aws_key_from_json(const char *json, size_t len, struct aws_key *ret,
			       struct cc_err *err);

/* Credentials from an STS AssumeRole* XML answer.  @return as above. */
enum cc_code aws_key_from_sts_xml(const char *xml, size_t len, struct aws_key *ret,
				  struct cc_err *err);

/* "Code: Message" of an AWS error answer (XML or JSON) into out (n > 0
 * bytes, always NUL-terminated), printable characters only; "" when the
 * body names neither. */
void aws_error_words(const struct buf *body, char *out, size_t n);

#endif
