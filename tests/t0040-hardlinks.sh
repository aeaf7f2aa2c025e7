#!/usr/bin/env bash
# t0040: hard links inside a saved tree come back as hard links (one inode),
# stored once; a file linked from outside the tree comes back as a file.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

test_expect_success 'set up hard link groups' '
	mkdir -p src/sub/deeper outside &&
	seq 1 50000 >src/a &&
	ln src/a src/b &&
	ln src/a src/sub/c &&
	ln src/a src/sub/deeper/d &&
	head -c 100000 /dev/urandom >src/sub/x &&
	ln src/sub/x src/y &&
	echo lonely >src/lonely &&
	echo shared >outside/ext &&
	ln outside/ext src/ext &&
	chmod 0640 src/a &&
	touch -d "2004-04-04 04:04:04.444444444 UTC" src/a &&
	cache-save --key hl --path src --store "$S" &&
	mv src orig
'

test_expect_success 'links of one group share an inode after restore' '
	cache-restore --key hl --store "$S" &&
	i=$(stat -c %i src/a) &&
	for f in b sub/c sub/deeper/d; do
		expect_eq "$(stat -c %i src/$f)" "$i" "inode of src/$f" || exit 1
	done &&
	expect_eq "$(stat -c %h src/a)" 4 &&
	expect_eq "$(stat -c %i src/y)" "$(stat -c %i src/sub/x)" &&
	expect_eq "$(stat -c %h src/y)" 2 &&
	test "$(stat -c %i src/a)" != "$(stat -c %i src/y)"
'

test_expect_success 'content, mode and mtime of linked files are right' '
	cmp src/sub/deeper/d orig/a &&
	cmp src/y orig/y &&
	expect_eq "$(stat -c "%a %.9Y" src/b)" "640 1081051444.444444444"
'

test_expect_success 'unlinked files stay separate' '
	expect_eq "$(stat -c %h src/lonely)" 1
'

test_expect_success 'a file linked from outside the tree comes back as a plain file' '
	expect_eq "$(cat src/ext)" shared &&
	expect_eq "$(stat -c %h src/ext)" 1 &&
	expect_eq "$(stat -c %h outside/ext)" 2
'

test_expect_success 'a group of ten links is stored once and restored as one inode' '
	mkdir -p many &&
	head -c 2000000 /dev/urandom >many/f0 &&
	for i in 1 2 3 4 5 6 7 8 9; do ln many/f0 many/f$i || exit 1; done &&
	before=$(store_bytes "$S") &&
	cache-save --key many --path many --store "$S" &&
	after=$(store_bytes "$S") &&
	echo "store grew by $((after - before)) bytes" &&
	test $((after - before)) -lt 3000000 &&
	rm -rf many &&
	cache-restore --key many --store "$S" &&
	expect_eq "$(stat -c %i many/f* | sort -u | wc -l)" 1 &&
	expect_eq "$(stat -c %h many/f9)" 10
'

test_expect_success 'restoring over existing files still makes hard links' '
	echo stale >src/b &&
	rm src/sub/c && echo stale >src/sub/c &&
	cache-restore --key hl --store "$S" &&
	expect_eq "$(stat -c %i src/b)" "$(stat -c %i src/a)" &&
	expect_eq "$(stat -c %i src/sub/c)" "$(stat -c %i src/a)" &&
	cmp src/b orig/a
'

test_done
