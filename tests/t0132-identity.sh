#!/usr/bin/env bash
# t0132: the --path list, exactly as given and in order, is part of an
# entry's identity (actions/cache's "version"): one key saved with two
# path lists holds two entries; a restore with --path finds only the entry
# of its list (or a legacy entry, saved before identities existed), on
# every lookup step; a restore without --path takes the newest entry of
# any list.  --immutable works per (key, path list).  Restoring only some
# roots is --only now, and --path on a restore no longer means a subset.
# On the local store and on the GitHub cache fixture.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

# put DIR WORD: DIR/f holds WORD
put() { rm -rf "$1" && mkdir -p "$1" && echo "$2" >"$1/f"; }
# entries: the entry files of the local store, one name a line
entries() { (cd "$S/keys" && find . -type f | sed 's|^\./||' | sort); }
matched() { sed -n "s/^cache-matched-key=//p" out; }

test_expect_success 'one key, two path lists: two entries' '
	put a a1 && put b b1 &&
	cache-save -q --store "$S" --key k --path a >/dev/null &&
	sleep 0.05 &&
	cache-save -q --store "$S" --key k --path b >/dev/null &&
	entries >list &&
	expect_eq "$(wc -l <list)" 2 &&
	expect_eq "$(grep -c "^k,@[0-9a-f]\{16\}$" list)" 2
'

test_expect_success 'each path list finds its own entry, an exact hit' '
	rm -rf a b &&
	cache-restore --store "$S" --key k --path a >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat a/f)" a1 && test ! -e b &&
	rm -rf a &&
	cache-restore --store "$S" --key k --path b >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat b/f)" b1 && test ! -e a
'

test_expect_success 'saving one list again replaces only its own entry' '
	put a a2 &&
	cache-save -q --store "$S" --key k --path a >/dev/null &&
	expect_eq "$(entries | wc -l)" 2 &&
	rm -rf a b &&
	cache-restore -q --store "$S" --key k --path b >out &&
	expect_eq "$(cat b/f)" b1 && test ! -e a &&
	cache-restore -q --store "$S" --key k --path a >out &&
	expect_eq "$(cat a/f)" a2
'

test_expect_success 'without --path a restore takes the newest entry of the key' '
	rm -rf a b &&
	cache-restore --store "$S" --key k >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat a/f)" a2 && test ! -e b &&
	sleep 0.05 && put b b3 &&
	cache-save -q --store "$S" --key k --path b >/dev/null &&
	rm -rf a b &&
	cache-restore -q --store "$S" --key k >out &&
	expect_eq "$(cat b/f)" b3 && test ! -e a
'

test_expect_success 'a path list nobody saved misses, and writes nothing' '
	rm -rf a b &&
	cache-restore --store "$S" --key k --path c >out &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "^cache-matched-key=$" out &&
	test ! -e a && test ! -e b
'

test_expect_success 'the order of the patterns matters, and so does their spelling' '
	put a a4 && put b b4 &&
	cache-save -q --store "$S" --key ord --path a --path b >/dev/null &&
	rm -rf a b &&
	cache-restore --store "$S" --key ord --path b --path a >out &&
	expect_grep "^cache-hit=false$" out && test ! -e a &&
	cache-restore --store "$S" --key ord --path ./a --path b >out &&
	expect_grep "^cache-hit=false$" out && test ! -e a &&
	cache-restore --store "$S" --key ord --path a --path b >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat a/f b/f)" "a4
b4"
'

test_expect_success 'restore-key prefixes respect the path list' '
	put a ra && cache-save -q --store "$S" --key rk-x --path a >/dev/null &&
	sleep 0.05 &&
	put a ry && put b rb &&
	cache-save -q --store "$S" --key rk-y --path a --path b >/dev/null &&
	rm -rf a b &&
	cache-restore --store "$S" --key rk-zzz --restore-key rk- --path a >out &&
	expect_eq "$(matched)" rk-x && expect_grep "^cache-hit=false$" out &&
	expect_eq "$(cat a/f)" ra && test ! -e b &&
	rm -rf a &&
	cache-restore --store "$S" --key rk-zzz --restore-key rk- >out &&
	expect_eq "$(matched)" rk-y && expect_eq "$(cat a/f b/f)" "ry
rb" &&
	rm -rf a b &&
	cache-restore --store "$S" --key rk-zzz --restore-key rk- --path c >out &&
	expect_eq "$(matched)" ""
'

test_expect_success 'the primary key as a prefix respects the path list' '
	rm -rf a b &&
	cache-restore --store "$S" --key rk --path a >out &&
	expect_eq "$(matched)" rk-x && expect_grep "^cache-hit=false$" out &&
	cache-restore -q --store "$S" --key rk >out &&
	expect_eq "$(matched)" rk-y
'

test_expect_success 'a legacy entry (no path list recorded) matches any --path' '
	put a legacy &&
	cache-save -q --store "$S" --key leg --path a >/dev/null &&
	f=$(cd "$S/keys" && ls -d leg,@*) &&
	mv "$S/keys/$f" "$S/keys/leg" &&
	rm -rf a &&
	cache-restore --store "$S" --key leg --path a >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat a/f)" legacy &&
	rm -rf a &&
	cache-restore --store "$S" --key leg --path other --path a >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat a/f)" legacy &&
	rm -rf a &&
	cache-restore --store "$S" --key x --restore-key le --path zz --path a >out &&
	expect_eq "$(matched)" leg && expect_eq "$(cat a/f)" legacy
