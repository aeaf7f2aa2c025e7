#!/usr/bin/env bash
# t0345: a reader never deletes, and the store heals.  A restore that
# meets a damaged pack leaves it where it is (other entries read its
# intact frames) and writes a note, damaged/HEX.pack, once; damage found
# before anything is written (a missing or short pack) passes the
# candidate over; damage found after files were written is exit 5.  The
# next save does not reuse a noted pack, or frames past the end of a
# short one, so it stores those chunks again.  tests/t0846-s3-damage-heal.sh
# runs the same story on S3 (moto).
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
dump() { "$TEST_TOOL" manifest-dump "$(entry_files "$S" "$1")"; }

test_expect_success 'setup: entries A and B share the frames of one pack' '
	mkdir -p a b &&
	head -c 5000000 /dev/urandom >a/f1 && head -c 5000000 /dev/urandom >a/f2 &&
	cache-save -q --store "$S" --key A --path a >/dev/null &&
	cp a/f2 b/f2 &&
	cache-save -q --store "$S" --key B --restore-key A --path b >/dev/null &&
	P=$(ls -S "$S/packs" | head -n 1) && echo "$P" >P &&
	dump A | grep -q "^pack 0 ${P%.pack}$" &&
	dump B | grep -q "^pack [0-9] ${P%.pack}$" &&
	mv a a.orig && mv b b.orig
'
P=$(cat P 2>/dev/null)
PACK=$S/packs/$P
NOTE=$S/damaged/$P

test_expect_success 'a bit flip in a frame of A: exit 5, the pack is kept, a note is left' '
	"$TEST_TOOL" corrupt "$PACK" 1000 >/dev/null &&
	size=$(stat -c %s "$PACK") &&
	expect_code 5 cache-restore --store "$S" --key A >out 2>err &&
	cat err &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "failed verification\|does not decompress" err &&
	expect_grep "noted the damaged pack .packs/$P. in the store as .damaged/$P." err &&
	test -f "$PACK" && expect_eq "$(stat -c %s "$PACK")" "$size" &&
	test -f "$NOTE" &&
	expect_grep "^pack ${P%.pack}$" "$NOTE"
'

test_expect_success 'B, which shares intact frames of that pack, still restores' '
	cache-restore --store "$S" --key B >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree b.orig b
'

test_expect_success 'a second restore of A fails the same way and leaves the note as it was' '
	before=$(stat -c "%s %Y %i" "$NOTE") &&
	rm -rf a &&
	expect_code 5 cache-restore --store "$S" --key A >out 2>err &&
	expect_eq "$(stat -c "%s %Y %i" "$NOTE")" "$before" &&
	expect_no_grep "noted the damaged pack" err &&
	expect_eq "$(ls "$S/damaged" | wc -l)" 1
'

test_expect_success 'the next save does not reuse the noted pack: the new entry references none of it' '
	rm -rf a && cp -a a.orig a && echo three >a/f3 &&
	cache-save --store "$S" --key C --restore-key A --path a >out 2>err &&
	cat err &&
	expect_grep "not reusing the pack .packs/$P.: a restore found it damaged" err &&
	dump C >dump.C &&
	expect_no_grep "${P%.pack}" dump.C &&
	cp -a a a.C && rm -rf a &&
	cache-restore --store "$S" --key C >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree a.C a
'

test_expect_success 'saving A again gives a whole entry' '
	rm -rf a && cp -a a.orig a &&
	cache-save --store "$S" --key A --path a >out 2>err &&
	cat err &&
	rm -rf a &&
	cache-restore --store "$S" --key A >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree a.orig a &&
	for p in $(dump A | sed -n "s/^pack [0-9]* //p"); do
		expect_eq "$("$TEST_TOOL" id "$S/packs/$p.pack")" "$p" || exit 1
	done
'

# Alone in its store, X stored again makes the same pack, which replaces
# the damaged one under its name: newer than the note, it is whole, and
# saves reuse it again.
SX=$TRASH/storex
test_expect_success 'a pack stored again after its note is reused again' '
	mkdir -p x && head -c 3000000 /dev/urandom >x/f &&
	cache-save -q --store "$SX" --key X --path x >/dev/null &&
	XP=$(ls "$SX/packs") &&
	"$TEST_TOOL" corrupt "$SX/packs/$XP" 500 >/dev/null &&
	cp -a x x.orig && rm -rf x &&
	expect_code 5 cache-restore --store "$SX" --key X >out 2>err &&
	test -f "$SX/damaged/$XP" &&
	rm -rf x && cp -a x.orig x &&
	cache-save --store "$SX" --key X --path x >out 2>err &&
	cat err &&
	expect_grep "not reusing the pack .packs/$XP." err &&
	expect_eq "$("$TEST_TOOL" id "$SX/packs/$XP").pack" "$XP" &&
	test "$(stat -c %Y "$SX/packs/$XP")" -ge "$(stat -c %Y "$SX/damaged/$XP")" &&
	cache-save --store "$SX" --key X2 --restore-key X --path x >out 2>err &&
	cat err &&
	expect_no_grep "not reusing" err &&
	expect_grep "(100.0% deduplicated)" err &&
	rm -rf x &&
	cache-restore --store "$SX" --key X >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree x.orig x
