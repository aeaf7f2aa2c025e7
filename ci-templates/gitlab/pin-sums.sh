#!/bin/sh
# pin-sums.sh SHA256SUMS [OWNER/REPO] [TEMPLATE]: writes the version and
# the SHA-256 sums of the release tarballs listed in SHA256SUMS (as `make
# dist` writes it) into the GitLab template (default: the
# cicache.gitlab-ci.yml beside this script): CICACHE_VERSION,
# CICACHE_SHA256_X86_64, CICACHE_SHA256_AARCH64 and, when given,
# CICACHE_REPOSITORY.  The release workflow runs it on a copy that it
# attaches to the release; run it on the committed file to pin a release
# in the repository.
set -eu
sums=${1:?usage: pin-sums.sh SHA256SUMS [OWNER/REPO] [TEMPLATE]}
repo=${2:-}
template=${3:-$(dirname "$0")/cicache.gitlab-ci.yml}
version=
set_var() {	# NAME VALUE
	grep -q "^    $1: \"[^\"]*\"\$" "$template" ||
		{ echo "pin-sums: no '$1' variable in $template" >&2; exit 1; }
	sed "s|^    $1: \"[^\"]*\"\$|    $1: \"$2\"|" "$template" >"$template.tmp"
	mv "$template.tmp" "$template"
}
while read -r sum name; do
	name=${name#\*}
	case $name in
	cicache-*-linux-x86_64.tar.gz) arch=X86_64 v=${name#cicache-}; v=${v%-linux-x86_64.tar.gz} ;;
	cicache-*-linux-aarch64.tar.gz) arch=AARCH64 v=${name#cicache-}; v=${v%-linux-aarch64.tar.gz} ;;
	*) continue ;;
	esac
	case $sum in
	*[!0-9a-f]*|'') echo "pin-sums: bad sum for $name in $sums" >&2; exit 1 ;;
	esac
	[ ${#sum} -eq 64 ] || { echo "pin-sums: bad sum for $name in $sums" >&2; exit 1; }
	if [ -n "$version" ] && [ "$version" != "$v" ]; then
		echo "pin-sums: $sums mixes versions $version and $v" >&2
		exit 1
	fi
	version=$v
	set_var "CICACHE_SHA256_$arch" "$sum"
	echo "pin-sums: $name $sum"
done <"$sums"
[ -n "$version" ] || { echo "pin-sums: no release tarball in $sums" >&2; exit 1; }
set_var CICACHE_VERSION "$version"
[ -z "$repo" ] || set_var CICACHE_REPOSITORY "$repo"
echo "pin-sums: $template pins cicache $version"
