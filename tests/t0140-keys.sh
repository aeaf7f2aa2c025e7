#!/usr/bin/env bash
# t0140: key rules, as actions/cache's.  A key (or restore key) is 1 to
# 512 characters of valid UTF-8, counted as JavaScript's String.length
# (a character >= U+10000 counts 2), with no ',' and no control character
# (C0, DEL, C1); '/', spaces, ':' and UTF-8 are fine.  Anything else is a
# usage error (exit 2) with one message naming the problem, and nothing is
# written.  In the local store, keys live in keys/E(KEY) (docs/format.md
# section 1): '/' and ' ' become ",2F" and ",20", restore keys still
# match as prefixes, and stores written before this still read.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

rep() { printf "%${2}s" "" | tr " " "$1"; }
rep_str() { local i s=; for ((i = 0; i < $2; i++)); do s+=$1; done; printf %s "$s"; }
entries() { find "$S/keys" -type f 2>/dev/null | wc -l; }

test_expect_success 'set up' '
	mkdir data && echo content >data/f &&
	cache-save -q --key first --path data --store "$S" >/dev/null
'

test_expect_success 'a 512-character ASCII key round-trips' '
	k=$(rep a 500)-123456789AB &&
	expect_eq "${#k}" 512 &&
	cache-save --key "$k" --path data --store "$S" >out &&
	expect_grep "^cache-key=$k$" out &&
	rm -rf data &&
	cache-restore --key "$k" --store "$S" >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_grep "^cache-matched-key=$k$" out &&
	expect_eq "$(cat data/f)" content
'

test_expect_success 'a 513-character key is rejected by save and restore' '
	k=$(rep b 513) &&
	n=$(entries) &&
	expect_code 2 cache-save --key "$k" --path data --store "$S" >out 2>err &&
	cat err && expect_eq "$(wc -l <err)" 1 &&
	expect_grep "513" err && expect_grep "512" err &&
	expect_eq "$(entries)" "$n" &&
	expect_code 2 cache-restore --key "$k" --store "$S" >out 2>err &&
	expect_grep "513" err &&
	expect_code 2 cache-restore --key ok --restore-key "$k" --store "$S" >out 2>err &&
	expect_grep "restore key" err
'

test_expect_success 'long keys sharing a long prefix are told apart' '
	p=$(rep p 250) &&
	for s in x y z; do
		sleep 0.05 && echo "$s" >data/f &&
		cache-save -q --key "$p-$(rep $s 200)" --path data --store "$S" >/dev/null || exit 1
	done &&
	rm -rf data &&
	cache-restore -q --key "$p-$(rep y 200)" --store "$S" >out &&
	expect_eq "$(cat data/f)" y &&
	rm -rf data &&
	cache-restore -q --key nope --restore-key "$p" --store "$S" >out &&
	expect_eq "$(cat data/f)" z &&
	rm -rf data &&
	cache-restore -q --key nope --restore-key "$p-$(rep x 150)" --store "$S" >out &&
	expect_eq "$(cat data/f)" x &&
	rm -rf data &&
	cache-restore -q --key nope --restore-key "$(rep p 210)" --store "$S" >out &&
	expect_eq "$(cat data/f)" z
'

# key, what the message must mention
while IFS="|" read -r name key want; do
	key=$(printf "$key")
	test_expect_success "a key with $name is rejected (exit 2)" '
		n=$(entries) &&
		expect_code 2 cache-save --key "'"$key"'" --path data --store "$S" >out 2>err &&
		cat err &&
		expect_eq "$(wc -l <err)" 1 &&
		grep -qi -e "'"$want"'" err || die "message does not mention '"$want"'" &&
		expect_eq "$(entries)" "$n" &&
		expect_no_grep "cache-saved=true" out &&
		expect_code 2 cache-restore --key "'"$key"'" --store "$S" >out 2>err &&
		expect_code 2 cache-restore --key fine --restore-key "'"$key"'" --store "$S" >out 2>err &&
		grep -qi -e "'"$want"'" err || die "restore-key message does not mention '"$want"'"
	'
