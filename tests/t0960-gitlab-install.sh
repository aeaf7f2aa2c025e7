#!/usr/bin/env bash
# t0960: the GitLab template installs the release binaries when
# CICACHE_BIN is unset and the image has none: downloaded over HTTP from a local server
# (CICACHE_RELEASE_URL) with curl, or with busybox's wget in an
# alpine-like PATH of busybox applets only, checked against the SHA-256
# pinned in the template by pin-sums.sh, then a miss-save-hit through the
# template's own before_script and after_script.  A tampered tarball, a
# template without sums and an image without sha256sum fail the job
# before anything runs; the architecture picks the tarball and its sum.
#
# The template's scripts are taken from the YAML (python3-yaml resolves
# its anchors) and run with sh -e, as GitLab's shell runner runs them:
# before_script and script in one shell, after_script in another.  The
# tarball is build/dist's (make dist DIST_ARCHES=x86_64) when there is
# one for this machine, else one laid out the same way from the programs
# under test.
. "$(dirname "$0")/lib.sh"

TEMPLATE=$TEST_DIR/../ci-templates/gitlab/cicache.gitlab-ci.yml
PIN=$TEST_DIR/../ci-templates/gitlab/pin-sums.sh
python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml is missing (apt-get install python3-yaml)"
[ -x /bin/busybox ] || skip_all "/bin/busybox is missing (apt-get install busybox-static)"
ARCH=$(uname -m)
VERSION=$(cache-save --version | awk '{ print $NF }')
NAME=cicache-$VERSION-linux-$ARCH

mkdir -p rel bad
dist=$CICACHE_BUILD/dist/$NAME.tar.gz
if [ -f "$dist" ]; then
	cp "$dist" rel/
	echo "# the release tarball $dist"
else
	mkdir -p "stage/$NAME/bin"
	cp "$CICACHE_BIN/cache-save" "$CICACHE_BIN/cache-restore" "stage/$NAME/bin/"
	tar -C stage -czf "rel/$NAME.tar.gz" "$NAME"
	echo "# no $dist: a tarball of $CICACHE_BIN's programs"
fi
(cd rel && sha256sum "$NAME.tar.gz" >SHA256SUMS)
# What an aarch64 job downloads (its pinned sum below will not match).
[ "$ARCH" = aarch64 ] || cp "rel/$NAME.tar.gz" "rel/cicache-$VERSION-linux-aarch64.tar.gz"
# The same name with other content: one more file in it.
mkdir -p tamper && tar -xzf "rel/$NAME.tar.gz" -C tamper &&
	echo 'echo owned' >"tamper/$NAME/bin/evil" && tar -C tamper -czf "bad/$NAME.tar.gz" "$NAME"

PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 "$PORT" >"$TRASH/http.log" 2>&1 &
HTTP_PID=$!
test_cleanup 'kill $HTTP_PID 2>/dev/null; wait $HTTP_PID 2>/dev/null'
[ -z "${T0960_KEEP:-}" ] || test_cleanup "cp -r \"$TRASH\" /tmp/t0960-keep"
for i in $(seq 1 100); do
	curl -fs "http://127.0.0.1:$PORT/" >/dev/null && break
	sleep 0.1
done
URL=http://127.0.0.1:$PORT/rel

