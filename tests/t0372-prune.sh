#!/usr/bin/env bash
# run-tests: alone (runs saves, restores and prunes against one another with short grace periods)
# t0372: cache-store prune: the policies (--max-age, --keep-last with
# --prefix, --max-size: least recently used first), --dry-run, and the
# two-phase pack deletion (docs/format.md, "Lifecycle"): an unreferenced
# pack is first marked (condemned/HEX.pack), and deleted by a prune that
# runs after the grace period; a pack younger than the grace is kept; a
# marked pack that an entry references again is unmarked.  --grace 0 does
# both phases in one run.  cache-save --max-store-size prunes after a save.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
export CACHE_STORE=$S

npacks() { ls "$S/packs" 2>/dev/null | wc -l; }
nkeys() { ls "$S/keys" 2>/dev/null | wc -l; }
# save KEY: an entry of its own random megabyte (no data shared).
save() { rm -rf "d-$1" && mkdir "d-$1" && head -c 1000000 /dev/urandom >"d-$1/f" &&
	 cache-save -q -k "$1" -p "d-$1" >/dev/null; }
# age ENTRY-KEY SECONDS: the entry was published (and last used) that long ago.
age() { touch -d "@$(( $(date +%s) - $2 ))" "$S"/keys/"$1",@*; }

test_expect_success 'set up: four independent entries' '
	save a1 && save a2 && save a3 && save b1 &&
	expect_eq "$(nkeys)" 4 && expect_eq "$(npacks)" 4
'

test_expect_success '--dry-run says what would go and changes nothing' '
	find "$S" -type f | sort >before &&
	cache-store prune --keep-last 1 --prefix a --grace 0 --dry-run >out 2>err && cat out err &&
	expect_eq "$(grep -c "^would delete entry a" out)" 2 &&
	expect_eq "$(grep -c "^would delete pack" out)" 2 &&
	find "$S" -type f | sort >after && cmp before after
'

test_expect_success '--keep-last N --prefix P keeps the N most recently used of P only' '
	age a1 300 && age a2 200 && age a3 100 && age b1 400 &&
	touch -d "@$(( $(date +%s) - 7200 ))" "$S"/packs/* &&
	cache-store prune --keep-last 1 --prefix a >out 2>err && cat out err &&
	expect_grep "^delete entry a1" out && expect_grep "^delete entry a2" out &&
	expect_eq "$(nkeys)" 2 &&
	ls "$S/keys" | grep -q "^b1," && ls "$S/keys" | grep -q "^a3,"
'

test_expect_success 'phase 1: the packs no entry uses are marked, not deleted' '
	expect_eq "$(npacks)" 4 &&
	expect_eq "$(ls "$S/condemned" | wc -l)" 2 &&
	for m in "$S"/condemned/*; do
		test -f "$S/packs/${m##*/}" &&
		expect_eq "$(head -1 "$m")" "cicache condemned 1"
	done
'

