#!/usr/bin/env bash
# t0370: cache-store list, stats, delete and check on the local store
# (docs/format.md, "Lifecycle"): list reads each entry's summary
# (sums/HEX), not its manifest; entries saved before summaries existed
# are read through their manifest and get their summary; delete removes
# entries, never packs; check's exit status says whether the store is
# sound (0), or an entry is damaged (5).
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
export CACHE_STORE=$S

test_expect_success 'set up: three entries, two sharing most of their data' '
	mkdir data other &&
	head -c 2000000 /dev/urandom >data/big && echo one >data/small &&
	cache-save -q -k app-1 -p data >/dev/null &&
	echo two >data/small &&
	cache-save -q -k app-2 -p data >/dev/null &&
	head -c 300000 /dev/urandom >other/x &&
	cache-save -q -k "other key" -p other -p "!other/y*" >/dev/null &&
	expect_eq "$(ls "$S/sums" | wc -l)" 3
'

test_expect_success 'list: one line per entry, newest first, with sizes and identity' '
	cache-store list >out &&
	cat out &&
	expect_eq "$(wc -l <out)" 4 &&
	expect_grep "^SIZE .*KEY$" out &&
	expect_eq "$(sed -n 2p out | awk "{print \$NF, \$(NF-1)}")" "key other" &&
	expect_grep " app-2$" out && expect_grep " app-1$" out &&
	v=$(ls "$S/keys" | sed -n "s/^app-1,@//p") &&
	expect_grep " $v app-1$" out
'

test_expect_success 'list --json: valid JSON with the numbers of each entry' '
	cache-store list --json >out.json &&
	python3 - out.json <<-\PY
	import json, sys
	l = json.load(open(sys.argv[1]))
	assert len(l) == 3, l
	e = {x["key"]: x for x in l}
	a1, a2, o = e["app-1"], e["app-2"], e["other key"]
	assert a1["size"] == 2000004 and a1["files"] == 3, a1
	# app-1 and app-2 share the big file: little is theirs only
	assert a1["stored"] > 1900000 and a1["only"] < 100000, a1
	assert a2["only"] < 100000, a2
	assert o["only"] == o["stored"] > 0, o
	assert len(a1["paths"]) == 16 and a1["last_used_ns"] is None, a1
	assert a1["patterns"] == ["data"] and o["patterns"] == ["other", "!other/y*"], o
	PY
'

test_expect_success 'list --json escapes what JSON needs escaped' '
	mkdir q && echo q >q/f &&
	cache-save -q -k "say \"hi\" \\ x" -p q >/dev/null &&
	cache-store list --json --prefix say >out.json &&
	python3 -c "import json,sys; l=json.load(open(\"out.json\")); assert [x[\"key\"] for x in l] == [\"say \\\"hi\\\" \\\\ x\"], l" &&
	cache-store delete --prefix say >/dev/null
'

test_expect_success 'list --prefix P lists only keys starting with P' '
	cache-store list --prefix app- >out &&
	expect_eq "$(wc -l <out)" 3 && expect_no_grep "other" out
'

test_expect_success 'list reads the summary, not the manifest' '
	f=$(ls -d "$S"/keys/app-1,@*) &&
	cp "$f" saved &&
	printf "XXXXXXXX" | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null &&
	cache-store list --json --prefix app-1 >out.json &&
	python3 -c "import json; l=json.load(open(\"out.json\")); assert l[0][\"size\"] == 2000004, l" &&
	cp saved "$f"
'

test_expect_success 'stats: entries, packs, stored, unreferenced, dedup ratio' '
	cache-store stats >out && cat out &&
	expect_grep "^entries: 3$" out &&
	expect_grep "^packs: $(ls "$S/packs" | wc -l)$" out &&
	expect_eq "$(sed -n "s/^stored bytes: \([0-9]*\).*/\1/p" out)" \
		"$(cat "$S"/packs/* | wc -c)" &&
	expect_grep "^dedup ratio: 1\.[5-9]" out
'

test_expect_success 'check: a sound store exits 0' '
	cache-store check >out 2>err && cat out err &&
	expect_grep "3 entries checked, 0 damaged" err &&
	cache-store check --read-data 2>err && expect_grep "0 damaged" err
'

