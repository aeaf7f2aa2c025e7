#!/usr/bin/env bash
# t0846: t0345's story on S3 (moto, signatures checked).  A restore never
# deletes or rewrites an object: a pack damaged at rest is kept (another
# entry reads its intact frames) and a note, damaged/HEX.pack, is put
# once; a missing or short pack passes the candidate over before anything
# is written.  The next save does not reuse the noted pack, and a pack
# stored again after its note is reused again.  Credentials that cannot
# write get a warning only.
. "$(dirname "$0")/lib.sh"

start_moto_signed 3

test_expect_success 'moto runs with an IAM user and a bucket' '
	moto_iam_user
'
use_moto_iam_user
B=cicache-t0846
S=s3://$B/ci

# the size of object KEY in the bucket, empty if it is not there
osize() { awsx s3api head-object --bucket $B --key "$1" --query ContentLength --output text 2>/dev/null; }
# pack ids a stored manifest references
packs_of() { # PREFIX KEY
	o=$(awsx s3api list-objects-v2 --bucket $B --prefix "$1/keys/$2,@" \
		--query "Contents[0].Key" --output text) &&
	awsx s3 cp --no-progress "s3://$B/$o" "mf.$2" >/dev/null &&
	"$TEST_TOOL" manifest-dump "mf.$2" | sed -n "s/^pack [0-9]* //p"
}
# flip one bit of an object at rest: download, flip, upload over it
flip_object() { # KEY OFFSET
	awsx s3 cp --no-progress "s3://$B/$1" obj >/dev/null &&
	"$TEST_TOOL" corrupt obj "$2" >/dev/null &&
	awsx s3 cp --no-progress obj "s3://$B/$1" >/dev/null
}

test_expect_success 'setup: entries A and B share the frames of one pack' '
	awsx s3api create-bucket --bucket $B >/dev/null &&
	mkdir -p a b &&
	head -c 3000000 /dev/urandom >a/f1 && head -c 3000000 /dev/urandom >a/f2 &&
	cache-save -q --store $S --key A --path a >/dev/null &&
	cp a/f2 b/f2 &&
	cache-save -q --store $S --key B --restore-key A --path b >/dev/null &&
	P=$(packs_of ci A) && test "$(echo "$P" | wc -l)" = 1 &&
	packs_of ci B | grep -q -x "$P" &&
	echo "$P" >P &&
	mv a a.orig && mv b b.orig
'
P=$(cat P 2>/dev/null)

test_expect_success 'a pack damaged at rest: exit 5, the pack is kept, a note is put' '
	flip_object "ci/packs/$P.pack" 1000 &&
	size=$(osize "ci/packs/$P.pack") &&
	expect_code 5 cache-restore --store $S --key A >out 2>err &&
	cat err &&
	expect_grep "^cache-hit=false$" out &&
	expect_grep "noted the damaged pack .packs/$P.pack. in the store as .damaged/$P.pack." err &&
	expect_eq "$(osize "ci/packs/$P.pack")" "$size" &&
	test -n "$(osize "ci/damaged/$P.pack")"
'

test_expect_success 'B, which shares intact frames of that pack, still restores' '
	cache-restore --store $S --key B >out 2>err &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree b.orig b
'

test_expect_success 'the next save does not reuse the noted pack; its entry restores' '
	rm -rf a && cp -a a.orig a && echo three >a/f3 &&
	cache-save --store $S --key C --restore-key A --path a >out 2>err &&
	cat err &&
	expect_grep "not reusing the pack .packs/$P.pack.: a restore found it damaged" err &&
	packs_of ci C >packs.C &&
	expect_no_grep "$P" packs.C &&
	cp -a a a.C && rm -rf a &&
	cache-restore --store $S --key C >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree a.C a
'

