#!/usr/bin/env bash
# t0060: a file over 4 GiB (sparse, so the test stays cheap) keeps its
# size and the data at every offset, including past the 4 GiB mark and
# across it.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
G=$((1024 * 1024 * 1024))
# offset:marker pairs; 4G-3 straddles the 32-bit boundary
OFFSETS="0 $((G - 1)) $((4 * G - 3)) $((4 * G + 12345)) $((5 * G - 4096 + 7)) $((5 * G - 16))"
SIZE=$((5 * G))

put() { printf '%s' "$2" | dd of=big/huge bs=1 seek="$1" conv=notrunc status=none; }
get() { dd if="$1" bs=64K skip="$2" count="$3" iflag=skip_bytes,count_bytes status=none; }
# extents FILE: "offset length" of each data region (SEEK_DATA is 3,
# SEEK_HOLE 4 on Linux); outside them the file reads as zeros
extents() {
	perl -e 'open(F, "<", $ARGV[0]) or die "$ARGV[0]: $!"; my $p = 0; my $size = -s F;
		while ($p < $size) { my $d = sysseek(F, $p, 3); last unless defined $d;
			my $h = sysseek(F, $d + 0, 4); print $d + 0, " ", $h - $d, "\n"; $p = $h; }' "$1"
}

test_expect_success 'set up a 5 GiB sparse file with data at a few offsets' '
	mkdir big &&
	truncate -s $SIZE big/huge &&
	for o in $OFFSETS; do put $o "@$o#" || exit 1; done &&
	head -c 300000 /dev/urandom | dd of=big/huge bs=64K seek=$((4 * G + 65536)) oflag=seek_bytes conv=notrunc status=none &&
	echo small >big/small &&
	expect_eq "$(stat -c %s big/huge)" $SIZE
'

test_expect_success 'save the big file' '
	cache-save --key huge --path big --store "$S" 2>err &&
	cat err &&
	expect_grep "2 files" err &&
	mv big orig
'

test_expect_success 'restore gives the same size and the same bytes at each offset' '
	cache-restore --key huge --store "$S" &&
	expect_eq "$(stat -c %s big/huge)" $SIZE &&
	for o in $OFFSETS; do
		expect_eq "$(get big/huge $o $((${#o} + 2)))" "@$o#" "data at offset $o" || exit 1
	done &&
	cmp <(get big/huge $((4 * G + 65536)) 300000) <(get orig/huge $((4 * G + 65536)) 300000) &&
	expect_eq "$(get big/huge $((4 * G + 65536 + 300000)) 8 | tr -d "\\0" | wc -c)" 0 &&
	expect_eq "$(cat big/small)" small
'

# Equal data regions (those of either file) and equal sizes: outside
# the regions both read as zeros, so the files are equal byte for byte
# without reading 10 GiB of holes.
test_expect_success 'the whole restored file is byte for byte the original' '
	{ extents orig/huge; extents big/huge; } | sort -n -u >regions &&
	test -s regions &&
	while read -r off len; do
		cmp <(get orig/huge $off $len) <(get big/huge $off $len) ||
			die "region at $off (+$len) differs" || exit 1
	done <regions
'

test_expect_success 'the restored file and the store stay small on disk' '
	expect_eq "$(($(du -k big/huge | cut -f1) < 100 * 1024))" 1 "du of big/huge: $(du -k big/huge)" &&
	expect_eq "$(($(store_bytes "$S") < 10 * 1024 * 1024))" 1 "store is $(store_bytes "$S") bytes"
'

test_done
