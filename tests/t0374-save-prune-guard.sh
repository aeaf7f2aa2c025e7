#!/usr/bin/env bash
# run-tests: alone (pauses a save with SIGSTOP at a point of its work)
# t0374: a save and a prune meet (docs/format.md, "The commit protocol").
# A pack with prune's mark, condemned/HEX.pack, is not reused by a save,
# which stores its chunks again.  A mark put (or a pack deleted) after the
# save chose its bases and before it publishes: nothing is published, a
# clean error (exit 4) names the pack, the old entry stays.  A restore
# that hits records the use in used/E(K),@V at most once an hour, and a
# store it cannot write still restores.  The same on S3 (moto), with the
# conditional put a repack uses (put_if_match: If-Match).
. "$(dirname "$0")/lib.sh"

exec 3>&1
note() { echo "# $*" >&3; }

S=$TRASH/store
dump() { "$TEST_TOOL" manifest-dump "$(entry_files "$S" "$1")"; }
mark_text() { printf 'cicache condemned 1\n%s\n' "$(date +%s%N)"; }

# paused_save ACTION ARGS...: runs cache-save -v ARGS with stderr in err,
# stops it (SIGSTOP) as soon as it has read its dedup bases, runs the
# shell code ACTION, lets it go on and prints its exit status.  The save
# then still has its files to read (tens of MB), so the stop lands well
# before the publication.
paused_save() {
	local action=$1 pid st=0 line stopped=
	shift
	rm -f err.fifo
	mkfifo err.fifo || return 1
	cache-save -v "$@" >out 2>err.fifo &
	pid=$!
	exec 7<err.fifo
	: >err
	while IFS= read -r line <&7; do
		echo "$line" >>err
		case $line in *"dedup base"*) kill -STOP $pid; stopped=1; break ;; esac
	done
	[ -n "$stopped" ] || echo "# the save was never stopped" >>err
	eval "$action" >/dev/null
	cat <&7 >>err &
	kill -CONT $pid
	wait $pid || st=$?
	wait
	exec 7<&-
	echo $st
}

test_expect_success 'setup: entry A (two 20 MB files) in one local store' '
	mkdir a && head -c 20000000 /dev/urandom >a/f1 && head -c 20000000 /dev/urandom >a/f2 &&
	cache-save -q --store "$S" --key A --path a >/dev/null &&
	dump A | sed -n "s/^pack [0-9]* //p" >packs.A &&
	test -s packs.A &&
	cp -a a a.orig
'
P=$(head -n 1 packs.A 2>/dev/null)

test_expect_success 'a condemned mark on a base pack: the save stores its chunks again' '
	mkdir -p "$S/condemned" && mark_text >"$S/condemned/$P.pack" &&
	echo three >a/f3 &&
	cache-save -v --store "$S" --key C --restore-key A --path a >out 2>err &&
	expect_grep "not reusing the pack .packs/$P.pack.: a prune is deleting it" err &&
	dump C >dump.C &&
	expect_no_grep "$P" dump.C &&
	cp -a a a.C && rm -rf a &&
	cache-restore --store "$S" --key C >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree a.C a &&
	rm -rf a && cp -a a.orig a
'

test_expect_success 'without the mark the same save reuses the pack' '
	rm "$S/condemned/$P.pack" &&
	echo three >a/f3 &&
	cache-save -q --store "$S" --key D --restore-key A --path a >/dev/null &&
	dump D | grep -q "$P" &&
	rm -rf a && cp -a a.orig a
'

test_expect_success 'a mark put after base selection: nothing published, exit 4, A intact' '
	before=$(stat -c "%i %Y %s" "$(entry_files "$S" A)") &&
	echo four >a/f4 &&
	st=$(paused_save "mark_text >\"$S/condemned/$P.pack\"" --store "$S" --key A --path a) &&
	cat err &&
	expect_eq "$st" 4 &&
	expect_grep "pack $P that this entry references is being pruned: nothing published; save again" err &&
	expect_no_grep "^cache-saved=true" out &&
	expect_eq "$(stat -c "%i %Y %s" "$(entry_files "$S" A)")" "$before" &&
	rm -rf a && cache-restore --store "$S" --key A >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree a.orig a
'

