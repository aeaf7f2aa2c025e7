#!/usr/bin/env bash
# cicache cachebuild benchmark: an image built FROM a debootstrapped Debian
# 12 rootfs compiles a C project with ccache in a RUN --mount=type=cache
# directory.  Measured, each on a fresh builder (docker builder prune -af)
# unless said otherwise:
#   (1) cold: empty ccache, through cachebuild (nothing to inject; the
#       extract fills the host directory);
#   (2) warm on a builder that kept its cache (no prune, only the cache-bust
#       build argument changes): the reference; once more through
#       cachebuild, which then probes instead of injecting;
#   (3) warm on a fresh builder through cachebuild, injecting the host
#       directory from (1); and once more through --store/--key into an
#       empty runner directory (restore, inject, build, extract, save);
#   (3w) (3) with CACHEBUILD_FULL_EXTRACT=1: the whole mount extracted
#       instead of only its changes, for comparison;
#   (4) the same build on a fresh builder without cachebuild (cold again:
#       what a stateless runner loses);
#   (6) the CI case: one source file changed before each build (COPY and
#       the compile step run again), on a builder that kept its cache
#       (plain docker build) and on a fresh builder through cachebuild;
#   (5) (3) again with the host directory grown by ballast, for inject and
#       extract against the mount's size.
# Target: (3) within 1.2x of (2) (and (6f) of (6k)).  Also: ccache hits and misses of every
# build (from ccache's own counters, printed inside the RUN step), and the
# inject and extract times against the mount's size.  Called by
# `make bench` from the repo root.
#
#   BENCH_CB_FILES=150     generated C files in the project (40 functions
#                          each; 150 make a cold build of about 50 s on 2
#                          cores, a warm one of about 1.5 s)
#   BENCH_CB_REPEAT=3      runs of (2) and (3); the median is reported
#   BENCH_CB_SWEEP_MB="50 200"
#                          (5): the warm build on a fresh builder again with
#                          the host directory grown by this many MB of
#                          incompressible ballast, for inject and extract
#                          against the mount's size, once with the
#                          changes-only extract and once whole ("" skips)
#   BENCH_CB_MIRROR=URL    Debian mirror for debootstrap (default: the one
#                          apt uses, from /etc/apt/sources.list[.d])
#   BENCH_DIR=DIR          work dir (default: fresh dir under /tmp, removed
#                          at the end; a given one is kept)
#   BENCH_NPM_CACHE=DIR    where the debootstrapped rootfs tarball is kept
#                          between runs (default ~/.cache/cicache-bench)
#
# Needs root, dockerd and /usr/bin/docker (docker.io), /bin/busybox
# (busybox-static) and, for the first run, debootstrap and the Debian
# mirror: without them it prints a SKIP line and exits 0.  It starts its
# own dockerd on a private socket and data root under the work dir
# (no bridge network, no iptables) and stops it at the end.  Exits
# non-zero only when cachebuild fails or a warm build through it gets no
# ccache hits (the cache did not come back).
set -euo pipefail

BENCH_NAME=cachebuild.sh
# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_args "$@"
bench_clean_env
trap 'exit 130' INT
trap 'exit 143' TERM

BENCH_CB_FILES=${BENCH_CB_FILES:-150}
BENCH_CB_REPEAT=${BENCH_CB_REPEAT:-3}
BENCH_CB_SWEEP_MB=${BENCH_CB_SWEEP_MB-50 200}
if ! [[ $BENCH_CB_FILES =~ ^[0-9]+$ && $BENCH_CB_FILES -gt 0 && $BENCH_CB_REPEAT =~ ^[0-9]+$ && $BENCH_CB_REPEAT -gt 0 &&
	$BENCH_CB_SWEEP_MB =~ ^[0-9\ ]*$ ]]; then
	echo "$BENCH_NAME: BENCH_CB_FILES and BENCH_CB_REPEAT must be positive integers, BENCH_CB_SWEEP_MB a list of them" >&2
	exit 2
fi
CB_BIN=$REPO/bin/cachebuild
DOCKER=/usr/bin/docker

# The mirror apt uses (deb822 URIs: line or a one-line "deb URL bookworm"),
# else deb.debian.org.
apt_mirror() {
	local m=""
	m=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	if [[ -z $m ]]; then
		m=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}
BENCH_CB_MIRROR=${BENCH_CB_MIRROR:-$(apt_mirror)}

