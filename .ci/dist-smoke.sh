#!/usr/bin/env bash
# .ci/dist-smoke.sh [ARCH]: the release binaries in CI.  Builds the
# tarball of ARCH (default: this machine's, x86_64 in CI) with `make dist`,
# then runs tests/t1100-dist.sh on it (static, empty chroot, --version
# --verbose, a save/restore round trip, TLS with the CA found or given)
# and a few of the project's own save/restore tests with CICACHE_BIN at
# the unpacked binaries (for another architecture, through wrappers that
# run them under qemu-ARCH-static); natively also cachebuild's Docker test
# (its copy builds then run the static cachebuild, no helper image), the
# GitLab template's install and the GitHub action's download of the
# tarball (node 24, no compiler on PATH: a miss, a save and a hit).
# A smoke test, not another full pass.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-$(uname -m)}
make dist DIST_ARCHES="$arch"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# t1010 runs the binaries as another user too.
chmod 755 "$t"
tar -C "$t" -xzf build/dist/cicache-*-linux-"$arch".tar.gz
bin=$(echo "$t"/cicache-*/bin)
if [ "$arch" != "$(uname -m)" ]; then
	mkdir "$t/emu"
	for b in "$bin"/*; do
		printf '#!/bin/sh\nexec qemu-%s-static %s "$@"\n' "$arch" "$b" >"$t/emu/${b##*/}"
		chmod +x "$t/emu/${b##*/}"
	done
	bin=$t/emu
fi
# The tests' helper binary (build/test-tool) comes from the host build.
nice -n 19 make -j2 build/test-tool
fail=0
smoke=(tests/t1100-dist.sh tests/t0010-regular-files.sh tests/t0020-directories.sh
       tests/t0030-symlinks.sh tests/t0120-outputs.sh)
# Natively: cachebuild's copy builds with the static binary itself and no
# helper image, the GitLab template installing this tarball, and the
# GitHub action downloading it.
[ "$arch" != "$(uname -m)" ] || smoke+=(tests/t1010-cachebuild-docker.sh tests/t0960-gitlab-install.sh
	tests/t0955-action-release.sh)
for s in "${smoke[@]}"; do
	echo "== $s"
	CICACHE_DIST_ARCH=$arch CICACHE_BIN=$bin bash "$s" || fail=1
done
if [ "$fail" = 0 ]; then
	echo "dist smoke test ($arch): passed"
else
	echo "dist smoke test ($arch): FAILED"
	exit 1
fi
