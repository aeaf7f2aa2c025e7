#!/usr/bin/env bash
# run-tests: alone (races signals against a restore)
# t0355: cache-restore and signals, and the temporaries of both programs.
# A restore stalled in a pack download (the fault proxy in front of moto
# holds the answer) is stopped by SIGTERM, SIGINT or SIGHUP: it exits
# 128 + the signal, prints the outputs of a failed restore, leaves nothing
# in its private TMPDIR, and the next restore puts the whole tree back.
# SIGKILL during a restore, or during a save's dedup-base download, leaves
# nothing in TMPDIR either (the manifest copies have no name).  A TMPDIR
# that is missing or not a directory still gets cache-hit=false & co.
. "$(dirname "$0")/lib.sh"

start_moto 1000000	# no signature checks: this is about signals
start_faultproxy
RPID=
test_cleanup '[ -z "$RPID" ] || kill -9 $RPID 2>/dev/null'

export AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION CICACHE_S3_TRIES \
      CICACHE_STALL_SECONDS
export AWS_ENDPOINT_URL=$PX
B=cicache-t0355
S=s3://$B/ci
mkdir -p "$TRASH/tmp"
export TMPDIR=$TRASH/tmp

# stalled RUN...: starts RUN (a cache-restore or cache-save, output in
# run.out and run.err, GITHUB_OUTPUT in gh.out) with a GET of WHAT (a
# path substring) held by the proxy, and waits until it is held; RPID
stalled() {
	local what=$1 i
	shift
	faults "[{\"method\": \"GET\", \"path\": \"$what\", \"action\": \"stall\"}]" || return 1
	: >gh.out
	GITHUB_OUTPUT=$TRASH/gh.out "$@" >run.out 2>run.err &
	RPID=$!
	for i in $(seq 1 300); do
		grep -q "^stall.*$what" "$PLOG" && return 0
		kill -0 $RPID 2>/dev/null || break
		sleep 0.1
	done
	cat run.err
	die "never stalled on $what"
}
# stop SIGNAL: sends SIGNAL to RPID, leaves its exit status in ST, and
# lets the proxy go on
stop() {
	ST=0
	kill -"$1" $RPID
	wait $RPID || ST=$?
	RPID=
	faults "[]"
}
tmp_empty() {
	ls -A "$TMPDIR" >left && { test ! -s left || { cat left; die "left in TMPDIR"; }; }
}

test_expect_success 'a bucket and an entry with a few MB of data' '
	curl -sf -X PUT "$EP/$B" >/dev/null &&
	mkdir -p data/sub && head -c 3000000 /dev/urandom >data/sub/big &&
	for i in 1 2 3 4 5; do echo "file $i" >data/f$i || return 1; done &&
	cp -a data data.orig &&
	cache-save -q --store $S --key k1 --path data >/dev/null &&
	tmp_empty && rm -rf data
'

for sig in TERM:143 INT:130 HUP:129; do
	name=${sig%:*} code=${sig#*:}
	test_expect_success "SIG$name during a pack download: exit $code, outputs, no temporaries" '
		stalled /packs/ cache-restore --store $S --key k1 &&
		stop '"$name"' &&
		expect_eq "$ST" '"$code"' &&
		expect_grep "interrupted" run.err &&
		expect_grep "^cache-hit=false$" run.out &&
		expect_grep "^cache-matched-key=$" run.out &&
		expect_grep "^cache-hit=false$" gh.out &&
		tmp_empty
	'
	test_expect_success "after SIG$name the next restore puts back the whole tree" '
		cache-restore --store $S --key k1 >out 2>err &&
		expect_grep "^cache-hit=true$" out &&
		expect_same_tree data.orig data &&
		rm -rf data
	'
done

test_expect_success 'SIGTERM while a big file is written from a local store: exit 143' '
	mkdir -p big && head -c 128000000 /dev/urandom >big/f &&
	cache-save -q --store local --key big --path big >/dev/null && rm -rf big &&
	: >gh.out
	GITHUB_OUTPUT=$TRASH/gh.out cache-restore --store local --key big >run.out 2>run.err &
	RPID=$!
	while ! test -e big/f && kill -0 $RPID 2>/dev/null; do :; done
	stop TERM &&
	expect_eq "$ST" 143 &&
	expect_grep "interrupted by a signal at .*big/f" run.err &&
	expect_grep "^cache-hit=false$" run.out &&
	tmp_empty &&
	cache-restore -q --store local --key big >/dev/null &&
	test "$(stat -c %s big/f)" = 128000000 && rm -rf big local
'

test_expect_success 'SIGKILL during a restore leaves nothing in TMPDIR' '
	stalled /packs/ cache-restore --store $S --key k1 &&
	stop KILL &&
	expect_eq "$ST" 137 &&
	tmp_empty
'

test_expect_success 'SIGKILL while a save reads its dedup base leaves nothing in TMPDIR' '
	cp -a data.orig data && echo new >data/f6 &&
	stalled /keys/k1 cache-save --store $S --key k2 --path data &&
	stop KILL &&
	expect_eq "$ST" 137 &&
	tmp_empty
'

# Two different signals sent while it is stopped both arrive when it
# goes on: the second one, in the middle of the first one's cleanup.
test_expect_success 'a second signal ends a restore at once, without cleanup' '
	stalled /packs/ cache-restore --store $S --key k1 &&
	kill -STOP $RPID && kill -INT $RPID && kill -TERM $RPID &&
	stop CONT &&
	case $ST in 130|143) ;; *) die "exit $ST" ;; esac &&
	expect_no_grep "^cache-hit" run.out && expect_no_grep "interrupted" run.err
'

for t in missing file; do
	test_expect_success "TMPDIR $t: exit 6, and the outputs of a failed restore" '
		rm -rf data && : >gh.out &&
		if test '"$t"' = missing; then bad=$TRASH/nowhere; else bad=$TRASH/afile && : >"$bad"; fi &&
		ST=0 &&
		TMPDIR=$bad GITHUB_OUTPUT=$TRASH/gh.out cache-restore --store $S --key k1 \
			>out 2>err || ST=$? &&
		expect_eq "$ST" 6 &&
		expect_grep "temporary file" err &&
		expect_grep "^cache-hit=false$" out &&
		expect_grep "^cache-primary-key=k1$" out &&
		expect_grep "^cache-matched-key=$" out &&
		expect_grep "^cache-hit=false$" gh.out &&
		expect_grep "^cache-primary-key=k1$" gh.out
	'
done

test_done
