#!/usr/bin/env bash
# t0120: what the programs print on stdout for CI steps, the same lines
# appended to $GITHUB_OUTPUT, and the exit codes of hits and misses.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

test_expect_success 'set up' '
	mkdir data && echo content >data/f &&
	cache-save --key main-abc --path data --store "$S" >save.out &&
	expect_eq "$(cat save.out)" "cache-saved=true
cache-key=main-abc"
'

test_expect_success 'exact hit: cache-hit=true, matched key, exit 0' '
	cache-restore --key main-abc --store "$S" >out &&
	expect_eq "$(cat out)" "cache-hit=true
cache-primary-key=main-abc
cache-matched-key=main-abc"
'

test_expect_success 'restore-key hit: cache-hit=false, matched key set' '
	rm -rf data &&
	cache-restore --key main-xyz --restore-key main- --store "$S" >out &&
	expect_eq "$(cat out)" "cache-hit=false
cache-primary-key=main-xyz
cache-matched-key=main-abc" &&
	expect_eq "$(cat data/f)" content
'

test_expect_success 'a restore-key equal to an existing key is still not a hit' '
	cache-restore --key other --restore-key main-abc --store "$S" >out &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "^cache-matched-key=main-abc$" out
'

test_expect_success 'miss: cache-hit=false, empty matched key, exit 0, nothing written' '
	rm -rf data &&
	cache-restore --key nope --restore-key zzz- --store "$S" >out 2>err &&
	expect_eq "$(cat out)" "cache-hit=false
cache-primary-key=nope
cache-matched-key=" &&
	test ! -e data &&
	test -s err
'

test_expect_success 'miss with --fail-on-miss exits 1 and still prints the outputs' '
	expect_code 1 cache-restore --key nope --store "$S" --fail-on-miss >out 2>err &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "^cache-matched-key=$" out &&
	expect_grep "nope" err
'

test_expect_success 'hit with --fail-on-miss exits 0, restore-key hit too' '
	cache-restore --key main-abc --store "$S" --fail-on-miss --lookup-only >out &&
	cache-restore --key x --restore-key main --store "$S" --fail-on-miss --lookup-only >out
'

test_expect_success '--lookup-only reports the match and writes nothing' '
	rm -rf data &&
	cache-restore --key main-abc --store "$S" --lookup-only >out 2>err &&
	expect_eq "$(cat out)" "cache-hit=true
cache-primary-key=main-abc
cache-matched-key=main-abc" &&
	test ! -e data &&
	cache-restore --key q --restore-key main --store "$S" --lookup-only >out &&
	expect_grep "^cache-matched-key=main-abc$" out &&
	test ! -e data
'

test_expect_success '--lookup-only does not overwrite existing files either' '
	mkdir data && echo local >data/f &&
	cache-restore --key main-abc --store "$S" --lookup-only >out &&
	expect_eq "$(cat data/f)" local && rm -rf data
'

test_expect_success 'outputs are appended to $GITHUB_OUTPUT' '
	echo "earlier=line" >gh &&
	GITHUB_OUTPUT=$TRASH/gh cache-restore --key main-abc --store "$S" --lookup-only >out &&
	expect_eq "$(cat gh)" "earlier=line
cache-hit=true
cache-primary-key=main-abc
cache-matched-key=main-abc" &&
	GITHUB_OUTPUT=$TRASH/gh cache-restore --key none --store "$S" >out &&
	expect_eq "$(tail -n 3 gh)" "cache-hit=false
cache-primary-key=none
cache-matched-key=" &&
	expect_eq "$(wc -l <gh)" 7
'

test_expect_success 'cache-save appends its outputs to $GITHUB_OUTPUT' '
	echo "earlier=line" >gh2 &&
	mkdir data2 && echo 2 >data2/f &&
	GITHUB_OUTPUT=$TRASH/gh2 cache-save --key second --path data2 --store "$S" >out &&
	expect_eq "$(wc -l <gh2)" 3 &&
	expect_eq "$(tail -n 2 gh2)" "cache-saved=true
cache-key=second" &&
	expect_eq "$(tail -n 2 out)" "cache-saved=true
cache-key=second"
'

test_expect_success '$GITHUB_OUTPUT is created when it does not exist yet' '
	GITHUB_OUTPUT=$TRASH/gh-new cache-restore --key main-abc --store "$S" --lookup-only >out &&
	expect_grep "^cache-hit=true$" gh-new
'

test_expect_success 'an unwritable $GITHUB_OUTPUT is a warning, not a failure' '
	GITHUB_OUTPUT=$TRASH/no/such/dir/out cache-restore --key main-abc --store "$S" \
		--lookup-only >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_grep "GITHUB_OUTPUT" err
'

test_expect_success 'an empty $GITHUB_OUTPUT is ignored' '
	GITHUB_OUTPUT= cache-restore --key main-abc --store "$S" --lookup-only >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_no_grep "GITHUB_OUTPUT" err
'

test_expect_success 'nothing but the outputs goes to stdout' '
	rm -rf data && cache-restore -v --key main-abc --store "$S" >out 2>err &&
	expect_eq "$(grep -cv "^cache-[a-z-]*=" out)" 0 &&
	cache-save -v --key third --path data --store "$S" >out 2>err &&
	expect_eq "$(grep -cv "^cache-[a-z-]*=" out)" 0
'

test_done
