#!/usr/bin/env bash
# cicache S3 benchmark: bin/cache-save / bin/cache-restore against an S3
# server (moto_server on 127.0.0.1) side by side with the actions/cache
# pipeline over S3 (tar --posix | zstd -T0 -3 | aws s3 cp - URL, and back)
# and restic's S3 backend, on run.sh's corpora.  Per tool and phase (save,
# restore into an empty dir, save of the changed tree): wall time, bytes
# sent (growth of the tool's prefix in the bucket) and requests (moto's
# access log).  Called by `make bench` from the repo root.
#
#   BENCH_CORPUS, BENCH_SIZE_MB, BENCH_SEED, BENCH_DIR, BENCH_NPM_CACHE
#                                    as for run.sh (the same corpora)
#   BENCH_S3_CASYNC=1                also run casync on a local store for
#                                    its incremental new bytes, the yardstick
#                                    of the incremental target (0: skip)
#   CICACHE_ALLOW_NO_MOTO=1          without moto_server or aws: print a
#                                    message and exit 0 instead of failing
#
# moto is a Python server on the same 2 cores as the clients: compare the
# tools with each other, not with AWS's figures.  Exits non-zero when moto
# or aws is missing, or when a cicache command fails or its restore
# differs from the saved tree: a missing or failing peer is reported, not
# fatal.
set -euo pipefail

BENCH_NAME=s3.sh
# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_args "$@"
bench_clean_env
BENCH_S3_CASYNC=${BENCH_S3_CASYNC:-1}
trap 'exit 130' INT
trap 'exit 143' TERM

bench_header "cicache S3 benchmark (moto)" "BENCH_S3_CASYNC=$BENCH_S3_CASYNC"

install_peers zstd=zstd tar=tar restic=restic aws=awscli casync=casync /usr/bin/time=time
if ! have moto_server || ! have aws; then
	msg="moto_server and aws (awscli) are required for the S3 benchmark"
	if [[ ${CICACHE_ALLOW_NO_MOTO:-} == 1 ]]; then
		echo "$msg: skipped (CICACHE_ALLOW_NO_MOTO=1)"
		exit 0
	fi
	echo "**FAIL: $msg** (CICACHE_ALLOW_NO_MOTO=1 skips)"
	exit 1
fi
if ! have python3; then
	echo "**FAIL: python3 is required (moto is a Python server)**"
	exit 1
fi
HAVE_TAR=0 HAVE_RESTIC=0 HAVE_CASYNC=0 HAVE_CICACHE=0
if have tar && have zstd; then HAVE_TAR=1; else echo "peer unavailable: tar + zstd (actions/cache pipeline): skipped"; fi
# The repository password is irrelevant here, but restic insists on one.
if have restic; then HAVE_RESTIC=1 && export RESTIC_PASSWORD=bench; else echo "peer unavailable: restic: skipped"; fi
if [[ $BENCH_S3_CASYNC != 0 ]]; then
	if have casync; then HAVE_CASYNC=1; else echo "casync unavailable: no yardstick for the incremental target"; fi
fi
if [[ -x $SAVE_BIN && -x $RESTORE_BIN ]]; then
	HAVE_CICACHE=1
else
	echo "cicache: bin/cache-save not built (run make first): cicache rows skipped"
fi
bench_find_time
echo "versions: $(tar --version 2>/dev/null | head -n1) | $(zstd --version 2>/dev/null) |" \
	"$(aws --version 2>&1 | awk '{print $1}') | $(restic version 2>/dev/null | awk '{print $1, $2}') |" \
	"moto $(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')"
echo

bench_workdir cicache-bench-s3

# ---------------------------------------------------------------------------
# The S3 server.  Plain moto: it accepts any signature, which is all a
# benchmark needs (t0800 covers signature checking).  The client side is
# kept away from the user's ~/.aws.
BUCKET=cicache-bench
MOTO_PID="" EP="" MOTO_LOG=""
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
printf '[default]\ns3 =\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"

