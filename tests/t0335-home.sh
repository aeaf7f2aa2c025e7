#!/usr/bin/env bash
# t0335: HOME=/ (what Docker and Kubernetes give a uid without a passwd
# entry), an unset or a relative HOME.  A "~/X" root obeys exactly the
# rules of its absolute spelling; an unusable HOME only affects "~/"
# roots: the others still restore, and --lookup-only says what a restore
# would do.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

test_expect_success 'set up: entries with a ~ root and a relative one' '
	mkdir -p "$HOME/.tool" ws/build "$HOME/proc/x" &&
	echo t >"$HOME/.tool/t" && echo b >ws/build/b && echo p >"$HOME/proc/x/p" &&
	(cd ws && cache-save --key both --path "~/.tool" --path build --store "$S") >out &&
	(cd ws && cache-save --key homeonly --path "~/.tool" --store "$S") >out &&
	(cd ws && cache-save --key proc --path "~/proc/x" --store "$S") >out
'

test_expect_success 'HOME=/: a ~ root outside the current directory is not restored unnamed' '
	mkdir -p d1 &&
	(cd d1 && HOME=/ cache-restore --key proc --store "$S") >out 2>err &&
	expect_grep "^cache-hit=false" out &&
	expect_grep "outside the home and current directories" err
'

test_expect_success 'HOME=/: --lookup-only agrees' '
	(cd d1 && HOME=/ cache-restore --key proc --lookup-only --store "$S") >out 2>err &&
	expect_grep "^cache-hit=false" out &&
	expect_grep "no path this job would restore" err
'

for h in unset "" relative/home; do
	test_expect_success "HOME ${h:-empty}: the other roots restore, the ~ root is passed over" '
		rm -rf d3 && mkdir d3 &&
		(cd d3 && if [ "'"$h"'" = unset ]; then unset HOME; else HOME="'"$h"'"; fi &&
		 cache-restore --key both --store "$S") >out 2>err &&
		expect_grep "^cache-hit=true" out &&
		expect_grep "not restoring .~/.tool.: HOME is" err &&
		expect_eq "$(cat d3/build/b)" b &&
		test ! -e d3/relative
	'

	test_expect_success "HOME ${h:-empty}: --lookup-only agrees" '
		(cd d3 && if [ "'"$h"'" = unset ]; then unset HOME; else HOME="'"$h"'"; fi &&
		 cache-restore --key both --lookup-only --store "$S" >out 2>err &&
		 grep -q "^cache-hit=true" out &&
		 cache-restore --key homeonly --lookup-only --store "$S" >out2 2>err2 &&
		 grep -q "^cache-hit=false" out2 &&
		 cache-restore --key homeonly --store "$S" >out3 2>err3 &&
		 grep -q "^cache-hit=false" out3)
	'
done

test_expect_success 'HOME unset: a root not selected with --only is no obstacle' '
	rm -rf d4 && mkdir d4 &&
	(cd d4 && unset HOME && cache-restore --key both --only build --store "$S") >out 2>err &&
	expect_grep "^cache-hit=true" out &&
	expect_eq "$(cat d4/build/b)" b
'

test_done
