#!/usr/bin/env bash
# t0070: sparse files do not blow up the store, and come back sparse.
. "$(dirname "$0")/lib.sh"

# measurements go to the script's own output as "# " lines
exec 3>&1
note() { echo "# $*" >&3; }

S=$TRASH/store
M=$((1024 * 1024))

test_expect_success 'set up a 1 GiB sparse file holding 1 MB of random data' '
	mkdir src &&
	truncate -s 1G src/sparse &&
	for i in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
		head -c 65536 /dev/urandom |
			dd of=src/sparse bs=64K seek=$((i * 1000 + 3)) conv=notrunc status=none || exit 1
	done &&
	head -c 1000 /dev/urandom | dd of=src/sparse bs=1000 seek=$((1024 * M / 1000 - 1)) conv=notrunc status=none &&
	expect_eq "$(stat -c %s src/sparse)" $((1024 * M)) &&
	truncate -s 100M src/all-hole &&
	note "du of the source: $(du -k src/sparse)" &&
	test "$(du -k src/sparse | cut -f1)" -lt 4096
'

test_expect_success 'saving it grows the store by less than 5 MB' '
	mkdir -p "$S" && before=$(store_bytes "$S") &&
	cache-save --key sparse --path src --store "$S" &&
	after=$(store_bytes "$S") &&
	note "store grew by $((after - before)) bytes" &&
	test $((after - before)) -lt $((5 * M))
'

test_expect_success 'the restored file is identical and sparse again' '
	mv src orig &&
	cache-restore --key sparse --store "$S" &&
	expect_eq "$(stat -c %s src/sparse)" $((1024 * M)) &&
	expect_eq "$(stat -c %s src/all-hole)" $((100 * M)) &&
	cmp src/sparse orig/sparse &&
	cmp src/all-hole orig/all-hole &&
	note "du of the restored files: $(du -k src/sparse src/all-hole | tr "\\n" " ")" &&
	test "$(du -k src/sparse | cut -f1)" -lt $((5 * 1024)) &&
	test "$(du -k src/all-hole | cut -f1)" -lt 1024
'

test_expect_success 'a file whose tail is a hole keeps its length' '
	printf head >tailhole && truncate -s 10M tailhole &&
	cache-save --key tail --path tailhole --store "$S" &&
	mv tailhole tailhole.orig &&
	cache-restore --key tail --store "$S" &&
	expect_eq "$(stat -c %s tailhole)" $((10 * M)) &&
	cmp tailhole tailhole.orig
'

test_expect_success 'a file full of written zeros restores with the same content' '
	head -c 20M /dev/zero >zeros &&
	cache-save --key zeros --path zeros --store "$S" &&
	mv zeros zeros.orig &&
	cache-restore --key zeros --store "$S" &&
	cmp zeros zeros.orig
'

test_done
