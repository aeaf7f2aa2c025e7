'use strict';
// common.js: what the four entry points (main.js, post.js, restore.js,
// save.js) share.  Plain Node standard library, no npm install: the runner
// runs these files as they are committed.
//
// Three parts:
//   1. the runner protocol: INPUT_* variables, the GITHUB_OUTPUT,
//      GITHUB_STATE and GITHUB_PATH files, ::error:: and ::warning::;
//   2. finding the cicache programs: the cicache-bin input (or CICACHE_BIN),
//      a build or release kept in the runner's tool cache, programs on PATH
//      whose --version matches this source tree, the release tarball of this
//      version (checked against the SHA-256 sums committed beside this file,
//      dist/SHA256SUMS), else a build from the source two levels above the
//      action (installing the Debian/Ubuntu build packages with apt-get when
//      they are missing);
//   3. the two steps: restore (cache-restore) and save (cache-save).
// The cache logic itself (keys, restore keys, what to write) is entirely in
// the programs; this file only maps inputs to flags and exit codes to the
// runner's notion of success.

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { spawnSync } = require('child_process');

// The repository root: dist/ is ci-templates/github/dist.
const ROOT = path.resolve(__dirname, '..', '..', '..');

// Exit codes of cache-save and cache-restore (docs/exit-codes.md).
const EXIT = { OK: 0, MISS: 1, USAGE: 2, SOURCE: 3, STORE: 4, CORRUPT: 5, DEST: 6, INTERNAL: 7 };
const EXIT_NAMES = {
	1: 'no entry matched',
	2: 'usage error',
	3: 'a path to save is missing or cannot be read',
	4: 'store error',
	5: 'the entry failed verification',
	6: 'the restored files cannot be written',
	7: 'internal error',
};

// Debian/Ubuntu packages the build needs (a subset of .ci/deps.sh, which
// also lists what the tests use).
const BUILD_PACKAGES = ['gcc', 'make', 'pkg-config', 'libzstd-dev', 'libxxhash-dev',
	'libcurl4-openssl-dev', 'libssl-dev', 'libarchive-dev'];
// What the build reads: its hash names the tool-cache directory.
const SOURCE_ENTRIES = ['GNUmakefile', 'common', 'tools', 'builder'];
const PROGRAMS = ['cache-save', 'cache-restore'];
// The release tarballs' architecture names, by RUNNER_ARCH.
const RELEASE_ARCHES = { X64: 'x86_64', ARM64: 'aarch64' };
// The sums of this version's release tarballs, in sha256sum's format,
// written into the tagged commit by .github/workflows/release.yml.  Without
// a line for a tarball there is no release of this version for it.
const RELEASE_SUMS = path.join(__dirname, 'SHA256SUMS');

class UsageError extends Error {}

// --- 1. the runner protocol ----------------------------------------------

