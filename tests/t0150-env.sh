#!/usr/bin/env bash
# t0150: every option CI users need has an environment twin, and a flag
# given on the command line wins over its twin.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
export CACHE_STORE=$S

test_expect_success 'set up' '
	mkdir a b c &&
	echo a >a/f && echo b >b/f && echo c >c/f &&
	for i in $(seq 1 3000); do echo "line $i of some fairly repetitive text, $((i % 7))"; done >a/text &&
	cp a/text b/text
'

test_expect_success 'CACHE_KEY and CACHE_PATH (one per line, YAML-ish blanks) drive a save' '
	CACHE_KEY=envkey CACHE_PATH="a

  b	
" cache-save >out &&
	expect_grep "^cache-key=envkey$" out &&
	rm -rf a b &&
	CACHE_KEY=envkey cache-restore >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat a/f b/f)" "a
b"
'

test_expect_success '--key wins over CACHE_KEY, --path over CACHE_PATH' '
	CACHE_KEY=ignored CACHE_PATH="a
b" cache-save --key flagkey --path c >out &&
	expect_grep "^cache-key=flagkey$" out &&
	rm -rf a b c &&
	cache-restore --key flagkey >out &&
	expect_eq "$(cat c/f)" c &&
	test ! -e a && test ! -e b
'

test_expect_success 'CACHE_KEY was not saved when --key was given' '
	expect_code 1 cache-restore --key ignored --fail-on-miss >out 2>&1
'

test_expect_success 'CACHE_ONLY restricts a restore; --only wins over it' '
	CACHE_KEY=envkey cache-restore >/dev/null &&
	rm -rf a b &&
	CACHE_ONLY=b cache-restore --key envkey >/dev/null &&
	test ! -e a && expect_eq "$(cat b/f)" b &&
	rm -rf a b &&
	CACHE_ONLY=b cache-restore --key envkey --only a >/dev/null &&
	test ! -e b && expect_eq "$(cat a/f)" a
'

test_expect_success 'CACHE_PATH on a restore is the saved --path list; --path wins over it' '
	rm -rf a b &&
	CACHE_PATH=b cache-restore --key envkey >out &&
	expect_grep "^cache-hit=false$" out && test ! -e a && test ! -e b &&
	CACHE_PATH=b cache-restore --key envkey --path a --path b >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat a/f)" a && expect_eq "$(cat b/f)" b &&
	rm -rf a b &&
	CACHE_PATH="a
b" cache-restore --key envkey >out &&
	expect_grep "^cache-hit=true$" out && expect_eq "$(cat a/f)" a
'

test_expect_success 'CACHE_RESTORE_KEYS; --restore-key wins over it' '
	rm -rf a b &&
	CACHE_RESTORE_KEYS="nomatch
env" cache-restore --key zzz >out &&
	expect_grep "^cache-matched-key=envkey$" out &&
	CACHE_RESTORE_KEYS=env cache-restore --key zzz --restore-key flag >out &&
	expect_grep "^cache-matched-key=flagkey$" out
'

test_expect_success 'CACHE_STORE; --store wins over it' '
	CACHE_STORE=$TRASH/other cache-save --key o --path c >/dev/null &&
	test -d other/keys &&
	CACHE_STORE=$TRASH/nowhere cache-restore --key o --store "$TRASH/other" --lookup-only >out &&
	expect_grep "^cache-hit=true$" out &&
	test ! -e nowhere
'

test_expect_success 'CACHE_QUIET silences the summary; --verbose wins over it' '
	CACHE_QUIET=true cache-save --key q1 --path c >out 2>err &&
	test ! -s err &&
	expect_grep "^cache-saved=true$" out &&
	CACHE_QUIET=1 cache-restore --key q1 >out 2>err &&
	test ! -s err &&
	CACHE_QUIET=true cache-save --verbose --key q2 --path c >out 2>err &&
	expect_grep "saved" err
'

test_expect_success 'CACHE_VERBOSE says more; --quiet wins over it' '
	cache-save --key v0 --path c 2>plain &&
	CACHE_VERBOSE=true cache-save --key v1 --path c 2>verbose &&
	test $(wc -l <verbose) -gt $(wc -l <plain) &&
	CACHE_VERBOSE=true cache-save --quiet --key v2 --path c 2>err &&
	test ! -s err &&
	CACHE_VERBOSE=yes cache-restore --key v1 2>verbose &&
	cache-restore --key v1 2>plain &&
	test $(wc -l <verbose) -gt $(wc -l <plain)
'

