#!/usr/bin/env bash
# t0172: cache-save --path takes @actions/glob patterns (docs/patterns.md).
# The file set each pattern list saves is held to @actions/glob itself,
# from npm, run with implicitDescendants: true on the same tree; a path
# that matches nothing is a warning and the rest is saved (a cargo-like
# list without ~/.cargo/git/db); nothing at all to save is a warning,
# cache-saved=false and exit 0; --strict-paths / CACHE_STRICT_PATHS give
# exit 3; the manifest records the patterns as given.
. "$(dirname "$0")/lib.sh"

NPM_DIR=$(bash "$TEST_DIR/gha/setup.sh") || die "cannot install the npm test dependencies" || exit 1
export CICACHE_NPM_DIR=$NPM_DIR
[ -f "$NPM_DIR/node_modules/@actions/glob/package.json" ] ||
	{ die "@actions/glob is missing from $NPM_DIR"; exit 1; }
S=$TRASH/store
ORACLE=$TEST_DIR/gha/glob-oracle.mjs
# The manifest file of KEY in the local store, whatever suffix the entry's
# name carries (none, or the path-list identity ",@V"); empty if none.
manifest_of() { find "$S/keys" -maxdepth 1 -type f \( -name "$1" -o -name "$1,@*" \) | head -n 1; }

# The saved file set: what a restore into an empty directory brings back
# that is not a directory, relative to it, sorted bytewise.
saved_files() { # KEY
	rm -rf "$TRASH/r" && mkdir "$TRASH/r" &&
	(cd "$TRASH/r" && cache-restore -q --key "$1" --store "$S" >/dev/null &&
	 find . ! -type d | sed 's,^\./,,' | LC_ALL=C sort)
}
# oracle_check KEY PATTERN...: saves the patterns from w/ under KEY and
# compares the saved files with @actions/glob's matches.
oracle_check() {
	local key=$1
	shift
	(cd "$TRASH/w" && cache-save -q --key "$key" --store "$S" "${@/#/--path=}" >/dev/null) &&
	(cd "$TRASH/w" && node "$ORACLE" "$@") >"$TRASH/want" &&
	saved_files "$key" >"$TRASH/got" &&
	test -s "$TRASH/want" &&
	{ diff "$TRASH/want" "$TRASH/got" || die "cache-save and @actions/glob differ for: $*"; }
}

test_expect_success 'set up a workspace tree' '
	mkdir -p w && cd w &&
	mkdir -p node_modules/a/node_modules/b node_modules/.cache/babel node_modules/.bin \
		packages/p1/node_modules/c packages/p1/node_modules/.cache/y packages/p1/src \
		packages/p2/node_modules/d docs target/debug/.fingerprint target/release .git &&
	echo a >node_modules/a/index.js && echo b >node_modules/a/node_modules/b/index.js &&
	echo c >node_modules/.cache/babel/x.json && echo lock >node_modules/.package-lock.json &&
	ln -s ../a/index.js node_modules/.bin/tool &&
	echo c >packages/p1/node_modules/c/i.js && echo y >packages/p1/node_modules/.cache/y/z &&
	echo k >packages/p1/node_modules/.cache/keep &&
	echo 1 >packages/p1/src/a.txt && echo 2 >packages/p1/src/b.txt && echo 3 >packages/p1/src/.hidden.txt &&
	echo d >packages/p2/node_modules/d/i.js &&
	for f in a1.md b2.md c3.md x.txt notes.txt "weird*name" "q?.md" 9.md; do echo "$f" >"docs/$f"; done &&
	echo app >target/debug/app && echo fp >target/debug/.fingerprint/f && echo rel >target/release/app &&
	echo cfg >.git/config && echo top >top.txt && echo p >package.json
'

test_expect_success '@actions/glob oracle: **/node_modules' '
	oracle_check o1 "**/node_modules"
'

test_expect_success '@actions/glob oracle: an exclusion inside matched directories' '
	oracle_check o2 "**/node_modules" "!**/node_modules/.cache" &&
	! grep -q "\.cache" got
'

test_expect_success '@actions/glob oracle: a later pattern re-includes what an exclusion removed' '
	oracle_check o3 "**/node_modules" "!**/node_modules/.cache" "**/node_modules/.cache/y" &&
	grep -q "^packages/p1/node_modules/.cache/y/z$" got &&
	! grep -q "cache/keep" got
