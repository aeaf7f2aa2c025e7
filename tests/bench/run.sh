#!/usr/bin/env bash
# cicache benchmark: bin/cache-save / bin/cache-restore side by side with the
# pipeline actions/cache runs (tar + zstd), casync, restic and cp -a, on the
# same trees in the same run.  Called by `make bench` from the repo root.
#
#   BENCH_CORPUS=synthetic|npm|all   default all: synthetic, then npm, which
#                                    is skipped with a message if it cannot
#                                    be prepared (needs npm and the registry)
#   BENCH_SIZE_MB=400                synthetic corpus size
#   BENCH_SEED=1                     synthetic corpus seed
#   BENCH_DIR=DIR                    work dir (default: fresh dir under /tmp,
#                                    removed at the end; a given one is kept)
#   BENCH_NPM_CACHE=DIR              where prepared npm trees are kept between
#                                    runs (default ~/.cache/cicache-bench)
#
# Exits non-zero only when a cicache command fails or its restore differs
# from the saved tree: a missing or failing peer is reported, not fatal.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_SRC=$REPO/tests/bench
SAVE_BIN=$REPO/bin/cache-save
RESTORE_BIN=$REPO/bin/cache-restore

BENCH_CORPUS=${BENCH_CORPUS:-all}
BENCH_SIZE_MB=${BENCH_SIZE_MB:-400}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_NPM_CACHE=${BENCH_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cicache-bench}

case ${1:-} in
-h | --help)
	sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "run.sh: takes no arguments (see --help); configure with BENCH_* variables" >&2
	exit 2
	;;
esac
case $BENCH_CORPUS in
all | npm | synthetic) ;;
*)
	echo "run.sh: BENCH_CORPUS must be synthetic, npm or all (got '$BENCH_CORPUS')" >&2
	exit 2
	;;
esac
if ! [[ $BENCH_SIZE_MB =~ ^[0-9]+$ && $BENCH_SIZE_MB -gt 0 && $BENCH_SEED =~ ^[0-9]+$ ]]; then
	echo "run.sh: BENCH_SIZE_MB must be a positive integer and BENCH_SEED an integer" >&2
	exit 2
fi

# cicache reads its options from CACHE_* too, and appends to GITHUB_OUTPUT:
# neither must leak into a benchmark run from inside a CI job.
unset GITHUB_OUTPUT
for v in CACHE_STORE CACHE_KEY CACHE_PATH CACHE_RESTORE_KEYS CACHE_IMMUTABLE \
	CACHE_QUIET CACHE_VERBOSE CACHE_LOOKUP_ONLY CACHE_FAIL_ON_MISS; do
	unset "$v"
done

FAILED=0 # set when cicache fails or restores wrong data: the exit status

# ---------------------------------------------------------------------------
# Header: the exact command, so a table in a log can be reproduced.
if [[ -n ${BENCH_DIR:-} ]]; then dir_arg="BENCH_DIR=$BENCH_DIR "; else dir_arg=""; fi
echo "# cicache benchmark"
echo
echo "command: cd $REPO && BENCH_CORPUS=$BENCH_CORPUS BENCH_SIZE_MB=$BENCH_SIZE_MB BENCH_SEED=$BENCH_SEED ${dir_arg}BENCH_NPM_CACHE=$BENCH_NPM_CACHE bash tests/bench/run.sh"
for v in CACHE_LEVEL CACHE_JOBS; do
	if [[ -n ${!v:-} ]]; then echo "note: $v=${!v} is in effect for cicache"; fi