// Workflow command data: %, CR and LF are escaped so a message stays one
// command.
function escapeData(s) {
	return String(s).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function info(msg) {
	process.stdout.write(`${msg}${os.EOL}`);
}

function debug(msg) {
	process.stdout.write(`::debug::${escapeData(msg)}${os.EOL}`);
}

function warning(msg) {
	process.stdout.write(`::warning::${escapeData(msg)}${os.EOL}`);
}

function notice(msg) {
	process.stdout.write(`::notice::${escapeData(msg)}${os.EOL}`);
}

function error(msg) {
	process.stdout.write(`::error::${escapeData(msg)}${os.EOL}`);
}

function fail(msg) {
	error(msg);
	process.exitCode = 1;
}

function group(title) {
	process.stdout.write(`::group::${escapeData(title)}${os.EOL}`);
}

function endGroup() {
	process.stdout.write(`::endgroup::${os.EOL}`);
}

// INPUT_<NAME>: upper case, spaces to underscores, hyphens kept.
function getInput(name, required) {
	const v = (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '').trim();

	if (required && !v)
		throw new UsageError(`Input required and not supplied: ${name}`);
	return v;
}

// The YAML 1.2 core schema booleans, as @actions/core accepts them.
function getBool(name, dflt) {
	const v = getInput(name, false);

	if (v === '')
		return dflt;
	if (['true', 'True', 'TRUE'].includes(v))
		return true;
	if (['false', 'False', 'FALSE'].includes(v))
		return false;
	throw new UsageError(`Input '${name}' must be true or false, not '${v}'`);
}

// One item per line; blank lines and surrounding blanks dropped.
function getList(name, required) {
	const items = getInput(name, false).split('\n').map((s) => s.trim()).filter((s) => s !== '');

	if (required && !items.length)
		throw new UsageError(`Input required and not supplied: ${name}`);
	return items;
}

// Appends name=value to a runner file (GITHUB_OUTPUT, GITHUB_STATE) in the
// delimiter form, which carries any value, newlines included.
function appendFileCommand(variable, name, value) {
	const file = process.env[variable];
	const delim = `ghadelimiter_${crypto.randomUUID()}`;

	value = String(value);
	if (!file)
		return false;
	if (name.includes(delim) || value.includes(delim))
		throw new Error(`unexpected delimiter in ${name}`);
	fs.appendFileSync(file, `${name}<<${delim}${os.EOL}${value}${os.EOL}${delim}${os.EOL}`);
	return true;
}

function setOutput(name, value) {
	if (!appendFileCommand('GITHUB_OUTPUT', name, value))
		debug(`GITHUB_OUTPUT is not set: output ${name}=${value} dropped`);
}

function saveState(name, value) {
	if (!appendFileCommand('GITHUB_STATE', name, value))
		process.stdout.write(`::save-state name=${name}::${escapeData(value)}${os.EOL}`);
}

// The runner hands each saved state to the post step as STATE_<name>.
function getState(name) {
	return process.env[`STATE_${name}`] || '';
}

function addPath(dir) {
	const file = process.env.GITHUB_PATH;

	if (file)
		fs.appendFileSync(file, `${dir}${os.EOL}`);
	process.env.PATH = `${dir}${path.delimiter}${process.env.PATH || ''}`;
}

// --- 2. finding the programs ----------------------------------------------

function isExecutable(file) {
	try {
		fs.accessSync(file, fs.constants.X_OK);
		return fs.statSync(file).isFile();
	} catch (e) {
		return false;
	}
}

function hasPrograms(dir) {
	return PROGRAMS.every((p) => isExecutable(path.join(dir, p)));
}

// The version of the source tree the action came with, or '' without one.
function sourceVersion() {
	try {
		const h = fs.readFileSync(path.join(ROOT, 'common', 'version.h'), 'utf8');
		const m = h.match(/#define\s+CICACHE_VERSION\s+"([^"]+)"/);

		return m ? m[1] : '';
	} catch (e) {
		return '';
	}
}

// "cache-save (cicache) 0.1.0" -> "0.1.0"; '' when it does not run.
function programVersion(file) {
	const r = spawnSync(file, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
	const m = r.status === 0 && /\(cicache\)\s+(\S+)/.exec(r.stdout || '');

	return m ? m[1] : '';
}

function listFiles(rel, out) {
	const abs = path.join(ROOT, rel);
	let st;

	try {
		st = fs.lstatSync(abs);
	} catch (e) {
		return;
	}
	if (st.isDirectory()) {
		for (const name of fs.readdirSync(abs).sort())
			listFiles(path.join(rel, name), out);
	} else if (st.isFile()) {
		out.push(rel);
	}
}

// A hash over the names and contents of everything the build reads, so a
// changed source never reuses an old build.
function sourceHash() {
	const files = [];
	const h = crypto.createHash('sha256');

	for (const e of SOURCE_ENTRIES)
		listFiles(e, files);
	for (const f of files) {
		const data = fs.readFileSync(path.join(ROOT, f));

		h.update(`${f.split(path.sep).join('/')}\0${data.length}\0`);
		h.update(data);
	}
	return h.digest('hex').slice(0, 16);
}

function toolCacheDir(version, hash) {
	const base = process.env.RUNNER_TOOL_CACHE ||
		path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'cicache-tools');

	return path.join(base, 'cicache', `${version}-${hash}`, process.arch);
}

function onPath(version) {
	for (const dir of (process.env.PATH || '').split(path.delimiter)) {
		if (!dir || !hasPrograms(dir))
			continue;
		const versions = PROGRAMS.map((p) => programVersion(path.join(dir, p)));

		if (versions.every((v) => v && v === version))
			return dir;
		debug(`${dir}: cicache ${versions.join('/')} on PATH does not match ${version}`);
	}
	return '';
}

function which(prog) {
	for (const dir of (process.env.PATH || '').split(path.delimiter))
		if (dir && isExecutable(path.join(dir, prog)))
			return path.join(dir, prog);
	return '';
}

function run(cmd, args, opts) {
	const r = spawnSync(cmd, args, Object.assign({ stdio: 'inherit' }, opts || {}));

	if (r.error)
		throw new Error(`cannot run ${cmd}: ${r.error.message}`);
	return r.status === null ? 128 : r.status;
}

// Installs the missing build packages with apt-get (through sudo when not
// root).  CICACHE_INSTALL_DEPS=false only reports them.
function installBuildDeps() {
	if (!which('dpkg-query'))
		return;
	const missing = BUILD_PACKAGES.filter((p) => {
		const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p],
			{ encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

		return !(r.stdout || '').includes('install ok installed');
	});
	if (!missing.length)
		return;
	if (/^(0|false|no|off)$/i.test(process.env.CICACHE_INSTALL_DEPS || ''))
		throw new Error(`building cicache needs these packages: ${missing.join(' ')} ` +
			'(CICACHE_INSTALL_DEPS is false, so they were not installed)');
	const sudo = process.getuid && process.getuid() !== 0 ? ['sudo', '-n'] : [];
	const t0 = Date.now();

	group(`Installing build packages: ${missing.join(' ')}`);
	try {
		const apt = (args) => sudo.length ?
			run(sudo[0], sudo.slice(1).concat(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'], args)) :
			run('apt-get', args, { env: Object.assign({}, process.env, { DEBIAN_FRONTEND: 'noninteractive' }) });

		if (apt(['update', '-q']) !== 0 ||
		    apt(['install', '-y', '-q', '--no-install-recommends'].concat(missing)) !== 0)
			throw new Error(`apt-get could not install ${missing.join(' ')}`);
	} finally {
		endGroup();
	}
	info(`cicache: build packages installed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

// Builds the programs from ROOT in a scratch copy (the checkout stays
// clean) and publishes them into dest with one rename, so concurrent jobs
// on one runner never see a half-written directory.
function buildInto(dest) {
	const scratch = fs.mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'cicache-build-'));
	const staging = `${dest}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
	const t0 = Date.now();

	try {
		installBuildDeps();
		const missing = ['make', 'cc'].filter((p) => !which(p));

		if (missing.length)
			throw new Error(`building cicache from source needs make and a C compiler (cc), and ` +
				`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not on PATH: ` +
				'use a release of the action (build-from-source: false) or set cicache-bin');
		for (const e of SOURCE_ENTRIES)
			if (fs.existsSync(path.join(ROOT, e)))
				fs.cpSync(path.join(ROOT, e), path.join(scratch, e), { recursive: true });
		const makefile = fs.readFileSync(path.join(scratch, 'GNUmakefile'), 'utf8');
		const make = (targets) => run('make', ['-C', scratch, `-j${Math.max(1, os.cpus().length)}`]
			.concat(targets.map((p) => `bin/${p}`)));
		const programs = PROGRAMS.slice();
		let rc;

		group(`Building cicache from ${ROOT}`);
		try {
			rc = make(PROGRAMS);
			// cachebuild comes along when the makefile builds it; the
			// cache steps do not need it, so its failure is a warning.
			if (rc === 0 && /^TOOLS\s*[:+]?=.*\bcachebuild\b/m.test(makefile)) {
				const rcb = make(['cachebuild']);

				if (rcb === 0)
					programs.push('cachebuild');
				else
					warning(`cachebuild could not be built (make exited ${rcb}); ` +
						'cache-save and cache-restore are not affected');
			}
		} finally {
			endGroup();
		}
		if (rc !== 0)
			throw new Error(`building cicache failed (make exited ${rc}); the packages it needs: ` +
				`${BUILD_PACKAGES.join(' ')}`);
		fs.mkdirSync(staging, { recursive: true });
		for (const p of programs)
			fs.copyFileSync(path.join(scratch, 'bin', p), path.join(staging, p));
		for (const p of programs)
			fs.chmodSync(path.join(staging, p), 0o755);
		try {
			fs.renameSync(staging, dest);
		} catch (e) {
			// Another job published the same build first: use theirs.
			if (!hasPrograms(dest))
				throw e;
			fs.rmSync(staging, { recursive: true, force: true });
		}
	} finally {
		fs.rmSync(scratch, { recursive: true, force: true });
		fs.rmSync(staging, { recursive: true, force: true });
	}
	info(`cicache: built in ${((Date.now() - t0) / 1000).toFixed(1)} s, kept in ${dest}`);
}

// --- the release tarball ---

function releaseArch() {
	const a = process.env.RUNNER_ARCH || { x64: 'X64', arm64: 'ARM64' }[process.arch] || process.arch;

	return { runner: a, name: RELEASE_ARCHES[a] || '' };
}

// The repository the action was used from: GITHUB_ACTION_REPOSITORY when
// the action's own files lie under the runner's _actions/OWNER/NAME/ (the
// runner does not clear that variable after an earlier step, so it is only
// believed when the path agrees), else the workflow's repository (an action
// used as ./ci-templates/github from a checkout).
function actionRepository() {
	const dir = __dirname.split(path.sep).join('/');
	const given = (process.env.GITHUB_ACTION_REPOSITORY || '').trim();
	const m = /\/_actions\/([^/]+)\/([^/]+)\/[^/]+\/ci-templates\/github\/dist$/.exec(dir);

	if (m)
		return given.toLowerCase() === `${m[1]}/${m[2]}`.toLowerCase() ? given : `${m[1]}/${m[2]}`;
	return (process.env.GITHUB_REPOSITORY || '').trim();
}

// $CICACHE_RELEASE_URL, else the release v<version> of the action's
// repository on this GitHub server; '' when neither is known.
function releaseUrl(version) {
	const given = (process.env.CICACHE_RELEASE_URL || '').trim();
	const repo = actionRepository();
	const server = (process.env.GITHUB_SERVER_URL || 'https://github.com').trim().replace(/\/+$/, '');

	if (given)
		return given.replace(/\/+$/, '');
	return repo ? `${server}/${repo}/releases/download/v${version}` : '';
}

// { file, sums: { name: hex } } from CICACHE_RELEASE_SHA256SUMS or the
// committed dist/SHA256SUMS; '#' lines and blank lines are skipped.
function releaseSums() {
	const given = (process.env.CICACHE_RELEASE_SHA256SUMS || '').trim();
	const file = given ? path.resolve(given) : RELEASE_SUMS;
	const sums = {};
	let text;

	try {
		text = fs.readFileSync(file, 'utf8');
	} catch (e) {
		if (given)
			throw new UsageError(`CICACHE_RELEASE_SHA256SUMS: cannot read ${file}: ${e.message}`);
		return { file, sums };
	}
	for (const line of text.split('\n')) {
		const m = /^([0-9a-fA-F]{64}) [ *](\S.*)$/.exec(line.trim());

		if (m)
			sums[m[2]] = m[1].toLowerCase();
		else if (line.trim() && !line.trim().startsWith('#'))
			throw new Error(`${file}: not a sha256sum line: '${line}'`);
	}
	return { file, sums };
}

// The tool-cache directory dir, or one under RUNNER_TEMP for this job when
// the tool cache cannot be written.
function writableDest(dir, verb) {
	try {
		fs.mkdirSync(path.dirname(dir), { recursive: true });
		return dir;
	} catch (e) {
		const tmp = path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'cicache-tools',
			path.relative(path.dirname(path.dirname(path.dirname(dir))), dir));

		warning(`cannot write the tool cache (${e.message}); ${verb} into ${tmp}`);
		fs.mkdirSync(path.dirname(tmp), { recursive: true });
		return tmp;
	}
}

// Downloads the release tarball of this version and runner, checks it
// against the embedded sums and unpacks its bin/ into the tool-cache
// directory released (or one for this job).  @return that directory,
// or '' when there is no release to use (with a notice or, when the
// download fails, a warning).  A tarball whose sum differs throws: it was
// altered or damaged, and a silent build would hide that.
async function fetchRelease(version, released) {
	const arch = releaseArch();

	if (process.platform !== 'linux' || !arch.name) {
		notice(`cicache: no release binaries for ${process.platform} runners of architecture ` +
			`${arch.runner} (there are Linux X64 and ARM64 ones)`);
		return '';
	}
	const name = `cicache-${version}-linux-${arch.name}.tar.gz`;
	const { file, sums } = releaseSums();
	const want = sums[name];

	if (!want) {
		notice(`cicache: ${file} lists no ${name}: this copy of the action is not a release of ` +
			`cicache ${version} (used from a branch or a commit?)`);
		return '';
	}
	const base = releaseUrl(version);

	if (!base) {
		notice('cicache: no release URL (CICACHE_RELEASE_URL, GITHUB_ACTION_REPOSITORY and ' +
			'GITHUB_REPOSITORY are unset)');
		return '';
	}
	const dest = writableDest(released, 'unpacking');

	if (hasPrograms(dest))
		return dest;
	const url = `${base}/${name}`;
	const t0 = Date.now();
	let data;

	info(`cicache: downloading ${url}`);
	try {
		const res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(300000) });

		if (!res.ok)
			throw new Error(`HTTP ${res.status} ${res.statusText}`);
		data = Buffer.from(await res.arrayBuffer());
	} catch (e) {
		warning(`cicache: cannot download ${url}: ${e.cause ? e.cause.message || e.cause : e.message}`);
		return '';
	}
	const got = crypto.createHash('sha256').update(data).digest('hex');

	if (got !== want)
		throw new Error(`${url}: SHA-256 ${got} is not the ${want} that ${file} lists for ${name}: ` +
			'the tarball was altered or damaged, and is not used (set cicache-bin, or ' +
			'build-from-source: true, to go without it)');
	const scratch = fs.mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'cicache-release-'));
	const tarball = path.join(scratch, name);
	const top = path.join(scratch, 'x', name.replace(/\.tar\.gz$/, ''));

	try {
		fs.writeFileSync(tarball, data);
		fs.mkdirSync(path.join(scratch, 'x'));
		const rc = run('tar', ['-xzf', tarball, '-C', path.join(scratch, 'x'), '--no-same-owner']);

		if (rc !== 0)
			throw new Error(`tar could not unpack ${name} (exit ${rc})`);
		if (!hasPrograms(path.join(top, 'bin')))
			throw new Error(`${name} holds no ${name.replace(/\.tar\.gz$/, '')}/bin/ with ${PROGRAMS.join(' and ')}`);
		try {
			fs.renameSync(path.join(top, 'bin'), dest);
		} catch (e) {
			// Another job unpacked it first: use theirs.
			if (!hasPrograms(dest))
				throw e;
		}
	} finally {
		fs.rmSync(scratch, { recursive: true, force: true });
	}
	info(`cicache: release ${version} (${arch.name}, ${data.length} bytes, SHA-256 checked) ` +
		`in ${((Date.now() - t0) / 1000).toFixed(1)} s, kept in ${dest}`);
	return dest;
}

