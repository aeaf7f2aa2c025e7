#!/usr/bin/env bash
# t0955: the GitHub action getting its programs from the release tarball,
# under node 24 and with a PATH that holds no compiler, no make and no
# apt-get (only node, tar, gzip and sh): the tarball of build/dist served
# over HTTP on 127.0.0.1, checked against the SHA-256 sums given through
# CICACHE_RELEASE_SHA256SUMS (what the action embeds at release time).
# A miss, a save and a hit with the downloaded binaries; a tampered tarball
# refused; RUNNER_ARCH X64 and ARM64 mapped to the tarball names; the
# default URL; CICACHE_BIN first; build-from-source: true without a
# compiler.  Skips without a tarball (make dist DIST_ARCHES=x86_64) or
# without node 24 (.ci/deps.sh installs it into $CICACHE_NPM_DIR/node24).
. "$(dirname "$0")/lib.sh"

DIST=$CICACHE_BUILD/dist
case $(uname -m) in
x86_64) ARCH=x86_64 RUNNER_ARCH=X64 OTHER=aarch64 OTHER_RUNNER=ARM64 ;;
aarch64) ARCH=aarch64 RUNNER_ARCH=ARM64 OTHER=x86_64 OTHER_RUNNER=X64 ;;
*) skip_all "no release tarball for $(uname -m)" ;;
esac
set -- "$DIST"/cicache-*-linux-"$ARCH".tar.gz
[ -f "$1" ] || skip_all "no build/dist/cicache-*-linux-$ARCH.tar.gz (make dist DIST_ARCHES=$ARCH)"
[ -f "$DIST/SHA256SUMS" ] || skip_all "no build/dist/SHA256SUMS (make dist DIST_ARCHES=$ARCH)"
TARBALL=$1
NAME=$(basename "$TARBALL")
V=${NAME#cicache-}
V=${V%-linux-$ARCH.tar.gz}
NODE24=${CICACHE_NODE24:-${CICACHE_NPM_DIR:-/var/cache/cicache-npm}/node24/node_modules/.bin/node}
[ -x "$NODE24" ] || skip_all "no node 24 at $NODE24 (.ci/deps.sh installs it)"
NODE24=$(readlink -f "$NODE24")
"$NODE24" -e 'process.exit(process.versions.node.split(".")[0] === "24" ? 0 : 1)' ||
	skip_all "$NODE24 is not node 24"

ACTION=$(cd "$TEST_DIR/../ci-templates/github" && pwd)
BIN=$(cd "$CICACHE_BIN" && pwd)
S=$TRASH/store
export RUNNER_TEMP=$TRASH/runner-temp
mkdir -p "$RUNNER_TEMP"
unset CICACHE_BIN CACHE_DOTENV CICACHE_RELEASE_URL CICACHE_RELEASE_SHA256SUMS \
	GITHUB_ACTION_REPOSITORY GITHUB_REPOSITORY GITHUB_SERVER_URL RUNNER_TOOL_CACHE

# The runner simulation of t0950 (inputs with their defaults, GITHUB_OUTPUT,
# GITHUB_STATE handed to post as STATE_*), taken from there.
sed -n "/^cat >\"\$TRASH\/sim.js\" <<'EOF'\$/,/^EOF\$/p" "$TEST_DIR/t0950-gha-action.sh" | sed '1d;$d' >sim.js
grep -q "runs.using !== 'node24'" sim.js || die "cannot take the runner simulation from t0950"

# The runner's PATH: node 24, tar, gzip, sh and nothing else.
mkdir sbin
for p in tar gzip sh; do ln -s "$(command -v $p)" sbin/$p; done
ln -s "$NODE24" sbin/node
SBIN=$TRASH/sbin

# The release server: www/good is build/dist, www/bad the same with one
# byte of the tarball changed, www/owner/repo/releases/download/vV the
# layout of a GitHub release.
mkdir -p www/good www/bad "www/owner/repo/releases/download/v$V"
cp "$TARBALL" "$DIST/SHA256SUMS" www/good/
cp "$TARBALL" "$DIST/SHA256SUMS" "www/owner/repo/releases/download/v$V/"
cp "$TARBALL" "$DIST/SHA256SUMS" www/bad/
python3 - "www/bad/$NAME" <<'EOF'
import sys
with open(sys.argv[1], 'r+b') as f:
	f.seek(1000)
	b = f.read(1)
	f.seek(1000)
	f.write(bytes([b[0] ^ 0x01]))
EOF
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
python3 -m http.server --bind 127.0.0.1 --directory www "$PORT" >http.log 2>&1 &
HTTP_PID=$!
test_cleanup 'kill $HTTP_PID; wait $HTTP_PID 2>/dev/null'
for _i in $(seq 100); do
	curl -sf "$URL/good/SHA256SUMS" >/dev/null && break
	sleep 0.1
done
# The sums of this runner's tarball only, as a release's action holds
# them whatever else build/dist has (an aarch64 tarball, say).
grep -F "  $NAME" "$DIST/SHA256SUMS" >"$TRASH/sums" || true
SUMS=$TRASH/sums
gets() { grep -c "\"GET $1 HTTP" http.log || true; }

# step STAGE JOB [INPUT=VALUE]...: one step of the main action with the
# runner's PATH, the tool cache $TRASH/tc-${TC:-JOB} (a hosted runner has a
# fresh one per job), the release at $URL/good and its sums, unless the
# caller's environment says otherwise.  Output: $TRASH/JOB.log.
step() {
	local stage=$1 job=$2 rc=0
	shift 2
	mkdir -p "$TRASH/ws-$job"
	PATH=$SBIN RUNNER_ARCH=${R_ARCH:-$RUNNER_ARCH} RUNNER_TOOL_CACHE=$TRASH/tc-${TC:-$job} \
	CICACHE_RELEASE_URL=${R_URL-$URL/good} CICACHE_RELEASE_SHA256SUMS=${R_SUMS-$SUMS} \
	GITHUB_WORKSPACE=$TRASH/ws-$job "$NODE24" "$TRASH/sim.js" "$ACTION/action.yml" "$stage" "$TRASH/job-$job" \
		store="$S" path=data "$@" >>"$TRASH/$job.log" 2>&1 || rc=$?
	echo "--- $job $stage exited $rc" >>"$TRASH/$job.log"
	return $rc
}
main() { local job=$1; shift; step main "$job" "$@"; }
post() { local job=$1; shift; step post "$job" "$@"; }
out() { cat "$TRASH/job-$1/outputs-$2.txt"; }

test_expect_success 'the runner PATH has no compiler, make, apt-get or cicache; node is 24' '
	for p in cc gcc make apt-get dpkg-query cache-save; do
		! PATH=$SBIN command -v $p || die "$p on the runner PATH"
	done &&
	expect_eq "$(PATH=$SBIN node --version | cut -d. -f1)" v24 &&
	expect_grep "^[0-9a-f]\{64\}  $NAME\$" "$SUMS"
'

test_expect_success 'a miss: the release is downloaded, checked and unpacked into the tool cache; post saves' '
	mkdir -p ws-j1/data && echo one >ws-j1/data/f &&
	main j1 key=k-1 &&
	dir=$TRASH/tc-j1/cicache/$V-release/x64 &&
	expect_grep "^cicache: downloading $URL/good/$NAME\$" j1.log &&
	expect_grep "^cicache: release $V ($ARCH, [0-9]* bytes, SHA-256 checked)" j1.log &&
	expect_eq "$(out j1 main)" "$(printf "cicache-bin=%s\ncache-hit=false\ncache-primary-key=k-1\ncache-matched-key=" "$dir")" &&
	file "$dir/cache-save" >f && expect_grep "statically linked" f &&
	expect_eq "$(gets "/good/$NAME")" 1 &&
	test -z "$(ls "$RUNNER_TEMP" | grep cicache-release-)" &&
	post j1 key=k-1 &&
	expect_grep "^cache-save --key k-1 --path data --store $S --immutable\$" j1.log &&
	expect_grep "Cache saved with key: k-1" j1.log &&
	"$BIN/cache-restore" --store "$S" --key k-1 --lookup-only >lk &&
	expect_grep "^cache-hit=true" lk
'

test_expect_success 'a hit on a fresh runner downloads again; the same runner reuses its tool cache' '
	main j2 key=k-1 &&
	expect_eq "$(cat ws-j2/data/f)" one &&
	expect_grep "^cache-hit=true" job-j2/outputs-main.txt &&
	expect_eq "$(gets "/good/$NAME")" 2 &&
	post j2 key=k-1 &&
	expect_grep "Cache hit occurred on the primary key k-1" j2.log &&
	TC=j2 main j2b key=k-1 &&
	expect_grep "^cicache: using release $V in $TRASH/tc-j2/cicache/$V-release/x64\$" j2b.log &&
	expect_grep "^cache-hit=true" job-j2b/outputs-main.txt &&
	expect_eq "$(gets "/good/$NAME")" 2
'

test_expect_success 'a tampered tarball is refused with an error; nothing runs, post saves nothing' '
	mkdir -p ws-j3/data && echo three >ws-j3/data/f &&
	R_URL=$URL/bad expect_code 1 main j3 key=k-3 &&
	expect_grep "^::error::cicache: $URL/bad/$NAME: SHA-256 [0-9a-f]* is not the [0-9a-f]* that $SUMS lists for $NAME: the tarball was altered or damaged" j3.log &&
	expect_eq "$(gets "/bad/$NAME")" 1 &&
	expect_no_grep "^cache-restore " j3.log &&
	expect_no_grep "building cicache" j3.log &&
	test ! -e tc-j3/cicache/$V-release/x64 &&
	test -z "$(ls "$RUNNER_TEMP" | grep cicache-release-)" &&
	expect_eq "$(out j3 main)" "" &&
	R_URL=$URL/bad post j3 key=k-3 &&
	expect_grep "Not saving: the main step recorded no key" j3.log &&
	"$BIN/cache-restore" --store "$S" --key k-3 --lookup-only >lk &&
	expect_grep "^cache-hit=false" lk
'

test_expect_success "RUNNER_ARCH $OTHER_RUNNER asks for the $OTHER tarball; a failed download falls through to a build, which fails clearly" '
	{ cat "$SUMS"; echo "$(printf "%064d" 0)  cicache-$V-linux-$OTHER.tar.gz"; } >sums-other &&
	R_ARCH=$OTHER_RUNNER R_SUMS=$TRASH/sums-other expect_code 1 main j4 key=k-1 &&
	expect_eq "$(gets "/good/cicache-$V-linux-$OTHER.tar.gz")" 1 &&
	expect_grep "\"GET /good/cicache-$V-linux-$OTHER.tar.gz HTTP/1.1\" 404" http.log &&
	expect_grep "^::warning::cicache: cannot download $URL/good/cicache-$V-linux-$OTHER.tar.gz: HTTP 404" j4.log &&
	expect_grep "^::notice::cicache: no release binaries to use: building cicache $V from the action" j4.log &&
	expect_grep "^::error::cicache: building cicache from source needs make and a C compiler (cc), and make and cc are not on PATH" j4.log &&
	expect_no_grep "^cache-restore " j4.log
'

test_expect_success "sums without the runner's tarball: a notice, no download; an unknown RUNNER_ARCH likewise" '
	before=$(wc -l <http.log) &&
	R_ARCH=$OTHER_RUNNER expect_code 1 main j5 key=k-1 &&
	expect_grep "^::notice::cicache: $SUMS lists no cicache-$V-linux-$OTHER.tar.gz: this copy of the action is not a release" j5.log &&
	echo "# no release" >sums-none &&
	R_SUMS=$TRASH/sums-none expect_code 1 main j5b key=k-1 &&
	expect_grep "^::notice::cicache: $TRASH/sums-none lists no $NAME" j5b.log &&
	R_ARCH=ARM expect_code 1 main j5c key=k-1 &&
	expect_grep "^::notice::cicache: no release binaries for linux runners of architecture ARM" j5c.log &&
	expect_grep "needs make and a C compiler" j5c.log &&
	expect_eq "$(wc -l <http.log)" "$before"
'

test_expect_success 'the default URL: the release v<version> of the repository on GITHUB_SERVER_URL' '
	R_URL= GITHUB_SERVER_URL=$URL GITHUB_REPOSITORY=owner/repo GITHUB_ACTION_REPOSITORY=actions/checkout \
		main j6 key=k-1 &&
	expect_grep "^cicache: downloading $URL/owner/repo/releases/download/v$V/$NAME\$" j6.log &&
	expect_eq "$(gets "/owner/repo/releases/download/v$V/$NAME")" 1 &&
	expect_grep "^cache-hit=true" job-j6/outputs-main.txt
'

test_expect_success 'CICACHE_BIN and the cicache-bin input win: no download' '
	before=$(wc -l <http.log) &&
	CICACHE_BIN=$BIN R_URL=$URL/bad main j7 key=k-1 &&
	expect_grep "^cicache: using $BIN " j7.log &&
	expect_grep "^cicache-bin=$BIN\$" job-j7/outputs-main.txt &&
	R_URL=$URL/bad main j7b key=k-1 cicache-bin="$BIN" &&
	expect_grep "^cicache-bin=$BIN\$" job-j7b/outputs-main.txt &&
	expect_eq "$(wc -l <http.log)" "$before"
'

test_expect_success 'build-from-source: true skips the release and, without a compiler, fails clearly' '
	before=$(wc -l <http.log) &&
	expect_code 1 main j8 key=k-1 build-from-source=true &&
	expect_grep "^::error::cicache: building cicache from source needs make and a C compiler" j8.log &&
	expect_no_grep "downloading" j8.log &&
	expect_eq "$(wc -l <http.log)" "$before" &&
	expect_code 1 main j8b key=k-1 build-from-source=maybe &&
	expect_grep "^::error::Input .build-from-source. must be true or false, not .maybe." j8b.log
'

test_done
