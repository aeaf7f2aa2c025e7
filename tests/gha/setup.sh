#!/usr/bin/env bash
# tests/gha/setup.sh: installs, once, what the GitHub Actions cache tests
# run: Azurite (the Azure Blob emulator), the official @actions/cache
# client and @actions/glob (t0172's oracle for path patterns), with npm, into $CICACHE_NPM_DIR (default /var/cache/cicache-npm).
# Idempotent: a second run with everything in place does nothing.  Prints
# the directory on success and only errors otherwise.
#
#   NPM_DIR=$(tests/gha/setup.sh) || exit 1
set -u
DIR=${CICACHE_NPM_DIR:-/var/cache/cicache-npm}
AZURITE_SPEC=${CICACHE_AZURITE_SPEC:-azurite@3}
ACTIONS_CACHE_SPEC=${CICACHE_ACTIONS_CACHE_SPEC:-@actions/cache@6}
ACTIONS_GLOB_SPEC=${CICACHE_ACTIONS_GLOB_SPEC:-@actions/glob@0.7}

case $(basename "$DIR") in
azurite) echo "setup.sh: '$DIR': npm refuses a directory named azurite" >&2; exit 1 ;;
esac
have() {
	[ -x "$DIR/node_modules/.bin/azurite-blob" ] &&
	[ -f "$DIR/node_modules/@actions/cache/package.json" ] &&
	[ -f "$DIR/node_modules/@actions/glob/package.json" ] &&
	node -e 'const v = require(process.argv[1]).version;
		 process.exit(/^6\./.test(v) ? 0 : 1)' \
		"$DIR/node_modules/@actions/cache/package.json" 2>/dev/null
}
have && { echo "$DIR"; exit 0; }
command -v npm >/dev/null || { echo "setup.sh: npm is required (Node 20)" >&2; exit 1; }
mkdir -p "$DIR" || exit 1
# Tests may run side by side: one installs, the others wait for it.
exec 9>"$DIR/.install.lock" && flock 9 || exit 1
have && { echo "$DIR"; exit 0; }
[ -f "$DIR/package.json" ] || echo '{"name":"cicache-test-deps","private":true}' >"$DIR/package.json"
log=$(mktemp)
if ! npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error \
	--cache "$DIR/.npm-cache" "$AZURITE_SPEC" "$ACTIONS_CACHE_SPEC" "$ACTIONS_GLOB_SPEC" >"$log" 2>&1; then
	echo "setup.sh: npm install of $AZURITE_SPEC $ACTIONS_CACHE_SPEC $ACTIONS_GLOB_SPEC into '$DIR' failed:" >&2
	tail -n 20 "$log" >&2
	rm -f "$log"
	exit 1
fi
rm -f "$log"
have || { echo "setup.sh: '$DIR' still lacks azurite-blob, @actions/cache 6.x or @actions/glob" >&2; exit 1; }
echo "$DIR"