bench_header "cicache cachebuild benchmark (ccache in a BuildKit cache mount)" \
	"BENCH_CB_FILES=$BENCH_CB_FILES BENCH_CB_REPEAT=$BENCH_CB_REPEAT BENCH_CB_SWEEP_MB='$BENCH_CB_SWEEP_MB' BENCH_CB_MIRROR=$BENCH_CB_MIRROR"

skip() {
	echo "SKIP: $*"
	exit 0
}
[[ $(id -u) == 0 ]] || skip "dockerd and debootstrap need root"
have dockerd || skip "dockerd is missing (apt-get install docker.io)"
[[ -x $DOCKER ]] || skip "$DOCKER is missing (apt-get install docker.io)"
[[ -x /bin/busybox ]] || skip "/bin/busybox is missing (apt-get install busybox-static)"
[[ -x $CB_BIN ]] || skip "bin/cachebuild is not built (run make first)"
ROOTFS_PKGS=gcc,make,ccache,libc6-dev
ROOTFS_TAR=$BENCH_NPM_CACHE/cachebuild-rootfs-bookworm-${ROOTFS_PKGS//,/-}.tar
if [[ ! -f $ROOTFS_TAR ]]; then
	have debootstrap || skip "debootstrap is missing (apt-get install debootstrap) and no rootfs is cached in $ROOTFS_TAR"
fi
bench_find_time
echo "versions: $($DOCKER --version 2>/dev/null | head -n1) (client) | $(dockerd --version 2>/dev/null | head -n1) (daemon) |" \
	"$("$CB_BIN" --version 2>&1 | head -n1)"
echo

bench_workdir cicache-bench-cachebuild
W=$WORK/cachebuild
rm -rf "$W"
mkdir -p "$W/log"

# ---------------------------------------------------------------------------
# The base image's rootfs: debootstrapped once, kept as a tarball.
prepare_rootfs() {
	local dir=$W/rootfs t0
	if [[ -f $ROOTFS_TAR ]]; then
		echo "rootfs: reusing $ROOTFS_TAR ($(mb "$(bytes "$ROOTFS_TAR")") MB)"
		return 0
	fi
	echo "rootfs: debootstrap --variant=minbase --include=$ROOTFS_PKGS bookworm from $BENCH_CB_MIRROR (a minute or two)"
	t0=$SECONDS
	if ! debootstrap --variant=minbase --include="$ROOTFS_PKGS" bookworm "$dir" "$BENCH_CB_MIRROR" >"$W/log/debootstrap" 2>&1; then
		fail_log "$W/log/debootstrap"
		rm -rf "$dir"
		return 1
	fi
	mkdir -p "$BENCH_NPM_CACHE"
	# The downloaded .debs and device nodes are of no use in an image.
	if ! tar -C "$dir" --numeric-owner --exclude=./var/cache/apt/archives/*.deb \
		--exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
		-cf "$ROOTFS_TAR.tmp" .; then
		rm -rf "$dir" "$ROOTFS_TAR.tmp"
		return 1
	fi
	mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
	rm -rf "$dir"
	echo "rootfs: $ROOTFS_TAR ($(mb "$(bytes "$ROOTFS_TAR")") MB) in $((SECONDS - t0)) s"
}
prepare_rootfs || skip "debootstrap of bookworm from $BENCH_CB_MIRROR failed (see above)"

# ---------------------------------------------------------------------------
# Our own dockerd, as tests/t1010 starts it.
D=$W/docker
mkdir -p "$D"
dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
	-H "unix://$D/docker.sock" --data-root "$D/data" --exec-root "$D/exec" \
	--pidfile "$D/docker.pid" >"$D/dockerd.log" 2>&1 &
DOCKERD_PID=$!
# Registered after the work dir: runs before it is removed.
# shellcheck disable=SC2016
bench_at_exit 'kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null'
export DOCKER_HOST="unix://$D/docker.sock" CACHEBUILD_DOCKER=$DOCKER
unset CACHEBUILD_CACHE_ROOT CACHEBUILD_MAP CACHEBUILD_BUILDER CACHEBUILD_HELPER_IMAGE \
	CACHEBUILD_NO_INJECT CACHEBUILD_NO_EXTRACT CACHEBUILD_MOUNT_VARS CACHEBUILD_KEEP_TMP DOCKER_BUILDKIT
for _ in $(seq 1 300); do
	$DOCKER version >/dev/null 2>&1 && break
	kill -0 "$DOCKERD_PID" 2>/dev/null || break
	sleep 0.1
done
if ! $DOCKER version >/dev/null 2>&1; then
	tail -n 5 "$D/dockerd.log"
	skip "dockerd cannot start here: $(tail -n 1 "$D/dockerd.log")"
fi
echo "dockerd: $($DOCKER version --format '{{.Server.Version}}') on $DOCKER_HOST (pid $DOCKERD_PID)"

BASE=cbbench/debian-ccache:1 HELPER=cbbench/busybox:1
if ! $DOCKER import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	"$ROOTFS_TAR" "$BASE" >"$W/log/import" 2>&1; then
	fail_log "$W/log/import"
	skip "docker import of the rootfs failed"
fi
mkdir -p "$W/busybox/bin" "$W/busybox/tmp" "$W/busybox/etc"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$W/busybox/etc/passwd"
printf 'root:x:0:\n' >"$W/busybox/etc/group"
cp /bin/busybox "$W/busybox/bin/"
for a in $("$W/busybox/bin/busybox" --list); do
	[[ $a == busybox ]] || ln -s busybox "$W/busybox/bin/$a"
done
tar -C "$W/busybox" -c . | $DOCKER import -c "ENV PATH=/bin" - "$HELPER" >/dev/null
echo "images: $BASE (debootstrapped bookworm minbase + $ROOTFS_PKGS), $HELPER (cachebuild's helper)"

# ---------------------------------------------------------------------------
# The project.  A generated C corpus rather than a real package: the image
# holds only gcc, make, ccache and libc6-dev (no deb-src, no -dev packages
# for cicache's own libraries), and what ccache saves depends only on how
# much compiling there is, not on what the code does.  BENCH_CB_FILES
# translation units of 40 functions each (switches, nested loops, floating
# point, snprintf and string scanning, calls between them) make a cold
# build of tens of seconds on 2 cores and a warm one of a few seconds,
# so the fixed cost of a docker build does not hide the compiler's.
# Deterministic: the same files, byte for byte, in every run.
CTX=$W/app
mkdir -p "$CTX/src"
awk -v dir="$CTX/src" -v nfiles="$BENCH_CB_FILES" -v nfn=40 -v seed=1 '
function rnd(n) { S = (S * 1103515245 + 12345) % 2147483648; return int(S / 65536) % n }
BEGIN {
	S = seed + 0
	h = dir "/corpus.h"
	print "#ifndef CORPUS_H\n#define CORPUS_H\n#include <stdint.h>\n#include <stddef.h>\n#include <string.h>\n#include <stdio.h>\n#include <stdlib.h>" > h
	print "struct ctx { int64_t x[16]; double w[16]; char name[32]; uint32_t flags; };" > h
	for (f = 0; f < nfiles; f++) printf "int64_t m%03d_entry(struct ctx *c, const int32_t *v, size_t n);\n", f > h
	print "#endif" > h
	close(h)
	for (f = 0; f < nfiles; f++) {
		out = sprintf("%s/m%03d.c", dir, f)
		printf "#include \"corpus.h\"\n\nstatic const int32_t tbl[64] = {" > out
		for (i = 0; i < 64; i++) printf "%s%d", (i ? ", " : ""), rnd(100000) - 50000 > out
		print "};\n" > out
		for (g = 0; g < nfn; g++) {
			k = rnd(4)
			printf "static int64_t f%d(struct ctx *c, const int32_t *v, size_t n)\n{\n", g > out
			printf "\tint64_t acc = %d;\n\tdouble d = %d.5;\n\tfor (size_t i = 0; i < n; i++) {\n", rnd(1000), rnd(100) > out
			if (k == 0) {
				printf "\t\tswitch ((v[i] ^ (int32_t)acc) & 7) {\n" > out
				for (j = 0; j < 8; j++)
					printf "\t\tcase %d: acc = acc * %d + v[i] - tbl[(i + %d) & 63]; d += c->w[%d] * v[i]; break;\n", j, 3 + rnd(60), rnd(64), rnd(16) > out
				printf "\t\t}\n" > out
			} else if (k == 1) {
				printf "\t\tint32_t t = v[i] * %d + tbl[i & 63];\n", rnd(97) + 1 > out
				printf "\t\tfor (int j = 0; j < %d; j++) t = (t << 1) ^ (t >> %d) ^ tbl[(j * %d) & 63];\n", 4 + rnd(12), 1 + rnd(7), rnd(13) + 1 > out
				printf "\t\tacc += t > %d ? t : -t; d = d * 0.5 + c->w[i & 15];\n", rnd(5000) > out
			} else if (k == 2) {
				printf "\t\tdouble s = 0;\n\t\tfor (size_t j = 0; j < 16; j++) s += c->w[j] * (double)(v[i] + (int32_t)j * %d);\n", rnd(31) > out
				printf "\t\tif (s > %d.0) acc ^= (int64_t)s; else acc += c->x[(i + %d) & 15];\n\t\td += s / %d.0;\n", rnd(10000), rnd(16), rnd(50) + 1 > out
			} else {
				printf "\t\tchar buf[48];\n\t\tsnprintf(buf, sizeof(buf), \"%%d-%%.8s\", v[i] + %d, c->name);\n", rnd(1000) > out
				printf "\t\tfor (size_t j = 0; buf[j]; j++) acc = acc * 131 + (unsigned char)buf[j] + tbl[j & 63];\n" > out
				printf "\t\tif (strchr(buf, %d)) d -= 1.25; else d += c->w[%d];\n", 48 + rnd(10), rnd(16) > out
			}
			printf "\t}\n" > out
			if (g > 0) printf "\tacc += f%d(c, v + 1, n > 1 ? n - 1 : 0) & 0xff;\n", rnd(g) > out
			printf "\treturn acc + (int64_t)d;\n}\n\n" > out
		}
		printf "int64_t m%03d_entry(struct ctx *c, const int32_t *v, size_t n)\n{\n\tint64_t r = 0;\n", f > out
		for (g = 0; g < nfn; g++) printf "\tif (c->flags & %du) r += f%d(c, v, n);\n", 2 ^ (g % 31), g > out
		printf "\treturn r;\n}\n" > out
		close(out)
	}
	m = dir "/main.c"
	print "#include \"corpus.h\"\nint main(int argc, char **argv)\n{\n\tstruct ctx c = { .flags = (uint32_t)argc };\n\tint32_t v[64] = { 1 };\n\tint64_t r = 0;\n\t(void)argv;" > m
	for (f = 0; f < nfiles; f++) printf "\tr += m%03d_entry(&c, v, 64);\n", f > m
	print "\tprintf(\"%lld\\n\", (long long)r);\n\treturn 0;\n}" > m
	close(m)
}'
cat >"$CTX/src/Makefile" <<'EOF'
CC = gcc
CFLAGS = -O2 -Wall
SRC = $(wildcard *.c)
OBJ = $(SRC:.c=.o)
corpus: $(OBJ)
	$(CC) -o $@ $(OBJ)
%.o: %.c corpus.h
	$(CC) $(CFLAGS) -c $< -o $@
EOF
# ccache -z, then its counters after make: the step's hits and misses.
# BUST changes every build so that this RUN step runs every time (not
# --no-cache: that would also empty the cache mount, see cachebuild(1)).
cat >"$CTX/Dockerfile" <<'EOF'
FROM cbbench/debian-ccache:1
COPY src /src
WORKDIR /src
ARG BUST
RUN --mount=type=cache,target=/ccache \
    export CCACHE_DIR=/ccache && echo "build $BUST" && ccache -z >/dev/null && \
    make -j2 -s CC="ccache gcc" && ./corpus >/dev/null && \
    ccache --print-stats | sed -n 's/^\(direct_cache_hit\|preprocessed_cache_hit\|cache_miss\)\t/CCSTAT \1 /p'
EOF
NSRC=$(find "$CTX/src" -name '*.c' | wc -l)
echo "project: $NSRC C files, $(cat "$CTX"/src/*.c "$CTX"/src/*.h | wc -l) lines, $(mb "$(bytes "$CTX/src")") MB (generated, seed 1); make -j2, gcc -O2 through ccache"
echo

# ---------------------------------------------------------------------------
# Runs.  Every build is measured with lib.sh's measure (wall time); its log
# holds docker's plain progress output, hence the CCSTAT lines, and
# cachebuild's messages.
BUILD_ARGS=(--network=none --progress=plain -t cbbench/app)
prune() { $DOCKER builder prune -af >/dev/null 2>&1 || echo "docker builder prune -af failed"; }
# A new value for every build (called in a subshell: no counter).
bust() { date +%s.%N; }
# ccstats LOG: "HITS/MISSES" of the RUN step (direct + preprocessed hits).
ccstats() {
	awk '{ for (i = 1; i < NF; i++) if ($i == "CCSTAT") v[$(i + 1)] = $(i + 2) }
	END { if (!("cache_miss" in v)) print "n/a"; else printf "%d/%d\n", v["direct_cache_hit"] + v["preprocessed_cache_hit"], v["cache_miss"] }' "$1"
}
# summary LOG: "INJECT_S EXTRACT_S BUILD_S RESTORE_S SAVE_S" from
# cachebuild's summary line ("n/a" where absent).
summary() {
	local line
	line=$(grep -E 'cache mounts?: injected' "$1" | tail -n 1 || true)
	if [[ -z $line ]]; then
		echo "n/a n/a n/a n/a n/a"
		return
	fi
	awk -v l="$line" 'BEGIN {
		inj = ext = bld = rst = sav = "n/a"
		if (match(l, /injected [0-9]+ \([^,]*, [0-9.]+ s\)/)) { s = substr(l, RSTART, RLENGTH); sub(/ s\)$/, "", s); sub(/.*, /, "", s); inj = s }
		if (match(l, /extracted [0-9]+ \([^,]*, [0-9.]+ s\)/)) { s = substr(l, RSTART, RLENGTH); sub(/ s\)$/, "", s); sub(/.*, /, "", s); ext = s }
		if (match(l, /build [0-9.]+ s/)) { s = substr(l, RSTART + 6, RLENGTH - 8); bld = s }
		if (match(l, /restore [0-9.]+ s/)) { s = substr(l, RSTART + 8, RLENGTH - 10); rst = s }
		if (match(l, /save [0-9.]+ s/)) { s = substr(l, RSTART + 5, RLENGTH - 7); sav = s }
		print inj, ext, bld, rst, sav }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
tree_mb() { mb "$(bytes "$1")"; }
rate() { awk -v m="$1" -v s="$2" 'BEGIN { if (m == "n/a" || s == "n/a" || s + 0 == 0) print "n/a"; else printf "%.0f", m / s }'; }
tree_files() { find "$1" -type f | wc -l; }
# sent_mb LOG: what the extract sent, in MB, from "extracted N (SIZE, ...".
sent_mb() {
	grep -E 'cache mounts?: injected' "$1" | tail -n 1 |
		sed -n 's/.*extracted [0-9]* (\([0-9.]*\) \([KMG]\{0,1\}i\{0,1\}B\).*/\1 \2/p' |
		awk '{ f = $2 == "KiB" ? 1024 : $2 == "MiB" ? 1048576 : $2 == "GiB" ? 1073741824 : 1
		       printf "%.2f\n", $1 * f / 1e6 }' | grep . || echo n/a
}

