#!/usr/bin/env bash
# t0910: cicache's gha store (common/store-gha.c) against the twirp
# fixture and a real Azurite (the fixture itself is held to the official
# client by t0900): round trip, rolling saves (the newest wins),
# restore-key fallback, dedup across saves read from the fixture's
# request log, Put Block uploads, 429 with Retry-After and 5xx bursts,
# a truncated blob (exit 5, never a hit), token errors (exit 4), the
# entry count per save, --immutable, and namespaces.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/gha/start.sh"
gha_start

# Counters over the fixture's log from line $1 on: new entries created,
# blob bytes uploaded, twirp calls with a status.
logjs() { gha_log | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
	const all = s.trim().split("\n").filter(Boolean).map(JSON.parse);
	const l = all.slice(Number(process.argv[1])); const r = eval(process.argv[2]);
	console.log(r); })' "$@"; }
mark() { gha_log | wc -l; }
created() { logjs "$1" 'l.filter(r => r.method === "CreateCacheEntry" && r.status === 200).length'; }
uploaded() { logjs "$1" 'l.filter(r => r.kind === "blob" && r.method === "PUT").reduce((a, r) => a + r.req_bytes, 0)'; }

test_expect_success 'a plain run: step without the token gets a clear error (exit 4)' '
	mkdir -p data && echo x >data/f &&
	(unset ACTIONS_RUNTIME_TOKEN; expect_code 4 cache-save --store gha --key k --path data 2>err) &&
	cat err &&
	expect_grep "ACTIONS_RUNTIME_TOKEN is not set" err &&
	expect_grep "run:" err && expect_grep "ci-templates/github" err &&
	(unset ACTIONS_RESULTS_URL ACTIONS_RUNTIME_TOKEN
	 expect_code 4 cache-restore --store gha://ns --key k 2>err) &&
	expect_grep "ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN are not set" err
'

test_expect_success 'save and restore round trip' '
	rm -rf data && mkdir -p data/sub && seq 1 50000 >data/sub/numbers &&
	echo hello >data/small && ln -s small data/link && chmod 600 data/small &&
	m=$(mark) &&
	cache-save --store gha --key deps-v1-aaa --path data >out &&
	expect_grep "^cache-saved=true$" out &&
	n=$(created $m) && test "$n" -ge 2 && test "$n" -le 4 &&
	logjs $m "l.filter(r => r.method === \"CreateCacheEntry\").map(r => r.key).join(\"\\n\")" >keys &&
	grep -q "^cicache/keys/deps-v1-aaa @[0-9a-f]\{16\}/[0-9]\{19\}$" keys &&
	grep -q "^cicache/packs/[0-9a-f]\{32\}\.pack/0$" keys &&
	cp -a data data.orig && rm -rf data &&
	cache-restore --store gha --key deps-v1-aaa >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree data.orig data
'

test_expect_success 'rolling save: the same key again, the newer entry wins' '
	echo two >data/small &&
	cache-save --store gha --key roll --path data >/dev/null &&
	echo three >data/small &&
	cache-save --store gha --key roll --path data >/dev/null &&
	rm -rf data &&
	cache-restore --store gha --key roll >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat data/small)" three &&
	curl -sf "$(gha_url)/_fixture/entries" | grep -o "\"key\":\"cicache/keys/roll @[0-9a-f]*/[0-9]*\"" >e &&
	expect_eq "$(wc -l <e)" 2
'

test_expect_success '--immutable keeps the first entry' '
	echo four >data/small &&
	cache-save --store gha --immutable --key roll --path data >out &&
	expect_grep "^cache-saved=false$" out &&
	cache-save --store gha --immutable --key imm --path data >out &&
	expect_grep "^cache-saved=true$" out &&
	echo five >data/small &&
	cache-save --store gha --immutable --key imm --path data >out &&
	expect_grep "^cache-saved=false$" out &&
	rm -rf data && cache-restore --store gha --key imm >/dev/null &&
	expect_eq "$(cat data/small)" four
'