test_expect_success 'phase 2: a prune within the grace keeps them; after the grace deletes them and the marks' '
	cache-store prune >out && expect_eq "$(npacks)" 4 &&
	touch -d "@$(( $(date +%s) - 7200 ))" "$S"/condemned/* &&
	cache-store prune >out && cat out &&
	expect_eq "$(grep -c "^delete pack" out)" 2 &&
	expect_eq "$(npacks)" 2 &&
	expect_eq "$(ls "$S/condemned" | wc -l)" 0 &&
	cache-store check --read-data
'

test_expect_success 'the remaining entries restore' '
	rm -rf d-a3 d-b1 &&
	cache-restore -k a3 -p d-a3 >out && expect_grep "cache-hit=true" out &&
	cache-restore -k b1 -p d-b1 >out && expect_grep "cache-hit=true" out
'

test_expect_success 'an unreferenced pack younger than the grace is kept (a save in progress)' '
	head -c 5000 /dev/urandom >young.pack &&
	cp young.pack "$S/packs/0123456789abcdef0123456789abcdef.pack" &&
	cache-store prune >out && cat out &&
	test -f "$S/packs/0123456789abcdef0123456789abcdef.pack" &&
	! test -e "$S/condemned/0123456789abcdef0123456789abcdef.pack" &&
	cache-store prune --grace 0 >out &&
	! test -e "$S/packs/0123456789abcdef0123456789abcdef.pack"
'

test_expect_success 'a marked pack that an entry references is unmarked (a save rescued it)' '
	p=$(ls "$S/packs" | head -1) &&
	printf "cicache condemned 1\n1\n" >"$S/condemned/$p" &&
	cache-store prune >out && cat out &&
	expect_grep "^unmark pack" out &&
	! test -e "$S/condemned/$p" && test -f "$S/packs/$p"
'

test_expect_success '--max-age removes entries unused for longer; a last-use record counts' '
	save c1 && save c2 &&
	age c1 $((3 * 86400)) && age c2 $((3 * 86400)) &&
	mkdir -p "$S/used" && u=$(ls "$S/keys" | grep "^c2,") &&
	printf "cicache used 1\n0\n" >"$S/used/$u" &&
	cache-store prune --max-age 2d --grace 0 >out && cat out &&
	expect_grep "^delete entry c1" out && expect_no_grep "entry c2" out &&
	touch -d "@$(( $(date +%s) - 3 * 86400 ))" "$S/used/$u" &&
	CACHE_MAX_AGE=48h cache-store prune --grace 0 >out && cat out &&
	expect_grep "^delete entry c2" out &&
	! test -e "$S/used/$u"
'

test_expect_success '--max-size deletes least recently used first until the data fits' '
	rm -rf "$S" && save m1 && save m2 && save m3 && save m4 &&
	age m1 40 && age m2 10 && age m3 30 && age m4 20 &&
	cache-store prune --max-size 2500K --grace 0 >out && cat out &&
	expect_grep "^delete entry m1" out && expect_grep "^delete entry m3" out &&
	expect_eq "$(nkeys)" 2 && expect_eq "$(npacks)" 2 &&
	expect_eq "$(grep -c "^delete pack" out)" 2
'

test_expect_success 'CACHE_MAX_STORE_SIZE is the twin of --max-size' '
	CACHE_MAX_STORE_SIZE=1500K cache-store prune --grace 0 >out && cat out &&
	expect_eq "$(nkeys)" 1 && ls "$S/keys" | grep -q "^m2,"
'

test_expect_success 'cache-save --max-store-size keeps the store bounded over many saves' '
	rm -rf "$S" &&
	for i in 1 2 3 4 5 6; do
		rm -rf w && mkdir w && head -c 1000000 /dev/urandom >w/f &&
		CACHE_PRUNE_GRACE=0 cache-save -k "w$i" -p w --max-store-size 2500K >out 2>err ||
			{ cat out err; exit 1; }
	done &&
	cat err &&
	expect_grep "pruned to --max-store-size" err &&
	expect_eq "$(nkeys)" 2 &&
	expect_eq "$(du -sk "$S/packs" | cut -f1 | awk "{print (\$1 < 2600)}")" 1 &&
	ls "$S/keys" | grep -q "^w6," &&
	rm -rf w && cache-restore -k w6 -p w >out && expect_grep "cache-hit=true" out
'

test_expect_success 'CACHE_MAX_STORE_SIZE works for cache-save; a bad value is a usage error' '
	rm -rf w && mkdir w && head -c 1000000 /dev/urandom >w/f &&
	CACHE_PRUNE_GRACE=0 CACHE_MAX_STORE_SIZE=1100K cache-save -q -k w7 -p w >/dev/null &&
	expect_eq "$(nkeys)" 1 &&
	expect_code 2 env CACHE_MAX_STORE_SIZE=lots cache-save -k w8 -p w 2>err &&
	expect_grep "CACHE_MAX_STORE_SIZE" err
'

test_expect_success 'an entry that cannot be read stops every pack deletion' '
	save z1 && save z2 && cache-store delete z1 >/dev/null &&
	f=$(ls -d "$S"/keys/z2,@*) && cp "$f" z2.saved &&
	rm -f "$S"/sums/* &&
	printf "XXXXXXXX" | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null &&
	n=$(npacks) &&
	cache-store prune --grace 0 >out 2>err && cat out err &&
	expect_grep "no pack is marked or deleted" err &&
	expect_eq "$(npacks)" "$n" &&
	cp z2.saved "$f" && cache-store prune --grace 0 >out &&
	expect_grep "^delete pack" out
'

test_expect_success 'repack: a rolling key over a changing file; --max-size is reached by copying live frames' '
	rm -rf "$S" r && mkdir r && head -c 12000000 /dev/urandom >r/f &&
	cache-save -q -k roll -p r >/dev/null &&
	head -c 4500000 /dev/urandom | dd of=r/f conv=notrunc 2>/dev/null &&
	cache-save -q -k roll -p r >/dev/null &&
	expect_eq "$(npacks)" 2 &&
	before=$(cat "$S"/packs/* | wc -c) &&
	test "$before" -gt 16000000 &&
	cache-store prune --max-size 13M --grace 0 --dry-run >out && cat out &&
	expect_grep "^would repack" out &&
	expect_eq "$(cat "$S"/packs/* | wc -c)" "$before" &&
	cache-store prune --max-size 13M --grace 0 >out && cat out &&
	expect_grep "^new pack" out && expect_grep "^repoint entry roll" out &&
	expect_grep "^delete pack" out &&
	after=$(cat "$S"/packs/* | wc -c) &&
	test "$after" -le $((13 * 1024 * 1024)) &&
	expect_eq "$(nkeys)" 1 &&
	cache-store check --read-data &&
	cp -a r r.orig && rm -rf r &&
	cache-restore -k roll -p r >out && expect_grep "cache-hit=true" out &&
	cmp r/f r.orig/f
'

test_expect_success 'repack without --max-size: packs at least half dead are rewritten, the store stays under half dead' '
	head -c 4500000 /dev/urandom | dd of=r/f conv=notrunc 2>/dev/null &&
	cache-save -q -k roll -p r >/dev/null &&
	head -c 4500000 /dev/urandom | dd of=r/f bs=1 seek=4500000 conv=notrunc 2>/dev/null &&
	cache-save -q -k roll -p r >/dev/null &&
	cache-store prune --grace 0 >out && cat out &&
	cache-store check --read-data &&
	stored=$(cat "$S"/packs/* | wc -c) &&
	cache-store stats >st && cat st &&
	ref=$(sed -n "s/^referenced bytes: \([0-9]*\).*/\1/p" st) &&
	test $((stored - ref)) -lt $((stored / 2)) &&
	cp -a r r.orig2 && rm -rf r &&
	cache-restore -k roll -p r >out && cmp r/f r.orig2/f