test_expect_success 'a base pack deleted after base selection: nothing published, exit 4' '
	rm -f "$S/condemned/$P.pack" &&
	before=$(stat -c "%i %Y %s" "$(entry_files "$S" A)") &&
	echo five >a/f5 &&
	st=$(paused_save "mv \"$S/packs/$P.pack\" P.saved" --store "$S" --key A --path a) &&
	cat err &&
	expect_eq "$st" 4 &&
	expect_grep "pack $P that this entry references is being pruned (it is gone): nothing published" err &&
	expect_eq "$(stat -c "%i %Y %s" "$(entry_files "$S" A)")" "$before" &&
	mv P.saved "$S/packs/$P.pack" &&
	rm -rf a && cache-restore --store "$S" --key A >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree a.orig a
'

test_expect_success 'with nothing in the way the same paused save publishes' '
	echo five >a/f5 && cp -a a a.five &&
	st=$(paused_save ":" --store "$S" --key A --path a) &&
	expect_eq "$st" 0 &&
	rm -rf a && cache-restore --store "$S" --key A >out &&
	expect_same_tree a.five a &&
	rm -rf a && cp -a a.orig a &&
	cache-save -q --store "$S" --key A --path a >/dev/null
'

U=
test_expect_success 'a hit records the use in used/ with the rest of the entry name' '
	rm -rf "$S/used" && rm -rf a &&
	cache-restore --store "$S" --key A >out &&
	expect_grep "^cache-hit=true$" out &&
	k=$(entry_files "$S" A) && u="$S/used/${k#$S/keys/}" &&
	test -f "$u" &&
	expect_eq "$(sed -n 1p "$u")" "cicache used 1" &&
	t=$(sed -n 2p "$u") && now=$(date +%s%N) &&
	test $((now - t)) -lt 60000000000 && test $((now - t)) -ge 0 &&
	expect_eq "$(wc -l <"$u")" 2
'
k=$(entry_files "$S" A); U="$S/used/${k#$S/keys/}"

test_expect_success 'a second hit within the hour does not write it again' '
	before=$(stat -c "%i %y" "$U") &&
	sleep 1 && rm -rf a &&
	cache-restore -v --store "$S" --key A >out 2>err &&
	expect_eq "$(stat -c "%i %y" "$U")" "$before"
'

test_expect_success 'a record older than an hour is written again' '
	touch -d "2 hours ago" "$U" &&
	rm -rf a &&
	cache-restore --store "$S" --key A >out &&
	age=$(( $(date +%s) - $(stat -c %Y "$U") )) &&
	test "$age" -lt 60
'

test_expect_success 'a lookup and a miss record nothing' '
	rm -rf "$S/used" &&
	cache-restore --store "$S" --key A --lookup-only >out &&
	expect_grep "^cache-hit=true$" out &&
	cache-restore --store "$S" --key nothing-here >out &&
	expect_grep "^cache-hit=false$" out &&
	test ! -e "$S/used"
'

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
if [ "$(id -u)" = 0 ] && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	test_expect_success 'a store the restore cannot write still restores; -v says why no record' '
		chmod 755 "$TRASH" &&
		mkdir -p "$S/used" && : >"$U" && touch -d "2 hours ago" "$U" &&
		before=$(stat -c "%i %Y" "$U") &&
		mkdir -m 777 nb && cd nb &&
		as_nobody cache-restore -v --store "$S" --key A >out 2>err &&
		cat err &&
		expect_grep "^cache-hit=true$" out &&
		expect_same_tree ../a.orig a &&
		expect_grep "cannot record the use of this entry" err &&
		expect_eq "$(stat -c "%i %Y" "$U")" "$before" &&
		rm -rf a && as_nobody cache-restore --store "$S" --key A >out 2>err &&
		expect_no_grep "record" err
	'
else
	echo "# SKIP read-only store case: not root, or setpriv cannot drop privileges"
fi

# ---- S3 (moto) ----

start_moto_signed 3

test_expect_success 'moto runs with an IAM user and a bucket' '
	moto_iam_user
'
use_moto_iam_user
B=cicache-t0374
S3=s3://$B/ci

