#!/usr/bin/env bash
# t0140: key rules.  A key (or restore key) is 1 to 512 printable ASCII
# bytes without '/', ',' or whitespace; anything else is a usage error
# (exit 2) with one message naming the problem, and nothing is written.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

rep() { printf "%${2}s" "" | tr " " "$1"; }
entries() { find "$S/keys" -type f 2>/dev/null | wc -l; }

test_expect_success 'set up' '
	mkdir data && echo content >data/f &&
	cache-save -q --key first --path data --store "$S" >/dev/null
'

test_expect_success 'a 512-byte key round-trips' '
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

test_expect_success 'a 513-byte key is rejected by save and restore' '
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
a slash|a/b|/
a leading slash|/etc|/
dot-dot slash|../x|/
a comma|a,b|,
a space|a b|whitespace
a trailing space|ab |whitespace
KEYS

test_expect_success 'a key with a tab, newline, control or non-ASCII byte is rejected' '
	n=$(entries) &&
	for k in "a	b" "a
b" "$(printf "a\001b")" "$(printf "a\177b")" "$(printf "a\377b")" "grüße"; do
		expect_code 2 cache-save --key "$k" --path data --store "$S" 2>err || exit 1
		expect_eq "$(wc -l <err)" 1 || exit 1
		expect_code 2 cache-restore --key "$k" --store "$S" 2>err || exit 1
	done &&
	expect_eq "$(entries)" "$n"
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
