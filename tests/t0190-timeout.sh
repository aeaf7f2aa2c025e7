#!/usr/bin/env bash
# run-tests: alone (measures timeouts)
# t0190: deadlines.  cache-restore --timeout (CACHE_TIMEOUT) and the segment
# timeout (SEGMENT_DOWNLOAD_TIMEOUT_MINS, read as actions/cache reads it,
# fractions of a minute allowed): a restore from moto stalled by the fault
# proxy is abandoned near the deadline as a miss with a warning
# (cache-hit=false, cache-matched-key empty, exit 0, or 1 with
# --fail-on-miss); the files already there stay whole, no staged file is
# left in the destination or in TMPDIR.  A segment that only retries past
# the limit is abandoned too.  cache-save --timeout with a stalled upload
# publishes nothing (warning, cache-saved=false, exit 0) and the next save
# works.  A bad duration is a usage error (exit 2); a bad
# SEGMENT_DOWNLOAD_TIMEOUT_MINS is a warning and the default applies.
. "$(dirname "$0")/lib.sh"

start_moto 1000000	# no signature checks: this is about time
start_faultproxy

export AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION CICACHE_S3_TRIES \
      CICACHE_STALL_SECONDS CACHE_TIMEOUT SEGMENT_DOWNLOAD_TIMEOUT_MINS
export AWS_ENDPOINT_URL=$PX
B=cicache-t0190
S=s3://$B/ci
mkdir -p "$TRASH/tmp"
export TMPDIR=$TRASH/tmp

now() { date +%s.%N; }
# A program that ignored its deadline would wait for the stall forever:
# bounded here, so that it fails instead.
bounded() { timeout -k 5 40 "$@"; }
# took START MAX: the time since START is below MAX seconds
took() {
	awk -v a="$1" -v b="$(now)" -v m="$2" 'BEGIN { exit !(b - a < m) }' ||
		die "took $(awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }') s, more than $2 s"
}
tmp_empty() {
	ls -A "$TMPDIR" >left && { test ! -s left || { cat left; die "left in TMPDIR"; }; }
}
# old_tree: data holds files that the entry also holds, with other
# content, and one it does not hold; old.orig is a copy
old_tree() {
	rm -rf data old.orig && mkdir -p data/sub &&
	head -c 2000000 /dev/urandom >data/sub/big &&
	echo old >data/f1 && echo mine >data/keep &&
	cp -a data old.orig
}
# consistent: every file in data is whole: the old one or the saved one,
# never a part; nothing staged (.cicache-*.tmp) is left
consistent() {
	(cd data && find . -name ".cicache-*" -print) >staged &&
	{ test ! -s staged || { cat staged; die "staged files left"; }; } &&
	cmp data/keep old.orig/keep &&
	for f in sub/big f1 f2 f3; do
		test ! -e data/$f || cmp -s data/$f old.orig/$f || cmp -s data/$f data.orig/$f ||
			die "data/$f is neither the old file nor the saved one" || return 1
	done &&
	tmp_empty
}
# missed OUT ERR: the outputs and the warning of an abandoned restore
missed() {
	expect_grep "^cache-hit=false$" "$1" &&
	expect_grep "^cache-matched-key=$" "$1" &&
	expect_grep "^cache-primary-key=k1$" "$1" &&
	expect_grep "warning: .*restore abandoned, treated as a miss" "$2"
}

test_expect_success 'a bucket and an entry with a few MB in several files' '
	curl -sf -X PUT "$EP/$B" >/dev/null &&
	mkdir -p data/sub && head -c 3000000 /dev/urandom >data/sub/big &&
	for i in 1 2 3; do echo "file $i" >data/f$i || return 1; done &&
	cp -a data data.orig &&
	cache-save -q --store $S --key k1 --path data >/dev/null &&
	tmp_empty && rm -rf data
'

for t in 0 -1 abc 5x 1.5d "" 1e999 2mm; do
	test_expect_success "--timeout '$t' is a usage error (exit 2) for both programs" '
		expect_code 2 cache-restore --store $S --key k1 --timeout "'"$t"'" 2>err &&
		expect_grep "takes a duration" err &&
		expect_code 2 cache-save --store $S --key k1 --path data.orig --timeout "'"$t"'" 2>err &&
		expect_grep "takes a duration" err
	'
done

test_expect_success 'a bad CACHE_TIMEOUT is a usage error too; the flag hides it' '
	CACHE_TIMEOUT=soon expect_code 2 cache-restore --store $S --key k1 2>err &&
	expect_grep "CACHE_TIMEOUT takes a duration" err &&
	CACHE_TIMEOUT=soon expect_code 2 cache-save --store $S --key k1 --path data.orig 2>err &&
	expect_grep "CACHE_TIMEOUT takes a duration" err &&
	rm -rf data &&
	CACHE_TIMEOUT=soon cache-restore --store $S --key k1 --timeout 1m >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree data.orig data
'

test_expect_success 'durations in seconds, s, m and h leave a quick restore alone' '
	for t in 90 2.5 30s 1.5m 2h; do
		rm -rf data &&
		cache-restore --store $S --key k1 --timeout $t >out 2>err &&
		expect_grep "^cache-hit=true$" out &&
		expect_no_grep "warning" err &&
		expect_same_tree data.orig data || return 1
	done
'

test_expect_success 'a restore stalled past --timeout: a miss with a warning near the deadline' '
	old_tree &&
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"stall\", \"after\": 1000000}]" &&
	: >gh.out && t0=$(now) &&
	GITHUB_OUTPUT=$TRASH/gh.out bounded cache-restore --store $S --key k1 --timeout 3 >out 2>err &&
	took $t0 12 &&
	grep -q "^stall.*/packs/" "$PLOG" &&
	faults "[]" &&
	missed out err && missed gh.out err &&
	expect_grep "the --timeout of 3 s passed" err &&
	consistent
