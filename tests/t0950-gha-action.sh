#!/usr/bin/env bash
# t0950: the GitHub Action in ci-templates/github, run under node the way
# the runner runs it: INPUT_* for every input action.yml declares (its
# default unless the test gives one; ${{ job.status }} from JOB_STATUS),
# GITHUB_OUTPUT, GITHUB_STATE, GITHUB_PATH, RUNNER_TEMP, RUNNER_TOOL_CACHE
# and GITHUB_WORKSPACE; after main, the GITHUB_STATE file is parsed and
# each entry handed to post as STATE_<name>.  The store is a local
# directory, so no service is needed, except in the last tests: they run
# the default store, gha, against the fixture and Azurite of tests/gha.
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null 2>&1 || skip_all "node is not installed (the action runs on node24)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
	skip_all "node $(node --version) is older than 18 (the action runs on node24)"

ACTION=$(cd "$TEST_DIR/../ci-templates/github" && pwd)
BIN=$(cd "$CICACHE_BIN" && pwd)
S=$TRASH/store
export RUNNER_TEMP=$TRASH/runner-temp RUNNER_TOOL_CACHE=$TRASH/toolcache
mkdir -p "$RUNNER_TEMP" "$RUNNER_TOOL_CACHE"
unset CICACHE_BIN CACHE_DOTENV

# The runner, as far as an action's steps see it.
#   node sim.js ACTION_YML STAGE JOBDIR [INPUT=VALUE]...
# STAGE is main or post.  JOBDIR keeps one job's files: state-STAGE
# (GITHUB_STATE; state-main is read back for post), outputs-STAGE
# (GITHUB_OUTPUT, parsed into name=value lines in outputs-STAGE.txt),
# path (GITHUB_PATH).
cat >"$TRASH/sim.js" <<'EOF'
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const [yml, stage, jobdir, ...given] = process.argv.slice(2);

// The few shapes action.yml uses: inputs with an optional default, runs.
const text = fs.readFileSync(yml, 'utf8');
const inputs = {}, runs = {};
let section = '', input = '';
for (const line of text.split('\n')) {
	let m;
	if ((m = /^(\w[\w-]*):/.exec(line))) {
		section = m[1];
	} else if (section === 'inputs' && (m = /^  ([\w-]+):\s*$/.exec(line))) {
		input = m[1];
		inputs[input] = '';
	} else if (section === 'inputs' && (m = /^    default:\s*(.*)$/.exec(line))) {
		inputs[input] = m[1].replace(/^'(.*)'$/, '$1');
	} else if (section === 'runs' && (m = /^  ([\w-]+):\s*'?([^']*)'?\s*$/.exec(line))) {
		runs[m[1]] = m[2];
	}
}
const values = Object.assign({}, inputs);
for (const g of given) {
	const eq = g.indexOf('=');
	const name = g.slice(0, eq);
	if (!(name in inputs)) {
		console.error(`sim: ${yml} declares no input '${name}'`);
		process.exit(99);
	}
	values[name] = g.slice(eq + 1);
}
const env = Object.assign({}, process.env);
for (const k of Object.keys(env))
	if (k.startsWith('INPUT_') || k.startsWith('STATE_'))
		delete env[k];
for (const [name, v] of Object.entries(values))
	env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] =
		v.replace(/\$\{\{\s*job\.status\s*\}\}/, "JOB_STATUS" in process.env ? process.env.JOB_STATUS : "success");

// GITHUB_OUTPUT / GITHUB_STATE: name=value or name<<DELIM ... DELIM.
function parseFileCommands(file) {
	const out = [];
	if (!fs.existsSync(file))
		return out;
	const lines = fs.readFileSync(file, 'utf8').split('\n');
	for (let i = 0; i < lines.length; i++) {
		const line = lines[i];
		if (!line)
			continue;
		const d = line.indexOf('<<'), eq = line.indexOf('=');
		if (d > 0 && (eq < 0 || d < eq)) {
			const name = line.slice(0, d), delim = line.slice(d + 2), value = [];
			for (i++; i < lines.length && lines[i] !== delim; i++)
				value.push(lines[i]);
			if (i >= lines.length)
				throw new Error(`${file}: no closing delimiter for ${name}`);
			out.push([name, value.join('\n')]);
		} else if (eq > 0) {
			out.push([line.slice(0, eq), line.slice(eq + 1)]);
		} else {
			throw new Error(`${file}: bad line '${line}'`);
		}
	}
	return out;
}

