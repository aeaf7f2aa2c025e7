#!/usr/bin/env bash
# t0300-hostile-store: cache-restore against a store that lies.
#
# Every kind of hostile entry that `test-tool hostile` writes (a manifest
# with a valid header and checksum, plus whatever pack it needs, in the
# real pack format) is restored from an empty directory with a sentinel
# "outside" directory next to it.  Whatever the kind, the restore must not
# crash, must not write outside its destination, must not leave temporary
# files, must say what is wrong on one line, and must not report a hit.
#
# Expected outcomes (the "code" column):
#   1  rejected before anything is written: the candidate is skipped with a
#      warning naming the problem ("skipping entry 'k': ..."), which with no
#      other candidate is a miss (exit 1 with --fail-on-miss)
#   5  rejected while writing (exit 5, EXIT_CORRUPT)
#   a,b,c  any of these; the safety checks still apply.  Used where the
#      entry is odd but harmless (a name given twice) or the outcome
#      depends on the file system (a 4 EiB sparse file).
. "$(dirname "$0")/lib.sh"

# kind, exit codes allowed, what the message must say (grep -E)
expectations='
abs-root               0,1,5  not restoring .* outside the home and current directories
bad-checksum           1      checksum mismatch
bad-codec              1      unknown frame codec
bad-flags              1      flags 4 out of range
bad-gid                1      gid [0-9]+ out of range
bad-header-len         1      bad header length
bad-magic              1      bad magic
bad-mode               1      mode [0-9]+ out of range
bad-nsec               1      nanoseconds [0-9]+ out of range
bad-pack-index         1      pack index 5 out of range
bad-size               1      file size [0-9]+ out of range
bad-uid                1      uid [0-9]+ out of range
bad-varint             1      bad varint
bad-version            1      unsupported manifest version 3
bitflip-pack           5      failed verification|does not decompress
chunk-before-frame     1      chunk before any frame
chunk-counts           1      chunk counts do not match
chunk-off-range        1      chunk outside its frame
chunk-outside-frame    1      chunk outside its frame
chunk-too-long         1      chunk length [0-9]+ out of range
chunk-zero             1      chunk outside its frame
chunks-after-end       1      data after the end record
data-overflow          1      chunk counts do not match|data size overflow
deep-nesting           1      nested too deeply
dense-bomb             6      would take [0-9]+ bytes
dir-symlink-swap       1,5,6  without its parent directory|cannot replace directory|out of order or given twice
dot-path               1      unsafe path
dotdot-path            1      unsafe path
dotdot-root            0,1,5  not restoring .* outside the home and current directories
empty-component        1      unsafe path
empty-key              1      section length out of range
empty-root             1      bad root
empty-symlink          1      bad symlink target
entries-after-end      1      data after the end record
entry-before-root      1      entry before any root
extent-overflow        1      extent out of range
extent-range           1      extent out of range
extent-zero            1      extent out of range
extra-root             1      more roots than declared
file-symlink-swap      0,1,5,6 .
frame-beyond-pack      1      truncated
frame-no-packs         1      frame without packs
frame-offset-range     1      frame offset [0-9]+ out of range
frame-ulen-mismatch    5      does not decompress
hardlink-abs           1      unsafe hardlink target
hardlink-before-target 1      not an earlier file of the entry
hardlink-empty         1      unsafe hardlink target
hardlink-not-target    1      not an earlier file of the entry|out of order or given twice
hardlink-other-root    1      not an earlier file of the entry
hardlink-outside       1      unsafe hardlink target
hardlink-symlink-swap  0,1,5  .
hardlink-to-dir        1      not an earlier file of the entry
hardlink-unknown       1      not an earlier file of the entry
huge-count             1      entry counts do not match
huge-extents           1      extent count [0-9]+ out of range
huge-frame             1      frame size [0-9]+ out of range
huge-frame-clen        1      frame length [0-9]+ out of range
huge-packs             1      section length out of range
huge-size              1      chunk counts do not match|runs past the last chunk
huge-sparse            0,6    .
huge-window            1      too much memory
key-mismatch           1      holds the manifest of .k-other.
key-nul                1      key contains a NUL byte
key-too-long           1      section length out of range
last-root-no-records   1      root without records
late-corruption        5      failed verification
long-name              1      unsafe path
long-path              1      path length [0-9]+ out of range
long-symlink           1      link length [0-9]+ out of range
missing-pack           1      missing from the store
newline-key            1      holds the manifest of
newline-path           1      unsafe path
nul-path               1      unsafe path
nul-root               1      bad root
nul-symlink            1      bad symlink target
orphan-entry           1      without its parent directory
path-too-long          1      path length 20000 out of range
pattern-after-root     1      misplaced pattern
pattern-empty          1      bad pattern
pattern-v1             1      misplaced pattern
prefix-range           1      path prefix 5 out of range
raw-bitflip            5      failed verification
raw-len-mismatch       1      raw frame length mismatch
record-truncated       1      record truncated
root-hardlink          1      root is a hard link
reserved-bytes         1      reserved header bytes are not zero
root-no-records        1      root without records
root-not-dir           1      not inside a directory
root-overlap-dotdot    1,5    overlap
root-slash             5      refusing to restore over ./.
root-symlink-parent    1,5    overlap
root-symlink-swap      1,5    overlap
second-root-record     1      second root record
size-mismatch          1      size does not match its header
size-past-chunks       1      runs past the last chunk
slash-path             1      unsafe path
sparse-bomb            0      restored
stream-long            1      stream longer than declared
stream-short           1      stream length mismatch
stream-trailing        1      stream length mismatch
stream-unterminated    1      truncated stream
symlink-dir-swap       0,1,5  .
symlink-escape         1      without its parent directory
symlink-file-swap      0,1,5  .
too-short              1      too short
trailing-slash         1      unsafe path
truncated-pack         1      truncated
unknown-chunk-record   1      unknown chunk record
unknown-record         1      unknown entry record
valid                  0      .
wrong-chunk-id         5      failed verification
zstd-garbage           1      Unknown frame descriptor
'