moto_stop() {
	if [[ -n $MOTO_PID ]]; then
		kill "$MOTO_PID" 2>/dev/null || true
		wait "$MOTO_PID" 2>/dev/null || true
		MOTO_PID=""
	fi
}
bench_at_exit moto_stop

# moto_start W: a fresh server per corpus (moto keeps every object, and
# each corpus starts from an empty bucket), log in W/moto.log.
moto_start() {
	local _ port
	moto_stop
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	MOTO_LOG=$1/moto.log
	moto_server -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
	MOTO_PID=$!
	EP=http://127.0.0.1:$port
	export AWS_ENDPOINT_URL=$EP
	for _ in $(seq 1 150); do
		curl -s -o /dev/null "$EP/moto-api/" && break
		kill -0 "$MOTO_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! curl -sf -X PUT -o /dev/null "$EP/$BUCKET"; then
		echo "**FAIL: moto_server did not start on 127.0.0.1:$port**"
		fail_log "$MOTO_LOG"
		exit 1
	fi
	echo "moto_server: $EP (pid $MOTO_PID), bucket $BUCKET"
}

# Requests are counted from moto's access log (werkzeug writes one line per
# request before the response goes out).  moto_mark prints the current line
# count; moto_requests FROM sets REQ (requests since line FROM) and REQ_BY
# ("PUT 12, GET 3").
moto_lines() { wc -l <"$MOTO_LOG"; }
moto_mark() { moto_lines; }
REQ="" REQ_BY=""
moto_requests() {
	local from=$1 n prev=-1 _
	# Wait for stragglers from threads still writing.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		n=$(moto_lines)
		[[ $n == "$prev" ]] && break
		prev=$n
		sleep 0.1
	done
	REQ=$(tail -n +"$((from + 1))" "$MOTO_LOG" | grep -c '"[A-Z]* /[^"]* HTTP/[0-9.]*" [0-9]' || true)
	REQ_BY=$(tail -n +"$((from + 1))" "$MOTO_LOG" | grep -o '"[A-Z]* /[^"]* HTTP/[0-9.]*" [0-9]' |
		awk '{ n[$1]++ } END { for (m in n) printf "%s%s %d", (k++ ? ", " : ""), substr(m, 2), n[m] }')
}

# s3_size PREFIX: total bytes of the objects under PREFIX in the bucket
# (ListObjectsV2, all pages).
s3_size() {
	python3 - "$EP" "$BUCKET" "$1" <<'EOF'
import sys, urllib.parse, urllib.request, xml.etree.ElementTree as ET
ep, bucket, prefix = sys.argv[1:4]
ns = '{http://s3.amazonaws.com/doc/2006-03-01/}'
total, token = 0, None
while True:
    q = {'list-type': '2', 'prefix': prefix}
    if token:
        q['continuation-token'] = token
    with urllib.request.urlopen(f'{ep}/{bucket}?{urllib.parse.urlencode(q)}') as r:
        root = ET.fromstring(r.read())
    for c in root.iter(ns + 'Contents'):
        total += int(c.find(ns + 'Size').text)
    if root.findtext(ns + 'IsTruncated') != 'true':
        break
    token = root.findtext(ns + 'NextContinuationToken')
print(total)
EOF
}

# s3_phase TOOL FIELD PREFIX DIR LOG CMD...: measure CMD, and on success
# store R[TOOL.FIELD] (seconds), R[TOOL.FIELD_req], R[TOOL.FIELD_by] and,
# with a PREFIX, R[TOOL.FIELD_bytes] (growth of PREFIX).  Returns CMD's status.
s3_phase() {
	local tool=$1 field=$2 prefix=$3 dir=$4 log=$5 before=0 mark rc=0
	shift 5
	if [[ -n $prefix ]]; then before=$(s3_size "$prefix"); fi
	mark=$(moto_mark)
	measure "$dir" "$log" "$@" || rc=$?
	moto_requests "$mark"
	if ((rc == 0)); then
		R[$tool.$field]=$T R[$tool.${field}_req]=$REQ R[$tool.${field}_by]=$REQ_BY
		if [[ -n $prefix ]]; then R[$tool.${field}_bytes]=$(($(s3_size "$prefix") - before)); fi
	fi
	return "$rc"
}

