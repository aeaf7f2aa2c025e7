#!/usr/bin/env bash
# Installs what building and testing cicache needs, from Debian packages.
# Idempotent: skips apt-get when everything is already there.
set -euo pipefail
pkgs=(build-essential pkg-config libzstd-dev libxxhash-dev zstd clang libclang-rt-14-dev
      time e2fsprogs libcurl4-openssl-dev libssl-dev awscli libarchive-dev
      docker.io busybox-static)
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
