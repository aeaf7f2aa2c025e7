#!/usr/bin/env bash
# t0925: the actions/cache reader writes through the same writer as a
# cicache restore (common/dest.c), so it keeps the same rules: a symlink
# at a path's place is replaced (--keep-directory-symlink follows one
# into the workspace, never one the archive itself planted), two paths
# that reach one directory through a link are refused before anything is
# written, and existing files are replaced atomically (a killed restore
# leaves old or new, two restores at once both succeed).
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/gha/start.sh"
gha_start

command -v zstd >/dev/null || skip_all "zstd is missing (to craft archives)"
command -v tar >/dev/null || skip_all "tar is missing (to craft archives)"

WS=$TRASH/ws
OUT=$(mktemp -d "${TMPDIR:-/tmp}/cicache-t0925-out.XXXXXX")
test_cleanup "rm -rf '$OUT'"
export GITHUB_WORKSPACE=$WS
mkdir -p "$WS"

plant() { (cd "$WS" && node "$GHA_DIR/plant.js" "$@"); }
restore() { (cd "$WS" && cache-restore --store gha "$@"); }
# archive KEY DIR PATH...: tars the members under DIR (named as in the
# workspace) as actions/cache would, and plants it for the paths.
archive() {
	local key=$1 dir=$2
	shift 2
	tar -C "$dir" -cf "$TRASH/$key.tar" "$@" &&
	zstd -q -f "$TRASH/$key.tar" -o "$TRASH/$key.tzst" && rm -f "$TRASH/$key.tar" &&
	plant "$TRASH/$key.tzst" "$key" zstd-without-long "$@" >/dev/null
}

test_expect_success 'set up: archives of a tree, of a symlink root, of two roots' '
	mkdir -p src/data/sub && echo a >src/data/a && echo b >src/data/sub/b &&
	archive tree src data &&
	mkdir -p link && ln -s real link/data && archive rootlink link data &&
	mkdir -p two/a/pkg two/b/pkg && echo 1 >two/a/pkg/f && echo 2 >two/b/pkg/f &&
	archive two two a/pkg b/pkg
'

test_expect_success 'a symlink at the path is replaced; what it points at is untouched' '
	rm -rf "$WS/data" && mkdir -p "$OUT/victim" && ln -s "$OUT/victim" "$WS/data" &&
	restore --key tree --path data >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	test ! -L "$WS/data" && expect_eq "$(cat "$WS/data/a" "$WS/data/sub/b")" "a
b" &&
	expect_eq "$(ls -A "$OUT/victim")" ""
'

test_expect_success '--keep-directory-symlink follows a link into the workspace' '
	rm -rf "$WS/data" "$WS/real" && mkdir "$WS/real" && ln -s real "$WS/data" &&
	restore --key tree --path data --keep-directory-symlink >out 2>err &&
	test -L "$WS/data" && expect_eq "$(cat "$WS/real/a")" a
'

test_expect_success '... but never a link the archive planted there itself' '
	rm -rf "$WS/data" "$WS/real" && mkdir "$WS/real" &&
	mkdir -p mixed/data/x && echo m >mixed/data/x/m &&
	tar -C link -cf mixed.tar data && tar -C mixed --no-recursion -rf mixed.tar data/x data/x/m &&
	zstd -q -f mixed.tar -o mixed.tzst &&
	plant "$TRASH/mixed.tzst" mixed zstd-without-long data >/dev/null &&
	restore --key mixed --path data --keep-directory-symlink >out 2>err &&
	test ! -L "$WS/data" && expect_eq "$(cat "$WS/data/x/m")" m &&
	expect_eq "$(ls -A "$WS/real")" "" "followed the link the archive planted"
'

test_expect_success 'two paths that are one directory through a link: exit 5, nothing written' '
	rm -rf "$WS/a" "$WS/b" && mkdir -p "$WS/b" && ln -s b "$WS/a" &&
	expect_code 5 restore --key two --path a/pkg --path b/pkg >out 2>err &&
	expect_grep "by another path" err && expect_grep "^cache-hit=false$" out &&
	test ! -e "$WS/b/pkg"
'

test_expect_success 'set up: an old and a new tree with a large file' '
	mkdir -p new/data old &&
	{ echo new; seq 1 4000000; } >new/data/big &&
	for i in $(seq 1 300); do echo "new $i" >new/data/f$i; ln -s "new-$i" new/data/l$i; done &&
	archive big new data &&
	cp -a new/data old/data && echo old >old/data/big && seq 1 4000000 >>old/data/big &&
	for i in $(seq 1 300); do echo "old $i" >old/data/f$i; ln -sfn "old-$i" old/data/l$i; done
'

test_expect_success 'a killed restore leaves the large file old or new, whole' '
	rm -rf "$WS/data" && cp -a old/data "$WS/data"
	size=$(stat -c %s "$WS/data/big")
	(cd "$WS" && exec cache-restore --store gha --key big --path data -q >/dev/null 2>&1) &
	pid=$!
	for i in $(seq 1 20000); do
		ls -A "$WS/data" | grep -q "^\.cicache-.*\.tmp$" && break
		s=$(stat -c %s "$WS/data/big" 2>/dev/null || echo 0)
		[ "$s" != "$size" ] && break
		kill -0 $pid 2>/dev/null || break
	done
	kill -9 $pid 2>/dev/null || true
	wait $pid || true
	cmp -s "$WS/data/big" old/data/big || cmp -s "$WS/data/big" new/data/big ||
		die "neither old nor new: $(stat -c %s "$WS/data/big" 2>&1) bytes"
'

test_expect_success 'two restores at once over an existing tree both succeed' '
	for round in 1 2; do
		rm -rf "$WS/data" && cp -a old/data "$WS/data"
		(cd "$WS" && cache-restore --store gha --key big --path data -q >"$TRASH/o1" 2>"$TRASH/e1") &
		p1=$!
		(cd "$WS" && cache-restore --store gha --key big --path data -q >"$TRASH/o2" 2>"$TRASH/e2") &
		p2=$!
		r1=0 r2=0
		wait $p1 || r1=$?
		wait $p2 || r2=$?
		[ $r1 = 0 ] && [ $r2 = 0 ] || { cat e1 e2; die "exit $r1 and $r2"; }
		diff -r --no-dereference new/data "$WS/data"
		expect_eq "$(find "$WS" -name ".cicache-*" | wc -l)" 0
	done
'

test_done