done <<'KEYS'
a comma|a,b|','
a leading comma|,x|','
a trailing comma|feature/x,|','
a tab|a\tb|control character (0x09)
an escape|a\033[31m|control character (0x1b)
a DEL|a\177b|control character (0x7f)
a C1 control|a\302\205b|control character (U+0085)
an invalid UTF-8 byte|a\377b|not valid UTF-8
a cut UTF-8 sequence|caf\303|not valid UTF-8
an overlong slash|a\300\257b|not valid UTF-8
a UTF-16 surrogate|a\355\240\200|not valid UTF-8
KEYS

test_expect_success 'a key with a newline or a NUL-free control is rejected' '
	n=$(entries) &&
	for k in "a
b" "$(printf "a\001b")" "$(printf "a\rb")" "$(printf "\302\200")"; do
		expect_code 2 cache-save --key "$k" --path data --store "$S" 2>err || exit 1
		expect_eq "$(wc -l <err)" 1 || exit 1
		expect_grep "control character" err || exit 1
		expect_code 2 cache-restore --key "$k" --store "$S" 2>err || exit 1
	done &&
	expect_eq "$(entries)" "$n"
'

# What actions/cache users write: github.ref_name, runner.os and so on.
test_expect_success 'keys with /, spaces, : and UTF-8 round-trip' '
	for k in "feature/login" "/leading/slash" "trailing/" " lead and trail " \
		 "Linux node 20 refs/heads/main" "C:\\Users\\x" "a:b c/d:e" \
		 "50% + 1 ? #2 & ~x" "grüße" "日本語/キャッシュ" "emoji 😀/🚀" \
		 "NBSP here"; do
		echo "$k" >data/f &&
		cache-save --key "$k" --path data --store "$S" >out || { echo "save of $k"; exit 1; }
		grep -qxF "cache-key=$k" out || die "cache-key of $k" || exit 1
	done &&
	for k in "feature/login" "/leading/slash" "trailing/" " lead and trail " \
		 "Linux node 20 refs/heads/main" "C:\\Users\\x" "a:b c/d:e" \
		 "50% + 1 ? #2 & ~x" "grüße" "日本語/キャッシュ" "emoji 😀/🚀" \
		 "NBSP here"; do
		rm -rf data &&
		cache-restore --key "$k" --store "$S" >out || exit 1
		expect_grep "^cache-hit=true$" out || exit 1
		grep -qxF "cache-matched-key=$k" out || die "matched key of $k" || exit 1
		expect_eq "$(cat data/f)" "$k" "restore of $k" || exit 1
	done
'

# one_entry FILE: the store holds one entry file FILE[,@V] (format.md 1)
one_entry() { expect_eq "$(entry_files "$S" "$1" | wc -l)" 1; }
test_expect_success 'the store holds keys/E(KEY),@V: / and space escaped, one file per key' '
	one_entry "feature,2Flogin" &&
	one_entry ",,2Fleading,2Fslash" &&
	one_entry ",,20lead,20and,20trail,20" &&
	one_entry "grüße" &&
	one_entry "emoji,20😀,2F🚀" &&
	one_entry "日本語,2Fキャッシュ" &&
	! find "$S/keys" -mindepth 1 -type d -name "*[ /]*" | grep -q .
'

test_expect_success 'a restore key with / matches as a prefix across the /' '
	mkdir -p data &&
	for k in feature/login feature/logout featureX "feature /x"; do
		sleep 0.02 && echo "$k" >data/f &&
		cache-save -q --key "$k" --path data --store "$S" >/dev/null || exit 1
	done &&
	rm -rf data &&
	cache-restore --key nope --restore-key feature/ --store "$S" >out &&
	grep -qxF "cache-matched-key=feature/logout" out &&
	rm -rf data &&
	cache-restore --key nope --restore-key feature/logi --store "$S" >out &&
	grep -qxF "cache-matched-key=feature/login" out &&
	expect_eq "$(cat data/f)" feature/login &&
	rm -rf data &&
	cache-restore --key nope --restore-key "feature " --store "$S" >out &&
	grep -qxF "cache-matched-key=feature /x" out &&
	rm -rf data &&
	cache-restore --key nope --restore-key / --store "$S" >out &&
	grep -qxF "cache-matched-key=/leading/slash" out &&
	rm -rf data &&
	cache-restore --key nope --restore-key "feature/login/" --store "$S" >out &&
	expect_grep "^cache-hit=false$" out && test ! -e data &&
	expect_code 2 cache-restore --key nope --restore-key "feature,2F" --store "$S" 2>err >out &&
	expect_grep "'"','"'" err
'

test_expect_success '512 characters of 2-, 3- and 4-byte UTF-8 are fine; 513 are not' '
	mkdir -p data && echo utf >data/f &&
	for c in é 日 😀; do
		case $c in 😀) n=256 ;; *) n=512 ;; esac
		k=$(rep_str "$c" $n) &&
		cache-save -q --key "$k" --path data --store "$S" >/dev/null || { echo "512 of $c"; exit 1; }
		rm -rf data && cache-restore --key "$k" --store "$S" >out || exit 1
		expect_grep "^cache-hit=true$" out || exit 1
		k=$(rep_str "$c" $((n + 1))) &&
		expect_code 2 cache-save --key "$k" --path data --store "$S" 2>err || exit 1
		expect_grep "at most 512" err || exit 1
		expect_code 2 cache-restore --key x --restore-key "$k" --store "$S" 2>err || exit 1
		echo utf >data/f
	done &&
	k=$(rep a 511)é && cache-save -q --key "$k" --path data --store "$S" >/dev/null &&
	k=$(rep a 511)😀 &&
	expect_code 2 cache-save --key "$k" --path data --store "$S" 2>err &&
	expect_grep "513 characters" err