// @return the directory holding cache-save and cache-restore.
async function locatePrograms() {
	const given = getInput('cicache-bin', false) || (process.env.CICACHE_BIN || '').trim();
	const fromSource = getBool('build-from-source', false);

	if (given) {
		const dir = path.resolve(given);

		if (!hasPrograms(dir))
			throw new UsageError(`cicache-bin '${given}' does not hold executable ${PROGRAMS.join(' and ')}`);
		info(`cicache: using ${dir} (cicache ${programVersion(path.join(dir, 'cache-save')) || 'of unknown version'})`);
		return dir;
	}
	const version = sourceVersion();

	if (!version) {
		// No source tree next to the action: any cicache on PATH will do.
		const save = which('cache-save');

		if (save && hasPrograms(path.dirname(save))) {
			info(`cicache: using ${path.dirname(save)} from PATH`);
			return path.dirname(save);
		}
		throw new UsageError(`no cicache source under ${ROOT} and no cicache on PATH: set cicache-bin`);
	}
	const cached = toolCacheDir(version, sourceHash());
	const released = toolCacheDir(version, 'release');

	if (hasPrograms(cached)) {
		info(`cicache: using the build in ${cached}`);
		return cached;
	}
	if (!fromSource) {
		if (hasPrograms(released)) {
			info(`cicache: using release ${version} in ${released}`);
			return released;
		}
		const found = onPath(version);

		if (found) {
			info(`cicache: using cicache ${version} from ${found}`);
			return found;
		}
	}
	if (process.platform === 'win32')
		throw new UsageError('cicache builds on Linux only: on Windows runners, set cicache-bin');
	if (!fromSource) {
		const dest = await fetchRelease(version, released);

		if (dest)
			return dest;
		notice(`cicache: no release binaries to use: building cicache ${version} from the action's source`);
	}
	const dest = writableDest(cached, 'building');

	if (!hasPrograms(dest))
		buildInto(dest);
	return dest;
}

