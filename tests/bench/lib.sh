# tests/bench/lib.sh: sourced by the benchmark scripts (run.sh, s3.sh,
# gha.sh).  Holds what they share: the BENCH_* variables and their checks,
# the header (exact command, host, load), installing missing peers, the work
# dir, timing, sizes, the restore check, and the two corpora.
#
# A script sets BENCH_NAME (its file name, for messages) before sourcing
# this file, then defines the per-corpus hooks that run_synthetic and
# run_npm call:
#   reset_results                     forget the previous corpus's figures
#   bench_full PARENT NAME W          save and restore tree PARENT/NAME
#   bench_incr PARENT NAME W          save the changed tree (same NAME)
#   report TITLE                      print the corpus's tables
# and calls bench_run_corpora.  Every helper here returns errors; only the
# scripts decide the exit status (FAILED: cicache failed or restored wrong
# data).

# shellcheck shell=bash
# The globals here are read by the scripts that source this file.
# shellcheck disable=SC2034

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_SRC=$REPO/tests/bench
SAVE_BIN=$REPO/bin/cache-save
RESTORE_BIN=$REPO/bin/cache-restore
BENCH_NAME=${BENCH_NAME:-${0##*/}}

BENCH_CORPUS=${BENCH_CORPUS:-all}
BENCH_SIZE_MB=${BENCH_SIZE_MB:-400}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_NPM_CACHE=${BENCH_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cicache-bench}

FAILED=0 # set when cicache fails or restores wrong data: the exit status

# bench_args "$@": --help prints the script's leading comment block; the
# scripts take no other argument.  Then the BENCH_* values are checked.
bench_args() {
	case ${1:-} in
	-h | --help)
		awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
		exit 0
		;;
	"") ;;
	*)
		echo "$BENCH_NAME: takes no arguments (see --help); configure with BENCH_* variables" >&2
		exit 2
		;;
	esac
	case $BENCH_CORPUS in
	all | npm | synthetic) ;;
	*)
		echo "$BENCH_NAME: BENCH_CORPUS must be synthetic, npm or all (got '$BENCH_CORPUS')" >&2
		exit 2
		;;
	esac
	if ! [[ $BENCH_SIZE_MB =~ ^[0-9]+$ && $BENCH_SIZE_MB -gt 0 && $BENCH_SEED =~ ^[0-9]+$ ]]; then
		echo "$BENCH_NAME: BENCH_SIZE_MB must be a positive integer and BENCH_SEED an integer" >&2
		exit 2
	fi
}

# cicache reads its options from CACHE_* too, and appends to GITHUB_OUTPUT:
# neither must leak into a benchmark run from inside a CI job.
bench_clean_env() {
	local v
	unset GITHUB_OUTPUT
	for v in CACHE_STORE CACHE_KEY CACHE_PATH CACHE_RESTORE_KEYS CACHE_IMMUTABLE \
		CACHE_QUIET CACHE_VERBOSE CACHE_LOOKUP_ONLY CACHE_FAIL_ON_MISS; do
		unset "$v"
	done
}

# bench_header TITLE [EXTRA]: the exact command, so a table in a log can be
# reproduced (EXTRA: further VAR=value words of this script), and the host.
bench_header() {
	local dir_arg="" v
	if [[ -n ${BENCH_DIR:-} ]]; then dir_arg="BENCH_DIR=$BENCH_DIR "; fi
	echo "# $1"
	echo
	echo "command: cd $REPO && BENCH_CORPUS=$BENCH_CORPUS BENCH_SIZE_MB=$BENCH_SIZE_MB BENCH_SEED=$BENCH_SEED ${dir_arg}BENCH_NPM_CACHE=$BENCH_NPM_CACHE ${2:+$2 }bash tests/bench/$BENCH_NAME"
	for v in CACHE_LEVEL CACHE_JOBS; do
		if [[ -n ${!v:-} ]]; then echo "note: $v=${!v} is in effect for cicache"; fi
	done
	echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
}

