#!/usr/bin/env bash
# t0010: regular files come back byte for byte, with their permission
# bits (including unusual ones) and their mtimes to the nanosecond.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

test_expect_success 'set up files of many sizes, modes and mtimes' '
	mkdir src &&
	: >src/empty &&
	printf x >src/one-byte &&
	seq 1 100000 >src/text &&
	head -c 3000000 /dev/urandom >src/random &&
	head -c 1000000 /dev/zero >src/zeros &&
	{ cat src/text; head -c 200000 /dev/urandom; cat src/text; } >src/mixed &&
	i=0 &&
	for m in 0600 0755 0644 0444 0700 0511 0421 0777 0570 0000 0640 0001; do
		echo "mode $m" >src/mode-$m &&
		chmod $m src/mode-$m || exit 1
	done &&
	touch -d "2001-02-03 04:05:06.123456789 UTC" src/text &&
	touch -d "1970-01-01 00:00:01.000000001 UTC" src/one-byte &&
	touch -d "2038-01-20 00:00:00.999999999 UTC" src/random &&
	touch -d "1969-12-31 23:59:58.5 UTC" src/zeros &&
	touch -d "2020-06-01 12:00:00.000000500" src/mode-0000 &&
	touch -d "2010-10-10 10:10:10.101010101" src &&
	tree_listing src >listing &&
	expect_grep "^f 644 588895 981173106.123456789 dea9193b768319cbb4ff1a137ac03113 ./text$" listing
'

test_expect_success 'save and restore reproduce every file exactly' '
	cache-save --key files --path src --store "$S" &&
	mv src orig &&
	cache-restore --key files --store "$S" >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree orig src
'

test_expect_success 'mtimes are exact to the nanosecond' '
	expect_eq "$(stat -c %.9Y src/text)" "$(stat -c %.9Y orig/text)" &&
	expect_eq "$(stat -c %.9Y src/text)" "981173106.123456789" &&
	expect_eq "$(stat -c %.9Y src/one-byte)" "1.000000001" &&
	expect_eq "$(stat -c %.9Y src/random)" "2147558400.999999999" &&
	expect_eq "$(stat -c %.9Y src/mode-0000)" "$(stat -c %.9Y orig/mode-0000)" &&
	expect_eq "$(stat -c %.9Y src)" "$(stat -c %.9Y orig)"
'

test_expect_success 'mtime before 1970 survives' '
	expect_eq "$(stat -c %Y src/zeros)" "$(stat -c %Y orig/zeros)" &&
	expect_eq "$(stat -c %.9Y src/zeros)" "$(stat -c %.9Y orig/zeros)"
'

test_expect_success 'permission bits are exact, including odd ones' '
	for m in 0600 0755 0644 0444 0700 0511 0421 0777 0570 0000 0640 0001; do
		expect_eq "$(stat -c %04a src/mode-$m)" "$m" "src/mode-$m" || exit 1
	done
'

test_expect_success 'a single file can be a path of its own' '
	cp -p orig/mixed single &&
	chmod 0751 single &&
	touch -d "2003-03-03 03:03:03.333333333" single &&
	cp -p single single.orig &&
	cache-save --key single --path single --store "$S" &&
	rm single &&
	cache-restore --key single --store "$S" &&
	cmp single single.orig &&
	expect_eq "$(stat -c "%a %.9Y %s" single)" "$(stat -c "%a %.9Y %s" single.orig)"
'

test_expect_success 'a restored file is a new regular file, not the original' '
	expect_eq "$(stat -c %F src/text)" "regular file" &&
	expect_eq "$(stat -c %h src/text)" 1
'

test_done
