#!/usr/bin/env bash
# run-tests: alone (orders entries by their publication times)
# t0134: "newest wins" follows the order in which saves were made, even
# when the store's listing cannot tell them apart: entries whose listed
# times tie (the local store on a file system with coarse timestamps,
# simulated with touch; S3's LastModified, to the second, on moto) are
# ordered by the created_ns their manifests record, read only then.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

put() { rm -rf "$1" && mkdir -p "$1" && echo "$2" >"$1/f"; }
matched() { sed -n "s/^cache-matched-key=//p" out; }
# same_mtime FILE...: gives the files one modification time, to the ns
same_mtime() { touch -m -d "2026-01-02 03:04:05.000000000" "$@"; }

test_expect_success 'local: tied entry times, the later save wins a prefix lookup' '
	put d first && cache-save -q --store "$S" --key p-b --path d >/dev/null &&
	put d second && cache-save -q --store "$S" --key p-a --path d >/dev/null &&
	same_mtime "$S"/keys/p-a* "$S"/keys/p-b* &&
	rm -rf d &&
	cache-restore --store "$S" --key x --restore-key p- >out &&
	expect_eq "$(matched)" p-a && expect_eq "$(cat d/f)" second &&
	put d third && cache-save -q --store "$S" --key p-b --path d >/dev/null &&
	same_mtime "$S"/keys/p-a* "$S"/keys/p-b* &&
	rm -rf d &&
	cache-restore --store "$S" --key x --restore-key p- >out &&
	expect_eq "$(matched)" p-b && expect_eq "$(cat d/f)" third
'

test_expect_success 'local: tied entries of one key saved with two path lists' '
	put a one && cache-save -q --store "$S" --key two --path a >/dev/null &&
	put b other && cache-save -q --store "$S" --key two --path b >/dev/null &&
	same_mtime "$S"/keys/two,@* &&
	rm -rf a b &&
	cache-restore -q --store "$S" --key two >out &&
	expect_eq "$(cat b/f)" other && test ! -e a
'

test_expect_success 'local: a damaged manifest among tied entries sorts last, the rest still restore' '
	put d good && cache-save -q --store "$S" --key q-1 --path d >/dev/null &&
	put d bad && cache-save -q --store "$S" --key q-2 --path d >/dev/null &&
	f=$(ls "$S"/keys/q-2*) && printf XXXXXXXX | dd of="$f" conv=notrunc 2>/dev/null &&
	same_mtime "$S"/keys/q-1* "$S"/keys/q-2* &&
	rm -rf d &&
	cache-restore --store "$S" --key x --restore-key q- >out 2>err &&
	expect_eq "$(matched)" q-1 && expect_eq "$(cat d/f)" good
'

start_moto 1000000	# no signature checks: this is about ordering
B=cicache-t0134
SS=s3://$B/c?endpoint=$EP
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
for i in $(seq 1 100); do curl -s -o /dev/null "$EP/moto-api/" && break; sleep 0.1; done

# lastmod PREFIX: the LastModified of every keys/ object under PREFIX, one a line
lastmod() {
	awsx s3api list-objects-v2 --bucket $B --prefix "c/keys/$1" \
		--query "Contents[].LastModified" --output text | tr "\t" "\n"
}
# pair_keys P: saves P-1 ("early") then P-2 ("late").  The later save has
# the larger key, so ordering ties by name (the old tie-breaker: bytewise
# ascending) picks the wrong one.
pair_keys() { put d early && cache-save -q --store "$SS" --key "$1-1" --path d >/dev/null &&
	      put d late && cache-save -q --store "$SS" --key "$1-2" --path d >/dev/null; }
# one key, two path lists: a ("early") then b ("late")
pair_paths() { put a early && cache-save -q --store "$SS" --key "$1" --path a >/dev/null &&
	       put b late && cache-save -q --store "$SS" --key "$1" --path b >/dev/null; }
