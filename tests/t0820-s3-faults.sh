#!/usr/bin/env bash
# run-tests: alone (injects faults with timings)
# t0820: the S3 store behind a fault-injecting proxy (tests/helper/
# faultproxy.py) in front of moto, with signature checking on.  Bursts of
# 503, 500, 429 with Retry-After, 400 RequestTimeout, connection resets
# before and during an answer, truncated and stalled bodies: saves and
# restores complete and restore exactly what was saved, and the request log
# shows the retries (ranged GETs resume past the bytes already received).
# Faults that do not pass (a corrupted byte, a persistent 503) fail cleanly:
# the documented exit code, a message naming the bucket, never
# cache-hit=true, no entry visible after a failed save, and the next save
# without faults works.
#
# The stall cases assume CICACHE_STALL_SECONDS (the HTTP layer's stall
# limit, 30 s by default) is honoured; they set it to 3.
. "$(dirname "$0")/lib.sh"


exec 3>&1
note() { echo "# $*" >&3; }

start_moto 3
start_faultproxy

export AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION CICACHE_S3_TRIES \
      CICACHE_STALL_SECONDS
# awsx (lib.sh) talks to moto directly; cicache goes through the proxy.

B=cicache-t0820
S=s3://$B/ci

# reqs [METHOD [TARGET-SUBSTRING [STATUS]]]: answered requests in the log
reqs() {
	awk -F'\t' -v m="${1:-}" -v p="${2:-}" -v s="${3:-}" \
		'$1 == "req" && (m == "" || $4 == m) && (p == "" || index($5, p)) &&
		 (s == "" || $7 == s)' "$PLOG"
}
nreqs() { reqs "$@" | wc -l | tr -d " "; }
# restore_ok KEY [ORIG]: a restore through the proxy that must be an exact
# hit, restoring a tree equal to ORIG (data.orig)
restore_ok() {
	rm -rf data &&
	cache-restore --store $S --key "$1" >out 2>err ||
		{ cat err; die "restore of '$1' failed"; } &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree "${2:-data.orig}" data
}
# fresh_data: new random content in data (and data.orig), so that a save
# has a new pack to upload instead of reusing the packs already stored
fresh_data() {
	rm -rf data data.orig && cp -a clean.orig data &&
	head -c 6000000 /dev/urandom >data/rand &&
	cp -a data data.orig
}
# prefixes_of ORIG DIR: every file under DIR holds a prefix of the file of
# the same name under ORIG (a failed restore may stop halfway through a
# file, but no byte it wrote may differ from what was saved)
prefixes_of() {
	(cd "$2" && find . -type f) >files &&
	while IFS= read -r f; do
		n=$(stat -c %s "$2/$f") &&
		[ -f "$1/$f" ] && [ "$n" -le "$(stat -c %s "$1/$f")" ] &&
			cmp -s -n "$n" "$1/$f" "$2/$f" ||
			die "'$2/$f' is not a prefix of '$1/$f'"
	done <files
}
now() { date +%s.%N; }

test_expect_success 'moto with an IAM user, a bucket and the proxy in front' '
	kill -0 $PROXY_PID && [ -s proxy.port ] &&
	moto_iam_user
'
export AWS_ACCESS_KEY_ID=$(sed -n 1p creds 2>/dev/null) AWS_SECRET_ACCESS_KEY=$(sed -n 2p creds 2>/dev/null)
export AWS_ENDPOINT_URL=$PX

test_expect_success 'a clean round trip through the proxy; signatures still checked' '
	awsx s3api create-bucket --bucket $B >/dev/null &&
	mkdir -p data/sub &&
	head -c 6000000 /dev/urandom >data/rand &&
	seq 1 300000 >data/sub/numbers &&
	for i in $(seq 1 20); do echo "small $i" >data/sub/s$i || exit 1; done &&
	ln -s rand data/link &&
	cp -a data clean.orig &&
	faults "[]" &&
	cache-save --store $S --key clean --path data >out &&
	expect_grep "^cache-saved=true$" out &&
	restore_ok clean clean.orig &&
	test "$(nreqs GET /packs/)" -ge 1 &&
	expect_eq "$(nreqs "" "" 503)" 0 &&
	AWS_SECRET_ACCESS_KEY=wrong expect_code 4 cache-restore --store $S --key clean 2>err &&
	expect_grep SignatureDoesNotMatch err