'

test_expect_success 'CACHE_TIMEOUT does the same; with --fail-on-miss the exit is 1' '
	old_tree &&
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"stall\"}]" &&
	t0=$(now) &&
	CACHE_TIMEOUT=2s expect_code 1 bounded cache-restore --store $S --key k1 --fail-on-miss >out 2>err &&
	took $t0 12 &&
	faults "[]" &&
	missed out err &&
	expect_no_grep "^cache-hit=true" out &&
	consistent &&
	cmp data/sub/big old.orig/sub/big
'

test_expect_success 'the restore after an abandoned one puts the whole tree back' '
	rm -rf data &&
	cache-restore --store $S --key k1 --timeout 1m >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree data.orig data
'

test_expect_success 'a segment stalled past SEGMENT_DOWNLOAD_TIMEOUT_MINS=0.05 (3 s): a miss' '
	old_tree &&
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"stall\", \"after\": 1000000}]" &&
	t0=$(now) &&
	SEGMENT_DOWNLOAD_TIMEOUT_MINS=0.05 bounded cache-restore --store $S --key k1 >out 2>err &&
	took $t0 12 &&
	faults "[]" &&
	missed out err &&
	expect_grep "SEGMENT_DOWNLOAD_TIMEOUT_MINS" err &&
	consistent
'

test_expect_success 'a segment whose retries outlast the segment timeout: a miss too' '
	old_tree &&
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"error\", \"status\": 503}]" &&
	t0=$(now) &&
	CICACHE_S3_TRIES=100 SEGMENT_DOWNLOAD_TIMEOUT_MINS=0.04 \
		bounded cache-restore --store $S --key k1 >out 2>err &&
	took $t0 15 &&
	test "$(grep -c "^req.*/packs/.*	503	" "$PLOG")" -gt 1 &&
	faults "[]" &&
	missed out err &&
	expect_grep "SEGMENT_DOWNLOAD_TIMEOUT_MINS" err &&
	consistent
'

test_expect_success 'a segment quicker than the limit is not abandoned (0.5 min, 2 s stall)' '
	rm -rf data &&
	faults "[{\"method\": \"GET\", \"path\": \"/packs/\", \"action\": \"stall\", \"after\": 1000, \"seconds\": 2, \"first\": 1}]" &&
	SEGMENT_DOWNLOAD_TIMEOUT_MINS=0.5 cache-restore --store $S --key k1 >out 2>err &&
	faults "[]" &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree data.orig data
'

for v in abc -1 0 " " 1x; do
	test_expect_success "SEGMENT_DOWNLOAD_TIMEOUT_MINS='$v': a warning, the default applies" '
		rm -rf data &&
		SEGMENT_DOWNLOAD_TIMEOUT_MINS="'"$v"'" cache-restore --store $S --key k1 >out 2>err &&
		expect_grep "^cache-hit=true$" out &&
		expect_same_tree data.orig data &&
		if [ -n "$(echo "'"$v"'" | tr -d " ")" ]; then
			expect_grep "warning: SEGMENT_DOWNLOAD_TIMEOUT_MINS=.* using 10" err
		else
			expect_no_grep "warning" err
		fi
	'
done

test_expect_success 'a local restore cut by --timeout inside a big file: the old file stays whole' '
	mkdir -p big && head -c 128000000 /dev/urandom >big/f && echo small >big/g &&
	cache-save -q --store local --key big --path big >/dev/null && cp big/f f.new &&
	echo old >big/f && echo old >big/g && cp -a big big.old &&
	t0=$(now) &&
	bounded cache-restore --store local --key big --timeout 0.05 >out 2>err &&
	took $t0 10 &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "the --timeout of 0.05 s passed: restore abandoned" err &&
	{ cmp -s big/f big.old/f || cmp big/f f.new; } &&
	(cd big && find . -name ".cicache-*") >staged && test ! -s staged &&
	tmp_empty &&
	cache-restore -q --store local --key big >/dev/null &&
	test "$(stat -c %s big/f)" = 128000000 && rm -rf big big.old local f.new
'

test_expect_success 'a save whose upload stalls past --timeout publishes nothing, exit 0' '
	rm -rf new && mkdir new && head -c 3000000 /dev/urandom >new/rand &&
	keys_in_bucket >keys.before &&
	faults "[{\"method\": \"PUT\", \"path\": \"/packs/\", \"action\": \"stall-request\", \"after\": 1000}]" &&
	: >gh.out && t0=$(now) &&
	GITHUB_OUTPUT=$TRASH/gh.out bounded cache-save --store $S --key k2 --path new --timeout 3 >out 2>err &&
	took $t0 15 &&
	faults "[]" &&
	expect_grep "^cache-saved=false$" out &&
	expect_grep "^cache-saved=false$" gh.out &&
	expect_grep "warning: the --timeout of 3 s passed: save abandoned, nothing was saved under .k2." err &&
	keys_in_bucket >keys.after &&
	cmp keys.before keys.after &&
	rm -rf data && expect_code 0 cache-restore --store $S --key k2 >out 2>err &&
	expect_grep "^cache-hit=false$" out && test ! -e new.restored &&
	tmp_empty
'

test_expect_success 'the next save without a deadline publishes k2' '
	cache-save -q --store $S --key k2 --path new >out &&
	expect_grep "^cache-saved=true$" out &&
	mv new new.orig &&
	cache-restore --store $S --key k2 >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree new.orig new
'

test_done