test_expect_success 'check: a truncated pack is damage (exit 5), naming the entry' '
	p=$(ls -S "$S"/packs/*.pack | head -1) &&
	cp "$p" pack.saved &&
	truncate -s 100 "$p" &&
	expect_code 5 cache-store check >out 2>err && cat out err &&
	expect_grep "^damaged app-" out && expect_grep "truncated\|missing" out &&
	cp pack.saved "$p"
'

test_expect_success 'check --read-data finds a flipped byte inside a frame; check alone does not' '
	p=$(ls -S "$S"/packs/*.pack | head -1) &&
	cp "$p" pack.saved &&
	printf "\377\377\377\377" | dd of="$p" bs=1 seek=5000 conv=notrunc 2>/dev/null &&
	cache-store check 2>err && expect_grep "0 damaged" err &&
	expect_code 5 cache-store check --read-data >out 2>err && cat out &&
	expect_grep "^damaged app-" out &&
	cp pack.saved "$p"
'

test_expect_success 'check: a manifest that does not parse is damage' '
	f=$(ls -d "$S"/keys/app-1,@*) &&
	cp "$f" saved &&
	printf "XXXXXXXX" | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null &&
	expect_code 5 cache-store check >out && cat out &&
	expect_grep "^damaged app-1" out &&
	cp saved "$f"
'

test_expect_success 'delete KEY removes the entry, not its packs; restore then misses' '
	ls "$S/packs" >packs.before &&
	cache-store delete app-1 >out 2>err && cat out err &&
	expect_grep "^delete entry app-1$" out &&
	expect_eq "$(ls "$S/keys" | grep -c "^app-1,")" 0 &&
	ls "$S/packs" >packs.after && cmp packs.before packs.after &&
	cache-restore -k app-1 -p data >out && expect_grep "cache-hit=false" out &&
	cache-restore -k app-2 -p data >out && expect_grep "cache-hit=true" out
'

test_expect_success 'delete of a key with no entry exits 1 and deletes nothing else' '
	expect_code 1 cache-store delete nosuch app-2 --dry-run >out 2>err && cat out err &&
	expect_grep "would delete entry app-2" out &&
	expect_grep "1 key had no entry" err &&
	expect_eq "$(ls "$S/keys" | wc -l)" 2
'

test_expect_success 'delete --prefix P' '
	cache-store delete --prefix oth >out &&
	expect_grep "^delete entry other key$" out &&
	expect_eq "$(ls "$S/keys" | wc -l)" 1
'

test_expect_success 'usage errors exit 2' '
	expect_code 2 cache-store 2>err && expect_grep "a command is needed" err &&
	expect_code 2 cache-store frobnicate 2>err && expect_grep "unknown command" err &&
	expect_code 2 cache-store list --read-data 2>err &&
	expect_code 2 cache-store delete 2>err && expect_grep "KEY or --prefix" err &&
	expect_code 2 cache-store delete --prefix "" 2>err &&
	expect_code 2 cache-store prune --max-age 3x 2>err &&
	expect_code 2 cache-store prune --max-size -1 2>err &&
	expect_code 2 cache-store stats extra 2>err &&
	cache-store --help >out && expect_grep "^usage: cache-store" out &&
	cache-store list --help >out && expect_grep "prune" out
'

test_expect_success 'an old store (entries without summaries): list through the manifests, summaries put' '
	old_store old &&
	! ls old/sums 2>/dev/null | grep -q . &&
	cache-store --store old list --json >out.json &&
	python3 - out.json <<-\PY
	import json, sys
	l = json.load(open(sys.argv[1]))
	keys = sorted(x["key"] for x in l)
	assert keys == sorted(["plain-v1", ".hidden", "o" * 450, "o" * 450 + "-b", "a:b=c", "old-v1:abc", "oldk"]), keys
	for x in l:
	    assert x.get("size", 0) > 0 and x["paths"] is None, x
	PY
	expect_eq "$(ls old/sums | wc -l)" 7 &&
	cache-store --store old check --read-data 2>err && expect_grep "7 entries checked, 0 damaged" err &&
	cache-store --store old stats >out && expect_grep "^entries: 7$" out
'

test_expect_success 'CACHE_STORE and --store both pick the store; a missing store lists nothing' '
	cache-store --store "$TRASH/nonexistent" list >out && expect_eq "$(wc -c <out)" 0 &&
	CACHE_STORE=$TRASH/old cache-store stats >out && expect_grep "^entries: 7$" out
'

test_done
