#!/usr/bin/env bash
# run-tests: alone (kills saves at moments in their work)
# t0605: killing a save that replaces an existing key leaves the old
# entry whole (or the new one, if it was already published); a killed
# restore can simply be run again; SIGTERM and SIGINT publish nothing
# unless they come after the commit point, when the save exits 0.
. "$(dirname "$0")/lib.sh"

exec 3>&1
note() { echo "# $*" >&3; }

S=$TRASH/store

# restores KEY into a fresh directory check/ and prints which version
# (v1 or v2) came back, or "other" if it is neither exactly
which_version() {
	rm -rf check && mkdir check &&
	(cd check && cache-restore -q --key "$1" --store "$S" >/dev/null) || { echo failed; return; }
	if diff -r v1 check/tree >/dev/null; then echo v1
	elif diff -r v2 check/tree >/dev/null; then echo v2
	else echo other; fi
}

# bg_save KEY [DIR]: starts a save of DIR (default tree) under KEY in
# the background, its pid in $pid (background jobs of a script start
# with SIGINT ignored; env undoes that)
bg_save() {
	env --default-signal=INT cache-save -q --key "$1" --path "${2:-tree}" --store "$S" \
		>/dev/null 2>&1 &
	pid=$!
}

test_expect_success 'set up a ~150 MB tree and save it' '
	mkdir -p v1/a v1/b &&
	for i in $(seq 1 40); do
		head -c 2000000 /dev/urandom >v1/a/r$i &&
		head -c 1200000 /dev/urandom | base64 >v1/b/t$i || exit 1
	done &&
	cp -a v1 tree &&
	cache-save -q --key roll --path tree --store "$S" >/dev/null &&
	expect_eq "$(which_version roll)" v1
'

# each round saves new content (so the save has real work to do) over
# the entry holding v1
for delay in 0.05 0.2 0.4 0.7 1 1.5; do
	test_expect_success "a replacing save killed after $delay s keeps a whole entry" '
		rm -rf tree v2 && cp -a v1 tree &&
		for i in $(seq 1 30); do head -c 2000000 /dev/urandom >tree/a/r$i || exit 1; done &&
		echo new >tree/new && rm tree/b/t5 &&
		cp -a tree v2 &&
		bg_save roll &&
		sleep '$delay' &&
		{ kill -9 $pid 2>/dev/null || true; } &&
		st=0 && { wait $pid || st=$?; } &&
		v=$(which_version roll) &&
		note "killed after '$delay' s: exit $st, entry now $v" &&
		case $st:$v in 137:v1|137:v2|0:v2) ;; *) die "exit $st left version $v" ;; esac &&
		if [ "$v" = v2 ]; then
			rm -rf tree && cp -a v1 tree &&
			cache-save -q --key roll --path tree --store "$S" >/dev/null &&
			expect_eq "$(which_version roll)" v1
		fi
	'
done

# wait_staged: waits (up to 10 s) until the save in $pid has staged a
# file in the store, so the signal lands while it works; on a fast
# machine the save may still finish first, and then it must be whole
wait_staged() {
	for i in $(seq 1 1000); do
		ls "$S"/tmp/.cc-*.tmp >/dev/null 2>&1 && return 0
		kill -0 $pid 2>/dev/null || return 0
		sleep 0.01
	done
}

for sig in TERM INT; do
	test_expect_success "a save stopped by SIG$sig publishes nothing" '
		rm -rf tree && cp -a v1 tree &&
		for i in $(seq 1 40); do head -c 2000000 /dev/urandom >tree/a/r$i || exit 1; done &&
		rm -rf v3 && cp -a tree v3 &&
		bg_save sig-'$sig' &&
		wait_staged &&
		{ kill -'$sig' $pid 2>/dev/null || true; } &&
		st=0 && { wait $pid || st=$?; } &&
		note "SIG'$sig' while staging: exit $st" &&
		if [ $st = 0 ]; then
			rm -rf check && mkdir check &&
			(cd check && cache-restore -q --key sig-'$sig' --store "$S" >/dev/null) &&
			diff -r v3 check/tree
		else
			cache-restore --key sig-'$sig' --store "$S" --lookup-only >out &&
			expect_grep "^cache-hit=false$" out
		fi
	'
done

# SIGTERM at spread-out moments of small saves: whatever the moment,
# a save that exits 0 has published its whole entry, and one that ends
# by the signal has published nothing (the moment the signal lands
# after the commit point used to give 143 with the entry in place)
test_expect_success 'SIGTERM at any moment: exit status and store agree' '
	rm -rf small && mkdir small &&
	for i in $(seq 1 20); do head -c 300000 /dev/urandom >small/f$i || exit 1; done &&
	hits=0 && misses=0 &&
	for n in $(seq 1 60); do
		head -c 100000 /dev/urandom >small/f1 || exit 1
		bg_save "late-$n" small
		sleep "0.0$((n % 10))$((n / 10))" &&
		{ kill -TERM $pid 2>/dev/null || true; } &&
		st=0 && { wait $pid || st=$?; } &&
		cache-restore --key "late-$n" --store "$S" --lookup-only >out &&
		case $st in
		0) expect_grep "^cache-hit=true$" out && misses=$((misses + 1)) ;;
		143) expect_grep "^cache-hit=false$" out && hits=$((hits + 1)) ;;
		*) die "save $n: exit $st" ;;
		esac || exit 1
	done &&
	note "60 small saves: $hits stopped by SIGTERM, $misses finished"
'

test_expect_success 'a killed restore can be run again and gives the exact tree' '
	rm -rf tree v2 && cp -a v1 tree && echo r2 >tree/r2 && cp -a tree v2 &&
	cache-save -q --key r2 --path tree --store "$S" >/dev/null &&
	rm -rf check && mkdir check &&
	(cd check && { cache-restore -q --key r2 --store "$S" >/dev/null 2>&1 & pid=$!;
		sleep 0.3; kill -9 $pid 2>/dev/null; wait $pid; true; }) &&
	(cd check && cache-restore -q --key r2 --store "$S" >/dev/null) &&
	diff -r v2 check/tree
'

test_expect_success 'after all that the store serves both keys exactly' '
	expect_eq "$(which_version roll)" v1 &&
	expect_eq "$(which_version r2)" v2
'

test_done
