#!/usr/bin/env bash
# t0325: a symlink where a root's directory goes.  As GNU tar does by
# default, it is replaced by the entry's directory and what it pointed
# at is left alone, whoever put it there (the user, or an earlier restore
# of an entry that held a symlink at that path), also for a root named
# with --path.  --keep-directory-symlink (CACHE_KEEP_DIRECTORY_SYMLINK)
# follows a link that leads under $HOME or the current directory
# instead, never one that leads elsewhere.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
# Outside both $HOME and the current directory (the trash directory).
OUT=$(mktemp -d "${TMPDIR:-/tmp}/cicache-t0325-out.XXXXXX")
test_cleanup "rm -rf '$OUT'"

test_expect_success 'set up: a directory entry, an absolute one, a symlink entry' '
	mkdir -p src/dir/sub "$OUT/abs" &&
	echo f >src/dir/f && echo g >src/dir/sub/g &&
	(cd src && cache-save --key tree --path dir --store "$S") >out &&
	echo a >"$OUT/abs/a" &&
	cache-save --key abs --path "$OUT/abs" --store "$S" >out &&
	rm -rf "$OUT/abs" &&
	mkdir -p plant && ln -s "$OUT/victim" plant/dir &&
	(cd plant && cache-save --key plant --path dir --store "$S") >out
'

test_expect_success 'a symlink at the root is replaced by the directory; its target is untouched' '
	mkdir -p "$OUT/victim" d1 && ln -s "$OUT/victim" d1/dir &&
	(cd d1 && cache-restore --key tree --store "$S") >out 2>err &&
	expect_grep "^cache-hit=true" out &&
	test ! -L d1/dir && test -d d1/dir &&
	expect_eq "$(cat d1/dir/f d1/dir/sub/g)" "f
g" &&
	expect_eq "$(ls -A "$OUT/victim")" "" "written through the root symlink"
'

test_expect_success 'the same for an absolute root named with --path' '
	rm -rf "$OUT/victim" "$OUT/abs" && mkdir -p "$OUT/victim" &&
	ln -s "$OUT/victim" "$OUT/abs" &&
	cache-restore --key abs --path "$OUT/abs" --store "$S" >out 2>err &&
	test ! -L "$OUT/abs" && expect_eq "$(cat "$OUT/abs/a")" a &&
	expect_eq "$(ls -A "$OUT/victim")" ""
'

test_expect_success 'a symlink an earlier restore put there never leads a later one out' '
	rm -rf "$OUT/victim" d2 && mkdir -p "$OUT/victim" d2 &&
	(cd d2 && cache-restore --key plant --store "$S") >out 2>err &&
	test -L d2/dir && expect_eq "$(readlink d2/dir)" "$OUT/victim" &&
	(cd d2 && cache-restore --key tree --path dir --store "$S") >out 2>err &&
	test ! -L d2/dir && expect_eq "$(cat d2/dir/f)" f &&
	expect_eq "$(ls -A "$OUT/victim")" ""
'

test_expect_success '... even with --keep-directory-symlink (it leads outside home and cwd)' '
	rm -rf d2 && mkdir -p d2 &&
	(cd d2 && cache-restore --key plant --store "$S") >out 2>err && test -L d2/dir &&
	(cd d2 && cache-restore --key tree --path dir --keep-directory-symlink \
		--store "$S") >out 2>err &&
	test ! -L d2/dir && expect_eq "$(ls -A "$OUT/victim")" ""
'

test_expect_success '--keep-directory-symlink follows a link into the workspace' '
	mkdir -p d3/real && echo mine >d3/real/mine && ln -s real d3/dir &&
	(cd d3 && cache-restore --key tree --keep-directory-symlink --store "$S") >out 2>err &&
	test -L d3/dir && expect_eq "$(cat d3/real/f d3/real/sub/g d3/real/mine)" "f
g
mine"
'

test_expect_success 'CACHE_KEEP_DIRECTORY_SYMLINK=true is its twin' '
	mkdir -p d4/real && ln -s real d4/dir &&
	(cd d4 && CACHE_KEEP_DIRECTORY_SYMLINK=true cache-restore --key tree \
		--store "$S") >out 2>err &&
	test -L d4/dir && expect_eq "$(cat d4/real/f)" f
'

test_expect_success 'the help and the man page name the flag' '
	cache-restore --help >help &&
	expect_grep "keep-directory-symlink" help &&
	expect_grep "CACHE_KEEP_DIRECTORY_SYMLINK" help &&
	grep -q "keep\\\\-directory\\\\-symlink" "$TEST_DIR/../man/cache-restore.1"
'

test_done