fs.mkdirSync(jobdir, { recursive: true });
env.GITHUB_OUTPUT = path.join(jobdir, `outputs-${stage}`);
env.GITHUB_STATE = path.join(jobdir, `state-${stage}`);
env.GITHUB_PATH = path.join(jobdir, 'path');
fs.writeFileSync(env.GITHUB_OUTPUT, '');
fs.writeFileSync(env.GITHUB_STATE, '');
if (stage === 'post')
	for (const [name, value] of parseFileCommands(path.join(jobdir, 'state-main')))
		env[`STATE_${name}`] = value;
const script = path.resolve(path.dirname(yml), runs[stage]);
if (runs.using !== 'node24' || !runs[stage])
	throw new Error(`${yml}: runs.using is '${runs.using}', runs.${stage} is '${runs[stage]}'`);
const r = spawnSync(process.execPath, [script], { env, stdio: 'inherit', cwd: env.GITHUB_WORKSPACE });
fs.writeFileSync(path.join(jobdir, `outputs-${stage}.txt`),
	parseFileCommands(env.GITHUB_OUTPUT).map(([n, v]) => `${n}=${v}\n`).join(''));
process.exit(r.status === null ? 128 : r.status);
EOF

# step ACTION_SUBDIR STAGE JOB [INPUT=VALUE]...: one step of a fresh or
# running job; the workspace is $TRASH/ws-JOB.  Output: $TRASH/JOB.log.
step() {
	local yml=$ACTION/${1:+$1/}action.yml stage=$2 job=$3 rc=0
	shift 3
	mkdir -p "$TRASH/ws-$job"
	GITHUB_WORKSPACE=$TRASH/ws-$job node "$TRASH/sim.js" "$yml" "$stage" "$TRASH/job-$job" "$@" \
		>>"$TRASH/$job.log" 2>&1 || rc=$?
	echo "--- $job $stage exited $rc" >>"$TRASH/$job.log"
	return $rc
}
out() { cat "$TRASH/job-$1/outputs-$2.txt"; }
# The main action's inputs for a job on the local store.
main() { local job=$1; shift; CICACHE_BIN=$BIN step "" main "$job" store="$S" path=data "$@"; }
post() { local job=$1; shift; CICACHE_BIN=$BIN step "" post "$job" store="$S" path=data "$@"; }
keys_in_store() { (cd "$S/keys" 2>/dev/null && find . -type f | sort | md5sum); }

test_expect_success 'a miss: outputs, then post saves' '
	mkdir -p ws-j1/data && echo one >ws-j1/data/f &&
	main j1 key=k-1 restore-keys=nope- &&
	expect_eq "$(out j1 main)" "$(printf "cicache-bin=%s\ncache-hit=false\ncache-primary-key=k-1\ncache-matched-key=" "$BIN")" &&
	expect_grep "Cache not found for input keys: k-1, nope-" j1.log &&
	expect_grep "^primary_key<<" job-j1/state-main &&
	expect_eq "$(head -n1 job-j1/path)" "$BIN" &&
	post j1 key=k-1 &&
	expect_grep "Cache saved with key: k-1" j1.log &&
	cache-restore --store "$S" --key k-1 --lookup-only >lk &&
	expect_grep "^cache-hit=true" lk
'

test_expect_success 'an exact hit restores and post does not save' '
	before=$(keys_in_store) &&
	main j2 key=k-1 &&
	expect_eq "$(cat ws-j2/data/f)" one &&
	expect_eq "$(out j2 main)" "$(printf "cicache-bin=%s\ncache-hit=true\ncache-primary-key=k-1\ncache-matched-key=k-1" "$BIN")" &&
	post j2 key=k-1 &&
	expect_grep "Cache hit occurred on the primary key k-1, not saving" j2.log &&
	expect_no_grep "^cache-save " j2.log &&
	expect_eq "$(keys_in_store)" "$before"
'

test_expect_success 'post uses the key main recorded, not the input evaluated again' '
	main j2b key=k-1 &&
	post j2b key=k-changed-after-the-build &&
	expect_grep "Cache hit occurred on the primary key k-1" j2b.log
'

test_expect_success 'a restore-key hit: cache-hit false, post saves the key and dedups against the match' '
	main j3 key=k-2 restore-keys="$(printf "nope-\n  k-\n")" &&
	expect_eq "$(cat ws-j3/data/f)" one &&
	expect_eq "$(out j3 main)" "$(printf "cicache-bin=%s\ncache-hit=false\ncache-primary-key=k-2\ncache-matched-key=k-1" "$BIN")" &&
	echo two >ws-j3/data/g &&
	post j3 key=k-2 restore-keys="$(printf "nope-\nk-\n")" &&
	expect_grep "^cache-save --key k-2 --path data --restore-key k-1 --restore-key nope- --restore-key k- --store $S --immutable$" j3.log &&
	expect_grep "Cache saved with key: k-2" j3.log &&
	mkdir -p ws-j3c && (cd ws-j3c && cache-restore --store "$S" --key k-2 -q >/dev/null) &&
	expect_eq "$(cat ws-j3c/data/g)" two