'

test_expect_success 'a burst of 503 on PUTs: the save retries and completes' '
	fresh_data &&
	faults "[{\"method\": \"PUT\", \"action\": \"error\", \"status\": 503, \"first\": 3}]" &&
	cache-save --store $S --key burst-put --path data >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	reqs >log &&
	expect_eq "$(nreqs PUT "" 503)" 3 "503 answers in the log" &&
	expect_eq "$(nreqs PUT /packs/ 200)" 1 &&
	expect_eq "$(nreqs PUT /keys/burst-put 200)" 1 &&
	restore_ok burst-put
'

test_expect_success 'a burst of 503 and 500 on pack GETs: the restore retries and completes' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"error\", \"status\": 503, \"first\": 2},
		 {\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"error\", \"status\": 500, \"skip\": 2, \"first\": 2}]" &&
	CICACHE_S3_TRIES=6 restore_ok clean clean.orig &&
	expect_eq "$(nreqs GET /packs/ 503)" 2 &&
	expect_eq "$(nreqs GET /packs/ 500)" 2
'

test_expect_success 'a burst of 500 on the manifest GET: the restore retries and completes' '
	faults "[{\"method\": \"GET\", \"path\": \"/keys/\", \"action\": \"error\", \"status\": 500, \"first\": 2}]" &&
	restore_ok clean clean.orig &&
	expect_eq "$(nreqs GET /keys/clean 500)" 2 &&
	expect_eq "$(nreqs GET /keys/clean 200)" 1
'

test_expect_success '429 with Retry-After: 2 is honoured' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"error\", \"status\": 429, \"retry_after\": 2, \"first\": 1}]" &&
	restore_ok clean clean.orig &&
	reqs GET /packs/ >log &&
	expect_eq "$(awk -F"\t" "NR == 1 { print \$7 }" log)" 429 &&
	gap=$(awk -F"\t" "NR == 1 { t = \$3 } NR == 2 { print \$3 - t }" log) &&
	echo "waited $gap s after the 429" &&
	awk -v g="$gap" "BEGIN { exit !(g >= 1.9) }" ||
		die "the retry came $gap s after a 429 with Retry-After: 2"
'

test_expect_success '400 RequestTimeout on PUTs is retried' '
	fresh_data &&
	faults "[{\"method\": \"PUT\", \"path\": \"/packs/\", \"action\": \"error\", \"status\": 400, \"first\": 2}]" &&
	cache-save --store $S --key timeout400 --path data >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	expect_eq "$(nreqs PUT "" 400)" 2 &&
	restore_ok timeout400
'

test_expect_success 'a reset before the answer, on a PUT the server took and on a GET' '
	fresh_data &&
	faults "[{\"method\": \"PUT\", \"path\": \"/keys/\", \"action\": \"reset\", \"upstream\": true, \"first\": 1},
		 {\"method\": \"PUT\", \"path\": \"/packs/\", \"action\": \"reset\", \"first\": 1}]" &&
	cache-save --store $S --key reset-put --path data >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	expect_eq "$(nreqs PUT /keys/reset-put -)" 1 &&
	expect_eq "$(nreqs PUT /keys/reset-put 200)" 1 &&
	expect_eq "$(nreqs PUT /packs/ -)" 1 &&
	expect_eq "$(nreqs PUT /packs/ 200)" 1 &&
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"reset\", \"first\": 1}]" &&
	restore_ok reset-put &&
	expect_eq "$(nreqs GET /packs/ -)" 1
'

# first_resume: for the first pack GET that failed, prints its Range start
# and the Range start of the next GET of the same pack.
first_resume() {
	awk -F'\t' '$1 != "req" && $1 != "stall" || $4 != "GET" || !index($5, "/packs/") { next }
		function start(r) { sub(/^bytes=/, "", r); sub(/-.*/, "", r); return r + 0 }
		want == "" && $9 != "-" { want = $5; a = start($6); next }
		want != "" && $5 == want && $9 == "-" { print a, start($6); exit }' "$PLOG"
}

test_expect_success 'a reset mid-body: the ranged GET resumes past the bytes received' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"range\": true, \"action\": \"reset\", \"after\": 1000000, \"first\": 1}]" &&
	restore_ok clean clean.orig &&
	r=$(first_resume) && a=${r% *} && b=${r#* } &&
	echo "first Range from $a, the retry from $b" &&
	test "$b" -gt "$a" && test "$b" -le "$((a + 1000000))"
'

test_expect_success 'a truncated pack body (close before the promised length) is resumed' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"range\": true, \"action\": \"truncate\", \"after\": 1500000, \"first\": 1}]" &&
	restore_ok clean clean.orig &&
	r=$(first_resume) && a=${r% *} && b=${r#* } &&
	echo "first Range from $a, the retry from $b" &&
	expect_eq "$b" "$((a + 1500000))"
'

test_expect_success 'a truncated manifest body is fetched again' '
	faults "[{\"method\": \"GET\", \"path\": \"/keys/\", \"action\": \"truncate\", \"after\": 40, \"first\": 1}]" &&
	restore_ok clean clean.orig &&
	expect_eq "$(nreqs GET /keys/clean)" 2
'

test_expect_success 'a pack GET stalled mid-body is given up and resumed (CICACHE_STALL_SECONDS=3)' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"range\": true, \"action\": \"stall\", \"after\": 500000, \"first\": 1}]" &&
	t0=$(now) &&
	CICACHE_STALL_SECONDS=3 restore_ok clean clean.orig &&
	t=$(awk -v a=$t0 -v b=$(now) "BEGIN { print b - a }") &&
	r=$(first_resume) && a=${r% *} && b=${r#* } &&
	faults "[]" &&
	echo "restore took $t s; first Range from $a, the retry from $b" &&
	test "$b" -gt "$a" &&
	awk -v t=$t "BEGIN { exit !(t >= 2.5 && t < 20) }" ||
		die "a 3 s stall limit should have cost 3 to 20 s, not $t s"
'

test_expect_success 'a PUT whose body stops being read is given up and retried (CICACHE_STALL_SECONDS=3)' '
	fresh_data &&
	faults "[{\"method\": \"PUT\", \"path\": \"/packs/\", \"action\": \"stall-request\", \"after\": 1000000, \"first\": 1}]" &&
	t0=$(now) &&
	t=none &&
	{ CICACHE_STALL_SECONDS=3 cache-save --store $S --key stall-put --path data >out 2>err || { cat err; reqs | cut -f1,2,3,4,6-9; false; }; } &&
	t=$(awk -v a=$t0 -v b=$(now) "BEGIN { print b - a }") &&
	faults "[]" &&
	echo "save took $t s" &&
	expect_grep "^cache-saved=true$" out &&
	restore_ok stall-put &&
	awk -v t=$t "BEGIN { exit !(t >= 2.5 && t < 20) }" ||
		die "a 3 s stall limit should have cost 3 to 20 s, not $t s"
'

test_expect_success 'a pack the server says is missing (404 NoSuchKey): exit 5, never a hit' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"error\", \"status\": 404, \"code\": \"NoSuchKey\"}]" &&
	rm -rf data &&
	expect_code 5 cache-restore --store $S --key clean >out 2>err &&
	cat err &&
	expect_grep "^cache-hit=false$" out &&
	expect_no_grep "cache-hit=true" out &&
	expect_grep "missing" err &&
	if [ -d data ]; then prefixes_of clean.orig data; fi &&
	faults "[]" &&
	restore_ok clean clean.orig
'

test_expect_success 'a pack GET refused with 403 AccessDenied: exit 4 naming the bucket' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"error\", \"status\": 403, \"code\": \"AccessDenied\"}]" &&
	rm -rf data &&
	expect_code 4 cache-restore --store $S --key clean >out 2>err &&
	cat err &&
	expect_no_grep "cache-hit=true" out &&
	expect_grep "$B" err &&
	expect_grep "AccessDenied" err &&
	n=$(nreqs GET /packs/ 403) &&
	note "a pack GET answered 403 was asked $n time(s)" &&
	test "$n" -le 2 || die "a 403 was retried: $n requests" &&
	faults "[]"
'

# Some caches and gateways answer a ranged GET with the whole object
# (200).  The data is not damaged: the store misbehaves, which is exit 4.
test_expect_success 'a server that ignores Range: a store error (exit 4), never a hit' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"drop-range\"}]" &&
	rm -rf data &&
	st=0 && cache-restore --store $S --key clean >out 2>err || st=$? &&
	cat err &&
	expect_grep "^cache-hit=false$" out &&
	expect_no_grep "cache-hit=true" out &&
	expect_grep "range" err &&
	if [ -d data ]; then prefixes_of clean.orig data; fi &&
	faults "[]" &&
	expect_eq "$st" 4 "exit status"
'

# A hung server (headers, then silence) costs at most tries x the stall
# limit per request: 2 x 2 s here, plus backoff.  A prefetcher's failed
# fetch must not be repeated in full by the reader behind it.
test_expect_success 'a server that hangs on every pack GET: exit 4 within tries x stall limit' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"stall\", \"after\": 0}]" &&
	rm -rf data &&
	t0=$(now) &&
	st=0 && CICACHE_STALL_SECONDS=2 CICACHE_S3_TRIES=2 \
		cache-restore --store $S --key clean >out 2>err || st=$? &&
	t=$(awk -v a=$t0 -v b=$(now) "BEGIN { print b - a }") &&
	n=$(grep -c "^stall" proxy.log) &&
	faults "[]" &&
	cat err &&
	note "a hung server: the restore gave up after $t s with exit $st, $n stalled GETs" &&
	expect_eq "$st" 4 &&
	expect_no_grep "cache-hit=true" out &&
	expect_grep "$B" err &&
	awk -v t=$t "BEGIN { exit !(t < 7) }" || die "giving up took $t s"
'

# A record that needs no data (a symbolic link, after 3000 empty files
# that give the prefetcher time to start its GET) cannot be written, while
# the data behind it hangs: the restore must not wait for fetches it no
# longer needs.
test_expect_success 'a restore failing on its destination exits at once while pack GETs hang' '
	rm -rf df && mkdir -p df/e && head -c 3000000 /dev/urandom >df/zz && ln -s zz df/f0 &&
	(cd df/e && seq -f "%04g" 1 3000 | xargs touch) &&
	cache-save --store $S --key dest-fail --path df >out &&
	rm -rf df && mkdir -p df/f0/x && echo keep >df/f0/x/f &&
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"stall\", \"after\": 0}]" &&
	t0=$(now) &&
	st=0 && CICACHE_STALL_SECONDS=5 cache-restore --store $S --key dest-fail >out 2>err || st=$? &&
	t=$(awk -v a=$t0 -v b=$(now) "BEGIN { print b - a }") &&
	n=$(grep -c "^stall" proxy.log) &&
	faults "[]" &&
	cat err &&
	note "a restore failing on its destination exited $st after $t s ($n pack GETs had hung)" &&
	expect_eq "$st" 6 &&
	expect_grep "f0" err &&
	expect_no_grep "cache-hit=true" out &&
	expect_eq "$(cat df/f0/x/f)" keep &&
	test "$n" -ge 1 || die "no pack GET was under way: the case proves nothing" &&
	awk -v t=$t "BEGIN { exit !(t < 4) }" || die "exiting took $t s"
'

test_expect_success 'a byte corrupted on every pack GET: exit 5, never a hit' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"flip\", \"offset\": 1000}]" &&
	rm -rf data &&
	expect_code 5 cache-restore --store $S --key clean >out 2>err &&
	cat err &&
	expect_grep "^cache-hit=false$" out &&
	expect_no_grep "cache-hit=true" out &&
	expect_grep "corrupt\|verification" err &&
	expect_grep "clean" err &&
	test "$(nreqs GET /packs/ 206)" -ge 1 &&
	expect_eq "$(reqs GET /packs/ 206 | awk -F"\t" "\$9 == \"-\"" | wc -l)" 0 \
		"pack GETs answered without the damage" &&
	if [ -d data ]; then prefixes_of clean.orig data; fi &&
	faults "[]" &&
	restore_ok clean clean.orig
'

test_expect_success 'a byte corrupted on the first pack GET only: a clean failure or a correct hit' '
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"flip\", \"offset\": 1000, \"first\": 1}]" &&
	rm -rf data &&
	st=0 && cache-restore --store $S --key clean >out 2>err || st=$? &&
	case $st in
	0)	note "corrupted first GET: the restore fetched again and succeeded" &&
		expect_grep "^cache-hit=true$" out && expect_same_tree clean.orig data ;;
	5)	note "corrupted first GET: the restore fails with exit 5 (no refetch)" &&
		expect_grep "^cache-hit=false$" out && expect_no_grep "cache-hit=true" out &&
		if [ -d data ]; then prefixes_of clean.orig data; fi ;;
	*)	cat err; die "exit $st" ;;
	esac &&
	faults "[]" &&
	restore_ok clean clean.orig
'

test_expect_success 'a corrupted manifest is passed over: a miss, never a hit' '
	faults "[{\"method\": \"GET\", \"path\": \"/keys/\", \"action\": \"flip\", \"offset\": 60}]" &&
	rm -rf data &&
	cache-restore --store $S --key clean >out 2>err &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "^cache-matched-key=$" out &&
	expect_grep "skipping entry .clean." err &&
	test ! -e data &&
	expect_code 1 cache-restore --fail-on-miss --store $S --key clean >out 2>err &&
	expect_no_grep "cache-hit=true" out &&
	test ! -e data &&
	faults "[]" &&
	restore_ok clean clean.orig
'

# The server stored the manifest but its answer was lost: the retried
# conditional PUT (If-None-Match: *) meets our own object and gets 412.
test_expect_success 'an --immutable save whose answer was lost is published (and restores)' '
	fresh_data &&
	faults "[{\"method\": \"PUT\", \"path\": \"/keys/\", \"action\": \"reset\", \"upstream\": true, \"first\": 1}]" &&
	cache-save --immutable --store $S --key lost-answer --path data >save.out 2>save.err &&
	expect_eq "$(nreqs PUT /keys/lost-answer)" 2 &&
	faults "[]" &&
	restore_ok lost-answer
'

test_expect_success 'an --immutable save whose answer was lost reports cache-saved=true' '
	cat save.err &&
	expect_grep "^cache-saved=true$" save.out
'

test_expect_success 'damaged or cut base manifests are not used for dedup; the save completes' '
	fresh_data &&
	faults "[{\"method\": \"GET\", \"path\": \"/keys/\", \"action\": \"flip\", \"offset\": 100, \"first\": 1},
		 {\"method\": \"GET\", \"path\": \"/keys/\", \"action\": \"truncate\", \"after\": 100}]" &&
	CICACHE_S3_TRIES=2 cache-save --store $S --key bad-bases --restore-key clean --path data >out 2>err &&
	cat err &&
	expect_grep "^cache-saved=true$" out &&
	expect_grep "not using entry" err &&
	test "$(nreqs GET /keys/)" -ge 2 &&
	faults "[]" &&
	restore_ok bad-bases
'

# A byte damaged on the way up.  S3 checks Content-MD5 and refuses the
# body (the save fails); moto does not, so the damaged pack is stored and
# the restore must catch it (exit 5).  Either way no wrong byte is a hit,
# and saving the key again must repair it, not reuse the damaged pack.
test_expect_success 'a pack damaged on the way up: never restored as a hit' '
	fresh_data &&
	faults "[{\"method\": \"PUT\", \"path\": \"/packs/\", \"action\": \"flip-request\", \"offset\": 5000, \"first\": 1}]" &&
	st=0 && cache-save --store $S --key damaged-up --path data >out 2>err || st=$? &&
	faults "[]" &&
	note "a pack damaged on the way up: cache-save exited $st" &&
	rm -rf data &&
	rst=0 && cache-restore --store $S --key damaged-up >out 2>err || rst=$? &&
	cat err &&
	expect_no_grep "cache-hit=true" out &&
	case $st/$rst in
	0/5)	if [ -d data ]; then prefixes_of data.orig data; fi ;;
	4/0)	expect_grep "^cache-hit=false$" out && test ! -e data ;;
	*)	die "save exited $st, restore $rst" ;;
	esac
