# tests/lib.sh: sourced by every tests/tNNNN-*.sh (after the manner of
# git's t/test-lib.sh).  Each script runs in a fresh trash directory with
# its own HOME; test_expect_success runs a body in a subshell with set -e
# and prints "ok N - what" or "not ok N - what" plus the body's output.
set -u
TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(cd "$(dirname "$0")" && pwd)
CICACHE_BIN=${CICACHE_BIN:-$TEST_DIR/../bin}
CICACHE_BUILD=${CICACHE_BUILD:-$TEST_DIR/../build}
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/cicache-$TEST_NAME.XXXXXX")
export PATH="$CICACHE_BIN:$PATH"
export TEST_TOOL="$CICACHE_BUILD/test-tool"
export HOME="$TRASH/home"
export XDG_CACHE_HOME="$HOME/.cache"
unset CACHE_STORE CACHE_KEY CACHE_PATH CACHE_RESTORE_KEYS CACHE_LEVEL CACHE_JOBS \
      CACHE_QUIET CACHE_VERBOSE CACHE_IMMUTABLE CACHE_LOOKUP_ONLY CACHE_FAIL_ON_MISS CACHE_STRICT_PATHS \
      GITHUB_OUTPUT
# No test may reach the EC2 metadata address: tests that use it point
# AWS_EC2_METADATA_SERVICE_ENDPOINT at 127.0.0.1 and clear this.
export AWS_EC2_METADATA_DISABLED=true
mkdir -p "$HOME"
cd "$TRASH" || exit 1
test_count=0 test_failed=0
_cleanup_cmds=()

test_cleanup() { _cleanup_cmds+=("$1"); }
_on_exit() {
	local c
	for c in "${_cleanup_cmds[@]}"; do eval "$c" || true; done
	chmod -R u+rwx "$TRASH" 2>/dev/null
	rm -rf "$TRASH"
}
trap _on_exit EXIT

test_expect_success() {
	local desc=$1 body=$2 log="$TRASH/.test.log"
	test_count=$((test_count + 1))
	# The subshell must stand alone: inside an if, an && or an || list
	# bash ignores set -e, and only the body's last command would count.
	local rc
	(cd "$TRASH" || exit 1; set -e; eval "$body") >"$log" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then
		echo "ok $test_count - $desc"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $desc"
		sed 's/^/#   /' "$log" | tail -n 40
	fi
}

# Skips the whole script with a reason (exit 77): only for missing
# optional external tools, never to hide a failure.
skip_all() {
	echo "1..0 # SKIP $1"
	exit 77
}

test_done() {
	echo "# $TEST_NAME: $((test_count - test_failed))/$test_count passed"
	[ "$test_failed" = 0 ]
	exit $?
}

# Assertions that print both sides when they fail.
die() { echo "FAILED: $*" >&2; return 1; }
expect_eq() { [ "$1" = "$2" ] || die "expected '$2', got '$1'${3:+ ($3)}"; }
expect_code() { # expect_code N cmd...
	local want=$1 got=0
	shift
	"$@" || got=$?
	[ "$got" = "$want" ] || die "'$*' exited $got, expected $want"
}
expect_grep() { grep -q -e "$1" "$2" || { echo "--- $2:"; cat "$2"; die "no '$1' in $2"; }; }
expect_no_grep() { ! grep -q -e "$1" "$2" || { echo "--- $2:"; cat "$2"; die "unexpected '$1' in $2"; }; }

# A canonical listing of a tree: type, mode, size, mtime (ns), link
# target, content hash and name (quoted, so odd names stay on one line);
# what a faithful restore must reproduce.  Directory sizes are left out.
tree_listing() {
	(cd "$1" && find . -print0 | LC_ALL=C sort -z |
		while IFS= read -r -d '' p; do
			if [ -L "$p" ]; then
				printf 'l %s %q %q\n' "$(stat -c '%.9Y' "$p")" "$(readlink "$p")" "$p"
			elif [ -d "$p" ]; then
				printf 'd %s %q\n' "$(stat -c '%a %.9Y' "$p")" "$p"
			elif [ -f "$p" ]; then
				printf 'f %s %s %q\n' "$(stat -c '%a %s %.9Y' "$p")" \
					"$(md5sum <"$p" | cut -c1-32)" "$p"
			else
				printf 'o %s %q\n' "$(stat -c '%F %a' "$p")" "$p"
			fi
		done)
}
expect_same_tree() {
	tree_listing "$1" >"$TRASH/.a" && tree_listing "$2" >"$TRASH/.b" &&
		diff "$TRASH/.a" "$TRASH/.b" || die "trees '$1' and '$2' differ"
}

# Store size in bytes (for dedup checks).
store_bytes() { du -sb "$1" | cut -f1; }

# S3 tests: fail (or skip with CICACHE_ALLOW_NO_MOTO=1) without moto and
# the aws CLI, then start moto on a free port: PORT, EP and MOTO_PID are
# set, and the server is stopped when the script ends.  $1 is the number
# of unsigned requests moto takes before it checks signatures.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
require_moto() {
	if ! command -v moto_server >/dev/null || ! command -v aws >/dev/null; then
		if [ "${CICACHE_ALLOW_NO_MOTO:-}" = 1 ]; then
			skip_all "moto_server or aws is missing (CICACHE_ALLOW_NO_MOTO=1)"
		fi
		echo "not ok 1 - moto_server and aws are required for the S3 tests" \
		     "(set CICACHE_ALLOW_NO_MOTO=1 to skip)"
		exit 1
	fi
}
start_moto() {
	require_moto
	PORT=$(free_port)
	EP=http://127.0.0.1:$PORT
	# helper/moto-sigfix: moto checks signatures on the raw path, as S3.
	PYTHONPATH="$TEST_DIR/helper/moto-sigfix${PYTHONPATH:+:$PYTHONPATH}" \
	INITIAL_NO_AUTH_ACTION_COUNT=$1 moto_server -H 127.0.0.1 -p "$PORT" >"$TRASH/moto.log" 2>&1 &
	MOTO_PID=$!
	test_cleanup 'kill $MOTO_PID; wait $MOTO_PID 2>/dev/null'
}

