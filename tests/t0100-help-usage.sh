#!/usr/bin/env bash
# t0100: --help and --version, and usage errors (exit 2, a message on
# stderr, nothing on stdout, nothing written).
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
# expect_grep for patterns starting with a dash
has() { grep -q -e "$1" "$2" || { cat "$2"; die "no '$1' in $2"; }; }

for prog in cache-save cache-restore; do
	test_expect_success "$prog --help: stdout, exit 0, lines under 80 columns" '
		'$prog' --help >out 2>err &&
		test ! -s err &&
		expect_grep "^usage: '$prog'" out &&
		awk "length(\$0) >= 80 { print \"too long: \" \$0; bad = 1 } END { exit bad }" out &&
		! grep -q "	" out || die "a tab in --help output (its width depends on the terminal)" &&
		'$prog' -h >out2 && cmp out out2
	'
	test_expect_success "$prog --help lists every documented option" '
		'$prog' --help >out &&
		for o in --key --path --store --quiet --verbose --help --version; do
			has "$o" out || exit 1
		done
	'
	test_expect_success "$prog --version" '
		'$prog' --version >out 2>err &&
		test ! -s err &&
		expect_grep "^'$prog' (cicache) [0-9]" out &&
		expect_eq "$(wc -l <out)" 1 &&
		'$prog' -V >out2 && cmp out out2
	'
	test_expect_success "$prog: an unknown option is a usage error" '
		expect_code 2 '$prog' --no-such-option >out 2>err &&
		test ! -s out &&
		expect_grep "no-such-option" err
	'
	test_expect_success "$prog: a stray argument is a usage error" '
		mkdir -p d &&
		expect_code 2 '$prog' --key k --path d stray --store "$S" >out 2>err &&
		expect_grep "stray" err &&
		test -z "$(entry_files "$S" k)"
	'
	test_expect_success "$prog: no key is a usage error naming the key" '
		expect_code 2 '$prog' --path d --store "$S" >out 2>err &&
		expect_grep "key" err &&
		expect_eq "$(wc -l <err)" 1
	'
	test_expect_success "$prog: an option without its argument is a usage error" '
		expect_code 2 '$prog' --key >out 2>err &&
		expect_grep "key" err
	'
done

for restore_only in --lookup-only --fail-on-miss --same-owner; do
	test_expect_success "cache-restore --help documents $restore_only" '
		cache-restore --help >out && has "'$restore_only'" out
	'
done

test_expect_success 'cache-save --help documents --immutable, --level, --jobs' '
	cache-save --help >out &&
	has --immutable out && has --level out && has --jobs out
'

test_expect_success 'cache-save without a path is a usage error' '
	expect_code 2 cache-save --key k --store "$S" >out 2>err &&
	expect_grep "path" err &&
	test -z "$(entry_files "$S" k)"
'

test_expect_success 'cache-save with an empty path is a usage error' '
	expect_code 2 cache-save --key k --path "" --store "$S" 2>err &&
	expect_grep "path" err
'

test_expect_success 'the same path given twice is saved once (paths are patterns: t0172)' '
	mkdir -p d &&
	cache-save --key twice --path d --path ./d/ --store "$S" >out &&
	expect_grep "^cache-saved=true$" out &&
	"$TEST_TOOL" manifest-dump "$(entry_files "$S" twice)" >dump &&
	expect_eq "$(grep -c "^root " dump)" 1
'

test_expect_success 'bad --level and --jobs values are usage errors' '
	for v in 0 20 abc -1 3x ""; do
		expect_code 2 cache-save --key k --path d --level "$v" --store "$S" 2>err || exit 1
		expect_grep "level" err || exit 1
	done &&
	for v in 0 abc -2 1000000; do
		expect_code 2 cache-save --key k --path d --jobs "$v" --store "$S" 2>err || exit 1
		expect_grep "jobs" err || exit 1
	done &&
	test -z "$(entry_files "$S" k)"
'

test_expect_success 'good --level and --jobs values work' '
	echo data >d/f &&
	cache-save --key lv1 --path d --level 1 --jobs 1 --store "$S" &&
	cache-save --key lv19 --path d --level 19 --jobs 2 --store "$S" &&
	cache-save --key short --path d -l 5 -j 1 -s "$S" &&
	rm -rf d && cache-restore --key lv19 --store "$S" && expect_eq "$(cat d/f)" data
'

test_expect_success 'short options work like long ones' '
	cache-restore -k short -s "$S" >out &&
	expect_grep "^cache-hit=true$" out &&
	cache-restore -k nope -r sho -s "$S" -p d >out &&
	expect_grep "^cache-matched-key=short$" out
'

test_expect_success 'an unsupported store URL is a usage error' '
	expect_code 2 cache-save --key k --path d --store "bogus://x/y" 2>err &&
	expect_grep "bogus://x/y" err &&
	expect_code 2 cache-restore --key k --store "bogus://x/y" 2>err &&
	expect_grep "bogus://x/y" err
'

test_done
