#!/usr/bin/env bash
# run-tests: alone (starts a Docker engine of its own)
# t1010: cachebuild against a real Docker engine (dockerd 20.10 with its
# embedded BuildKit) started by this test on its own socket, without a
# bridge network: cache content survives `docker builder prune -af` (a
# fresh runner), uid/gid/mode and sharing are honoured, two mounts in one
# RUN and mounts in several stages, --map, extraction that removes
# deleted files and keeps modes, mtimes and symlinks, a failing build,
# clear errors, --no-cache, and restore/save through a store.  The copy
# builds run cachebuild's own static binary on an empty image (the
# programs under test when they are static, else build/dist's x86_64
# release build, which `make dist DIST_ARCHES=x86_64` makes); the cases
# marked so run them as shell scripts on a local busybox image instead,
# and one runs with no busybox image at all.
# t1020 runs the same cases through `docker buildx build` (CB_BUILDER).
. "$(dirname "$0")/lib.sh"

DOCKER=/usr/bin/docker
CB_BUILDER=${CB_BUILDER:-docker}
[ "$(id -u)" = 0 ] || skip_all "dockerd needs root"
command -v dockerd >/dev/null || skip_all "dockerd is missing (apt-get install docker.io)"
[ -x "$DOCKER" ] || skip_all "$DOCKER is missing (apt-get install docker.io)"
[ -x /bin/busybox ] || skip_all "/bin/busybox is missing (apt-get install busybox-static)"
if [ "$CB_BUILDER" = buildx ]; then
	$DOCKER buildx version >/dev/null 2>&1 ||
		skip_all "the buildx plugin is missing (.ci/deps.sh installs Debian 13's docker-buildx)"
fi

D="$TRASH/d"
mkdir -p "$D"
dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
	-H "unix://$D/docker.sock" --data-root "$D/data" --exec-root "$D/exec" \
	--pidfile "$D/docker.pid" >"$D/dockerd.log" 2>&1 &
DOCKERD_PID=$!
test_cleanup 'kill $DOCKERD_PID; wait $DOCKERD_PID 2>/dev/null'
export DOCKER_HOST="unix://$D/docker.sock" CACHEBUILD_DOCKER=$DOCKER
unset CACHEBUILD_CACHE_ROOT CACHEBUILD_MAP CACHEBUILD_BUILDER CACHEBUILD_HELPER_IMAGE \
      CACHEBUILD_NO_INJECT CACHEBUILD_NO_EXTRACT CACHEBUILD_MOUNT_VARS DOCKER_BUILDKIT
export CACHEBUILD_BUILDER=$CB_BUILDER
for i in $(seq 1 300); do
	$DOCKER version >/dev/null 2>&1 && break
	kill -0 $DOCKERD_PID 2>/dev/null || break
	sleep 0.1
done
if ! $DOCKER version >/dev/null 2>&1; then
	tail -n 5 "$D/dockerd.log"
	skip_all "dockerd cannot start here: $(tail -n 1 "$D/dockerd.log")"
fi

# A static cachebuild of this source (one that knows --helper-bin).
# linked FILE: static or dynamic (an ELF file with a program interpreter).
linked() {
	readelf -lW "$1" >"$TRASH/elf" 2>/dev/null || return 1
	if grep -q "INTERP" "$TRASH/elf"; then echo dynamic; else echo static; fi
}
STATIC_CB=
if [ "$(linked "$CICACHE_BIN/cachebuild")" = static ]; then
	STATIC_CB=$CICACHE_BIN/cachebuild
else
	for t in "$CICACHE_BUILD"/dist/cicache-*-linux-"$(uname -m)".tar.gz; do
		[ -f "$t" ] || continue
		mkdir -p "$TRASH/static" && tar -xzf "$t" -C "$TRASH/static" &&
		STATIC_CB=$(find "$TRASH/static" -path "*/bin/cachebuild" | head -n 1)
	done
fi
if [ -n "$STATIC_CB" ] && ! "$STATIC_CB" --help | grep -q -- --helper-bin; then
	echo "# $STATIC_CB predates --helper-bin: run make dist DIST_ARCHES=$(uname -m) again"
	STATIC_CB=