'

test_expect_success 'immutable: false re-saves an exact hit (a rolling key)' '
	main j4 key=k-1 immutable=false &&
	expect_grep "^cache-hit=true" job-j4/outputs-main.txt &&
	echo changed >ws-j4/data/f &&
	post j4 key=k-1 immutable=false &&
	expect_grep "^cache-save --key k-1 --path data --store $S$" j4.log &&
	expect_grep "Cache saved with key: k-1" j4.log &&
	mkdir -p ws-j4c && (cd ws-j4c && cache-restore --store "$S" --key k-1 -q >/dev/null) &&
	expect_eq "$(cat ws-j4c/data/f)" changed
'

test_expect_success 'a failed job does not save without save-always' '
	mkdir -p ws-j5/data && echo five >ws-j5/data/f &&
	main j5 key=k-5 &&
	JOB_STATUS=failure post j5 key=k-5 &&
	expect_grep "Not saving: the job status is failure" j5.log &&
	expect_code 0 cache-restore --store "$S" --key k-5 --lookup-only >lk &&
	expect_grep "^cache-hit=false" lk
'

test_expect_success 'a failed job saves with save-always' '
	mkdir -p ws-j6/data && echo six >ws-j6/data/f &&
	main j6 key=k-6 save-always=true &&
	JOB_STATUS=failure post j6 key=k-6 save-always=true &&
	expect_grep "Cache saved with key: k-6" j6.log
'

test_expect_success 'an unknown job status is a warning and no save' '
	mkdir -p ws-j6u/data && echo x >ws-j6u/data/f &&
	main j6u key=k-6u &&
	JOB_STATUS= post j6u key=k-6u &&
	expect_grep "^::warning::Not saving: the job status is unknown" j6u.log
'

test_expect_success 'fail-on-cache-miss fails the step with an error' '
	expect_code 1 main j7 key=absent fail-on-cache-miss=true &&
	expect_grep "^::error::Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: absent" j7.log &&
	expect_grep "^cache-hit=false" job-j7/outputs-main.txt
'

test_expect_success 'fail-on-cache-miss is satisfied by a restore-key match' '
	main j7b key=absent restore-keys=k- fail-on-cache-miss=true &&
	expect_grep "^cache-matched-key=k-" job-j7b/outputs-main.txt
'

test_expect_success 'a usage error fails the step and post saves nothing' '
	mkdir -p ws-j8/data && echo x >ws-j8/data/f &&
	expect_code 1 main j8 key="bad,key" &&
	expect_grep "^::error::cache-restore exited 2 (usage error)" j8.log &&
	expect_grep "cache-restore: error: " j8.log &&
	JOB_STATUS=failure post j8 key="bad,key" save-always=true &&
	expect_grep "Not saving: the restore step had a usage error" j8.log
'

test_expect_success 'a missing key or a bad boolean fails before any program runs' '
	expect_code 1 main j9 key= &&
	expect_grep "^::error::Input required and not supplied: key" j9.log &&
	expect_code 1 main j9 key=k-1 lookup-only=yes &&
	expect_grep "^::error::Input .lookup-only. must be true or false, not .yes." j9.log &&
	expect_no_grep "^cache-restore " j9.log &&
	post j9 key=k-1 &&
	expect_grep "Not saving: the main step recorded no key" j9.log
'

test_expect_success 'lookup-only reports a hit and writes nothing' '
	main j10 key=k-1 lookup-only=true &&
	expect_grep "^cache-hit=true" job-j10/outputs-main.txt &&
	test ! -e ws-j10/data
'

