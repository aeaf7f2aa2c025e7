#!/usr/bin/env bash
# t0410: a store that cannot be written or read: exit 4 with an error
# naming it; a damaged entry: exit 5 (or skipped for the next match),
# never a hit.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
entries() { find "$1/keys" -type f 2>/dev/null | wc -l; }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

test_expect_success 'set up' '
	chmod 755 "$TRASH" &&
	mkdir data && echo content >data/f && seq 1 100000 >data/big &&
	cache-save -q --key good --path data --store "$S" >/dev/null
'

test_expect_success 'a store path below a regular file: exit 4, error naming it' '
	echo "just a file" >afile &&
	expect_code 4 cache-save --key k --path data --store "$TRASH/afile/store" >out 2>err &&
	cat err &&
	expect_grep "afile" err &&
	expect_grep "^cache-saved=false$" out &&
	expect_eq "$(cat afile)" "just a file"
'

test_expect_success 'restoring from a store path below a file is a miss or exit 4, never a hit' '
	code=0 &&
	cache-restore --key k --store "$TRASH/afile/store" >out 2>err || code=$? &&
	cat err &&
	expect_no_grep "^cache-hit=true" out &&
	case $code in 0) expect_grep "^cache-hit=false$" out ;; 4) expect_grep "afile" err ;;
		*) die "exit $code" ;; esac
'

if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	test_expect_success 'an unwritable store: exit 4, error naming it, no entry' '
		mkdir -m 777 nb && cp -a data nb/ && chown -R 65534:65534 nb/data &&
		cd nb &&
		expect_code 4 as_nobody cache-save --key nobody --path data --store "$S" >out 2>err &&
		cat err &&
		grep "error" err | grep -q "$S" || die "no error naming the store" &&
		expect_grep "Permission denied" err &&
		expect_eq "$(entries "$S")" 1 &&
		test -z "$(entry_files "$S" nobody)"
	'

	test_expect_success 'an unwritable directory where the store would be created: exit 4' '
		mkdir -m 755 rootonly &&
		cd nb &&
		expect_code 4 as_nobody cache-save --key k --path data --store "$TRASH/rootonly/store" >out 2>err &&
		expect_grep "rootonly" err &&
		test ! -e ../rootonly/store
	'

	test_expect_success 'a read-only store still serves restores' '
		cd nb && rm -rf data &&
		as_nobody cache-restore --key good --store "$S" >out 2>err &&
		expect_grep "^cache-hit=true$" out &&
		expect_eq "$(cat data/f)" content
	'

	test_expect_success 'an unreadable store: exit 4 naming it, not a silent miss' '
		cp -a "$S" locked && chmod 700 locked &&
		cd nb && rm -rf data &&
		expect_code 4 as_nobody cache-restore --key good --store "$TRASH/locked" >out 2>err &&
		cat err &&
		expect_grep "locked" err &&
		expect_no_grep "^cache-hit=true" out &&
		test ! -e data
	'
else
	echo "# SKIP unwritable-store cases: setpriv cannot drop privileges here"
fi

test_expect_success 'a damaged pack: the restore fails with exit 5, not a hit; the pack stays' '
	cp -a "$S" bad &&
	for p in $(find bad/packs -type f); do
		sz=$(stat -c %s "$p") &&
		printf "\\377\\377\\377\\377\\377\\377\\377\\377" |
			dd of="$p" bs=1 seek=$((sz / 2)) conv=notrunc status=none || exit 1
	done &&
	find bad/packs -type f | sort >packs.before &&
	rm -rf data &&
	expect_code 5 cache-restore --key good --store "$TRASH/bad" >out 2>err &&
	cat err &&
	expect_no_grep "^cache-hit=true" out &&
	expect_grep "error" err &&
	find bad/packs -type f | sort >packs.after &&
	diff packs.before packs.after &&
	expect_grep "noted the damaged pack" err &&
	test -n "$(ls bad/damaged)"
'

# Found before anything is written: the candidate is passed over (here a
# miss), and the pack is left as it is.
test_expect_success 'a truncated pack: passed over before anything is written' '
	rm -rf bad && cp -a "$S" bad &&
	for p in $(find bad/packs -type f); do truncate -s 100 "$p" || exit 1; done &&
	rm -rf data &&
	cache-restore --key good --store "$TRASH/bad" >out 2>err &&
	cat err &&
	expect_grep "skipping entry .good.: pack .packs/.*. is truncated" err &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "^cache-matched-key=$" out &&
	test ! -e data &&
	for p in $(find bad/packs -type f); do expect_eq "$(stat -c %s "$p")" 100 || exit 1; done
'

test_expect_success 'a missing pack: passed over before anything is written' '
	rm -rf bad && cp -a "$S" bad &&
	find bad/packs -type f -delete &&
	rm -rf data &&
	expect_code 1 cache-restore --key good --store "$TRASH/bad" --fail-on-miss >out 2>err &&
	expect_grep "skipping entry .good.: pack .packs/.*. is missing from the store" err &&
	expect_grep "^cache-hit=false$" out &&
	test ! -e data
'

test_expect_success 'a damaged entry is skipped for the next match with a warning' '
	rm -rf bad && cp -a "$S" bad &&
	sleep 0.05 && echo newer >data2 && mkdir -p d2 && mv data2 d2/f &&
	cache-save -q --key good-2 --path d2 --store "$TRASH/bad" >/dev/null &&
	sleep 0.05 &&
	cache-save -q --key good-3 --path d2 --store "$TRASH/bad" >/dev/null &&
	k=$(find bad/keys -name "good-3,@*") &&
	sz=$(stat -c %s "$k") && truncate -s $((sz / 2)) "$k" &&
	rm -rf d2 &&
	cache-restore --key x --restore-key good- --store "$TRASH/bad" >out 2>err &&
	cat err &&
	expect_grep "good-3" err &&
	expect_grep "^cache-matched-key=good-2$" out &&
	expect_eq "$(cat d2/f)" newer
'

test_expect_success 'a damaged exact entry is not a hit' '
	rm -rf d2 &&
	code=0 && cache-restore --key good-3 --store "$TRASH/bad" >out 2>err || code=$? &&
	cat err &&
	expect_no_grep "^cache-hit=true" out &&
	test "$code" = 0 || test "$code" = 5
'

test_done
