#!/usr/bin/env bash
# t0320: roots are compared by the directories they reach, not by their
# spelling.  Two roots of one entry that reach the same directory (or
# one inside the other) through a symlink of the destination (a workspace
# link, $HOME through a link, HOME=$PWD after a cd through a link) are
# refused with exit 5 before anything is written; and a restore never
# follows a symlink it created itself on the way into a later root.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
OUT=$TRASH/outside

test_expect_success 'set up: entries with two roots each' '
	mkdir -p save/a/pkg save/b/pkg "$OUT" &&
	echo from-a >save/a/pkg/f && echo from-b >save/b/pkg/f &&
	(cd save && cache-save --key alias --path a/pkg --path b/pkg --store "$S") >out &&
	mkdir -p save/a/lnk/x && echo x >save/a/lnk/x/f && mkdir save/c &&
	ln -s "$OUT" save/c/lnk &&
	(cd save && cache-save --key through --path c/lnk --path a/lnk/x --store "$S") >out &&
	mkdir -p save/h/.cache/tool save/.cache/tool &&
	echo h >save/h/.cache/tool/f && echo w >save/.cache/tool/g &&
	(cd save && HOME=$TRASH/save/h cache-save --key home --path "~/.cache/tool" \
		--path .cache/tool --store "$S") >out
'

test_expect_success 'two roots that are one directory through a link: exit 5, nothing written' '
	mkdir -p d1/b && ln -s b d1/a &&
	(cd d1 && expect_code 5 cache-restore --key alias --store "$S") >out 2>err &&
	expect_grep "^cache-hit=false" out &&
	expect_grep "by another path" err &&
	test ! -e d1/b/pkg && test -L d1/a &&
	(cd d1 && expect_code 5 cache-restore --key alias --store "$S" --lookup-only) >out 2>err &&
	expect_grep "^cache-hit=false" out &&
	expect_grep "would fail before anything is written" err
'

test_expect_success 'the same when the directory exists already' '
	mkdir -p d2/b/pkg && echo mine >d2/b/pkg/f && ln -s b d2/a &&
	(cd d2 && expect_code 5 cache-restore --key alias --store "$S") >out 2>err &&
	expect_eq "$(cat d2/b/pkg/f)" mine
'

test_expect_success 'a workspace link at a root is replaced (tar), so the roots stay apart' '
	mkdir -p d3/a d3/b/pkg && echo mine >d3/b/pkg/mine && ln -s ../b/pkg d3/a/pkg &&
	(cd d3 && cache-restore --key alias --store "$S") >out 2>err &&
	test ! -L d3/a/pkg &&
	expect_eq "$(cat d3/a/pkg/f)" from-a && expect_eq "$(cat d3/b/pkg/f)" from-b &&
	test ! -e d3/a/pkg/mine
'

test_expect_success 'with --keep-directory-symlink the link is kept: one directory, exit 5' '
	rm -rf d3 && mkdir -p d3/a d3/b/pkg && echo mine >d3/b/pkg/mine &&
	ln -s ../b/pkg d3/a/pkg &&
	(cd d3 && expect_code 5 cache-restore --key alias --keep-directory-symlink \
		--store "$S") >out 2>err &&
	expect_grep "by another path" err &&
	test -L d3/a/pkg && expect_eq "$(ls d3/b/pkg)" mine
'

test_expect_success '$HOME reached through a symlink is the same place as its target' '
	mkdir -p d4/realhome/.cache && ln -s realhome d4/homelink &&
	(cd d4/realhome && HOME=$TRASH/d4/homelink expect_code 5 \
		cache-restore --key home --store "$S") >out 2>err &&
	expect_grep "by another path" err &&
	test ! -e d4/realhome/.cache/tool
'

test_expect_success 'HOME=$PWD after a cd through a link is the same place too' '
	mkdir -p d5/ws && ln -s ws d5/wslink &&
	(cd d5/wslink && HOME=$PWD expect_code 5 cache-restore --key home --store "$S") >out 2>err &&
	expect_grep "by another path" err &&
	test ! -e d5/ws/.cache
'

test_expect_success 'a later root whose way in is a link of an earlier root: exit 5 before writing' '
	rm -rf "$OUT" && mkdir -p "$OUT" d6/c && ln -s c d6/a &&
	(cd d6 && expect_code 5 cache-restore --key through --store "$S") >out 2>err &&
	expect_grep "by another path" err &&
	test ! -e d6/c/lnk && expect_eq "$(ls -A "$OUT")" ""
'

test_expect_success 'a symlink the restore created is never followed into a later root' '
	rm -rf "$OUT" && mkdir -p "$OUT" d7 && ln -s c d7/a &&
	(cd d7 && expect_code 5 cache-restore --key through --store "$S") >out 2>err &&
	expect_grep "a symlink this restore created" err &&
	expect_grep "^cache-hit=false" out &&
	expect_eq "$(ls -A "$OUT")" "" "written through the restored link"
'

test_expect_success 'distinct roots that only share a parent still restore' '
	mkdir -p d8 &&
	(cd d8 && cache-restore --key alias --store "$S") >out 2>err &&
	expect_grep "^cache-hit=true" out &&
	expect_eq "$(cat d8/a/pkg/f d8/b/pkg/f)" "from-a
from-b"
'

test_done
