#!/usr/bin/env bash
# t1000: cachebuild without a builder: --help, usage errors, and
# --print-mounts (table and JSON) on the fixtures in tests/builder/:
# stages, continuations, the escape directive, several mounts per RUN,
# ARG/ENV in mount options (for a frontend that expands them and for
# Docker 20.10's, which does not), --target, --build-arg, --map,
# --cache-root, and clear errors naming the Dockerfile line.
. "$(dirname "$0")/lib.sh"

FIX="$TEST_DIR/builder"
# Never reach a real docker: print-mounts is told how --mount values are
# read, and any other path finds no client.
export CACHEBUILD_DOCKER="$TRASH/no-such-docker" CACHEBUILD_MOUNT_VARS=expand
unset CACHEBUILD_CACHE_ROOT CACHEBUILD_MAP CACHEBUILD_BUILDER CACHEBUILD_HELPER_IMAGE \
      CACHEBUILD_NO_INJECT CACHEBUILD_NO_EXTRACT
cp -r "$FIX/multi" "$FIX/escape" .
cp "$FIX"/*.Dockerfile .

test_expect_success '--help and --version' '
	cachebuild --help >out &&
	expect_grep "^usage: cachebuild" out &&
	expect_grep "print-mounts" out &&
	expect_grep "map ID=HOSTDIR" out &&
	[ "$(awk "length > 79" out | wc -l)" = 0 ] &&
	cachebuild --version >out &&
	expect_grep "^cachebuild (cicache) " out
'

test_expect_success 'usage errors exit 2 with a message' '
	expect_code 2 cachebuild 2>err && expect_grep "no BUILD-ARGS" err &&
	expect_code 2 cachebuild -p -- -t x 2>err && expect_grep "no build context" err &&
	expect_code 2 cachebuild -p -- a b 2>err && expect_grep "two contexts" err &&
	expect_code 2 cachebuild -p -- - 2>err && expect_grep "not a local directory" err &&
	expect_code 2 cachebuild -p -- https://example.com/x.git 2>err &&
	expect_code 2 cachebuild -p -- -f - . 2>err && expect_grep "standard input" err &&
	expect_code 2 cachebuild -p -- --target 2>err && expect_grep "needs a value" err &&
	expect_code 2 cachebuild --map nope -p -- . 2>err && expect_grep "ID=HOSTDIR" err &&
	expect_code 2 cachebuild --json -- multi 2>err && expect_grep "with --print-mounts" err &&
	expect_code 2 cachebuild --store s -- multi 2>err && expect_grep "needs --key" err &&
	expect_code 2 cachebuild --restore-key p -- multi 2>err &&
	expect_code 2 cachebuild --bogus -- multi 2>err && expect_grep "Try" err &&
	expect_code 2 cachebuild -C "" -p -- multi 2>err
'

test_expect_success 'print-mounts: stages, continuations, ARG and ENV, dedup' '
	(cd multi && cachebuild --print-mounts -- .) >out &&
	cat out &&
	[ "$(wc -l <out)" = 6 ] &&
	expect_grep "^ID  *TARGET  *SHARING  *UID  *GID  *MODE  *STAGE  *LINES  *HOST DIR$" out &&
	expect_grep "^/root/.npm  */root/.npm  *locked  *0  *0 0755 deps  *7  *.cachebuild/root_.npm$" out &&
	expect_grep "^gomod  */go/pkg/mod  *shared  *1000  *100 0750 deps  *7,16  *.cachebuild/gomod$" out &&
	expect_grep "^/root/.cache/go-build  */root/.cache/go-build .* deps  *7  *.cachebuild/root_.cache_go-build$" out &&
	expect_grep "^/var/cache/apt  .* private .* build  *16  *.cachebuild/var_cache_apt (read-only)$" out &&
	expect_grep "^test-cache  */tmp/t .* test  *21  *.cachebuild/test-cache (not carried)$" out
'

test_expect_success 'print-mounts --json is valid JSON with every option' '
	cachebuild -p --json -- -f multi/Dockerfile multi >out.json &&
	python3 - out.json <<-\EOF
	import json, sys
	d = json.load(open(sys.argv[1]))
	assert d["dockerfile"] == "multi/Dockerfile", d["dockerfile"]
	m = {x["id"]: x for x in d["mounts"]}
	assert list(m) == ["/root/.npm", "gomod", "/root/.cache/go-build", "/var/cache/apt", "test-cache"], list(m)
	g = m["gomod"]
	assert (g["uid"], g["gid"], g["mode"], g["sharing"], g["lines"], g["stage"]) == (1000, 100, "0750", "shared", [7, 16], "deps"), g
	assert m["/var/cache/apt"]["readonly"] is True and m["/var/cache/apt"]["sharing"] == "private"
	t = m["test-cache"]
	assert (t["from"], t["source"], t["target"], t["carried"]) == ("build", "/tmp", "/tmp/t", False), t
	assert m["/root/.npm"]["from"] is None and m["/root/.npm"]["carried"] is True
	assert g["hostdir"] == ".cachebuild/gomod"
	EOF
'

test_expect_success '--target drops later stages; --build-arg reaches mount options' '
	cachebuild -p -- --target=build --build-arg CACHE_UID=42 multi >out &&
	expect_grep "^gomod  */go/pkg/mod  *shared  *42 " out &&
	expect_no_grep "test-cache" out &&
	cachebuild -p -- --target deps multi >out &&
	expect_no_grep "/var/cache/apt" out &&
	CACHE_UID=7 cachebuild -p -- --build-arg CACHE_UID multi >out &&
	expect_grep "^gomod  */go/pkg/mod  *shared  *7 " out &&
	expect_code 2 cachebuild -p -- --target nope multi 2>err &&
	expect_grep "no such stage" err
