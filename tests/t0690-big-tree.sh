#!/usr/bin/env bash
# run-tests: alone (measures time and memory on a big tree)
# t0690: memory stays bounded on a large tree.  The requirement is a
# 5 GB, 500k-file tree: peak RSS (GNU time's %M) of a save, of a save
# that deduplicates against it and of a restore stays under 256 MiB.
# BIG_FILES and BIG_BYTES scale the tree down (or up) for a quick run;
# the defaults are the real requirement.  Needs ~4x BIG_BYTES of disk and
# takes a few minutes; measurements are printed as "# " lines.
. "$(dirname "$0")/lib.sh"

exec 3>&1
note() { echo "# $*" >&3; }

BIG_FILES=${BIG_FILES:-500000}
BIG_BYTES=${BIG_BYTES:-5000000000}
LIMIT_KB=$((256 * 1024))
S=$TRASH/store

[ -x /usr/bin/time ] || skip_all "GNU time (/usr/bin/time) is missing: apt-get install time"
command -v cc >/dev/null || skip_all "a C compiler (cc) is needed to generate the tree"
# Sanitizer builds carry shadow memory and quarantines: their RSS says
# nothing about ours (make check runs a plain build too).
if grep -qaE "__(asan|tsan)_init" "$(command -v cache-save)" 2>/dev/null; then
	skip_all "cache-save is built with a sanitizer; RSS is only meaningful in a plain build"
fi
need_kb=$((BIG_BYTES / 1024 * 4))
[ "$need_kb" -ge $((20 * 1024 * 1024)) ] || [ "$BIG_BYTES" -lt 5000000000 ] || need_kb=$((20 * 1024 * 1024))
free_kb=$(df -Pk "$TRASH" | awk 'NR == 2 { print $4 }')
[ "$free_kb" -ge "$need_kb" ] ||
	skip_all "needs $((need_kb / 1024 / 1024)) GB free in ${TMPDIR:-/tmp}, has $((free_kb / 1024 / 1024)) GB"

now() { date +%s.%N; }
since() { awk "BEGIN { printf \"%.1f\", $(now) - $1 }"; }
# measure NAME CMD...: runs CMD under GNU time; peak RSS (KiB) in NAME.rss
measure() {
	local name=$1 t0 st=0
	shift
	t0=$(now)
	/usr/bin/time -f %M -o "$TRASH/$name.rss" "$@" || st=$?
	note "$name: $(since "$t0") s, peak RSS $(($(tail -n 1 "$TRASH/$name.rss") / 1024)) MiB"
	return $st
}
rss_ok() {
	local kb
	kb=$(tail -n 1 "$TRASH/$1.rss")
	[ "$kb" -lt "$LIMIT_KB" ] || die "$1 peaked at $((kb / 1024)) MiB, limit $((LIMIT_KB / 1024)) MiB"
}

cat >gen.c <<'GEN'
/* gen FILES BYTES DIR: writes FILES files totalling about BYTES under DIR
 * in nested directories: mostly small text-like files (words drawn by a
 * seeded PRNG: compressible, never repeated wholesale), one in ten
 * random, plus four big files holding 40% of the bytes (text with
 * random stretches). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long long s = 0x9e3779b97f4a7c15ULL;
static unsigned long long rnd(void)
{
	s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
	return s * 2685821657736338717ULL;
}
static const char *words[] = {
	"the", "cache", "build", "node_modules", "include", "static", "const", "return",
	"void", "struct", "int", "unsigned", "char", "if", "else", "for", "while", "error",
	"warning", "object", "module", "package", "version", "index", "chunk", "store",
	"restore", "save", "key", "path", "file", "directory", "hash", "value", "size_t",
	"function", "export", "import", "require", "default", "class", "public", "private",
	"{", "}", "(", ")", ";", "=", "==", "+", "-", "*", "/*", "*/", "//", "\n", "\n\t",
	"0", "1", "42", "0x7f", "true", "false", "null", "undefined", "self", "this",
};
#define NW (sizeof(words) / sizeof(*words))
static char buf[1 << 20];

static size_t fill_text(char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned long long r = rnd();
		const char *w = words[r % NW];
		size_t l = strlen(w);
		if (i + l + 1 > n)
			l = n - i - 1 < l ? n - i - 1 : l;
		memcpy(p + i, w, l);
		i += l;
		if (i < n)
			p[i++] = (r >> 32) % 9 ? ' ' : (char)('a' + (r >> 40) % 26);
	}
	return n;
}
static int put(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}
static void fill_random(char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		unsigned long long r = rnd();
		memcpy(p + i, &r, n - i < 8 ? n - i : 8);
	}
}