// --- 3. the steps ---------------------------------------------------------

// Variables the inputs replace: a job-level CACHE_KEY must not reach a
// program the inputs configure.  GITHUB_OUTPUT is written here, not by the
// programs; CACHE_ONLY would restore part of an entry the step asked for
// whole.  The other CACHE_* twins (CACHE_JOBS, CACHE_LEVEL, CACHE_STRICT_PATHS,
// CACHE_VERBOSE, CACHE_QUIET, CACHE_DOTENV, CACHE_TIMEOUT) pass through, and
// so does actions/cache's SEGMENT_DOWNLOAD_TIMEOUT_MINS, which the programs
// read themselves.
const REPLACED_ENV = ['GITHUB_OUTPUT', 'CACHE_KEY', 'CACHE_PATH', 'CACHE_RESTORE_KEYS', 'CACHE_STORE',
	'CACHE_IMMUTABLE', 'CACHE_LOOKUP_ONLY', 'CACHE_FAIL_ON_MISS', 'CACHE_PART_SIZE', 'CACHE_ONLY'];

// Runs one program in the workspace with standard error streamed to the
// log.  @return { code, out } with out the name=value lines of stdout.
function runProgram(dir, prog, args) {
	const env = Object.assign({}, process.env);

	for (const v of REPLACED_ENV)
		delete env[v];
	info(`${prog} ${args.map((a) => (/^[\w@%+=:,./~-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`);
	const r = spawnSync(path.join(dir, prog), args, {
		cwd: process.env.GITHUB_WORKSPACE || process.cwd(),
		env,
		encoding: 'utf8',
		stdio: ['ignore', 'pipe', 'inherit'],
		maxBuffer: 16 << 20,
	});
	if (r.error)
		throw new Error(`cannot run ${prog}: ${r.error.message}`);
	const out = {};

	for (const line of (r.stdout || '').split('\n')) {
		const eq = line.indexOf('=');

		if (eq > 0)
			out[line.slice(0, eq)] = line.slice(eq + 1);
	}
	return { code: r.status === null ? EXIT.INTERNAL : r.status, signal: r.signal, out };
}