kinds=$("$TEST_TOOL" hostile --list) || exit 1

# dense-bomb declares a 1 TiB file: refused even on a disk with that much
# free (tests/t0340-size-bombs.sh checks the free-space side).
export CACHE_MAX_RESTORE_SIZE=1T

# Test bodies do not rely on `set -e` (test_expect_success runs them as an
# `if` condition, where bash ignores it): every check either ends the body
# (fail, `|| exit 1`) or, in helpers, returns 1 at once.
fail() { die "$@"; exit 1; }

# A listing of a directory that changes if anything in it does.
snapshot() {
	(cd "$1" && find . -printf '%p %y %m %s %T@ %l\n' | sort &&
		find . -type f -exec md5sum {} + | sort)
}

pwned_files() { find "$TRASH" -name pwned ! -path "$1/*" | sort; }

# Messages stay on lines of their own: a hostile name must not add lines
# (which a CI system may read as workflow commands).
check_one_line_messages() {
	if grep -v -e '^cache-restore: ' "$1" >"$1.bad"; then
		echo "--- stray lines in $1:"
		cut -c1-200 "$1.bad"
		die "a message was split over several lines"
		return 1
	fi
}

# Restores hostile entry KIND into $TRASH/h/KIND/area/dest, next to
# area/outside; its store, TMPDIR and logs lie beside area.
run_kind() { # KIND CODES PATTERN
	local kind=$1 codes=$2 pattern=$3 d=$TRASH/h/$1 code=0
	mkdir -p "$d/area/dest" "$d/area/outside/sub" "$d/tmp"
	echo "not yours" >"$d/area/outside/victim"
	"$TEST_TOOL" hostile "$d/store" "$kind" k "$d/area/outside" >"$d/tool.out" || return 1
	snapshot "$d/area/outside" >"$d/outside.before"
	pwned_files "$d/area/dest" >"$d/pwned.before"
	(cd "$d/area/dest" && TMPDIR="$d/tmp" GITHUB_OUTPUT="$d/gh-output" timeout 120 \
		cache-restore --store "$d/store" --key k --fail-on-miss \
		>"$d/out" 2>"$d/err") || code=$?
	sed 's/^/stderr: /' "$d/err" | cut -c1-300
	sed 's/^/stdout: /' "$d/out" | cut -c1-300
	[ "$code" -lt 124 ] || { die "cache-restore crashed or hung (exit $code)"; return 1; }
	case ",$codes," in
	*",$code,"*) ;;
	*) die "exit $code, expected one of $codes"; return 1 ;;
	esac

	# Nothing written outside the destination, nothing left behind.
	snapshot "$d/area/outside" >"$d/outside.after"
	diff "$d/outside.before" "$d/outside.after" ||
		{ die "the restore changed the outside directory"; return 1; }
	[ "$(ls -A "$d/area" | tr '\n' ' ')" = "dest outside " ] ||
		{ die "the restore created something next to its destination: $(ls -A "$d/area")"; return 1; }
	[ -z "$(ls -A "$d/tmp")" ] ||
		{ die "temporary files left in TMPDIR: $(ls -A "$d/tmp")"; return 1; }
	pwned_files "$d/area/dest" >"$d/pwned.after"
	diff "$d/pwned.before" "$d/pwned.after" ||
		{ die "a file appeared outside the destination"; return 1; }
	check_one_line_messages "$d/err" || return 1

	if [ "$code" != 0 ]; then
		expect_no_grep '^cache-hit=true' "$d/out" || return 1
		[ ! -e "$d/gh-output" ] || expect_no_grep '^cache-hit=true' "$d/gh-output" || return 1
		expect_grep '^cache-hit=false$' "$d/out" || return 1
	fi
	case $code in
	1)
		grep -E -q "^cache-restore: warning: .*($pattern)" "$d/err" ||
			{ die "no warning matching '$pattern'"; return 1; }
		[ -z "$(ls -A "$d/area/dest")" ] ||
			{ die "a rejected entry wrote files: $(ls -A "$d/area/dest")"; return 1; }
		;;
	5|6)
		grep -E -q "^cache-restore: error: .*($pattern)" "$d/err" ||
			{ die "no error matching '$pattern'"; return 1; }
		;;
	0)
		grep -E -q "$pattern" "$d/err" "$d/out" ||
			{ die "nothing matching '$pattern'"; return 1; }
		;;
	esac
}

