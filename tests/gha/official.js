#!/usr/bin/env node
// tests/gha/official.js: runs the official @actions/cache client (6.x,
// cache service v2) against whatever ACTIONS_RESULTS_URL names, so that
// tests can hold the fixture to what the real client expects.
//
//   node official.js save KEY PATH...
//   node official.js restore KEY [--restore-key PREFIX]... [--lookup-only] -- PATH...
//
// The npm directory comes from $CICACHE_NPM_DIR (tests/gha/setup.sh).
// The client's own log lines (@actions/core workflow commands) go to
// standard output as they are; the outcome is the last line:
//   RESULT {"op":"save","cacheId":N}            (-1: not saved)
//   RESULT {"op":"restore","matchedKey":K|null}
// Exit status 0 unless the client threw (a validation error).
'use strict';

const path = require('path');

async function main() {
	const dir = process.env.CICACHE_NPM_DIR || '/var/cache/cicache-npm';
	const cache = await import(path.join(dir, 'node_modules/@actions/cache/lib/cache.js'));
	const args = process.argv.slice(2);
	const op = args.shift();
	const key = args.shift();

	if (!process.env.ACTIONS_CACHE_SERVICE_V2)
		throw new Error('ACTIONS_CACHE_SERVICE_V2 is not set: the client would use the v1 API');
	if (op === 'save') {
		const id = await cache.saveCache(args, key);
		console.log('RESULT ' + JSON.stringify({ op, cacheId: id }));
	} else if (op === 'restore') {
		const restoreKeys = [], paths = [];
		let lookupOnly = false;
		while (args.length) {
			const a = args.shift();
			if (a === '--restore-key') restoreKeys.push(args.shift());
			else if (a === '--lookup-only') lookupOnly = true;
			else if (a === '--') paths.push(...args.splice(0));
			else paths.push(a);
		}
		const m = await cache.restoreCache(paths, key, restoreKeys, { lookupOnly });
		console.log('RESULT ' + JSON.stringify({ op, matchedKey: m === undefined ? null : m }));
	} else {
		throw new Error(`unknown operation '${op}' (save or restore)`);
	}
}

main().catch(e => {
	console.log('RESULT ' + JSON.stringify({ error: String(e && e.message || e) }));
	process.exit(1);
});
