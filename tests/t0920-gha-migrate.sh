#!/usr/bin/env bash
# t0920: migration without a cold start.  `cache-restore --store gha`
# restores entries the official @actions/cache client saved (its tar +
# zstd or gzip archive, under its version hash of the paths and the
# compression method) when no cicache entry matches: exact key and
# restore-key matches, --lookup-only, a miss when the paths differ, the
# gzip variant, a cicache entry taking precedence, and hostile or damaged
# archives planted through the fixture (members outside the paths,
# absolute names, symlink and hard-link tricks, device files, truncation):
# refused with exit 5, never a hit, nothing written.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/gha/start.sh"
gha_start

command -v zstd >/dev/null || skip_all "zstd is missing (to craft archives)"
command -v python3 >/dev/null || skip_all "python3 is missing (to craft archives)"

WS=$TRASH/ws
OUT=$TRASH/outside
export GITHUB_WORKSPACE=$WS
mkdir -p "$WS" "$OUT"

# Runs in the workspace, as a step would.
official() { (cd "$WS" && node "$GHA_DIR/official.js" "$@"); }
plant() { (cd "$WS" && node "$GHA_DIR/plant.js" "$@"); }
restore() { (cd "$WS" && cache-restore --store gha "$@"); }
result() { grep '^RESULT ' "$1" | tail -n 1 | cut -c8-; }
# The tree a test starts from (and compares with), under the workspace,
# $HOME and $OUT.
make_tree() {
	rm -rf "$WS/data" "$HOME/.npmish" "$OUT/tool"
	mkdir -p "$WS/data/sub/deep" "$WS/data/empty" "$HOME/.npmish/_cacache" "$OUT/tool/bin"
	seq 1 200000 >"$WS/data/sub/numbers"
	echo "$1" >"$WS/data/v"
	echo secret >"$WS/data/sub/deep/private" && chmod 600 "$WS/data/sub/deep/private"
	printf '#!/bin/sh\necho hi\n' >"$WS/data/run.sh" && chmod 755 "$WS/data/run.sh"
	echo spaced >"$WS/data/with space"
	echo long >"$WS/data/sub/$(printf 'n%.0s' $(seq 1 180))"
	echo utf8 >"$WS/data/"$'h\303\251llo-\346\227\245\346\234\254'
	ln -s sub/numbers "$WS/data/link"
	ln -s ../../outside-target "$WS/data/sub/dangling"
	ln "$WS/data/v" "$WS/data/hard"
	echo pkg >"$HOME/.npmish/_cacache/index"
	echo tool >"$OUT/tool/bin/t" && chmod 755 "$OUT/tool/bin/t"
	touch -d '2020-01-02 03:04:05.123456789' "$WS/data/sub/numbers" "$WS/data/empty"
}
snapshot() {
	rm -rf "$TRASH/snap.$1" && mkdir -p "$TRASH/snap.$1" &&
	cp -a "$WS/data" "$TRASH/snap.$1/data" && cp -a "$HOME/.npmish" "$TRASH/snap.$1/npmish" &&
	cp -a "$OUT/tool" "$TRASH/snap.$1/tool"
}
wipe() { rm -rf "$WS/data" "$HOME/.npmish" "$OUT/tool"; }
same_as() {
	expect_same_tree "$TRASH/snap.$1/data" "$WS/data" &&
	expect_same_tree "$TRASH/snap.$1/npmish" "$HOME/.npmish" &&
	expect_same_tree "$TRASH/snap.$1/tool" "$OUT/tool"
}
# The `path:` lines of the step, exactly as written.
P=(data '~/.npmish' "$OUT/tool")
PATHS=(--path data --path '~/.npmish' --path "$OUT/tool")

test_expect_success 'the official client saves two entries (relative, ~ and absolute paths)' '
	make_tree one && official save deps-linux-aaa "${P[@]}" >out &&
	result out | grep -q "\"cacheId\":[1-9]" && snapshot one &&
	sleep 0.01 && make_tree two && official save deps-linux-bbb "${P[@]}" >out &&
	result out | grep -q "\"cacheId\":[1-9]" && snapshot two
'

test_expect_success 'the version cicache asks for is the one the client computed' '
	curl -sf "$(gha_url)/_fixture/entries" >entries &&
	v=$(plant --version zstd-without-long "${P[@]}") &&
	grep -q "\"key\":\"deps-linux-aaa\",\"version\":\"$v\"" entries &&
	wipe && restore --key nothing-like-it "${PATHS[@]}" >out 2>err &&
	gha_log | grep GetCacheEntryDownloadURL | grep -q "\"version\":\"$v\"" &&
	v2=$(plant --version gzip "${P[@]}") &&
	gha_log | grep GetCacheEntryDownloadURL | grep -q "\"version\":\"$v2\""
