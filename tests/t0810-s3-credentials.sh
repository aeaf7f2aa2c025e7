#!/usr/bin/env bash
# run-tests: alone (credential refresh depends on timing)
# t0810: the AWS credential chain of the S3 store (common/aws-creds.c),
# against moto's S3, IAM and STS with signature checking on: a named
# profile of the shared files; web identity through moto's STS
# (AssumeRoleWithWebIdentity); container credentials and IMDSv2 from a
# fixture (tests/helper/aws-meta-fixture.py) that the aws CLI itself
# proves faithful; the order of the chain; clear errors for configured
# sources that fail and a quick "no AWS credentials" when nothing is
# there; temporary credentials refreshed during a long save (the first
# key is deleted from moto once the fixture has handed out the second);
# no secret in any output, even with --verbose.
. "$(dirname "$0")/lib.sh"

require_moto

PORT=$(free_port)
CLOSED=$(free_port)	# nothing listens there
EP=http://127.0.0.1:$PORT
B=cicache-t0810
S=s3://$B/ci
FIXTURE="$TEST_DIR/helper/aws-meta-fixture.py"

# The six IAM calls of test 1 are the only unsigned requests, apart from
# each AssumeRoleWithWebIdentity (unsigned in AWS too: the token is the
# proof), which sts_allow_one lets through just before it.
PYTHONPATH="$TEST_DIR/helper/moto-sigfix${PYTHONPATH:+:$PYTHONPATH}" \
INITIAL_NO_AUTH_ACTION_COUNT=6 moto_server -H 127.0.0.1 -p "$PORT" >"$TRASH/moto.log" 2>&1 &
MOTO_PID=$!
test_cleanup 'kill $MOTO_PID; wait $MOTO_PID 2>/dev/null'
sts_allow_one() {
	curl -sf -X POST -H 'Content-Type: text/plain' --data-binary 1 "$EP/moto-api/reset-auth" >/dev/null
}

# No credentials anywhere unless a test gives some; no ~/.aws.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE \
      AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_SESSION_NAME AWS_REGION \
      AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
      AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE \
      AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL_IAM
printf '[default]\ns3 =\n    addressing_style = path\n' >"$TRASH/cli-config"
export AWS_CONFIG_FILE=$TRASH/cli-config AWS_SHARED_CREDENTIALS_FILE=$TRASH/no-credentials
export AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=$EP AWS_PAGER=
export AWS_EC2_METADATA_DISABLED=true

for i in $(seq 1 100); do
	curl -s -o /dev/null "$EP/moto-api/" && break
	kill -0 $MOTO_PID 2>/dev/null || break
	sleep 0.1
done

key_of() { sed -n "$2p" "$TRASH/key$1" 2>/dev/null; }	# key_of 1|2 1(id)|2(secret)
as_key() { # as_key 1|2 cmd...: with that static key in the environment
	local n=$1
	shift
	AWS_ACCESS_KEY_ID=$(key_of "$n" 1) AWS_SECRET_ACCESS_KEY=$(key_of "$n" 2) "$@"
}
new_key() { # new_key N [aws args...]: a new access key of user ci into key file N
	local n=$1
	shift
	"$@" aws iam create-access-key --user-name ci >"$TRASH/k.json" &&
	python3 -c 'import json, sys; k = json.load(open(sys.argv[1]))["AccessKey"]
print(k["AccessKeyId"]); print(k["SecretAccessKey"])' "$TRASH/k.json" >"$TRASH/key$n"
}
ALLOW_ALL='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
GHA=arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com
TRUST='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"'$GHA'"},'
TRUST=$TRUST'"Action":"sts:AssumeRoleWithWebIdentity"}]}'

test_expect_success 'moto runs with an IAM user (two keys), a role and a bucket' '
	export AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap &&
	aws iam create-user --user-name ci >/dev/null &&
	new_key 1 && new_key 2 &&
	aws iam put-user-policy --user-name ci --policy-name all --policy-document "$ALLOW_ALL" &&
	aws iam create-role --role-name gha --assume-role-policy-document "$TRUST" >role.json &&
	aws iam put-role-policy --role-name gha --policy-name all --policy-document "$ALLOW_ALL" &&
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY &&
	! aws s3api create-bucket --bucket $B 2>err &&
	as_key 1 aws s3api create-bucket --bucket $B >/dev/null &&
	python3 -c "import json; print(json.load(open(\"role.json\"))[\"Role\"][\"Arn\"])" >role-arn &&
	mkdir -p data/sub && seq 1 30000 >data/sub/numbers && echo hello >data/small &&
	cp -a data data.orig
