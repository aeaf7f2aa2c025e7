#!/usr/bin/env bash
# t0170: how paths are recorded and placed.  A path under $HOME is
# recorded as ~/..., a relative path stays relative, so a restore on
# another machine (other $HOME, other directory) puts them under its own
# $HOME and current directory.  --path on restore picks recorded paths.
# Safety rule: an absolute path outside $HOME (or a relative one that
# climbs out with ..) is restored only when named with --path.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
export CACHE_STORE=$S

test_expect_success 'set up a "machine" with HOME=A working in X' '
	mkdir -p A/.cache/tool A/.npm X/node_modules/m X/build Y B outside/abs sib &&
	echo tool >A/.cache/tool/t &&
	echo npm >A/.npm/n &&
	echo mod >X/node_modules/m/index.js &&
	echo out >X/build/o &&
	echo abs >outside/abs/a &&
	echo sib >sib/s
'

test_expect_success 'save ~ paths, relative, absolute and climbing paths' '
	(cd X && HOME=$TRASH/A cache-save --key paths \
		--path "~/.cache/tool" \
		--path "$TRASH/A/.npm" \
		--path node_modules \
		--path ./build/ \
		--path "$TRASH/outside/abs" \
		--path ../sib >../out 2>../err) &&
	expect_grep "^cache-saved=true$" out
'

test_expect_success 'restore on "another machine": HOME=B, in Y' '
	(cd Y && HOME=$TRASH/B cache-restore --key paths >../out 2>../err) &&
	cat err &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat B/.cache/tool/t)" tool &&
	expect_eq "$(cat B/.npm/n)" npm &&
	expect_eq "$(cat Y/node_modules/m/index.js)" mod &&
	expect_eq "$(cat Y/build/o)" out &&
	test ! -e Y/.cache && test ! -e Y/A && test ! -e B/node_modules
'

test_expect_success 'paths outside HOME and cwd are not restored unless named, with a warning' '
	expect_grep "outside/abs" err &&
	expect_grep "sib" err &&
	expect_eq "$(grep -c warning err)" 2 &&
	expect_eq "$(cat outside/abs/a)" abs &&
	rm -rf outside/abs sib &&
	(cd Y && HOME=$TRASH/B cache-restore --key paths >/dev/null 2>&1) &&
	test ! -e outside/abs &&
	test ! -e sib
'

test_expect_success 'an outside absolute path is restored when named with --only' '
	(cd Y && HOME=$TRASH/B cache-restore --key paths --only "$TRASH/outside/abs" >../out 2>../err) &&
	cat err &&
	expect_eq "$(cat outside/abs/a)" abs &&
	test ! -e sib
'

test_expect_success 'a climbing relative path is restored when named with --only' '
	(cd Y && HOME=$TRASH/B cache-restore --key paths --only ../sib >/dev/null) &&
	expect_eq "$(cat sib/s)" sib
'

test_expect_success '--only restricts a restore to the paths named' '
	rm -rf B Y && mkdir B Y &&
	(cd Y && HOME=$TRASH/B cache-restore --key paths --only node_modules >../out 2>../err) &&
	expect_eq "$(cat Y/node_modules/m/index.js)" mod &&
	test ! -e Y/build && test ! -e B/.cache && test ! -e B/.npm &&
	(cd Y && HOME=$TRASH/B cache-restore --key paths --only "~/.npm" --only build >/dev/null) &&
	expect_eq "$(cat B/.npm/n)" npm && expect_eq "$(cat Y/build/o)" out &&
	test ! -e B/.cache
'