test_expect_success 'restore-key fallback picks the newest match; a miss is a miss' '
	rm -rf data &&
	cache-restore --store gha --key deps-v1-zzz --restore-key deps-v1- --restore-key ro >out &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "^cache-matched-key=deps-v1-aaa$" out &&
	expect_same_tree data.orig data &&
	rm -rf data &&
	cache-restore --store gha --key nothing --restore-key nope- --restore-key ro >out &&
	expect_grep "^cache-matched-key=roll$" out &&
	expect_eq "$(cat data/small)" three &&
	rm -rf data &&
	cache-restore --store gha --key nothing --restore-key nope- >out &&
	expect_grep "^cache-hit=false$" out && expect_grep "^cache-matched-key=$" out &&
	test ! -e data
'

test_expect_success 'namespaces keep stores apart' '
	rm -rf data && cp -a data.orig data &&
	cache-save --store gha://team-a --key ns-key --path data >/dev/null &&
	rm -rf data &&
	cache-restore --store gha://team-b --key ns-key >out &&
	expect_grep "^cache-hit=false$" out && test ! -e data &&
	cache-restore --store gha://team-a --key ns-key >out &&
	expect_grep "^cache-hit=true$" out && expect_same_tree data.orig data &&
	expect_code 2 cache-restore --store "gha://bad/ns" --key k 2>err &&
	expect_grep "bad gha namespace" err
'

test_expect_success 'big packs go up as parallel blocks; a small change uploads little' '
	mkdir -p big && head -c 24000000 /dev/urandom >big/blob && seq 1 100000 >big/text &&
	m=$(mark) &&
	cache-save --store gha --key big-1 --path big >/dev/null &&
	first=$(uploaded $m) && test "$first" -gt 24000000 &&
	test "$(logjs $m "l.filter(r => r.comp === \"block\").length")" -ge 3 &&
	test "$(logjs $m "l.filter(r => r.comp === \"blocklist\").length")" = 1 &&
	echo changed >>big/text &&
	m=$(mark) &&
	cache-save --store gha --key big-1 --path big >/dev/null &&
	second=$(uploaded $m) &&
	echo "first save $first bytes, second $second bytes" &&
	test "$second" -lt 1000000 &&
	test "$(created $m)" -le 3 &&
	cp -a big big.orig && rm -rf big &&
	cache-restore --store gha --key big-1 >out &&
	expect_grep "^cache-hit=true$" out && expect_same_tree big.orig big
'

test_expect_success 'dedup finds the restore-key match even when another key is newer' '
	mkdir -p dd && head -c 6000000 /dev/urandom >dd/blob &&
	cache-save --store gha --key dd-linux-1 --path dd >/dev/null &&
	mkdir -p other && head -c 100000 /dev/urandom >other/x &&
	cache-save --store gha --key unrelated-1 --path other >/dev/null &&
	echo more >>dd/blob &&
	m=$(mark) &&
	cache-save --store gha --key dd-linux-2 --restore-key dd-linux- --path dd >/dev/null &&
	second=$(uploaded $m) && echo "uploaded $second bytes" &&
	test "$second" -lt 1000000
'

test_expect_success 'entries per save stay few for a tree of many files' '
	mkdir -p many && for i in $(seq 1 2000); do echo "file $i" >many/f$i; done &&
	head -c 3000000 /dev/urandom >many/r &&
	m=$(mark) &&
	cache-save --store gha --key many --path many >/dev/null &&
	n=$(created $m) && echo "$n entries" && test "$n" -le 4
'

test_expect_success '429 with Retry-After is waited out' '
	rm -rf data && cp -a data.orig data && echo rl >data/small &&
	gha_faults "{\"rate_limit\":2,\"retry_after\":1}" &&
	m=$(mark) &&
	cache-save --store gha --key limited --path data >out &&
	expect_grep "^cache-saved=true$" out &&
	test "$(logjs $m "l.filter(r => r.status === 429).length")" = 2 &&
	gap=$(logjs $m "const i = l.findIndex(r => r.status === 429); l[i + 2].t - l[i].t") &&
	echo "gap $gap ms" && test "$gap" -ge 2000 &&
	rm -rf data && cache-restore --store gha --key limited >/dev/null &&
	expect_eq "$(cat data/small)" rl
'