'
ROLE_ARN=$(cat "$TRASH/role-arn" 2>/dev/null)

# Every cicache run below appends its stdout and stderr here: the last test
# looks for secrets in all of it.
ALL=$TRASH/all-output
run() { # run NAME cmd...: output in NAME.out / NAME.err, copied to $ALL
	local name=$1 rc=0
	shift
	"$@" >"$name.out" 2>"$name.err" || rc=$?
	cat "$name.out" "$name.err" >>"$ALL"
	return $rc
}
roundtrip() { # roundtrip TAG [env assignments...]: save, then restore, with that environment
	local tag=$1
	shift
	rm -rf data && cp -a data.orig data &&
	run "$tag-save" env "$@" cache-save --verbose --store $S --key "k-$tag" --path data &&
	expect_grep "^cache-saved=true$" "$tag-save.out" &&
	rm -rf data &&
	run "$tag-restore" env "$@" cache-restore --verbose --store $S --key "k-$tag" &&
	expect_grep "^cache-hit=true$" "$tag-restore.out" &&
	expect_same_tree data.orig data
}

test_expect_success 'shared files: a named profile of the credentials file, region from the config file' '
	printf "[default]\naws_access_key_id = %s\naws_secret_access_key = wrong\n[ci]\naws_access_key_id = %s\naws_secret_access_key = %s\n" \
		"$(key_of 1 1)" "$(key_of 1 1)" "$(key_of 1 2)" >creds-file &&
	printf "[default]\nregion = eu-west-3\n[profile ci]\nregion = us-east-1\n" >config-file &&
	roundtrip profile -u AWS_DEFAULT_REGION AWS_PROFILE=ci \
		AWS_SHARED_CREDENTIALS_FILE=$TRASH/creds-file AWS_CONFIG_FILE=$TRASH/config-file &&
	expect_grep "profile .ci." profile-save.err &&
	: the default profile has a wrong secret: it is not the one used &&
	! env AWS_SHARED_CREDENTIALS_FILE=$TRASH/creds-file cache-restore --store $S --key k-profile 2>err &&
	expect_grep SignatureDoesNotMatch err
'

test_expect_success 'shared files: keys in a [profile NAME] of the config file' '
	printf "[profile cfg]\naws_access_key_id = %s\naws_secret_access_key = %s\n" \
		"$(key_of 2 1)" "$(key_of 2 2)" >config-keys &&
	roundtrip config AWS_PROFILE=cfg AWS_CONFIG_FILE=$TRASH/config-keys
'

test_expect_success 'the environment comes before the shared files' '
	rm -rf data &&
	expect_code 4 env AWS_ACCESS_KEY_ID=$(key_of 1 1) AWS_SECRET_ACCESS_KEY=wrong AWS_PROFILE=ci \
		AWS_SHARED_CREDENTIALS_FILE=$TRASH/creds-file cache-restore --store $S --key k-profile 2>err &&
	expect_grep SignatureDoesNotMatch err &&
	as_key 1 env AWS_PROFILE=nope AWS_SHARED_CREDENTIALS_FILE=$TRASH/creds-file \
		cache-restore --store $S --key k-profile >out &&
	expect_grep "^cache-hit=true$" out
'

test_expect_success 'a partial key or a missing profile is a clear error (exit 4)' '
	expect_code 4 env AWS_ACCESS_KEY_ID=$(key_of 1 1) cache-restore --store $S --key k 2>err &&
	expect_grep "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not" err &&
	printf "[half]\naws_access_key_id = %s\n" "$(key_of 1 1)" >half &&
	expect_code 4 env AWS_PROFILE=half AWS_SHARED_CREDENTIALS_FILE=$TRASH/half \
		cache-restore --store $S --key k 2>err &&
	expect_grep "profile .half. has aws_access_key_id but no aws_secret_access_key" err &&
	expect_code 4 env AWS_PROFILE=ghost AWS_SHARED_CREDENTIALS_FILE=$TRASH/half \
		cache-restore --store $S --key k 2>err &&
	expect_grep "profile .ghost. is in neither" err
'

