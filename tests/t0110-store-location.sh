#!/usr/bin/env bash
# t0110: where the store is: --store (a directory or a file:// URL), else
# $CACHE_STORE, else $XDG_CACHE_HOME/cicache/store, else
# ~/.cache/cicache/store.  A save creates it; a restore never does.
. "$(dirname "$0")/lib.sh"

entries() { find "$1/keys" -type f 2>/dev/null | wc -l; }

test_expect_success 'set up' '
	mkdir data && echo content >data/f
'

test_expect_success 'default store is $XDG_CACHE_HOME/cicache/store, created on first save' '
	XDG_CACHE_HOME=$TRASH/xdg &&
	test ! -e xdg &&
	cache-save --key k1 --path data &&
	test -d xdg/cicache/store &&
	expect_eq "$(entries xdg/cicache/store)" 1 &&
	rm -rf data2 && mv data data2 &&
	cache-restore --key k1 >out &&
	expect_grep "^cache-hit=true$" out &&
	cmp data/f data2/f && rm -rf data2
'

test_expect_success 'without XDG_CACHE_HOME the store is ~/.cache/cicache/store' '
	unset XDG_CACHE_HOME &&
	HOME=$TRASH/home2 && mkdir "$HOME" &&
	cache-save --key k2 --path "$TRASH/data" &&
	test -d "$TRASH/home2/.cache/cicache/store" &&
	expect_eq "$(entries "$TRASH/home2/.cache/cicache/store")" 1 &&
	cache-restore --key k2 --lookup-only >out &&
	expect_grep "^cache-hit=true$" out
'

test_expect_success 'a relative XDG_CACHE_HOME is ignored (XDG spec)' '
	XDG_CACHE_HOME=relative-xdg &&
	HOME=$TRASH/home3 && mkdir "$HOME" &&
	cache-save --key k3 --path data &&
	test ! -e relative-xdg &&
	test -d "$TRASH/home3/.cache/cicache/store"
'

test_expect_success '$CACHE_STORE wins over the default' '
	CACHE_STORE=$TRASH/envstore cache-save --key k4 --path data &&
	expect_eq "$(entries envstore)" 1 &&
	test ! -e "$HOME/.cache/cicache/store/keys/k4" &&
	CACHE_STORE=$TRASH/envstore cache-restore --key k4 --lookup-only >out &&
	expect_grep "^cache-hit=true$" out
'

test_expect_success '--store wins over $CACHE_STORE' '
	CACHE_STORE=$TRASH/envstore cache-save --key k5 --path data --store "$TRASH/flagstore" &&
	expect_eq "$(entries flagstore)" 1 &&
	expect_eq "$(entries envstore)" 1 &&
	CACHE_STORE=$TRASH/envstore cache-restore --key k5 --store "$TRASH/flagstore" --lookup-only >out &&
	expect_grep "^cache-hit=true$" out &&
	CACHE_STORE=$TRASH/flagstore cache-restore --key k4 --store "$TRASH/envstore" --lookup-only >out &&
	expect_grep "^cache-hit=true$" out
'

test_expect_success 'a file:// URL names the same directory' '
	cache-save --key k6 --path data --store "file://$TRASH/urlstore" &&
	expect_eq "$(entries urlstore)" 1 &&
	cache-restore --key k6 --store "$TRASH/urlstore" --lookup-only >out &&
	expect_grep "^cache-hit=true$" out &&
	cache-restore --key k6 --store "file://$TRASH/urlstore/" --lookup-only >out &&
	expect_grep "^cache-hit=true$" out &&
	CACHE_STORE="file://$TRASH/urlstore" cache-restore --key k6 --lookup-only >out &&
	expect_grep "^cache-hit=true$" out
'

test_expect_success 'a relative store directory is relative to the current directory' '
	mkdir sub && (cd sub && cache-save --key k7 --path ../data --store rel/store) &&
	expect_eq "$(entries sub/rel/store)" 1
'

test_expect_success 'a save creates missing parent directories of the store' '
	cache-save --key k8 --path data --store "$TRASH/a/b/c/store" &&
	expect_eq "$(entries a/b/c/store)" 1
'

test_expect_success 'a restore from a store that does not exist is a miss and creates nothing' '
	cache-restore --key k1 --store "$TRASH/nostore" >out 2>err &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "^cache-matched-key=$" out &&
	test ! -e nostore &&
	expect_code 1 cache-restore --key k1 --store "$TRASH/nostore" --fail-on-miss >out &&
	test ! -e nostore
'

test_expect_success 'a store path that is a plain file is an error (exit 4)' '
	echo "not a store" >afile &&
	expect_code 4 cache-save --key k9 --path data --store "$TRASH/afile" 2>err &&
	expect_grep "afile" err &&
	expect_eq "$(cat afile)" "not a store"
'

test_done