'

test_expect_success '@actions/glob oracle: *, ?, [...] and [!...] in one component' '
	oracle_check o4 "*.txt" &&
	expect_eq "$(cat got)" "top.txt" &&
	oracle_check o5 "docs/[ab]*" &&
	oracle_check o6 "docs/?2.md" &&
	oracle_check o7 "docs/[!ab]*.md" &&
	oracle_check o8 "docs/[^a-b]*" &&
	oracle_check o9 "docs/[[:digit:]]*" &&
	oracle_check o10 "packages/*/src/*.txt"
'

test_expect_success '@actions/glob oracle: hidden files match like any other' '
	oracle_check o11 "packages/p1/src/*" &&
	grep -q "^packages/p1/src/.hidden.txt$" got &&
	oracle_check o12 "**/.cache" &&
	oracle_check o13 "**/.*"
'

test_expect_success '@actions/glob oracle: escapes, literal paths and trailing slashes' '
	oracle_check o14 "docs/weird\\*name" "docs/q\\?.md" &&
	expect_eq "$(cat got)" "docs/q?.md
docs/weird*name" &&
	oracle_check o15 "target/" "!target/**/.fingerprint" &&
	oracle_check o16 "**/src/" &&
	oracle_check o17 "package.json" "docs"
'

test_expect_success '@actions/glob oracle: exclude then re-include, order matters' '
	oracle_check o18 "docs/*.md" "!docs/[bc]*" "docs/b2.md" &&
	grep -q "^docs/b2.md$" got && ! grep -q c3.md got &&
	oracle_check o19 "docs/b2.md" "docs/*.md" "!docs/[bc]*" &&
	! grep -q b2.md got &&
	oracle_check o20 "packages" "!packages/*/node_modules" "packages/p2/node_modules/d" &&
	oracle_check o21 "**" "!**/.git" "!**/node_modules" &&
	oracle_check o22 "!docs/a1.md" "docs"
'