# The actions/cache pipeline streamed to and from S3; the arguments are
# expanded by the inner bash.
# shellcheck disable=SC2016
TAR_S3_SAVE='set -o pipefail; tar --posix -cf - -P -C "$1" --files-from "$2" | zstd -T0 -3 -q |
	aws --endpoint-url "$3" s3 cp --no-progress --only-show-errors - "$4"'
# shellcheck disable=SC2016
TAR_S3_RESTORE='set -o pipefail; aws --endpoint-url "$1" s3 cp --no-progress --only-show-errors "$2" - |
	zstd -d -q | tar -xf - -P -C "$3"'

# ---------------------------------------------------------------------------
# Results of the current corpus: R[tool.field].  Fields: save restore incr
# (seconds), each with _bytes (sent), _req and _by (requests); casync.incr_bytes
# is the local yardstick; cicache.restore2 is the restore of the changed tree.
declare -A R
TOOLS=(cicache tar restic)
declare -A TOOL_NAME=([cicache]="cicache" [tar]="tar + zstd -3 + aws s3 cp (actions/cache)" [restic]="restic (S3 backend)")
reset_results() {
	R=()
	local t f
	for t in "${TOOLS[@]}" casync; do
		for f in save restore incr restore2; do
			R[$t.$f]=n/a R[$t.${f}_bytes]=n/a R[$t.${f}_req]=n/a R[$t.${f}_by]=""
		done
	done
	R[files]=n/a
}

# Phase 1: every tool saves tree A (PARENT/NAME) and restores it into an
# empty directory.
bench_full() {
	local parent=$1 name=$2 W=$3 src=$1/$2
	mkdir -p "$W/log"
	printf '%s\n' "$name" >"$W/tar.list"
	moto_start "$W"
	R[files]=$(find "$src" -type f | wc -l)

	if ((HAVE_CICACHE)); then
		local store=s3://$BUCKET/cicache
		if s3_phase cicache save cicache/ "$parent" "$W/log/cicache-save-1" "$SAVE_BIN" --store "$store" --key bench-1 --path "$name" --quiet; then
			mkdir -p "$W/restore-cicache"
			if s3_phase cicache restore "" "$W/restore-cicache" "$W/log/cicache-restore-1" "$RESTORE_BIN" --store "$store" --key bench-1 --quiet --fail-on-miss &&
				grep -q '^cache-hit=true' "$W/log/cicache-restore-1"; then
				:
			else
				R[cicache.restore]=n/a
				echo "**FAIL: cicache restore of bench-1 failed**: (cd $W/restore-cicache && AWS_ENDPOINT_URL=$EP $RESTORE_BIN --store $store --key bench-1 --quiet --fail-on-miss)"
				fail_log "$W/log/cicache-restore-1"
				FAILED=1
			fi
			verify "$src" "$W/restore-cicache/$name" "cicache restore of bench-1"
			rm -rf "$W/restore-cicache"
		else
			echo "**FAIL: cicache save of bench-1 failed**: (cd $parent && AWS_ENDPOINT_URL=$EP $SAVE_BIN --store $store --key bench-1 --path $name --quiet)"
			fail_log "$W/log/cicache-save-1"
			FAILED=1
		fi
	fi

	if ((HAVE_TAR)); then
		if s3_phase tar save actions-cache/ "$parent" "$W/log/tar-save-1" bash -c "$TAR_S3_SAVE" _ "$parent" "$W/tar.list" "$EP" "s3://$BUCKET/actions-cache/bench-1.tzst"; then
			mkdir -p "$W/restore-tar"
			if ! s3_phase tar restore "" "$W" "$W/log/tar-restore-1" bash -c "$TAR_S3_RESTORE" _ "$EP" "s3://$BUCKET/actions-cache/bench-1.tzst" "$W/restore-tar"; then
				echo "tar + zstd + aws restore failed"
				fail_log "$W/log/tar-restore-1"
			fi
			rm -rf "$W/restore-tar"
		else
			echo "tar + zstd + aws save failed"
			fail_log "$W/log/tar-save-1"
		fi
	fi

	if ((HAVE_RESTIC)); then
		# Each phase runs as on a fresh runner: no restic cache from before.
		local repo=s3:$EP/$BUCKET/restic
		if restic --repo "$repo" --cache-dir "$W/restic-cache-init" init >"$W/log/restic-init" 2>&1 &&
			s3_phase restic save restic/ "$parent" "$W/log/restic-save-1" restic --repo "$repo" --cache-dir "$W/restic-cache-1" backup --quiet "$name"; then
			mkdir -p "$W/restore-restic"
			if ! s3_phase restic restore "" "$W" "$W/log/restic-restore-1" restic --repo "$repo" --cache-dir "$W/restic-cache-r" restore latest --target "$W/restore-restic"; then
				echo "restic restore failed"
				fail_log "$W/log/restic-restore-1"
			fi
			rm -rf "$W/restore-restic"
		else
			echo "restic init/backup failed"
			fail_log "$W/log/restic-init"
			[[ -f $W/log/restic-save-1 ]] && fail_log "$W/log/restic-save-1"
		fi
	fi

	if ((HAVE_CASYNC)); then
		if ! measure "$parent" "$W/log/casync-save-1" casync make --store="$W/castr" "$W/archive-1.caidx" "$src"; then
			echo "casync make failed"
			fail_log "$W/log/casync-save-1"
			rm -rf "$W/castr"
		fi
	fi
}

