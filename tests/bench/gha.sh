#!/usr/bin/env bash
# cicache GitHub Actions cache benchmark: bin/cache-save / bin/cache-restore
# with --store gha side by side with the official @actions/cache client
# (saveCache / restoreCache, tests/bench/gha-official.js), both against the
# twirp fixture of the cache service over Azurite (tests/gha/start.sh), on
# run.sh's corpora.  Per tool and phase (save, restore into an empty dir,
# save of the changed tree under a new key): wall time, bytes uploaded and
# downloaded and requests, from the fixture's request log.  Called by
# `make bench` from the repo root.
#
#   BENCH_CORPUS, BENCH_SIZE_MB, BENCH_SEED, BENCH_DIR, BENCH_NPM_CACHE
#                                    as for run.sh (the same corpora)
#   CICACHE_NPM_DIR=DIR              Azurite and @actions/cache, installed by
#                                    tests/gha/setup.sh (default
#                                    /var/cache/cicache-npm)
#   CICACHE_ALLOW_NO_GHA=1           without node, Azurite or @actions/cache:
#                                    print a message and exit 0
#
# Azurite and the fixture are Node servers on the same 2 cores as the
# clients: compare the tools with each other, not with GitHub's figures.
# Exits non-zero when the servers cannot be had, or when a cicache command
# fails or its restore differs from the saved tree: a failing
# @actions/cache is reported, not fatal.
set -euo pipefail

BENCH_NAME=gha.sh
# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_args "$@"
bench_clean_env
trap 'exit 130' INT
trap 'exit 143' TERM
export CICACHE_NPM_DIR=${CICACHE_NPM_DIR:-/var/cache/cicache-npm}

bench_header "cicache GitHub Actions cache benchmark (twirp fixture + Azurite)" "CICACHE_NPM_DIR=$CICACHE_NPM_DIR"

# The official client compresses with zstd when it finds it, as on GitHub's
# Linux runners.
install_peers zstd=zstd tar=tar curl=curl /usr/bin/time=time
if ! have node || ! have curl || ! bash "$REPO/tests/gha/setup.sh" >/dev/null; then
	msg="node 20, curl, Azurite and @actions/cache (tests/gha/setup.sh) are required for the gha benchmark"
	if [[ ${CICACHE_ALLOW_NO_GHA:-} == 1 ]]; then
		echo "$msg: skipped (CICACHE_ALLOW_NO_GHA=1)"
		exit 0
	fi
	echo "**FAIL: $msg** (CICACHE_ALLOW_NO_GHA=1 skips)"
	exit 1
fi
HAVE_CICACHE=0
if [[ -x $SAVE_BIN && -x $RESTORE_BIN ]]; then
	HAVE_CICACHE=1
else
	echo "cicache: bin/cache-save not built (run make first): cicache rows skipped"
fi
bench_find_time
OFFICIAL_VERSION=$(node -p 'require(process.argv[1]).version' "$CICACHE_NPM_DIR/node_modules/@actions/cache/package.json")
echo "versions: node $(node --version) | @actions/cache $OFFICIAL_VERSION |" \
	"azurite $(node -p 'require(process.argv[1]).version' "$CICACHE_NPM_DIR/node_modules/azurite/package.json" 2>/dev/null || echo '?') |" \
	"$(tar --version 2>/dev/null | head -n1) | $(zstd --version 2>/dev/null)"
echo

bench_workdir cicache-bench-gha

# ---------------------------------------------------------------------------
# The servers: tests/gha/start.sh's gha_start, with the few test-library
# functions it calls.  A fresh pair per corpus, so each starts empty.
TEST_DIR=$REPO/tests
TRASH="" AZURITE_PID="" FIXTURE_PID=""
skip_all() {
	echo "$*: skipped"
	exit 0
}
test_cleanup() { :; } # gha_stop does it, by PID
# shellcheck source=tests/gha/start.sh
. "$TEST_DIR/gha/start.sh"