have() { command -v "$1" >/dev/null 2>&1; }

# install_peers CMD=PACKAGE...: install, with apt-get, the packages of the
# commands not on PATH; carry on without what cannot be had.
install_peers() {
	local missing=() pkg updated=0 p
	for p in "$@"; do
		have "${p%%=*}" || missing+=("${p#*=}")
	done
	((${#missing[@]})) || return 0
	echo "installing missing peers: ${missing[*]}"
	if [[ $(id -u) == 0 ]] && have apt-get; then
		# Per package: one unavailable name must not block the others.
		for pkg in "${missing[@]}"; do
			if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null 2>&1; then
				if ((!updated)); then
					apt-get update -q >/dev/null 2>&1 || true
					updated=1
				fi
				DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null 2>&1 ||
					echo "  could not install $pkg"
			fi
		done
	else
		echo "  not root or no apt-get: cannot install them"
	fi
}

# Commands run at exit, last registered first (servers before the work
# dir they write into).
BENCH_AT_EXIT=()
bench_at_exit() {
	BENCH_AT_EXIT=("$1" "${BENCH_AT_EXIT[@]}")
	trap bench_exit_hooks EXIT
}
bench_exit_hooks() {
	local c
	for c in "${BENCH_AT_EXIT[@]}"; do eval "$c" || true; done
}

# bench_workdir PREFIX: sets WORK.  A default one (mktemp under /tmp) is
# ours to delete; a given one (BENCH_DIR) may hold other things, so only
# the scripts' per-corpus subdirectories are replaced.
bench_workdir() {
	if [[ -n ${BENCH_DIR:-} ]]; then
		WORK=$BENCH_DIR
		mkdir -p "$WORK"
		WORK=$(cd "$WORK" && pwd)
	else
		WORK=$(mktemp -d "/tmp/$1.XXXXXX")
		# shellcheck disable=SC2016
		bench_at_exit 'rm -rf "$WORK"'
	fi
	echo "work dir: $WORK"
}

TIME_BIN=""
bench_find_time() {
	if [[ -x /usr/bin/time ]]; then TIME_BIN=/usr/bin/time; else echo "GNU time unavailable: peak RSS not measured"; fi
}

# measure DIR LOG CMD...: run CMD in DIR, output to LOG; sets T (wall
# seconds) and RSS (peak resident MB of the largest process, "n/a" without
# GNU time).  Returns CMD's status.  For a pipeline run under `bash -c`,
# wait4() reports the largest process of the pipeline, not the sum.
T="" RSS=""
measure() {
	local dir=$1 log=$2 rc=0 kb t0 t1
	shift 2
	if [[ -n $TIME_BIN ]]; then
		(cd "$dir" && "$TIME_BIN" -f '%e %M' -o "$WORK/.time" "$@") >"$log" 2>&1 || rc=$?
		read -r T kb < <(tail -n 1 "$WORK/.time")
		RSS=$(awk -v k="$kb" 'BEGIN { printf "%.0f", k / 1024 }')
	else
		t0=$(date +%s.%N)
		(cd "$dir" && "$@") >"$log" 2>&1 || rc=$?
		t1=$(date +%s.%N)
		T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
		RSS=n/a
	fi
	# Writeback of one tool's output must not be billed to the next tool.
	sync
	return "$rc"
}

# The actions/cache pipeline, exactly as it runs on Linux (manifest file,
# -P, --posix); the arguments are expanded by the inner bash.
# shellcheck disable=SC2016
TAR_SAVE='set -o pipefail; tar --posix -cf - -P -C "$1" --files-from "$2" | zstd -T0 -3 -q >"$3"'
# shellcheck disable=SC2016
TAR_RESTORE='set -o pipefail; zstd -d -q <"$1" | tar -xf - -P -C "$2"'

bytes() { du -sb "$@" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
ratio() {
	if [[ $1 == n/a || $2 == n/a || -z $1 || -z $2 ]]; then
		echo n/a
	else
		awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
	fi
}
# target RATIO MAX: "(target at most MAX: met)" or "not met"; nothing when
# the ratio could not be computed.
target() {
	if [[ $1 == n/a ]]; then
		echo "(target at most $2: not measured)"
	elif awk -v r="$1" -v m="$2" 'BEGIN { exit !(r <= m) }'; then
		echo "(target at most $2: met)"
	else
		echo "(target at most $2: **not met**)"
	fi
}

# Reading the tree once puts it in the page cache, so every tool reads from
# memory.  Piping through cat matters: GNU tar skips reading file data when
# its output is /dev/null.
warm() {
	local t0 t1
	t0=$(date +%s.%N)
	tar -cf - -C "$1" "$2" | cat >/dev/null
	t1=$(date +%s.%N)
	echo "warm-up read of $1/$2: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
}

fail_log() {
	echo "    --- last lines of $1:"
	tail -n 15 "$1" | sed 's/^/    | /'
}

listing() {
	(cd "$1" && find . \( -type d -printf '%P\td\t%m\n' \) -o -printf '%P\t%y\t%m\t%s\t%l\n' | LC_ALL=C sort)
}

# verify SRC RESTORED LABEL: content (diff -r) plus a listing of type, mode,
# size and symlink target is a hard check; mtimes only warn, since not every
# peer restores them and CI tools rarely depend on them.
verify() {
	local src=$1 dst=$2 label=$3 meta_a meta_b
	if [[ ! -d $dst ]]; then
		echo "**FAIL: $label: restored tree $dst does not exist**"
		FAILED=1
		return
	fi
	if ! diff -r --no-dereference "$src" "$dst" >"$WORK/diff.out" 2>&1; then
		echo "**FAIL: $label: restored tree differs from the saved one ($(wc -l <"$WORK/diff.out") diff lines)**"
		head -n 20 "$WORK/diff.out" | sed 's/^/    | /'
		FAILED=1
		return
	fi
	# A directory's size depends on its creation history, not its content.
	meta_a=$(listing "$src")
	meta_b=$(listing "$dst")
	if [[ $meta_a != "$meta_b" ]]; then
		echo "**FAIL: $label: contents equal but types/modes/sizes/links differ**"
		{ diff <(echo "$meta_a") <(echo "$meta_b") || true; } | head -n 20 | sed 's/^/    | /'
		FAILED=1
		return
	fi
	# Directories' mtimes change as the tree is written, so files only.
	meta_a=$(cd "$src" && find . ! -type d -printf '%P\t%TY%Tm%Td%TH%TM%TS\n' | cut -d. -f1 | LC_ALL=C sort)
	meta_b=$(cd "$dst" && find . ! -type d -printf '%P\t%TY%Tm%Td%TH%TM%TS\n' | cut -d. -f1 | LC_ALL=C sort)
	if [[ $meta_a != "$meta_b" ]]; then
		echo "WARN: $label: file mtimes differ for $({ diff <(echo "$meta_a") <(echo "$meta_b") || true; } | grep -c '^<' || true) files"
	fi
	echo "PASS: $label: restored tree identical (content, types, modes, symlinks, file mtimes checked)"
}

# Timings only mean something on an otherwise idle machine: say so when it
# is not (a parallel test suite on 2 cores easily doubles every figure).
load_note() {
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
		echo "WARNING: machine busy during this corpus (load average $load on $(nproc) cores): timings are unreliable"
	else
		echo "load average at the end of this corpus: $load on $(nproc) cores"
	fi
}

tree_info() {
	echo "tree $1/$2: $(find "$1/$2" -type f | wc -l) files, $(mb "$(bytes "$1/$2")") MB"
}

# ---------------------------------------------------------------------------
# Corpora.

run_synthetic() {
	local W=$WORK/synthetic
	rm -rf "$W"
	mkdir -p "$W/src"
	if ! have cc; then
		echo "synthetic corpus unavailable: no C compiler (cc)"
		return
	fi
	cc -O2 -o "$W/gen-corpus" "$BENCH_SRC/gen-corpus.c" -lm
	echo
	echo "=== synthetic corpus: ${BENCH_SIZE_MB} MB, seed $BENCH_SEED"
	"$W/gen-corpus" gen "$W/src/corpus" "$BENCH_SIZE_MB" "$BENCH_SEED"
	sync
	tree_info "$W/src" corpus
	reset_results
	warm "$W/src" corpus
	bench_full "$W/src" corpus "$W"
	# Mutating in place keeps the path identical, as on a CI runner where the
	# same directory changes between two runs.
	"$W/gen-corpus" mutate "$W/src/corpus" "$BENCH_SEED"
	sync
	warm "$W/src" corpus
	bench_incr "$W/src" corpus "$W"
	report "synthetic corpus (${BENCH_SIZE_MB} MB, seed $BENCH_SEED; incremental: ~1% of files changed)"
	rm -rf "$W"
}

# prepare_npm VARIANT: make BENCH_NPM_CACHE/VARIANT/node_modules match the
# committed package.json + lock, reusing it when the lock has not changed
# (a stamp is written only after a complete install).
prepare_npm() {
	local variant=$1 src=$BENCH_SRC/$1 dest=$BENCH_NPM_CACHE/$1 stamp t0
	if ! have npm; then
		echo "npm corpus unavailable: npm is not installed"
		return 1
	fi
	stamp=$(cat "$src/package.json" "$src/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)
	if [[ -d $dest/node_modules && -f $dest/.bench-stamp && $(<"$dest/.bench-stamp") == "$stamp" ]]; then
		echo "npm corpus $variant: reusing $dest"
		return 0
	fi
	echo "npm corpus $variant: installing into $dest (takes a minute or two)"
	rm -rf "$dest/node_modules" "$dest/.bench-stamp"
	mkdir -p "$dest"
	cp "$src/package.json" "$dest/"
	local install=(npm install)
	if [[ -f $src/package-lock.json ]]; then
		cp "$src/package-lock.json" "$dest/"
		install=(npm ci)
	fi
	t0=$SECONDS
	if ! (cd "$dest" && "${install[@]}" --no-audit --no-fund --ignore-scripts --cache "$BENCH_NPM_CACHE/npm-cache") >"$dest/install.log" 2>&1; then
		echo "npm corpus unavailable: ${install[*]} failed in $dest"
		fail_log "$dest/install.log"
		return 1
	fi
	echo "$stamp" >"$dest/.bench-stamp"
	echo "npm corpus $variant: installed in $((SECONDS - t0)) s"
}

run_npm() {
	local W=$WORK/npm
	echo
	echo "=== npm corpus"
	if ! prepare_npm npm || ! prepare_npm npm-next; then
		echo "npm corpus skipped"
		return
	fi
	rm -rf "$W"
	mkdir -p "$W"
	local a=$BENCH_NPM_CACHE/npm b=$BENCH_NPM_CACHE/npm-next
	tree_info "$a" node_modules
	tree_info "$b" node_modules
	reset_results
	warm "$a" node_modules
	bench_full "$a" node_modules "$W"
	warm "$b" node_modules
	bench_incr "$b" node_modules "$W"
	report "npm corpus (tests/bench/npm: $(find "$a/node_modules" -type f | wc -l) files; incremental: tests/bench/npm-next, axios added, express/@emotion/react/eslint bumped)"
	rm -rf "$W"
}

# bench_run_corpora: the corpora BENCH_CORPUS names, then the verdict line
# and the exit status.
bench_run_corpora() {
	case $BENCH_CORPUS in
	synthetic) run_synthetic ;;
	npm) run_npm ;;
	all)
		run_synthetic
		run_npm
		;;
	esac

	echo
	if ((FAILED)); then
		echo "**FAIL: cicache failed or restored wrong data (see FAIL lines above)**"
		exit 1
	fi
	echo "bench done"
}
