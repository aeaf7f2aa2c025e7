#!/usr/bin/env bash
# t0500: saving an unchanged tree under a new key stores almost nothing
# new: the store grows by less than 1% of the tree's bytes (at least 99%
# deduplicated); so does a tree whose files were touched, moved or
# copied.  (What a new entry must store anyway is its file list: for a
# tree of many small, very compressible files that alone can come near
# 1% of the first save's compressed size, so that is printed, not held.)
. "$(dirname "$0")/lib.sh"

# measurements go to the script's own output as "# " lines
exec 3>&1
note() { echo "# $*" >&3; }

S=$TRASH/store

# realistic content: system headers and documentation, plus generated text
test_expect_success 'set up a tree of real files' '
	mkdir -p tree &&
	mkdir -p tree/include &&
	(cd /usr/include && find . -type f -size -256k | LC_ALL=C sort | head -n 3000 |
		tar -cf - -T -) | tar -xf - -C tree/include &&
	mkdir -p tree/gen &&
	awk "BEGIN { srand(7); for (f = 0; f < 300; f++) {
		out = sprintf(\"tree/gen/file%03d.txt\", f);
		for (l = 0; l < 200 + f; l++)
			printf \"%d: item %d value %.6f name_%x\\n\", f, l, rand(), int(rand() * 1e9) > out;
		close(out) } }" &&
	head -c 2000000 /dev/urandom >tree/gen/blob.bin &&
	n=$(find tree -type f | wc -l) &&
	sz=$(find tree -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }") &&
	echo "$sz" >treebytes &&
	note "$n files, $sz bytes" &&
	test "$n" -gt 500 && test "$sz" -gt 5000000
'

test_expect_success 'first save' '
	cache-save -q --key v1 --path tree --store "$S" >/dev/null &&
	store_bytes "$S" >first &&
	note "first save: $(cat first) bytes in the store"
'

# grew_below_percent PCT: the store grew since $before by less than PCT
# percent of the tree's bytes
grew_below_percent() {
	local after grew first tree
	after=$(store_bytes "$S")
	grew=$((after - before))
	first=$(cat first) tree=$(cat treebytes)
	note "store grew by $grew bytes:" \
		"$(awk "BEGIN { printf \"%.3f\", 100 * $grew / $tree }")% of the tree," \
		"$(awk "BEGIN { printf \"%.3f\", 100 * $grew / $first }")% of the first save"
	[ $((grew * 100)) -lt $((tree * $1)) ] || die "grew by $grew bytes, limit $1% of $tree"
}

test_expect_success 'saving the unchanged tree under a new key stores < 1% new bytes' '
	before=$(store_bytes "$S") &&
	cache-save --key v2 --path tree --store "$S" >/dev/null 2>err &&
	cat err &&
	grew_below_percent 1
'

test_expect_success 'and a third time' '
	before=$(store_bytes "$S") &&
	cache-save -q --key v3 --path tree --store "$S" >/dev/null &&
	grew_below_percent 1
'

test_expect_success 'after touching every file (mtimes only) still < 1% new' '
	find tree -type f -exec touch {} + &&
	before=$(store_bytes "$S") &&
	cache-save -q --key v4 --path tree --store "$S" >/dev/null &&
	grew_below_percent 1
'

test_expect_success 'after renaming and moving directories still < 1% new' '
	mv tree/gen tree/generated &&
	mkdir tree/moved &&
	for d in $(ls tree/include | head -n 3); do mv "tree/include/$d" tree/moved/ || exit 1; done &&
	before=$(store_bytes "$S") &&
	cache-save -q --key v5 --path tree --store "$S" >/dev/null &&
	grew_below_percent 1
'

test_expect_success 'the same content under another path in another key dedups' '
	cp -a tree copy &&
	before=$(store_bytes "$S") &&
	cache-save -q --key v6 --path copy --store "$S" >/dev/null &&
	grew_below_percent 1
'

test_expect_success 'every version still restores exactly' '
	rm -rf copy && mv tree tree.now &&
	cache-restore -q --key v5 --store "$S" >/dev/null &&
	diff -r --no-dereference tree tree.now &&
	rm -rf tree &&
	cache-restore -q --key v1 --store "$S" >/dev/null &&
	test -d tree/gen && cmp tree/gen/blob.bin tree.now/generated/blob.bin
'

test_done