'

# Damage that a stat shows is found before anything is written.
S2=$TRASH/store2
test_expect_success 'setup: dep-1, and a newer dep-2 with other data' '
	mkdir -p d && seq 1 200000 >d/numbers &&
	cache-save -q --store "$S2" --key dep-1 --path d >/dev/null &&
	cp -a d d.1 && sleep 0.05 &&
	head -c 3000000 /dev/urandom >d/random &&
	cache-save -q --store "$S2" --key dep-2 --restore-key dep-1 --path d >/dev/null &&
	cp -a d d.2 && rm -rf d &&
	"$TEST_TOOL" manifest-dump "$(entry_files "$S2" dep-2)" | sed -n "s/^pack [0-9]* //p" >packs.2 &&
	"$TEST_TOOL" manifest-dump "$(entry_files "$S2" dep-1)" | sed -n "s/^pack [0-9]* //p" >packs.1 &&
	Q=$(grep -v -x -f packs.1 packs.2) && test -n "$Q" && echo "$Q" >Q
'
Q=$(cat Q 2>/dev/null).pack

test_expect_success 'a short pack: the candidate is passed over for the next, nothing written by it' '
	sz=$(stat -c %s "$S2/packs/$Q") &&
	truncate -s $((sz - 1000)) "$S2/packs/$Q" &&
	cache-restore --store "$S2" --key dep-3 --restore-key dep- >out 2>err &&
	cat err &&
	expect_grep "skipping entry .dep-2.: pack .packs/$Q. is truncated: $((sz - 1000)) bytes, its frames end at $sz" err &&
	expect_grep "^cache-matched-key=dep-1$" out &&
	expect_same_tree d.1 d &&
	expect_eq "$(stat -c %s "$S2/packs/$Q")" $((sz - 1000)) &&
	test ! -e "$S2/damaged"
'

test_expect_success 'the next save does not reuse frames past the end of the short pack' '
	rm -rf d && cp -a d.2 d &&
	cache-save --store "$S2" --key dep-3 --restore-key dep-2 --path d >out 2>err &&
	cat err &&
	expect_grep "not reusing [0-9]* chunks of entry .dep-2.: their pack ends before their frame" err &&
	rm -rf d &&
	cache-restore --store "$S2" --key dep-3 >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree d.2 d
'

test_expect_success 'a deleted pack: passed over, and the next save stores its chunks again' '
	rm "$S2/packs/$Q" && rm -rf d &&
	cache-restore --store "$S2" --key dep-2 >out 2>err &&
	expect_grep "skipping entry .dep-2.: pack .packs/$Q. is missing from the store" err &&
	expect_grep "^cache-hit=false$" out && test ! -e d &&
	cp -a d.2 d &&
	cache-save --store "$S2" --key dep-2 --path d >out 2>err &&
	rm -rf d &&
	cache-restore --store "$S2" --key dep-2 >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree d.2 d
'

# A store the restore cannot write (read-only mount, read-only
# credentials): the note is a warning only.
RO=$TRASH/ro
test_expect_success 'a read-only store: exit 5, a warning that the note cannot be written' '
	mkdir -p "$RO" && cp -a "$S" ro-src && rm -rf ro-src/damaged &&
	for p in $(dump A | sed -n "s/^pack [0-9]* //p"); do
		"$TEST_TOOL" corrupt ro-src/packs/$p.pack 20 >/dev/null || exit 1
	done &&
	if ! { mount --bind ro-src "$RO" 2>/dev/null &&
		mount -o remount,bind,ro "$RO" 2>/dev/null; }; then
		mountpoint -q "$RO" && umount "$RO"
		echo "# SKIP: no read-only bind mount here"
		exit 0
	fi
	rm -rf a &&
	code=0 && cache-restore --store "$RO" --key A >out 2>err || code=$?
	umount "$RO"
	cat err &&
	expect_eq "$code" 5 &&
	expect_grep "the pack .packs/.*. is damaged, and the note for the next save cannot be written" err &&
	test ! -e ro-src/damaged
'

test_done
