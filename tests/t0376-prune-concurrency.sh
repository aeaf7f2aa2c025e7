#!/usr/bin/env bash
# run-tests: alone (runs saves, restores and prunes concurrently itself)
# t0376: prune while saves and restores run, on the local store and on
# moto: a soak test of the lifecycle protocol (docs/format.md, section
# 10).  Two savers roll keys over changing trees, each save
# deduplicating against the entries before it (the ones prune deletes);
# a restorer restores the newest saved keys; a pruner prunes by size
# with a short grace period, over and over.  Every save must end saved
# or with the clean "being pruned" refusal (exit 4, nothing published),
# every restore of an entry must give back exactly the tree saved under
# it, every prune must succeed; afterwards `cache-store check
# --read-data` finds the store sound, every entry left restores
# exactly, and prune really deleted packs.  The narrow races themselves
# (a pack marked or deleted between a save's base selection and its
# publication) are forced one at a time in t0374; t0372 and t0847 run
# shorter loops of their own.
. "$(dirname "$0")/lib.sh"

exec 3>&1
note() { echo "# $*" >&3; }

SECS=${PRUNE_LOOP_SECONDS:-15}
GRACE=5s

# listing_sum DIR: one hash of the tree as a restore must reproduce it
listing_sum() { tree_listing "$1" | md5sum | cut -c1-32; }

# saver I STORE: rolls keys cI-N until the file "stop" exists
saver() {
	local i=$1 st=$2 n=0 rc
	mkdir -p "w$i/src/shared" "w$i/src/own" &&
	cp -a base/. "w$i/src/shared/" || return 1
	while [ ! -e stop ]; do
		n=$((n + 1))
		head -c 300000 /dev/urandom >"w$i/src/own/n$n"
		rm -f "w$i/src/own/n$((n - 3))"
		rc=0
		(cd "w$i" && cache-save -q --store "$st" --key "c$i-$n" --restore-key "c$i-" \
			--path src >"../save-$i.out" 2>"../save-$i.err") || rc=$?
		if [ "$rc" = 0 ] && grep -q '^cache-saved=true$' "save-$i.out"; then
			echo "c$i-$n $(listing_sum "w$i/src")" >>saved.log
			echo ok >>saves.ok
		elif [ "$rc" = 4 ] && grep -q "being pruned" "save-$i.err"; then
			echo refused >>saves.refused
		else
			{ echo "save c$i-$n exited $rc"; cat "save-$i.err"; } >>failures
		fi
	done
}

