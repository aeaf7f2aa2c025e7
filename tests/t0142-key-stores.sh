#!/usr/bin/env bash
# t0142: actions/cache's keys on the remote stores.  On S3 (moto, with
# signatures checked) and on the GitHub cache service (the twirp fixture
# and Azurite), keys with '/', spaces, ':', '%', '+', '?', '#' and UTF-8
# of 2, 3 and 4 bytes round-trip under the object names of
# docs/format.md (keys/E(KEY)), restore keys match as prefixes across
# '/', and each store's length limit is enforced up front with exit 2 and
# a message naming it: S3 object names are at most 1024 bytes (this
# store's prefix, "keys/" and 18 bytes of identity included), the cache
# service's keys at most 512 characters (461 left for E(KEY) with
# cicache's prefix, identity and timestamp).  Entries saved by the build
# before the key encoding still restore.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/gha/start.sh"

rep() { local i s=; for ((i = 0; i < $2; i++)); do s+=$1; done; printf %s "$s"; }
# Keys as actions/cache users write them, one a line.
cat >keys.txt <<'KEYS'
feature/login
/leading/slash/
 two  spaces 
Linux node 20 refs/heads/main
C:\Users\runner:x
50% + 1 ? #2 & x=y;z
literal %2F and %20 and +
grüße 日本 😀/🚀
~tilde*star!(paren)'quote'"dq"
KEYS
# round_trip STORE: every key of keys.txt saved, then each restored.
round_trip() {
	local k i=0
	while IFS= read -r k; do
		i=$((i + 1)); mkdir -p data; echo "$k" >data/f
		cache-save --store "$1" --key "$k" --path data >out 2>err || { cat err; die "save of '$k'"; return 1; }
		grep -qxF "cache-key=$k" out || { die "cache-key of '$k'"; return 1; }
	done <keys.txt
	while IFS= read -r k; do
		rm -rf data
		cache-restore --store "$1" --key "$k" >out 2>err || { cat err; die "restore of '$k'"; return 1; }
		expect_grep "^cache-hit=true$" out || return 1
		grep -qxF "cache-matched-key=$k" out || { die "matched key of '$k'"; return 1; }
		expect_eq "$(cat data/f)" "$k" || return 1
	done <keys.txt
}
# prefixes STORE: restore keys with '/' and ' ' match across them.
prefixes() {
	local k
	for k in feature/logout featureX "feature /x"; do
		mkdir -p data && echo "$k" >data/f && sleep 1.1 &&
		cache-save -q --store "$1" --key "$k" --path data >/dev/null || return 1
	done
	rm -rf data && cache-restore --store "$1" --key nope --restore-key feature/ >out &&
	grep -qxF "cache-matched-key=feature/logout" out &&
	rm -rf data && cache-restore --store "$1" --key nope --restore-key feature/logi >out &&
	grep -qxF "cache-matched-key=feature/login" out && expect_eq "$(cat data/f)" feature/login &&
	rm -rf data && cache-restore --store "$1" --key nope --restore-key "feature " >out &&
	grep -qxF "cache-matched-key=feature /x" out &&
	rm -rf data && cache-restore --store "$1" --key nope --restore-key "grüße 日" >out &&
	grep -qxF "cache-matched-key=grüße 日本 😀/🚀" out &&
	rm -rf data && cache-restore --store "$1" --key nope --restore-key "feature/login/" >out &&
	expect_grep "^cache-hit=false$" out && test ! -e data
}
# too_long STORE KEY NEEDLE...: save, restore and a restore key are exit 2
# with a first message line holding every needle; nothing is written.
too_long() {
	local s=$1 k=$2 n; shift 2
	mkdir -p data && echo x >data/f
	expect_code 2 cache-save --store "$s" --key "$k" --path data >out 2>err || return 1
	cat err; head -n 1 err >err1
	for n in "$@"; do expect_grep "$n" err1 || return 1; done
	expect_no_grep "cache-saved=true" out || return 1
	expect_code 2 cache-restore --store "$s" --key "$k" >out 2>err || return 1
	for n in "$@"; do expect_grep "$n" err || return 1; done
	expect_code 2 cache-restore --store "$s" --key ok --restore-key "$k" >out 2>err || return 1
	expect_grep "restore key" err
}
fits() {
	mkdir -p data && echo "$2" >data/f &&
	cache-save -q --store "$1" --key "$2" --path data >/dev/null &&
	rm -rf data && cache-restore --store "$1" --key "$2" >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat data/f)" "$2"
}

