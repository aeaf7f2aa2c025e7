#!/usr/bin/env bash
# t0020: directories come back with their modes and mtimes, empty ones
# too, including read-only ones that hold files, and deep nesting.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

test_expect_success 'set up directories' '
	mkdir -p src/empty src/a/b/c/empty-deep src/modes src/ro/sub &&
	for m in 0700 0750 0711 0755 0775 0500 0555 0300 1777 2755; do
		mkdir src/modes/d$m &&
		echo "in $m" >src/modes/d$m/file &&
		chmod $m src/modes/d$m || exit 1
	done &&
	echo inside >src/ro/file &&
	echo deeper >src/ro/sub/file &&
	chmod 0555 src/ro/sub &&
	chmod 0555 src/ro &&
	d=src/deep && mkdir $d &&
	for i in $(seq 1 120); do d=$d/level$i; done &&
	mkdir -p $d && echo bottom >$d/file &&
	touch -d "1999-12-31 23:59:59.987654321 UTC" src/empty &&
	touch -d "2005-05-05 05:05:05.000000005 UTC" src/a/b/c/empty-deep &&
	touch -d "2006-06-06 06:06:06.606060606 UTC" src/a/b/c src/a/b src/a &&
	touch -d "2007-07-07 07:07:07.7 UTC" src/ro/sub &&
	touch -d "2008-08-08 08:08:08.8 UTC" src/ro &&
	touch -d "2009-09-09 09:09:09.9 UTC" src/modes/d0555 &&
	touch -d "2011-11-11 11:11:11.111111111 UTC" src
'

test_expect_success 'save and restore reproduce the directory tree exactly' '
	cache-save --key dirs --path src --store "$S" &&
	mv src orig &&
	cache-restore --key dirs --store "$S" &&
	expect_same_tree orig src
'

test_expect_success 'empty directories exist with their mtimes' '
	test -d src/empty && test -d src/a/b/c/empty-deep &&
	expect_eq "$(ls -A src/empty | wc -l)" 0 &&
	expect_eq "$(stat -c %.9Y src/empty)" 946684799.987654321 &&
	expect_eq "$(stat -c %.9Y src/a/b/c/empty-deep)" 1115269505.000000005 &&
	expect_eq "$(stat -c %.9Y src/a/b/c)" 1149573966.606060606 &&
	expect_eq "$(stat -c %.9Y src)" 1321009871.111111111
'

test_expect_success 'directory modes, including special bits and read-only ones' '
	for m in 0700 0750 0711 0755 0775 0500 0555 0300 1777 2755; do
		expect_eq "$(stat -c %04a src/modes/d$m)" "$m" "src/modes/d$m" || exit 1
	done &&
	expect_eq "$(stat -c %a src/ro)" 555 &&
	expect_eq "$(stat -c %a src/ro/sub)" 555 &&
	expect_eq "$(cat src/ro/file src/ro/sub/file)" "inside
deeper" &&
	expect_eq "$(stat -c %.9Y src/ro)" 1218182888.800000000 &&
	expect_eq "$(stat -c %.9Y src/ro/sub)" 1183792027.700000000
'

test_expect_success 'a deeply nested file is restored' '
	f=$(find src/deep -name file) &&
	expect_eq "$(cat "$f")" bottom &&
	expect_eq "$(echo "$f" | tr -cd / | wc -c)" 122
'

test_expect_success 'restoring again over the read-only tree works and keeps the modes' '
	echo changed >src/ro/sub/file &&
	touch src/ro src/ro/sub &&
	cache-restore --key dirs --store "$S" &&
	expect_same_tree orig src
'

test_expect_success 'restoring over a read-only tree as an unprivileged user' '
	if ! setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
		echo "cannot drop privileges with setpriv" && exit 1
	fi &&
	chmod 755 "$TRASH" &&
	mkdir -m 777 nb &&
	cp -a orig nb/src && chown -R 65534:65534 nb/src &&
	rm -rf nb/src/modes/d0300 &&
	cp -a nb/src nb/orig &&
	(cd nb && setpriv --reuid=65534 --regid=65534 --clear-groups \
		cache-save --key nobody --path src --store "$TRASH/nb/store") &&
	(cd nb && setpriv --reuid=65534 --regid=65534 --clear-groups \
		cache-restore --key nobody --store "$TRASH/nb/store") &&
	expect_same_tree nb/orig nb/src &&
	echo changed >nb/src/ro/sub/file &&
	(cd nb && setpriv --reuid=65534 --regid=65534 --clear-groups \
		cache-restore --key nobody --store "$TRASH/nb/store") &&
	expect_same_tree nb/orig nb/src
'

test_done