# X alone under its prefix: saved again, it makes the same pack, which
# replaces the damaged object.  S3 reports a HEAD time in whole seconds:
# the save waits a second after the note so the pack is seen as newer.
X=s3://$B/x
test_expect_success 'a pack stored again after its note is whole, and reused again' '
	mkdir -p x && head -c 2000000 /dev/urandom >x/f &&
	cache-save -q --store $X --key X --path x >/dev/null &&
	XP=$(packs_of x X) &&
	flip_object "x/packs/$XP.pack" 500 &&
	cp -a x x.orig && rm -rf x &&
	expect_code 5 cache-restore --store $X --key X >out 2>err &&
	test -n "$(osize "x/damaged/$XP.pack")" &&
	sleep 1.1 &&
	rm -rf x && cp -a x.orig x &&
	cache-save --store $X --key X --path x >out 2>err &&
	cat err &&
	expect_grep "not reusing the pack .packs/$XP.pack." err &&
	awsx s3 cp --no-progress "s3://$B/x/packs/$XP.pack" healed >/dev/null &&
	expect_eq "$("$TEST_TOOL" id healed)" "$XP" &&
	cache-save --store $X --key X2 --restore-key X --path x >out 2>err &&
	cat err &&
	expect_no_grep "not reusing" err &&
	expect_grep "(100.0% deduplicated)" err &&
	rm -rf x &&
	cache-restore --store $X --key X >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree x.orig x
'

Y=s3://$B/y
test_expect_success 'a short or missing pack: passed over for the next candidate, nothing deleted' '
	mkdir -p d && seq 1 100000 >d/numbers &&
	cache-save -q --store $Y --key dep-1 --path d >/dev/null &&
	cp -a d d.1 && sleep 1.1 &&
	head -c 2000000 /dev/urandom >d/random &&
	cache-save -q --store $Y --key dep-2 --restore-key dep-1 --path d >/dev/null &&
	cp -a d d.2 && rm -rf d &&
	packs_of y dep-1 >packs.1 && packs_of y dep-2 >packs.2 &&
	Q=$(grep -v -x -f packs.1 packs.2) && test -n "$Q" &&
	awsx s3 cp --no-progress "s3://$B/y/packs/$Q.pack" q >/dev/null &&
	sz=$(stat -c %s q) && truncate -s $((sz - 100)) q &&
	awsx s3 cp --no-progress q "s3://$B/y/packs/$Q.pack" >/dev/null &&
	cache-restore --store $Y --key dep-3 --restore-key dep- >out 2>err &&
	cat err &&
	expect_grep "skipping entry .dep-2.: pack .packs/$Q.pack. is truncated" err &&
	expect_grep "^cache-matched-key=dep-1$" out &&
	expect_same_tree d.1 d &&
	expect_eq "$(osize "y/packs/$Q.pack")" $((sz - 100)) &&
	test -z "$(osize "y/damaged/$Q.pack")" &&
	awsx s3 rm "s3://$B/y/packs/$Q.pack" >/dev/null &&
	rm -rf d &&
	cache-restore --store $Y --key dep-2 >out 2>err &&
	expect_grep "skipping entry .dep-2.: pack .packs/$Q.pack. is missing from the store" err &&
	expect_grep "^cache-hit=false$" out && test ! -e d &&
	cp -a d.2 d &&
	cache-save --store $Y --key dep-3 --restore-key dep-2 --path d >out 2>err &&
	rm -rf d &&
	cache-restore --store $Y --key dep-3 >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree d.2 d
'

# Read-only credentials: an IAM user that may only read.
test_expect_success 'credentials that cannot write: exit 5 and a warning, the store unchanged' '
	awsx iam create-user --user-name reader >/dev/null &&
	awsx iam create-access-key --user-name reader >rkey.json &&
	awsx iam put-user-policy --user-name reader --policy-name read --policy-document \
		"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:ListBucket\"],\"Resource\":\"*\"}]}" &&
	python3 -c "import json; k = json.load(open(\"rkey.json\"))[\"AccessKey\"]; print(k[\"AccessKeyId\"]); print(k[\"SecretAccessKey\"])" >rcreds &&
	cache-save -q --store s3://$B/r --key R --path x.orig >/dev/null &&
	RP=$(packs_of r R) &&
	flip_object "r/packs/$RP.pack" 300 &&
	rm -rf x.orig.bak && mv x.orig x.orig.bak &&
	code=0 &&
	AWS_ACCESS_KEY_ID=$(sed -n 1p rcreds) AWS_SECRET_ACCESS_KEY=$(sed -n 2p rcreds) \
		cache-restore --store s3://$B/r --key R >out 2>err || code=$? &&
	mv x.orig.bak x.orig &&
	cat err &&
	expect_eq "$code" 5 &&
	expect_grep "the pack .packs/$RP.pack. is damaged, and the note for the next save cannot be written" err &&
	test -z "$(osize "r/damaged/$RP.pack")" &&
	test -n "$(osize "r/packs/$RP.pack")"
'

test_done