'

test_expect_success 'exact key: restored from the actions/cache entry, cache-hit=true' '
	wipe && restore --key deps-linux-aaa "${PATHS[@]}" >out 2>err &&
	cat err &&
	expect_grep "^cache-hit=true$" out &&
	expect_grep "^cache-primary-key=deps-linux-aaa$" out &&
	expect_grep "^cache-matched-key=deps-linux-aaa$" out &&
	expect_grep "actions/cache entry" err &&
	same_as one &&
	expect_eq "$(stat -c %i "$WS/data/v")" "$(stat -c %i "$WS/data/hard")" "hard link" &&
	expect_eq "$(stat -c %a "$WS/data/sub/deep/private")" 600 &&
	expect_eq "$(readlink "$WS/data/sub/dangling")" ../../outside-target &&
	test ! -e "$TRASH/outside-target"
'

test_expect_success 'restore-key prefix: the newest entry, cache-hit=false' '
	wipe && restore --key deps-linux-zzz --restore-key nope- --restore-key deps-linux- \
		"${PATHS[@]}" >out 2>err &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "^cache-matched-key=deps-linux-bbb$" out &&
	expect_grep "restore-key match" err &&
	same_as two
'

test_expect_success 'restoring over an existing tree replaces what is in the way' '
	make_tree stale && rm -rf "$WS/data/sub" && echo x >"$WS/data/sub" &&
	rm -rf "$WS/data/empty" "$OUT/victim" && mkdir -p "$OUT/victim" &&
	ln -s "$OUT/victim" "$WS/data/empty" && ln -sf "$OUT/victim/v" "$WS/data/v" &&
	restore --key deps-linux-aaa "${PATHS[@]}" >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	test -d "$WS/data/sub" && test ! -L "$WS/data/sub" &&
	test -d "$WS/data/empty" && test ! -L "$WS/data/empty" && test ! -L "$WS/data/v" &&
	expect_eq "$(ls -A "$OUT/victim")" "" "written through a symlink" &&
	expect_eq "$(cat "$WS/data/v")" one &&
	cmp "$WS/data/sub/numbers" "$TRASH/snap.one/data/sub/numbers"
'

test_expect_success '--lookup-only reports the entry and writes nothing' '
	wipe && m=$(gha_log | wc -l) &&
	restore --key deps-linux-aaa --lookup-only "${PATHS[@]}" >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_grep "^cache-matched-key=deps-linux-aaa$" out &&
	expect_grep "actions/cache entry" err &&
	test ! -e "$WS/data" && test ! -e "$HOME/.npmish" &&
	gha_log | tail -n +$((m + 1)) >new &&
	expect_no_grep "\"kind\":\"blob\"" new
'

test_expect_success 'other paths, other order or no paths: a miss' '
	wipe &&
	restore --key deps-linux-aaa --path data --path "~/.npmish" >out 2>err &&
	expect_grep "^cache-hit=false$" out && expect_grep "^cache-matched-key=$" out &&
	restore --key deps-linux-aaa --path "~/.npmish" --path data --path "$OUT/tool" >out 2>err &&
	expect_grep "^cache-hit=false$" out &&
	expect_code 1 restore --key deps-linux-aaa --fail-on-miss >out 2>err &&
	expect_grep "^cache-hit=false$" out &&
	test ! -e "$WS/data" && test ! -e "$HOME/.npmish"
'

test_expect_success 'a cicache entry of the key and the same path list is preferred' '
	make_tree other && (cd "$WS" && cache-save --store gha --key deps-linux-aaa --path data) >out &&
	expect_grep "^cache-saved=true$" out &&
	rm -rf "$WS/data" &&
	restore --key deps-linux-aaa "${PATHS[@]}" >out 2>err &&
	expect_grep "actions/cache entry" err &&
	make_tree mine && (cd "$WS" && cache-save --store gha --key deps-linux-aaa "${PATHS[@]}") >out &&
	expect_grep "^cache-saved=true$" out &&
	rm -rf "$WS/data" &&
	restore --key deps-linux-aaa "${PATHS[@]}" >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_no_grep "actions/cache entry" err &&
	expect_eq "$(cat "$WS/data/v")" mine
'

