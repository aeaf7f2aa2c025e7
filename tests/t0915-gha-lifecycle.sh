#!/usr/bin/env bash
# t0915: lifecycle work on the gha store through GitHub's REST API
# (store_list_all and del in common/store-gha.c) against the fixture's
# REST endpoints: every object once, with its size; pagination past 100
# entries and a server whose pages never end; delete removes every entry
# of a name (once listed, without listing again); GITHUB_REF keeps both to
# one branch; no token, a token without `actions: write`, a refused token.
# Then GitHub's own eviction: a restore whose pack was evicted falls back
# to the next candidate before writing anything, and the next save
# uploads those chunks again instead of referencing the evicted pack.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/gha/start.sh"
gha_start

logjs() { gha_log | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
	const all = s.trim().split("\n").filter(Boolean).map(JSON.parse);
	const l = all.slice(Number(process.argv[1])); const r = eval(process.argv[2]);
	console.log(r); })' "$@"; }
mark() { gha_log | wc -l; }
uploaded() { logjs "$1" 'l.filter(r => r.kind === "blob" && r.method === "PUT").reduce((a, r) => a + r.req_bytes, 0)'; }
# The fixture's finalized entries whose key starts with $1: "KEY SIZE" lines.
entries() { curl -sf "$(gha_url)/_fixture/entries" | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
	for (const e of JSON.parse(s)) if (e.finalized && e.key.startsWith(process.argv[1])) console.log(e.key + " " + e.size); })' "$1"; }