WEB_TOKEN=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmNpY2FjaGUifQ.c2lnbmF0dXJlLXQwODEw-secret
test_expect_success 'web identity: AWS_ROLE_ARN and a token file, through STS' '
	test -n "$ROLE_ARN" && echo "$WEB_TOKEN" >web-token &&
	rm -rf data && cp -a data.orig data &&
	sts_allow_one &&
	run web-save env AWS_ROLE_ARN=$ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE=$TRASH/web-token \
		AWS_ROLE_SESSION_NAME=t0810 cache-save --verbose --store $S --key k-web --path data &&
	expect_grep "^cache-saved=true$" web-save.out &&
	expect_grep "web identity" web-save.err &&
	: moto knows the session, and signed requests with its key worked &&
	grep -q "POST / HTTP/1.1\" 200" moto.log &&
	rm -rf data && sts_allow_one &&
	run web-restore env AWS_ROLE_ARN=$ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE=$TRASH/web-token \
		cache-restore --verbose --store $S --key k-web &&
	expect_grep "^cache-hit=true$" web-restore.out &&
	expect_same_tree data.orig data
'

test_expect_success 'web identity: role_arn and web_identity_token_file of a profile' '
	printf "[profile oidc]\nrole_arn = %s\nweb_identity_token_file = %s\nrole_session_name = prof\n" \
		"$ROLE_ARN" "$TRASH/web-token" >config-oidc &&
	rm -rf data && sts_allow_one &&
	run webprof-restore env AWS_PROFILE=oidc AWS_CONFIG_FILE=$TRASH/config-oidc \
		cache-restore --verbose --store $S --key k-web &&
	expect_grep "^cache-hit=true$" webprof-restore.out &&
	expect_grep "profile .oidc." webprof-restore.err &&
	expect_same_tree data.orig data
'

test_expect_success 'web identity that fails is an error naming it, not a fall through' '
	expect_code 4 env -u AWS_EC2_METADATA_DISABLED AWS_ROLE_ARN=$ROLE_ARN \
		AWS_WEB_IDENTITY_TOKEN_FILE=$TRASH/no-token cache-restore --store $S --key k-web 2>err &&
	expect_grep "web identity" err && expect_grep "no-token" err &&
	expect_code 4 env AWS_ROLE_ARN=$ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE=$TRASH/web-token \
		AWS_ENDPOINT_URL_STS=http://127.0.0.1:$CLOSED cache-restore --store $S --key k-web 2>err &&
	expect_grep "web identity" err && expect_grep "AssumeRoleWithWebIdentity" err &&
	expect_grep "127.0.0.1:$CLOSED" err &&
	expect_code 4 env AWS_ROLE_ARN=$ROLE_ARN cache-restore --store $S --key k-web 2>err &&
	expect_grep "AWS_WEB_IDENTITY_TOKEN_FILE is not set" err &&
	cat err >>"$ALL"
'