test_expect_success 'every hostile kind has an expectation' '
	for k in $kinds; do
		echo "$expectations" | grep -q "^$k " || fail "no expectation for $k"
	done
'

while read -r kind codes pattern; do
	[ -n "$kind" ] || continue
	test_expect_success "hostile entry: $kind" "run_kind '$kind' '$codes' '$pattern'"
done <<EOF
$expectations
EOF

# Extra checks on what some kinds leave behind.
test_expect_success 'symlink then directory: the directory is real and inside' '
	d=$TRASH/h/symlink-dir-swap/area/dest/r
	if [ -e "$d" ]; then
		[ ! -L "$d/a" ] && [ -d "$d/a" ] || fail "r/a is not a real directory"
	fi
'

test_expect_success 'symlink then file: the file replaces the symlink' '
	d=$TRASH/h/symlink-file-swap/area
	if [ -e "$d/dest/r/v" ]; then
		[ ! -L "$d/dest/r/v" ] || fail "r/v is still a symlink"
		expect_eq "$(cat "$d/dest/r/v")" pwned || exit 1
	fi
	expect_eq "$(cat "$d/outside/victim")" "not yours"
'

# A name given twice must end up as its last record or the entry must be
# refused, every time: the writer threads must not reorder them.  (The
# restorer refuses it: a save lists each directory in strcmp order.)
test_expect_success 'a name given twice restores as its last record, every time' '
	d=$TRASH/h/file-symlink-swap
	for i in $(seq 1 20); do
		rm -rf "$d/again" && mkdir "$d/again" || exit 1
		code=0
		(cd "$d/again" && cache-restore --store "$d/store" --key k --fail-on-miss \
			>"$d/again.out" 2>"$d/again.err") || code=$?
		case $code in
		0)	[ -L "$d/again/r/v" ] ||
				fail "run $i: r/v is a $(stat -c %F "$d/again/r/v"), its last record is a symlink"
			[ -f "$d/again/r/w" ] && [ ! -L "$d/again/r/w" ] ||
				fail "run $i: r/w is not the file of its last record"
			expect_eq "$(cat "$d/again/r/w")" "pwned again" || exit 1 ;;
		1|5)	;;
		*)	cat "$d/again.err"; fail "run $i: exit $code" ;;
		esac
	done
'

