#!/usr/bin/env bash
# run-tests: alone (runs two fuzzers at a time itself)
# t0310-fuzz: a bounded libFuzzer run of every target in tests/fuzz/ (the
# readers of untrusted input: manifests, the credential providers' and the
# stores' answers, the builder's delta, Dockerfiles) over a copy of its
# seed corpus, two targets at a time.  Needs clang with the libFuzzer
# runtime; skipped without it.
#   FUZZ_SECONDS=N  fuzz each target N seconds (default 20)
#   FUZZ_TARGETS="a b"  only these targets (default: all)
. "$(dirname "$0")/lib.sh"

command -v clang >/dev/null 2>&1 ||
	skip_all "clang is not installed (apt-get install clang libclang-rt-14-dev)"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >probe.c
clang -fsanitize=fuzzer,address,undefined probe.c -o probe >/dev/null 2>&1 ||
	skip_all "clang cannot build libFuzzer targets (apt-get install libclang-rt-14-dev)"

# Bodies do not rely on `set -e` (see t0300): checks end the body.
fail() { die "$@"; exit 1; }

root=$(cd "$TEST_DIR/.." && pwd)
seconds=${FUZZ_SECONDS:-20}
all=$(cd "$TEST_DIR/fuzz" && ls fuzz-*.c | sed 's/^fuzz-//; s/\.c$//')
targets=$(echo ${FUZZ_TARGETS:-$all})

test_expect_success 'the fuzz targets build' '
	make -C "$root" fuzz >build.log 2>&1 || { tail -n 30 build.log; fail "make fuzz failed"; }
	[ "$(echo $all | wc -w)" -ge 7 ] || fail "only these targets: $all"
	for t in $all; do
		test -x "$root/build/fuzz/fuzz-$t" || fail "no build/fuzz/fuzz-$t"
	done
'

# Which inputs made a reader say "$2" (a line of its own, after
# libFuzzer's "Running: FILE"): the files, one a line.
said() {
	awk -v what="$2" '/^Running: /{ f = $2 } index($0, what) == 1 && f { print f }' "$1" | sort -u
}

# The seeds run one by one in one process, the readers saying what they
# made of each (FUZZ_VERBOSE, fuzz.h; the manifest target has its own).
for t in $targets; do
	test_expect_success "the seeds of $t are there and run clean" '
		corpus=$TEST_DIR/fuzz/corpus-$t
		n=$(ls "$corpus" | wc -l)
		[ "$n" -ge 4 ] || fail "only $n seeds in tests/fuzz/corpus-$t"
		mkdir -p "tmp-$t" || exit 1
		FUZZ_VERBOSE=1 FUZZ_MANIFEST_VERBOSE=1 TMPDIR=$TRASH/tmp-$t \
			"$root/build/fuzz/fuzz-$t" "$corpus"/* >"seeds-$t.log" 2>&1 ||
			{ tail -n 40 "seeds-$t.log"; fail "the seeds of $t do not run clean"; }
		[ -z "$(ls -A "tmp-$t")" ] || fail "fuzz-$t left files in TMPDIR: $(ls -A "tmp-$t")"
	'
	[ "$t" = manifest ] && continue
	# A seed named ok-* is a good answer and must be accepted, bad-* not.
	test_expect_success "the reader behind $t accepts the ok-* seeds and refuses the bad-* ones" '
		said "seeds-$t.log" "result: accepted" >accepted
		nok=0 nbad=0
		for f in "$TEST_DIR/fuzz/corpus-$t"/*; do
			case $(basename "$f") in
			ok-*)	grep -qxF "$f" accepted || fail "$f is not accepted"
				nok=$((nok + 1)) ;;
			bad-*)	! grep -qxF "$f" accepted || fail "$f is accepted"
				nbad=$((nbad + 1)) ;;
			*)	fail "$f is named neither ok-* nor bad-*" ;;
			esac
		done
		[ "$nok" -ge 2 ] && [ "$nbad" -ge 2 ] || fail "$nok ok-* and $nbad bad-* seeds for $t"
	'
done

case " $targets " in *" manifest "*)
test_expect_success 'the manifest seeds reach the tree checks' '
	said seeds-manifest.log "entry: valid" >valid
	for f in "$TEST_DIR"/fuzz/corpus-manifest/saved-* "$TEST_DIR"/fuzz/corpus-manifest/raw-saved-*; do
		grep -qxF "$f" valid || fail "$f is not a valid entry"
	done
'
esac

# Runs target $1 for $seconds; its exit status goes to run-$1/code.
fuzz_one() {
	local t=$1 dir=$TRASH/run-$1 code=0
	mkdir -p "$dir/corpus" "$dir/artifacts" "$dir/tmp" &&
	cp "$TEST_DIR/fuzz/corpus-$t"/* "$dir/corpus/" || { echo 99 >"$dir/code"; return; }
	TMPDIR=$dir/tmp timeout $((seconds * 3 + 60)) "$root/build/fuzz/fuzz-$t" \
		-max_total_time="$seconds" -runs=2000000 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$dir/artifacts/" -print_final_stats=1 "$dir/corpus" \
		>"$dir/fuzz.log" 2>&1 || code=$?
	echo "$code" >"$dir/code"
}

# Two at a time (CI machines have two cores); each checked on its own.
for t in $targets; do
	while [ "$(jobs -rp | wc -l)" -ge 2 ]; do
		wait -n || true
	done
	fuzz_one "$t" &
done
wait

for t in $targets; do
	test_expect_success "fuzzing $t for ${seconds}s finds no crash, leak or hang" '
		dir=run-$t
		code=$(cat "$dir/code" 2>/dev/null || echo "no status")
		grep -E "^stat::(number_of_executed_units|new_units_added)" "$dir/fuzz.log" || true
		if [ "$code" != 0 ] || [ -n "$(ls -A "$dir/artifacts")" ]; then
			grep -E -A 30 "ERROR|WARNING|SUMMARY|deadly|timeout|FUZZ_CHECK|runtime error" \
				"$dir/fuzz.log" | head -n 60
			for a in "$dir"/artifacts/*; do
				[ -e "$a" ] || continue
				echo "--- $a (base64):"
				base64 "$a" | head -n 20
			done
			fail "fuzz-$t failed (exit $code)"
		fi
		[ -z "$(ls -A "$dir/tmp")" ] || fail "fuzz-$t left files in TMPDIR: $(ls -A "$dir/tmp")"
	'
done

test_done