# A store whose pack is damaged: the entry is found and fails verification
# while it is written (a missing pack would be passed over before).
test_expect_success 'a restore that fails is a warning and a miss' '
	mkdir -p ws-j11/data && echo x >ws-j11/data/f &&
	(cd ws-j11 && cache-save --store "$TRASH/badpack" --key k-11 --path data -q >/dev/null) &&
	for p in badpack/packs/*; do "$TEST_TOOL" corrupt "$p" 8 >/dev/null || exit 1; done &&
	rm -rf ws-j11/data &&
	CICACHE_BIN=$BIN step "" main j11 store="$TRASH/badpack" path=data key=k-11 &&
	expect_grep "^::warning::cache-restore exited 5 (the entry failed verification); continuing as a cache miss" j11.log &&
	expect_eq "$(out j11 main)" "$(printf "cicache-bin=%s\ncache-hit=false\ncache-primary-key=k-11\ncache-matched-key=" "$BIN")" &&
	expect_grep "^hit<<" job-j11/state-main
'

test_expect_success 'a failed restore with fail-on-cache-miss fails' '
	CICACHE_BIN=$BIN expect_code 1 step "" main j11b store="$TRASH/badpack" path=data key=k-11 \
		fail-on-cache-miss=true &&
	expect_grep "^::error::cache-restore exited 5 (the entry failed verification); failing as fail-on-cache-miss is set" j11b.log
'

test_expect_success 'a store error on save is a warning' '
	echo not-a-directory >plainfile &&
	mkdir -p ws-j11c/data && echo x >ws-j11c/data/f &&
	CICACHE_BIN=$BIN step "" main j11c store="$TRASH/plainfile" path=data key=k-11 &&
	CICACHE_BIN=$BIN step "" post j11c store="$TRASH/plainfile" path=data key=k-11 &&
	expect_grep "^::warning::cache-save exited 4 (store error); nothing was saved under k-11" j11c.log &&
	expect_grep "^--- j11c post exited 0" j11c.log
'

test_expect_success 'a path that is missing at save time is a warning' '
	main j12 key=k-12 path=nothere &&
	post j12 key=k-12 path=nothere &&
	expect_grep "warning: path .nothere. matches nothing" j12.log &&
	expect_grep "warning: nothing to save under .k-12." j12.log &&
	expect_grep "^--- j12 post exited 0" j12.log
'

test_expect_success 'CACHE_* variables of the job do not override the inputs' '
	mkdir -p ws-j13/data && echo x >ws-j13/data/f &&
	CACHE_KEY=from-env CACHE_IMMUTABLE=true CACHE_STORE=/nonexistent/x main j13 key=k-13 immutable=false &&
	CACHE_KEY=from-env CACHE_PATH=elsewhere post j13 key=k-13 immutable=false &&
	expect_grep "Cache saved with key: k-13" j13.log &&
	expect_no_grep "from-env" j13.log
'

test_expect_success 'an empty store input means CACHE_STORE' '
	mkdir -p ws-j14/data && echo x >ws-j14/data/f &&
	CICACHE_BIN=$BIN CACHE_STORE=$TRASH/store2 step "" main j14 path=data key=k-14 &&
	CICACHE_BIN=$BIN CACHE_STORE=$TRASH/store2 step "" post j14 path=data key=k-14 &&
	expect_grep "^cache-save --key k-14 --path data --store $TRASH/store2 --immutable$" j14.log &&
	cache-restore --store "$TRASH/store2" --key k-14 --lookup-only >lk &&
	expect_grep "^cache-hit=true" lk
'

test_expect_success 'store local uses the default store of the programs' '
	mkdir -p ws-j15/data && echo x >ws-j15/data/f &&
	CICACHE_BIN=$BIN step "" main j15 store=local path=data key=k-15 &&
	CICACHE_BIN=$BIN step "" post j15 store=local path=data key=k-15 &&
	expect_grep "^cache-save --key k-15 --path data --immutable$" j15.log &&
	test -d "$XDG_CACHE_HOME/cicache/store"
'

test_expect_success 'restore/: outputs, no state; without a key only the programs' '
	CICACHE_BIN=$BIN step restore main r1 store="$S" key=k-2 &&
	expect_eq "$(out r1 main)" "$(printf "cicache-bin=%s\ncache-hit=true\ncache-primary-key=k-2\ncache-matched-key=k-2" "$BIN")" &&
	expect_eq "$(cat ws-r1/data/g)" two &&
	test ! -s job-r1/state-main &&
	CICACHE_BIN=$BIN step restore main r2 &&
	expect_eq "$(out r2 main)" "cicache-bin=$BIN" &&
	expect_eq "$(cat job-r2/path)" "$BIN" &&
	expect_no_grep "^cache-restore " r2.log
'

test_expect_success 'restore/ path is the saved path list, as in actions/cache/restore' '
	mkdir -p ws-r3/a ws-r3/b && echo a >ws-r3/a/f && echo b >ws-r3/b/f &&
	(cd ws-r3 && cache-save --store "$S" --key two-paths --path a --path b -q >/dev/null) &&
	CICACHE_BIN=$BIN step restore main r4 store="$S" key=two-paths path=b &&
	expect_grep "^cache-hit=false" job-r4/outputs-main.txt &&
	test ! -e ws-r4/b && test ! -e ws-r4/a &&
	CICACHE_BIN=$BIN step restore main r4 store="$S" key=two-paths "path=a
b" &&
	expect_grep "^cache-hit=true" job-r4/outputs-main.txt &&
	test -e ws-r4/b/f && test -e ws-r4/a/f
'

test_expect_success 'save/: saves, then keeps the entry (immutable by default)' '
	mkdir -p ws-s1/data && echo s >ws-s1/data/f &&
	CICACHE_BIN=$BIN step save main s1 store="$S" key=s-1 path=data &&
	expect_eq "$(out s1 main)" "$(printf "cicache-bin=%s\ncache-saved=true" "$BIN")" &&
	CICACHE_BIN=$BIN step save main s1 store="$S" key=s-1 path=data &&
	expect_grep "^cache-saved=false" job-s1/outputs-main.txt &&
	expect_grep "Saved nothing under key .*an entry exists and immutable is set" s1.log &&
	CICACHE_BIN=$BIN step save main s1 store="$S" key=s-1 path=data immutable=false &&
	expect_grep "^cache-saved=true" job-s1/outputs-main.txt
'

test_expect_success 'save/ with a bad key fails' '
	CICACHE_BIN=$BIN expect_code 1 step save main s2 store="$S" key=a,b path=data &&
	expect_grep "^::error::cache-save exited 2 (usage error)" s2.log
'

test_expect_success 'upload-chunk-size goes to cache-save as --part-size (post and save/)' '
	mkdir -p ws-u1/data && echo u >ws-u1/data/f &&
	main u1 key=u-1 upload-chunk-size=6291456 &&
	expect_no_grep "part-size" u1.log &&
	post u1 key=u-1 upload-chunk-size=6291456 &&
	expect_grep "^cache-save --key u-1 --path data --store .* --immutable --part-size 6291456$" u1.log &&
	expect_grep "Cache saved with key: u-1" u1.log &&
	mkdir -p ws-u2/data && echo u >ws-u2/data/f &&
	CICACHE_BIN=$BIN step save main u2 store="$S" key=u-2 path=data upload-chunk-size=134217728 &&
	expect_grep "^cache-save --key u-2 --path data --store .* --immutable --part-size 134217728$" u2.log &&
	expect_grep "^cache-saved=true" job-u2/outputs-main.txt
'

test_expect_success 'upload-chunk-size out of range is clamped, not a number ignored, with warnings' '
	mkdir -p ws-u3/data && echo u >ws-u3/data/f &&
	CICACHE_BIN=$BIN step save main u3 store="$S" key=u-3 path=data upload-chunk-size=1048576 &&
	expect_grep "^::warning::upload-chunk-size 1048576 is outside 5242880 to 134217728 bytes.*using 5242880" u3.log &&
	expect_grep "^cache-save .*--part-size 5242880$" u3.log &&
	CICACHE_BIN=$BIN step save main u3 store="$S" key=u-3b path=data upload-chunk-size=999999999 &&
	expect_grep "^cache-save .*--part-size 134217728$" u3.log &&
	CICACHE_BIN=$BIN step save main u3 store="$S" key=u-3c path=data upload-chunk-size=32MB &&
	expect_grep "^::warning::upload-chunk-size .32MB. is not a number of bytes: ignored" u3.log &&
	expect_grep "^cache-save --key u-3c --path data --store [^ ]* --immutable$" u3.log &&
	expect_grep "^cache-saved=true" job-u3/outputs-main.txt
'

test_expect_success 'enableCrossOsArchive is accepted everywhere; a bad value fails first' '
	mkdir -p ws-x1/data && echo x >ws-x1/data/f &&
	main x1 key=x-1 enableCrossOsArchive=true &&
	post x1 key=x-1 enableCrossOsArchive=true &&
	expect_grep "Cache saved with key: x-1" x1.log &&
	CICACHE_BIN=$BIN step restore main x2 store="$S" key=x-1 enableCrossOsArchive=True &&
	expect_grep "^cache-hit=true" job-x2/outputs-main.txt &&
	CICACHE_BIN=$BIN step save main x2 store="$S" key=x-2 path=data enableCrossOsArchive=FALSE &&
	CICACHE_BIN=$BIN expect_code 1 step "" main x3 store="$S" path=data key=x-1 enableCrossOsArchive=yes &&
	expect_grep "^::error::Input .enableCrossOsArchive. must be true or false, not .yes." x3.log &&
	expect_no_grep "^cache-restore " x3.log &&
	CICACHE_BIN=$BIN expect_code 1 step save main x4 store="$S" key=x-4 path=data enableCrossOsArchive=1 &&
	expect_no_grep "^cache-save " x4.log
'

test_expect_success 'SEGMENT_DOWNLOAD_TIMEOUT_MINS and CACHE_TIMEOUT reach the programs' '
	SEGMENT_DOWNLOAD_TIMEOUT_MINS=soon main t1 key=k-1 &&
	expect_grep "warning: SEGMENT_DOWNLOAD_TIMEOUT_MINS=.soon. is not a positive number of minutes" t1.log &&
	expect_grep "^cache-hit=true" job-t1/outputs-main.txt &&
	CACHE_TIMEOUT=never expect_code 1 main t2 key=k-1 &&
	expect_grep "CACHE_TIMEOUT takes a duration" t2.log &&
	expect_grep "^::error::cache-restore exited 2" t2.log
'

test_expect_success 'cache-hit is false, never empty, after a miss (main and restore/)' '
	main m1 key=absent-key &&
	expect_grep "^cache-hit=false$" job-m1/outputs-main.txt &&
	CICACHE_BIN=$BIN step restore main m2 store="$S" key=absent-key &&
	expect_grep "^cache-hit=false$" job-m2/outputs-main.txt &&
	expect_grep "^cache-matched-key=$" job-m2/outputs-main.txt
'

test_expect_success 'cicache-bin that holds no programs fails the step' '
	mkdir empty-bin &&
	expect_code 1 step "" main b1 store="$S" path=data key=k-1 cicache-bin="$TRASH/empty-bin" &&
	expect_grep "^::error::cicache-bin .*empty-bin. does not hold executable cache-save and cache-restore" b1.log
'

# Locating and building, on a copy of the source tree (git archive would
# miss uncommitted files: copy what the build and the action need).
# PATH holds node, the usual tools and a make that logs its calls, but no
# cicache; apt-get must not be needed (the packages are installed here).
SRC=$TRASH/src
mkdir -p "$SRC/ci-templates" fakebin
cp -R "$TEST_DIR/../GNUmakefile" "$TEST_DIR/../common" "$TEST_DIR/../tools" "$SRC/"
cp -R "$ACTION" "$SRC/ci-templates/github"
[ ! -d "$TEST_DIR/../builder" ] || cp -R "$TEST_DIR/../builder" "$SRC/"
# make.calls: the calls that build the cache programs (cachebuild, when
# the makefile has it, is built by a second call).
cat >fakebin/make <<EOF
#!/bin/sh
case " \$* " in *" bin/cache-save "*) echo "make \$*" >>"$TRASH/make.calls" ;; esac
exec $(command -v make) "\$@"
EOF
cat >fakebin/apt-get <<EOF
#!/bin/sh
echo "apt-get \$*" >>"$TRASH/apt.calls"
EOF
# A dpkg-query that reports libxxhash-dev as not installed (fakedpkg/ goes
# first on PATH only where a test asks for it).
mkdir fakedpkg
cat >fakedpkg/dpkg-query <<EOF
#!/bin/sh
for a; do p=\$a; done
[ "\$p" = libxxhash-dev ] && { echo "dpkg-query: no packages found matching \$p" >&2; exit 1; }
exec $(command -v dpkg-query) "\$@"
EOF
chmod +x fakebin/make fakebin/apt-get fakedpkg/dpkg-query
NOCICACHE_PATH=$TRASH/fakebin
IFS=: read -r -a _dirs <<<"$PATH"
for _d in "${_dirs[@]}"; do
	[ -x "$_d/cache-save" ] || NOCICACHE_PATH=$NOCICACHE_PATH:$_d
done
# build_step JOB [INPUT=VALUE]...: the main action of the copy.
build_step() {
	local job=$1
	shift
	(ACTION=$SRC/ci-templates/github PATH=$NOCICACHE_PATH step "" main "$job" store="$S" path=data key=k-1 "$@")
}

test_expect_success 'no cicache anywhere: built from source once, then reused' '
	rm -f make.calls &&
	build_step c1 &&
	expect_eq "$(wc -l <make.calls)" 1 &&
	expect_grep "^make -C .*cicache-build-.* bin/cache-save bin/cache-restore" make.calls &&
	dir=$(sed -n "s/^cicache-bin=//p" job-c1/outputs-main.txt) &&
	case "$dir" in "$RUNNER_TOOL_CACHE"/cicache/0*-*/*) ;; *) die "built into $dir" ;; esac &&
	test -x "$dir/cache-save" && test -x "$dir/cache-restore" &&
	expect_grep "^cache-hit=true" job-c1/outputs-main.txt &&
	test ! -e "$SRC/bin" && test ! -e "$SRC/build" &&
	test -z "$(ls "$RUNNER_TEMP" | grep cicache-build-)" &&
	test ! -e apt.calls &&
	build_step c2 &&
	expect_eq "$(wc -l <make.calls)" 1 &&
	expect_grep "cicache: using the build in $dir" c2.log &&
	expect_eq "$(sed -n "s/^cicache-bin=//p" job-c2/outputs-main.txt)" "$dir" &&
	(ACTION=$SRC/ci-templates/github PATH=$NOCICACHE_PATH step "" post c2 store="$S" path=data key=k-1) &&
	expect_grep "Cache hit occurred on the primary key k-1" c2.log
