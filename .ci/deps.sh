#!/usr/bin/env bash
# Installs what building and testing cicache needs, from Debian packages.
# Idempotent: skips apt-get when everything is already there.
set -euo pipefail
pkgs=(build-essential pkg-config libzstd-dev libxxhash-dev zstd clang libclang-rt-14-dev
      time e2fsprogs libcurl4-openssl-dev libssl-dev awscli libarchive-dev libjansson-dev libexpat1-dev
      docker.io busybox-static python3-yaml)
# --packages: print the Debian packages above and stop (.ci/run installs
# them itself).
if [ "${1:-}" = --packages ]; then
	echo "${pkgs[*]}"
	exit 0
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# The GitHub Actions cache tests: Azurite and the official @actions/cache
# client, from the npm registry (cached in $CICACHE_NPM_DIR).
bash "$(dirname "$0")/../tests/gha/setup.sh"

# Node 24, the GitHub action's runtime (t0955), from the npm registry into
# $CICACHE_NPM_DIR/node24 (the system node, which npm above runs on, may be
# older).  Only when it is not there yet.
node24=${CICACHE_NPM_DIR:-/var/cache/cicache-npm}/node24
if ! "$node24/node_modules/.bin/node" -e 'process.exit(process.versions.node.split(".")[0] === "24" ? 0 : 1)' 2>/dev/null; then
	echo "deps: installing node@24 into $node24"
	mkdir -p "$node24"
	npm install --prefix "$node24" --no-audit --no-fund --loglevel=error \
		--cache "${CICACHE_NPM_DIR:-/var/cache/cicache-npm}/.npm-cache" node@24
fi

# `docker buildx` for the buildx driver's tests: Debian 12 has no buildx
# package, Debian 13 (trixie) has docker-buildx, a Go binary that needs
# only libc6.  It is fetched from trixie through apt itself (signed
# indexes, checked hashes) with a private source list and state, so the
# machine's own sources stay bookworm-only, then installed with dpkg.
if ! dpkg-query -W -f='${Status}' docker-buildx 2>/dev/null | grep -q 'install ok installed'; then
	t=$(mktemp -d)
	mkdir -p "$t/lists/partial" "$t/archives/partial"
	echo "deb http://deb.debian.org/debian trixie main" >"$t/trixie.list"
	aptx=(-o Dir::Etc::SourceList="$t/trixie.list" -o Dir::Etc::SourceParts=/nonexistent
	      -o Dir::State::Lists="$t/lists" -o Dir::Cache::Archives="$t/archives"
	      -o APT::Get::List-Cleanup=false)
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	echo "deps: installing docker-buildx from Debian 13 (trixie)"
	$SUDO apt-get "${aptx[@]}" update -q
	(cd "$t" && $SUDO chmod 777 "$t" && apt-get "${aptx[@]}" download docker-buildx)
	$SUDO dpkg -i "$t"/docker-buildx_*.deb
	$SUDO rm -rf "$t"
fi