function describeExit(prog, res) {
	if (res.signal)
		return `${prog} was killed by ${res.signal}`;
	return `${prog} exited ${res.code} (${EXIT_NAMES[res.code] || 'unknown exit code'})`;
}

// The store input: empty means $CACHE_STORE, else the GitHub cache
// service; "local" means the programs' default directory store.
function storeInput() {
	const s = getInput('store', false) || (process.env.CACHE_STORE || '').trim() || 'gha';

	return s;
}

function storeArgs(store) {
	return store === 'local' ? [] : ['--store', store];
}

function flagList(flag, items) {
	return items.flatMap((i) => [flag, i]);
}

// upload-chunk-size: bytes, as actions/cache reads it, for cache-save
// --part-size (the S3 multipart part, the gha Azure block), which takes
// 5 MiB to 128 MiB.  actions/cache ignores a value that is not a number and
// uses any other: here a value out of range is brought into it, both with
// a warning, so that a workflow written for actions/cache keeps working.
const PART_MIN = 5 * 1024 * 1024, PART_MAX = 128 * 1024 * 1024;

function partSizeArgs() {
	const v = getInput('upload-chunk-size', false);
	let n;

	if (!v)
		return [];
	if (!/^[0-9]+$/.test(v)) {
		warning(`upload-chunk-size '${v}' is not a number of bytes: ignored`);
		return [];
	}
	n = Number(v);
	if (n < PART_MIN || n > PART_MAX) {
		const c = Math.min(PART_MAX, Math.max(PART_MIN, n));

		warning(`upload-chunk-size ${v} is outside ${PART_MIN} to ${PART_MAX} bytes ` +
			`(the part sizes an S3 multipart upload allows, up to actions/cache's cap): using ${c}`);
		n = c;
	}
	return ['--part-size', String(n)];
}