test_expect_success 'an entry saved without zstd on the runner (gzip)' '
	mkdir -p nozstd && for t in node tar gzip; do ln -sf "$(command -v $t)" nozstd/; done &&
	make_tree gz && snapshot gz &&
	(PATH=$TRASH/nozstd official save gz-linux-1 "${P[@]}") >out &&
	result out | grep -q "\"cacheId\":[1-9]" &&
	v=$(plant --version gzip "${P[@]}") &&
	curl -sf "$(gha_url)/_fixture/entries" | grep -q "\"key\":\"gz-linux-1\",\"version\":\"$v\"" &&
	wipe && restore --key gz-linux-1 "${PATHS[@]}" >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	same_as gz
'

test_expect_success 'glob patterns: the literal directory before the glob is the root' '
	rm -rf "$WS/g" && mkdir -p "$WS/g/a" "$WS/g/b" && echo 1 >"$WS/g/a/x.txt" &&
	echo 2 >"$WS/g/b/y.txt" && echo 3 >"$WS/g/b/z.log" &&
	official save glob-1 "g/*/*.txt" "!g/b/z.log" >out &&
	result out | grep -q "\"cacheId\":[1-9]" &&
	rm -rf "$WS/g" && restore --key glob-1 --path "g/*/*.txt" --path "!g/b/z.log" >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat "$WS/g/a/x.txt") $(cat "$WS/g/b/y.txt")" "1 2" &&
	test ! -e "$WS/g/b/z.log"
'

# craft ARCHIVE SPEC...: a tar (pax) compressed with zstd; each SPEC is
# TYPE:NAME[:ARG] with TYPE f (ARG: content), d, l (ARG: link target),
# h (ARG: hard-link target), c (character device).
craft() {
	local out=$1
	shift
	python3 - "$out.tar" "$@" <<-'EOF'
	import sys, tarfile, io
	t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
	for spec in sys.argv[2:]:
	    typ, name, arg = (spec.split(":", 2) + [""])[:3]
	    i = tarfile.TarInfo(name)
	    i.mtime = 1600000000
	    data = None
	    if typ == "f":
	        data = arg.encode(); i.size = len(data); i.mode = 0o644
	    elif typ == "d":
	        i.type = tarfile.DIRTYPE; i.mode = 0o755
	    elif typ == "l":
	        i.type = tarfile.SYMTYPE; i.linkname = arg
	    elif typ == "h":
	        i.type = tarfile.LNKTYPE; i.linkname = arg
	    elif typ == "c":
	        i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3
	    t.addfile(i, io.BytesIO(data) if data is not None else None)
	t.close()
	EOF
	zstd -q -f "$out.tar" -o "$out" && rm -f "$out.tar"
}
# hostile KEY SPEC...: plants a crafted archive for --path data and
# restores it: must fail with exit 5, no hit, and write nothing at all.
hostile() {
	local key=$1
	shift
	craft "$TRASH/$key.tzst" "$@" &&
	plant "$TRASH/$key.tzst" "$key" zstd-without-long data >/dev/null &&
	rm -rf "$WS/data" "$OUT/victim" && mkdir -p "$OUT/victim" &&
	expect_code 5 restore --key "$key" --path data >out 2>err &&
	cat err &&
	expect_grep "^cache-hit=false$" out && expect_grep "^cache-matched-key=$" out &&
	test ! -e "$WS/data" &&
	expect_eq "$(ls -A "$OUT/victim")" "" "files planted outside"
}

test_expect_success 'a crafted archive restores through the same path (control)' '
	craft "$TRASH/ok.tzst" d:data/ f:data/a:hello l:data/l:a h:data/h:data/a &&
	plant "$TRASH/ok.tzst" crafted-ok zstd-without-long data >/dev/null &&
	rm -rf "$WS/data" && restore --key crafted-ok --path data >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat "$WS/data/a") $(readlink "$WS/data/l") $(cat "$WS/data/h")" "hello a hello" &&
	expect_eq "$(stat -c %Y "$WS/data/a")" 1600000000
'

test_expect_success 'hostile: a ../ member outside the paths is refused, nothing written' '
	hostile evil-dotdot d:data/ f:data/ok:fine f:../outside/victim/x:pwned &&
	expect_grep "lies outside the paths to restore" err
'

test_expect_success 'hostile: a name with a newline cannot start a line of the message' '
	hostile evil-newline f:data/ok:fine "f:../outside/victim/a
##[warning]injected:x" &&
	expect_grep "a?##\[warning\]injected" err &&
	expect_no_grep "^##" err
'

test_expect_success 'hostile: a ../ escape through the path itself is refused' '
	hostile evil-dotdot2 f:data/ok:fine "f:data/../../outside/victim/x:pwned" &&
	expect_grep "outside the paths" err
