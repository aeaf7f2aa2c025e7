#!/usr/bin/env bash
# run-tests: alone (runs saves and restores concurrently itself)
# t0610: saves running at the same time into one store.  Different keys:
# both succeed and both restore exactly.  The same key: one of them wins,
# the entry is exactly one of the two trees, and the store stays usable.
. "$(dirname "$0")/lib.sh"

exec 3>&1
note() { echo "# $*" >&3; }

S=$TRASH/store

# make_tree DIR SEED: ~40 MB: shared text, random data of its own
make_tree() {
	mkdir -p "$1/shared" "$1/own" &&
	cp -a common/. "$1/shared/" &&
	for i in $(seq 1 10); do head -c 2000000 /dev/urandom >"$1/own/r$i" || return 1; done &&
	for i in $(seq 1 200); do echo "$2 $i" >"$1/own/small$i" || return 1; done
}
# restored_is KEY DIR: restores KEY into a fresh directory and compares
# the path it holds with DIR
restored_is() {
	rm -rf check && mkdir check &&
	(cd check && cache-restore -q --key "$1" --store "$S" >out) &&
	grep -q "^cache-hit=true$" check/out &&
	diff -r "$2" "check/$3"
}
# run_both CMD1 -- CMD2: runs two commands at once, fails if either fails
run_both() {
	local a=() p1 p2 s1=0 s2=0
	while [ "$1" != -- ]; do a+=("$1"); shift; done
	shift
	"${a[@]}" >out1 2>err1 & p1=$!
	"$@" >out2 2>err2 & p2=$!
	wait $p1 || s1=$?
	wait $p2 || s2=$?
	[ $s1 = 0 ] && [ $s2 = 0 ] || { cat err1 err2; die "exits $s1 and $s2"; }
}

test_expect_success 'set up two trees sharing half their content' '
	mkdir common &&
	for i in $(seq 1 10); do head -c 1500000 /dev/urandom | base64 >common/t$i || exit 1; done &&
	make_tree one 1 && make_tree two 2
'

test_expect_success 'two saves of different keys at once into a new store' '
	mkdir a b && mv one a/tree && mv two b/tree &&
	run_both sh -c "cd a && cache-save -q --key key-a --path tree --store \"$S\"" -- \
		 sh -c "cd b && cache-save -q --key key-b --path tree --store \"$S\"" &&
	expect_grep "^cache-saved=true$" out1 &&
	expect_grep "^cache-saved=true$" out2
'

test_expect_success 'both entries restore exactly' '
	restored_is key-a a/tree tree &&
	restored_is key-b b/tree tree
'

test_expect_success 'repeated rounds of concurrent saves of different keys' '
	for r in 1 2 3 4 5; do
		echo "round $r" >a/tree/own/round && echo "round $r" >b/tree/own/round &&
		head -c 1000000 /dev/urandom >a/tree/own/new && head -c 1000000 /dev/urandom >b/tree/own/new &&
		run_both sh -c "cd a && cache-save -q --key a-$r --path tree --store \"$S\"" -- \
			 sh -c "cd b && cache-save -q --key b-$r --path tree --store \"$S\"" || exit 1
		restored_is a-$r a/tree tree || exit 1
		restored_is b-$r b/tree tree || exit 1
	done
'

test_expect_success 'two saves of the same key at once: one wins, whole' '
	for r in 1 2 3 4 5; do
		head -c 1000000 /dev/urandom >a/tree/own/new && head -c 1000000 /dev/urandom >b/tree/own/new &&
		run_both sh -c "cd a && cache-save -q --key same --path tree --store \"$S\"" -- \
			 sh -c "cd b && cache-save -q --key same --path tree --store \"$S\"" || exit 1
		if restored_is same a/tree tree 2>/dev/null; then w=a
		elif restored_is same b/tree tree 2>/dev/null; then w=b
		else diff -r a/tree check/tree | head; die "round $r: the entry is neither tree"; exit 1
		fi
		note "round $r: $w won"
	done
'

test_expect_success 'two --immutable saves of a new key at once: exactly one saves' '
	for r in 1 2 3 4 5; do
		run_both sh -c "cd a && cache-save -q --immutable --key imm-$r --path tree --store \"$S\"" -- \
			 sh -c "cd b && cache-save -q --immutable --key imm-$r --path tree --store \"$S\"" || exit 1
		n=$(cat out1 out2 | grep -c "^cache-saved=true$") &&
		note "round $r: $n of 2 saved, out1: $(grep saved out1), out2: $(grep saved out2)" &&
		expect_eq "$n" 1 "saves reporting cache-saved=true" || exit 1
		if grep -q "^cache-saved=true$" out1; then w=a; else w=b; fi
		restored_is imm-$r $w/tree tree || die "imm-$r is not the tree of the save that said it saved" || exit 1
	done
'

test_expect_success 'a restore while the same key is being replaced gets one whole version' '
	(cd a && cache-save -q --key live --path tree --store "$S" >/dev/null) &&
	for r in 1 2 3; do
		head -c 3000000 /dev/urandom >b/tree/own/new &&
		cp -a a/tree old && rm -rf new && cp -a b/tree new &&
		rm -rf check && mkdir check &&
		run_both sh -c "cd b && cache-save -q --key live --path tree --store \"$S\"" -- \
			 sh -c "cd check && cache-restore -q --key live --store \"$S\"" || exit 1
		if diff -r old check/tree >/dev/null; then w=old
		elif diff -r new check/tree >/dev/null; then w=new
		else die "round $r: the restore got a mix"; exit 1
		fi
		note "round $r: the restore got the $w version"
		(cd a && cache-save -q --key live --path tree --store "$S" >/dev/null) || exit 1
		rm -rf old new
	done
'

test_expect_success 'the store holds no staging files after all that' '
	expect_eq "$(find "$S" -name "*.tmp" | wc -l)" 0
'

test_expect_success 'every entry still restores at the end' '
	for k in key-a key-b a-1 a-5 b-1 b-5 same live; do
		rm -rf check && mkdir check &&
		(cd check && cache-restore -q --key $k --store "$S" >out) || exit 1
		grep -q "^cache-hit=true$" check/out || die "$k is gone" || exit 1
	done
'

test_done
