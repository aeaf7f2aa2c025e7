#!/usr/bin/env bash
# cicache lifecycle benchmark (not part of make check): cache-store prune
# and list cost.  Prints, per scenario: wall time, requests (S3: moto's
# access log), peak RSS (/usr/bin/time -v), store size before and after.
#
#   (a) S3 (moto on 127.0.0.1): PRUNE_ENTRIES (50) saves of a rolling key
#       series roll-N (restore key roll-, so each dedups against the last)
#       over a PRUNE_CORPUS_MB (8) MB corpus of which about 5% changes
#       between saves; then list, and prune --keep-last 5 --prefix roll-
#       --grace 0 (with repack).
#   (b) local: a synthetic store of PRUNE_SYNTH (10000) small entries
#       (100 real saves, each copied under 100 keys with its summary);
#       list, stats, prune --max-age 1d (nothing to delete: the cost of
#       reading every entry), then prune --keep-last 100 --grace 0.
#
# Usage: bash tests/bench/prune.sh   (from the repo root, after make)
set -euo pipefail
BIN=${CICACHE_BIN:-$PWD/bin}
N=${PRUNE_ENTRIES:-50}
MB=${PRUNE_CORPUS_MB:-8}
SYN=${PRUNE_SYNTH:-10000}
W=$(mktemp -d "${TMPDIR:-/tmp}/cicache-bench-prune.XXXXXX")
trap 'kill ${MOTO_PID:-} 2>/dev/null; rm -rf "$W"' EXIT
export PATH=$BIN:$PATH CACHE_QUIET=true

measure() { # measure LABEL CMD...: time and peak RSS of CMD
	local label=$1
	shift
	/usr/bin/time -v -o "$W/time" "$@" >"$W/out" 2>"$W/err"
	T=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$W/time")
	RSS=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/time")
	echo "$label: wall $T, peak RSS $((RSS / 1024)) MiB"
}
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

echo "## (a) S3 (moto): $N entries of a rolling key over a $MB MB corpus"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$PORT" >"$W/moto.log" 2>&1 &
MOTO_PID=$!
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -s -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" && break; sleep 0.1; done
curl -sf -X PUT -o /dev/null "$AWS_ENDPOINT_URL/bench"
S=s3://bench/prune
mkdir -p "$W/c"
for f in $(seq 1 $((MB * 4))); do head -c 262144 /dev/urandom >"$W/c/f$f"; done
for i in $(seq 1 "$N"); do
	for f in $(seq 1 $((MB / 5 + 1))); do
		head -c 65536 /dev/urandom | dd of="$W/c/f$(( (i * 7 + f) % (MB * 4) + 1 ))" \
			bs=65536 seek=$((i % 4)) conv=notrunc 2>/dev/null
	done
	cache-save --store $S -k "roll-$i" -r roll- -p "$W/c" >/dev/null
done
s3size() { python3 - "$AWS_ENDPOINT_URL" <<'PY'
import sys, urllib.request, re
ep = sys.argv[1]; tok = ""; total = 0
while True:
    u = ep + "/bench?list-type=2&prefix=prune/packs/" + ("&continuation-token=" + tok if tok else "")
    x = urllib.request.urlopen(u).read().decode()
    total += sum(int(s) for s in re.findall(r"<Size>(\d+)</Size>", x))
    m = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", x)
    if not m: break
    tok = urllib.parse.quote(m.group(1))
print(total)
PY
}
reqs() { grep -c '"[A-Z]* /[^"]* HTTP/[0-9.]*" [0-9]' "$W/moto.log" || true; }
before=$(s3size)
r0=$(reqs); measure "list ($N entries)" cache-store --store $S list; r1=$(reqs)
echo "  requests: $((r1 - r0))"
r0=$(reqs); measure "prune --keep-last 5 --prefix roll- --grace 0" \
	cache-store --store $S prune --keep-last 5 --prefix roll- --grace 0; r1=$(reqs)
after=$(s3size)
echo "  requests: $((r1 - r0)); packs $(mb "$before") MiB -> $(mb "$after") MiB"
r0=$(reqs); measure "prune --max-size $((MB * 2))M --grace 0 (repack)" \
	cache-store --store $S prune --max-size $((MB * 2))M --grace 0; r1=$(reqs)
echo "  requests: $((r1 - r0)); packs -> $(mb "$(s3size)") MiB"
cache-store --store $S check --read-data
kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true; MOTO_PID=

echo "## (b) local: a synthetic store of $SYN small entries"
L=$W/local
mkdir -p "$W/s"
for i in $(seq 1 100); do
	echo "$i $RANDOM" >"$W/s/f"
	head -c 2000 /dev/urandom >"$W/s/g"
	cache-save --store "$L" -k "syn-$i" -p "$W/s" >/dev/null
done
(cd "$L/keys" && for f in syn-*; do
	for j in $(seq 1 $((SYN / 100 - 1))); do cp -p "$f" "x$j-$f"; done
done)
echo "entries: $(ls "$L/keys" | wc -l), store $(du -sm "$L" | cut -f1) MB"
measure "list" cache-store --store "$L" list
measure "stats" cache-store --store "$L" stats
measure "prune --max-age 1d (reads every entry, deletes nothing)" \
	cache-store --store "$L" prune --max-age 1d
measure "prune --keep-last 100 --prefix syn- --grace 0 (deletes 9,900)" \
	cache-store --store "$L" prune --keep-last 100 --grace 0
echo "entries after: $(ls "$L/keys" | wc -l), store $(du -sm "$L" | cut -f1) MB"
# (No check here: the copies hold another key's manifest, which check
# rightly reports as damage; list and prune read summaries only.)
echo "local requests per entry: 1 ranged read (16 B) + 1 summary read; 5 directory listings per run"
