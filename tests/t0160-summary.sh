#!/usr/bin/env bash
# t0160: one summary line on stderr after a save (files, bytes, new
# bytes, dedup %, seconds, throughput) and after a restore; --quiet
# silences it but not errors.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
NUM='[0-9][0-9.]*'
SIZE="$NUM \\(B\\|[KMGT]i\\?B\\)"

test_expect_success 'set up 12 files' '
	mkdir -p data/sub &&
	for i in 1 2 3 4 5 6 7 8 9 10; do seq 1 $((i * 1000)) >data/f$i || exit 1; done &&
	head -c 100000 /dev/urandom >data/sub/rand &&
	: >data/sub/empty &&
	ln -s f1 data/link
'

test_expect_success 'save prints one summary line on stderr, outputs on stdout' '
	cache-save --key s1 --path data --store "$S" >out 2>err &&
	cat err &&
	expect_eq "$(wc -l <err)" 1 &&
	expect_grep "s1" err &&
	expect_grep "\\b12 files" err &&
	expect_grep "$SIZE" err &&
	expect_grep "$SIZE new" err &&
	expect_grep "$NUM% dedup" err &&
	expect_grep "$NUM s\\b" err &&
	expect_grep "$SIZE/s" err &&
	expect_no_grep "cache-[a-z-]*=" err &&
	test "$(printf "\\r")" != "" && ! grep -q "$(printf "\\r")" err
'

test_expect_success 'the byte count in the summary is the data size' '
	total=$(cat data/f* data/sub/rand | wc -c) &&
	kib=$((total / 1024)) &&
	echo "# $total bytes" &&
	grep -q "$total B\\|$(awk "BEGIN { printf \"%.1f KiB\", $total / 1024 }")\\|$(awk "BEGIN { printf \"%.0f KiB\", $total / 1024 }")" err ||
		die "summary does not give $total bytes"
'

test_expect_success 'saving the same tree again reports (nearly) all of it deduplicated' '
	cache-save --key s2 --path data --store "$S" >out 2>err &&
	cat err &&
	pct=$(sed -n "s/.*(\\([0-9.]*\\)% dedup.*/\\1/p" err) &&
	test -n "$pct" &&
	awk "BEGIN { exit !($pct >= 99) }" || die "dedup is $pct%, expected >= 99%"
'

test_expect_success 'the first save of random data reports little dedup' '
	mkdir rnd && head -c 2000000 /dev/urandom >rnd/r &&
	cache-save --key r --path rnd --store "$S" >out 2>err &&
	pct=$(sed -n "s/.*(\\([0-9.]*\\)% dedup.*/\\1/p" err) &&
	awk "BEGIN { exit !($pct < 5) }" || die "dedup is $pct% on fresh random data"
'

test_expect_success 'restore prints one summary line on stderr' '
	rm -rf data &&
	cache-restore --key s1 --store "$S" >out 2>err &&
	cat err &&
	expect_eq "$(wc -l <err)" 1 &&
	expect_grep "s1" err &&
	expect_grep "\\b12 files" err &&
	expect_grep "$SIZE" err &&
	expect_grep "$NUM s\\b" err &&
	expect_grep "$SIZE/s" err
'

test_expect_success 'a restore-key match says which entry it restored' '
	cache-restore --key s9 --restore-key s --store "$S" >out 2>err &&
	expect_grep "s2" err &&
	expect_grep "restore-key\|restore key\|prefix" err
'

test_expect_success 'a miss says so on stderr' '
	cache-restore --key none --store "$S" >out 2>err &&
	expect_eq "$(wc -l <err)" 1 &&
	expect_grep "none" err
'

test_expect_success '--quiet silences the summary of save and restore' '
	cache-save --quiet --key s3 --path data --store "$S" >out 2>err &&
	test ! -s err && expect_grep "^cache-saved=true$" out &&
	cache-restore --quiet --key s3 --store "$S" >out 2>err &&
	test ! -s err && expect_grep "^cache-hit=true$" out &&
	cache-restore -q --key none --store "$S" >out 2>err &&
	test ! -s err
'

test_expect_success '--quiet does not silence errors' '
	expect_code 3 cache-save --quiet --strict-paths --key s4 --path missing --store "$S" >out 2>err &&
	expect_grep "missing" err &&
	expect_code 2 cache-restore --quiet --key "a,b" --store "$S" >out 2>err &&
	test -s err
'

test_expect_success '--immutable on an existing key says it kept the entry' '
	cache-save --immutable --key s1 --path data --store "$S" >out 2>err &&
	expect_grep "^cache-saved=false$" out &&
	expect_grep "s1" err &&
	expect_grep "immutable\\|kept\\|exist" err
'

test_done
