#!/usr/bin/env bash
# run-tests: alone (kills restores at moments in their work)
# t0330: replace, never destroy.  An existing file, symlink or hard link
# is replaced by a temporary sibling renamed over it, never unlinked
# first: a restore killed at any moment over a complete tree leaves every
# name old-and-complete or new-and-complete, and two restores of the same
# entry into the same directory at the same time both succeed.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

# make_tree DIR TAG: the same names, the content told apart by TAG.
make_tree() {
	for d in 1 2 3 4; do
		mkdir -p "$1/d$d" &&
		for f in $(seq 1 250); do
			echo "$2 $d/$f" >"$1/d$d/f$f" && ln -s "target-$2-$d" "$1/d$d/l$f"
		done &&
		ln "$1/d$d/f1" "$1/d$d/hard" || return 1
	done
}

# check_tree DIR: every name of t/new is in DIR, as in t/old or t/new,
# whole (one process per check: the tree has ~2000 names).
check_tree() {
	(cd t/new && find . ! -name ".cicache-*" | LC_ALL=C sort) >names.want &&
	(cd "$1" && find . ! -name ".cicache-*" | LC_ALL=C sort) >names.got &&
	diff names.want names.got &&
	(cd "$1" && find . -type f ! -name ".cicache-*" -exec awk '
		FNR == 1 { n = substr(FILENAME, 4); sub(/\/f/, "/", n); sub(/\/hard$/, "/1", n) }
		FNR > 1 || ($0 != "new " n && $0 != "old " n) { print FILENAME ": " $0; bad = 1 }
		END { exit bad }' {} +) &&
	(cd "$1" && find . -type l -printf "%h %l\n" | awk '
		{ d = substr($1, 4) } $2 != "target-new-" d && $2 != "target-old-" d { print; bad = 1 }
		END { exit bad }')
}

test_expect_success 'set up: an old and a new version of a tree, and of a large file' '
	mkdir t big &&
	make_tree t/new new && make_tree t/old old &&
	(cd t && cache-save --key new --path new --store "$S") >out &&
	mkdir big/new big/old &&
	# large enough to be written for a while: killed in the middle
	{ echo new; seq 1 4000000; } >big/new/file &&
	{ echo old; seq 1 4000000; } >big/old/file &&
	(cd big && cache-save --key big --path new --store "$S") >out
'

test_expect_success 'a restore killed while it replaces a large file leaves the old one whole' '
	rm -rf work && mkdir work && cp -a big/old work/new
	size=$(stat -c %s work/new/file)
	(cd work && exec cache-restore --key big --store "$S" -q >/dev/null 2>&1) &
	pid=$!
	# Until the restore has started on the file: a temporary name
	# beside it, or the file itself cut short.
	for i in $(seq 1 20000); do
		ls -A work/new | grep -q "^\.cicache-.*\.tmp$" && break
		s=$(stat -c %s work/new/file 2>/dev/null || echo 0)
		[ "$s" != "$size" ] && break
		kill -0 $pid 2>/dev/null || break
	done
	kill -9 $pid 2>/dev/null || true
	wait $pid || true
	cmp -s work/new/file big/old/file || cmp -s work/new/file big/new/file ||
		die "the file is neither old nor new: $(stat -c %s work/new/file 2>&1) bytes"
'

test_expect_success 'restores killed at random moments leave every name old or new' '
	for k in 1 2 3 4 5 6; do
		rm -rf work && mkdir work && cp -a t/old work/new
		(cd work && exec cache-restore --key new --store "$S" -q >/dev/null 2>&1) &
		pid=$!
		sleep 0.0$((k * 6))
		kill -9 $pid 2>/dev/null || true
		wait $pid || true
		check_tree work/new
	done
'

test_expect_success 'after a complete restore no temporary name is left' '
	rm -rf work && mkdir work && cp -a t/old work/new &&
	(cd work && cache-restore --key new --store "$S") >out 2>err &&
	diff -r --no-dereference t/new work/new &&
	expect_eq "$(stat -c "%a %Y" work/new/d3/f7)" "$(stat -c "%a %Y" t/new/d3/f7)" &&
	expect_eq "$(find work -name ".cicache-*" | wc -l)" 0
'

# two_restores: two restores of "new" into work at once; both must succeed.
two_restores() {
	(cd work && cache-restore --key new --store "$S" -q >out1 2>err1) &
	p1=$!
	(cd work && cache-restore --key new --store "$S" -q >out2 2>err2) &
	p2=$!
	r1=0 r2=0
	wait $p1 || r1=$?
	wait $p2 || r2=$?
	[ $r1 = 0 ] && [ $r2 = 0 ] || { cat work/err1 work/err2; die "exit $r1 and $r2"; }
}

test_expect_success 'two restores of one entry into one directory at once both succeed' '
	for round in 1 2; do
		rm -rf work && mkdir work
		two_restores
		diff -r --no-dereference t/new work/new
	done
'

test_expect_success '... also over an existing tree' '
	for round in 1 2 3; do
		rm -rf work && mkdir work && cp -a t/old work/new
		two_restores
		diff -r --no-dereference t/new work/new
		expect_eq "$(find work -name ".cicache-*" | wc -l)" 0
	done
'

test_done