# docker_build LOG: a plain build (no cachebuild); sets T.
docker_build() {
	local log=$1
	if ! measure "$W" "$log" env DOCKER_BUILDKIT=1 "$DOCKER" build "${BUILD_ARGS[@]}" --build-arg "BUST=$(bust)" "$CTX"; then
		echo "docker build failed (not cicache): $log"
		fail_log "$log"
		return 1
	fi
}
# cb_build LOG CACHEBUILD-OPTION...: a build through cachebuild; sets T.
cb_build() {
	local log=$1
	shift
	if ! measure "$W" "$log" "$CB_BIN" --helper-image "$HELPER" "$@" -- \
		"${BUILD_ARGS[@]}" --build-arg "BUST=$(bust)" "$CTX"; then
		echo "**FAIL: cachebuild failed**: $CB_BIN --helper-image $HELPER $* -- ${BUILD_ARGS[*]} --build-arg BUST=... $CTX"
		fail_log "$log"
		FAILED=1
		return 1
	fi
}

# The host directory behind the cache mount: where cachebuild's default
# --cache-root would put it in runner1, so that (3s) can save it from there
# under the relative path a cachebuild run in another directory restores.
HOST=$W/runner1/.cachebuild/ccache
declare -A R
ROWS=()
# row NAME LOG WALL: one line of the main table.
row() {
	local name=$1 log=$2 wall=$3 inj ext bld rst sav other
	read -r inj ext bld rst sav < <(summary "$log")
	# What the summary line does not attribute: start-up, checking the
	# builder, the Dockerfile scan, signatures, the probe.
	other=$(awk -v w="$wall" -v a="$inj" -v b="$bld" -v c="$ext" -v d="$rst" -v e="$sav" \
		'BEGIN { if (b == "n/a") print "n/a"; else printf "%.2f", w - a - b - c - (d == "n/a" ? 0 : d) - (e == "n/a" ? 0 : e) }')
	ROWS+=("| $name | $wall | $inj | $bld | $ext | $rst | $sav | $other | $(ccstats "$log") |")
}