# Phase 2: tree B (the changed tree, same NAME) saved on top of phase 1.
bench_incr() {
	local parent=$1 name=$2 W=$3 before summary
	if ((HAVE_CICACHE)) && [[ ${R[cicache.save]} != n/a ]]; then
		local store=s3://$BUCKET/cicache
		# Without --quiet for its summary line; one line costs nothing.
		if s3_phase cicache incr cicache/ "$parent" "$W/log/cicache-save-2" "$SAVE_BIN" --store "$store" --key bench-2 --path "$name"; then
			summary=$(grep -m1 '^cache-save: saved' "$W/log/cicache-save-2" || true)
			if [[ -n $summary ]]; then echo "cicache bench-2 summary: $summary"; fi
			# The incremental entry must restore the new tree, not a mix.
			mkdir -p "$W/restore-cicache-2"
			if s3_phase cicache restore2 "" "$W/restore-cicache-2" "$W/log/cicache-restore-2" "$RESTORE_BIN" --store "$store" --key bench-2 --quiet --fail-on-miss &&
				grep -q '^cache-hit=true' "$W/log/cicache-restore-2"; then
				echo "cicache restore of bench-2: ${R[cicache.restore2]} s, ${R[cicache.restore2_req]} requests"
			else
				echo "**FAIL: cicache restore of bench-2 failed**: (cd $W/restore-cicache-2 && AWS_ENDPOINT_URL=$EP $RESTORE_BIN --store $store --key bench-2 --quiet --fail-on-miss)"
				fail_log "$W/log/cicache-restore-2"
				FAILED=1
			fi
			verify "$parent/$name" "$W/restore-cicache-2/$name" "cicache restore of bench-2 (changed tree)"
			rm -rf "$W/restore-cicache-2"
		else
			echo "**FAIL: cicache save of bench-2 failed**: (cd $parent && AWS_ENDPOINT_URL=$EP $SAVE_BIN --store $store --key bench-2 --path $name)"
			fail_log "$W/log/cicache-save-2"
			FAILED=1
		fi
	fi
	if ((HAVE_TAR)) && [[ ${R[tar.save]} != n/a ]]; then
		# actions/cache has no dedup: a new key uploads a whole new archive.
		if ! s3_phase tar incr actions-cache/ "$parent" "$W/log/tar-save-2" bash -c "$TAR_S3_SAVE" _ "$parent" "$W/tar.list" "$EP" "s3://$BUCKET/actions-cache/bench-2.tzst"; then
			fail_log "$W/log/tar-save-2"
		fi
	fi
	if ((HAVE_RESTIC)) && [[ ${R[restic.save]} != n/a ]]; then
		if ! s3_phase restic incr restic/ "$parent" "$W/log/restic-save-2" restic --repo "s3:$EP/$BUCKET/restic" --cache-dir "$W/restic-cache-2" backup --quiet "$name"; then
			fail_log "$W/log/restic-save-2"
		fi
	fi
	if ((HAVE_CASYNC)) && [[ -d $W/castr ]]; then
		before=$(bytes "$W/castr")
		if measure "$parent" "$W/log/casync-save-2" casync make --store="$W/castr" "$W/archive-2.caidx" "$parent/$name"; then
			# The index is uploaded too, so it counts as new.
			R[casync.incr_bytes]=$(($(bytes "$W/castr" "$W/archive-2.caidx") - before))
		else
			fail_log "$W/log/casync-save-2"
		fi
	fi
	moto_stop
}

