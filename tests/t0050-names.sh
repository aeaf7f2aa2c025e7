#!/usr/bin/env bash
# t0050: file names are bytes: spaces, newlines, tabs, backslashes, leading
# dashes and dots, invalid UTF-8, long names all survive a round trip,
# and so do such names in the --path arguments themselves.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store
export LC_ALL=C

test_expect_success 'set up odd names' '
	mkdir -p "src/dir with spaces" &&
	echo space >"src/dir with spaces/file with spaces" &&
	echo nl >"src/new
line" &&
	mkdir "src/dir
with
newlines" && echo in >"src/dir
with
newlines/x" &&
	echo tab >"src/tab	name" &&
	echo ff >src/$'"'"'\xff\xfe'"'"' &&
	mkdir src/$'"'"'\xc3\x28dir'"'"' && echo bad >src/$'"'"'\xc3\x28dir/\x80\x81'"'"' &&
	echo utf8 >src/$'"'"'gr\xc3\xbc\xc3\x9fe-\xe2\x82\xac'"'"' &&
	echo dash >src/-rf &&
	echo dot >src/.hidden && echo dd >src/..double && echo trail >"src/trailing " &&
	echo bs >"src/back\\slash" && echo q >"src/quote\"s'"'"'" &&
	echo star >"src/*glob?[x]" && echo comma >"src/a,b" && echo colon >"src/c:d" &&
	echo long >"src/$(printf "%0255d" 7)" &&
	echo ctl >src/$'"'"'\x01\x02\x1b[31m'"'"' &&
	ln -s $'"'"'\xff\xfe'"'"' src/$'"'"'link\xfe'"'"' &&
	expect_eq "$(find src -mindepth 1 -printf . | wc -c)" 22
'

test_expect_success 'all names survive a round trip' '
	cache-save --key names --path src --store "$S" &&
	mv src orig &&
	cache-restore --key names --store "$S" &&
	expect_same_tree orig src &&
	expect_eq "$(cat src/$'"'"'\xff\xfe'"'"')" ff &&
	expect_eq "$(cat "src/new
line")" nl &&
	expect_eq "$(readlink src/$'"'"'link\xfe'"'"')" $'"'"'\xff\xfe'"'"'
'

test_expect_success 'no stray entries were created from split names' '
	test ! -e src/new && test ! -e src/line && test ! -e "src/dir"
'

test_expect_success 'paths with spaces, newlines and odd bytes as --path' '
	mkdir -p "w s" $'"'"'w\nnl'"'"' $'"'"'w\xff'"'"' &&
	echo 1 >"w s/f" && echo 2 >$'"'"'w\nnl/f'"'"' && echo 3 >$'"'"'w\xff/f'"'"' &&
	cache-save --key odd-paths --path "w s" --path $'"'"'w\nnl'"'"' --path $'"'"'w\xff'"'"' \
		--store "$S" &&
	rm -rf "w s" $'"'"'w\nnl'"'"' $'"'"'w\xff'"'"' &&
	cache-restore --key odd-paths --store "$S" &&
	expect_eq "$(cat "w s/f" $'"'"'w\nnl/f'"'"' $'"'"'w\xff/f'"'"')" "1
2
3"
'

test_expect_success 'a path starting with a dash is a path, not an option' '
	mkdir ./-dash && echo d >./-dash/f &&
	cache-save --key dash --path=-dash --store "$S" &&
	rm -rf ./-dash &&
	cache-restore --key dash --store "$S" &&
	expect_eq "$(cat ./-dash/f)" d
'

test_done
