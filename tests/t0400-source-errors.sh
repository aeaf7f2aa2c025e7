#!/usr/bin/env bash
# t0400: a path that cannot be saved (unreadable; missing, with
# --strict-paths) fails the save with exit 3 and an error line naming it;
# nothing is published, an existing entry under the key is left as it
# was, no staging files stay.  (Without --strict-paths a missing path is
# a warning: t0172.)
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

entries() { find "$S/keys" -type f 2>/dev/null | wc -l; }
tmpfiles() { find "$S" -name "*.tmp" 2>/dev/null | wc -l; }
# as_nobody CMD...: runs CMD as an unprivileged user (root reads anything)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

test_expect_success 'set up' '
	mkdir -p data/sub && echo ok >data/f && echo sub >data/sub/g &&
	cache-save -q --key keep --path data --store "$S" >/dev/null &&
	expect_eq "$(entries)" 1
'

test_expect_success '--strict-paths: a missing path: exit 3, an error naming it, no entry' '
	expect_code 3 cache-save --strict-paths --key k1 --path no-such-dir --store "$S" >out 2>err &&
	cat err &&
	grep "error" err | grep -q "no-such-dir" || die "no error line naming no-such-dir" &&
	test $(wc -l <err) -le 2 &&
	expect_grep "^cache-saved=false$" out &&
	expect_eq "$(entries)" 1 &&
	expect_eq "$(tmpfiles)" 0 &&
	cache-restore --key k1 --store "$S" --lookup-only >out &&
	expect_grep "^cache-hit=false$" out
'

test_expect_success '--strict-paths: one missing path among good ones fails the whole save' '
	expect_code 3 env CACHE_STRICT_PATHS=true cache-save --key k2 --path data --path missing-too --store "$S" >out 2>err &&
	expect_grep "missing-too" err &&
	expect_eq "$(entries)" 1 &&
	expect_eq "$(tmpfiles)" 0
'

test_expect_success 'a failed save under an existing key leaves that entry intact' '
	expect_code 3 cache-save --strict-paths --key keep --path data --path gone --store "$S" >out 2>err &&
	rm -rf data.bak && mv data data.bak &&
	cache-restore --key keep --store "$S" >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat data/f data/sub/g)" "ok
sub" &&
	rm -rf data && mv data.bak data
'

test_expect_success 'a missing path under ~ is named as given or resolved' '
	expect_code 3 cache-save --strict-paths --key k3 --path "~/.nothing" --store "$S" 2>err &&
	expect_grep ".nothing" err
'

test_expect_success 'a path below a regular file is an error (exit 3)' '
	echo file >plain &&
	expect_code 3 cache-save --key k4 --path plain/sub --store "$S" 2>err &&
	expect_grep "plain/sub" err &&
	expect_eq "$(entries)" 1
'

if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	test_expect_success 'set up a tree the unprivileged user owns' '
		chmod 755 "$TRASH" &&
		mkdir -m 777 nb && cd nb &&
		mkdir -p tree/sub tree/locked && echo a >tree/a && echo b >tree/sub/b &&
		echo secret >tree/unreadable && chmod 000 tree/unreadable &&
		echo in >tree/locked/x &&
		chown -R 65534:65534 . &&
		as_nobody cache-save -q --key base --path tree/sub --store "$TRASH/nb/store" >/dev/null
	'

	test_expect_success 'an unreadable file: exit 3, an error naming it, no entry' '
		cd nb &&
		expect_code 3 as_nobody cache-save --key u1 --path tree --store "$TRASH/nb/store" >out 2>err &&
		cat err &&
		grep "error" err | grep -q "tree/unreadable" || die "no error naming tree/unreadable" &&
		expect_grep "Permission denied" err &&
		expect_grep "^cache-saved=false$" out &&
		expect_eq "$(find store/keys -type f | wc -l)" 1 &&
		expect_eq "$(find store -name "*.tmp" | wc -l)" 0 &&
		expect_code 0 as_nobody cache-restore --key u1 --store "$TRASH/nb/store" --lookup-only >out &&
		expect_grep "^cache-hit=false$" out
	'

	test_expect_success 'an unreadable directory: exit 3, an error naming it' '
		cd nb &&
		chmod 644 tree/unreadable && chmod 000 tree/locked &&
		expect_code 3 as_nobody cache-save --key u2 --path tree --store "$TRASH/nb/store" >out 2>err &&
		cat err &&
		grep "error" err | grep -q "tree/locked" || die "no error naming tree/locked" &&
		expect_eq "$(find store/keys -type f | wc -l)" 1
	'

	test_expect_success 'an untraversable parent: exit 3, an error naming the path' '
		cd nb &&
		chmod 755 tree/locked && chmod 000 tree &&
		expect_code 3 as_nobody cache-save --key u3 --path tree/sub --store "$TRASH/nb/store" >out 2>err &&
		cat err &&
		expect_grep "tree" err &&
		chmod 755 tree
	'

	test_expect_success 'the store is consistent after the failures' '
		cd nb && rm -rf tree/sub &&
		as_nobody cache-restore --key base --store "$TRASH/nb/store" >out &&
		expect_eq "$(cat tree/sub/b)" b
	'
else
	echo "# SKIP unreadable-file cases: setpriv cannot drop privileges here"
fi

test_expect_success 'an invalid key fails before anything is created' '
	expect_code 2 cache-save --key "bad,key" --path data --store "$TRASH/fresh-store" >out 2>err &&
	expect_eq "$(wc -l <err)" 1 &&
	expect_grep "commas" err &&
	test ! -e fresh-store &&
	expect_code 2 cache-save --key "$(printf "a\tb")" --path data --store "$S" >out 2>err &&
	expect_eq "$(entries)" 1 &&
	test -z "$(entry_files "$S" a)"
'

test_done
