#!/usr/bin/env bash
# The helper builds of cachebuild alone, both ways: the static cachebuild
# run on an empty image (--helper-bin, the default of a static
# cachebuild) and the shell scripts on a busybox image (--helper-image,
# the only way before).  A one-RUN build on busybox whose cache mount
# holds a host directory of FILES files (MB megabytes in all) and changes
# one file in it; measured, each REPEAT times, medians reported:
#   fresh: after docker builder prune -af: inject, build, extract (only
#          the changes)
#   full:  the same with CACHEBUILD_FULL_EXTRACT=1 (the whole mount back)
#   kept:  the builder kept its cache: probe instead of inject, extract
# Times are cachebuild's own ("inject: X s, of which Y s in the helper
# build"), wall the whole cachebuild run.
#
#   tests/bench/cachebuild-helper.sh [STATIC-CACHEBUILD]
#   BENCH_CBH_TREES="600:3 2000:50"   FILES:MB of each host directory
#   BENCH_CBH_REPEAT=5
# The static cachebuild defaults to bin/cachebuild when it is static, else
# the one in build/dist's tarball for this machine (make dist
# DIST_ARCHES=x86_64).  Needs root, dockerd, /usr/bin/docker and
# /bin/busybox; starts its own dockerd on a private socket.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
DOCKER=/usr/bin/docker
TREES=${BENCH_CBH_TREES:-600:3 2000:50}
REPEAT=${BENCH_CBH_REPEAT:-5}
W=$(mktemp -d /tmp/cicache-bench-cbh.XXXXXX)
D=$W/d
trap 'kill "${DOCKERD_PID:-}" 2>/dev/null; wait "${DOCKERD_PID:-}" 2>/dev/null; rm -rf "$W"' EXIT

[[ $(id -u) == 0 ]] || { echo "SKIP: dockerd needs root"; exit 0; }
command -v dockerd >/dev/null && [[ -x $DOCKER && -x /bin/busybox ]] ||
	{ echo "SKIP: needs dockerd, $DOCKER and /bin/busybox"; exit 0; }
STATIC=${1:-}
if [[ -z $STATIC ]]; then
	if readelf -lW bin/cachebuild >/dev/null 2>&1 && ! readelf -lW bin/cachebuild | grep -q INTERP; then
		STATIC=$REPO/bin/cachebuild
	else
		t=$(ls build/dist/cicache-*-linux-"$(uname -m)".tar.gz 2>/dev/null | head -n 1)
		[[ -n $t ]] || { echo "SKIP: no static cachebuild (make dist DIST_ARCHES=$(uname -m))"; exit 0; }
		tar -xzf "$t" -C "$W"
		STATIC=$(find "$W" -path "*/bin/cachebuild" | head -n 1)
	fi
fi
"$STATIC" --help | grep -q -- --helper-bin || { echo "SKIP: $STATIC has no --helper-bin"; exit 0; }

mkdir -p "$D"
dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
	-H "unix://$D/docker.sock" --data-root "$D/data" --exec-root "$D/exec" \
	--pidfile "$D/docker.pid" >"$D/dockerd.log" 2>&1 &
DOCKERD_PID=$!
export DOCKER_HOST="unix://$D/docker.sock" CACHEBUILD_DOCKER=$DOCKER
unset CACHEBUILD_CACHE_ROOT CACHEBUILD_MAP CACHEBUILD_BUILDER CACHEBUILD_HELPER_IMAGE \
	CACHEBUILD_HELPER_BIN CACHEBUILD_NO_INJECT CACHEBUILD_NO_EXTRACT CACHEBUILD_FULL_EXTRACT
for _ in $(seq 1 300); do
	$DOCKER version >/dev/null 2>&1 && break
	sleep 0.1