rest() { curl -s -o body -w "%{http_code}" -H "Authorization: Bearer $1" \
	-H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28" "${@:2}"; }
api="$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/actions/caches"

test_expect_success 'without GITHUB_TOKEN: list and delete say why and rely on eviction' '
	mkdir -p a && seq 1 20000 >a/numbers && echo one >a/small &&
	cache-save --store gha --key life-a --path a >/dev/null &&
	expect_code 100 "$TEST_TOOL" store-list gha keys/ 2>err && cat err &&
	expect_grep "GITHUB_TOKEN is not set" err &&
	expect_grep "evicts entries by itself" err && expect_grep "7 days" err &&
	expect_grep "10 GB" err && expect_grep "actions: write" err &&
	expect_code 100 "$TEST_TOOL" store-del gha keys/life-a 2>err &&
	expect_grep "GITHUB_TOKEN is not set" err &&
	expect_eq "$(logjs 0 "l.filter(r => r.kind === \"rest\").length")" 0
'

test_expect_success 'the fixture: documented shapes, Bearer auth, 404 for an unknown id' '
	expect_eq "$(rest "$GHA_API_TOKEN" "$api?per_page=1")" 200 &&
	node -e "const b = JSON.parse(require(\"fs\").readFileSync(\"body\", \"utf8\")); const c = b.actions_caches[0];
		if (typeof b.total_count !== \"number\" || b.actions_caches.length !== 1) process.exit(1);
		for (const k of [\"id\", \"ref\", \"key\", \"version\", \"last_accessed_at\", \"created_at\", \"size_in_bytes\"])
			if (!(k in c)) { console.log(\"missing \" + k); process.exit(1); }" &&
	expect_eq "$(rest "$ACTIONS_RUNTIME_TOKEN" "$api")" 401 &&
	expect_eq "$(rest "$GHA_API_TOKEN" -X DELETE "$api/999999")" 404 &&
	expect_eq "$(rest "$GHA_API_TOKEN" "$GITHUB_API_URL/repos/someone/else/actions/caches")" 404
'

export GITHUB_TOKEN=$GHA_API_TOKEN

test_expect_success 'list_all: every object once, rolling saves folded, sizes and times' '
	echo two >a/small && cache-save --store gha --key life-roll --path a >/dev/null &&
	echo three >a/small && cache-save --store gha --key life-roll --path a >/dev/null &&
	expect_eq "$(entries cicache/keys/life-roll | wc -l)" 2 &&
	"$TEST_TOOL" store-list gha keys/ >list && cat list &&
	expect_eq "$(wc -l <list)" 2 &&
	grep -q "^keys/life-a,@[0-9a-f]\{16\} [1-9][0-9]* [0-9]\{19\}$" list &&
	grep -q "^keys/life-roll,@[0-9a-f]\{16\} [1-9][0-9]* [0-9]\{19\}$" list &&
	now=$(date +%s) && t=$(awk "{print int(\$3 / 1e9)}" list | sort -n | head -1) &&
	test $((now - t)) -lt 600 && test $((now - t)) -ge 0 &&
	"$TEST_TOOL" store-list gha packs/ >packs && cat packs &&
	test "$(wc -l <packs)" -ge 1 &&
	entries cicache/packs/ | sed "s|^cicache/\(.*\)/0 |\1 |" | sort >want &&
	cut -d" " -f1,2 packs | sort >got &&
	expect_eq "$(cat got)" "$(cat want)" &&
	"$TEST_TOOL" store-list gha keys/life-r >one &&
	expect_eq "$(cut -d" " -f1 one | sed "s/,@.*//")" keys/life-roll
'

test_expect_success 'list_all skips other namespaces and actions/cache entries' '
	cache-save --store gha://team --key life-ns --path a >/dev/null &&
	mkdir -p off && echo official >off/f &&
	node "$GHA_DIR/official.js" save "cicache/keys/life-foreign/0" off >out &&
	grep -q "^RESULT {\"op\":\"save\",\"cacheId\":[1-9]" out &&
	"$TEST_TOOL" store-list gha keys/ >list &&
	expect_eq "$(wc -l <list)" 2 && expect_no_grep foreign list && expect_no_grep life-ns list &&
	"$TEST_TOOL" store-list gha://team keys/ >list &&
	expect_eq "$(wc -l <list)" 1 && expect_grep "^keys/life-ns," list
'

test_expect_success 'pagination: 150 objects come back over two pages of 100' '
	echo junk >j &&
	for i in $(seq 1 150); do "$TEST_TOOL" store-put gha junk/$i j || return 1; done &&
	m=$(mark) &&
	"$TEST_TOOL" store-list gha junk/ >list &&
	expect_eq "$(wc -l <list)" 150 &&
	expect_eq "$(cut -d" " -f1 list | sort -u | wc -l)" 150 &&
	expect_eq "$(logjs $m "l.filter(r => r.kind === \"rest\").map(r => r.page).join(\" \")")" "1 2" &&
	logjs $m "l.filter(r => r.kind === \"rest\")[0].query" >q && cat q &&
	expect_grep "per_page=100" q && expect_grep "key=cicache%2Fjunk%2F" q
'

test_expect_success 'a server that repeats its pages is an error, not a loop' '
	gha_faults "{\"rest_repeat\":1000}" &&
	m=$(mark) &&
	expect_code 100 "$TEST_TOOL" store-list gha junk/ 2>err &&
	gha_faults "{\"rest_repeat\":0}" &&
	cat err && expect_grep "page 2 repeats entries" err &&
	expect_eq "$(logjs $m "l.filter(r => r.kind === \"rest\").length")" 2
'

test_expect_success 'a 403 for a rate limit is waited out, not taken for a permission' '
	gha_faults "{\"rest_rate_limit\":2}" &&
	m=$(mark) &&
	"$TEST_TOOL" store-list gha junk/ >list &&
	expect_eq "$(wc -l <list)" 150 &&
	expect_eq "$(logjs $m "l.filter(r => r.fault === \"rest_rate_limit\").length")" 2
'

test_expect_success 'del removes every entry of a name; a missing name is no error' '
	name=$("$TEST_TOOL" store-list gha keys/life-roll | cut -d" " -f1) &&
	echo "$name" &&
	"$TEST_TOOL" store-del gha "$name" &&
	expect_eq "$(entries cicache/keys/life-roll | wc -l)" 0 &&
	cache-restore --store gha --key life-roll >out &&
	expect_grep "^cache-hit=false$" out &&
	"$TEST_TOOL" store-del gha "$name" &&
	"$TEST_TOOL" store-del gha junk/7 &&
	expect_eq "$("$TEST_TOOL" store-list gha junk/ | wc -l)" 149 &&
	expect_eq "$(entries cicache/junk/7/ | wc -l)" 0 &&
	expect_eq "$(entries cicache/junk/70/ | wc -l)" 1 &&
	cache-restore --store gha --key life-a >out && expect_grep "^cache-hit=true$" out
'

test_expect_success 'a listing then deletes: one DELETE per entry, no second listing' '
	m=$(mark) &&
	"$TEST_TOOL" store-list gha junk/1 --delete >list &&
	n=$(wc -l <list) && echo "$n objects" && test "$n" = 62 &&
	expect_eq "$(logjs $m "l.filter(r => r.kind === \"rest\" && r.method === \"GET\").length")" 1 &&
	expect_eq "$(logjs $m "l.filter(r => r.kind === \"rest\" && r.method === \"DELETE\" && r.status === 204).length")" "$n" &&
	expect_eq "$(entries cicache/junk/1 | wc -l)" 0 &&
	expect_eq "$("$TEST_TOOL" store-list gha junk/ | wc -l)" $((149 - n))
'

test_expect_success 'an object put after the listing is deleted all the same' '
	"$TEST_TOOL" store-list gha condemned/ --put-delete condemned/x.pack j >/dev/null &&
	expect_eq "$(entries cicache/condemned/ | wc -l)" 0 &&
	"$TEST_TOOL" store-put gha condemned/y.pack j &&
	"$TEST_TOOL" store-list gha condemned/ --put-delete condemned/y.pack j >list &&
	expect_grep "^condemned/y.pack " list &&
	expect_eq "$(entries cicache/condemned/ | wc -l)" 0
'

test_expect_success 'with GITHUB_REF, list and delete keep to that branch' '
	curl -sf -X POST --data "{\"ref\":\"refs/heads/feature\"}" "$(gha_url)/_fixture/ref" &&
	"$TEST_TOOL" store-put gha junk/feat j &&
	curl -sf -X POST --data "{\"ref\":\"refs/heads/main\"}" "$(gha_url)/_fixture/ref" &&
	"$TEST_TOOL" store-put gha junk/feat j &&
	GITHUB_REF=refs/heads/main "$TEST_TOOL" store-list gha junk/ >main &&
	GITHUB_REF=refs/heads/feature "$TEST_TOOL" store-list gha junk/ >feature &&
	"$TEST_TOOL" store-list gha junk/ >all &&
	expect_eq "$(wc -l <feature)" 1 && expect_grep "^junk/feat " feature &&
	expect_eq "$(wc -l <main)" "$(wc -l <all)" && expect_grep "^junk/feat " main &&
	GITHUB_REF=refs/heads/feature "$TEST_TOOL" store-del gha junk/feat &&
	expect_eq "$(entries cicache/junk/feat/ | wc -l)" 1 &&
	GITHUB_REF=refs/heads/feature "$TEST_TOOL" store-list gha junk/ >feature &&
	expect_eq "$(wc -l <feature)" 0 &&
	m=$(mark) &&
	GITHUB_REF=refs/heads/main "$TEST_TOOL" store-list gha junk/feat >/dev/null &&
	expect_grep "ref=refs%2Fheads%2Fmain" <(logjs $m "l.filter(r => r.kind === \"rest\")[0].query")
'

test_expect_success 'a token without actions: write: list works, delete says what is missing' '
	curl -sf -X POST --data "{\"ro-tok\":\"read\",\"no-tok\":\"none\"}" "$(gha_url)/_fixture/tokens" &&
	GITHUB_TOKEN=ro-tok "$TEST_TOOL" store-list gha junk/2 >list &&
	test "$(wc -l <list)" -ge 1 &&
	GITHUB_TOKEN=ro-tok expect_code 100 "$TEST_TOOL" store-del gha junk/2 2>err && cat err &&
	expect_grep "HTTP 403" err && expect_grep "Resource not accessible by integration" err &&
	expect_grep "lacks the permission" err && expect_grep "actions: write" err &&
	expect_grep "evicts entries by itself" err &&
	expect_eq "$(entries cicache/junk/2/ | wc -l)" 1 &&
	GITHUB_TOKEN=no-tok expect_code 100 "$TEST_TOOL" store-list gha junk/ 2>err &&
	expect_grep "HTTP 403" err && expect_grep "actions: write" err &&
	GITHUB_TOKEN=wrong-tok expect_code 100 "$TEST_TOOL" store-list gha junk/ 2>err && cat err &&
	expect_grep "HTTP 401" err && expect_grep "Bad credentials" err && expect_no_grep wrong-tok err &&
	(unset GITHUB_REPOSITORY; expect_code 100 "$TEST_TOOL" store-list gha junk/ 2>err) &&
	expect_grep "GITHUB_REPOSITORY" err
'

test_expect_success 'GitHub evicts a pack: restore takes the next candidate, writing nothing first' '
	mkdir -p ev && head -c 2000000 /dev/urandom >ev/r && echo old >ev/tag &&
	cache-save --store gha --key ev-1 --path ev >/dev/null && cp -a ev ev.1 &&
	head -c 2000000 /dev/urandom >ev/r2 && echo new >ev/tag &&
	m=$(mark) &&
	cache-save --store gha --key ev-2 --path ev >/dev/null && cp -a ev ev.2 &&
	logjs $m "l.filter(r => r.method === \"FinalizeCacheEntryUpload\" && /\\/packs\\//.test(r.key)).map(r => r.key).join(\"\\n\")" >newpacks &&
	cat newpacks && test "$(wc -l <newpacks)" -ge 1 &&
	for k in $(cat newpacks); do
		curl -sf -X POST --data "{\"key\":\"$k\"}" "$(gha_url)/_fixture/evict" || return 1
	done &&
	rm -rf ev &&
	cache-restore --store gha --key ev-2 --restore-key ev-1 >out 2>err &&
	cat out err &&
	expect_grep "skipping entry .ev-2." err && expect_grep "missing" err &&
	expect_grep "^cache-hit=false$" out && expect_grep "^cache-matched-key=ev-1$" out &&
	expect_same_tree ev.1 ev
'

# The service names only the newest entry a prefix matches: when that one
# lost a pack, the older ones behind the same prefix are out of reach.
test_expect_success 'GitHub evicts a pack: a prefix whose newest entry is broken is a miss' '
	rm -rf ev &&
	cache-restore --store gha --key ev-2 --restore-key ev- >out 2>err &&
	expect_grep "skipping entry .ev-2." err &&
	expect_grep "^cache-hit=false$" out && expect_grep "^cache-matched-key=$" out &&
	test ! -e ev
'

test_expect_success 'the next save uploads the evicted chunks again; its packs all exist' '
	rm -rf ev && cp -a ev.2 ev &&
	m=$(mark) &&
	cache-save --store gha --key ev-2 --path ev >out &&
	expect_grep "^cache-saved=true$" out &&
	up=$(uploaded $m) && echo "uploaded $up bytes" && test "$up" -gt 1900000 &&
	rm -rf ev && cache-restore --store gha --key ev-2 >out 2>err &&
	expect_grep "^cache-hit=true$" out && expect_no_grep "skipping" err &&
	expect_same_tree ev.2 ev
'

test_done
