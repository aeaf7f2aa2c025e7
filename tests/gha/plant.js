#!/usr/bin/env node
// tests/gha/plant.js: stores an arbitrary file as an actions/cache entry
// through the cache service at ACTIONS_RESULTS_URL (the fixture), the way
// the official client does (CreateCacheEntry, Put Blob, Finalize), under
// the version the official client computes for PATHS and METHOD.  Tests
// use it to plant crafted archives the client itself would never write.
//
//   node plant.js FILE KEY METHOD PATH...    (METHOD: zstd-without-long, gzip)
//   node plant.js --version METHOD PATH...   (prints the version only)
//
// Prints RESULT {"key":K,"version":V,"size":N} on success.
'use strict';

const fs = require('fs');
const path = require('path');

function post(method, body) {
	const url = new URL(`twirp/github.actions.results.api.v1.CacheService/${method}`,
		process.env.ACTIONS_RESULTS_URL);
	return fetch(url, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json',
			Authorization: `Bearer ${process.env.ACTIONS_RUNTIME_TOKEN}` },
		body: JSON.stringify(body),
	}).then(async r => {
		const j = await r.json();
		if (r.status !== 200 || j.ok === false)
			throw new Error(`${method}: HTTP ${r.status} ${JSON.stringify(j)}`);
		return j;
	});
}

async function main() {
	const dir = process.env.CICACHE_NPM_DIR || '/var/cache/cicache-npm';
	const utils = await import(path.join(dir,
		'node_modules/@actions/cache/lib/internal/cacheUtils.js'));
	const args = process.argv.slice(2);
	if (args[0] === '--version') {
		console.log(utils.getCacheVersion(args.slice(2), args[1]));
		return;
	}
	const [file, key, method, ...paths] = args;
	if (!paths.length)
		throw new Error('usage: plant.js FILE KEY METHOD PATH...');
	const version = utils.getCacheVersion(paths, method);
	const data = fs.readFileSync(file);
	const c = await post('CreateCacheEntry', { key, version });
	const put = await fetch(c.signed_upload_url, {
		method: 'PUT', body: data,
		headers: { 'x-ms-blob-type': 'BlockBlob', 'x-ms-version': '2021-08-06' },
	});
	if (put.status !== 201)
		throw new Error(`Put Blob: HTTP ${put.status} ${await put.text()}`);
	await post('FinalizeCacheEntryUpload', { key, version, size_bytes: String(data.length) });
	console.log('RESULT ' + JSON.stringify({ key, version, size: data.length }));
}

main().catch(e => {
	console.error(`plant.js: ${e && e.message || e}`);
	process.exit(1);
});