gha_stop() {
	local p
	for p in "$FIXTURE_PID" "$AZURITE_PID"; do
		if [[ -n $p ]]; then
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	FIXTURE_PID="" AZURITE_PID=""
}
bench_at_exit gha_stop

# gha_up W: servers with their state under W/gha.
gha_up() {
	gha_stop
	TRASH=$1/gha
	mkdir -p "$TRASH"
	gha_start
	FIXTURE_LOG=$TRASH/fixture/log.jsonl
	echo "fixture: $(gha_url) (pid $FIXTURE_PID), Azurite pid $AZURITE_PID"
}

# The fixture logs one JSON line per request (twirp calls and the blob
# traffic it proxies to Azurite).  gha_mark prints the current line count;
# gha_stats FROM sets UP and DOWN (blob bytes), CALLS (all requests),
# GETS and RANGED (blob GETs, and those with a Range header).
FIXTURE_LOG=""
gha_mark() { wc -l <"$FIXTURE_LOG"; }
UP="" DOWN="" CALLS="" GETS="" RANGED=""
gha_stats() {
	local from=$1 n prev=-1 _
	# The fixture logs a proxied request when Azurite's answer ends, which
	# may be just after the client saw it.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		n=$(gha_mark)
		[[ $n == "$prev" ]] && break
		prev=$n
		sleep 0.1
	done
	read -r UP DOWN CALLS GETS RANGED < <(tail -n +"$((from + 1))" "$FIXTURE_LOG" | node -e '
		let s = "";
		process.stdin.on("data", d => s += d).on("end", () => {
			const l = s.split("\n").filter(Boolean).map(JSON.parse);
			const blob = l.filter(r => r.kind === "blob");
			const gets = blob.filter(r => r.method === "GET");
			const sum = (a, f) => a.reduce((t, r) => t + (r[f] || 0), 0);
			console.log(sum(blob.filter(r => r.method === "PUT"), "req_bytes"), sum(gets, "resp_bytes"),
				l.length, gets.length, gets.filter(r => r.range).length);
		});')
}

# gha_phase TOOL FIELD DIR LOG CMD...: measure CMD, and on success store
# R[TOOL.FIELD] (seconds) and the fixture's counters for it.
gha_phase() {
	local tool=$1 field=$2 dir=$3 log=$4 mark rc=0
	shift 4
	mark=$(gha_mark)
	measure "$dir" "$log" "$@" || rc=$?
	gha_stats "$mark"
	if ((rc == 0)); then
		R[$tool.$field]=$T R[$tool.${field}_up]=$UP R[$tool.${field}_down]=$DOWN
		R[$tool.${field}_calls]=$CALLS R[$tool.${field}_gets]=$GETS R[$tool.${field}_ranged]=$RANGED
	fi
	return "$rc"
}

# official_ms LOG: the client's own time (ms) from its RESULT line.
official_ms() {
	sed -n 's/^RESULT .*"ms":\([0-9]*\).*/\1/p' "$1" | tail -n1
}

# ---------------------------------------------------------------------------
# Results of the current corpus: R[tool.field].  Fields: save restore incr
# (seconds), each with _up _down (bytes), _calls, _gets, _ranged;
# official.*_ms is the client's time inside Node.
declare -A R
TOOLS=(cicache official)
declare -A TOOL_NAME=([cicache]="cicache --store gha" [official]="@actions/cache $OFFICIAL_VERSION")
reset_results() {
	R=()
	local t f x
	for t in "${TOOLS[@]}"; do
		for f in save restore incr restore2; do
			for x in "" _up _down _calls _gets _ranged _ms; do R[$t.$f$x]=n/a; done
		done
	done
}

# Phase 1: both clients save tree A (PARENT/NAME) and restore it into an
# empty directory.
bench_full() {
	local parent=$1 name=$2 W=$3 src=$1/$2
	mkdir -p "$W/log"
	gha_up "$W"

	if ((HAVE_CICACHE)); then
		if gha_phase cicache save "$parent" "$W/log/cicache-save-1" "$SAVE_BIN" --store gha --key bench-1 --path "$name" --quiet; then
			mkdir -p "$W/restore-cicache"
			if gha_phase cicache restore "$W/restore-cicache" "$W/log/cicache-restore-1" "$RESTORE_BIN" --store gha --key bench-1 --quiet --fail-on-miss &&
				grep -q '^cache-hit=true' "$W/log/cicache-restore-1"; then
				:
			else
				R[cicache.restore]=n/a
				echo "**FAIL: cicache restore of bench-1 failed**: (cd $W/restore-cicache && $RESTORE_BIN --store gha --key bench-1 --quiet --fail-on-miss)"
				fail_log "$W/log/cicache-restore-1"
				FAILED=1
			fi
			verify "$src" "$W/restore-cicache/$name" "cicache restore of bench-1"
			rm -rf "$W/restore-cicache"
		else
			echo "**FAIL: cicache save of bench-1 failed**: (cd $parent && $SAVE_BIN --store gha --key bench-1 --path $name --quiet)"
			fail_log "$W/log/cicache-save-1"
			FAILED=1
		fi
	fi

	# The official client resolves paths and runs tar in GITHUB_WORKSPACE;
	# its entries are immutable, so every save takes a new key.
	if GITHUB_WORKSPACE=$parent gha_phase official save "$parent" "$W/log/official-save-1" node "$BENCH_SRC/gha-official.js" save bench-1 "$name"; then
		R[official.save_ms]=$(official_ms "$W/log/official-save-1")
		mkdir -p "$W/restore-official"
		if GITHUB_WORKSPACE=$W/restore-official gha_phase official restore "$W/restore-official" "$W/log/official-restore-1" node "$BENCH_SRC/gha-official.js" restore bench-1 "$name"; then
			R[official.restore_ms]=$(official_ms "$W/log/official-restore-1")
			# A peer is not held to verify(), but a restore that lost files
			# would make its time meaningless.
			if ! diff -rq --no-dereference "$src" "$W/restore-official/$name" >/dev/null 2>&1; then
				echo "note: the @actions/cache restore differs from the saved tree"
			fi
		else
			echo "@actions/cache restore failed"
			fail_log "$W/log/official-restore-1"
		fi
		rm -rf "$W/restore-official"
	else
		echo "@actions/cache save failed"
		fail_log "$W/log/official-save-1"
	fi
}

# Phase 2: tree B (the changed tree, same NAME) saved under a new key.
bench_incr() {
	local parent=$1 name=$2 W=$3 summary
	if ((HAVE_CICACHE)) && [[ ${R[cicache.save]} != n/a ]]; then
		# Without --quiet for its summary line; one line costs nothing.
		if gha_phase cicache incr "$parent" "$W/log/cicache-save-2" "$SAVE_BIN" --store gha --key bench-2 --path "$name"; then
			summary=$(grep -m1 '^cache-save: saved' "$W/log/cicache-save-2" || true)
			if [[ -n $summary ]]; then echo "cicache bench-2 summary: $summary"; fi
			# The incremental entry must restore the new tree, not a mix.
			mkdir -p "$W/restore-cicache-2"
			if gha_phase cicache restore2 "$W/restore-cicache-2" "$W/log/cicache-restore-2" "$RESTORE_BIN" --store gha --key bench-2 --quiet --fail-on-miss &&
				grep -q '^cache-hit=true' "$W/log/cicache-restore-2"; then
				echo "cicache restore of bench-2: ${R[cicache.restore2]} s, $(mb "${R[cicache.restore2_down]}") MB downloaded, ${R[cicache.restore2_calls]} requests"
			else
				echo "**FAIL: cicache restore of bench-2 failed**: (cd $W/restore-cicache-2 && $RESTORE_BIN --store gha --key bench-2 --quiet --fail-on-miss)"
				fail_log "$W/log/cicache-restore-2"
				FAILED=1
			fi
			verify "$parent/$name" "$W/restore-cicache-2/$name" "cicache restore of bench-2 (changed tree)"
			rm -rf "$W/restore-cicache-2"
		else
			echo "**FAIL: cicache save of bench-2 failed**: (cd $parent && $SAVE_BIN --store gha --key bench-2 --path $name)"
			fail_log "$W/log/cicache-save-2"
			FAILED=1
		fi
	fi
	if [[ ${R[official.save]} != n/a ]]; then
		if GITHUB_WORKSPACE=$parent gha_phase official incr "$parent" "$W/log/official-save-2" node "$BENCH_SRC/gha-official.js" save bench-2 "$name"; then
			R[official.incr_ms]=$(official_ms "$W/log/official-save-2")
		else
			echo "@actions/cache save of the changed tree failed"
			fail_log "$W/log/official-save-2"
		fi
	fi
	gha_stop
}

report() {
	local title=$1 t f r
	echo
	echo "## GitHub Actions cache (fixture + Azurite): $title"
	echo
	load_note
	echo
	echo "| tool | save s | save MB up | save requests | restore s | restore MB down | restore requests | changed-tree save s | changed-tree MB up | changed-tree requests |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for t in "${TOOLS[@]}"; do
		local row=("${TOOL_NAME[$t]}")
		for f in save save_up save_calls restore restore_down restore_calls incr incr_up incr_calls; do
			r=${R[$t.$f]}
			if [[ ($f == *_up || $f == *_down) && $r != n/a ]]; then r=$(mb "$r"); fi
			row+=("$r")
		done
		printf '| %s ' "${row[@]}"
		echo '|'
	done
	echo
	echo "MB = 10^6 bytes of blob bodies through the fixture (PUT bodies up, GET bodies down). requests: twirp"
	echo "calls plus blob requests. restore: into an empty directory. changed-tree save: a new key after the"
	echo "change (@actions/cache: a whole new archive, since its entries are immutable and it has no dedup)."
	echo "@actions/cache's own time inside Node (without Node's start-up): save ${R[official.save_ms]} ms," \
		"restore ${R[official.restore_ms]} ms, changed-tree save ${R[official.incr_ms]} ms."
	echo
	r=$(ratio "${R[cicache.incr_up]}" "${R[official.incr_up]}")
	echo "- cicache changed-tree MB up / @actions/cache changed-tree MB up: $r $(target "$r" 0.10)"
	r=$(ratio "${R[cicache.restore]}" "${R[official.restore]}")
	echo "- cicache restore / @actions/cache restore: $r $(target "$r" 0.8)"
	echo "- cicache save / @actions/cache save: $(ratio "${R[cicache.save]}" "${R[official.save]}")"
	echo "- cicache MB up / @actions/cache MB up (first save): $(ratio "${R[cicache.save_up]}" "${R[official.save_up]}")"
	echo "- cicache MB down in the restore / MB up in its save: $(ratio "${R[cicache.restore_down]}" "${R[cicache.save_up]}") (1.00: each byte fetched once)"
	echo "- downloads in the restore: @actions/cache ${R[official.restore_gets]} blob GETs (${R[official.restore_ranged]} with a Range header)," \
		"cicache ${R[cicache.restore_gets]} (${R[cicache.restore_ranged]} ranged)"
	if [[ ${R[official.restore_gets]} == 1 && ${R[official.restore_ranged]} == 0 ]]; then
		echo "  @actions/cache took its one-plain-GET path: the fixture's blob URLs are on 127.0.0.1, and it"
		echo "  downloads in parallel ranged parts only from hosts ending in .blob.core.windows.net (as on GitHub)."
	fi
}

bench_run_corpora
