#!/usr/bin/env bash
# t0430: a restore that cannot write its files fails with exit 6, an
# error naming the place, and cache-hit is not true.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

test_expect_success 'set up' '
	chmod 755 "$TRASH" &&
	mkdir data && echo content >data/f && mkdir data/sub && echo s >data/sub/g &&
	cache-save -q --key k --path data --store "$S" >/dev/null &&
	chmod -R a+rX "$S"
'

# HOME (where ~/.cache goes) is a regular file on the restoring machine
test_expect_success 'a parent of the destination is a regular file: exit 6' '
	echo file >h1-file &&
	mkdir -p hh/.cache && echo x >hh/.cache/x &&
	HOME=$TRASH/hh cache-save -q --key tilde --path "~/.cache" --store "$S" >/dev/null &&
	expect_code 6 env HOME="$TRASH/h1-file" cache-restore --key tilde --store "$S" >out 2>err &&
	cat err &&
	expect_grep "h1-file" err &&
	expect_no_grep "^cache-hit=true" out &&
	expect_eq "$(cat h1-file)" file
'

if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	test_expect_success 'an unwritable current directory: exit 6 naming it' '
		mkdir -m 755 ro &&
		(cd ro && expect_code 6 as_nobody cache-restore --key k --store "$S" >../out 2>../err) &&
		cat err &&
		expect_grep "ro" err &&
		expect_grep "Permission denied" err &&
		expect_no_grep "^cache-hit=true" out &&
		expect_eq "$(ls -A ro | wc -l)" 0
	'

	test_expect_success 'an unwritable directory inside the destination: exit 6 naming it' '
		mkdir -m 777 w2 && mkdir -p w2/data/sub && chmod 755 w2/data/sub &&
		chown 65534 w2/data &&
		(cd w2 && expect_code 6 as_nobody cache-restore --key k --store "$S" >../out 2>../err) &&
		cat err &&
		expect_grep "data/sub" err &&
		expect_no_grep "^cache-hit=true" out
	'
else
	echo "# SKIP unwritable-destination cases: setpriv cannot drop privileges here"
fi

test_done