test_expect_success 'a 4 EiB sparse file does not fill the disk' '
	f=$TRASH/h/huge-sparse/area/dest/r/f
	if [ -e "$f" ]; then
		used=$(du -k "$f" | cut -f1)
		[ "$used" -lt 1024 ] || fail "$f uses $used KiB"
	fi
'

test_expect_success 'manifest-dump reports what the restorer hides behind it' '
	if "$TEST_TOOL" manifest-dump "$TRASH/h/data-overflow/store/keys/k" >dump.out 2>dump.err; then
		fail "manifest-dump accepted data-overflow"
	fi
	expect_grep "data size overflow" dump.err || exit 1
	"$TEST_TOOL" manifest-dump "$TRASH/h/valid/store/keys/k" >dump.out || exit 1
	expect_grep "^end chunks" dump.out
'

test_expect_success 'a hit that restores nothing is not reported as a hit' '
	for kind in abs-root dotdot-root; do
		expect_no_grep "^cache-hit=true" "$TRASH/h/$kind/out" || exit 1
	done
'

# ------------------------------------------------------------------
# Falling back to the next candidate.

mkdir -p "$TRASH/good/src/sub"
seq 1 20000 >"$TRASH/good/src/numbers"
echo hello >"$TRASH/good/src/sub/hello"
ln -s hello "$TRASH/good/src/sub/link"

# $TRASH/fb-KIND/store: a good deps-good and a hostile deps-main (newer).
fallback_store() {
	local d=$TRASH/fb-$1
	mkdir -p "$d/dest" "$d/outside" "$d/tmp" &&
	(cd "$TRASH/good" && cache-save --store "$d/store" --key deps-good --path src) >/dev/null &&
	touch -d '2020-01-01' "$d/store/keys/deps-good" &&
	"$TEST_TOOL" hostile "$d/store" "$1" deps-main "$d/outside" >/dev/null
}

# Runs cache-restore --key deps-main --restore-key deps- in fb-KIND/dest.
fallback_restore() {
	local d=$TRASH/fb-$1
	code=0
	(cd "$d/dest" && TMPDIR="$d/tmp" cache-restore --store "$d/store" \
		--key deps-main --restore-key deps- >"$d/out" 2>"$d/err") || code=$?
	cat "$d/err"
}

nothing_outside() {
	[ -z "$(ls -A "$1/outside")" ] || fail "files outside: $(ls -A "$1/outside")"
	[ -z "$(ls -A "$1/tmp")" ] || fail "temporary files left: $(ls -A "$1/tmp")"
}

for kind in dotdot-path bad-checksum symlink-escape key-mismatch huge-window hardlink-outside; do
	test_expect_success "a hostile exact match falls back to a restore key: $kind" '
		kind='"$kind"' d=$TRASH/fb-'"$kind"'
		fallback_store $kind || exit 1
		fallback_restore $kind
		[ "$code" = 0 ] || fail "exit $code"
		expect_grep "warning: skipping entry .deps-main." "$d/err" || exit 1
		expect_grep "^cache-hit=false$" "$d/out" || exit 1
		expect_grep "^cache-matched-key=deps-good$" "$d/out" || exit 1
		expect_same_tree "$TRASH/good/src" "$d/dest/src" || exit 1
		nothing_outside "$d"
	'
done

for kind in missing-pack bitflip-pack wrong-chunk-id truncated-pack; do
	test_expect_success "damaged data under the exact key is never a hit: $kind" '
		kind='"$kind"' d=$TRASH/fb-'"$kind"'
		fallback_store $kind || exit 1
		fallback_restore $kind
		expect_no_grep "^cache-hit=true" "$d/out" || exit 1
		case $code in
		0)	expect_grep "^cache-matched-key=deps-good$" "$d/out" || exit 1
			expect_same_tree "$TRASH/good/src" "$d/dest/src" || exit 1 ;;
		5)	expect_grep "error: " "$d/err" || exit 1 ;;
		*)	fail "exit $code" ;;
		esac
		nothing_outside "$d"
	'
done

test_expect_success 'a key name from the store cannot forge step outputs' '
	d=$TRASH/inject
	mkdir -p "$d/dest" || exit 1
	key="deps-x