'

test_expect_success 'after a pack damaged on the way up, saving the key again repairs it' '
	rm -rf data && cp -a data.orig data &&
	cache-save --store $S --key damaged-up --path data >out 2>err &&
	cat err &&
	restore_ok damaged-up
'

test_expect_success 'a persistent 503 on pack PUTs: exit 4 after bounded tries, nothing visible' '
	fresh_data &&
	faults "[{\"method\": \"PUT\", \"path\": \"/packs/\", \"action\": \"error\", \"status\": 503}]" &&
	CICACHE_S3_TRIES=3 expect_code 4 cache-save --store $S --key doomed --path data >out 2>err &&
	cat err &&
	expect_grep "^cache-saved=false$" out &&
	expect_grep "$B" err &&
	expect_grep "503" err &&
	expect_eq "$(nreqs PUT /packs/ 503)" 3 "tries with CICACHE_S3_TRIES=3" &&
	expect_eq "$(nreqs PUT /keys/)" 0 &&
	faults "[]" &&
	keys_in_bucket >keys && expect_no_grep "/keys/doomed" keys &&
	rm -rf data && cache-restore --store $S --key doomed >out 2>err &&
	expect_grep "^cache-hit=false$" out && test ! -e data &&
	cp -a data.orig data &&
	cache-save --store $S --key doomed --path data >out &&
	expect_grep "^cache-saved=true$" out &&
	restore_ok doomed
