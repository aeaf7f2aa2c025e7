#!/usr/bin/env bash
# t0350: no secret in any message.  Every path that prints a URL (a bad or
# unreachable S3 endpoint from ?endpoint= or AWS_ENDPOINT_URL, container
# credentials with a token in the query, the STS and instance-metadata
# endpoints, ACTIONS_RESULTS_URL, a 403, a 500 retried under -v through the
# fault proxy, a URL given as a stray argument) shows scheme, host, port and
# path only: the password and the token never reach stdout or stderr.
. "$(dirname "$0")/lib.sh"

start_moto 0
start_faultproxy
CLOSED=$(free_port)	# nothing listens there
PXHOST=${PX#http://}

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE \
      AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_SESSION_NAME AWS_REGION \
      AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
      AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE \
      AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_STS \
      ACTIONS_RESULTS_URL ACTIONS_RUNTIME_TOKEN CICACHE_S3_TRIES
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=$TRASH/none AWS_SHARED_CREDENTIALS_FILE=$TRASH/none

SECRETS="s3cr3tpass tok3nvalue"
mkdir data && echo hi >data/f

# clean HOST: out and err hold no secret, and err names HOST (so the URL
# was shown, less what it must not show)
clean() {
	local s
	for s in $SECRETS; do
		expect_no_grep "$s" out && expect_no_grep "$s" err || return 1
	done
	expect_grep "$1" err
}
# run CODE CMD...: CMD exits CODE, its stdout in out, its stderr in err
# (expect_code's own message, which quotes the command, stays out of err)
run() {
	local want=$1 got=0
	shift
	"$@" >out 2>err || got=$?
	expect_eq "$got" "$want" "$*"
}
# both CODE ARGS...: cache-restore and cache-save with the same store
# arguments both exit CODE, and each leaves out/err clean of secrets and
# naming $SHOWN (default 127.0.0.1)
both() {
	local code=$1
	shift
	run "$code" cache-restore --key k "$@" && clean "${SHOWN:-127.0.0.1}" &&
	run "$code" cache-save --key k --path data "$@" && clean "${SHOWN:-127.0.0.1}"
}

test_expect_success '?endpoint= with user:password@ is refused without showing them' '
	export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=x &&
	both 2 --store "s3://bucket-x?endpoint=http://ci:s3cr3tpass@127.0.0.1:$CLOSED" &&
	expect_grep "user or password" err
'

test_expect_success 'AWS_ENDPOINT_URL with user:password@, with and without a scheme' '
	export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=x &&
	AWS_ENDPOINT_URL=http://ci:s3cr3tpass@127.0.0.1:$CLOSED/x?t=tok3nvalue \
		both 2 --store s3://bucket-x &&
	AWS_ENDPOINT_URL_S3=ci:s3cr3tpass@127.0.0.1:$CLOSED \
		both 2 --store s3://bucket-x &&
	expect_grep "must start with http" err
'

test_expect_success 'an unknown option of an s3 URL does not show its query' '
	export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=x &&
	SHOWN="unknown option .colour. in .s3://bucket-x." \
		both 2 --store "s3://bucket-x?endpoint=http://127.0.0.1:$CLOSED&colour=tok3nvalue"
'

test_expect_success 'a URL given as a stray argument is shown redacted' '
	run 2 cache-restore --key k "s3://b?endpoint=http://ci:s3cr3tpass@127.0.0.1:9" &&
	clean "unexpected argument .s3://b." &&
	run 2 cache-save --key k --path data "http://ci:s3cr3tpass@127.0.0.1:9/?tok3nvalue" &&
	clean "unexpected argument .http://127.0.0.1:9/."
'

test_expect_success 'container credentials: a 403, an unreachable agent, userinfo' '
	faults "[{\"path\": \"/creds\", \"action\": \"error\", \"status\": 403}]" &&
	AWS_CONTAINER_CREDENTIALS_FULL_URI="$PX/creds?token=tok3nvalue" \
		both 4 --store "s3://bucket-x?endpoint=http://127.0.0.1:$CLOSED" &&
	expect_grep "$PXHOST/creds" err && expect_grep 403 err &&
	AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$CLOSED/creds?token=tok3nvalue" \
		both 4 --store "s3://bucket-x?endpoint=http://127.0.0.1:$CLOSED" &&
	AWS_CONTAINER_CREDENTIALS_FULL_URI="http://ci:s3cr3tpass@127.0.0.1:$CLOSED/?tok3nvalue" \
		both 4 --store "s3://bucket-x?endpoint=http://127.0.0.1:$CLOSED"
'

test_expect_success 'container credentials: a 500 retried, with -v' '
	faults "[{\"path\": \"/creds\", \"action\": \"error\", \"status\": 500}]" &&
	AWS_CONTAINER_CREDENTIALS_FULL_URI="$PX/creds?token=tok3nvalue" \
		both 4 -v --store "s3://bucket-x?endpoint=http://127.0.0.1:$CLOSED" &&
	expect_grep "retrying" err && expect_grep "$PXHOST/creds" err
'

test_expect_success 'an STS endpoint with userinfo and a query, answering 403' '
	echo jwt >token &&
	faults "[{\"method\": \"POST\", \"action\": \"error\", \"status\": 403}]" &&
	AWS_ROLE_ARN=arn:aws:iam::123456789012:role/r AWS_WEB_IDENTITY_TOKEN_FILE=$TRASH/token \
	AWS_ENDPOINT_URL_STS="http://ci:s3cr3tpass@$PXHOST/sts?X-Amz-Security-Token=tok3nvalue" \
		both 4 -v --store "s3://bucket-x?endpoint=http://127.0.0.1:$CLOSED" &&
	expect_grep "STS" err && expect_grep "$PXHOST/sts" err
'

test_expect_success 'an instance-metadata endpoint with userinfo' '
	AWS_EC2_METADATA_DISABLED= \
	AWS_EC2_METADATA_SERVICE_ENDPOINT="http://ci:s3cr3tpass@127.0.0.1:$CLOSED/?tok3nvalue" \
		both 4 -v --store "s3://bucket-x?endpoint=http://127.0.0.1:$CLOSED" &&
	expect_grep "instance metadata" err
'

test_expect_success 'ACTIONS_RESULTS_URL with userinfo, without a scheme, unreachable' '
	export ACTIONS_RUNTIME_TOKEN=jwt &&
	ACTIONS_RESULTS_URL="http://ci:s3cr3tpass@127.0.0.1:$CLOSED/?tok3nvalue" \
		both 4 --store gha &&
	ACTIONS_RESULTS_URL="ci:s3cr3tpass@127.0.0.1:$CLOSED" both 4 --store gha &&
	ACTIONS_RESULTS_URL="http://127.0.0.1:$CLOSED/?tok3nvalue" both 4 -v --store gha
'

test_done