'

test_expect_success 'an entry written by the previous build is still restored (tests/data/store-v1)' '
	old_store_to "$S" oldk &&
	test -f "$S/keys/oldk" &&
	rm -rf a &&
	cache-restore --store "$S" --key oldk --path a >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat a/f)" oldbuild &&
	rm -rf a &&
	cache-restore -q --store "$S" --key oldk >out && expect_eq "$(cat a/f)" oldbuild
'

test_expect_success 'with a legacy entry and a newer one of the same list, the newer wins' '
	sleep 0.05 && put a newer &&
	cache-save -q --store "$S" --key leg --path a >/dev/null &&
	rm -rf a &&
	cache-restore -q --store "$S" --key leg --path a >out &&
	expect_eq "$(cat a/f)" newer
'

test_expect_success '--immutable keeps an entry per (key, path list)' '
	put a i1 && put b i1 &&
	cache-save --store "$S" --key imm --path a --immutable >out &&
	expect_grep "^cache-saved=true$" out &&
	cache-save --store "$S" --key imm --path b --immutable >out &&
	expect_grep "^cache-saved=true$" out &&
	put a i2 &&
	cache-save --store "$S" --key imm --path a --immutable >out &&
	expect_grep "^cache-saved=false$" out &&
	rm -rf a b &&
	cache-restore -q --store "$S" --key imm --path a >out &&
	expect_eq "$(cat a/f)" i1
'

test_expect_success '--only restores a subset of the recorded roots' '
	put a o1 && put b o2 &&
	cache-save -q --store "$S" --key only --path a --path b >/dev/null &&
	rm -rf a b &&
	cache-restore --store "$S" --key only --only b >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat b/f)" o2 && test ! -e a &&
	rm -rf b &&
	cache-restore --store "$S" --key only --path a --path b --only a >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat a/f)" o1 && test ! -e b &&
	rm -rf a &&
	CACHE_ONLY="b" cache-restore -q --store "$S" --key only >out &&
	expect_eq "$(cat b/f)" o2 && test ! -e a
'

test_expect_success '--path on a restore is no subset any more: one root of a list misses' '
	rm -rf a b &&
	cache-restore --store "$S" --key only --path b >out &&
	expect_grep "^cache-hit=false$" out &&
	test ! -e a && test ! -e b
'

test_expect_success 'dedup prefers a base saved with the same path list' '
	mkdir -p big && head -c 3000000 /dev/urandom >big/r && put small s &&
	cache-save -q --store "$S" --key dd --path big >/dev/null &&
	sleep 0.05 &&
	cache-save -q --store "$S" --key dd --path small >/dev/null &&
	cache-save -v --store "$S" --key dd --path big >out 2>err &&
	cat err &&
	expect_grep "(100.0% deduplicated)" err
'

test_expect_success 'help and man page tell --path from --only' '
	cache-restore --help >out &&
	expect_grep "^  -o, --only PATH" out && expect_grep "CACHE_ONLY" out &&
	expect_grep "same --path list" out &&
	man_page=$TEST_DIR/../man/cache-restore.1 &&
	expect_grep "only" "$man_page" && expect_grep "CACHE_ONLY" "$man_page"
'

# The GitHub cache fixture: the same rules through the gha store.
. "$TEST_DIR/gha/start.sh"
gha_start

test_expect_success 'gha: one key, two path lists, each found exactly' '
	put a ga && put b gb &&
	cache-save -q --store gha --key gk --path a >/dev/null &&
	cache-save -q --store gha --key gk --path b >/dev/null &&
	rm -rf a b &&
	cache-restore --store gha --key gk --path a >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat a/f)" ga && test ! -e b &&
	rm -rf a &&
	cache-restore --store gha --key gk --path b >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat b/f)" gb && test ! -e a &&
	rm -rf b &&
	cache-restore --store gha --key gk >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat b/f)" gb && test ! -e a
'

test_expect_success 'gha: a restore-key prefix with --path finds the entry of that list' '
	put a gra && cache-save -q --store gha --key grk-x --path a >/dev/null &&
	rm -rf a b &&
	cache-restore --store gha --key grk-zzz --restore-key grk- --path a >out &&
	expect_eq "$(matched)" grk-x && expect_eq "$(cat a/f)" gra &&
	rm -rf a &&
	cache-restore --store gha --key grk-zzz --restore-key grk- --path b >out &&
	expect_eq "$(matched)" "" && test ! -e b
'

test_expect_success 'gha: --immutable per (key, path list)' '
	put a gi1 && put b gi1 &&
	cache-save --store gha --key gimm --path a --immutable >out &&
	expect_grep "^cache-saved=true$" out &&
	cache-save --store gha --key gimm --path b --immutable >out &&
	expect_grep "^cache-saved=true$" out &&
	put a gi2 &&
	cache-save --store gha --key gimm --path a --immutable >out &&
	expect_grep "^cache-saved=false$" out &&
	rm -rf a && cache-restore -q --store gha --key gimm --path a >out &&
	expect_eq "$(cat a/f)" gi1
'

test_done