'

test_expect_success 'cache-save --max-store-size never deletes the entry it just saved' '
	rm -rf "$S" && mkdir -p big && head -c 3000000 /dev/urandom >big/f &&
	CACHE_PRUNE_GRACE=0 cache-save -q -k big -p big --max-store-size 1M >/dev/null &&
	expect_eq "$(nkeys)" 1 &&
	rm -rf big && cache-restore -k big -p big >out && expect_grep "cache-hit=true" out
'

test_expect_success 'concurrent saves, restores and prunes: every published entry stays restorable' '
	rm -rf "$S" && mkdir -p ca cb &&
	head -c 3000000 /dev/urandom >ca/f && head -c 3000000 /dev/urandom >cb/f &&
	saver() {
		for i in 1 2 3 4 5 6 7 8; do
			head -c 300000 /dev/urandom | dd of="c$1/f" bs=300000 seek=$((i % 10)) conv=notrunc 2>/dev/null
			cache-save -k "conc-$1" -p "c$1" >/dev/null 2>"save-$1-$i.err"
			echo $? >"save-$1-$i.rc"
		done
	}
	restorer() {
		for i in 1 2 3 4 5 6 7 8 9 10; do
			rm -rf "r$1" && mkdir "r$1" && (cd "r$1" && cache-restore -k "conc-$1" -r conc- >/dev/null 2>../"rest-$1-$i.err"; echo $? >../"rest-$1-$i.rc")
		done
	}
	pruner() {
		for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
			cache-store prune --grace 1 --max-size 7M >/dev/null 2>>prune.err || echo "prune $?" >>prune.fail
			sleep 0.3
		done
	}
	saver a &
	sa=$!
	saver b &
	sb=$!
	restorer a &
	ra=$!
	pruner &
	pr=$!
	wait $sa $sb $ra $pr &&
	cat save-*.err | sort | uniq -c && cat prune.err &&
	! test -e prune.fail &&
	for f in save-*.rc; do
		rc=$(cat "$f")
		if [ "$rc" != 0 ]; then
			expect_eq "$rc" 4 "$f" && expect_grep "being pruned" "${f%.rc}.err"
		fi
	done &&
	for f in rest-*.rc; do expect_eq "$(cat "$f")" 0 "$f"; done &&
	cache-store check --read-data &&
	sleep 1.2 && cache-store prune --grace 1 >/dev/null && sleep 1.2 && cache-store prune --grace 1 >/dev/null &&
	cache-store check --read-data &&
	cache-store list >out && cat out && expect_grep "conc-" out
'

test_done