done
echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---------------------------------------------------------------------------
# Peers: install only what is missing, and carry on without what cannot be had.
declare -A PKG_OF=([zstd]=zstd [tar]=tar [casync]=casync [restic]=restic [/usr/bin/time]=time)
missing=()
for cmd in zstd tar casync restic /usr/bin/time; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG_OF[$cmd]}")
done
if ((${#missing[@]})); then
	echo "installing missing peers: ${missing[*]}"
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		# Per package: one unavailable name must not block the others.
		updated=0
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
fi
have() { command -v "$1" >/dev/null 2>&1; }
HAVE_TAR=0 HAVE_CASYNC=0 HAVE_RESTIC=0 HAVE_CICACHE=0
if have tar && have zstd; then HAVE_TAR=1; else echo "peer unavailable: tar + zstd (actions/cache pipeline): skipped"; fi
if have casync; then HAVE_CASYNC=1; else echo "peer unavailable: casync: skipped"; fi
# The repository password is irrelevant here, but restic insists on one.
if have restic; then HAVE_RESTIC=1 && export RESTIC_PASSWORD=bench; else echo "peer unavailable: restic: skipped"; fi
if [[ -x $SAVE_BIN && -x $RESTORE_BIN ]]; then
	HAVE_CICACHE=1
else
	echo "cicache: bin/cache-save not built (run make first): cicache rows skipped"
fi
TIME_BIN=""
if [[ -x /usr/bin/time ]]; then TIME_BIN=/usr/bin/time; else echo "GNU time unavailable: peak RSS not measured"; fi
echo "versions: $(tar --version 2>/dev/null | head -n1) | $(zstd --version 2>/dev/null) |" \
	"casync $(casync --version 2>/dev/null | head -n1 | awk '{print $NF}') |" \
	"$(restic version 2>/dev/null | awk '{print $1, $2}')"
echo

# ---------------------------------------------------------------------------
# Work dir.  A default one is ours to delete; a given one may hold other
# things, so only our per-corpus subdirectories are replaced.
if [[ -n ${BENCH_DIR:-} ]]; then
	WORK=$BENCH_DIR
	mkdir -p "$WORK"
	WORK=$(cd "$WORK" && pwd)
else
	WORK=$(mktemp -d /tmp/cicache-bench.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
echo "work dir: $WORK"

# ---------------------------------------------------------------------------
# Measurement helpers.

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

# ---------------------------------------------------------------------------
# Results of the current corpus: R[tool.field].  Fields: save restore stored
# incr rss_save rss_restore incr_save.
declare -A R
TOOLS=(cicache tar casync restic cp)
declare -A TOOL_NAME=([cicache]="cicache" [tar]="tar + zstd -3 (actions/cache)" [casync]="casync" [restic]="restic (local repo)" [cp]="cp -a (floor)")
reset_results() {
	R=()
	local t f
	for t in "${TOOLS[@]}"; do
		for f in save restore stored incr rss_save rss_restore incr_save; do R[$t.$f]=n/a; done
	done
	R[cicache.unchanged]=n/a
}

# Phase 1: every tool saves and restores tree A (PARENT/NAME).
bench_full() {
	local parent=$1 name=$2 W=$3 src=$1/$2 out
	mkdir -p "$W/log"
	printf '%s\n' "$name" >"$W/tar.list"

	if ((HAVE_CICACHE)); then
		if measure "$parent" "$W/log/cicache-save-1" "$SAVE_BIN" --store "$W/store-cicache" --key bench-1 --path "$name" --quiet; then
			R[cicache.save]=$T R[cicache.rss_save]=$RSS R[cicache.stored]=$(bytes "$W/store-cicache")
			mkdir -p "$W/restore-cicache"
			if measure "$W/restore-cicache" "$W/log/cicache-restore-1" "$RESTORE_BIN" --store "$W/store-cicache" --key bench-1 --quiet --fail-on-miss &&
				grep -q '^cache-hit=true' "$W/log/cicache-restore-1"; then
				R[cicache.restore]=$T R[cicache.rss_restore]=$RSS
			else
				echo "**FAIL: cicache restore of bench-1 failed**: (cd $W/restore-cicache && $RESTORE_BIN --store $W/store-cicache --key bench-1 --quiet --fail-on-miss)"
				fail_log "$W/log/cicache-restore-1"
				FAILED=1
			fi
			verify "$src" "$W/restore-cicache/$name" "cicache restore of bench-1"
			# A second save of an unchanged tree is the common CI case
			# (cache hit, post step saves anyway): it should be cheap.
			if measure "$parent" "$W/log/cicache-save-1b" "$SAVE_BIN" --store "$W/store-cicache" --key bench-1b --path "$name" --quiet; then
				R[cicache.unchanged]=$T
			else
				echo "**FAIL: cicache unchanged save (bench-1b) failed**: (cd $parent && $SAVE_BIN --store $W/store-cicache --key bench-1b --path $name --quiet)"
				fail_log "$W/log/cicache-save-1b"
				FAILED=1
			fi
		else
			echo "**FAIL: cicache save of bench-1 failed**: (cd $parent && $SAVE_BIN --store $W/store-cicache --key bench-1 --path $name --quiet)"
			fail_log "$W/log/cicache-save-1"
			FAILED=1
		fi
	fi

	if ((HAVE_TAR)); then
		if measure "$parent" "$W/log/tar-save-1" bash -c "$TAR_SAVE" _ "$parent" "$W/tar.list" "$W/archive-1.tzst"; then
			R[tar.save]=$T R[tar.rss_save]=$RSS R[tar.stored]=$(bytes "$W/archive-1.tzst")
			mkdir -p "$W/restore-tar"
			if measure "$W" "$W/log/tar-restore-1" bash -c "$TAR_RESTORE" _ "$W/archive-1.tzst" "$W/restore-tar"; then
				R[tar.restore]=$T R[tar.rss_restore]=$RSS
			else
				echo "tar + zstd restore failed"
				fail_log "$W/log/tar-restore-1"
			fi
		else
			echo "tar + zstd save failed"
			fail_log "$W/log/tar-save-1"
		fi
	fi

	if ((HAVE_CASYNC)); then
		if measure "$parent" "$W/log/casync-save-1" casync make --store="$W/castr" "$W/archive-1.caidx" "$src"; then
			# The index is uploaded too, so it counts as stored.
			R[casync.save]=$T R[casync.rss_save]=$RSS R[casync.stored]=$(bytes "$W/castr" "$W/archive-1.caidx")
			mkdir -p "$W/restore-casync"
			if measure "$W" "$W/log/casync-restore-1" casync extract --store="$W/castr" "$W/archive-1.caidx" "$W/restore-casync/$name"; then
				R[casync.restore]=$T R[casync.rss_restore]=$RSS
			else
				echo "casync extract failed"
				fail_log "$W/log/casync-restore-1"
			fi
		else
			echo "casync make failed"
			fail_log "$W/log/casync-save-1"
		fi
	fi

	if ((HAVE_RESTIC)); then
		# A fresh runner has no restic cache either: keep it in the work dir.
		local restic=(restic --repo "$W/restic-repo" --cache-dir "$W/restic-cache")
		if "${restic[@]}" init >"$W/log/restic-init" 2>&1 &&
			measure "$parent" "$W/log/restic-save-1" "${restic[@]}" backup --quiet "$name"; then
			R[restic.save]=$T R[restic.rss_save]=$RSS R[restic.stored]=$(bytes "$W/restic-repo")
			mkdir -p "$W/restore-restic"
			if measure "$W" "$W/log/restic-restore-1" "${restic[@]}" restore latest --target "$W/restore-restic"; then
				R[restic.restore]=$T R[restic.rss_restore]=$RSS
			else
				echo "restic restore failed"
				fail_log "$W/log/restic-restore-1"
			fi
		else
			echo "restic init/backup failed"
			fail_log "$W/log/restic-save-1"
		fi
	fi

	mkdir -p "$W/restore-cp"
	if measure "$parent" "$W/log/cp" cp -a "$src" "$W/restore-cp/"; then
		R[cp.save]=$T R[cp.rss_save]=$RSS
	else
		echo "cp -a failed"
		fail_log "$W/log/cp"
	fi
	out=$(bytes "$W/restore-cp")
	if ((out > 0)); then R[cp.stored]=$out; fi
}

# Phase 2: tree B (the changed tree, same NAME) saved on top of phase 1.
bench_incr() {
	local parent=$1 name=$2 W=$3 before summary
	if ((HAVE_CICACHE)) && [[ ${R[cicache.save]} != n/a ]]; then
		before=$(bytes "$W/store-cicache")
		# Without --quiet for its summary line; one line costs nothing.
		if measure "$parent" "$W/log/cicache-save-2" "$SAVE_BIN" --store "$W/store-cicache" --key bench-2 --path "$name"; then
			R[cicache.incr_save]=$T
			R[cicache.incr]=$(($(bytes "$W/store-cicache") - before))
			summary=$(grep -m1 '^cache-save: saved' "$W/log/cicache-save-2" || true)
			if [[ -n $summary ]]; then echo "cicache bench-2 summary: $summary"; fi
			# The incremental entry must restore the new tree, not a mix.
			mkdir -p "$W/restore-cicache-2"
			if measure "$W/restore-cicache-2" "$W/log/cicache-restore-2" "$RESTORE_BIN" --store "$W/store-cicache" --key bench-2 --quiet --fail-on-miss &&
				grep -q '^cache-hit=true' "$W/log/cicache-restore-2"; then
				echo "cicache restore of bench-2: $T s"
			else
				echo "**FAIL: cicache restore of bench-2 failed**: (cd $W/restore-cicache-2 && $RESTORE_BIN --store $W/store-cicache --key bench-2 --quiet --fail-on-miss)"
				fail_log "$W/log/cicache-restore-2"
				FAILED=1
			fi
			verify "$parent/$name" "$W/restore-cicache-2/$name" "cicache restore of bench-2 (changed tree)"
		else
			echo "**FAIL: cicache save of bench-2 failed**: (cd $parent && $SAVE_BIN --store $W/store-cicache --key bench-2 --path $name)"
			fail_log "$W/log/cicache-save-2"
			FAILED=1
		fi
	fi
	if ((HAVE_TAR)) && [[ ${R[tar.save]} != n/a ]]; then
		# actions/cache has no dedup: a new key uploads a whole new archive.
		if measure "$parent" "$W/log/tar-save-2" bash -c "$TAR_SAVE" _ "$parent" "$W/tar.list" "$W/archive-2.tzst"; then
			R[tar.incr_save]=$T R[tar.incr]=$(bytes "$W/archive-2.tzst")
		else
			fail_log "$W/log/tar-save-2"
		fi
	fi
	if ((HAVE_CASYNC)) && [[ ${R[casync.save]} != n/a ]]; then
		before=$(bytes "$W/castr")
		if measure "$parent" "$W/log/casync-save-2" casync make --store="$W/castr" "$W/archive-2.caidx" "$parent/$name"; then
			R[casync.incr_save]=$T
			R[casync.incr]=$(($(bytes "$W/castr" "$W/archive-2.caidx") - before))
		else
			fail_log "$W/log/casync-save-2"
		fi
	fi
	if ((HAVE_RESTIC)) && [[ ${R[restic.save]} != n/a ]]; then
		before=$(bytes "$W/restic-repo")
		if measure "$parent" "$W/log/restic-save-2" restic --repo "$W/restic-repo" --cache-dir "$W/restic-cache" backup --quiet "$name"; then
			R[restic.incr_save]=$T
			R[restic.incr]=$(($(bytes "$W/restic-repo") - before))
		else
			fail_log "$W/log/restic-save-2"
		fi
	fi
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

report() {
	local title=$1 t v
	echo
	echo "## $title"
	echo
	load_note
	echo
	echo "| tool | save s | restore s | stored MB | incremental new MB | peak RSS save MB | peak RSS restore MB |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for t in "${TOOLS[@]}"; do
		local row=("${TOOL_NAME[$t]}" "${R[$t.save]}" "${R[$t.restore]}" "${R[$t.stored]}" "${R[$t.incr]}" "${R[$t.rss_save]}" "${R[$t.rss_restore]}")
		for i in 3 4; do
			if [[ ${row[$i]} != n/a ]]; then row[i]=$(mb "${row[$i]}"); fi
		done
		if [[ $t == cp ]]; then row[3]="${row[3]} (raw)"; fi
		printf '| %s ' "${row[@]}"
		echo '|'
	done
	echo
	echo "MB = 10^6 bytes. stored: cicache and restic = du -sb of the store, casync = chunk store + .caidx,"
	echo "tar+zstd = archive size, cp -a = the uncompressed tree. incremental new: growth of the store after"
	echo "saving the changed tree (tar+zstd: the whole new archive, as actions/cache uploads it again)."
	echo
	echo "- cicache save / tar+zstd save: $(ratio "${R[cicache.save]}" "${R[tar.save]}")"
	echo "- cicache restore / tar+zstd restore: $(ratio "${R[cicache.restore]}" "${R[tar.restore]}")"
	echo "- cicache stored / tar+zstd stored: $(ratio "${R[cicache.stored]}" "${R[tar.stored]}")"
	echo "- cicache incremental / casync incremental: $(ratio "${R[cicache.incr]}" "${R[casync.incr]}")"
	echo "- cicache unchanged-save seconds: ${R[cicache.unchanged]}"
	v=""
	for t in cicache tar casync restic; do v+=" ${TOOL_NAME[$t]%% (*} ${R[$t.incr_save]},"; done
	echo "- save of the changed tree, seconds:${v%,}"
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