report() {
	local title=$1 t f r
	echo
	echo "## S3 (moto): $title"
	echo
	load_note
	echo
	echo "| tool | save s | save MB sent | save requests | restore s | restore requests | changed-tree save s | changed-tree MB sent | changed-tree requests |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for t in "${TOOLS[@]}"; do
		local row=("${TOOL_NAME[$t]}")
		for f in save save_bytes save_req restore restore_req incr incr_bytes incr_req; do
			r=${R[$t.$f]}
			if [[ $f == *_bytes && $r != n/a ]]; then r=$(mb "$r"); fi
			row+=("$r")
		done
		printf '| %s ' "${row[@]}"
		echo '|'
	done
	echo
	echo "MB = 10^6 bytes. MB sent: growth of the tool's prefix in the bucket over the phase. requests: lines"
	echo "of moto's access log during the phase. restore: into an empty directory. changed-tree save: a new"
	echo "key after the change (tar pipeline: the whole new archive, as actions/cache uploads it again)."
	echo "Every restic phase starts without a local restic cache, as on a fresh runner; restic init is not timed."
	echo
	echo "Requests by method:"
	for t in "${TOOLS[@]}"; do
		for f in save restore incr; do
			local phase=$f
			if [[ $f == incr ]]; then phase="changed-tree save"; fi
			if [[ -n ${R[$t.${f}_by]} ]]; then echo "- ${TOOL_NAME[$t]%% (*} $phase: ${R[$t.${f}_by]}"; fi
		done
	done
	echo
	r=$(ratio "${R[cicache.save]}" "${R[tar.save]}")
	echo "- cicache save / tar pipeline save: $r $(target "$r" 0.5)"
	r=$(ratio "${R[cicache.restore]}" "${R[tar.restore]}")
	echo "- cicache restore / tar pipeline restore: $r $(target "$r" 0.5)"
	echo "- cicache MB sent / tar pipeline MB sent (first save): $(ratio "${R[cicache.save_bytes]}" "${R[tar.save_bytes]}")"
	local ci=n/a ca=n/a
	if [[ ${R[cicache.incr_bytes]} != n/a ]]; then ci=$(mb "${R[cicache.incr_bytes]}"); fi
	if [[ ${R[casync.incr_bytes]} != n/a ]]; then ca=$(mb "${R[casync.incr_bytes]}"); fi
	r=$(ratio "${R[cicache.incr_bytes]}" "${R[casync.incr_bytes]}")
	echo "- changed-tree save: cicache sent $ci MB, casync (local store, same change) $ca MB new: ratio $r $(target "$r" 1)"
	r=n/a
	if [[ ${R[cicache.save_req]} != n/a && ${R[cicache.restore_req]} != n/a && ${R[cicache.incr_req]} != n/a ]]; then
		r=$(printf '%s\n' "${R[cicache.save_req]}" "${R[cicache.restore_req]}" "${R[cicache.incr_req]}" | sort -n | tail -n1)
	fi
	echo "- cicache requests on ${R[files]} files: save ${R[cicache.save_req]}, restore ${R[cicache.restore_req]}, changed-tree save ${R[cicache.incr_req]};" \
		"largest $r $(target "$r" 99 | sed 's/target at most 99/target under 100 on the 38k-file npm tree/')"
}

bench_run_corpora