int main(int argc, char **argv)
{
	long long files, bytes;

	if (argc != 4) {
		fprintf(stderr, "usage: gen FILES BYTES DIR\n");
		return 2;
	}
	files = atoll(argv[1]);
	bytes = atoll(argv[2]);
	long long big_each = bytes / 10, small_total = bytes - 4 * big_each;
	long long avg = small_total / (files > 4 ? files - 4 : 1), written = 0;
	char path[4096];

	if (avg < 1)
		avg = 1;
	for (long long f = 0; f < files; f++) {
		long long d1 = f / 10000, d2 = (f / 100) % 100;
		int fd, bad = 0;

		if (f % 100 == 0) {
			snprintf(path, sizeof(path), "%s/d%03lld", argv[3], d1);
			mkdir(path, 0755);
			snprintf(path, sizeof(path), "%s/d%03lld/e%02lld", argv[3], d1, d2);
			mkdir(path, 0755);
		}
		snprintf(path, sizeof(path), "%s/d%03lld/e%02lld/f%07lld%s", argv[3], d1, d2, f,
			 f % 10 == 3 ? ".bin" : ".txt");
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
			perror(path);
			return 1;
		}
		if (f < 4) {
			for (long long left = big_each; left > 0; left -= (long long)sizeof(buf)) {
				size_t n = left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf);
				if (rnd() % 5 == 0)
					fill_random(buf, n);
				else
					fill_text(buf, n);
				bad |= put(fd, buf, n);
			}
			written += big_each;
		} else {
			/* sizes spread from 1 byte to ~2x the average */
			size_t n = (size_t)(1 + rnd() % (unsigned long long)(2 * avg));
			if (n > sizeof(buf))
				n = sizeof(buf);
			if (f % 10 == 3)
				fill_random(buf, n);
			else
				fill_text(buf, n);
			bad |= put(fd, buf, n);
			written += (long long)n;
		}
		if (close(fd) || bad) {
			perror(path);
			return 1;
		}
	}
	printf("%lld\n", written);
	return 0;
}
GEN

test_expect_success "generate $BIG_FILES files, about $BIG_BYTES bytes" '
	cc -O2 -Wall -o gen gen.c &&
	mkdir tree &&
	t0=$(now) &&
	./gen "$BIG_FILES" "$BIG_BYTES" tree >written &&
	note "generated $(find tree -type f | wc -l) files, $(cat written) bytes in $(since $t0) s;" \
		"$(du -sh tree | cut -f1) on disk, $(df -Pk "$TRASH" | awk "NR == 2 { print int(\$4 / 1048576) }") GB left" &&
	expect_eq "$(find tree -type f | wc -l)" "$BIG_FILES"
'

test_expect_success 'save: peak RSS under 256 MiB' '
	measure save cache-save --key big-1 --path tree --store "$S" >out 2>err &&
	cat err && note "$(tail -n 1 err)" &&
	note "store: $(du -sh "$S" | cut -f1)" &&
	expect_grep "^cache-saved=true$" out &&
	expect_grep "$BIG_FILES files" err &&
	rss_ok save
'

test_expect_success 'save again (everything deduplicated): peak RSS under 256 MiB' '
	measure resave cache-save --key big-2 --restore-key big- --path tree --store "$S" >out 2>err &&
	cat err && note "$(tail -n 1 err)" &&
	expect_grep "^cache-saved=true$" out &&
	rss_ok resave
'

test_expect_success 'restore into an empty directory: peak RSS under 256 MiB' '
	mkdir restored &&
	(cd restored && measure restore cache-restore --key big-1 --store "$S" >../out 2>../err) &&
	cat err && note "$(tail -n 1 err)" &&
	expect_grep "^cache-hit=true$" out &&
	rss_ok restore
'

test_expect_success 'the restored tree is exact' '
	t0=$(now) &&
	(cd tree && find . -printf "%p %y %m %s %T@\\n" | LC_ALL=C sort) >want &&
	(cd restored/tree && find . -printf "%p %y %m %s %T@\\n" | LC_ALL=C sort) >got &&
	cmp want got &&
	diff -rq tree restored/tree &&
	note "compared in $(since $t0) s"
'

test_expect_success 'save the restored copy (read again, all deduplicated): RSS under 256 MiB' '
	measure copy-save cache-save --key big-copy --path restored/tree --store "$S" >out 2>err &&
	cat err && note "$(tail -n 1 err)" &&
	expect_grep "^cache-saved=true$" out &&
	rss_ok copy-save
'

test_expect_success 'restore over the existing tree: peak RSS under 256 MiB' '
	(cd restored && measure restore-over cache-restore --key big-2 --store "$S" >../out 2>../err) &&
	expect_grep "^cache-hit=true$" out &&
	rss_ok restore-over &&
	rm -rf restored
'

test_done
