#!/usr/bin/env bash
# t0510: after 1% of a tree's files change (20 of 2000 text files of 2 to
# 40 KB with shared content, edited in the middle), the next save stores
# at most 5% of what the first save stored; a save that names the old
# key as a restore key does as well.
. "$(dirname "$0")/lib.sh"

exec 3>&1
note() { echo "# $*" >&3; }

S=$TRASH/store

# 2000 files, 2-40 KB each: lines drawn from a shared pool of real header
# lines (content common to many files) mixed with lines of their own
test_expect_success 'generate 2000 files of mixed text' '
	{ find /usr/include -type f -name "*.h" -size -64k 2>/dev/null | LC_ALL=C sort | head -n 400 |
		xargs -r cat 2>/dev/null | grep -a -v "^[[:space:]]*$" | head -n 40000 || true; } >pool &&
	awk "BEGIN { for (i = 0; i < 5000; i++) printf \"shared pool line %d: the quick brown fox %x\\n\", i, i * 7919 }" >>pool &&
	awk -v seed=42 "
		{ pool[n++] = \$0 }
		END {
			srand(seed)
			for (f = 0; f < 2000; f++) {
				dir = sprintf(\"tree/d%02d\", f % 40)
				if (f < 40) system(\"mkdir -p \" dir)
				out = sprintf(\"%s/file%04d.txt\", dir, f)
				want = 2048 + int(rand() * 38 * 1024)
				size = 0
				while (size < want) {
					if (rand() < 0.6) line = pool[int(rand() * n)]
					else line = sprintf(\"file %d line %d: %d %.8f %s\", f, size, int(rand() * 1e9), rand(), pool[int(rand() * n)])
					print line > out
					size += length(line) + 1
				}
				close(out)
			}
		}" pool &&
	n=$(find tree -type f | wc -l) &&
	bytes=$(find tree -type f -printf "%s\\n" | awk "{ s += \$1 } END { print s }") &&
	small=$(find tree -type f -size -2k | wc -l) && large=$(find tree -type f -size +41k | wc -l) &&
	note "$n files, $bytes bytes" &&
	expect_eq "$n" 2000 && expect_eq "$small" 0 && expect_eq "$large" 0
'

test_expect_success 'first save' '
	cache-save -q --key build-1 --path tree --store "$S" >/dev/null &&
	store_bytes "$S" >first &&
	note "first save stored $(cat first) bytes"
'

# change 20 files (1%): in 10 insert lines in the middle, in 10 overwrite
# a stretch in the middle in place
test_expect_success 'edit 20 files in the middle' '
	cp -a tree tree.before &&
	i=0 &&
	for f in $(find tree -type f | LC_ALL=C sort | awk "NR % 100 == 50"); do
		lines=$(wc -l <"$f") && mid=$((lines / 2)) &&
		if [ $((i % 2)) = 0 ]; then
			{ head -n $mid "$f"; echo "inserted line $i"; seq 1 20 | sed "s/^/new $i /";
			  tail -n +$((mid + 1)) "$f"; } >"$f.new" && mv "$f.new" "$f"
		else
			sz=$(stat -c %s "$f") &&
			printf "OVERWRITTEN-%04d-%s" $i "$(head -c 200 /dev/urandom | md5sum | cut -c1-32)" |
				dd of="$f" bs=1 seek=$((sz / 2)) conv=notrunc status=none
		fi || exit 1
		i=$((i + 1))
	done &&
	expect_eq "$i" 20 &&
	expect_eq "$(diff -rq tree tree.before | wc -l)" 20
'

test_expect_success 'the next save stores at most 5% of the first' '
	before=$(store_bytes "$S") &&
	cache-save --key build-2 --path tree --store "$S" >/dev/null 2>err &&
	cat err &&
	grew=$(($(store_bytes "$S") - before)) first=$(cat first) &&
	note "second save stored $grew bytes, $(awk "BEGIN { printf \"%.2f\", 100 * $grew / $first }")% of the first" &&
	test $((grew * 100)) -le $((first * 5)) || die "stored $grew bytes; limit 5% of $first"
'

test_expect_success 'with --restore-key naming the old entry, the same holds' '
	for f in $(find tree -type f | LC_ALL=C sort | awk "NR % 100 == 25"); do
		echo "appended" >>"$f" || exit 1
	done &&
	before=$(store_bytes "$S") &&
	cache-save -q --key build-3 --restore-key build- --path tree --store "$S" >/dev/null &&
	grew=$(($(store_bytes "$S") - before)) first=$(cat first) &&
	note "third save (--restore-key build-) stored $grew bytes" &&
	test $((grew * 100)) -le $((first * 5)) || die "stored $grew bytes; limit 5% of $first"
'

test_expect_success 'both versions restore exactly' '
	mv tree tree.now &&
	cache-restore -q --key build-1 --store "$S" >/dev/null &&
	diff -r tree tree.before &&
	rm -rf tree &&
	cache-restore -q --key build-3 --store "$S" >/dev/null &&
	diff -r tree tree.now
'

test_done
