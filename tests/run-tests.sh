#!/usr/bin/env bash
# Runs the unit test binaries given as arguments, then every tests/t*.sh,
# and prints one summary line: "N passed, N failed[, N skipped]".
# Every test speaks TAP-like lines ("ok N - what" / "not ok N - what");
# a shell test that exits 77 is skipped and must say why, and a case
# skipped inside a test prints "# SKIP reason" (each counts as skipped).
# T=t0010 limits the shell tests to names matching a glob fragment;
# CICACHE_TESTS_SKIP="t0300 t1010" leaves those out (each counted as
# skipped), for a pass that need not repeat them (.ci/run).
# CICACHE_TEST_JOBS=N runs up to N shell tests at a time (default 1).
# A script that holds the line "# run-tests: alone" (it measures time,
# races signals against work, or drives a daemon of its own) runs with
# no other test beside it; each test has its own trash directory, HOME
# and ports, so the others may share the machine.
set -u
shopt -s nullglob
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0
failures=()

count() { # $1 = name, $2 = output file, $3 = exit status
	local p f
	p=$(grep -c '^ok ' "$2")
	f=$(grep -c '^not ok ' "$2")
	if [ "$3" = 77 ]; then
		skipped=$((skipped + 1))
		echo "SKIP $1: $(grep -m1 -i 'skip' "$2" | sed 's/^1\.\.0 # SKIP //')"
		return
	fi
	if [ "$3" != 0 ] && [ "$f" = 0 ]; then
		f=1	# died without reporting: count the script as a failure
		echo "not ok - $1 exited with status $3" >>"$2"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	# A case a script could not run here says "# SKIP reason" on a line
	# of its own: counted and shown, so it does not vanish.
	local s
	s=$(grep -c '^# SKIP' "$2")
	if [ "$s" != 0 ]; then
		skipped=$((skipped + s))
		grep '^# SKIP' "$2" | sed "s/^# SKIP:* */SKIP $1 (case): /"
	fi
	if [ "$f" != 0 ]; then
		failures+=("$1")
		echo "FAIL $1 ($p passed, $f failed, ${secs}s)"
		sed 's/^/    /' "$2" | grep -v '^    ok ' | tail -n 60
	else
		echo "PASS $1 ($p, ${secs}s)"
	fi
}

jobs=${CICACHE_TEST_JOBS:-1}
case "$jobs" in '' | *[!0-9]* | 0) echo "CICACHE_TEST_JOBS must be a number >= 1" >&2; exit 2 ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/unit
# The status is saved first: a $(...) among count's arguments would
# reset $? before it is read.
for bin in "$@"; do
	start=$SECONDS
	"$bin" >"$out" 2>&1
	rc=$?
	secs=$((SECONDS - start))
	count "$(basename "$bin")" "$out" "$rc"
done

# Shell tests: each one writes NAME.out, then NAME.rc and NAME.secs when
# it ends; reap counts the ended ones in the order they ended.
running=()
run_one() { # $1 = script, $2 = name
	local start=$SECONDS rc
	bash "$1" >"$work/$2.out" 2>&1
	rc=$?
	echo $((SECONDS - start)) >"$work/$2.secs"
	echo "$rc" >"$work/$2.rc"
}
reap() {
	local n still=()
	for n in "${running[@]}"; do
		if [ -e "$work/$n.rc" ]; then
			secs=$(cat "$work/$n.secs")
			count "$n" "$work/$n.out" "$(cat "$work/$n.rc")"
		else
			still+=("$n")
		fi
	done
	running=("${still[@]}")
}
wait_below() { # $1 = how many may still run
	while [ "${#running[@]}" -gt "$1" ]; do
		wait -n 2>/dev/null || sleep 0.2
		reap
	done
}
for t in tests/t[0-9]*.sh; do
	case "$t" in *"${T:-}"*) ;; *) continue ;; esac
	name=$(basename "$t" .sh)
	case " ${CICACHE_TESTS_SKIP:-} " in
	*" ${name%%-*} "*)
		skipped=$((skipped + 1))
		echo "SKIP $name: not run in this pass (CICACHE_TESTS_SKIP)"
		continue ;;
	esac
	if [ "$jobs" = 1 ] || grep -q '^# run-tests: alone' "$t"; then
		wait_below 0
		running+=("$name")
		run_one "$t" "$name"
		reap
	else
		wait_below $((jobs - 1))
		running+=("$name")
		run_one "$t" "$name" &
	fi
done
wait_below 0
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