done
mkdir -p "$W/bb/bin" "$W/bb/tmp"
cp /bin/busybox "$W/bb/bin/"
for a in $("$W/bb/bin/busybox" --list); do [[ $a == busybox ]] || ln -s busybox "$W/bb/bin/$a"; done
tar -C "$W/bb" -c . | $DOCKER import -c "ENV PATH=/bin" - cbh/busybox:1 >/dev/null
mkdir -p "$W/app"
cat >"$W/app/Dockerfile" <<'EOF'
FROM cbh/busybox:1
ARG BUST
RUN --mount=type=cache,id=c,target=/c echo "$BUST" >/c/bust
EOF

echo "# cachebuild helper builds: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), docker $($DOCKER version --format '{{.Server.Version}}')"
echo "# static helper: $STATIC ($(stat -c %s "$STATIC") bytes); image helper: busybox $(/bin/busybox | head -n 1 | awk '{ print $2 }')"
fmt() { [[ $1 == - ]] && echo - || printf '%.2f' "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# phase LOG NAME: "TOTAL/HELPER" seconds of NAME (inject, extract) or "-".
phase() {
	sed -n "s/.*$2: \([0-9.]*\) s, of which \([0-9.]*\) s in the helper build.*/\1 \2/p" "$1" | tail -n 1 | grep . || echo "- -"
}
probe() { sed -n 's/.*probed the builder in \([0-9.]*\) s.*/\1/p' "$1" | tail -n 1 | grep . || echo -; }
n=0
printf '| tree | helper | case | inject s (helper build) | probe s | extract s (helper build) | wall s |\n|---|---|---|---:|---:|---:|---:|\n'
for tree in $TREES; do
	files=${tree%%:*} mb=${tree##*:}
	host=$W/host-$files
	mkdir -p "$host"
	for i in $(seq 1 "$files"); do
		mkdir -p "$host/d$((i % 16))"
		head -c $((mb * 1000000 / files)) /dev/urandom >"$host/d$((i % 16))/f$i"
	done
	for case in fresh full kept; do
		declare -A acc=()
		# The two helpers alternate, so that both see the same load.
		for r in $(seq 1 "$REPEAT"); do
			for helper in bin image; do
				if [[ $helper == bin ]]; then opt=(--helper-bin "$STATIC"); else opt=(--helper-image cbh/busybox:1); fi
				n=$((n + 1))
				rm -rf "$W/hd" && cp -a "$host" "$W/hd"
				[[ $case == kept ]] || $DOCKER builder prune -af >/dev/null
				env=()
				[[ $case == full ]] && env=(CACHEBUILD_FULL_EXTRACT=1)
				if [[ $case == kept ]]; then	# put the tree in, then measure the next run
					"$STATIC" -v "${opt[@]}" --map "c=$W/hd" -- --network=none \
						--build-arg BUST=$n-0 "$W/app" >/dev/null 2>&1
				fi
				t0=$(date +%s.%N)
				env "${env[@]}" "$STATIC" -v "${opt[@]}" --map "c=$W/hd" -- --network=none \
					--build-arg BUST=$n "$W/app" >"$W/log" 2>&1 ||
					{ echo "cachebuild failed:"; tail -n 20 "$W/log"; exit 1; }
				acc[$helper.wall]+=" $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')"
				read -r x y <<<"$(phase "$W/log" inject)"; acc[$helper.inj]+=" $x"; acc[$helper.injh]+=" $y"
				read -r x y <<<"$(phase "$W/log" extract)"; acc[$helper.ext]+=" $x"; acc[$helper.exth]+=" $y"
				acc[$helper.prb]+=" $(probe "$W/log")"
				[[ $(cat "$W/hd/bust") == "$n" ]] || { echo "the extract did not bring /c/bust back"; exit 1; }
			done
		done
		for helper in bin image; do
			m() { fmt "$(median ${acc[$helper.$1]})"; }
			printf '| %s files, %s MB | %s | %s | %s (%s) | %s | %s (%s) | %s |\n' "$files" "$mb" \
				"$([[ $helper == bin ]] && echo "static cachebuild, FROM scratch" || echo "busybox image, sh scripts")" \
				"$case" "$(m inj)" "$(m injh)" "$(m prb)" "$(m ext)" "$(m exth)" "$(m wall)"
		done
		unset acc
	done
done