echo "(1) cold, fresh builder, empty host directory, through cachebuild"
prune
rm -rf "$W/runner1"
if cb_build "$W/log/1-cold" --map "/ccache=$HOST"; then
	R[cold]=$T
	row "(1) cold, fresh builder, cachebuild (nothing to inject)" "$W/log/1-cold" "$T"
	read -r _ ext _ _ _ < <(summary "$W/log/1-cold")
	R[cold_extract]=$ext
fi
if [[ ! -d $HOST ]]; then
	echo "**FAIL: the cold build left no host directory $HOST**"
	FAILED=1
	R[mount_mb]=n/a R[mount_files]=n/a
else
	R[mount_mb]=$(tree_mb "$HOST") R[mount_files]=$(tree_files "$HOST")
	echo "    host directory after (1): ${R[mount_files]} files, ${R[mount_mb]} MB"
fi

echo "(2) warm, builder kept its cache (reference), x$BENCH_CB_REPEAT"
warm=()
for i in $(seq 1 "$BENCH_CB_REPEAT"); do
	if docker_build "$W/log/2-warm-kept-$i"; then
		warm+=("$T")
		row "(2) warm, builder kept its cache, plain docker build, run $i" "$W/log/2-warm-kept-$i" "$T"
	fi
done
R[warm_kept]=n/a
((${#warm[@]})) && R[warm_kept]=$(median "${warm[@]}")

# For comparison: a runner that kept its builder and still goes through
# cachebuild (a probe instead of the inject, then the extract).  The plain
# builds of (2) wrote to the mount after cachebuild recorded it, so the
# first run injects again; the second one is the steady state.
echo "(2c) warm, builder kept its cache, through cachebuild, x2"
for i in 1 2; do
	log=$W/log/2c-warm-kept-cachebuild-$i
	if [[ ! -d $HOST ]] || ! cb_build "$log" --map "/ccache=$HOST"; then
		continue
	fi
	if grep -q 'inject skipped' "$log"; then
		how="probe, inject skipped"
	else
		how="probe, mount changed since: injected"
	fi
	row "(2c) warm, builder kept its cache, cachebuild ($how), run $i" "$log" "$T"
done

echo "(3) warm, fresh builder, cachebuild injects the host directory, x$BENCH_CB_REPEAT"
fresh=() fresh_build=() INJ=() EXT=()
if [[ -d $HOST ]]; then
	for i in $(seq 1 "$BENCH_CB_REPEAT"); do
		prune
		log=$W/log/3-warm-cachebuild-$i
		if cb_build "$log" --map "/ccache=$HOST"; then
			fresh+=("$T")
			row "(3) warm, fresh builder, cachebuild --map, run $i" "$log" "$T"
			read -r inj ext bld _ _ < <(summary "$log")
			fresh_build+=("$bld") INJ+=("$inj") EXT+=("$ext")
			st=$(ccstats "$log")
			if [[ $st == n/a || ${st%/*} -eq 0 ]]; then
				echo "**FAIL: run $i of (3): no ccache hits ($st): the cache did not come back**"
				FAILED=1
			fi
		fi
	done
fi
R[warm_fresh]=n/a R[warm_fresh_build]=n/a R[inject]=n/a R[extract]=n/a
if ((${#fresh[@]})); then
	R[warm_fresh]=$(median "${fresh[@]}") R[warm_fresh_build]=$(median "${fresh_build[@]}")
	R[inject]=$(median "${INJ[@]}") R[extract]=$(median "${EXT[@]}")
fi

echo "(3w) as (3) with CACHEBUILD_FULL_EXTRACT=1 (the whole mount extracted, not only its changes), x$BENCH_CB_REPEAT"
whole=() WEXT=()
if [[ -d $HOST ]]; then
	export CACHEBUILD_FULL_EXTRACT=1
	for i in $(seq 1 "$BENCH_CB_REPEAT"); do
		prune
		log=$W/log/3w-warm-cachebuild-whole-$i
		if cb_build "$log" --map "/ccache=$HOST"; then
			whole+=("$T")
			row "(3w) warm, fresh builder, cachebuild, whole extract, run $i" "$log" "$T"
			read -r _ ext _ _ _ < <(summary "$log")
			WEXT+=("$ext")
		fi
	done
	unset CACHEBUILD_FULL_EXTRACT
fi
R[warm_whole]=n/a R[extract_whole]=n/a
((${#whole[@]})) && R[warm_whole]=$(median "${whole[@]}") R[extract_whole]=$(median "${WEXT[@]}")

echo "(3s) the same through a store: cache-save of (1)'s host directory, then cachebuild --store --key in an empty runner directory"
STORE=$W/store
R[save1]=n/a R[store_total]=n/a
if [[ -d $HOST ]] && measure "$W/runner1" "$W/log/3s-save" "$SAVE_BIN" --store "$STORE" --key cb-1 --path .cachebuild/ccache --quiet; then
	R[save1]=$T
	prune
	mkdir -p "$W/runner2"
	if measure "$W/runner2" "$W/log/3s-store" "$CB_BIN" --helper-image "$HELPER" --store "$STORE" --key cb-2 \
		--restore-key cb- -- \
		"${BUILD_ARGS[@]}" --build-arg "BUST=$(bust)" "$CTX"; then
		R[store_total]=$T
		row "(3s) warm, fresh builder, empty runner dir, cachebuild --store/--key (restore, inject, build, extract, save)" "$W/log/3s-store" "$T"
		grep -q '^cache-matched-key=cb-1$' "$W/log/3s-store" || {
			echo "**FAIL: (3s): cache-restore did not match cb-1**"
			FAILED=1
		}
		grep -q '^cache-saved=true$' "$W/log/3s-store" || {
			echo "**FAIL: (3s): cachebuild did not save cb-2**"
			FAILED=1
		}
		st=$(ccstats "$W/log/3s-store")
		if [[ $st == n/a || ${st%/*} -eq 0 ]]; then
			echo "**FAIL: (3s): no ccache hits ($st): the cache did not come back**"
			FAILED=1
		fi
	else
		echo "**FAIL: cachebuild --store/--key failed**"
		fail_log "$W/log/3s-store"
		FAILED=1
	fi
elif [[ -d $HOST ]]; then
	echo "**FAIL: cache-save of the host directory failed**"
	fail_log "$W/log/3s-save"
	FAILED=1
fi

# The ccache of this project is small (compressed objects of a few MB);
# real ones reach hundreds of MB.  So the inject and extract are measured
# again with the host directory grown by incompressible ballast (ccache
# stores its objects zstd-compressed; the ballast is a subdirectory ccache
# never reads), in 128 KiB files, each on a fresh builder.
SWEEP=()
for mbs in $BENCH_CB_SWEEP_MB; do
	echo "(5) warm, fresh builder, cachebuild, host directory grown by $mbs MB of ballast"
	SD=$W/sweep-$mbs/ccache
	rm -rf "$W/sweep-$mbs"
	mkdir -p "$(dirname "$SD")"
	[[ -d $HOST ]] || break
	cp -a "$HOST" "$SD"
	mkdir -p "$SD/zz-ballast"
	head -c "$((mbs * 1048576))" /dev/urandom | (cd "$SD/zz-ballast" && split -b 131072 -a 5 - b)
	sync
	smb=$(tree_mb "$SD") sfiles=$(tree_files "$SD")
	prune
	log=$W/log/5-sweep-$mbs
	if cb_build "$log" --map "/ccache=$SD"; then
		read -r inj ext bld _ _ < <(summary "$log")
		st=$(ccstats "$log")
		if [[ $st == n/a || ${st%/*} -eq 0 ]]; then
			echo "**FAIL: (5) with $mbs MB of ballast: no ccache hits ($st): the cache did not come back**"
			FAILED=1
		fi
		wall=$T wext=n/a
		prune
		export CACHEBUILD_FULL_EXTRACT=1
		cb_build "$log-whole" --map "/ccache=$SD" && read -r _ wext _ _ _ < <(summary "$log-whole")
		unset CACHEBUILD_FULL_EXTRACT
		SWEEP+=("| $smb | $sfiles | $inj | $(rate "$smb" "$inj") | $ext | $(sent_mb "$log") | $wext | $bld | $wall | $(ratio "$wall" "${R[warm_kept]}") | $(ccstats "$log") |")
	fi
	rm -rf "$W/sweep-$mbs"
done

# (6) What CI builds look like: each commit changes some source, so the
# COPY step and the compile step run again on every builder, kept or
# fresh.  One new function is appended to one C file before each build:
# one ccache miss, the rest hits.
EDITS=0
edit_source() {
	EDITS=$((EDITS + 1))
	echo "int cbbench_edit_$EDITS(void) { return $EDITS; }" >>"$CTX/src/m000.c"
}
echo "(6) one source file changed before each build: builder kept its cache (plain docker build) and fresh builder through cachebuild, x$BENCH_CB_REPEAT each"
commit_kept=() commit_fresh=()
for i in $(seq 1 "$BENCH_CB_REPEAT"); do
	edit_source
	if docker_build "$W/log/6-commit-kept-$i"; then
		commit_kept+=("$T")
		row "(6k) one file changed, builder kept its cache, plain docker build, run $i" "$W/log/6-commit-kept-$i" "$T"
	fi
done
if [[ -d $HOST ]]; then
	for i in $(seq 1 "$BENCH_CB_REPEAT"); do
		edit_source
		prune
		log=$W/log/6-commit-fresh-$i
		if cb_build "$log" --map "/ccache=$HOST"; then
			commit_fresh+=("$T")
			row "(6f) one file changed, fresh builder, cachebuild --map, run $i" "$log" "$T"
		fi
	done
fi
R[commit_kept]=n/a R[commit_fresh]=n/a
((${#commit_kept[@]})) && R[commit_kept]=$(median "${commit_kept[@]}")
((${#commit_fresh[@]})) && R[commit_fresh]=$(median "${commit_fresh[@]}")

echo "(4) fresh builder, plain docker build (no cachebuild)"
prune
R[cold_plain]=n/a
if docker_build "$W/log/4-cold-plain"; then
	R[cold_plain]=$T
	row "(4) fresh builder, plain docker build (cold again)" "$W/log/4-cold-plain" "$T"
fi
prune

# ---------------------------------------------------------------------------
echo
echo "## cachebuild: ccache in a cache mount, $NSRC C files (gcc -O2, make -j2)"
echo
echo "Wall times in seconds; inject, build, extract, restore and save are the phases cachebuild's summary line reports, other the rest of its wall time (start-up, builder check, Dockerfile scan, signatures, the probe); ccache hits/misses are ccache's counters for the RUN step."
echo
echo "| run | wall s | inject s | build s | extract s | restore s | save s | other s | ccache hits/misses |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
r=$(ratio "${R[warm_fresh]}" "${R[warm_kept]}")
echo "warm build on a fresh builder through cachebuild (3), median ${R[warm_fresh]} s, vs warm build on a builder that kept its cache (2), median ${R[warm_kept]} s: **${r}x** $(target "$r" 1.2)"
echo "the build phase alone of (3), median ${R[warm_fresh_build]} s, vs (2): $(ratio "${R[warm_fresh_build]}" "${R[warm_kept]}")x"
echo "cold build (4) ${R[cold_plain]} s vs (3): cachebuild saves $(awk -v a="${R[cold_plain]}" -v b="${R[warm_fresh]}" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.1f", a - b }') s per build on a fresh runner ($(ratio "${R[cold_plain]}" "${R[warm_fresh]}")x faster)"
r6=$(ratio "${R[commit_fresh]}" "${R[commit_kept]}")
echo "one source file changed (6): fresh builder through cachebuild, median ${R[commit_fresh]} s, vs builder that kept its cache, median ${R[commit_kept]} s: **${r6}x** $(target "$r6" 1.2)"
echo "whole extract (3w), median ${R[warm_whole]} s wall, extract ${R[extract_whole]} s, against the changes-only extract of (3): ${R[extract]} s"
echo "through a store (3s): ${R[store_total]} s wall for restore + inject + build + extract + save ($(ratio "${R[store_total]}" "${R[warm_kept]}")x the reference); cache-save of (1)'s host directory: ${R[save1]} s"
echo
echo "Inject and extract against the mount's size (warm builds on a fresh builder through cachebuild; first line: the medians of (3), the project's own ccache; then (5), the same ccache plus ballast; each inject and extract is one helper build on $HELPER, so it includes a docker build's fixed cost):"
echo
echo "| mount MB | files | inject s | inject MB/s | extract s (changes only) | extract sent MB | whole extract s | build s | wall s | wall / (2) | ccache hits/misses |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
echo "| ${R[mount_mb]} | ${R[mount_files]} | ${R[inject]} | $(rate "${R[mount_mb]}" "${R[inject]}") | ${R[extract]} | | ${R[extract_whole]} | ${R[warm_fresh_build]} | ${R[warm_fresh]} | $(ratio "${R[warm_fresh]}" "${R[warm_kept]}") | |"
((${#SWEEP[@]})) && printf '%s\n' "${SWEEP[@]}"
echo
echo "(the cold run's extract of ${R[mount_mb]} MB: ${R[cold_extract]:-n/a} s)"
load_note

echo
if ((FAILED)); then
	echo "**FAIL: cachebuild failed or the cache did not come back (see FAIL lines above)**"
	exit 1
fi
echo "bench done"
