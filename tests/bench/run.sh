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

BENCH_NAME=run.sh
# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_args "$@"
bench_clean_env

# ---------------------------------------------------------------------------
# Header: the exact command, so a table in a log can be reproduced.
bench_header "cicache benchmark"

# ---------------------------------------------------------------------------
# Peers: install only what is missing, and carry on without what cannot be had.
install_peers zstd=zstd tar=tar casync=casync restic=restic /usr/bin/time=time
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
bench_find_time
echo "versions: $(tar --version 2>/dev/null | head -n1) | $(zstd --version 2>/dev/null) |" \
	"casync $(casync --version 2>/dev/null | head -n1 | awk '{print $NF}') |" \
	"$(restic version 2>/dev/null | awk '{print $1, $2}')"
echo

# ---------------------------------------------------------------------------
# Work dir.
bench_workdir cicache-bench

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

bench_run_corpora
