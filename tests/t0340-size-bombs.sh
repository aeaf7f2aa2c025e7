#!/usr/bin/env bash
# run-tests: alone (gives a refusal a time budget)
# t0340: size bombs.  Before writing anything, cache-restore compares what
# the entry will really allocate (file data without the holes of sparse
# files, plus metadata) with the free space of each destination file
# system and with --max-restore-size (CACHE_MAX_RESTORE_SIZE).  An entry
# that does not fit is refused with exit 6 and a message naming both
# numbers, and nothing is created.
. "$(dirname "$0")/lib.sh"

exec 3>&1
note() { echo "# $*" >&3; }

S=$TRASH/store
MNT=$TRASH/mnt

[ "$(id -u)" = 0 ] || skip_all "needs root to mount a small tmpfs"
mkdir -p "$MNT"
mount -t tmpfs -o size=20m tmpfs "$MNT" 2>/dev/null ||
	skip_all "cannot mount a tmpfs here (no CAP_SYS_ADMIN)"
test_cleanup 'umount "$MNT"'

# The refusal must take well under a second; a sanitizer build is several
# times slower at reading the chunk records.
limit=1000
grep -q -a -e __tsan_init -e __asan_init "$CICACHE_BIN/cache-restore" && limit=3000

used() { df -k --output=used "$1" | tail -n 1 | tr -d " "; }
ms() { echo $(($(date +%s%N) / 1000000)); }

test_expect_success 'setup: a dense and a sparse 1 TiB file from test-tool' '
	"$TEST_TOOL" hostile "$S" dense-bomb dense >/dev/null &&
	"$TEST_TOOL" hostile "$S" sparse-bomb sparse >/dev/null &&
	note "dense-bomb manifest: $(stat -c %s "$(entry_files "$S" dense)") bytes" &&
	test "$(stat -c %s "$(entry_files "$S" dense)")" -lt 4096
'

test_expect_success 'a 1 TiB dense file is refused at once: exit 6, both numbers, nothing created' '
	mkdir -p "$MNT/work" &&
	before=$(used "$MNT") &&
	t0=$(ms) &&
	(cd "$MNT/work" && expect_code 6 cache-restore --key dense --store "$S" \
		>"$TRASH/out" 2>"$TRASH/err") &&
	t1=$(ms) &&
	cat err &&
	note "refused in $((t1 - t0)) ms" &&
	test $((t1 - t0)) -lt $limit &&
	expect_grep "would take 1099511[0-9]* bytes (1.0 TiB) on the file system of .$MNT/work., which has [0-9]* bytes (.*) free" err &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "failed before anything was written" err &&
	(cd "$MNT/work" && expect_code 6 cache-restore --key dense --store "$S" --lookup-only \
		>"$TRASH/out" 2>"$TRASH/err") &&
	expect_grep "^cache-hit=false$" out &&
	expect_no_grep "may be incomplete" err &&
	expect_eq "$(ls -A "$MNT/work")" "" &&
	expect_eq "$(used "$MNT")" "$before"
'

test_expect_success 'a 1 TiB sparse file with 1 MiB of data restores on a 20 MiB file system' '
	(cd "$MNT/work" && cache-restore --key sparse --store "$S" >"$TRASH/out" 2>"$TRASH/err") &&
	cat err &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(stat -c %s "$MNT/work/r/f")" 1099511627776 &&
	kib=$(du -k "$MNT/work/r/f" | cut -f1) &&
	note "the sparse file takes $kib KiB" &&
	test "$kib" -lt 4096 &&
	expect_eq "$(head -c 30 "$MNT/work/r/f")" "line 0 of some compressible te" &&
	rm -rf "$MNT/work"
'

test_expect_success 'setup: a tree of 2 MiB' '
	mkdir -p data/sub &&
	head -c 1500000 /dev/urandom >data/rand &&
	seq 1 70000 >data/sub/numbers &&
	cache-save -q --key tree --path data --store "$S" >/dev/null &&
	mv data data.orig
'

test_expect_success '--max-restore-size: an entry above the cap is refused naming both numbers' '
	expect_code 6 cache-restore --key tree --store "$S" --max-restore-size 1M >out 2>err &&
	cat err &&
	expect_grep "would take 1[0-9]\{6\} bytes (1.8 MiB) on disk, more than the restore size limit of 1048576 bytes (1.0 MiB)" err &&
	expect_grep "^cache-hit=false$" out &&
	test ! -e data
'

test_expect_success 'CACHE_MAX_RESTORE_SIZE is its twin, and the flag wins over it' '
	CACHE_MAX_RESTORE_SIZE=1500k expect_code 6 cache-restore --key tree --store "$S" >out 2>err &&
	expect_grep "limit of 1536000 bytes" err &&
	test ! -e data &&
	CACHE_MAX_RESTORE_SIZE=1500k cache-restore --key tree --store "$S" \
		--max-restore-size 3m >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree data.orig data &&
	rm -rf data
'

test_expect_success 'a cap above the size restores; K, M, G and T are powers of 1024' '
	for cap in 3000000 2930K 3M 1G 1t; do
		cache-restore -q --key tree --store "$S" --max-restore-size $cap >out || exit 1
		expect_grep "^cache-hit=true$" out || exit 1
		rm -rf data
	done
'

test_expect_success 'a bad SIZE is a usage error (exit 2), also from the environment' '
	for bad in "" abc 10X 0 1KB -5 1.5M 99999999999T; do
		expect_code 2 cache-restore --key tree --store "$S" --max-restore-size "$bad" \
			>out 2>err || exit 1
		expect_grep "max-restore-size takes a size" err || exit 1
	done &&
	CACHE_MAX_RESTORE_SIZE=12Q expect_code 2 cache-restore --key tree --store "$S" >out 2>err &&
	expect_grep "CACHE_MAX_RESTORE_SIZE takes a size" err &&
	test ! -e data &&
	cache-restore --help >help &&
	expect_grep "max-restore-size SIZE" help
'

test_cleanup 'mountpoint -q "$TRASH/two/big" && umount "$TRASH/two/big"'
# Two roots: "small" on the disk, "big" on the 20 MiB tmpfs mounted where
# it was saved from.  Free space is counted per file system: 15 MiB in
# each fits; 25 MiB on the tmpfs does not, and then neither root is written.
test_expect_success 'free space is counted per destination file system' '
	mkdir -p two/small two/big &&
	head -c 15000000 /dev/zero >two/small/f && head -c 15000000 /dev/zero >two/big/f &&
	(cd two && cache-save -q --key two-fits --path small --path big --store "$S" >/dev/null) &&
	rm -f two/big/f && head -c 25000000 /dev/zero >two/big/f &&
	(cd two && cache-save -q --key two-big --path small --path big --store "$S" >/dev/null) &&
	rm -rf two/small two/big && mkdir two/big &&
	mount -t tmpfs -o size=20m tmpfs two/big &&
	(cd two && expect_code 6 cache-restore --key two-big --store "$S" >../out 2>../err) &&
	cat err &&
	expect_grep "on the file system of .$TRASH/two/big., which has" err &&
	test ! -e two/small && expect_eq "$(ls -A two/big)" "" &&
	(cd two && cache-restore --key two-fits --store "$S" >../out 2>../err) &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(stat -c %s two/big/f)" 15000000 &&
	expect_eq "$(stat -c %s two/small/f)" 15000000
'

test_done
