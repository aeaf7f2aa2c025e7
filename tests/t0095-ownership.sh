#!/usr/bin/env bash
# t0095: owners are recorded but restored only by root with --same-owner;
# otherwise restored files belong to whoever restores them.
. "$(dirname "$0")/lib.sh"

S=$TRASH/store

[ "$(id -u)" = 0 ] || skip_all "needs root to chown files to other users"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is needed to drop privileges"

test_expect_success 'set up files owned by other users' '
	mkdir -p src/dir &&
	echo a >src/file && echo b >src/dir/inner && echo c >src/plain &&
	ln -s file src/link &&
	chown 1234:5678 src/file &&
	chown 4321:8765 src/dir &&
	chown 1111:2222 src/dir/inner &&
	chown -h 3333:4444 src/link &&
	chmod 0640 src/file &&
	cache-save --key owners --path src --store "$S" &&
	mv src orig
'

test_expect_success 'without --same-owner everything belongs to the restoring user' '
	cache-restore --key owners --store "$S" &&
	for f in src src/file src/dir src/dir/inner src/link src/plain; do
		expect_eq "$(stat -c %u:%g "$f")" 0:0 "$f" || exit 1
	done &&
	expect_eq "$(stat -c %a src/file)" 640
'

test_expect_success 'with --same-owner, root restores the recorded owners' '
	rm -rf src &&
	cache-restore --same-owner --key owners --store "$S" &&
	expect_eq "$(stat -c %u:%g src/file)" 1234:5678 &&
	expect_eq "$(stat -c %u:%g src/dir)" 4321:8765 &&
	expect_eq "$(stat -c %u:%g src/dir/inner)" 1111:2222 &&
	expect_eq "$(stat -c %u:%g src/link)" 3333:4444 &&
	expect_eq "$(stat -c %u:%g src/plain)" 0:0 &&
	expect_eq "$(stat -c %a src/file)" 640
'

test_expect_success '--same-owner over an existing tree fixes the owners' '
	chown -R 0:0 src &&
	cache-restore --same-owner --key owners --store "$S" &&
	expect_eq "$(stat -c %u:%g src/file)" 1234:5678 &&
	expect_eq "$(stat -c %u:%g src/dir)" 4321:8765
'

test_expect_success 'setuid and setgid bits are not handed out without --same-owner' '
	mkdir suid && echo x >suid/prog && chown 1234:5678 suid/prog && chmod 6755 suid/prog &&
	cache-save --key suid --path suid --store "$S" &&
	rm -rf suid &&
	cache-restore --key suid --store "$S" &&
	expect_eq "$(stat -c %u:%g suid/prog)" 0:0 &&
	expect_eq "$(stat -c %a suid/prog)" 755 "a file of uid 1234 restored setuid root" &&
	rm -rf suid &&
	cache-restore --same-owner --key suid --store "$S" &&
	expect_eq "$(stat -c "%u:%g %a" suid/prog)" "1234:5678 6755"
'

test_expect_success '--same-owner is refused for a non-root user (exit 2)' '
	chmod 755 "$TRASH" && mkdir -m 777 nb &&
	(cd nb && expect_code 2 setpriv --reuid=65534 --regid=65534 --clear-groups \
		cache-restore --same-owner --key owners --store "$S" 2>../err) &&
	expect_grep "same-owner" err
'

test_done
