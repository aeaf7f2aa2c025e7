#!/usr/bin/env bash
# run-tests: alone (kills uploads at moments in their work)
# t0830: a save big enough to be a multipart upload (a pack over 16 MiB),
# stopped while a part is on its way: the proxy (tests/helper/
# faultproxy.py) stops reading the body of part 2, then cache-save gets
# SIGKILL or SIGTERM.  Either way the key stays invisible (a restore is a
# miss; moto holds no keys/ object for it) and a later save of the same key
# succeeds and restores identically.  After SIGKILL nothing can abort the
# upload: the orphan must stay invisible and harmless.  After SIGTERM (how
# CI runners cancel a job) the save should abort its multipart upload and
# remove its staging files.
. "$(dirname "$0")/lib.sh"


exec 3>&1
note() { echo "# $*" >&3; }

start_moto 3
start_faultproxy
SAVE_PID=
test_cleanup '[ -z "$SAVE_PID" ] || kill -9 $SAVE_PID 2>/dev/null'

export AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION CICACHE_S3_TRIES \
      CICACHE_STALL_SECONDS

B=cicache-t0830
S=s3://$B/ci
# Staging files of the saves go here, to see what a killed save leaves.
mkdir -p "$TRASH/tmp"
export TMPDIR=$TRASH/tmp

# open_uploads: the open multipart uploads of the packs (the only
# objects big enough) in the bucket, one line each
open_uploads() {
	awsx s3api list-multipart-uploads --bucket $B --query "Uploads[].Key" --output text |
		tr "\t" "\n" | grep "/packs/" || true
}
# stalled_save KEY [RULE WHAT]: starts a save through the proxy with a
# request body held (by default part 2's), waits until the proxy holds
# it, and leaves its PID in SAVE_PID
stalled_save() {
	local rule=${2:-"\"query\": \"partNumber=2&\", \"after\": 1000000"} what=${3:-partNumber=2&}
	faults "[{\"method\": \"PUT\", \"action\": \"stall-request\", $rule}]" || return 1
	cache-save --store $S --key "$1" --path big >save.out 2>save.err &
	SAVE_PID=$!
	for i in $(seq 1 600); do
		grep -q "^stall.*$what" "$PLOG" && return 0
		kill -0 $SAVE_PID 2>/dev/null || break
		sleep 0.1
	done
	cat save.err
	die "the save never reached $what"
}
# stopped_with SIGNAL: sends SIGNAL to the stalled save, leaves its exit
# status in ST, and lets the proxy go on
stopped_with() {
	ST=0
	kill -"$1" $SAVE_PID
	wait $SAVE_PID || ST=$?
	SAVE_PID=
	faults "[]"
}
# new_data: 45 MB of new random data in big (and big.orig), so that a
# save has a new pack to upload
new_data() {
	rm -rf big big.orig && mkdir -p big/sub &&
	for i in 1 2 3; do head -c 15000000 /dev/urandom >big/sub/r$i || return 1; done &&
	echo small >big/small &&
	cp -a big big.orig
}
miss() {
	rm -rf big &&
	cache-restore --store $S --key "$1" >out 2>err &&
	expect_grep "^cache-hit=false$" out &&
	test ! -e big
}

test_expect_success 'moto with an IAM user, a bucket, the proxy, 45 MB of random data' '
	kill -0 $PROXY_PID && [ -s proxy.port ] &&
	moto_iam_user &&
	new_data
'
export AWS_ACCESS_KEY_ID=$(sed -n 1p creds 2>/dev/null) AWS_SECRET_ACCESS_KEY=$(sed -n 2p creds 2>/dev/null)
export AWS_ENDPOINT_URL=$PX

test_expect_success 'the bucket exists and holds no open upload' '
	awsx s3api create-bucket --bucket $B >/dev/null &&
	open_uploads >uploads && test ! -s uploads
'

test_expect_success 'SIGKILL during part 2: the key stays invisible' '
	stalled_save killed &&
	expect_grep "	POST	.*/packs/.*?uploads" proxy.log &&
	stopped_with KILL &&
	expect_eq "$ST" 137 &&
	keys_in_bucket >keys && expect_no_grep "/keys/killed" keys &&
	miss killed &&
	open_uploads >uploads &&
	note "after SIGKILL: $(wc -l <uploads) open multipart upload(s), $(ls -A "$TMPDIR" | wc -l) file(s) left in TMPDIR" &&
	test -s uploads &&
	awsx s3api list-objects-v2 --bucket $B >objects.json &&
	expect_no_grep "\"Key\"" objects.json
'