'

test_expect_success 'a store written before the key encoding still reads (tests/data/store-v1)' '
	O=$TRASH/old-store && old_store "$O" &&
	for k in plain-v1 .hidden "$(rep o 450)" "a:b=c"; do
		rm -rf data && cache-restore --key "$k" --store "$O" >out || exit 1
		expect_grep "^cache-hit=true$" out || exit 1
		expect_eq "$(cat data/f)" "$k" || exit 1
	done &&
	rm -rf data && cache-restore --key x --restore-key "$(rep o 300)" --store "$O" >out &&
	expect_eq "$(cat data/f)" "$(rep o 450)-b" &&
	mkdir -p data && echo new >data/f &&
	cache-save -q --key "new/key" --path data --store "$O" >/dev/null &&
	rm -rf data && cache-restore --key plain-v1 --store "$O" >/dev/null &&
	expect_eq "$(cat data/f)" plain-v1 &&
	rm -rf data && cache-restore --key x --restore-key new --store "$O" >out &&
	expect_eq "$(cat data/f)" new
'

test_expect_success 'an empty key is rejected' '
	expect_code 2 cache-save --key "" --path data --store "$S" 2>err &&
	expect_grep "key" err &&
	expect_code 2 cache-restore --key "" --store "$S" 2>err &&
	expect_code 2 cache-restore --key ok --restore-key "" --store "$S" 2>err
'

test_expect_success 'keys with dots, dashes and punctuation are fine' '
	for k in . .. ... .hidden -dash "a:b;c" "x=y" "v1.2.3_linux@amd64+cuda" "a~b" "{}[]()" "#hash" "a\\b" "sha256:0123abcdef"; do
		echo "$k" >data/f &&
		cache-save -q --key "$k" --path data --store "$S" >/dev/null || { echo "save of $k"; exit 1; }
	done &&
	for k in . .. ... .hidden -dash "a:b;c" "x=y" "v1.2.3_linux@amd64+cuda" "a~b" "{}[]()" "#hash" "a\\b" "sha256:0123abcdef"; do
		rm -rf data &&
		cache-restore -q --key "$k" --store "$S" >out || exit 1
		expect_grep "^cache-hit=true$" out || exit 1
		expect_eq "$(cat data/f)" "$k" "restore of $k" || exit 1
	done
'

test_expect_success 'keys that look alike stay apart (no case folding)' '
	echo lower >data/f && cache-save -q --key case --path data --store "$S" >/dev/null &&
	echo upper >data/f && cache-save -q --key CASE --path data --store "$S" >/dev/null &&
	rm -rf data && cache-restore -q --key case --store "$S" >/dev/null &&
	expect_eq "$(cat data/f)" lower
'

test_expect_success 'dot keys do not escape or clash with the store layout' '
	n=$(entries) &&
	echo tmpkey >data/f &&
	cache-save -q --key tmp --path data --store "$S" >/dev/null &&
	cache-save -q --key cicache-store --path data --store "$S" >/dev/null &&
	test -f "$S/cicache-store" &&
	rm -rf data && cache-restore -q --key .. --store "$S" >/dev/null &&
	expect_eq "$(cat data/f)" .. &&
	rm -rf data && cache-restore -q --key tmp --store "$S" >/dev/null &&
	expect_eq "$(cat data/f)" tmpkey
'

test_done
