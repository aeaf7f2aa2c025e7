#!/usr/bin/env bash
# A real save + restore on the default store ($XDG_CACHE_HOME/cicache/store
# or ~/.cache/cicache/store), as a CI job would run it:
#   1. save the sources of this checkout under a key,
#   2. restore them on a "fresh runner" (an empty directory),
#   3. compare, then save again under a new key to show deduplication.
# Usage: ci-templates/shell/demo.sh [BINDIR]   (BINDIR defaults to ./bin)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$top/bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/cicache-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
key="demo-$(date +%s)-$$"

echo "== save: common/ and tools/ under key '$key'"
(cd "$top" && "$bin/cache-save" --key "$key" --path common --path tools)

echo "== restore on an empty runner directory ($work/runner)"
mkdir "$work/runner"
(cd "$work/runner" && "$bin/cache-restore" --key "$key" --restore-key demo-)

echo "== compare"
diff -r "$top/common" "$work/runner/common"
diff -r "$top/tools" "$work/runner/tools"
echo "restored trees are identical"

echo "== save again under a new key: only new chunks are stored"
(cd "$work/runner" && "$bin/cache-save" --key "$key-2" --path common --path tools)