test_expect_success '5xx bursts on the service and on blobs are retried' '
	rm -rf data && cp -a data.orig data && echo burst >data/small &&
	gha_faults "{\"server_error\":2,\"blob_error\":2}" &&
	cache-save --store gha --key burst --path data >out &&
	expect_grep "^cache-saved=true$" out &&
	gha_faults "{\"server_error\":1,\"error_status\":500,\"blob_error\":2}" &&
	rm -rf data && cache-restore --store gha --key burst >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat data/small)" burst
'

test_expect_success 'a server that keeps failing is a store error (exit 4)' '
	gha_faults "{\"server_error\":100,\"error_status\":503}" &&
	CICACHE_GHA_TRIES=2 expect_code 4 cache-restore --store gha --key burst 2>err &&
	gha_faults "{\"server_error\":0}" &&
	expect_grep "gha cache service" err && expect_grep "503" err
'

test_expect_success 'a truncated blob fails cleanly (exit 5), never a hit' '
	mkdir -p tr && head -c 3000000 /dev/urandom >tr/r &&
	m=$(mark) &&
	cache-save --store gha --key trunc --path tr >/dev/null &&
	pack=$(logjs $m "l.filter(r => r.method === \"FinalizeCacheEntryUpload\" && /packs/.test(r.key))[0].key") &&
	curl -sf -X POST --data "{\"key\":\"$pack\",\"bytes\":1000}" "$(gha_url)/_fixture/truncate" &&
	rm -rf tr &&
	rc=0 && cache-restore --store gha --key trunc >out 2>err || rc=$? &&
	cat err && expect_eq $rc 5 &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "truncated" err &&
	expect_no_grep "sig=" err
'

test_expect_success 'a pack left reserved by a failed save is uploaded again as a copy' '
	mkdir -p kill && head -c 2000000 /dev/urandom >kill/r &&
	gha_faults "{\"blob_error\":100}" &&
	CICACHE_GHA_TRIES=1 expect_code 4 cache-save --store gha --key killed --path kill 2>err &&
	gha_faults "{\"blob_error\":0}" &&
	expect_grep "cannot upload" err && expect_no_grep "sig=" err &&
	m=$(mark) &&
	cache-save --store gha --key killed --path kill >out &&
	expect_grep "^cache-saved=true$" out &&
	logjs $m "l.filter(r => r.method === \"CreateCacheEntry\").map(r => r.status + \" \" + r.key).join(\"\\n\")" >calls &&
	cat calls &&
	grep -q "^409 cicache/packs/.*/0$" calls &&
	grep -q "^200 cicache/packs/.*/[0-9]\{19\}$" calls &&
	cp -a kill kill.orig && rm -rf kill &&
	cache-restore --store gha --key killed >out &&
	expect_grep "^cache-hit=true$" out && expect_same_tree kill.orig kill
'

test_expect_success 'a refused token is a clear store error (exit 4)' '
	ACTIONS_RUNTIME_TOKEN=wrong expect_code 4 cache-restore --store gha --key roll 2>err &&
	expect_grep "401" err && expect_grep "unauthenticated" err &&
	expect_grep "ACTIONS_RUNTIME_TOKEN was refused" err &&
	expect_no_grep wrong err &&
	gha_faults "{\"auth_fail\":1}" &&
	expect_code 4 cache-save --store gha --key x --path data 2>err &&
	expect_grep "401" err
'

test_expect_success 'the runtime token never goes to blob storage' '
	test "$(logjs 0 "l.filter(r => r.kind === \"blob\").length")" -gt 20 &&
	expect_eq "$(logjs 0 "l.filter(r => r.kind === \"blob\" && r.authorization).length")" 0
'

test_expect_success 'the official client and cicache entries do not mix' '
	rm -rf data && cp -a data.orig data &&
	node "$GHA_DIR/official.js" save deps-v1-aaa data >out &&
	grep -q "^RESULT {\"op\":\"save\",\"cacheId\":[1-9]" out &&
	rm -rf data && cache-restore --store gha --key deps-v1-aaa >out &&
	expect_grep "^cache-hit=true$" out && expect_same_tree data.orig data &&
	node "$GHA_DIR/official.js" restore roll -- data >out &&
	grep -q "^RESULT {\"op\":\"restore\",\"matchedKey\":null}" out
'

test_done