test_expect_success '--only matches recorded paths however they are spelled' '
	rm -rf B Y && mkdir B Y &&
	(cd Y && HOME=$TRASH/B cache-restore --key paths --only ./build/ \
		--only "$TRASH/B/.cache/tool" --only node_modules//m/.. >/dev/null) &&
	expect_eq "$(cat Y/build/o)" out &&
	expect_eq "$(cat B/.cache/tool/t)" tool &&
	expect_eq "$(cat Y/node_modules/m/index.js)" mod
'

test_expect_success '--only naming something the entry lacks warns; nothing matching is a miss' '
	rm -rf B Y && mkdir B Y &&
	(cd Y && HOME=$TRASH/B cache-restore --key paths --only build --only nothere >../out 2>../err) &&
	expect_grep "nothere" err &&
	expect_eq "$(cat Y/build/o)" out &&
	rm -rf Y/build &&
	(cd Y && HOME=$TRASH/B cache-restore --key paths --only nothere >../out 2>../err) &&
	expect_grep "^cache-hit=false$" out &&
	test -z "$(ls -A Y)" && test -z "$(ls -A B)"
'

test_expect_success 'with the --path list it was saved with, a restore writes the outside paths it names' '
	rm -rf B Y outside/abs sib && mkdir B Y &&
	(cd Y && HOME=$TRASH/B cache-restore --key paths \
		--path "~/.cache/tool" \
		--path "$TRASH/A/.npm" \
		--path node_modules \
		--path ./build/ \
		--path "$TRASH/outside/abs" \
		--path ../sib >../out 2>../err) &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat outside/abs/a)" abs &&
	expect_eq "$(cat sib/s)" sib &&
	expect_eq "$(cat Y/build/o)" out &&
	expect_eq "$(cat B/.cache/tool/t)" tool
'

test_expect_success 'another --path list finds nothing under the key (it is not a subset)' '
	rm -rf B Y && mkdir B Y &&
	(cd Y && HOME=$TRASH/B cache-restore --key paths --path node_modules >../out 2>../err) &&
	expect_grep "^cache-hit=false$" out &&
	test -z "$(ls -A Y)" && test -z "$(ls -A B)"
'

test_expect_success 'a relative path restored in a subdirectory lands there' '
	mkdir -p X/sub/dir && echo deep >X/sub/dir/f &&
	(cd X/sub && cache-save -q --key rel --path dir >/dev/null) &&
	mkdir -p Z/elsewhere &&
	(cd Z/elsewhere && cache-restore -q --key rel >/dev/null) &&
	expect_eq "$(cat Z/elsewhere/dir/f)" deep
'

test_expect_success 'a single file under HOME given by an absolute path' '
	echo rc >A/.toolrc &&
	HOME=$TRASH/A cache-save -q --key file --path "$TRASH/A/.toolrc" >/dev/null &&
	(cd Y && HOME=$TRASH/B cache-restore -q --key file >/dev/null) &&
	expect_eq "$(cat B/.toolrc)" rc
'

test_expect_success 'HOME itself as a path goes to the other HOME' '
	mkdir -p H1 && echo h >H1/x &&
	HOME=$TRASH/H1 cache-save -q --key home --path "~" >/dev/null &&
	HOME=$TRASH/H2 cache-restore -q --key home >/dev/null &&
	expect_eq "$(cat H2/x)" h
'

test_expect_success 'missing parents of a restored path are created' '
	(cd Y && HOME=$TRASH/B/not/yet cache-restore -q --key paths --only "~/.cache/tool" >/dev/null) &&
	expect_eq "$(cat B/not/yet/.cache/tool/t)" tool
'

test_expect_success 'the current directory itself (.) can be saved and restored elsewhere' '
	mkdir -p proj/src && echo code >proj/src/c &&
	(cd proj && cache-save -q --key dot --path . >/dev/null) &&
	mkdir other && (cd other && cache-restore -q --key dot >/dev/null) &&
	expect_eq "$(cat other/src/c)" code
'

# The rule is about paths outside $HOME and the current directory; an
# absolute path that lies inside the current directory is not outside.
test_expect_success 'an absolute path inside the current directory is restored without --path' '
	mkdir -p W/cachedir && echo w >W/cachedir/w &&
	(cd W && HOME=$TRASH/A cache-save -q --key abs-in-cwd --path "$TRASH/W/cachedir" >/dev/null) &&
	rm -rf W/cachedir &&
	(cd W && HOME=$TRASH/B cache-restore --key abs-in-cwd >../out 2>../err) &&
	cat err &&
	test -e W/cachedir/w || die "W/cachedir/w was not restored"
'

test_done
