#!/usr/bin/env bash
# t0180: saving under an existing key replaces the entry (rolling keys);
# with --immutable the existing entry is kept, the save says so and
# prints cache-saved=false, and exits 0.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
export CACHE_STORE=$S

test_expect_success 'set up and save version one' '
	mkdir data && echo one >data/f && echo gone-later >data/old &&
	seq 1 20000 >data/shared &&
	cache-save --key roll --path data >out &&
	expect_grep "^cache-saved=true$" out &&
	cache-save -q --key other --path data >/dev/null
'

test_expect_success 'saving again under the same key replaces the entry' '
	echo two >data/f && rm data/old && echo new >data/new &&
	cache-save --key roll --path data >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	rm -rf data &&
	cache-restore --key roll >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_eq "$(cat data/f)" two &&
	expect_eq "$(cat data/new)" new &&
	test ! -e data/old &&
	expect_eq "$(find "$S/keys" -type f | wc -l)" 2
'

test_expect_success 'an entry sharing data with the replaced one still restores' '
	rm -rf data &&
	cache-restore --key other >/dev/null &&
	expect_eq "$(cat data/f)" one &&
	expect_eq "$(cat data/old)" gone-later &&
	seq 1 20000 | cmp - data/shared
'

test_expect_success '--immutable keeps the existing entry and says so' '
	echo three >data/f &&
	cache-save --immutable --key roll --path data >out 2>err &&
	cat err &&
	expect_eq "$(cat out)" "cache-saved=false
cache-key=roll" &&
	expect_grep "roll" err &&
	expect_grep "immutable\\|kept\\|exist" err &&
	rm -rf data &&
	cache-restore -q --key roll >/dev/null &&
	expect_eq "$(cat data/f)" two
'

test_expect_success '--immutable on a new key saves it' '
	echo four >data/f &&
	cache-save --immutable --key fresh --path data >out &&
	expect_grep "^cache-saved=true$" out &&
	rm -rf data && cache-restore -q --key fresh >/dev/null &&
	expect_eq "$(cat data/f)" four
'

test_expect_success '--immutable does not add data to the store' '
	head -c 3000000 /dev/urandom >data/big &&
	before=$(store_bytes "$S") &&
	cache-save --immutable --key fresh --path data >out 2>err &&
	expect_grep "^cache-saved=false$" out &&
	after=$(store_bytes "$S") &&
	echo "# store grew by $((after - before)) bytes" &&
	test $((after - before)) -lt 100000 &&
	expect_eq "$(find "$S" -name "*.tmp" | wc -l)" 0
'

test_expect_success 'replacing an entry keeps lookups pointing at the new one' '
	sleep 0.05 && echo r1 >data/f && cache-save -q --key pfx-1 --path data >/dev/null &&
	sleep 0.05 && echo r2 >data/f && cache-save -q --key pfx-2 --path data >/dev/null &&
	sleep 0.05 && echo r1b >data/f && cache-save -q --key pfx-1 --path data >/dev/null &&
	rm -rf data &&
	cache-restore --key pfx-x --restore-key pfx- >out &&
	expect_grep "^cache-matched-key=pfx-1$" out &&
	expect_eq "$(cat data/f)" r1b
'

test_expect_success '--immutable does not refresh an entry for lookups' '
	sleep 0.05 && echo r2b >data/f && cache-save -q --key pfx-2 --path data --immutable >/dev/null &&
	rm -rf data &&
	cache-restore --key pfx-x --restore-key pfx- >out &&
	expect_grep "^cache-matched-key=pfx-1$" out
'

test_done