test_expect_success 's3: stat and list give the ETag; put_if_match replaces only that version' '
	awsx s3api create-bucket --bucket $B >/dev/null &&
	echo one >one && echo two >two && echo three >three &&
	"$TEST_TOOL" store-put $S3 keys/x one &&
	"$TEST_TOOL" store-stat $S3 keys/x >stat &&
	e=$(cut -d" " -f4 stat) && test -n "$e" &&
	"$TEST_TOOL" store-list $S3 keys/ >list &&
	expect_eq "$(grep "^keys/x " list | cut -d" " -f4)" "$e" &&
	expect_eq "$("$TEST_TOOL" store-put-if-match $S3 keys/x two "$e")" replaced &&
	awsx s3 cp --no-progress s3://$B/ci/keys/x got >/dev/null && expect_eq "$(cat got)" two &&
	expect_eq "$("$TEST_TOOL" store-put-if-match $S3 keys/x three "$e")" mismatch &&
	awsx s3 cp --no-progress s3://$B/ci/keys/x got >/dev/null && expect_eq "$(cat got)" two &&
	awsx s3 rm s3://$B/ci/keys/x >/dev/null &&
	expect_eq "$("$TEST_TOOL" store-put-if-match $S3 keys/x three "$e")" mismatch &&
	expect_eq "$("$TEST_TOOL" store-stat $S3 keys/x)" missing
'

# packs an S3 entry references
s3_packs() {
	o=$(awsx s3api list-objects-v2 --bucket $B --prefix "ci/keys/$1,@" \
		--query "Contents[0].Key" --output text) &&
	awsx s3 cp --no-progress "s3://$B/$o" "mf.$1" >/dev/null &&
	"$TEST_TOOL" manifest-dump "mf.$1" | sed -n "s/^pack [0-9]* //p"
}
s3_mark() { mark_text >mark && awsx s3 cp --no-progress mark "s3://$B/ci/condemned/$1.pack" >/dev/null; }

test_expect_success 's3: a condemned mark on a base pack: the save stores its chunks again' '
	rm -rf a && cp -a a.orig a &&
	cache-save -q --store $S3 --key A --path a >/dev/null &&
	s3_packs A >packs.s3A && Q=$(head -n 1 packs.s3A) && echo "$Q" >Q &&
	s3_mark "$Q" &&
	echo three >a/f3 &&
	cache-save -v --store $S3 --key C --restore-key A --path a >out 2>err &&
	expect_grep "not reusing the pack .packs/$Q.pack.: a prune is deleting it" err &&
	! s3_packs C | grep -q "$Q" &&
	awsx s3 rm "s3://$B/ci/condemned/$Q.pack" >/dev/null &&
	rm -rf a && cp -a a.orig a
'
Q=$(cat Q 2>/dev/null)

test_expect_success 's3: a mark put after base selection: nothing published, exit 4, A intact' '
	before=$(awsx s3api list-objects-v2 --bucket $B --prefix "ci/keys/A,@" \
		--query "Contents[].[Key,ETag,LastModified]" --output text) &&
	echo four >a/f4 &&
	st=$(paused_save "s3_mark $Q" --store $S3 --key A --path a) &&
	cat err &&
	expect_eq "$st" 4 &&
	expect_grep "pack $Q that this entry references is being pruned: nothing published; save again" err &&
	expect_eq "$(awsx s3api list-objects-v2 --bucket $B --prefix "ci/keys/A,@" \
		--query "Contents[].[Key,ETag,LastModified]" --output text)" "$before" &&
	awsx s3 rm "s3://$B/ci/condemned/$Q.pack" >/dev/null &&
	rm -rf a && cache-restore --store $S3 --key A >out &&
	expect_grep "^cache-hit=true$" out &&
	expect_same_tree a.orig a
'

test_expect_success 's3: a hit puts the last-use record, once within the hour' '
	o=$(awsx s3api list-objects-v2 --bucket $B --prefix "ci/keys/A,@" \
		--query "Contents[0].Key" --output text) &&
	u="ci/used/${o#ci/keys/}" &&
	awsx s3api head-object --bucket $B --key "$u" --query ETag --output text >e1 &&
	awsx s3 cp --no-progress "s3://$B/$u" rec >/dev/null &&
	expect_eq "$(sed -n 1p rec)" "cicache used 1" &&
	sleep 1 && rm -rf a &&
	cache-restore --store $S3 --key A >out &&
	expect_grep "^cache-hit=true$" out &&
	awsx s3api head-object --bucket $B --key "$u" --query LastModified --output text >m1 &&
	sleep 1 && rm -rf a &&
	cache-restore --store $S3 --key A >out &&
	expect_eq "$(awsx s3api head-object --bucket $B --key "$u" --query LastModified --output text)" "$(cat m1)"
'

test_done