'

test_expect_success 'cicache of the same version on PATH is used; another version is not' '
	rm -rf "$RUNNER_TOOL_CACHE/cicache" && mkdir onpath wrongver &&
	ln -s "$BIN/cache-save" "$BIN/cache-restore" onpath/ &&
	for p in cache-save cache-restore; do
		printf "#!/bin/sh\necho \"%s (cicache) 0.0.0-other\"\n" $p >wrongver/$p && chmod +x wrongver/$p || exit 1
	done &&
	NOCICACHE_PATH=$TRASH/wrongver:$TRASH/onpath:$NOCICACHE_PATH build_step c3 &&
	expect_grep "cicache: using cicache [0-9.]* from $TRASH/onpath" c3.log &&
	expect_eq "$(wc -l <make.calls)" 1
'

test_expect_success 'a changed source is built again; two jobs building at once both succeed' '
	old=$(sed -n "s/^cicache-bin=//p" job-c1/outputs-main.txt) &&
	echo "/* changed */" >>"$SRC/common/version.h" &&
	calls=$(wc -l <make.calls) &&
	{ NOCICACHE_PATH=$TRASH/wrongver:$NOCICACHE_PATH build_step c8 & } &&
	pid=$! &&
	NOCICACHE_PATH=$TRASH/wrongver:$NOCICACHE_PATH build_step c9 && wait $pid &&
	test "$(wc -l <make.calls)" -gt "$calls" &&
	new=$(sed -n "s/^cicache-bin=//p" job-c8/outputs-main.txt) &&
	expect_eq "$(sed -n "s/^cicache-bin=//p" job-c9/outputs-main.txt)" "$new" &&
	test -x "$new/cache-save" && test "$new" != "$old" &&
	expect_grep "^cache-hit=true" job-c8/outputs-main.txt &&
	expect_grep "^cache-hit=true" job-c9/outputs-main.txt &&
	expect_eq "$(ls "$(dirname "$new")")" "$(basename "$new")" &&
	expect_eq "$(ls -a "$RUNNER_TOOL_CACHE"/cicache/*/ | grep -c tmp)" 0