# restorer STORE: restores the newest saved key of each saver
restorer() {
	local st=$1 n=0 k sum rc
	while [ ! -e stop ]; do
		for i in 1 2; do
			k=$(grep "^c$i-" saved.log 2>/dev/null | tail -n 1) || true
			[ -n "$k" ] || continue
			sum=${k#* } k=${k%% *}
			n=$((n + 1))
			rm -rf "r/$n" && mkdir -p "r/$n"
			rc=0
			(cd "r/$n" && cache-restore -q --store "$st" --key "$k" --path src \
				>out 2>err) || rc=$?
			if [ "$rc" != 0 ]; then
				{ echo "restore $k exited $rc"; cat "r/$n/err"; } >>failures
			elif grep -q '^cache-hit=true$' "r/$n/out"; then
				[ "$(listing_sum "r/$n/src")" = "$sum" ] ||
					echo "restore $k: the tree differs from the one saved" >>failures
				echo ok >>restores.ok
			fi
			rm -rf "r/$n"
		done
	done
}

# pruner STORE: prunes to a size two or three entries fit in (each tree is about 3 MB, 2 of them shared)
pruner() {
	local st=$1 rc
	while [ ! -e stop ]; do
		rc=0
		cache-store --store "$st" prune --max-size 8M --grace "$GRACE" \
			>prune.out 2>prune.err || rc=$?
		if [ "$rc" = 0 ]; then echo ok >>prunes.ok
		else { echo "prune exited $rc"; cat prune.err; } >>failures
		fi
		sleep 1
	done
}

# loops STORE: runs the four loops for SECS seconds, then once more a
# prune after the grace period (phase 2 of what the loops left marked)
loops() {
	local st=$1 pids=()
	rm -f stop failures saved.log saves.ok saves.refused restores.ok prunes.ok
	saver 1 "$st" & pids+=($!)
	saver 2 "$st" & pids+=($!)
	restorer "$st" & pids+=($!)
	pruner "$st" & pids+=($!)
	sleep "$SECS"
	# On a loaded machine the loops run fewer rounds: give them up to
	# twice as long again to reach the counts checked below.
	local extra=0
	while [ $extra -lt $((2 * SECS)) ] &&
	      { [ "$(cat saves.ok 2>/dev/null | wc -l)" -lt 4 ] ||
		[ "$(cat restores.ok 2>/dev/null | wc -l)" -lt 2 ] ||
		[ "$(cat prunes.ok 2>/dev/null | wc -l)" -lt 3 ]; }; do
		sleep 1
		extra=$((extra + 1))
	done
	touch stop
	wait "${pids[@]}"
	note "saves $(cat saves.ok 2>/dev/null | wc -l), refused $(cat saves.refused 2>/dev/null | wc -l)," \
	     "restores $(cat restores.ok 2>/dev/null | wc -l), prunes $(cat prunes.ok 2>/dev/null | wc -l)"
	if [ -s failures ]; then cat failures; die "failures in the loops"; return 1; fi
	[ "$(wc -l <saves.ok)" -ge 4 ] || die "too few saves ran"
	[ "$(wc -l <restores.ok)" -ge 2 ] || die "too few restores ran"
	[ "$(wc -l <prunes.ok)" -ge 3 ] || die "too few prunes ran"
}

# every_entry_restores STORE: each entry the store lists gives back its tree
every_entry_restores() {
	local st=$1 k sum n=0
	cache-store --store "$st" list --json >list.json &&
	node -e '
		const l = JSON.parse(require("fs").readFileSync("list.json", "utf8"));
		for (const e of (Array.isArray(l) ? l : l.entries)) console.log(e.key);
	' >keys.left &&
	[ -s keys.left ] || die "no entry left"
	while read -r k; do
		sum=$(grep "^$k " saved.log | tail -n 1 | cut -d" " -f2)
		[ -n "$sum" ] || die "entry $k was never reported saved"
		rm -rf chk && mkdir chk &&
		(cd chk && cache-restore -q --store "$st" --key "$k" --path src >out) &&
		grep -q '^cache-hit=true$' chk/out &&
		[ "$(listing_sum chk/src)" = "$sum" ] || die "entry $k does not restore its tree"
		n=$((n + 1))
	done <keys.left
	note "$n entries left, each restores exactly"
}

test_expect_success 'set up the shared part of the trees' '
	mkdir base &&
	for i in $(seq 1 8); do head -c 200000 /dev/urandom | base64 >base/t$i || exit 1; done
'

S=$TRASH/store
test_expect_success "local store: saves, restores and prunes at once for ${SECS}s" '
	loops "$S"
'

test_expect_success 'local store: after the grace period, --keep-last 2 deletes entries, then their packs' '
	sleep 6 &&
	cache-store --store "$S" prune --keep-last 2 --grace "$GRACE" >out 2>err &&
	sleep 6 &&
	cache-store --store "$S" prune --keep-last 2 --grace "$GRACE" >out 2>err &&
	written=$(cat saves.ok | wc -l) &&
	packs=$(ls "$S/packs" | wc -l) &&
	note "$written saves, $packs packs left, $(store_bytes "$S") bytes" &&
	cache-store --store "$S" stats >stats &&
	unref=$(sed -n "s/^unreferenced bytes: \([0-9]*\).*/\1/p" stats) &&
	ref=$(sed -n "s/^referenced bytes: \([0-9]*\).*/\1/p" stats) &&
	condemned=$(sed -n "s/^condemned packs: //p" stats) &&
	note "referenced $ref, unreferenced $unref, condemned $condemned" &&
	{ [ "$unref" -le $((8 * packs)) ] || die "a pack nothing references outlived two prunes"; } &&
	{ [ "$condemned" -eq 0 ] || die "a mark outlived its pack"; } &&
	{ [ "$(ls "$S/keys" | wc -l)" -eq 2 ] || die "--keep-last 2 left another count"; } &&
	{ [ "$packs" -lt "$written" ] || die "prune deleted no pack"; }
'

test_expect_success 'local store: check --read-data finds it sound' '
	cache-store --store "$S" check --read-data >out 2>err || { cat out err; exit 1; }
'

test_expect_success 'local store: every entry left restores exactly' '
	every_entry_restores "$S"
'

start_moto_signed 3
test_expect_success 'moto: an IAM user and a bucket' '
	moto_iam_user
'
use_moto_iam_user
M=s3://cicache-t0376/c
SECS=${PRUNE_LOOP_SECONDS_S3:-12}
test_expect_success "moto: saves, restores and prunes at once for ${SECS}s" '
	awsx s3api create-bucket --bucket cicache-t0376 >/dev/null &&
	loops "$M"
'
test_expect_success 'moto: check --read-data finds it sound' '
	cache-store --store "$M" check --read-data >out 2>err || { cat out err; exit 1; }
'
test_expect_success 'moto: every entry left restores exactly' '
	every_entry_restores "$M"
'

test_done
