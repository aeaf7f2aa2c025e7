#!/usr/bin/env bash
# CACHE_DOTENV: the outputs again, as a GitLab dotenv report.
. "$(dirname "$0")/lib.sh"
S=$TRASH/store

test_expect_success 'save and restore append dotenv lines' '
	mkdir d && echo hi >d/f &&
	CACHE_DOTENV=$TRASH/save.env cache-save --key k1 --path d --store "$S" -q >/dev/null &&
	expect_eq "$(cat save.env)" "$(printf "CACHE_SAVED=true\nCACHE_SAVED_KEY=k1")" &&
	mkdir r && (cd r && CACHE_DOTENV=$TRASH/r.env cache-restore --key k1 --store "$S" -q >/dev/null) &&
	expect_eq "$(cat r.env)" "$(printf "CACHE_HIT=true\nCACHE_PRIMARY_KEY=k1\nCACHE_MATCHED_KEY=k1")"
'

test_expect_success 'a miss writes an empty matched key' '
	CACHE_DOTENV=$TRASH/m.env cache-restore --key nope --store "$S" -q >/dev/null &&
	expect_eq "$(cat m.env)" "$(printf "CACHE_HIT=false\nCACHE_PRIMARY_KEY=nope\nCACHE_MATCHED_KEY=")"
'

test_expect_success 'an unwritable dotenv file is a warning, not a failure' '
	out=$(CACHE_DOTENV=/nonexistent/dir/x.env cache-restore --key k1 --store "$S" --lookup-only 2>err) &&
	expect_grep "cannot append to CACHE_DOTENV" err &&
	expect_grep "cache-hit=true" <(echo "$out")
'

test_expect_success 'lookup-only agrees with a restore that would write nothing' '
	mkdir -p outside && echo x >outside/f &&
	cache-save --key abs --path "$TRASH/outside" --store "$S" -q >/dev/null &&
	mkdir -p elsewhere && cd elsewhere &&
	cache-restore --key abs --store "$S" --lookup-only >out 2>err &&
	expect_grep "^cache-hit=false" out &&
	expect_grep "no path this job would restore" err &&
	cache-restore --key abs --store "$S" >out2 2>err2 &&
	expect_grep "^cache-hit=false" out2 &&
	cache-restore --key abs --store "$S" --path "$TRASH/outside" --lookup-only >out3 &&
	expect_grep "^cache-hit=true" out3
'

test_done