# An alpine-like PATH: busybox's applets only (wget, no curl).
mkdir -p bb
for a in $(/bin/busybox --list); do ln -s /bin/busybox "bb/$a"; done
# This machine's programs but sha256sum (busybox's sh would find its own
# applet whatever PATH says).
mkdir -p nosum
for f in /usr/bin/* /bin/*; do
	[ "${f##*/}" = sha256sum ] || [ -e "nosum/${f##*/}" ] || ln -s "$f" "nosum/${f##*/}"
done

# gl TEMPLATE PART: the template's .cicache PART (before_script or
# after_script), its variables first (the job's environment overrides
# them, as a job's own variables override an included template's).
gl() {
	python3 - "$1" "$2" <<'PY'
import shlex, sys, yaml
job = yaml.safe_load(open(sys.argv[1]))[".cicache"]
for k, v in job["variables"].items():
    print(': "${%s=%s}"' % (k, str(v).replace('"', '\\"')))
    print("export %s" % k)
print("\n".join(job[sys.argv[2]]))
PY
}

# job NAME TEMPLATE PATH [VAR=VALUE...]: one job in ./NAME: before_script
# and the script (which records where cache-restore came from and writes
# the cached tree when it was not restored), then after_script.  Their
# output lands in NAME/before.out and NAME/after.out.
job() {
	local name=$1 template=$2 path=$3
	shift 3
	mkdir -p "$name" &&
	{ gl "$template" before_script &&
	  echo 'command -v cache-restore >where' &&
	  echo '[ -f deps/lib.txt ] || { mkdir -p deps && echo "lib 1" >deps/lib.txt; }'; } >"$name/before.sh" &&
	gl "$template" after_script >"$name/after.sh" &&
	(cd "$name" && env -i PATH="$path" HOME="$HOME" TMPDIR="$TRASH/tmp" CI_JOB_ID="$name" \
		CACHE_STORE="$TRASH/store" CACHE_KEY=deps-1 CACHE_PATH=deps "$@" \
		sh -e before.sh >before.out 2>&1) &&
	(cd "$name" && env -i PATH="$path" HOME="$HOME" TMPDIR="$TRASH/tmp" CI_JOB_ID="$name" \
		CI_JOB_STATUS=success CACHE_STORE="$TRASH/store" CACHE_KEY=deps-1 \
		CACHE_PATH=deps "$@" sh -e after.sh >after.out 2>&1)
}
mkdir -p tmp

test_expect_success 'pin-sums.sh writes the version and the sums into the template' '
	cp "$TEMPLATE" pinned.yml &&
	printf "%s  cicache-%s-linux-aarch64.tar.gz\n" $(printf "%064d" 7) "$VERSION" >sums &&
	cat rel/SHA256SUMS >>sums &&
	sh "$PIN" sums me/cicache pinned.yml >pin.out &&
	sum=$(cut -d" " -f1 rel/SHA256SUMS) &&
	expect_eq "$(python3 -c "import yaml; v = yaml.safe_load(open(\"pinned.yml\"))[\".cicache\"][\"variables\"]; print(v[\"CICACHE_VERSION\"], v[\"CICACHE_REPOSITORY\"], v[\"CICACHE_SHA256_$(echo $ARCH | tr a-z A-Z)\"])")" \
		"$VERSION me/cicache $sum" &&
	grep -q "CICACHE_SHA256_AARCH64: \"$(printf "%064d" 7)\"" pinned.yml &&
	printf "%s  other.tar.gz\n" "$sum" >nosums &&
	expect_code 1 sh "$PIN" nosums "" pinned.yml 2>err &&
	expect_grep "no release tarball" err &&
	printf "xyz  cicache-%s-linux-x86_64.tar.gz\n" "$VERSION" >badsums &&
	expect_code 1 sh "$PIN" badsums "" pinned.yml 2>err &&
	expect_grep "bad sum" err
'

test_expect_success 'job 1 (curl): installs the checked binaries, misses, saves' '
	job j1 pinned.yml /usr/bin:/bin CICACHE_RELEASE_URL="$URL" &&
	expect_grep "cicache: installing $URL/$NAME.tar.gz" j1/before.out &&
	expect_eq "$(cat j1/where)" "$TRASH/tmp/cicache-j1/$NAME/bin/cache-restore" &&
	expect_grep "^CACHE_HIT=false$" j1/cicache.env &&
	expect_grep "cache-save: saved .deps-1." j1/after.out &&
	[ ! -e tmp/cicache-j1 ] &&
	grep -q "GET /rel/$NAME.tar.gz" http.log
'

test_expect_success 'job 2 (busybox only: wget, no curl): installs, restores the hit' '
	job j2 pinned.yml "$TRASH/bb" CICACHE_RELEASE_URL="$URL" &&
	expect_eq "$(cat j2/where)" "$TRASH/tmp/cicache-j2/$NAME/bin/cache-restore" &&
	expect_grep "^CACHE_HIT=true$" j2/cicache.env &&
	expect_eq "$(cat j2/deps/lib.txt)" "lib 1"
'

test_expect_success 'a tampered tarball is refused: the job fails before the restore' '
	! job j3 pinned.yml /usr/bin:/bin CICACHE_RELEASE_URL="http://127.0.0.1:$PORT/bad" &&
	expect_grep "cicache: http://127.0.0.1:$PORT/bad/$NAME.tar.gz has SHA-256 [0-9a-f]*, the template expects $(cut -d" " -f1 rel/SHA256SUMS): refusing it" j3/before.out &&
	[ ! -e j3/where ] && [ ! -e j3/cicache.env ] &&
	[ -z "$(ls tmp/cicache-j3 2>/dev/null)" ]
'

test_expect_success 'a template without sums, an image without sha256sum: refused' '
	! job j4 "$TEMPLATE" /usr/bin:/bin CICACHE_RELEASE_URL="$URL" &&
	expect_grep "no SHA-256 for $NAME.tar.gz in the template (CICACHE_SHA256_$(echo $ARCH | tr a-z A-Z))" j4/before.out &&
	[ ! -e j4/where ] &&
	! job j5 pinned.yml "$TRASH/nosum" CICACHE_RELEASE_URL="$URL" &&
	expect_grep "this image has no sha256sum: cannot check $NAME.tar.gz" j5/before.out &&
	[ ! -e j5/where ]
'

[ "$ARCH" = x86_64 ] || echo "# SKIP the architecture mapping: it runs on x86_64 machines"
[ "$ARCH" = x86_64 ] && test_expect_success 'the architecture picks the tarball and its sum (aarch64, arm64)' '
	mkdir -p fake && printf "#!/bin/sh\necho \$FAKE_ARCH\n" >fake/uname && chmod +x fake/uname &&
	: >http.log &&
	for a in aarch64 arm64; do
		! job "j6$a" pinned.yml "$TRASH/fake:/usr/bin:/bin" FAKE_ARCH=$a \
			CICACHE_RELEASE_URL="$URL" || exit 1
		expect_grep "installing $URL/cicache-$VERSION-linux-aarch64.tar.gz" "j6$a/before.out" &&
		expect_grep "has SHA-256 .*, the template expects $(printf "%064d" 7)" "j6$a/before.out" || exit 1
	done &&
	! job j6x pinned.yml "$TRASH/fake:/usr/bin:/bin" FAKE_ARCH=riscv64 CICACHE_RELEASE_URL="$URL" &&
	expect_grep "no release binaries for riscv64" j6x/before.out
'

test_expect_success 'CICACHE_BIN set: nothing is downloaded' '
	: >http.log &&
	job j7 pinned.yml /usr/bin:/bin CICACHE_BIN="$CICACHE_BIN" CICACHE_RELEASE_URL="$URL" &&
	expect_eq "$(cat j7/where)" "$CICACHE_BIN/cache-restore" &&
	expect_grep "^CACHE_HIT=true$" j7/cicache.env &&
	expect_no_grep "GET" http.log
'

test_expect_success 'programs already on PATH (an image with cicache): nothing is downloaded' '
	: >http.log &&
	job j8 pinned.yml "$CICACHE_BIN:/usr/bin:/bin" CICACHE_RELEASE_URL="$URL" &&
	expect_eq "$(cat j8/where)" "$CICACHE_BIN/cache-restore" &&
	expect_grep "using $CICACHE_BIN/cache-restore and cache-save from the image" j8/before.out &&
	expect_grep "^CACHE_HIT=true$" j8/cicache.env &&
	expect_no_grep "GET" http.log
'

test_done