'

test_expect_success 'CICACHE_BIN wins over the tool cache and PATH' '
	test -n "$(ls "$RUNNER_TOOL_CACHE"/cicache/*/*/cache-save)" &&
	mkdir explicit && ln -s "$BIN/cache-save" "$BIN/cache-restore" explicit/ &&
	calls=$(wc -l <make.calls) &&
	CICACHE_BIN=$TRASH/explicit NOCICACHE_PATH=$TRASH/onpath:$NOCICACHE_PATH build_step c6 &&
	expect_grep "cicache: using $TRASH/explicit (cicache " c6.log &&
	expect_eq "$(wc -l <make.calls)" "$calls"
'

test_expect_success 'a missing package with CICACHE_INSTALL_DEPS=false: no apt-get, an error' '
	rm -rf "$RUNNER_TOOL_CACHE/cicache" apt.calls &&
	CICACHE_INSTALL_DEPS=false NOCICACHE_PATH=$TRASH/fakedpkg:$NOCICACHE_PATH expect_code 1 build_step c7a &&
	expect_grep "^::error::cicache: building cicache needs these packages: libxxhash-dev (CICACHE_INSTALL_DEPS is false" c7a.log &&
	test ! -e apt.calls
'

test_expect_success 'a missing package is installed with apt-get; a build failure fails the step' '
	rm -rf "$RUNNER_TOOL_CACHE/cicache" apt.calls &&
	echo "#error broken on purpose" >>"$SRC/tools/cli.c" &&
	NOCICACHE_PATH=$TRASH/fakedpkg:$NOCICACHE_PATH expect_code 1 build_step c7 &&
	expect_eq "$(cat apt.calls)" "$(printf "apt-get update -q\napt-get install -y -q --no-install-recommends libxxhash-dev")" &&
	expect_grep "^::group::Installing build packages: libxxhash-dev" c7.log &&
	expect_grep "^::error::cicache: building cicache failed (make exited 2); the packages it needs: .*libzstd-dev" c7.log &&
	test -z "$(ls "$RUNNER_TOOL_CACHE/cicache/"*/ 2>/dev/null)" &&
	test -z "$(ls "$RUNNER_TEMP" | grep cicache-build-)"