cache-hit=true"
	"$TEST_TOOL" hostile "$d/store" valid "$key" >/dev/null || exit 1
	code=0
	(cd "$d/dest" && GITHUB_OUTPUT="$d/gh-output" cache-restore --store "$d/store" \
		--key deps-main --restore-key deps- >"$d/out" 2>"$d/err") || code=$?
	cat "$d/out" "$d/err"
	[ "$code" -lt 124 ] || fail "exit $code"
	expect_no_grep "^cache-hit=true" "$d/out" || exit 1
	[ ! -e "$d/gh-output" ] || expect_no_grep "^cache-hit=true" "$d/gh-output" || exit 1
	check_one_line_messages "$d/err"
'

# ------------------------------------------------------------------
# Bit flips in a real entry.

real=$TRASH/real

test_expect_success 'setup: save a small real tree' '
	mkdir -p "$real/src/dir/deeper" "$real/src/empty-dir" &&
	awk "BEGIN { for (i = 0; i < 30000; i++) printf \"line %d of a compressible file\\n\", i }" \
		>"$real/src/text" &&
	head -c 150000 /dev/urandom >"$real/src/dir/random" &&
	echo small >"$real/src/dir/deeper/small" &&
	: >"$real/src/empty" &&
	ln -s dir/deeper/small "$real/src/link" &&
	ln "$real/src/dir/deeper/small" "$real/src/hard" &&
	(cd "$real" && cache-save --store "$real/store" --key real --path src) &&
	test -f "$(entry_files "$real/store" real)" &&
	expect_eq "$(ls "$real"/store/packs/*.pack | wc -l)" 1