'

test_expect_success 'a frontend that does not expand (Docker 20.10): a clear error' '
	(cd multi && expect_code 3 env CACHEBUILD_MOUNT_VARS=literal cachebuild -p -- . 2>../err) &&
	expect_grep "Dockerfile:7: uid=\${CACHE_UID} is not a whole number (this builder.s frontend does not expand" err &&
	printf "FROM scratch\nARG X=/x\nRUN --mount=type=cache,target=\$X t\n" >lit.Dockerfile &&
	CACHEBUILD_MOUNT_VARS=literal cachebuild -p -- -f lit.Dockerfile . >out &&
	expect_grep "^\\\$X  *\\\$X " out &&
	CACHEBUILD_MOUNT_VARS=expand cachebuild -p -- -f lit.Dockerfile . >out &&
	expect_grep "^/x  */x " out
'

test_expect_success 'the escape directive, odd ids and their host directories' '
	cachebuild -p -- -f escape/Dockerfile.win escape >out &&
	cat out &&
	expect_grep "^C:\\\\Users\\\\ci\\\\AppData\\\\Local\\\\NuGet .* 4  *.cachebuild/C__Users_ci_AppData_Local_NuGet$" out &&
	expect_grep "^weird/id:with\\*chars  */w .*  *.cachebuild/weird_id_with_chars$" out
'

test_expect_success '--map (relative, absolute), --cache-root and its twin' '
	cachebuild -p --map gomod=deps/mod --map "/root/.npm=$TRASH/npm" -C /var/cb -- multi >out &&
	expect_grep " deps/mod$" out &&
	expect_grep " $TRASH/npm$" out &&
	expect_grep " /var/cb/root_.cache_go-build$" out &&
	CACHEBUILD_CACHE_ROOT=twin cachebuild -p -- multi >out &&
	expect_grep " twin/gomod$" out &&
	CACHEBUILD_MAP="$(printf "gomod=m1\n  /var/cache/apt=m2  \n")" cachebuild -p -- multi >out &&
	expect_grep " m1$" out && expect_grep " m2 (read-only)$" out &&
	cachebuild -p --map nosuch=x -- multi >out 2>err &&
	expect_grep "no cache mount has id .nosuch." err
'

test_expect_success 'a lowercase dockerfile is found as docker finds it' '
	mkdir -p lower &&
	printf "FROM scratch\nRUN --mount=type=cache,target=/lc t\n" >lower/dockerfile &&
	cachebuild -p -- lower >out &&
	expect_grep "^/lc  */lc " out
'

test_expect_success 'two ids that sanitise alike get distinct host directories' '
	printf "FROM scratch\nRUN --mount=type=cache,id=a/b,target=/1 --mount=type=cache,id=a_b,target=/2 t\n" >clash.Dockerfile &&
	cachebuild -p -- -f clash.Dockerfile . >out &&
	expect_grep "^a/b .* .cachebuild/a_b$" out &&
	expect_grep "^a_b .* .cachebuild/a_b-[0-9a-f]\{8\}$" out
'

test_expect_success 'same id, different uid: two caches (BuildKit keys on uid)' '
	printf "FROM scratch\nRUN --mount=type=cache,id=c,target=/1 t\nRUN --mount=type=cache,id=c,target=/2,uid=0 t\nRUN --mount=type=cache,id=c,target=/3 t\n" >uid.Dockerfile &&
	cachebuild -p -- -f uid.Dockerfile . >out &&
	[ "$(grep -c "^c " out)" = 2 ] &&
	expect_grep "^c  */1 .* 2,4  *.cachebuild/c$" out
'

test_expect_success 'invalid Dockerfiles: exit 3, the file and line named' '
	expect_code 3 cachebuild -p -- -f bad-option.Dockerfile . 2>err &&
	expect_grep "bad-option.Dockerfile:3: unknown cache mount option .colour. in .--mount=type=cache,target=/b,colour=blue." err &&
	expect_code 3 cachebuild -p -- -f bad-instruction.Dockerfile . 2>err &&
	expect_grep "bad-instruction.Dockerfile:3: unknown instruction .FROBNICATE." err &&
	expect_code 3 cachebuild -p -- -f space-mount.Dockerfile . 2>err &&
	expect_grep "space-mount.Dockerfile:2: .--mount. needs its value after .=." err &&
	expect_code 3 cachebuild -p -- -f missing.Dockerfile . 2>err &&
	expect_grep "cannot open Dockerfile .missing.Dockerfile.: No such file" err &&
	expect_code 3 cachebuild -p -- empty-dir-without-dockerfile 2>err &&
	expect_grep "empty-dir-without-dockerfile/Dockerfile" err
'

test_expect_success 'builder choice: buildctl and unknown names are refused' '
	expect_code 2 cachebuild --builder buildctl -- multi 2>err &&
	expect_grep "buildctl is not supported yet" err &&
	expect_code 2 cachebuild --builder podman -- multi 2>err &&
	expect_grep "unknown builder .podman." err &&
	expect_code 9 cachebuild --builder docker -- multi 2>err &&
	expect_grep "builder .docker. is not available: cannot run .*no-such-docker" err &&
	expect_code 9 env CACHEBUILD_BUILDER=buildx cachebuild -- multi 2>err &&
	expect_grep "builder .buildx. is not available" err
'

test_done
