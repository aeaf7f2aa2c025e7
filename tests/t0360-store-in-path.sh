#!/usr/bin/env bash
# t0360: a local store inside a saved path is left out of the save, with a
# note: "--path . --store ./st", "--path ~" with the default store, a store
# named through a symbolic link, or saved through one.  The store is told
# by identity (device and inode), not by spelling.  A restore gives back
# the tree without the store; a path that is the store is refused.
. "$(dirname "$0")/lib.sh"

# stored_names KEY STORE: the names a restore of KEY from STORE (a path
# from the trash directory) writes into a fresh directory, one per line
stored_names() {
	rm -rf "$TRASH/r" && mkdir "$TRASH/r" &&
	(cd "$TRASH/r" && cache-restore -q --key "$1" --store "$TRASH/$2" >out &&
	 grep -q "^cache-hit=true$" out && rm out && find . | sort)
}

test_expect_success 'set up a work tree' '
	mkdir -p work/src && echo main >work/src/main.c && echo notes >work/README
'

test_expect_success '--path . --store ./st leaves the store out, with a note' '
	(cd work && cache-save --key k1 --path . --store ./st >../out 2>../err) &&
	expect_grep "leaving out the store .st. inside .*work" err &&
	expect_grep "^cache-saved=true$" out &&
	stored_names k1 work/st >names &&
	expect_grep "^./src/main.c$" names && expect_grep "^./README$" names &&
	expect_no_grep "st" names
'

test_expect_success 'a second save holds no copy of the first one' '
	(cd work && cache-save --key k2 --path . --store ./st >../out 2>../err) &&
	expect_grep "leaving out the store" err &&
	stored_names k2 work/st >names &&
	expect_no_grep "keys\|packs" names
'

test_expect_success 'the restored tree is the tree without the store' '
	rm -rf copy && cp -a work copy && rm -rf copy/st && touch -r work copy &&
	rm -rf back && mkdir back && (cd back && cache-restore --key k2 --store ../work/st >../out) &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree copy back &&
	(cd work && cache-restore --key k2 --store ./st >../out) &&
	expect_grep "^cache-hit=true$" out && test -n "$(entry_files work/st k2)"

'

test_expect_success '--path ~ with the default store leaves the store out' '
	echo rc >"$HOME/.profile" &&
	cache-save --key home --path "~" >out 2>err &&
	expect_grep "leaving out the store .\.cache/cicache/store. inside" err &&
	test -d "$XDG_CACHE_HOME/cicache/store/keys" &&
	stored_names home "${XDG_CACHE_HOME#$TRASH/}/cicache/store" >names &&
	expect_no_grep "cicache/store" names
'

test_expect_success 'a store named through a symbolic link is still found' '
	mkdir -p elsewhere && ln -s ../work/st elsewhere/link &&
	(cd work && cache-save --key k3 --path . --store ../elsewhere/link >../out 2>../err) &&
	expect_grep "leaving out the store .st." err &&
	stored_names k3 elsewhere/link >names && expect_no_grep "keys" names
'

test_expect_success 'a path reached through a symbolic link is still checked' '
	ln -s . linked &&
	cache-save --key k4 --path linked/work --store work/st >out 2>err &&
	expect_grep "leaving out the store .st. inside .*linked/work" err &&
	stored_names k4 work/st >names && expect_no_grep "keys" names
'

test_expect_success 'a path that is the store is refused' '
	ST=0 && cache-save --key k5 --path work/st --store ./work/st >out 2>err || ST=$? &&
	expect_eq "$ST" 2 &&
	expect_grep "is the store" err &&
	expect_grep "^cache-saved=false$" out
'

test_expect_success 'a store outside the saved path is not mentioned' '
	cache-save --key k6 --path work/src --store work/st >out 2>err &&
	expect_no_grep "leaving out" err
'

test_done