test_expect_success 'boolean twins accept 1/true/yes/on in any case, and nothing else' '
	for v in 1 true TRUE yes Yes on ON; do
		CACHE_QUIET=$v cache-save --key b --path c >/dev/null 2>err || exit 1
		test ! -s err || die "CACHE_QUIET=$v did not silence the summary" || exit 1
	done &&
	for v in 0 false no off ""; do
		CACHE_QUIET=$v cache-save --key b --path c >/dev/null 2>err || exit 1
		test -s err || die "CACHE_QUIET=$v silenced the summary" || exit 1
	done
'

test_expect_success 'CACHE_IMMUTABLE keeps the existing entry' '
	echo one >c/f && cache-save -q --key imm --path c >/dev/null &&
	echo two >c/f &&
	CACHE_IMMUTABLE=true cache-save --key imm --path c >out &&
	expect_grep "^cache-saved=false$" out &&
	rm -rf c && cache-restore -q --key imm >/dev/null && expect_eq "$(cat c/f)" one &&
	echo three >c/f &&
	CACHE_IMMUTABLE=false cache-save -q --key imm --path c >out &&
	expect_grep "^cache-saved=true$" out &&
	rm -rf c && cache-restore -q --key imm >/dev/null && expect_eq "$(cat c/f)" three
'

test_expect_success 'CACHE_LOOKUP_ONLY writes nothing' '
	rm -rf c &&
	CACHE_LOOKUP_ONLY=true cache-restore --key imm >out &&
	expect_grep "^cache-hit=true$" out &&
	test ! -e c &&
	CACHE_LOOKUP_ONLY=false cache-restore -q --key imm >out &&
	test -e c
'

test_expect_success 'CACHE_FAIL_ON_MISS makes a miss exit 1' '
	CACHE_FAIL_ON_MISS=true expect_code 1 cache-restore --key absent >out 2>&1 &&
	CACHE_FAIL_ON_MISS=on cache-restore --key imm --lookup-only >out &&
	CACHE_FAIL_ON_MISS=false cache-restore --key absent >out
'

test_expect_success 'CACHE_LEVEL sets the compression level; --level wins over it' '
	CACHE_LEVEL=1 cache-save -q --key l --path a --store "$TRASH/l1" >/dev/null &&
	CACHE_LEVEL=19 cache-save -q --key l --path a --store "$TRASH/l19" >/dev/null &&
	CACHE_LEVEL=19 cache-save -q --key l --path a --store "$TRASH/l19f1" --level 1 >/dev/null &&
	l1=$(store_bytes l1) l19=$(store_bytes l19) l19f1=$(store_bytes l19f1) &&
	echo "# level 1: $l1, level 19: $l19, CACHE_LEVEL=19 --level 1: $l19f1" &&
	test "$l19" -lt "$l1" &&
	test "$l19f1" -gt "$l19"
'

test_expect_success 'a bad CACHE_LEVEL or CACHE_JOBS is a usage error naming it' '
	CACHE_LEVEL=99 expect_code 2 cache-save --key x --path c 2>err &&
	expect_grep CACHE_LEVEL err &&
	CACHE_JOBS=zero expect_code 2 cache-save --key x --path c 2>err &&
	expect_grep CACHE_JOBS err &&
	test -z "$(entry_files "$S" x)"
'

test_expect_success 'CACHE_JOBS=1 and CACHE_JOBS=4 both save correctly' '
	CACHE_JOBS=1 cache-save -q --key j1 --path a >/dev/null &&
	CACHE_JOBS=4 cache-save -q --key j4 --path a >/dev/null &&
	cp -a a a.orig && rm -rf a &&
	cache-restore -q --key j1 >/dev/null && cmp a/text a.orig/text && rm -rf a &&
	cache-restore -q --key j4 >/dev/null && cmp a/text a.orig/text
'

test_expect_success 'cache-restore: CACHE_JOBS and --jobs restore correctly; bad values exit 2' '
	rm -rf a &&
	CACHE_JOBS=1 cache-restore -q --key j4 >/dev/null && cmp a/text a.orig/text && rm -rf a &&
	CACHE_JOBS=1 cache-restore -q --key j4 --jobs 2 >/dev/null && cmp a/text a.orig/text &&
	CACHE_JOBS=zero expect_code 2 cache-restore --key j4 2>err &&
	expect_grep CACHE_JOBS err
'

test_expect_success 'a flag wins over a bad twin it overrides' '
	CACHE_LEVEL=bogus cache-save -q --key lv --path c --level 3 >/dev/null &&
	CACHE_JOBS=bogus cache-save -q --key jb --path c --jobs 2 >/dev/null
'

test_done
