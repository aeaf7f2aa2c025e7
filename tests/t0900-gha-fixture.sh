#!/usr/bin/env bash
# t0900: the GitHub Actions cache service fixture (tests/gha/fixture.js,
# twirp JSON over a real Azurite) proven faithful by the official
# @actions/cache client: save, exact hit, restore-key hit choosing the
# newest entry, miss, version mismatch, re-saving an existing key failing
# as on GitHub (409 already_exists), a bad token, 429 and 5xx answers.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/gha/start.sh"
gha_start

official() { node "$GHA_DIR/official.js" "$@"; }
result() { grep '^RESULT ' "$1" | tail -n 1 | cut -c8-; }
# jget FILE EXPR: evaluates EXPR over the JSON object r of the RESULT line.
jget() { result "$1" | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end",
	() => { const r = JSON.parse(s); console.log(eval(process.argv[1])); })' "$2"; }
# Fields of the last twirp call to a method in the fixture's log.
lastcall() { gha_log | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
	const l = s.trim().split("\n").map(JSON.parse).filter(r => r.method === process.argv[1]);
	const r = l[l.length - 1] || {}; console.log(eval(process.argv[2])); })' "$1" "$2"; }

test_expect_success 'official client saves an entry' '
	mkdir -p data/sub && seq 1 20000 >data/sub/n && echo one >data/v &&
	official save deps-linux-aaa data >out &&
	id=$(jget out r.cacheId) && test "$id" -gt 0 &&
	expect_eq "$(lastcall CreateCacheEntry r.status)" 200 &&
	expect_eq "$(lastcall FinalizeCacheEntryUpload r.status)" 200 &&
	size=$(lastcall FinalizeCacheEntryUpload r.blob_size) && test "$size" -gt 0 &&
	expect_eq "$(lastcall FinalizeCacheEntryUpload r.size_bytes)" "$size" &&
	gha_log | grep "\"kind\":\"blob\",\"method\":\"PUT\"" >puts &&
	test -s puts
'

test_expect_success 'exact hit restores it' '
	cp -a data data.1 && rm -rf data &&
	official restore deps-linux-aaa -- data >out &&
	expect_eq "$(jget out r.matchedKey)" deps-linux-aaa &&
	expect_grep "Cache hit for: deps-linux-aaa" out &&
	expect_same_tree data.1 data
'

test_expect_success 'restore-key prefix match picks the newest entry' '
	echo two >data/v && official save deps-linux-bbb data >out &&
	test "$(jget out r.cacheId)" -gt 0 && cp -a data data.2 &&
	echo three >data/v && official save other-linux-ccc data >out &&
	test "$(jget out r.cacheId)" -gt 0 &&
	rm -rf data &&
	official restore deps-linux-zzz --restore-key deps-linux- -- data >out &&
	expect_eq "$(jget out r.matchedKey)" deps-linux-bbb &&
	expect_grep "Cache hit for restore-key: deps-linux-bbb" out &&
	expect_same_tree data.2 data &&
	rm -rf data &&
	official restore nope --restore-key nah- --restore-key deps-linux-a -- data >out &&
	expect_eq "$(jget out r.matchedKey)" deps-linux-aaa &&
	expect_same_tree data.1 data
'

test_expect_success 'a miss is ok:false, and the version must match' '
	rm -rf data &&
	official restore nope --restore-key nah- -- data >out &&
	expect_eq "$(jget out r.matchedKey)" null &&
	expect_eq "$(lastcall GetCacheEntryDownloadURL r.status)" 200 &&
	test ! -e data &&
	official restore deps-linux-aaa -- data other-path >out &&
	expect_eq "$(jget out r.matchedKey)" null
'

test_expect_success 're-saving an existing key fails as on GitHub (409 already_exists)' '
	cp -a data.1 data && echo changed >data/v &&
	official save deps-linux-aaa data >out &&
	expect_eq "$(jget out r.cacheId)" -1 &&
	expect_grep "Unable to reserve cache with key deps-linux-aaa" out &&
	expect_eq "$(lastcall CreateCacheEntry r.status)" 409 &&
	rm -rf data && official restore deps-linux-aaa -- data >out &&
	expect_same_tree data.1 data
'

test_expect_success 'a wrong token is 401 unauthenticated' '
	rm -rf data &&
	ACTIONS_RUNTIME_TOKEN=wrong official restore deps-linux-aaa -- data >out &&
	expect_eq "$(jget out r.matchedKey)" null &&
	expect_grep "401" out &&
	expect_eq "$(lastcall GetCacheEntryDownloadURL r.fault)" bad_token &&
	test ! -e data
'

test_expect_success '429 with Retry-After reaches the client as a rate limit' '
	gha_faults "{\"rate_limit\":1,\"retry_after\":7}" &&
	official restore deps-linux-aaa -- data >out &&
	expect_eq "$(jget out r.matchedKey)" null &&
	expect_grep "rate limit will reset in 7 seconds" out &&
	expect_eq "$(lastcall GetCacheEntryDownloadURL r.status)" 429
'

test_expect_success 'a 503 burst is retried by the client' '
	gha_faults "{\"server_error\":1}" &&
	official restore deps-linux-aaa -- data >out &&
	expect_eq "$(jget out r.matchedKey)" deps-linux-aaa &&
	expect_grep "failed with error: Failed request: (503)" out &&
	expect_same_tree data.1 data
'

test_expect_success 'a 3 MB archive round-trips' '
	mkdir -p big && head -c 3000000 /dev/urandom >big/r &&
	official save big-1 big >out && test "$(jget out r.cacheId)" -gt 0 &&
	rm -rf big && official restore big-1 -- big >out &&
	expect_eq "$(jget out r.matchedKey)" big-1 && test "$(stat -c %s big/r)" = 3000000
'

test_expect_success 'signed URLs are checked by Azurite: a forged signature is refused' '
	curl -s -X POST -H "Authorization: Bearer $ACTIONS_RUNTIME_TOKEN" \
		-H "Content-Type: application/json" \
		--data "{\"key\":\"none\",\"restore_keys\":[\"big-\"],\"version\":\"$(
		lastcall GetCacheEntryDownloadURL "r.version")\"}" \
		"$(gha_url)/twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL" >dl &&
	url=$(node -e "console.log(JSON.parse(require(\"fs\").readFileSync(\"dl\")).signed_download_url)") &&
	expect_eq "$(curl -s -o /dev/null -w "%{http_code}" "$url")" 200 &&
	sig=${url##*sig=} && sig=${sig%%&*} &&
	if [ "${sig:0:1}" = A ]; then c=B; else c=A; fi &&
	bad=${url/sig=$sig/sig=$c${sig:1}} &&
	[ "$bad" != "$url" ] &&
	expect_eq "$(curl -s -o /dev/null -w "%{http_code}" "$bad")" 403 &&
	nosig=$(echo "$url" | sed "s/&sig=[^&]*//") &&
	expect_eq "$(curl -s -o /dev/null -w "%{http_code}" "$nosig")" 403 &&
	expect_eq "$(curl -s -o /dev/null -w "%{http_code}" -X PUT -H "x-ms-blob-type: BlockBlob" \
		--data x "$url")" 403
'

test_done
