#!/usr/bin/env bash
# t0130: which entry a restore picks: the exact key first, then the key
# as a prefix, then each --restore-key in the order given, as a plain
# prefix (actions/cache's order); among the entries one step matches, the
# newest wins.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

# save KEY: saves data/f holding KEY under KEY, a little after the last
# save so that entries have distinct times
save() {
	sleep 0.05
	mkdir -p data && echo "$1" >data/f &&
	cache-save -q --key "$1" --path data --store "$S" >/dev/null
}
# picks ARGS...: the key whose content a restore with ARGS brings back
picks() {
	rm -rf data &&
	cache-restore -q --store "$S" "$@" >out &&
	m=$(sed -n "s/^cache-matched-key=//p" out) &&
	if [ -n "$m" ]; then expect_eq "$(cat data/f)" "$m" "content vs matched key"; fi &&
	echo "$m"
}

test_expect_success 'set up entries saved in a known order' '
	save deps-linux-aaa &&
	save deps-linux-bbb &&
	save deps-mac-ccc &&
	save deps-linux-ccc &&
	save build-1 &&
	save deps-mac-ddd
'

test_expect_success 'the exact key wins over newer prefix matches' '
	expect_eq "$(picks --key deps-linux-aaa --restore-key deps-linux- --restore-key deps-)" deps-linux-aaa &&
	expect_grep "^cache-hit=true$" out
'

test_expect_success 'the newest entry with the prefix wins' '
	expect_eq "$(picks --key deps-linux-zzz --restore-key deps-linux-)" deps-linux-ccc &&
	expect_grep "^cache-hit=false$" out &&
	expect_eq "$(picks --key deps-linux-zzz --restore-key deps-)" deps-mac-ddd &&
	expect_eq "$(picks --key x --restore-key deps-mac)" deps-mac-ddd
'

test_expect_success 'restore keys are tried in the order given' '
	expect_eq "$(picks --key x --restore-key deps-linux- --restore-key deps-mac-)" deps-linux-ccc &&
	expect_eq "$(picks --key x --restore-key deps-mac- --restore-key deps-linux-)" deps-mac-ddd &&
	expect_eq "$(picks --key x --restore-key nomatch- --restore-key build- --restore-key deps-)" build-1
'

test_expect_success 'a prefix is literal: no globbing, no case folding' '
	expect_eq "$(picks --key x --restore-key "deps-*")" "" &&
	expect_eq "$(picks --key x --restore-key DEPS-)" "" &&
	expect_eq "$(picks --key x --restore-key deps-linux-.)" "" &&
	expect_eq "$(picks --key deps-linux.)" "" &&
	expect_eq "$(picks --key deps-linux-zzz --restore-key deps-linux-aa)" deps-linux-aaa
'

test_expect_success 'a whole key works as a restore key' '
	expect_eq "$(picks --key x --restore-key build-1)" build-1
'

test_expect_success 'saving a key again makes it the newest' '
	save deps-linux-aaa &&
	expect_eq "$(picks --key y --restore-key deps-linux-)" deps-linux-aaa &&
	expect_eq "$(picks --key y --restore-key deps-)" deps-linux-aaa
'

test_expect_success 'a newer save under a new key wins the next lookup' '
	save deps-linux-eee &&
	expect_eq "$(picks --key y --restore-key deps-linux-)" deps-linux-eee
'

test_expect_success 'order holds with many entries saved quickly' '
	for i in 01 02 03 04 05 06 07 08 09 10 11 12; do save "many-$i" || exit 1; done &&
	expect_eq "$(picks --key x --restore-key many-)" many-12 &&
	expect_eq "$(picks --key x --restore-key many-0)" many-09
'

test_expect_success 'restore keys come from CACHE_RESTORE_KEYS, one per line' '
	expect_eq "$(CACHE_RESTORE_KEYS="nomatch-
deps-mac-
deps-" picks --key x)" deps-mac-ddd &&
	expect_eq "$(CACHE_RESTORE_KEYS="  build-
	  deps-" picks --key x)" build-1
'

test_expect_success 'an entry lacking a requested --path is not restored' '
	mkdir -p other && echo other >other/o &&
	sleep 0.05 && cache-save -q --key deps-other --path other --store "$S" >/dev/null &&
	rm -rf data other &&
	cache-restore -q --key x --restore-key deps- --path data --store "$S" >out &&
	test ! -e other &&
	m=$(sed -n "s/^cache-matched-key=//p" out) &&
	test "$m" != deps-other &&
	if [ -n "$m" ]; then expect_eq "$(cat data/f)" "$m"; fi
'

test_done