# ------------------------------------------------------------------ S3
# moto checks signatures against the percent-decoded path, so with
# signature checks on it refuses any key with a space, ':', '%' or
# UTF-8 even from the aws CLI (botocore).  This moto does not check them;
# tests/helper/sigv4-check-proxy.py in front of it checks every request's
# signature as S3 does (botocore's signer over the path and query encoded
# again from their decoded bytes) and forwards the good ones.
start_moto_signed 1000000
export AWS_REGION=us-east-1
python3 "$TEST_DIR/helper/sigv4-check-proxy.py" --upstream "127.0.0.1:$PORT" \
	--port-file "$TRASH/sig.port" --log "$TRASH/sig.log" \
	--access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" \
	>"$TRASH/sig.out" 2>&1 &
SIG_PID=$!
test_cleanup 'kill $SIG_PID; wait $SIG_PID 2>/dev/null'
for i in $(seq 1 100); do [ -s "$TRASH/sig.port" ] && break; sleep 0.1; done
B=cicache-t0142
S="s3://$B/ci/cache?endpoint=http://127.0.0.1:$(cat "$TRASH/sig.port")&path-style=true"

test_expect_success 'S3: keys with /, spaces, %, +, ?, #, : and UTF-8 round-trip' '
	awsx s3api create-bucket --bucket $B >/dev/null &&
	round_trip "$S"
'

test_expect_success 'S3: every request was signed as S3 checks it (and the check can fail)' '
	expect_grep "^OK PUT .*/ci/cache/keys/gr%C3%BC%C3%9Fe%2C20%E6%97%A5%E6%9C%AC%2C20%F0%9F%98%80%2C2F%F0%9F%9A%80%2C%40[0-9a-f]\{16\}$" "$TRASH/sig.log" &&
	expect_grep "^OK PUT .*/ci/cache/keys/50%25%2C20%2B%2C201%2C20%3F%2C20%232" "$TRASH/sig.log" &&
	expect_grep "^OK GET .*prefix=" "$TRASH/sig.log" &&
	expect_no_grep "^MISMATCH" "$TRASH/sig.log" &&
	mkdir -p data && echo x >data/f &&
	AWS_SECRET_ACCESS_KEY=wrong expect_code 4 cache-save --store "$S" --key "bad sig/x" --path data 2>err &&
	expect_grep SignatureDoesNotMatch err &&
	expect_grep "^MISMATCH" "$TRASH/sig.log" &&
	: >"$TRASH/sig.log"
'

test_expect_success 'S3: object names are keys/E(KEY),@V, as the aws CLI lists them' '
	keys_in_bucket >raw &&
	cat raw &&
	sed -n "s/,@[0-9a-f]\{16\}$//p" raw >names &&
	expect_eq "$(wc -l <names)" "$(wc -l <raw)" &&
	grep -qxF "ci/cache/keys/feature,2Flogin" names &&
	grep -qxF "ci/cache/keys/,2Fleading,2Fslash,2F" names &&
	grep -qxF "ci/cache/keys/,20two,20,20spaces,20" names &&
	grep -qxF "ci/cache/keys/literal,20%2F,20and,20%20,20and,20+" names &&
	grep -qxF "ci/cache/keys/grüße,20日本,20😀,2F🚀" names &&
	expect_eq "$(wc -l <names)" "$(wc -l <keys.txt)"
'

test_expect_success 'S3: restore keys match as prefixes across / (one listing each)' '
	prefixes "$S"
'

# "ci/cache/" (9) + "keys/" (5) + 18 of identity: 992 bytes left for E.
test_expect_success 'S3: 1024-byte object names: 992 bytes of encoded key fit, 993 do not' '
	fits "$S" "$(rep 日 330)ab" &&
	too_long "$S" "$(rep 日 330)abc" "1024 bytes" "993 bytes" "at most 992" &&
	fits "$S" "$(rep / 330)ab" &&
	too_long "$S" "$(rep / 331)" "993 bytes" "takes 3" &&
	too_long "$S" "$(rep 😀 256)" "1024 bytes" "at most 992" &&
	fits "$S" "$(rep a 512)"