# start_fixture NAME KEYS... [-- fixture options]: keys by number (1, 2);
# sets FIX_URL and FIX_LOG; stopped at the end.
start_fixture() {
	local name=$1 k keys=
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		keys="$keys${keys:+,}{\"AccessKeyId\":\"$(key_of "$1" 1)\",\"SecretAccessKey\":\"$(key_of "$1" 2)\"}"
		shift
	done
	[ $# -gt 0 ] && shift
	echo "[$keys]" >"$TRASH/$name.keys"
	: >"$TRASH/$name.log"
	python3 "$FIXTURE" --port-file "$TRASH/$name.port" --keys "$TRASH/$name.keys" \
		--log "$TRASH/$name.log" "$@" &
	echo $! >"$TRASH/$name.pid"
	for i in $(seq 1 100); do
		[ -s "$TRASH/$name.port" ] && break
		sleep 0.05
	done
	FIX_URL=http://127.0.0.1:$(cat "$TRASH/$name.port")
	FIX_LOG=$TRASH/$name.log
}
test_cleanup 'for p in "$TRASH"/*.pid; do [ -e "$p" ] && kill "$(cat "$p")" 2>/dev/null; done'

CONTAINER_TOKEN=container-auth-t0810-secret
start_fixture ct 1 -- --container-token "$CONTAINER_TOKEN"
test_expect_success 'container credentials: the aws CLI takes them from the fixture' '
	AWS_CONTAINER_CREDENTIALS_FULL_URI=$FIX_URL/v2/credentials/ci \
		AWS_CONTAINER_AUTHORIZATION_TOKEN=$CONTAINER_TOKEN \
		aws s3api list-objects-v2 --bucket $B >ls &&
	expect_grep "ci/keys/k-profile" ls &&
	expect_grep "^container 1 $(key_of 1 1)$" "$FIX_LOG" &&
	! AWS_CONTAINER_CREDENTIALS_FULL_URI=$FIX_URL/v2/credentials/ci \
		AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong aws s3api list-objects-v2 --bucket $B 2>err &&
	expect_grep "^container-refused" "$FIX_LOG"
'

test_expect_success 'container credentials: FULL_URI with a token file' '
	echo "$CONTAINER_TOKEN" >container-token &&
	: >"$FIX_LOG" &&
	roundtrip container AWS_CONTAINER_CREDENTIALS_FULL_URI=$FIX_URL/v2/credentials/ci \
		AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$TRASH/container-token &&
	expect_grep "container credentials" container-save.err &&
	expect_eq "$(grep -c "^container " "$FIX_LOG")" 2 "one fetch per process" &&
	expect_no_grep refused "$FIX_LOG"
'

test_expect_success 'container credentials refused or not allowed are clear errors' '
	expect_code 4 env AWS_CONTAINER_CREDENTIALS_FULL_URI=$FIX_URL/v2/credentials/ci \
		AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong cache-restore --store $S --key k-container 2>err &&
	expect_grep "container credentials" err && expect_grep "HTTP 401" err &&
	expect_code 4 env AWS_CONTAINER_CREDENTIALS_FULL_URI=http://192.0.2.1/creds \
		cache-restore --store $S --key k-container 2>err &&
	expect_grep "must be https:// or name a loopback" err &&
	cat err >>"$ALL"
'

start_fixture im 1
test_expect_success 'IMDSv2: a GET without a session token gets 401' '
	roles=$FIX_URL/latest/meta-data/iam/security-credentials/ &&
	expect_eq "$(curl -s -o /dev/null -w "%{http_code}" "$roles")" 401 &&
	expect_eq "$(curl -s -o /dev/null -w "%{http_code}" -X PUT "$FIX_URL/latest/api/token")" 400 &&
	tok=$(curl -sf -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$FIX_URL/latest/api/token") &&
	expect_eq "$(curl -sf -H "X-aws-ec2-metadata-token: $tok" "$roles")" cicache-role &&
	expect_eq "$(curl -s -o /dev/null -w "%{http_code}" -H "X-aws-ec2-metadata-token: forged" \
		"${roles}cicache-role")" 401
'

test_expect_success 'IMDSv2: the aws CLI takes credentials from the fixture' '
	: >"$FIX_LOG" &&
	env -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_V1_DISABLED=true \
		AWS_EC2_METADATA_SERVICE_ENDPOINT=$FIX_URL/ \
		aws s3api list-objects-v2 --bucket $B >ls &&
	expect_grep "ci/keys/k-profile" ls &&
	expect_grep "^imds-token" "$FIX_LOG" &&
	expect_grep "^imds 1 $(key_of 1 1)$" "$FIX_LOG" &&
	expect_no_grep "^imds-refused" "$FIX_LOG"
'

test_expect_success 'IMDSv2: cicache takes a session token, then the role credentials' '
	: >"$FIX_LOG" &&
	roundtrip imds -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT=$FIX_URL &&
	expect_grep "instance metadata" imds-save.err &&
	expect_eq "$(grep -c "^imds-token" "$FIX_LOG")" 2 "one session token per process" &&
	expect_eq "$(grep -c "^imds " "$FIX_LOG")" 2 &&
	expect_no_grep refused "$FIX_LOG"
'

test_expect_success 'container credentials come before the instance metadata' '
	: >"$FIX_LOG" &&
	rm -rf data &&
	expect_code 4 env -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT=$FIX_URL \
		AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$CLOSED/creds \
		cache-restore --store $S --key k-imds 2>err &&
	expect_grep "container credentials" err &&
	expect_no_grep "^imds" "$FIX_LOG"
'

test_expect_success 'nothing anywhere: a quick, clear "no AWS credentials" (exit 4)' '
	mkdir -p data && echo x >data/f &&
	start=$(date +%s%N) &&
	expect_code 4 env -u AWS_EC2_METADATA_DISABLED \
		AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$CLOSED \
		cache-save --store $S --key none --path data 2>err &&
	ms=$(( ($(date +%s%N) - start) / 1000000 )) &&
	{ [ $ms -lt 5000 ] || die "took $ms ms"; } &&
	expect_grep "no AWS credentials for bucket .$B." err &&
	expect_grep "AWS_ACCESS_KEY_ID" err && expect_grep "profile .default." err &&
	expect_grep "AWS_WEB_IDENTITY_TOKEN_FILE" err &&
	expect_grep "AWS_CONTAINER_CREDENTIALS" err &&
	expect_grep "instance metadata at .http://127.0.0.1:$CLOSED." err &&
	expect_code 4 cache-save --store $S --key none --path data 2>err &&
	expect_grep "AWS_EC2_METADATA_DISABLED" err
'

# Refresh: the fixture hands out key OLD valid for the refresh window
# (300 s) plus 1 s, then key NEW, but holds that second answer until key
# OLD is deleted from moto.  Every request signed after the refresh must
# use key NEW or fail; without a refresh there is no second hand-out.
refresh_test() { # refresh_test KIND OLD NEW ENV...
	local kind=$1 old=$2 new=$3 pid i n
	shift 3
	rm -rf big && mkdir big && head -c 100000000 /dev/urandom >big/blob
	# Level 15 makes the save outlast the refresh point (1.3 s at most)
	# on any machine: its packs go up after it.
	env "$@" cache-save --verbose -j 2 --level 15 --store $S --key "k-refresh-$kind" --path big \
		>"refresh-$kind.out" 2>"refresh-$kind.err" &
	pid=$!
	for i in $(seq 1 600); do
		n=$(grep -c "^$kind " "$FIX_LOG" || :)
		[ "$n" -ge 2 ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	if [ "$n" -lt 2 ]; then
		wait $pid
		cat "$FIX_LOG" "refresh-$kind.err"
		die "no refresh: the fixture handed out credentials $n time(s)"
		return 1
	fi
	sleep 1	# requests signed with key OLD before the refresh finish
	as_key $new aws iam delete-access-key --user-name ci --access-key-id "$(key_of $old 1)" &&
	touch "$TRASH/$kind.go" &&
	wait $pid || { cat "refresh-$kind.err"; die "the save failed after key $old was deleted"; return 1; }
	cat "refresh-$kind.out" "refresh-$kind.err" >>"$ALL"
	expect_grep "^cache-saved=true$" "refresh-$kind.out" &&
	expect_grep "refreshed, valid until" "refresh-$kind.err" &&
	! as_key $old aws s3api list-objects-v2 --bucket $B >/dev/null 2>&1 &&
	rm -rf big.orig && mv big big.orig &&
	env "$@" cache-restore --store $S --key "k-refresh-$kind" >out &&
	expect_grep "^cache-hit=true$" out && cmp big/blob big.orig/blob &&
	rm -rf big big.orig
}

start_fixture rf 1 -- --first-ttl 301.3 --refuse-after 1
test_expect_success 'a failed refresh keeps the current credentials while they are valid' '
	rm -rf big && mkdir big && head -c 100000000 /dev/urandom >big/blob &&
	run refuse-save env AWS_CONTAINER_CREDENTIALS_FULL_URI=$FIX_URL/v2/credentials/ci \
		cache-save -j 2 --level 15 --store $S --key k-refuse --path big &&
	expect_grep "^cache-saved=true$" refuse-save.out &&
	expect_grep "^container-failed 2 " "$FIX_LOG" &&
	expect_grep "warning: cannot refresh the AWS credentials from container credentials" \
		refuse-save.err &&
	expect_grep "HTTP 500" refuse-save.err && expect_grep "stay valid until" refuse-save.err &&
	rm -rf big
'

test_expect_success 'container credentials are refreshed before they expire' '
	start_fixture rc 1 2 -- --first-ttl 301.3 --hold "$TRASH/container.go" \
		--container-token "$CONTAINER_TOKEN" &&
	refresh_test container 1 2 AWS_CONTAINER_CREDENTIALS_FULL_URI=$FIX_URL/v2/credentials/ci \
		AWS_CONTAINER_AUTHORIZATION_TOKEN=$CONTAINER_TOKEN AWS_METADATA_SERVICE_TIMEOUT=20
'

test_expect_success 'instance metadata credentials are refreshed before they expire' '
	as_key 2 aws iam list-access-keys --user-name ci >keys.json &&
	if grep -q "$(key_of 1 1)" keys.json; then
		as_key 2 aws iam delete-access-key --user-name ci --access-key-id "$(key_of 1 1)"
	fi &&
	new_key 3 as_key 2 &&
	start_fixture ri 2 3 -- --first-ttl 301.3 --hold "$TRASH/imds.go" &&
	# The held answer waits for an aws CLI call: more than the 1 s default.
	refresh_test imds 2 3 -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT=$FIX_URL \
		AWS_METADATA_SERVICE_TIMEOUT=20
'

test_expect_success 'no secret in any output, even with --verbose' '
	test -s "$ALL" &&
	for s in "$(key_of 1 2)" "$(key_of 2 2)" "$(key_of 3 2)" "$WEB_TOKEN" "$CONTAINER_TOKEN"; do
		test -n "$s" && expect_no_grep "$s" "$ALL" || exit 1
	done &&
	expect_grep "AWS credentials from" "$ALL"
'

test_done
