#!/usr/bin/env bash
# t0192: cache-save --part-size (CACHE_PART_SIZE), the upload part size
# the GitHub action's upload-chunk-size input maps to.  On S3 (moto behind
# the fault proxy, whose log shows each request) a pack bigger than the
# part size is a multipart upload of ceil(size / part) parts, and one up to
# the part size a single PUT; the entry restores either way.  Sizes out of
# 5M..128M, or malformed, are usage errors.
. "$(dirname "$0")/lib.sh"

start_moto 1000000
start_faultproxy

export AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION CICACHE_S3_TRIES \
      CICACHE_STALL_SECONDS CACHE_PART_SIZE
export AWS_ENDPOINT_URL=$PX
B=cicache-t0192
S=s3://$B/ci

# parts: the UploadPart requests of the last save; singles: its pack PUTs
# without a part number
parts() { awk -F'\t' '$1 == "req" && $4 == "PUT" && index($5, "partNumber=")' "$PLOG" | wc -l | tr -d " "; }
singles() {
	awk -F'\t' '$1 == "req" && $4 == "PUT" && index($5, "/packs/") && !index($5, "partNumber=")' \
		"$PLOG" | wc -l | tr -d " "
}
# fresh N: new incompressible data of N MB in data (a pack of about that)
fresh() {
	rm -rf data data.orig && mkdir data &&
	head -c $(($1 * 1048576)) /dev/urandom >data/rand && cp -a data data.orig
}
roundtrip() {
	rm -rf data && cache-restore --store $S --key "$1" >out 2>err &&
	expect_grep "^cache-hit=true$" out && expect_same_tree data.orig data
}

test_expect_success 'a bucket' '
	curl -sf -X PUT "$EP/$B" >/dev/null
'

test_expect_success 'default: a 20 MB pack goes up in 8 MiB parts (3)' '
	fresh 20 && faults "[]" &&
	cache-save -q --store $S --key d --path data >/dev/null &&
	expect_eq "$(parts)" 3 && roundtrip d
'

test_expect_success '--part-size 5M: an 18 MB pack in 4 parts' '
	fresh 18 && faults "[]" &&
	cache-save -q --store $S --key p5 --path data --part-size 5M >/dev/null &&
	expect_eq "$(parts)" 4 && roundtrip p5
'

test_expect_success 'CACHE_PART_SIZE=32M: one PUT, no parts' '
	fresh 20 && faults "[]" &&
	CACHE_PART_SIZE=32M cache-save -q --store $S --key p32 --path data >/dev/null &&
	expect_eq "$(parts)" 0 && expect_eq "$(singles)" 1 && roundtrip p32
'

test_expect_success 'the flag hides a bad twin; exact byte counts work' '
	fresh 11 && faults "[]" &&
	CACHE_PART_SIZE=junk cache-save -q --store $S --key pb --path data \
		--part-size 6291456 >/dev/null &&
	expect_eq "$(parts)" 2 && roundtrip pb
'

for v in 4M 129M 0 abc 5X ""; do
	test_expect_success "--part-size '$v' is a usage error" '
		expect_code 2 cache-save --store $S --key x --path data --part-size "'"$v"'" 2>err &&
		expect_grep "part-size takes a size\|part size must be from 5M to 128M" err
	'
done

test_expect_success 'a bad CACHE_PART_SIZE is a usage error' '
	CACHE_PART_SIZE=1G expect_code 2 cache-save --store $S --key x --path data 2>err &&
	expect_grep "part size must be from 5M to 128M" err
'

test_done