'
manifest=$(entry_files "$real/store" real)
pack=$(ls "$real"/store/packs/*.pack)

# Restores into a fresh directory; passes if the restore failed cleanly
# (with one of FAILCODES) or gave back exactly what was saved.
restore_check() { # LABEL FAILCODES
	local label=$1 fail_codes=$2 w=$TRASH/flip/$1 code=0
	rm -rf "$w"
	mkdir -p "$w/dest" "$w/tmp"
	(cd "$w/dest" && TMPDIR="$w/tmp" timeout 60 cache-restore --store "$real/store" \
		--key real --fail-on-miss >"$w/out" 2>"$w/err") || code=$?
	[ "$code" -lt 124 ] || { cat "$w/err"; die "$label: crashed or hung (exit $code)"; return 1; }
	[ -z "$(ls -A "$w/tmp")" ] || { die "$label: temporary files left behind"; return 1; }
	case "$(ls -A "$w/dest")" in
	""|src) ;;
	*) die "$label: wrote outside its destination: $(ls -A "$w/dest")"; return 1 ;;
	esac
	check_one_line_messages "$w/err" || return 1
	if [ "$code" = 0 ]; then
		expect_grep '^cache-hit=true$' "$w/out" || return 1
		expect_same_tree "$real/src" "$w/dest/src" ||
			{ cat "$w/err"; die "$label: restored wrong content"; return 1; }
	else
		case ",$fail_codes," in
		*",$code,"*) ;;
		*) cat "$w/err"; die "$label: exit $code, expected 0 or $fail_codes"; return 1 ;;
		esac
		expect_no_grep '^cache-hit=true' "$w/out" || return 1
	fi
	rm -rf "$w"
}

test_expect_success 'the real entry restores' '
	restore_check pristine ""
'

# Flips N random bits of FILE, one at a time (seeds SEED..), restoring
# after each and undoing it; FROM and TO bound the offsets.
# A reader never deletes: a restore that finds a damaged pack leaves it
# and writes a note, damaged/HEX.pack (see note_damaged_pack in
# common/restore.c); the loop counts any removal, which must not happen.
flip_loop() { # FILE N SEED LABEL FAILCODES [FROM TO]
	local file=$1 n=$2 seed=$3 label=$4 codes=$5 i flip removed=0
	shift 5
	cp -p "$file" "$TRASH/flip.orig" || return 1
	for i in $(seq "$seed" $((seed + n - 1))); do
		flip=$("$TEST_TOOL" corrupt "$file" random 1 "$i" "$@") || return 1
		echo "$label seed $i: flipped $flip"
		restore_check "$label-$i" "$codes" || { cp -p "$TRASH/flip.orig" "$file"; return 1; }
		if [ -e "$file" ]; then
			"$TEST_TOOL" corrupt "$file" $flip || return 1
		else
			removed=$((removed + 1))
			cp -p "$TRASH/flip.orig" "$file" || return 1
		fi
	done
	echo "$label: the damaged file was removed after $removed of $n flips"
	echo "$removed" >"$TRASH/flip.removed"
	restore_check "$label-after" ""
}

test_expect_success 'bit flips in the manifest: rejected or harmless' '
	flip_loop "$manifest" 80 1 manifest 1,5
'

test_expect_success 'bit flips in the pack: rejected or harmless; the pack is kept, a note is left' '
	flip_loop "$pack" 80 1000 pack 5 &&
	expect_eq "$(cat "$TRASH/flip.removed")" 0 "damaged packs removed" &&
	test -f "$real/store/damaged/$(basename "$pack")" &&
	expect_eq "$(ls "$real/store/damaged" | wc -l)" 1
'

test_expect_success 'bit flips in the pack header and first frame' '
	flip_loop "$pack" 30 1 pack-head 5 0 200
'

test_expect_success 'truncated manifest and pack are rejected' '
	cp "$manifest" "$TRASH/manifest.orig" && cp "$pack" "$TRASH/pack.orig" || exit 1
	msize=$(stat -c %s "$manifest") psize=$(stat -c %s "$pack")
	for len in 0 1 100 143 144 $((msize / 2)) $((msize - 17)) $((msize - 1)); do
		cp "$TRASH/manifest.orig" "$manifest" &&
		"$TEST_TOOL" corrupt "$manifest" truncate "$len" || exit 1
		restore_check "mtrunc-$len" 1,5 || { cp "$TRASH/manifest.orig" "$manifest"; exit 1; }
	done
	cp "$TRASH/manifest.orig" "$manifest" || exit 1
	for len in 0 8 100 $((psize / 2)) $((psize - 1)); do
		cp "$TRASH/pack.orig" "$pack" &&
		"$TEST_TOOL" corrupt "$pack" truncate "$len" || exit 1
		# a short pack is seen before anything is written: passed over
		restore_check "ptrunc-$len" 1 || { cp "$TRASH/pack.orig" "$pack"; exit 1; }
	done
	cp "$TRASH/pack.orig" "$pack" || exit 1
	restore_check after-truncation ""
'

# A flip inside the decompressed records, with lengths and checksum made
# valid again, reaches the record checks instead of the checksum.  Such a
# manifest is well-formed, so a changed name or mode may restore; what must
# hold is no crash, nothing outside the destination, no stray lines.
record_flip() { # SEED
	local i=$1 where w=$TRASH/rflip code=0
	cp "$TRASH/manifest.orig" "$manifest" || return 1
	where=$("$TEST_TOOL" mf-flip "$manifest" "$i") || return 1
	rm -rf "$w"
	mkdir -p "$w/dest" "$w/tmp"
	(cd "$w/dest" && TMPDIR="$w/tmp" timeout 60 cache-restore --store "$real/store" \
		--key real --fail-on-miss >"$w/out" 2>"$w/err") || code=$?
	echo "seed $i: $where -> exit $code"
	case $code in
	0|1|5|6) ;;
	*) cat "$w/err"; cp "$manifest" "$TRASH/rflip-$i.manifest"
	   die "seed $i ($where): exit $code"; return 1 ;;
	esac
	[ -z "$(ls -A "$w/tmp")" ] || { die "seed $i ($where): temporary files left"; return 1; }
	# A flip may rename a root ("src" -> "svc"): still inside dest, which
	# is all a restore promises; nothing may appear beside dest.
	[ "$(ls -A "$w" | tr '\n' ' ')" = "dest err out tmp " ] ||
		{ die "seed $i ($where): wrote $(ls -A "$w")"; return 1; }
	check_one_line_messages "$w/err"
}

test_expect_success 'flips inside the records (checksum fixed): no crash, no escape' '
	cp "$manifest" "$TRASH/manifest.orig" || exit 1
	for i in $(seq 1 150); do
		record_flip "$i" || { cp "$TRASH/manifest.orig" "$manifest"; exit 1; }
	done
	cp "$TRASH/manifest.orig" "$manifest" || exit 1
	restore_check after-record-flips ""
'

test_done
