#!/usr/bin/env bash
# t0090: restoring over an existing tree.  Documented behaviour: every
# cached entry replaces what is at its name (files are overwritten,
# whatever type was there before); files and directories that the entry
# does not hold are left alone, so the result is the union.  Nothing at
# a cached name is ever followed: a symlink or a hard link planted there
# is replaced, and what it pointed at stays untouched.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

test_expect_success 'set up and save a tree' '
	mkdir -p src/sub src/other outside &&
	echo one >src/one &&
	echo two >src/sub/two &&
	echo three >src/sub/three &&
	echo four >src/other/four &&
	echo five >src/five &&
	echo six >src/six &&
	chmod 0644 src/one &&
	cache-save --key tree --path src --store "$S" &&
	cp -a src orig
'

test_expect_success 'cached files are overwritten, other files are left alone' '
	echo changed >src/one &&
	chmod 0600 src/one &&
	echo changed, longer than before >src/sub/two &&
	rm src/sub/three &&
	echo extra >src/extra &&
	mkdir src/newdir && echo n >src/newdir/n &&
	echo extra2 >src/sub/extra2 &&
	cache-restore --key tree --store "$S" &&
	expect_eq "$(cat src/one)" one &&
	expect_eq "$(stat -c %a src/one)" 644 &&
	expect_eq "$(cat src/sub/two)" two &&
	expect_eq "$(cat src/sub/three)" three &&
	expect_eq "$(cat src/extra)" extra &&
	expect_eq "$(cat src/newdir/n)" n &&
	expect_eq "$(cat src/sub/extra2)" extra2 &&
	rm -r src/extra src/newdir src/sub/extra2 &&
	for f in one sub/two sub/three other/four five six; do
		cmp src/$f orig/$f || exit 1
	done
'

test_expect_success 'a cached directory replaces a file in its way' '
	rm -rf src && cp -a orig src &&
	rm -r src/other && echo "not a dir" >src/other &&
	cache-restore --key tree --store "$S" &&
	test -d src/other && expect_eq "$(cat src/other/four)" four
'

# A directory where the entry holds a file is not deleted with all it
# holds: the restore stops with exit 6 and an error naming it.
test_expect_success 'a directory where the cache holds a file is kept, exit 6' '
	rm -rf src && cp -a orig src &&
	rm src/five && mkdir -p src/five/inside && echo x >src/five/inside/x &&
	expect_code 6 cache-restore --key tree --store "$S" >out 2>err &&
	cat err &&
	expect_grep "src/five" err &&
	expect_no_grep "^cache-hit=true" out &&
	expect_eq "$(cat src/five/inside/x)" x
'

test_expect_success 'a file replaced by a symlink to outside is not written through' '
	rm -rf src && cp -a orig src &&
	echo precious >outside/victim &&
	chmod 0600 outside/victim &&
	touch -d "2000-01-01 UTC" outside/victim &&
	rm src/one && ln -s ../outside/victim src/one &&
	rm src/sub/two && ln -s "$TRASH/outside/victim" src/sub/two &&
	cache-restore --key tree --store "$S" &&
	expect_eq "$(cat outside/victim)" precious &&
	expect_eq "$(stat -c "%a %Y" outside/victim)" "600 946684800" &&
	test ! -L src/one && test -f src/one && expect_eq "$(cat src/one)" one &&
	test ! -L src/sub/two && expect_eq "$(cat src/sub/two)" two
'

test_expect_success 'a dangling symlink to outside is not followed to create a file' '
	rm -rf src && cp -a orig src &&
	rm src/six && ln -s ../outside/created-by-restore src/six &&
	cache-restore --key tree --store "$S" &&
	test ! -e outside/created-by-restore &&
	expect_eq "$(cat src/six)" six
'

test_expect_success 'a directory replaced by a symlink to outside is not written into' '
	rm -rf src && cp -a orig src &&
	mkdir -p outside/dir && echo mine >outside/dir/two &&
	rm -r src/sub && ln -s ../outside/dir src/sub &&
	cache-restore --key tree --store "$S" &&
	expect_eq "$(cat outside/dir/two)" mine &&
	test ! -e outside/dir/three &&
	expect_eq "$(ls outside/dir)" two &&
	test ! -L src/sub && test -d src/sub &&
	expect_eq "$(cat src/sub/two src/sub/three)" "two
three"
'

test_expect_success 'a file hard linked to outside is replaced, not rewritten in place' '
	rm -rf src && cp -a orig src &&
	echo "outside content" >outside/hl &&
	rm src/five && ln outside/hl src/five &&
	cache-restore --key tree --store "$S" &&
	expect_eq "$(cat outside/hl)" "outside content" &&
	expect_eq "$(cat src/five)" five &&
	expect_eq "$(stat -c %h outside/hl)" 1
'

test_expect_success 'read-only files in the way are replaced' '
	rm -rf src && cp -a orig src &&
	echo old >src/one.tmp && mv src/one.tmp src/one && chmod 0444 src/one &&
	cache-restore --key tree --store "$S" &&
	expect_eq "$(cat src/one)" one &&
	expect_eq "$(stat -c %a src/one)" 644
'

test_expect_success 'after a restore over a tree, the cached part is exact' '
	rm -rf src && cp -a orig src && echo junk >src/one && echo junk >src/sub/three &&
	cache-restore --key tree --store "$S" &&
	expect_same_tree orig src
'

test_done