test_expect_success 'CACHE_PATH takes the same patterns, one per line' '
	(cd w && CACHE_PATH="  **/node_modules
!**/node_modules/.cache
" cache-save -q --key env1 --store "$S" >/dev/null) &&
	saved_files env1 >got2 && saved_files o2 >got1 &&
	diff got1 got2
'

test_expect_success 'wildcards never search through a symlink (unlike actions/cache); a link is saved as a link' '
	(cd w && ln -s packages/p1 linked &&
	 cache-save -q --key sl --path "**/c/i.js" --path "node_modules/.bin/*" --store "$S" >/dev/null) &&
	saved_files sl >got &&
	expect_eq "$(cat got)" "node_modules/.bin/tool
packages/p1/node_modules/c/i.js" &&
	test -L r/node_modules/.bin/tool &&
	(cd w && node "$ORACLE" --follow "**/c/i.js") >want &&
	expect_eq "$(cat want)" "linked/node_modules/c/i.js
packages/p1/node_modules/c/i.js"
'

test_expect_success 'a literal prefix is resolved by the system, links included' '
	(cd w && cache-save -q --key sl2 --path "linked/node_modules/*" --store "$S" >/dev/null) &&
	saved_files sl2 >got &&
	expect_eq "$(cat got)" "linked/node_modules/.cache/keep
linked/node_modules/.cache/y/z
linked/node_modules/c/i.js" &&
	rm w/linked
'

test_expect_success 'folded roots: a match inside another is saved once' '
	(cd w && cache-save -v --key fold --path "packages/p1" --path "packages/*/node_modules" --store "$S" 2>err >/dev/null) &&
	expect_eq "$(grep -c "saving" w/err)" 2 &&
	expect_grep "saving .packages/p1." w/err && expect_grep "saving .packages/p2/node_modules." w/err
'

test_expect_success 'the manifest records the patterns as given, then the matched roots' '
	(cd w && cache-save -q --key rec --path "**/node_modules" --path " !**/.cache" --path "nope/*" --store "$S" >/dev/null 2>&1) &&
	"$TEST_TOOL" manifest-dump "$(manifest_of rec)" >dump &&
	expect_grep "^header version=2 " dump &&
	expect_eq "$(grep -E "^(pattern|root) " dump)" "pattern **/node_modules
pattern  !**/.cache
pattern nope/*
root node_modules
root packages/p1/node_modules
root packages/p2/node_modules"
'

test_expect_success 'a cargo-like list without ~/.cargo/git/db: a warning, the rest saved and restored' '
	mkdir -p "$HOME/.cargo/registry/index/crates.io" "$HOME/.cargo/registry/cache/crates.io" \
		cargo/target/debug &&
	echo idx >"$HOME/.cargo/registry/index/crates.io/config.json" &&
	echo crate >"$HOME/.cargo/registry/cache/crates.io/serde-1.0.crate" &&
	echo bin >cargo/target/debug/app &&
	(cd cargo && cache-save --key cargo-1 --path "~/.cargo/registry/index/" \
		--path "~/.cargo/registry/cache/" --path "~/.cargo/git/db/" --path "target/" \
		--store "$S" >../out 2>../err) &&
	cat err &&
	expect_grep "^cache-saved=true$" out &&
	expect_grep "warning: path .~/.cargo/git/db/. matches nothing" err &&
	expect_eq "$(grep -c warning err)" 1 &&
	mv "$HOME/.cargo" cargo.bak && rm -rf cargo/target &&
	(cd cargo && cache-restore -q --key cargo-1 --store "$S" >/dev/null) &&
	expect_eq "$(cat "$HOME/.cargo/registry/index/crates.io/config.json" \
		"$HOME/.cargo/registry/cache/crates.io/serde-1.0.crate" cargo/target/debug/app)" "idx
crate
bin" &&
	test ! -e "$HOME/.cargo/git"
'

test_expect_success '~ and ~/x expand to HOME' '
	(cd w && cache-save -q --key home --path "~/.cargo/registry/*/crates.io" --store "$S" >/dev/null) &&
	"$TEST_TOOL" manifest-dump "$(manifest_of home)" >dump &&
	expect_eq "$(grep "^root " dump)" "root ~/.cargo/registry/cache/crates.io
root ~/.cargo/registry/index/crates.io"
'

test_expect_success 'nothing at all to save: a warning, cache-saved=false, exit 0, no entry' '
	: >"$TRASH/gh_out" &&
	(cd w && GITHUB_OUTPUT="$TRASH/gh_out" cache-save --key none --path "no/such" --path "*.nope" --store "$S" >../out 2>../err) &&
	cat err &&
	expect_grep "^cache-saved=false$" out && expect_grep "^cache-key=none$" out &&
	expect_grep "^cache-saved=false$" gh_out &&
	expect_grep "path .no/such. matches nothing" err &&
	expect_grep "path .\*\.nope. matches nothing" err &&
	expect_grep "warning: nothing to save under .none." err &&
	test -z "$(manifest_of none)"
'

test_expect_success 'everything matched is excluded: nothing to save, exit 0' '
	(cd w && cache-save --key none2 --path "docs" --path "!docs" --store "$S" >../out 2>../err) &&
	expect_grep "^cache-saved=false$" out &&
	expect_grep "nothing to save" err &&
	expect_no_grep "matches nothing" err
'

test_expect_success '--strict-paths and CACHE_STRICT_PATHS=true: exit 3, nothing saved' '
	(cd w && expect_code 3 cache-save --strict-paths --key strict --path docs --path "nope/*" --store "$S" >../out 2>../err) &&
	expect_grep "error: path .nope/\*. matches nothing" err &&
	expect_grep "^cache-saved=false$" out &&
	(cd w && expect_code 3 env CACHE_STRICT_PATHS=true cache-save --key strict --path "no-such" --store "$S" >../out 2>../err) &&
	expect_grep "no-such" err &&
	test -z "$(manifest_of strict)"
'

test_expect_success 'bad patterns are usage errors (exit 2)' '
	(cd w && expect_code 2 cache-save --key bad --path "docs/*/../x" --store "$S" 2>../err) &&
	expect_grep "after a wildcard" err &&
	(cd w && expect_code 2 cache-save --key bad --path "  " --store "$S" 2>../err) &&
	expect_grep "empty --path pattern" err &&
	test -z "$(manifest_of bad)"
'

test_done