'

# A prefix of 500 bytes and its "/": 1024 - 501 - 23 = 500 bytes left.
test_expect_success 'S3: a longer store prefix leaves less room' '
	S2="s3://$B/$(rep p 500)?endpoint=$EP&path-style=true" &&
	fits "$S2" "$(rep a 500)" &&
	too_long "$S2" "$(rep a 501)" "at most 500"
'

test_expect_success 'S3: entries saved before the key encoding still restore (tests/data/store-v1)' '
	old_store_to "$S" old-v1:abc &&
	rm -rf data && cache-restore --store "$S" --key nope --restore-key old-v1 >out &&
	grep -qxF "cache-matched-key=old-v1:abc" out && expect_eq "$(cat data/f)" old
'

test_expect_success 'S3: a comma or a control byte is still a usage error' '
	expect_code 2 cache-save --store "$S" --key "a,b" --path data 2>err &&
	expect_grep "'"','"'" err &&
	expect_code 2 cache-restore --store "$S" --key "$(printf "a\tb")" 2>err &&
	expect_grep "control character" err
'

test_expect_success 'S3: no request of the tests above had a bad signature' '
	grep -c "^OK" "$TRASH/sig.log" &&
	expect_no_grep "^MISMATCH" "$TRASH/sig.log"
'

# ----------------------------------------------------------------- gha
gha_start
logjs() { gha_log | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
	const l = s.trim().split("\n").filter(Boolean).map(JSON.parse); console.log(eval(process.argv[1])); })' "$@"; }

test_expect_success 'gha: keys with /, spaces, : and UTF-8 round-trip' '
	round_trip gha
'

# The service refuses ',' in keys (as @actions/cache's checkKey does), so
# the gha store writes E's ',' as ' ', which E leaves in no name.
test_expect_success 'gha: entry keys are "cicache/keys/" E(KEY) ",@V/" and 19 digits, "," as " "' '
	logjs "l.filter(r => r.method === \"CreateCacheEntry\" && r.key.startsWith(\"cicache/keys/\")).map(r => r.key).join(\"\\n\")" >ekeys &&
	cat ekeys &&
	grep -q "^cicache/keys/feature 2Flogin @[0-9a-f]\{16\}/[0-9]\{19\}$" ekeys &&
	grep -q "^cicache/keys/grüße 20日本 20😀 2F🚀 @[0-9a-f]\{16\}/[0-9]\{19\}$" ekeys &&
	grep -q "^cicache/keys/ 20two 20 20spaces 20 @[0-9a-f]\{16\}/[0-9]\{19\}$" ekeys &&
	! grep -q , ekeys
'

test_expect_success 'gha: restore keys match as prefixes across /' '
	prefixes gha
'

# 512 - "cicache/" (8) - "keys/" (5) - 18 of identity - "/" and 19 digits:
# 461 characters, counted as the service counts (UTF-16 code units).
test_expect_success 'gha: 461 characters of encoded key fit, 462 do not, 512 do not' '
	fits gha "$(rep k 461)" &&
	too_long gha "$(rep k 462)" "512 characters" "462 characters" "at most 461" &&
	fits gha "$(rep 日 461)" &&
	fits gha "$(rep 😀 230)x" &&
	too_long gha "$(rep 😀 231)" "462 characters" &&
	too_long gha "$(rep a 512)" "at most 461" &&
	too_long gha "$(rep / 154)" "at most 461" "takes 3" &&
	fits gha "$(rep / 153)xx"
'

test_expect_success 'gha: a namespace takes its length and a /' '
	fits gha://ns1 "$(rep n 457)" &&
	too_long gha://ns1 "$(rep n 458)" "at most 457"
'

test_expect_success 'gha: entries saved before the key encoding still restore (tests/data/store-v1)' '
	old_store_to gha old-v1:abc &&
	rm -rf data && cache-restore --store gha --key nope --restore-key old-v1 >out &&
	grep -qxF "cache-matched-key=old-v1:abc" out && expect_eq "$(cat data/f)" old
'

test_done
