#!/usr/bin/env node
// tests/bench/gha-official.js: one saveCache or restoreCache of the official
// @actions/cache client (6.x, cache service v2), timed, for
// tests/bench/gha.sh.  Paths are relative to GITHUB_WORKSPACE, as in a
// workflow step: the client runs tar with -C there.
//
//   node gha-official.js save KEY PATH...
//   node gha-official.js restore KEY PATH...
//
// The module comes from $CICACHE_NPM_DIR (default /var/cache/cicache-npm,
// filled by tests/gha/setup.sh).  The client's own log lines go to
// standard output as they are; the last line is the outcome:
//   RESULT {"op":"save","cacheId":N,"ms":T,"version":"6.x.y"}
//   RESULT {"op":"restore","matchedKey":K|null,"ms":T,"version":"6.x.y"}
// ms covers the library call only (not Node's start or the import).
// Exit status: 0 when the entry was saved or restored, 1 otherwise.
'use strict';

const fs = require('fs');
const path = require('path');

async function main() {
	const dir = process.env.CICACHE_NPM_DIR || '/var/cache/cicache-npm';
	const pkg = path.join(dir, 'node_modules/@actions/cache');
	const version = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')).version;
	const cache = await import(path.join(pkg, 'lib/cache.js'));
	const [op, key, ...paths] = process.argv.slice(2);

	if (!process.env.ACTIONS_CACHE_SERVICE_V2)
		throw new Error('ACTIONS_CACHE_SERVICE_V2 is not set: the client would use the v1 API');
	if (!key || !paths.length)
		throw new Error('usage: gha-official.js save|restore KEY PATH...');
	const t0 = process.hrtime.bigint();
	const ms = () => Number((process.hrtime.bigint() - t0) / 1000000n);
	if (op === 'save') {
		const id = await cache.saveCache(paths, key);
		console.log('RESULT ' + JSON.stringify({ op, cacheId: id, ms: ms(), version }));
		return id > 0;
	}
	if (op === 'restore') {
		const m = await cache.restoreCache(paths, key);
		console.log('RESULT ' + JSON.stringify({ op, matchedKey: m === undefined ? null : m,
			ms: ms(), version }));
		return m === key;
	}
	throw new Error(`unknown operation '${op}' (save or restore)`);
}

main().then(ok => process.exit(ok ? 0 : 1), e => {
	console.log('RESULT ' + JSON.stringify({ error: String(e && e.message || e) }));
	process.exit(1);
});