// enableCrossOsArchive: checked (a typo fails the step), no effect.  A
// cicache entry does not depend on the runner's OS: its manifest and packs
// are the same wherever it was saved, so Linux and macOS runners share
// entries whenever the key lets them (put runner.os in the key to keep them
// apart).  The flag exists in actions/cache because its Windows archives
// differ (tar flavour, compression, path version); cicache does not run
// on Windows.
function crossOsInput() {
	return getBool('enableCrossOsArchive', false);
}

// The restore step of the main action and of restore/.  With recordState,
// leaves in GITHUB_STATE what the post step needs.
async function restoreStep(recordState) {
	const keyOptional = !recordState;
	const key = getInput('key', !keyOptional);
	const paths = getList('path', recordState);
	const restoreKeys = getList('restore-keys', false);
	const failOnMiss = getBool('fail-on-cache-miss', false);
	const lookupOnly = getBool('lookup-only', false);

	crossOsInput();
	if (recordState) {
		// Checked now so that a typo fails the job before its work.
		getBool('save-always', false);
		getBool('immutable', true);
	}
	const store = storeInput();
	const dir = await locatePrograms();

	addPath(dir);
	setOutput('cicache-bin', dir);
	if (!key) {
		info('cicache: no key given: the programs are on PATH, nothing restored');
		return;
	}
	const args = ['--key', key].concat(flagList('--restore-key', restoreKeys), flagList('--path', paths),
		storeArgs(store), lookupOnly ? ['--lookup-only'] : [], failOnMiss ? ['--fail-on-miss'] : []);
	const res = runProgram(dir, 'cache-restore', args);
	const hit = res.code === EXIT.OK && res.out['cache-hit'] === 'true';
	const matched = res.code === EXIT.OK ? res.out['cache-matched-key'] || '' : '';

	setOutput('cache-hit', hit ? 'true' : 'false');
	setOutput('cache-primary-key', key);
	setOutput('cache-matched-key', matched);
	if (recordState) {
		saveState('bin', dir);
		saveState('store', store);
		saveState('primary_key', key);
		saveState('matched_key', matched);
		saveState('hit', hit ? 'true' : 'false');
		saveState('restore_code', String(res.code));
	}
	if (res.code === EXIT.OK) {
		if (hit)
			info(`Cache restored from key: ${key}`);
		else if (matched)
			info(`Cache restored from key: ${matched} (restore key; cache-hit is false)`);
		else
			info(`Cache not found for input keys: ${[key].concat(restoreKeys).join(', ')}`);
		return;
	}
	if (res.code === EXIT.MISS && failOnMiss) {
		fail(`Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: ${key}`);
		return;
	}
	if (res.code === EXIT.USAGE) {
		fail(`${describeExit('cache-restore', res)}: see its message above`);
		return;
	}
	// Store, data or disk trouble: like actions/cache, a warning and a
	// miss, unless a miss must fail the job.
	if (failOnMiss)
		fail(`${describeExit('cache-restore', res)}; failing as fail-on-cache-miss is set. Input key: ${key}`);
	else
		warning(`${describeExit('cache-restore', res)}; continuing as a cache miss`);
}