test_expect_success 'after SIGKILL, a save of the same key succeeds and restores identically' '
	open_uploads >before &&
	rm -rf big && cp -a big.orig big &&
	cache-save --store $S --key killed --path big >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	grep -q "^req.*PUT.*partNumber=3&.*	200	" proxy.log ||
		die "the save was not a multipart upload" &&
	keys_in_bucket >keys && expect_grep "/keys/killed,@[0-9a-f]\{16\}$" keys &&
	open_uploads >after && expect_eq "$(cat after)" "$(cat before)" &&
	rm -rf big &&
	cache-restore --store $S --key killed >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree big.orig big
'

test_expect_success 'every third part PUT answered 503, one part reset before its answer: the save completes' '
	new_data &&
	open_uploads >before &&
	# The reset rule comes first so that it decides for part 5 whatever
	# position part 5 takes among the parallel part PUTs; the 503 rule
	# still counts that request, so with six parts and their retries at
	# least one and usually two PUTs get the 503.
	faults "[{\"method\": \"PUT\", \"query\": \"partNumber=5&\", \"action\": \"reset\", \"first\": 1},
		 {\"method\": \"PUT\", \"query\": \"partNumber=\", \"action\": \"error\", \"status\": 503, \"every\": 3}]" &&
	cache-save --store $S --key flaky-parts --path big >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	n503=$(grep -c "^req.*	PUT	.*partNumber=.*	503	" proxy.log) &&
	note "part PUTs answered 503: $n503" &&
	test "$n503" -ge 1 &&
	expect_eq "$(grep -c "^req.*	PUT	.*partNumber=5&.*	-	-	0	reset" proxy.log)" 1 &&
	open_uploads >after && expect_eq "$(cat after)" "$(cat before)" &&
	faults "[]" &&
	rm -rf big &&
	cache-restore --store $S --key flaky-parts >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree big.orig big
'

test_expect_success 'CompleteMultipartUpload done but its answer lost: the save completes' '
	new_data &&
	faults "[{\"method\": \"POST\", \"query\": \"uploadId=\", \"action\": \"reset\", \"upstream\": true, \"first\": 1}]" &&
	cache-save --store $S --key lost-complete --path big >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	expect_eq "$(grep -c "^req.*	POST	.*uploadId=" proxy.log)" 2 &&
	faults "[]" &&
	rm -rf big &&
	cache-restore --store $S --key lost-complete >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree big.orig big
'

test_expect_success 'SIGTERM during part 2: the key stays invisible, a later save works' '
	open_uploads >before &&
	find "$TMPDIR" -mindepth 1 -delete &&
	new_data &&
	stalled_save termed &&
	stopped_with TERM &&
	note "cache-save exited $ST after SIGTERM" &&
	test "$ST" != 0 &&
	keys_in_bucket >keys && expect_no_grep "/keys/termed" keys &&
	miss termed &&
	open_uploads >after-term &&
	ls -A "$TMPDIR" >tmp-left &&
	note "after SIGTERM: $(($(wc -l <after-term) - $(wc -l <before))) new open upload(s), $(wc -l <tmp-left) file(s) left in TMPDIR" &&
	rm -rf big && cp -a big.orig big &&
	cache-save --store $S --key termed --path big >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	rm -rf big &&
	cache-restore --store $S --key termed >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree big.orig big
'

test_expect_success 'SIGTERM aborts the multipart upload and removes the staging files' '
	expect_eq "$(cat after-term)" "$(cat before)" "open uploads after SIGTERM" &&
	expect_eq "$(cat tmp-left)" "" "files left in TMPDIR"
'

# The manifest PUT is the commit point: once it is on its way a signal
# does not cut it off (S3 might keep an object whose answer never came),
# so the save finishes, exits 0 and says so
test_expect_success 'SIGTERM while the manifest PUT is on its way: the save finishes and exits 0' '
	new_data &&
	stalled_save committed "\"path\": \"/keys/committed\", \"after\": 10, \"seconds\": 2" \
		"/keys/committed" &&
	stopped_with TERM &&
	note "cache-save exited $ST after SIGTERM during the manifest PUT" &&
	expect_eq "$ST" 0 &&
	expect_grep "SIGTERM came after .committed. was published" save.err &&
	expect_grep "^cache-saved=true$" save.out &&
	keys_in_bucket >keys && expect_grep "/keys/committed,@[0-9a-f]\{16\}$" keys &&
	rm -rf big &&
	cache-restore --store $S --key committed >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree big.orig big
'

# (it ends while the proxy still holds the PUT: stopped_with releases it
# only after the wait; whether the bytes already in the socket make an
# entry is then up to the network, as after SIGKILL)
test_expect_success 'a second SIGTERM ends a save held at the manifest PUT at once' '
	new_data &&
	stalled_save twice "\"path\": \"/keys/twice\", \"after\": 10" "/keys/twice" &&
	kill -TERM $SAVE_PID && sleep 0.5 &&
	kill -0 $SAVE_PID &&
	stopped_with TERM &&
	expect_eq "$ST" 143
'

test_done