'

test_expect_success 'a tool cache that cannot be written: a warning, a build for the job' '
	echo file >not-a-dir &&
	RUNNER_TOOL_CACHE=$TRASH/not-a-dir/tc expect_code 1 build_step c10 &&
	expect_grep "^::warning::cannot write the tool cache (.*); building into $RUNNER_TEMP/cicache-tools/cicache/" c10.log &&
	expect_grep "^::error::cicache: building cicache failed" c10.log
'

# The default store, gha, end to end: the runner's ACTIONS_RESULTS_URL and
# ACTIONS_RUNTIME_TOKEN reach the programs through the action, against the
# twirp fixture and Azurite of tests/gha (t0900 holds the fixture to the
# official client).  Run last: gha_start exports the runner's variables.
if [ "${CICACHE_ALLOW_NO_GHA:-}" = 1 ] && ! bash "$TEST_DIR/gha/setup.sh" >/dev/null 2>&1; then
	echo "# the gha store tests did not run: azurite or @actions/cache is missing (CICACHE_ALLOW_NO_GHA=1)"
	test_done
fi
. "$TEST_DIR/gha/start.sh"
gha_start

test_expect_success 'store gha by default: a miss and a save, then an exact hit' '
	mkdir -p ws-g1/data && echo gha-one >ws-g1/data/f &&
	CICACHE_BIN=$BIN step "" main g1 path=data key=gk-1 restore-keys=gk- &&
	expect_grep "^cache-restore --key gk-1 --restore-key gk- --path data --store gha$" g1.log &&
	expect_grep "^cache-hit=false" job-g1/outputs-main.txt &&
	CICACHE_BIN=$BIN step "" post g1 path=data key=gk-1 restore-keys=gk- &&
	expect_grep "Cache saved with key: gk-1" g1.log &&
	CICACHE_BIN=$BIN step "" main g2 path=data key=gk-1 &&
	expect_eq "$(cat ws-g2/data/f)" gha-one &&
	expect_eq "$(out g2 main)" "$(printf "cicache-bin=%s\ncache-hit=true\ncache-primary-key=gk-1\ncache-matched-key=gk-1" "$BIN")" &&
	CICACHE_BIN=$BIN step "" post g2 path=data key=gk-1 &&
	expect_grep "Cache hit occurred on the primary key gk-1, not saving" g2.log &&
	! grep -r -F "$ACTIONS_RUNTIME_TOKEN" g1.log g2.log job-g1 job-g2