'

test_expect_success 'a persistent 503 on the manifest PUT: exit 4, nothing visible' '
	fresh_data &&
	faults "[{\"method\": \"PUT\", \"path\": \"/keys/\", \"action\": \"error\", \"status\": 503}]" &&
	CICACHE_S3_TRIES=2 expect_code 4 cache-save --store $S --key doomed2 --path data >out 2>err &&
	expect_grep "^cache-saved=false$" out &&
	expect_grep "$B" err &&
	expect_grep "doomed2" err &&
	faults "[]" &&
	keys_in_bucket >keys && expect_no_grep "/keys/doomed2" keys &&
	rm -rf data && cache-restore --store $S --key doomed2 >out &&
	expect_grep "^cache-hit=false$" out && test ! -e data &&
	cp -a data.orig data &&
	cache-save --store $S --key doomed2 --path data >out &&
	restore_ok doomed2
'

test_expect_success 'a persistent 503 on every GET and HEAD: a restore exits 4 naming the bucket' '
	faults "[{\"method\": [\"GET\", \"HEAD\"], \"action\": \"error\", \"status\": 503}]" &&
	rm -rf data &&
	t0=$(now) &&
	expect_code 4 env CICACHE_S3_TRIES=3 cache-restore --store $S --key clean >out 2>err &&
	t=$(awk -v a=$t0 -v b=$(now) "BEGIN { print b - a }") &&
	cat err &&
	expect_grep "$B" err &&
	expect_grep "SlowDown\|503" err &&
	expect_no_grep "cache-hit=true" out &&
	test ! -e data &&
	awk -v t=$t "BEGIN { exit !(t < 30) }" || die "giving up took $t s"
'
faults "[]" >/dev/null 2>&1

test_done
