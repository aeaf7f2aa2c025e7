#!/usr/bin/env bash
# t0420: a full disk.  A save into a store on a full file system fails
# with exit 4 and an error naming the problem, publishes nothing and
# leaves no staging files behind; a restore into a full file system
# fails with exit 6 and cache-hit is not true.
. "$(dirname "$0")/lib.sh"

# measurements go to the script's own output as "# " lines
exec 3>&1
note() { echo "# $*" >&3; }

S=$TRASH/store
MNT=$TRASH/mnt

[ "$(id -u)" = 0 ] || skip_all "needs root to mount a small tmpfs"
mkdir -p "$MNT"
mount -t tmpfs -o size=2m tmpfs "$MNT" 2>/dev/null ||
	skip_all "cannot mount a tmpfs here (no CAP_SYS_ADMIN)"
test_cleanup 'umount "$MNT"'

# usage of the tmpfs in KiB
used() { df -k --output=used "$MNT" | tail -n 1 | tr -d " "; }

test_expect_success 'set up a tree larger than the file system' '
	mkdir -p data/sub &&
	head -c 3000000 /dev/urandom >data/rand1 &&
	head -c 2000000 /dev/urandom >data/sub/rand2 &&
	for i in $(seq 1 50); do seq $i 3 30000 >data/sub/t$i || exit 1; done &&
	mkdir small && echo tiny >small/f &&
	cache-save -q --key big --path data --store "$S" >/dev/null
'

test_expect_success 'a save into a full store: exit 4, an error naming it' '
	expect_code 4 cache-save --key big --path data --store "$MNT/store" >out 2>err &&
	cat err &&
	expect_grep "No space left on device" err &&
	expect_grep "$MNT/store" err &&
	expect_grep "^cache-saved=false$" out
'

test_expect_success 'nothing was published and no staging files stay' '
	expect_eq "$(find "$MNT/store/keys" -type f 2>/dev/null | wc -l)" 0 &&
	expect_eq "$(find "$MNT/store" -name "*.tmp" | wc -l)" 0 &&
	cache-restore --key big --store "$MNT/store" --lookup-only >out &&
	expect_grep "^cache-hit=false$" out &&
	note "tmpfs usage after the failed save: $(used) KiB" &&
	test "$(used)" -lt 512
'

test_expect_success 'repeated failed saves do not pile up' '
	for i in 1 2 3; do
		expect_code 4 cache-save -q --key big$i --path data --store "$MNT/store" >/dev/null 2>&1 || exit 1
	done &&
	expect_eq "$(find "$MNT/store" -name "*.tmp" | wc -l)" 0 &&
	test "$(used)" -lt 512
'

test_expect_success 'the store still works for something that fits' '
	cache-save --key small --path small --store "$MNT/store" >out &&
	expect_grep "^cache-saved=true$" out &&
	rm -rf small &&
	cache-restore --key small --store "$MNT/store" >out &&
	expect_eq "$(cat small/f)" tiny
'

test_expect_success 'a restore into a full file system: exit 6, cache-hit not true' '
	mkdir -p "$MNT/work" &&
	(cd "$MNT/work" && expect_code 6 cache-restore --key big --store "$S" >"$TRASH/out" 2>"$TRASH/err") &&
	cat err &&
	expect_grep "No space left on device" err &&
	expect_no_grep "^cache-hit=true" out &&
	expect_grep "^cache-hit=false$" out
'

test_expect_success 'a restore into a full file system with --fail-on-miss is still exit 6' '
	rm -rf "$MNT/work" && mkdir -p "$MNT/work" &&
	(cd "$MNT/work" && expect_code 6 cache-restore --fail-on-miss --key big --store "$S" >"$TRASH/out" 2>/dev/null) &&
	expect_no_grep "^cache-hit=true" out
'

test_expect_success 'a restore-key match into a full file system: exit 6, not a hit' '
	rm -rf "$MNT/work" && mkdir -p "$MNT/work" &&
	(cd "$MNT/work" && expect_code 6 cache-restore --key nope --restore-key bi --store "$S" >"$TRASH/out" 2>/dev/null) &&
	expect_no_grep "^cache-hit=true" out
'

test_done