// Runs cache-save.  o: { dir, store, key, paths, restoreKeys, immutable }.
// Usage errors fail the step; anything else is a warning, as actions/cache
// treats a failed save.  @return the program's result.
function saveWith(o) {
	const args = ['--key', o.key].concat(flagList('--path', o.paths), flagList('--restore-key', o.restoreKeys),
		storeArgs(o.store), o.immutable ? ['--immutable'] : [], partSizeArgs());
	const res = runProgram(o.dir, 'cache-save', args);

	if (res.code === EXIT.OK) {
		if (res.out['cache-saved'] === 'true')
			info(`Cache saved with key: ${o.key}`);
		else
			info(`Saved nothing under key ${o.key}: an entry exists and immutable is set, no path matched anything, or a deadline passed (see cache-save's message above)`);
	} else if (res.code === EXIT.USAGE) {
		fail(`${describeExit('cache-save', res)}: see its message above`);
	} else {
		warning(`${describeExit('cache-save', res)}; nothing was saved under ${o.key}`);
	}
	return res;
}

// save/: a save whenever the step runs.
async function saveStep() {
	const key = getInput('key', true);
	const paths = getList('path', true);
	const restoreKeys = getList('restore-keys', false);
	const immutable = getBool('immutable', true);
	const store = storeInput();

	crossOsInput();
	const dir = await locatePrograms();

	setOutput('cicache-bin', dir);
	const res = saveWith({ dir, store, key, paths, restoreKeys, immutable });

	setOutput('cache-saved', res.code === EXIT.OK && res.out['cache-saved'] === 'true' ? 'true' : 'false');
}

// Runs an entry point: a usage problem or an unexpected exception fails
// the step with an ::error::.
function main(fn) {
	Promise.resolve().then(fn).catch((e) => {
		fail(e instanceof UsageError ? e.message : `cicache: ${e.message}`);
	});
}

module.exports = {
	ROOT, EXIT, BUILD_PACKAGES, UsageError,
	info, debug, notice, warning, error, fail, getInput, getBool, getList, setOutput, saveState, getState,
	locatePrograms, restoreStep, saveStep, saveWith, main, sourceHash, sourceVersion,
};
