#!/usr/bin/env bash
# t0310-fuzz-manifest: a bounded libFuzzer run of tests/fuzz/fuzz-manifest.c
# (the manifest reader and the restorer's dry run) over a copy of the seed
# corpus.  Needs clang with the libFuzzer runtime; skipped without it.
#   FUZZ_SECONDS=N  run longer (default 20)
. "$(dirname "$0")/lib.sh"

command -v clang >/dev/null 2>&1 ||
	skip_all "clang is not installed (apt-get install clang libclang-rt-14-dev)"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >probe.c
clang -fsanitize=fuzzer,address,undefined probe.c -o probe >/dev/null 2>&1 ||
	skip_all "clang cannot build libFuzzer targets (apt-get install libclang-rt-14-dev)"

# Bodies do not rely on `set -e` (see t0300): checks end the body.
fail() { die "$@"; exit 1; }

root=$(cd "$TEST_DIR/.." && pwd)
fuzzer=$root/build/fuzz/fuzz-manifest
seconds=${FUZZ_SECONDS:-20}

test_expect_success 'the fuzz target builds' '
	make -C "$root" fuzz >build.log 2>&1 || { tail -n 30 build.log; fail "make fuzz failed"; }
	test -x "$fuzzer"
'

test_expect_success 'the seed corpus is there and runs clean' '
	n=$(ls "$TEST_DIR/fuzz/corpus-manifest" | wc -l)
	[ "$n" -ge 4 ] || fail "only $n seeds in tests/fuzz/corpus-manifest"
	mkdir -p tmp-seeds seeds && cp "$TEST_DIR"/fuzz/corpus-manifest/* seeds/ || exit 1
	TMPDIR=$TRASH/tmp-seeds "$fuzzer" -runs=0 seeds >seeds.log 2>&1 ||
		{ tail -n 40 seeds.log; fail "the seeds do not run clean"; }
'

test_expect_success 'the seeds reach the tree checks' '
	for f in "$TEST_DIR"/fuzz/corpus-manifest/saved-* "$TEST_DIR"/fuzz/corpus-manifest/raw-saved-*; do
		FUZZ_MANIFEST_VERBOSE=1 TMPDIR=$TRASH/tmp-seeds "$fuzzer" "$f" >one.log 2>&1
		grep -q "^entry: valid" one.log || { cat one.log; fail "$f is not a valid entry"; }
	done
'

test_expect_success "fuzzing for ${seconds}s finds no crash, leak or hang" '
	mkdir -p corpus artifacts tmp-fuzz &&
	cp "$TEST_DIR"/fuzz/corpus-manifest/* corpus/ || exit 1
	code=0
	TMPDIR=$TRASH/tmp-fuzz timeout $((seconds * 3 + 60)) "$fuzzer" \
		-max_total_time="$seconds" -runs=2000000 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$TRASH/artifacts/" -print_final_stats=1 corpus \
		>fuzz.log 2>&1 || code=$?
	grep -E "^stat::(number_of_executed_units|new_units_added)" fuzz.log || true
	if [ "$code" != 0 ] || [ -n "$(ls -A artifacts)" ]; then
		grep -E -A 30 "ERROR|WARNING|SUMMARY|deadly|timeout" fuzz.log | head -n 60
		for a in artifacts/*; do
			[ -e "$a" ] || continue
			echo "--- $a (base64):"
			base64 "$a" | head -n 20
		done
		fail "the fuzzer failed (exit $code)"
	fi
	[ -z "$(ls -A tmp-fuzz)" ] || fail "the fuzz target left files in TMPDIR: $(ls -A tmp-fuzz)"
'

test_done
