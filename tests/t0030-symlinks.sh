#!/usr/bin/env bash
# t0030: symlinks are saved as links, never followed, and come back with
# their targets exactly as they were: relative, absolute, dangling.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

test_expect_success 'set up symlinks of every kind' '
	mkdir -p src/dir outside &&
	echo target >src/file &&
	echo secret >outside/big &&
	ln -s file src/rel &&
	ln -s ../file src/dir/up &&
	ln -s "$TRASH/outside/big" src/abs &&
	ln -s /nonexistent/nowhere src/dangling-abs &&
	ln -s missing src/dangling-rel &&
	ln -s dir src/to-dir &&
	ln -s "$TRASH/outside" src/to-outside-dir &&
	ln -s loop-b src/loop-a && ln -s loop-a src/loop-b &&
	ln -s "./a//b/../c with space" src/odd-target &&
	ln -s "$(printf "%0200d" 0)/$(printf "%0200d" 1)/$(printf "%0200d" 2)" src/long-target &&
	touch -h -d "2002-02-02 02:02:02.222222222 UTC" src/rel &&
	touch -h -d "2003-03-03 03:03:03.3 UTC" src/dangling-rel &&
	cache-save --key links --path src --store "$S" &&
	mv src orig
'

test_expect_success 'restore reproduces every link with its target and mtime' '
	cache-restore --key links --store "$S" &&
	expect_same_tree orig src &&
	for l in rel dir/up abs dangling-abs dangling-rel to-dir to-outside-dir loop-a \
		 loop-b odd-target long-target; do
		test -L src/$l || die "src/$l is not a symlink" || exit 1
		expect_eq "$(readlink src/$l)" "$(readlink orig/$l)" "$l" || exit 1
	done &&
	expect_eq "$(readlink src/abs)" "$TRASH/outside/big" &&
	expect_eq "$(stat -c %.9Y src/rel)" 1012615322.222222222 &&
	expect_eq "$(stat -c %.9Y src/dangling-rel)" 1046660583.300000000
'

test_expect_success 'links were not followed: only the one regular file came back' '
	expect_eq "$(find src -type f | wc -l)" 1 &&
	expect_eq "$(find src -type d | wc -l)" 2 &&
	expect_eq "$(find src -type l | wc -l)" 11 &&
	test ! -e src/to-outside-dir/big-copy
'

test_expect_success 'a restored symlink does not replace what it points at' '
	expect_eq "$(cat outside/big)" secret
'

test_expect_success 'a symlink given as --path comes back and still leads to its content' '
	ln -s orig/file toplink &&
	cache-save --key toplink --path toplink --store "$S" &&
	rm toplink &&
	cache-restore --key toplink --store "$S" &&
	test -e toplink &&
	expect_eq "$(cat toplink)" target
'

test_done