'

test_expect_success 'hostile: an absolute member outside the paths is refused' '
	hostile evil-abs f:data/ok:fine "f:$OUT/victim/x:pwned" &&
	expect_grep "outside the paths" err
'

test_expect_success 'hostile: a hard link to a file outside is refused' '
	echo secret >"$OUT/secret" &&
	hostile evil-hard f:data/ok:fine "h:data/h:$OUT/secret" &&
	hostile evil-hard2 f:data/ok:fine "h:data/h:../outside/secret" &&
	expect_grep "outside the paths" err &&
	mkdir -p "$WS/data" && echo mine >"$WS/data/existing" &&
	craft "$TRASH/h3.tzst" f:data/ok:fine h:data/h:data/existing &&
	plant "$TRASH/h3.tzst" evil-hard3 zstd-without-long data >/dev/null &&
	expect_code 5 restore --key evil-hard3 --path data >out 2>err &&
	expect_grep "not an earlier file of the entry" err &&
	expect_grep "^cache-hit=false$" out && test ! -e "$WS/data/ok" &&
	expect_eq "$(stat -c %h "$OUT/secret")" 1
'

test_expect_success 'hostile: a device file is refused' '
	hostile evil-dev f:data/ok:fine c:data/null &&
	expect_grep "device file" err
'

test_expect_success 'hostile: a planted symlink is never followed by a later member' '
	craft "$TRASH/sl.tzst" d:data/ "l:data/sub:$OUT/victim" f:data/sub/pwned:x \
		"l:data/sub2:$OUT/victim" d:data/sub2/ f:data/sub2/pwned:y &&
	plant "$TRASH/sl.tzst" evil-symlink zstd-without-long data >/dev/null &&
	rm -rf "$WS/data" "$OUT/victim" && mkdir -p "$OUT/victim" &&
	restore --key evil-symlink --path data >out 2>err; cat err &&
	expect_eq "$(ls -A "$OUT/victim")" "" "files planted outside" &&
	test -d "$WS/data/sub" && test ! -L "$WS/data/sub" &&
	expect_eq "$(cat "$WS/data/sub/pwned")$(cat "$WS/data/sub2/pwned")" xy
'

test_expect_success 'hostile: the root itself planted as a symlink is not followed' '
	craft "$TRASH/root.tzst" "l:data:$OUT/victim" f:data/pwned:x &&
	plant "$TRASH/root.tzst" evil-root zstd-without-long data >/dev/null &&
	rm -rf "$WS/data" "$OUT/victim" && mkdir -p "$OUT/victim" &&
	restore --key evil-root --path data >out 2>err; cat err &&
	expect_eq "$(ls -A "$OUT/victim")" "" "files planted outside" &&
	test -d "$WS/data" && test ! -L "$WS/data"
'

test_expect_success 'a truncated archive: exit 5, never a hit, nothing written' '
	make_tree trunc && official save trunc-1 "${P[@]}" >out &&
	result out | grep -q "\"cacheId\":[1-9]" &&
	size=$(curl -sf "$(gha_url)/_fixture/entries" |
		node -e "let s=\"\";process.stdin.on(\"data\",d=>s+=d).on(\"end\",()=>
			console.log(JSON.parse(s).find(e=>e.key===\"trunc-1\").size))") &&
	curl -sf -X POST --data "{\"key\":\"trunc-1\",\"bytes\":$((size / 2))}" \
		"$(gha_url)/_fixture/truncate" >/dev/null &&
	wipe && expect_code 5 restore --key trunc-1 "${PATHS[@]}" >out 2>err &&
	cat err &&
	expect_grep "^cache-hit=false$" out && expect_grep "^cache-matched-key=$" out &&
	expect_grep "damaged" err &&
	test ! -e "$WS/data" && test ! -e "$HOME/.npmish" && test ! -e "$OUT/tool" &&
	expect_code 5 restore --key trunc-0 --restore-key trunc- "${PATHS[@]}" >out 2>err &&
	expect_grep "^cache-hit=false$" out
'

test_expect_success 'garbage instead of an archive: exit 5' '
	head -c 5000 /dev/urandom >"$TRASH/junk" &&
	plant "$TRASH/junk" junk-1 zstd-without-long data >/dev/null &&
	rm -rf "$WS/data" && expect_code 5 restore --key junk-1 --path data >out 2>err &&
	cat err && expect_grep "^cache-hit=false$" out && test ! -e "$WS/data"
'

test_expect_success 'the signed URL never shows in messages' '
	expect_no_grep "sig=" err
'

test_done