# start_moto_signed N: start_moto N with the bootstrap environment in
# which the aws CLI makes moto's N unsigned requests (moto_iam_user),
# then waits until moto answers (the probe is not one of the N).  After
# the test that runs moto_iam_user, use_moto_iam_user signs with its key.
start_moto_signed() {
	local i
	start_moto "$1"
	export AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap AWS_DEFAULT_REGION=us-east-1
	export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
	unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION
	for i in $(seq 1 100); do
		curl -s -o /dev/null "$EP/moto-api/" && break
		kill -0 $MOTO_PID 2>/dev/null || break
		sleep 0.1
	done
}
use_moto_iam_user() {
	AWS_ACCESS_KEY_ID=$(sed -n 1p creds 2>/dev/null)
	AWS_SECRET_ACCESS_KEY=$(sed -n 2p creds 2>/dev/null)
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL=$EP
}
# awsx: the aws CLI at moto.
awsx() { aws --endpoint-url "$EP" "$@"; }

# moto_iam_user: in moto's unsigned bootstrap requests, creates the IAM
# user "ci" with an allow-all policy and writes its key id and secret to
# ./creds (one per line); the aws CLI is set to path-style addressing.
moto_iam_user() {
	aws --endpoint-url "$EP" iam create-user --user-name ci >/dev/null &&
	aws --endpoint-url "$EP" iam create-access-key --user-name ci >key.json &&
	aws --endpoint-url "$EP" iam put-user-policy --user-name ci --policy-name all \
		--policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' &&
	python3 -c 'import json; k = json.load(open("key.json"))["AccessKey"]; print(k["AccessKeyId"]); print(k["SecretAccessKey"])' >creds &&
	aws configure set default.s3.addressing_style path
}

# start_faultproxy: tests/helper/faultproxy.py in front of moto (after
# start_moto), ready; sets PROXY_PID, PX (its URL) and PLOG (its log).
start_faultproxy() {
	local i
	python3 "$TEST_DIR/helper/faultproxy.py" --upstream "127.0.0.1:$PORT" \
		--port-file "$TRASH/proxy.port" --log "$TRASH/proxy.log" >"$TRASH/proxy.out" 2>&1 &
	PROXY_PID=$!
	test_cleanup 'kill $PROXY_PID; wait $PROXY_PID 2>/dev/null'
	for i in $(seq 1 100); do
		curl -s -o /dev/null "$EP/moto-api/" && [ -s "$TRASH/proxy.port" ] && break
		kill -0 $MOTO_PID 2>/dev/null && kill -0 $PROXY_PID 2>/dev/null || break
		sleep 0.1
	done
	PX=http://127.0.0.1:$(cat "$TRASH/proxy.port" 2>/dev/null)
	PLOG=$TRASH/proxy.log
}
# faults JSON: replaces the proxy's rules (and ends any stall); clears the
# request log so that each case reads only its own requests.
faults() {
	curl -sf -o /dev/null -X POST --data-binary "$1" "$PX/__fault__/rules" &&
		curl -sf -o /dev/null -X POST "$PX/__fault__/clear"
}
# keys_in_bucket: the keys/ objects moto holds in bucket $B
keys_in_bucket() {
	aws --endpoint-url "$EP" s3api list-objects-v2 --bucket $B --query "Contents[].Key" \
		--output text | tr "\t" "\n" | grep "/keys/" || true
}

# entry_files DIR KEY: the entry files of KEY in the local store DIR, of
# any path list (keys/KEY,@V) and legacy (keys/KEY); nothing if none.
entry_files() { ls -d "$1/keys/$2" "$1/keys/$2",@* 2>/dev/null || true; }

# old_store DIR: a copy of tests/data/store-v1 (a local store written
# before key encoding and path-list identities; see its README) in DIR,
# the entries' times one second apart in the order they were saved.
old_store() {
	local n=0 name file
	cp -R "$TEST_DIR/data/store-v1" "$1" || return 1
	while IFS='	' read -r name file; do
		n=$((n + 1))
		touch -d "@$((1700000000 + n))" "$1/$file" || return 1
	done <"$TEST_DIR/data/store-v1.order"
}
# old_store_to STORE KEY...: puts the packs of tests/data/store-v1 and the
# entries of the keys named, as they are, into STORE (any backend).
old_store_to() {
	local store=$1 name file k p
	shift
	for p in "$TEST_DIR"/data/store-v1/packs/*.pack; do
		"$TEST_TOOL" store-put "$store" "packs/${p##*/}" "$p" || return 1
	done
	for k in "$@"; do
		while IFS='	' read -r name file; do
			[ "$name" = "keys/$k" ] || continue
			"$TEST_TOOL" store-put "$store" "$name" "$TEST_DIR/data/store-v1/$file" || return 1
		done <"$TEST_DIR/data/store-v1.order"
	done
}