fi
if [ -n "$STATIC_CB" ]; then
	HELPER=(--helper-bin "$STATIC_CB")
else
	echo "# no static cachebuild (make dist DIST_ARCHES=$(uname -m)): the copy builds run on busybox"
	HELPER=(--helper-image cbtest/busybox:1)
fi

# cachebuild with the static helper binary (or the local helper image);
# its standard error lands in ./err and in the test's log (shown when the
# test fails).
cb() {
	local rc=0
	cachebuild "${HELPER[@]}" "$@" 2>"$TRASH/err" || rc=$?
	cat "$TRASH/err" >&2
	return $rc
}
prune() { $DOCKER builder prune -af >/dev/null; }
ME="$(id -u):$(id -g)"

test_expect_success 'dockerd runs; a busybox base image is imported' '
	mkdir -p rootfs/bin rootfs/tmp rootfs/etc &&
	printf "root:x:0:0:root:/root:/bin/sh\nci:x:1000:1000:ci:/tmp:/bin/sh\n" >rootfs/etc/passwd &&
	printf "root:x:0:\nci:x:1000:\n" >rootfs/etc/group &&
	cp /bin/busybox rootfs/bin/ &&
	for a in $(rootfs/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "rootfs/bin/$a"
	done &&
	tar -C rootfs -c . | $DOCKER import -c "ENV PATH=/bin" - cbtest/busybox:1 >/dev/null &&
	tar -c -T /dev/null | $DOCKER import - cbtest/empty:1 >/dev/null &&
	$DOCKER image inspect cbtest/busybox:1 >/dev/null
'

# Two mounts in one RUN: one owned by uid 1000 with mode 0750 and written
# again by USER 1000, one with the defaults.
mkdir -p app
cat >app/Dockerfile <<'EOF'
FROM cbtest/busybox:1
ARG NONCE
RUN --mount=type=cache,id=counter,target=/c,uid=1000,gid=1000,mode=0750 \
    --mount=type=cache,target=/root/.cache \
    n=$(cat /c/count 2>/dev/null || echo 0); echo $((n + 1)) >/c/count; \
    stat -c '%u %g %a' /c >/c/owner; echo "$NONCE" >>/root/.cache/nonces
USER 1000
RUN --mount=type=cache,id=counter,target=/c,uid=1000,gid=1000,mode=0750 \
    echo "$NONCE" >>/c/by-user
EOF

test_expect_success 'build 1 fills the host directories, owned by the caller' '
	cb -- --network=none --build-arg NONCE=1 -t app app &&
	expect_eq "$(cat .cachebuild/counter/count)" 1 &&
	expect_eq "$(cat .cachebuild/counter/owner)" "1000 1000 750" &&
	expect_eq "$(cat .cachebuild/counter/by-user)" 1 &&
	expect_eq "$(cat .cachebuild/root_.cache/nonces)" 1 &&
	expect_eq "$(stat -c %a .cachebuild/counter)" 750 &&
	expect_eq "$(find .cachebuild ! -user $(id -u) | wc -l)" 0 &&
	expect_grep "no host directory .* nothing to inject" err &&
	expect_grep "cache .counter.: extracted" err &&
	expect_grep "2 cache mounts: injected 0 .*, extracted 2 " err
'

test_expect_success 'after docker builder prune -af, build 2 sees what build 1 left' '
	prune &&
	cb -- --network=none --build-arg NONCE=2 -t app app &&
	expect_grep "cache .counter.: injecting" err &&
	expect_eq "$(cat .cachebuild/counter/count)" 2 &&
	expect_eq "$(cat .cachebuild/counter/owner)" "1000 1000 750" &&
	expect_eq "$(cat .cachebuild/counter/by-user | tr "\n" " ")" "1 2 " &&
	expect_eq "$(cat .cachebuild/root_.cache/nonces | tr "\n" " ")" "1 2 " &&
	expect_eq "$(find .cachebuild ! -user $(id -u) | wc -l)" 0
'

test_expect_success 'nothing changed: inject and extract are skipped' '
	cb -- --network=none --build-arg NONCE=2 -t app app &&
	expect_grep "counter.: the builder already holds .* inject skipped" err &&
	expect_grep "counter.: unchanged, extract skipped" err &&
	expect_grep "injected 0 .*, extracted 0 " err &&
	expect_eq "$(cat .cachebuild/counter/count)" 2
'

test_expect_success 'a fresh builder is not probed; one that kept its cache is' '
	prune &&
	cb -v -- --network=none --build-arg NONCE=p -t app app &&
	expect_grep "holds no cache mounts: nothing to probe" err &&
	expect_no_grep "probed the builder" err &&
	expect_grep "counter.: injecting" err &&
	cb -v -- --network=none --build-arg NONCE=p -t app app &&
	expect_grep "probed the builder" err &&
	expect_grep "counter.: the builder already holds" err
'

test_expect_success 'a host directory changed on the host is injected again' '
	echo 41 >.cachebuild/counter/count &&
	cb -- --network=none --build-arg NONCE=3 -t app app &&
	expect_grep "counter.: injecting" err &&
	expect_grep "/root/.cache.: the builder already holds" err &&
	expect_eq "$(cat .cachebuild/counter/count)" 42
'

mkdir -p stages
cat >stages/Dockerfile <<'EOF'
FROM cbtest/busybox:1 AS a
ARG NONCE
RUN --mount=type=cache,id=locked,target=/l,sharing=locked \
    --mount=type=cache,id=priv,target=/p,sharing=private \
    echo "$NONCE" >>/l/log; echo "$NONCE" >>/p/log

FROM cbtest/busybox:1 AS b
ARG NONCE
RUN --mount=type=cache,id=stage-b,target=/b,mode=0700,gid=33 \
    echo "$NONCE" >>/b/log; stat -c '%u %g %a' /b >/b/owner

FROM cbtest/busybox:1
COPY --from=a /bin/true /a
COPY --from=b /bin/true /b
EOF

test_expect_success 'sharing=locked and private, mounts in several stages' '
	cb -- --network=none --build-arg NONCE=x stages &&
	prune &&
	cb -- --network=none --build-arg NONCE=y stages &&
	expect_eq "$(cat .cachebuild/locked/log | tr "\n" " ")" "x y " &&
	expect_eq "$(cat .cachebuild/priv/log | tr "\n" " ")" "x y " &&
	expect_eq "$(cat .cachebuild/stage-b/log | tr "\n" " ")" "x y " &&
	expect_eq "$(cat .cachebuild/stage-b/owner)" "0 33 700" &&
	expect_eq "$(stat -c %a .cachebuild/stage-b)" 700
'

test_expect_success '--map to a relative and an absolute directory' '
	prune &&
	cb --map counter=rel/counter --map "/root/.cache=$TRASH/abs/root-cache" -- \
		--network=none --build-arg NONCE=m1 app &&
	expect_eq "$(cat rel/counter/count)" 1 &&
	expect_eq "$(cat "$TRASH/abs/root-cache/nonces")" m1 &&
	prune &&
	(mkdir -p sub && cd sub && cachebuild --helper-image cbtest/busybox:1 \
		--map counter=../rel/counter --map "/root/.cache=$TRASH/abs/root-cache" -- \
		--network=none --build-arg NONCE=m2 ../app) 2>err &&
	expect_eq "$(cat rel/counter/count)" 2 &&
	expect_eq "$(cat "$TRASH/abs/root-cache/nonces" | tr "\n" " ")" "m1 m2 " &&
	[ ! -e sub/.cachebuild ] && [ ! -e .cachebuild/root_.cache/m2 ]
'

mkdir -p tree
cat >tree/Dockerfile <<'EOF'
FROM cbtest/busybox:1
ARG STEP
RUN --mount=type=cache,id=tree,target=/t \
    if [ "$STEP" = 1 ]; then \
        mkdir -p /t/dir/sub && echo keep >/t/keep && echo gone >/t/gone && \
        echo gone >/t/dir/sub/gone && ln -s keep /t/link && \
        echo x >/t/exe && chmod 751 /t/exe && chmod 700 /t/dir && \
        touch -d "2001-02-03 04:05:06" /t/keep; \
    else \
        rm -r /t/gone /t/dir/sub; \
    fi
EOF

test_expect_success 'extraction keeps modes, mtimes, symlinks; deleted files disappear' '
	cb -- --network=none --build-arg STEP=1 tree &&
	T=.cachebuild/tree &&
	expect_eq "$(readlink $T/link)" keep &&
	expect_eq "$(stat -c %a $T/exe)" 751 &&
	expect_eq "$(stat -c %a $T/dir)" 700 &&
	expect_eq "$(TZ=UTC stat -c %y $T/keep)" "2001-02-03 04:05:06.000000000 +0000" &&
	[ -f $T/gone ] && [ -f $T/dir/sub/gone ] &&
	prune &&
	cb -- --network=none --build-arg STEP=2 tree &&
	[ ! -e $T/gone ] && [ ! -e $T/dir/sub ] &&
	expect_eq "$(cat $T/keep)" keep &&
	expect_eq "$(readlink $T/link)" keep &&
	expect_eq "$(ls -a .cachebuild | grep -c "cachebuild-[A-Za-z0-9]\{6\}$")" 0 &&
	[ -f .cachebuild/tree.cachebuild-state ]
'

mkdir -p delta
cat >delta/Dockerfile <<'EOF'
FROM cbtest/busybox:1
ARG STEP
RUN --mount=type=cache,id=delta,target=/d \
    if [ "$STEP" = 1 ]; then \
        mkdir -p /d/keep /d/d2f /d/gone/sub && head -c 300000 /dev/urandom >/d/keep/big && \
        echo aaaa >/d/same && echo x >/d/meta && echo f >/d/f2d && echo g >/d/d2f/g && \
        echo g >/d/gone/sub/g && ln -s keep/big /d/link; \
    elif [ "$STEP" = 2 ]; then \
        echo bbbb >/d/same && touch -d "2003-04-05 06:07:08" /d/meta && chmod 600 /d/meta && \
        rm /d/f2d && mkdir /d/f2d && echo in >/d/f2d/in && rm -r /d/d2f && echo file >/d/d2f && \
        rm -r /d/gone && ln -sfn same /d/link && echo new >/d/new && chmod 700 /d/keep; \
    fi
EOF

# tree DIR: what a copy of a mount must keep, in a comparable form.
tree() { (cd "$1" && find . -printf '%p %y %m %s %l\n' | sort &&
	find . ! -type l -printf '%p %TY-%Tm-%Td %TH:%TM:%.2TS\n' | sort &&
	find . -type f -exec md5sum {} + | sort); }

test_expect_success 'a changes-only extract: what changed comes back, nothing is written through' '
	prune &&
	cb -- --network=none --build-arg STEP=1 delta &&
	H=.cachebuild/delta &&
	big_ino=$(stat -c %i $H/keep/big) &&
	ln $H/same outside-link &&
	cb -- --network=none --build-arg STEP=2 delta &&
	expect_grep "cache .delta.: extracted .* (changes only: 5 entries sent, 4 removed)" err &&
	expect_eq "$(cat $H/same)" bbbb &&
	expect_eq "$(cat outside-link)" aaaa &&
	expect_eq "$(stat -c %i $H/keep/big)" "$big_ino" &&
	expect_eq "$(cat $H/meta)" x &&
	expect_eq "$(stat -c %a $H/meta)" 600 &&
	expect_eq "$(TZ=UTC stat -c %y $H/meta)" "2003-04-05 06:07:08.000000000 +0000" &&
	expect_eq "$(stat -c %a $H/keep)" 700 &&
	expect_eq "$(cat $H/f2d/in)" in &&
	expect_eq "$(cat $H/d2f)" file &&
	expect_eq "$(readlink $H/link)" same &&
	expect_eq "$(cat $H/new)" new &&
	[ ! -e $H/gone ] &&
	expect_eq "$(ls -a .cachebuild | grep -c "cachebuild-[A-Za-z0-9]\{6\}$")" 0
'

test_expect_success 'a changes-only extract gives the tree a whole extract gives' '
	CACHEBUILD_FULL_EXTRACT=1 cb --no-inject --map "delta=$TRASH/whole" -- \
		--network=none --build-arg STEP=3 delta &&
	expect_no_grep "changes only" err &&
	tree .cachebuild/delta >delta.tree &&
	tree "$TRASH/whole" >whole.tree &&
	expect_eq "$(wc -l <delta.tree)" 25 &&
	diff -u whole.tree delta.tree
'

mkdir -p failing
cat >failing/Dockerfile <<'EOF'
FROM cbtest/busybox:1
RUN --mount=type=cache,id=failing,target=/f echo downloaded >/f/pkg && false
EOF

test_expect_success 'a failing build exits 8 and its cache is still extracted' '
	expect_code 8 cb -- --network=none failing &&
	expect_grep "the build failed (.* exited 1); extracting the cache mounts all the same" err &&
	expect_eq "$(cat .cachebuild/failing/pkg)" downloaded &&
	echo old >.cachebuild/failing/pkg &&
	expect_code 8 cb --no-extract -- --network=none failing &&
	expect_eq "$(cat .cachebuild/failing/pkg)" old
'

test_expect_success 'a syntax error or an unknown mount option: exit 3, line named, nothing built' '
	mkdir -p bad &&
	printf "FROM cbtest/busybox:1\nRUN --mount=type=cache,target=/x,colour=blue true\n" >bad/Dockerfile &&
	expect_code 3 cb -- --network=none bad &&
	expect_grep "bad/Dockerfile:2: unknown cache mount option .colour." err &&
	expect_no_grep "injecting" err &&
	printf "FROM cbtest/busybox:1\nRUN true\nRUNN oops\n" >bad/Dockerfile &&
	expect_code 3 cb -- --network=none bad &&
	expect_grep "bad/Dockerfile:3: unknown instruction .RUNN." err &&
	$DOCKER images -q --filter dangling=true >/dev/null
'

# Docker 20.10 gives a --no-cache build fresh, empty cache mounts, but
# only for mounts that write none of uid, gid, mode: check both halves of
# that on the engine, then what cachebuild makes of it.
mkdir -p nocache-plain nocache-mode
printf 'FROM cbtest/busybox:1\nARG NONCE\nRUN --mount=type=cache,id=nc-plain,target=/c echo "$NONCE"; test -f /c/f || (touch /c/f; false)\n' >nocache-plain/Dockerfile
printf 'FROM cbtest/busybox:1\nARG NONCE\nRUN --mount=type=cache,id=nc-mode,target=/c,mode=0755 echo "$NONCE"; test -f /c/f || (touch /c/f; false)\n' >nocache-mode/Dockerfile

test_expect_success 'on the engine: --no-cache empties only mounts without uid/gid/mode' '
	if [ "$CB_BUILDER" = buildx ]; then
		dbuild() { $DOCKER buildx build --network=none -q "$@" >/dev/null 2>&1; }
	else
		dbuild() { DOCKER_BUILDKIT=1 $DOCKER build --network=none -q "$@" >/dev/null 2>&1; }
	fi &&
	for d in nocache-plain nocache-mode; do
		! dbuild --build-arg NONCE=1 $d &&	# creates /c/f, fails
		dbuild --build-arg NONCE=2 $d || exit 1	# sees it
	done &&
	! dbuild --no-cache nocache-plain &&
	dbuild --no-cache nocache-mode
'

test_expect_success '--no-cache: mounts without uid/gid/mode are skipped, with a warning' '
	before=$(cat .cachebuild/counter/count) &&
	cb -- --network=none --no-cache --build-arg NONCE=nc -t app app &&
	expect_grep "no-cache: cache ./root/.cache. (app/Dockerfile:3) is neither injected nor extracted" err &&
	expect_no_grep "no-cache: cache .counter." err &&
	expect_no_grep nc .cachebuild/root_.cache/nonces &&
	expect_eq "$(cat .cachebuild/counter/count)" $((before + 1))
'

test_expect_success 'run as another user: files come back owned by that user' '
	mkdir -p nr && chown 65534:65534 nr && chmod 755 "$TRASH" &&
	chmod 666 "$D/docker.sock" &&
	prune &&
	(cd nr && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$TRASH/nr" \
		"$CICACHE_BIN/cachebuild" --helper-image cbtest/busybox:1 -- \
		--network=none --build-arg NONCE=nr ../app) 2>err &&
	expect_eq "$(cat nr/.cachebuild/counter/count)" 1 &&
	expect_eq "$(cat nr/.cachebuild/counter/owner)" "1000 1000 750" &&
	expect_eq "$(find nr/.cachebuild ! -user 65534 | wc -l)" 0 &&
	prune &&
	(cd nr && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$TRASH/nr" \
		"$CICACHE_BIN/cachebuild" --helper-image cbtest/busybox:1 -- \
		--network=none --build-arg NONCE=nr2 ../app) 2>err &&
	expect_eq "$(cat nr/.cachebuild/counter/count)" 2
'

# A file the user does not own cannot be hard-linked by them when
# fs.protected_hardlinks is on (Debian's default): the changes-only
# extract cannot copy the host directory and falls back to a whole one.
if [ "$(cat /proc/sys/fs/protected_hardlinks 2>/dev/null)" = 1 ]; then
	test_expect_success 'a changes-only extract that cannot apply falls back to a whole one' '
		echo root >nr/.cachebuild/counter/by-root &&
		(cd nr && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$TRASH/nr" \
			"$CICACHE_BIN/cachebuild" --helper-image cbtest/busybox:1 -- \
			--network=none --build-arg NONCE=nr3 ../app) 2>err &&
		expect_grep "counter.: the changes-only extract did not apply (cannot link .*by-root.*); extracted it whole" err &&
		expect_eq "$(cat nr/.cachebuild/counter/count)" 3 &&
		expect_eq "$(cat nr/.cachebuild/counter/by-root)" root &&
		expect_eq "$(find nr/.cachebuild ! -user 65534 | wc -l)" 0 &&
		expect_eq "$(ls -a nr/.cachebuild | grep -c "cachebuild-[A-Za-z0-9]\{6\}$")" 0
	'
else
	echo "# protected_hardlinks is off: the fallback of a changes-only extract is not exercised"
fi

test_expect_success '--store/--key: a fresh runner gets the caches back' '
	prune &&
	mkdir -p runner1 runner2 &&
	(cd runner1 && cachebuild --helper-image cbtest/busybox:1 --store "$TRASH/store" \
		--key app-1 -- --network=none --build-arg NONCE=s1 ../app) >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	expect_eq "$(cat runner1/.cachebuild/counter/count)" 1 &&
	prune &&
	(cd runner2 && CACHE_STORE="$TRASH/store" CACHE_KEY=app-2 cachebuild \
		--helper-image cbtest/busybox:1 --restore-key app- -- \
		--network=none --build-arg NONCE=s2 ../app) >out 2>err &&
	expect_grep "^cache-matched-key=app-1$" out &&
	expect_eq "$(cat runner2/.cachebuild/counter/count)" 2 &&
	expect_eq "$(cat runner2/.cachebuild/root_.cache/nonces | tr "\n" " ")" "s1 s2 " &&
	expect_grep "^cache-saved=true$" out
'

if [ -n "$STATIC_CB" ]; then
	# What a runner without registry access has: no busybox image; the
	# static cachebuild needs none (the old default pulled busybox:1.36).
	test_expect_success 'no helper image at all: the static cachebuild round trip' '
		prune &&
		! $DOCKER image inspect busybox:1.36 >/dev/null 2>&1 &&
		mkdir -p noreg &&
		(cd noreg && "$STATIC_CB" --store "$TRASH/store-noreg" --key nr-1 -- \
			--network=none --build-arg NONCE=n1 ../app) >out 2>err &&
		expect_grep "^cache-saved=true$" out &&
		expect_grep "counter.: extracted" err &&
		expect_eq "$(cat noreg/.cachebuild/counter/count)" 1 &&
		expect_eq "$(cat noreg/.cachebuild/counter/owner)" "1000 1000 750" &&
		prune && rm -rf noreg/.cachebuild &&
		(cd noreg && "$STATIC_CB" --store "$TRASH/store-noreg" --key nr-2 \
			--restore-key nr- -- --network=none --build-arg NONCE=n2 ../app) >out 2>err &&
		expect_grep "^cache-matched-key=nr-1$" out &&
		expect_grep "counter.: injecting" err &&
		expect_eq "$(cat noreg/.cachebuild/counter/count)" 2 &&
		expect_eq "$(cat noreg/.cachebuild/root_.cache/nonces | tr "\n" " ")" "n1 n2 " &&
		expect_no_grep "busybox:1.36" err &&
		! $DOCKER image inspect busybox:1.36 >/dev/null 2>&1
	'
	test_expect_success '--helper-bin that is not a static cachebuild: clear error, exit 9' '
		prune &&
		expect_code 9 cachebuild --helper-bin /bin/true -- --network=none app 2>err &&
		expect_grep "the [a-z]* build with the helper binary .[/a-z]*/bin/true. failed (exit [0-9]*): .*full log" err &&
		log=$(sed -n "s/.*full log: .\(.*\.log\).).*/\1/p" err) &&
		[ -s "$log" ] && rm -rf "$(dirname "$log")" &&
		expect_code 2 cachebuild --helper-bin "$TRASH/no-such" -- app 2>err &&
		expect_grep "helper-bin .*no-such.: No such file" err &&
		expect_code 2 cachebuild --helper-bin "$STATIC_CB" --helper-image x -- app 2>err &&
		expect_grep "exclude each other" err
	'
else
	echo "# SKIP the static cachebuild round trip without a helper image (no static cachebuild)"
fi

if [ "$(linked "$CICACHE_BIN/cachebuild")" = dynamic ]; then
	test_expect_success 'a dynamic cachebuild falls back to busybox:1.36 (tagged locally)' '
		$DOCKER tag cbtest/busybox:1 busybox:1.36 &&
		prune &&
		cachebuild -- --network=none --build-arg NONCE=d -t app app 2>err &&
		expect_grep "dynamically linked: the copy builds run on the image .busybox:1.36." err &&
		expect_grep "counter.: injecting" err
	'
fi

test_expect_success 'a helper image without the tools: clear error, exit 9' '
	expect_code 9 cachebuild --helper-image cbtest/empty:1 -- --network=none app 2>err &&
	expect_grep "the [a-z]* build on helper image .cbtest/empty:1. failed (exit [0-9]*): .*full log" err &&
	log=$(sed -n "s/.*full log: .\(.*\.log\).).*/\1/p" err) &&
	[ -s "$log" ] && rm -rf "$(dirname "$log")"
'

if [ "$CB_BUILDER" = buildx ]; then
	test_expect_success 'buildx: --builder NAME in BUILD-ARGS is asked and used' '
		prune &&
		cb -v -- --builder default --network=none --build-arg NONCE=b -t app app &&
		expect_grep "counter.: injecting" err &&
		expect_grep "cache .counter.: extracted" err &&
		expect_code 9 cb -- --builder no-such-builder --network=none app &&
		expect_grep "builder .buildx. is not available: .*no-such-builder" err
	'
	test_expect_success 'buildx: the BuildKit version decides how --mount values are read' '
		cb -v -- --network=none --build-arg NONCE=v -t app app &&
		expect_grep "read as written (no ARG/ENV expansion)" err &&
		cb -v --print-mounts -- app >/dev/null &&
		expect_grep "read as written (no ARG/ENV expansion)" err &&
		CACHEBUILD_MOUNT_VARS=expand cb -v --print-mounts -- app >/dev/null &&
		expect_grep "read with ARG/ENV expanded" err
	'
fi

test_done