'

test_expect_success 'store gha: a rolling key is refreshed, a restore-key match found' '
	mkdir -p ws-g3/data && echo gha-two >ws-g3/data/f &&
	CICACHE_BIN=$BIN step "" main g3 path=data key=gk-roll immutable=false &&
	CICACHE_BIN=$BIN step "" post g3 path=data key=gk-roll immutable=false &&
	CICACHE_BIN=$BIN step "" main g4 path=data key=gk-roll immutable=false &&
	echo gha-three >ws-g4/data/f &&
	CICACHE_BIN=$BIN step "" post g4 path=data key=gk-roll immutable=false &&
	expect_grep "Cache saved with key: gk-roll" g4.log &&
	CICACHE_BIN=$BIN step "" main g5 path=data key=gk-other restore-keys=gk-roll &&
	expect_grep "^cache-matched-key=gk-roll" job-g5/outputs-main.txt &&
	expect_eq "$(cat ws-g5/data/f)" gha-three
'

test_expect_success 'store gha without the runtime token: restore warns, save warns' '
	mkdir -p ws-g6/data && echo x >ws-g6/data/f &&
	(unset ACTIONS_RUNTIME_TOKEN &&
	 CICACHE_BIN=$BIN step "" main g6 path=data key=gk-6 &&
	 CICACHE_BIN=$BIN step "" post g6 path=data key=gk-6) &&
	expect_grep "^::warning::cache-restore exited 4 (store error); continuing as a cache miss" g6.log &&
	expect_grep "^::warning::cache-save exited 4 (store error)" g6.log
'

test_done
