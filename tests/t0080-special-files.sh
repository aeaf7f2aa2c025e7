#!/usr/bin/env bash
# t0080: FIFOs, sockets and device nodes are skipped with a warning that
# names each of them; the save still succeeds and the rest is restored.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

# perl-base is essential on Debian; its Socket module binds a unix socket
command -v perl >/dev/null || skip_all "perl is needed to make a unix socket"

test_expect_success 'set up a tree with a fifo, a socket and device nodes' '
	mkdir -p src/sub &&
	echo keep >src/regular &&
	echo keep2 >src/sub/regular &&
	mkfifo src/fifo &&
	mkfifo src/sub/fifo2 &&
	perl -MSocket -e "socket(S, PF_UNIX, SOCK_STREAM, 0) && bind(S, sockaddr_un(\"src/sock\")) or die \"\$!\"" &&
	test -S src/sock &&
	mknod src/chardev c 1 3 &&
	mknod src/blockdev b 7 200 &&
	test -p src/fifo && test -c src/chardev && test -b src/blockdev
'

test_expect_success 'save skips them with a warning naming each, and succeeds' '
	timeout 120 cache-save --key special --path src --store "$S" >out 2>err &&
	cat err &&
	expect_grep "^cache-saved=true$" out &&
	for n in fifo sub/fifo2 sock chardev blockdev; do
		grep "warning" err | grep -q "src/$n" || die "no warning naming src/$n" || exit 1
	done &&
	expect_eq "$(grep -c warning err)" 5
'

test_expect_success 'restore brings back the regular files only' '
	mv src orig &&
	cache-restore --key special --store "$S" &&
	expect_eq "$(cat src/regular src/sub/regular)" "keep
keep2" &&
	expect_eq "$(find src ! -type d ! -type f | wc -l)" 0 &&
	test ! -e src/fifo && test ! -e src/sock && test ! -e src/chardev
'

test_expect_success 'a fifo given directly as a path is skipped or refused, never hangs' '
	mkfifo lonefifo &&
	code=0 &&
	timeout 60 cache-save --key lonefifo --path lonefifo --store "$S" >out 2>err || code=$? &&
	cat err &&
	test "$code" != 124 &&
	expect_grep "lonefifo" err
'

test_expect_success 'restoring over an existing fifo replaces it with the cached file' '
	rm -rf src && mkdir src && mkfifo src/regular &&
	timeout 60 cache-restore --key special --store "$S" &&
	test -f src/regular &&
	expect_eq "$(cat src/regular)" keep
'

test_done
