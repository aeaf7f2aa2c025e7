#!/usr/bin/env bash
# run-tests: alone (runs saves, restores and prunes against one another with short grace periods)
# t0847: cache-store on the S3 store (moto, signatures checked): list
# with summaries, an old entry without one, stats, delete, check, and
# prune's two phases (mark, then delete after the grace) through
# store_ops only.
. "$(dirname "$0")/lib.sh"

start_moto_signed 3

test_expect_success 'moto runs with an IAM user and a bucket' '
	moto_iam_user
'
use_moto_iam_user
B=cicache-t0847
S=s3://$B/ci
export CACHE_STORE=$S
objs() { awsx s3api list-objects-v2 --bucket $B --prefix "ci/$1" --query "Contents[].Key" --output text 2>/dev/null | tr "\t" "\n" | grep -v "^None$" | grep -c . || true; }

test_expect_success 'set up: two entries and an old one without a summary' '
	awsx s3api create-bucket --bucket $B >/dev/null &&
	mkdir d1 d2 && head -c 500000 /dev/urandom >d1/f && head -c 400000 /dev/urandom >d2/f &&
	cache-save -q -k one -p d1 >/dev/null && cache-save -q -k two -p d2 >/dev/null &&
	old_store_to $S plain-v1 &&
	expect_eq "$(objs sums/)" 2
'

test_expect_success 'list: every entry, the old one through its manifest (its summary is put)' '
	cache-store list --json >out.json &&
	python3 -c "
import json; l = json.load(open(\"out.json\")); e = {x[\"key\"]: x for x in l}
assert sorted(e) == [\"one\", \"plain-v1\", \"two\"], e
assert e[\"one\"][\"size\"] == 500000 and e[\"one\"][\"only\"] > 0, e
assert e[\"plain-v1\"][\"size\"] > 0 and e[\"plain-v1\"][\"paths\"] is None, e
" &&
	expect_eq "$(objs sums/)" 3
'

test_expect_success 'stats and check' '
	cache-store stats >out && cat out && expect_grep "^entries: 3$" out &&
	cache-store check --read-data 2>err && expect_grep "3 entries checked, 0 damaged" err
'

test_expect_success 'delete, then prune marks the pack; prune --grace 0 deletes it' '
	cache-store delete one >out && expect_grep "^delete entry one$" out &&
	n=$(objs packs/) &&
	cache-store prune --grace 0 >out && cat out &&
	# one'"'"'s pack, and the old store'"'"'s packs no entry put here uses
	expect_eq "$(grep -c "^delete pack" out)" $((n - 2)) &&
	expect_eq "$(objs packs/)" 2 &&
	expect_eq "$(objs condemned/)" 0 &&
	rm -rf d2 && cache-restore -k two -p d2 >out && expect_grep "cache-hit=true" out &&
	cache-store check --read-data
'

test_expect_success 'with the default grace a fresh unreferenced pack is kept' '
	cache-store delete two >/dev/null &&
	n=$(objs packs/) &&
	cache-store prune >out 2>err && cat out err &&
	expect_grep "kept (younger than the grace)" err &&
	expect_eq "$(objs packs/)" $n
'

test_expect_success 'repack on S3: a rolling key reaches --max-size, the manifest is rewritten with If-Match' '
	mkdir r && head -c 12000000 /dev/urandom >r/f &&
	cache-save -q -k roll -p r >/dev/null &&
	head -c 4500000 /dev/urandom | dd of=r/f conv=notrunc 2>/dev/null &&
	cache-save -q -k roll -p r >/dev/null &&
	cache-store prune --max-size 13M --grace 0 >out && cat out &&
	expect_grep "^repoint entry roll" out && expect_grep "^delete pack" out &&
	cache-store stats >st && cat st &&
	stored=$(sed -n "s/^stored bytes: \([0-9]*\).*/\1/p" st) &&
	test "$stored" -le $((13 * 1024 * 1024)) &&
	cache-store check --read-data &&
	cp -a r r.orig && rm -rf r &&
	cache-restore -k roll -p r >out && expect_grep "cache-hit=true" out && cmp r/f r.orig/f
'

test_expect_success 'on S3, concurrent saves and prunes (grace 1 s) leave every entry restorable' '
	mkdir -p ca && head -c 2000000 /dev/urandom >ca/f &&
	saver() {
		for i in 1 2 3 4 5; do
			head -c 200000 /dev/urandom | dd of=ca/f bs=200000 seek=$i conv=notrunc 2>/dev/null
			cache-save -k conc -p ca >/dev/null 2>"save-$i.err"
			echo $? >"save-$i.rc"
		done
	}
	pruner() {
		for i in 1 2 3 4 5 6; do
			cache-store prune --grace 1 --max-size 20M >/dev/null 2>>prune.err || echo "prune $?" >>prune.fail
			sleep 0.5
		done
	}
	saver &
	sp=$!
	pruner &
	pp=$!
	wait $sp $pp &&
	! test -e prune.fail &&
	for f in save-*.rc; do
		rc=$(cat "$f")
		if [ "$rc" != 0 ]; then
			expect_eq "$rc" 4 "$f" && expect_grep "being pruned" "${f%.rc}.err"
		fi
	done &&
	cache-store check --read-data &&
	rm -rf ca && cache-restore -k conc -p ca >out && expect_grep "cache-hit=true" out
'

test_done