# in_one_second FN PREFIX LISTPFX: runs "FN PREFIXn" until both entries under
# PREFIXn LISTPFX have one LastModified second (so the listing cannot tell
# them apart); prints PREFIXn.  A save takes a good part of a second here
# (more on a loaded machine), so each try starts the pair where the first
# manifest should land just after a second begins, from the time the last
# pair took.  If the saves take a second or more each (a loaded machine),
# the pair is made again and its two manifests are then re-published in
# place (S3 CopyObject onto itself, later save first) by one process within
# one second: they keep the created_ns of their saves.
in_one_second() {
	local n p d=0.6 t0 t1
	for n in $(seq 1 "${T0134_TRIES:-6}"); do
		p=$2$n
		python3 -c "import time; t = time.time(); time.sleep((1 - $d + 0.03 - (t % 1)) % 1)"
		t0=$(date +%s.%N)
		"$1" "$p" || return 1
		t1=$(date +%s.%N)
		if [ "$(lastmod "$p$3" | sort -u | wc -l)" = 1 ] &&
		   [ "$(lastmod "$p$3" | wc -l)" = 2 ]; then
			echo "$p"
			return 0
		fi
		d=$(python3 -c "print(min(0.97, ($t1 - $t0) / 2))")
	done
	p=$2x
	"$1" "$p" || return 1
	echo "# saves too slow for one second here: re-publishing '$p$3' in place" >&2
	python3 - "$EP" "$B" "c/keys/$p$3" <<-\PY >&2 || return 1
	import sys, time, boto3
	ep, bucket, prefix = sys.argv[1:]
	s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1")
	for _ in range(20):
	    objs = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
	    objs.sort(key=lambda o: o["LastModified"], reverse=True)  # later save first
	    for o in objs:
	        s3.copy_object(Bucket=bucket, Key=o["Key"], MetadataDirective="REPLACE",
	                       CopySource={"Bucket": bucket, "Key": o["Key"]})
	    t = {o["LastModified"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}
	    if len(t) == 1:
	        sys.exit(0)
	    time.sleep(0.3)
	sys.exit("could not re-publish within one second")
	PY
	echo "$p"
}
twice() { in_one_second pair_keys "$1" -; }

test_expect_success 'moto: two saves within one second, a prefix restore gets the later one' '
	awsx s3api create-bucket --bucket $B >/dev/null &&
	p=$(twice s) &&
	lastmod "$p-" &&
	rm -rf d &&
	m=$(wc -l <moto.log) &&
	cache-restore --store "$SS" --key x --restore-key "$p-" >out &&
	expect_eq "$(matched)" "$p-2" && expect_eq "$(cat d/f)" late &&
	tail -n +$((m + 1)) moto.log | grep "\"GET /$B/c/keys/" >gets &&
	cat gets &&
	expect_eq "$(wc -l <gets)" 3
'

test_expect_success 'moto: without a tie no manifest is read to order the candidates' '
	put d e1 && cache-save -q --store "$SS" --key w-2 --path d >/dev/null &&
	sleep 1.1 &&
	put d e2 && cache-save -q --store "$SS" --key w-1 --path d >/dev/null &&
	[ "$(lastmod w- | sort -u | wc -l)" = 2 ] &&
	rm -rf d &&
	m=$(wc -l <moto.log) &&
	cache-restore --store "$SS" --key x --restore-key w- >out &&
	expect_eq "$(matched)" w-1 && expect_eq "$(cat d/f)" e2 &&
	tail -n +$((m + 1)) moto.log | grep "\"GET /$B/c/keys/" >gets &&
	cat gets &&
	expect_eq "$(wc -l <gets)" 1
'

test_expect_success 'moto: the primary key as a prefix orders the same way' '
	p=$(twice t) &&
	rm -rf d &&
	cache-restore --store "$SS" --key "$p" >out &&
	expect_eq "$(matched)" "$p-2" && expect_eq "$(cat d/f)" late &&
	expect_grep "^cache-hit=false$" out
'

test_expect_success 'moto: one key, two path lists saved within one second: without --path the later' '
	k=$(in_one_second pair_paths v ,@) &&
	lastmod "$k,@" &&
	rm -rf a b &&
	cache-restore -q --store "$SS" --key "$k" >out &&
	expect_eq "$(cat b/f)" late && test ! -e a
'

test_done
