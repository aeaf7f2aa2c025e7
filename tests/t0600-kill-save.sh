#!/usr/bin/env bash
# run-tests: alone (kills saves at moments in their work)
# t0600: a save killed with SIGKILL at any moment publishes nothing: the
# key stays invisible (or, if the kill came after the entry was
# published, the entry is complete), and the next save of the same key
# succeeds and restores exactly.  Stale staging files are swept later.
. "$(dirname "$0")/lib.sh"

exec 3>&1
note() { echo "# $*" >&3; }

S=$TRASH/store

now() { date +%s.%N; }
# killed_save KEY DELAY: starts a save of tree under KEY, SIGKILLs it
# after DELAY seconds; prints "killed" or "finished"
killed_save() {
	local pid st=0
	cache-save -q --key "$1" --path tree --store "$S" >/dev/null 2>&1 &
	pid=$!
	sleep "$2"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" || st=$?
	case $st in
	137) echo killed ;;
	0) echo finished ;;
	*) echo "exit $st" ;;
	esac
}
# visible KEY: true if a lookup finds KEY
visible() {
	cache-restore --key "$1" --store "$S" --lookup-only >lookup.out 2>/dev/null &&
		grep -q "^cache-hit=true$" lookup.out
}

test_expect_success 'set up a ~200 MB tree (half random, half base64 text)' '
	mkdir -p tree/a tree/b &&
	for i in $(seq 1 50); do
		head -c 2000000 /dev/urandom >tree/a/r$i &&
		head -c 1500000 /dev/urandom | base64 >tree/b/t$i || exit 1
	done &&
	mkdir tree/small && for i in $(seq 1 300); do echo $i >tree/small/f$i || exit 1; done &&
	note "tree: $(du -sh tree | cut -f1)"
'

test_expect_success 'time a whole save (in another store)' '
	t0=$(now) &&
	cache-save -q --key ref --path tree --store "$TRASH/ref" >/dev/null &&
	t1=$(now) &&
	awk "BEGIN { print $t1 - $t0 }" >T &&
	note "a whole save takes $(cat T) s"
'

n=0
for when in 0.05 0.2 0.5 1 frac0.3 frac0.6 frac0.85 frac0.95; do
	n=$((n + 1))
	case $when in
	frac*) label="$(awk "BEGIN { print ${when#frac} * 100 }")% of a whole save" ;;
	*) label="$when s" ;;
	esac
	test_expect_success "a save killed after $label leaves no broken entry" '
		d='"$when"' &&
		case $d in frac*) d=$(awk "BEGIN { print ${d#frac} * $(cat T) }") ;; esac &&
		what=$(killed_save victim-'"$n"' "$d") &&
		note "kill after $d s: $what" &&
		case $what in killed|finished) ;; *) die "the save ended with $what" ;; esac &&
		if visible victim-'"$n"'; then
			test "$what" = finished || note "killed after publishing; checking the entry" &&
			rm -rf check && mkdir check &&
			(cd check && cache-restore -q --key victim-'"$n"' --store "$S" >/dev/null) &&
			diff -r tree check/tree && rm -rf check
		else
			test "$what" != finished || die "a finished save is not visible"
		fi
	'
done

test_expect_success 'no killed save left anything visible by prefix either' '
	cache-restore --key none --restore-key victim- --store "$S" --lookup-only >out &&
	cat out &&
	m=$(sed -n "s/^cache-matched-key=//p" out) &&
	if [ -n "$m" ]; then
		rm -rf check && mkdir check &&
		(cd check && cache-restore -q --key "$m" --store "$S" >/dev/null) &&
		diff -r tree check/tree
	fi
'

test_expect_success 'the next save of a killed key succeeds and restores exactly' '
	cache-save --key victim-1 --path tree --store "$S" >out 2>err &&
	expect_grep "^cache-saved=true$" out &&
	rm -rf check && mkdir check &&
	(cd check && cache-restore --key victim-1 --store "$S" >out) &&
	expect_grep "^cache-hit=true$" check/out &&
	diff -r tree check/tree &&
	expect_eq "$(cd check/tree && find . -printf "%p %m %s %T@\\n" | sort | md5sum)" \
		"$(cd tree && find . -printf "%p %m %s %T@\\n" | sort | md5sum)"
'

test_expect_success 'every killed key can be saved again' '
	for i in 2 3 4 5 6 7 8; do
		cache-save -q --key victim-$i --path tree --store "$S" >/dev/null || exit 1
		visible victim-$i || die "victim-$i not visible after a good save" || exit 1
	done &&
	rm -rf check && mkdir check &&
	(cd check && cache-restore -q --key victim-8 --store "$S" >/dev/null) &&
	diff -r tree check/tree
'

test_expect_success 'a save after kills, with changed content, restores exactly' '
	echo changed >tree/small/f1 && head -c 100000 /dev/urandom >tree/a/r7 &&
	killed_save after-kill 0.2 >/dev/null &&
	cache-save -q --key after-kill --path tree --store "$S" >/dev/null &&
	rm -rf check && mkdir check &&
	(cd check && cache-restore -q --key after-kill --store "$S" >/dev/null) &&
	diff -r tree check/tree
'

test_expect_success 'staging files left by killed saves are swept once stale' '
	find "$S" -name "*.tmp" >left &&
	note "staging files left by the kills: $(wc -l <left)" &&
	find "$S" -name "*.tmp" -exec touch -d "3 days ago" {} + &&
	cache-save -q --key sweep --path tree/small --store "$S" >/dev/null &&
	expect_eq "$(find "$S" -name "*.tmp" | wc -l)" 0
'

test_done
