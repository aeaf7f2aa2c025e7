#!/usr/bin/env node
// tests/gha/fixture.js: a stand-in for the GitHub Actions cache service
// (twirp JSON API v2, "github.actions.results.api.v1.CacheService") for
// tests, Node standard library only, with the REST API that lists and
// deletes the same entries (below).  Blobs live in a real Azurite; the
// fixture hands out SAS URLs signed with Azurite's published dev key, and
// proxies the blob traffic so that it can count the bytes and inject faults.
// tests/t0900-gha-fixture.sh proves it faithful with the official
// @actions/cache client.
//
// Usage:
//   node fixture.js --azurite http://127.0.0.1:APORT --state DIR
//                   [--port N] [--token T] [--container C]
//                   [--api-token T] [--repo OWNER/REPO] [--ref REF]
// Writes DIR/port once it listens, and DIR/log.jsonl: one JSON object per
// request (twirp calls, REST calls and blob requests, with bytes in and
// out) and per eviction.
//
// Semantics modelled on the real service (one repository, one scope):
// - every call needs "Authorization: Bearer T": else 401 unauthenticated;
// - an entry is (key, version); CreateCacheEntry of an existing one, even
//   one still being uploaded, is 409 already_exists; keys are at most 512
//   characters and hold no comma;
// - an entry is visible after FinalizeCacheEntryUpload;
// - GetCacheEntryDownloadURL: an exact match of key, then for each restore
//   key in order the newest entry whose key starts with it; the version
//   must match; a miss is 200 {"ok": false};
// - errors are twirp JSON: {"code": ..., "msg": ...}.
//
// Control endpoints (tests only, no token): GET /_fixture/log,
// GET /_fixture/entries, POST /_fixture/faults with a JSON object of
// counters that each fault decrements:
//   rate_limit: N  (next N twirp calls: 429, Retry-After: retry_after s)
//   server_error: N  (next N twirp calls: error_status, default 503)
//   auth_fail: N  (next N twirp calls: 401 as for a bad token)
//   blob_error: N  (next N blob requests: blob_error_status, default 500)
//   only: "Method"  (twirp faults only hit that method)
//   rest_repeat: N  (next N REST list calls ignore ?page: page 1 again,
//                    a server whose pagination never ends)
//   rest_rate_limit: N  (next N REST calls: 403 "secondary rate limit",
//                        Retry-After: 1, as GitHub answers)
// POST /_fixture/truncate {"key": K, "bytes": N}: cuts the blob of the
// newest entry with key K to its first N bytes (a damaged upload).
// POST /_fixture/evict {"key": K} or {"prefix": P}: GitHub evicting: the
// entries with key K (every version and ref), or whose key starts with
// P, vanish with their blobs; answers the evicted keys.
// POST /_fixture/ref {"ref": R}: entries created from now on carry ref R
// (a job on another branch; reads are not scoped by ref here).
// POST /_fixture/tokens {"T": "write" | "read" | "none"}: what a REST
// token may do (its `actions` permission); --api-token T is "write".
//
// The REST API (docs.github.com, "REST API endpoints for GitHub Actions
// cache", X-GitHub-Api-Version 2022-11-28) over the same entries, for
// repository --repo OWNER/REPO; auth "Authorization: Bearer T" (or
// "token T") with a REST token, never the runtime token: 401 "Bad
// credentials" for an unknown one, 403 "Resource not accessible by
// integration" without the permission (list: read, delete: write), 404
// "Not Found" for another repository:
//   GET /repos/O/R/actions/caches?key=PREFIX&ref=R&sort=S&direction=D
//       &per_page=N&page=P  (sort created_at | last_accessed_at (default)
//       | size_in_bytes; direction desc (default) | asc; per_page 30,
//       at most 100) -> 200 {"total_count", "actions_caches": [{"id",
//       "ref", "key", "version", "last_accessed_at", "created_at",
//       "size_in_bytes"}]}; only finalized entries; a page past the end
//       is an empty list;
//   DELETE /repos/O/R/actions/caches/ID -> 204, 404 for an unknown id;
//   DELETE /repos/O/R/actions/caches?key=K[&ref=R] (the whole key) ->
//       200 with the deleted entries in the list shape, 404 if none.
// Entries carry ref --ref (default refs/heads/main); last_accessed_at is
// the creation, then the last GetCacheEntryDownloadURL hit.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = Buffer.from(
	'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
	'base64');
const SAS_VERSION = '2021-08-06';
const SERVICE = '/twirp/github.actions.results.api.v1.CacheService/';
const KEY_MAX = 512;

function parseArgs(argv) {
	const o = { port: 0, token: 'fixture-token', container: 'actions-cache',
		apiToken: 'fixture-api-token', repo: 'octo-org/octo-repo', ref: 'refs/heads/main' };
	for (let i = 2; i < argv.length; i++) {
		const a = argv[i], v = argv[i + 1];
		if (a === '--azurite') o.azurite = v;
		else if (a === '--state') o.state = v;
		else if (a === '--port') o.port = Number(v);
		else if (a === '--token') o.token = v;
		else if (a === '--container') o.container = v;
		else if (a === '--api-token') o.apiToken = v;
		else if (a === '--repo') o.repo = v;
		else if (a === '--ref') o.ref = v;
		else { console.error(`fixture: unknown argument '${a}'`); process.exit(2); }
		i++;
	}
	if (!o.azurite || !o.state) {
		console.error('usage: fixture.js --azurite URL --state DIR [--port N] [--token T] ' +
			'[--api-token T] [--repo OWNER/REPO] [--ref REF]');
		process.exit(2);
	}
	return o;
}

const opt = parseArgs(process.argv);
const azurite = new URL(opt.azurite);
const logPath = path.join(opt.state, 'log.jsonl');
let seq = 0;
let ourPort = 0;

// {id, key, version, blob, created, finalized, size, ref, accessed}
const entries = [];
let nextId = 1;
let lastCreated = 0;
const faults = {
	rate_limit: 0, retry_after: 1, server_error: 0, error_status: 503,
	auth_fail: 0, blob_error: 0, blob_error_status: 500, only: '', rest_repeat: 0,
	rest_rate_limit: 0,
};
const tokens = { [opt.apiToken]: 'write' };	// REST token -> actions permission

function log(obj) {
	obj.seq = ++seq;
	obj.t = Date.now();
	fs.appendFileSync(logPath, JSON.stringify(obj) + '\n');
}

function isoSeconds(d) {
	return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Service SAS for one blob (string to sign of versions 2020-12-06 and on).
function blobSas(blob, perms, seconds) {
	const se = isoSeconds(new Date(Date.now() + seconds * 1000));
	const canon = `/blob/${ACCOUNT}/${opt.container}/${blob}`;
	const sts = [perms, '', se, canon, '', '', '', SAS_VERSION, 'b', '', '',
		'', '', '', '', ''].join('\n');
	const sig = crypto.createHmac('sha256', ACCOUNT_KEY).update(sts, 'utf8').digest('base64');
	const q = new URLSearchParams({ sv: SAS_VERSION, se, sr: 'b', sp: perms, sig });
	return q.toString();
}

// Account SAS, only used to create the container.
function accountSas(perms, services, types, seconds) {
	const se = isoSeconds(new Date(Date.now() + seconds * 1000));
	const sts = [ACCOUNT, perms, services, types, '', se, '', '', SAS_VERSION, '', ''].join('\n');
	const sig = crypto.createHmac('sha256', ACCOUNT_KEY).update(sts, 'utf8').digest('base64');
	return new URLSearchParams({ sv: SAS_VERSION, ss: services, srt: types, sp: perms,
		se, sig }).toString();
}

// Blob URLs handed out point at this fixture, which proxies to Azurite.
function blobUrl(blob, perms) {
	return `http://127.0.0.1:${ourPort}/${ACCOUNT}/${opt.container}/${blob}?` +
		blobSas(blob, perms, 600);
}

function azuriteRequest(method, pathAndQuery, headers, body) {
	return new Promise((resolve, reject) => {
		const req = http.request({
			host: azurite.hostname, port: azurite.port, method, path: pathAndQuery,
			headers: Object.assign({ 'x-ms-version': SAS_VERSION }, headers || {}),
		}, res => {
			const parts = [];
			res.on('data', d => parts.push(d));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
				body: Buffer.concat(parts) }));
		});
		req.on('error', reject);
		req.end(body);
	});
}

function sendJson(res, status, obj, extra) {
	const body = JSON.stringify(obj);
	res.writeHead(status, Object.assign({ 'Content-Type': 'application/json',
		'Content-Length': Buffer.byteLength(body) }, extra || {}));
	res.end(body);
}

const TWIRP_STATUS = {
	invalid_argument: 400, malformed: 400, unauthenticated: 401, permission_denied: 403,
	not_found: 404, bad_route: 404, already_exists: 409, failed_precondition: 412,
	resource_exhausted: 429, internal: 500, unavailable: 503,
};

function twirpError(res, code, msg, extra) {
	sendJson(res, TWIRP_STATUS[code] || 500, { code, msg }, extra);
	return TWIRP_STATUS[code] || 500;
}

function field(req, snake, camel) {
	return req[snake] !== undefined ? req[snake] : req[camel];
}

function checkKey(key) {
	if (typeof key !== 'string' || !key.length) return 'key is required';
	if (key.length > KEY_MAX) return `key is longer than ${KEY_MAX} characters`;
	if (key.includes(',')) return 'key cannot contain commas';
	return null;
}

function createdNow() {
	// Strictly increasing, so "newest" is well defined within a test.
	lastCreated = Math.max(Date.now(), lastCreated + 1);
	return lastCreated;
}

async function createEntry(req, res, rec) {
	const key = field(req, 'key', 'key'), version = field(req, 'version', 'version');
	rec.key = key;
	rec.version = version;
	const bad = checkKey(key) || (!version ? 'version is required' : null);
	if (bad) return twirpError(res, 'invalid_argument', bad);
	if (entries.some(e => e.key === key && e.version === version))
		return twirpError(res, 'already_exists',
			'cache entry with the same key, version, and scope already exists');
	const id = nextId++;
	const blob = `${id}-${crypto.randomBytes(6).toString('hex')}`;
	const created = createdNow();
	entries.push({ id, key, version, blob, created, finalized: false, size: 0, ref: opt.ref,
		accessed: created });
	sendJson(res, 200, { ok: true, signed_upload_url: blobUrl(blob, 'cw') });
	return 200;
}

async function finalizeEntry(req, res, rec) {
	const key = field(req, 'key', 'key'), version = field(req, 'version', 'version');
	const size = Number(field(req, 'size_bytes', 'sizeBytes') || 0);
	rec.key = key;
	rec.version = version;
	rec.size_bytes = size;
	const e = entries.find(x => x.key === key && x.version === version && !x.finalized);
	if (!e)
		return twirpError(res, 'not_found', 'no cache entry is being uploaded with this key and version');
	const head = await azuriteRequest('HEAD', `/${ACCOUNT}/${opt.container}/${e.blob}?` +
		blobSas(e.blob, 'r', 60));
	if (head.status !== 200) {
		sendJson(res, 200, { ok: false, message: 'the cache entry was not uploaded' });
		return 200;
	}
	e.size = Number(head.headers['content-length']);
	rec.blob_size = e.size;
	e.finalized = true;
	sendJson(res, 200, { ok: true, entry_id: String(e.id) });
	return 200;
}

function newest(list) {
	return list.reduce((a, b) => (!a || b.created > a.created ? b : a), null);
}

async function downloadUrl(req, res, rec) {
	const key = field(req, 'key', 'key'), version = field(req, 'version', 'version');
	const restore = field(req, 'restore_keys', 'restoreKeys') || [];
	rec.key = key;
	rec.version = version;
	rec.restore_keys = restore;
	for (const k of [key, ...restore]) {
		const bad = checkKey(k);
		if (bad) return twirpError(res, 'invalid_argument', bad);
	}
	const live = entries.filter(e => e.finalized && e.version === version);
	let hit = newest(live.filter(e => e.key === key));
	for (let i = 0; !hit && i < restore.length; i++)
		hit = newest(live.filter(e => e.key.startsWith(restore[i])));
	if (!hit) {
		sendJson(res, 200, { ok: false, signed_download_url: '', matched_key: '' });
		return 200;
	}
	rec.matched_key = hit.key;
	hit.accessed = Date.now();
	sendJson(res, 200, { ok: true, signed_download_url: blobUrl(hit.blob, 'r'),
		matched_key: hit.key });
	return 200;
}

const METHODS = {
	CreateCacheEntry: createEntry,
	FinalizeCacheEntryUpload: finalizeEntry,
	GetCacheEntryDownloadURL: downloadUrl,
};

function readBody(req) {
	return new Promise((resolve, reject) => {
		const parts = [];
		req.on('data', d => parts.push(d));
		req.on('end', () => resolve(Buffer.concat(parts)));
		req.on('error', reject);
	});
}

async function twirp(req, res) {
	const method = req.url.slice(SERVICE.length).split('?')[0];
	const body = await readBody(req);
	const rec = { kind: 'twirp', method, req_bytes: body.length };
	const finish = status => { rec.status = status; log(rec); };
	const fn = METHODS[method];
	if (req.method !== 'POST' || !fn)
		return finish(twirpError(res, 'bad_route', `no handler for path "${req.url}"`));
	if (!/^application\/json/.test(req.headers['content-type'] || ''))
		return finish(twirpError(res, 'bad_route', 'unexpected Content-Type'));
	const auth = req.headers.authorization || '';
	if (auth !== `Bearer ${opt.token}`) {
		rec.fault = auth ? 'bad_token' : 'no_token';
		return finish(twirpError(res, 'unauthenticated', 'invalid or missing token'));
	}
	const hit = !faults.only || faults.only === method;
	if (hit && faults.auth_fail > 0) {
		faults.auth_fail--;
		rec.fault = 'auth_fail';
		return finish(twirpError(res, 'unauthenticated', 'token expired'));
	}
	if (hit && faults.rate_limit > 0) {
		faults.rate_limit--;
		rec.fault = 'rate_limit';
		return finish(twirpError(res, 'resource_exhausted', 'too many requests',
			{ 'Retry-After': String(faults.retry_after) }));
	}
	if (hit && faults.server_error > 0) {
		faults.server_error--;
		rec.fault = 'server_error';
		sendJson(res, faults.error_status, { code: faults.error_status === 503 ?
			'unavailable' : 'internal', msg: 'injected server error' });
		return finish(faults.error_status);
	}
	let parsed;
	try {
		parsed = JSON.parse(body.toString('utf8'));
		if (!parsed || typeof parsed !== 'object') throw new Error('not an object');
	} catch (e) {
		return finish(twirpError(res, 'malformed', `the json request could not be decoded: ${e.message}`));
	}
	try {
		finish(await fn(parsed, res, rec));
	} catch (e) {
		rec.error = String(e);
		finish(twirpError(res, 'internal', String(e)));
	}
}

// ------------------------------------------------------------ REST API

const DOCS = 'https://docs.github.com/rest/actions/cache';

function restError(res, status, message) {
	sendJson(res, status, { message, documentation_url: DOCS, status: String(status) });
	return status;
}

function cacheJson(e) {
	return { id: e.id, ref: e.ref, key: e.key, version: e.version,
		last_accessed_at: new Date(e.accessed).toISOString(),
		created_at: new Date(e.created).toISOString(), size_in_bytes: e.size };
}

async function removeEntries(list) {
	for (const e of list) {
		const i = entries.indexOf(e);
		if (i >= 0) entries.splice(i, 1);
		await azuriteRequest('DELETE', `/${ACCOUNT}/${opt.container}/${e.blob}?` +
			blobSas(e.blob, 'd', 60)).catch(() => null);
	}
}

const SORTS = { created_at: e => e.created, last_accessed_at: e => e.accessed,
	size_in_bytes: e => e.size };

async function rest(req, res) {
	const u = new URL(req.url, 'http://x');
	await readBody(req);
	const rec = { kind: 'rest', method: req.method, path: u.pathname, query: u.search };
	const finish = status => { rec.status = status; log(rec); };
	const m = /^\/repos\/([^/]+)\/([^/]+)\/actions\/caches(?:\/([^/]+))?$/.exec(u.pathname);
	const auth = /^(?:Bearer|token) (.+)$/.exec(req.headers.authorization || '');
	if (!auth || !(auth[1] in tokens)) {
		rec.fault = auth ? 'bad_token' : 'no_token';
		return finish(restError(res, 401, auth ? 'Bad credentials' : 'Requires authentication'));
	}
	const perm = tokens[auth[1]];
	rec.perm = perm;
	if (faults.rest_rate_limit > 0) {
		faults.rest_rate_limit--;
		rec.fault = 'rest_rate_limit';
		sendJson(res, 403, { message: 'You have exceeded a secondary rate limit. Please wait ' +
			'a few minutes before you try again.', documentation_url: DOCS },
			{ 'Retry-After': '1' });
		return finish(403);
	}
	if (!m || `${m[1]}/${m[2]}`.toLowerCase() !== opt.repo.toLowerCase())
		return finish(restError(res, 404, 'Not Found'));
	const write = req.method === 'DELETE';
	if (req.method !== 'GET' && req.method !== 'DELETE')
		return finish(restError(res, 404, 'Not Found'));
	if (perm === 'none' || (write && perm !== 'write'))
		return finish(restError(res, 403, 'Resource not accessible by integration'));
	const done = entries.filter(e => e.finalized);
	if (m[3] !== undefined) {
		if (!write) return finish(restError(res, 404, 'Not Found'));
		const e = done.find(x => String(x.id) === m[3]);
		if (!e) return finish(restError(res, 404, 'Not Found'));
		rec.key = e.key;
		await removeEntries([e]);
		res.writeHead(204);
		res.end();
		return finish(204);
	}
	const key = u.searchParams.get('key'), ref = u.searchParams.get('ref');
	if (write) {
		if (!key) return finish(restError(res, 422, 'key is required'));
		const hit = done.filter(e => e.key === key && (!ref || e.ref === ref));
		if (!hit.length) return finish(restError(res, 404, 'Not Found'));
		await removeEntries(hit);
		sendJson(res, 200, { total_count: hit.length, actions_caches: hit.map(cacheJson) });
		return finish(200);
	}
	const sort = u.searchParams.get('sort') || 'last_accessed_at';
	const dir = u.searchParams.get('direction') || 'desc';
	const perPage = Number(u.searchParams.get('per_page') || 30);
	let page = Number(u.searchParams.get('page') || 1);
	if (!SORTS[sort] || (dir !== 'asc' && dir !== 'desc') || !(perPage >= 1) ||
	    !(page >= 1) || !Number.isInteger(perPage) || !Number.isInteger(page))
		return finish(restError(res, 422, 'Validation Failed'));
	if (faults.rest_repeat > 0) {
		faults.rest_repeat--;
		rec.fault = 'rest_repeat';
		page = 1;
	}
	const n = Math.min(perPage, 100), by = SORTS[sort];
	const match = done.filter(e => (!key || e.key.startsWith(key)) && (!ref || e.ref === ref))
		.sort((a, b) => (by(a) - by(b) || a.id - b.id) * (dir === 'asc' ? 1 : -1));
	rec.page = page;
	rec.total = match.length;
	sendJson(res, 200, { total_count: match.length,
		actions_caches: match.slice((page - 1) * n, page * n).map(cacheJson) });
	return finish(200);
}

// Blob traffic: forwarded to Azurite as is, counted and logged.
function blobProxy(req, res) {
	const u = new URL(req.url, 'http://x');
	const rec = { kind: 'blob', method: req.method, blob: u.pathname.split('/').slice(3).join('/'),
		comp: u.searchParams.get('comp') || '', req_bytes: 0, resp_bytes: 0 };
	if (req.headers.authorization)
		rec.authorization = true;	// a leaked runtime token
	if (req.headers.range || req.headers['x-ms-range'])
		rec.range = req.headers['x-ms-range'] || req.headers.range;
	if (faults.blob_error > 0) {
		faults.blob_error--;
		rec.fault = 'blob_error';
		req.resume();
		req.on('end', () => {
			const body = '<?xml version="1.0" encoding="utf-8"?><Error><Code>InternalError</Code>' +
				'<Message>injected</Message></Error>';
			res.writeHead(faults.blob_error_status, { 'Content-Type': 'application/xml',
				'Content-Length': body.length });
			res.end(body);
			rec.status = faults.blob_error_status;
			log(rec);
		});
		return;
	}
	const headers = Object.assign({}, req.headers);
	headers.host = `${azurite.hostname}:${azurite.port}`;
	const up = http.request({ host: azurite.hostname, port: azurite.port, method: req.method,
		path: req.url, headers }, ares => {
		rec.status = ares.statusCode;
		res.writeHead(ares.statusCode, ares.headers);
		ares.on('data', d => { rec.resp_bytes += d.length; });
		ares.pipe(res);
		ares.on('end', () => log(rec));
	});
	up.on('error', e => {
		rec.status = 502;
		rec.error = String(e);
		log(rec);
		if (!res.headersSent) res.writeHead(502);
		res.end();
	});
	req.on('data', d => { rec.req_bytes += d.length; });
	req.pipe(up);
}

async function control(req, res) {
	const u = new URL(req.url, 'http://x');
	const body = await readBody(req);
	if (u.pathname === '/_fixture/log') {
		res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
		return res.end(fs.existsSync(logPath) ? fs.readFileSync(logPath) : '');
	}
	if (u.pathname === '/_fixture/entries')
		return sendJson(res, 200, entries);
	if (u.pathname === '/_fixture/faults' && req.method === 'POST') {
		const f = JSON.parse(body.toString('utf8') || '{}');
		for (const k of Object.keys(f)) {
			if (!(k in faults)) return sendJson(res, 400, { error: `unknown fault '${k}'` });
			faults[k] = f[k];
		}
		return sendJson(res, 200, faults);
	}
	if (u.pathname === '/_fixture/truncate' && req.method === 'POST') {
		const f = JSON.parse(body.toString('utf8'));
		const e = newest(entries.filter(x => x.key === f.key && x.finalized));
		if (!e) return sendJson(res, 404, { error: `no entry '${f.key}'` });
		const p = `/${ACCOUNT}/${opt.container}/${e.blob}?`;
		const got = await azuriteRequest('GET', p + blobSas(e.blob, 'r', 60));
		const cut = got.body.subarray(0, Math.min(f.bytes, got.body.length));
		const put = await azuriteRequest('PUT', p + blobSas(e.blob, 'cw', 60),
			{ 'x-ms-blob-type': 'BlockBlob', 'Content-Length': cut.length }, cut);
		if (put.status !== 201) return sendJson(res, 500, { error: `put: ${put.status}` });
		return sendJson(res, 200, { key: e.key, from: got.body.length, to: cut.length });
	}
	if (u.pathname === '/_fixture/evict' && req.method === 'POST') {
		const f = JSON.parse(body.toString('utf8'));
		const hit = entries.filter(x => (f.key !== undefined && x.key === f.key) ||
			(f.prefix !== undefined && x.key.startsWith(f.prefix)));
		if (!hit.length) return sendJson(res, 404, { error: `no entry '${f.key || f.prefix}'` });
		await removeEntries(hit);
		log({ kind: 'evict', keys: hit.map(e => e.key) });
		return sendJson(res, 200, { evicted: hit.map(e => e.key) });
	}
	if (u.pathname === '/_fixture/ref' && req.method === 'POST') {
		opt.ref = JSON.parse(body.toString('utf8')).ref;
		return sendJson(res, 200, { ref: opt.ref });
	}
	if (u.pathname === '/_fixture/tokens' && req.method === 'POST') {
		const f = JSON.parse(body.toString('utf8'));
		for (const k of Object.keys(f)) {
			if (!['write', 'read', 'none'].includes(f[k]))
				return sendJson(res, 400, { error: `bad permission '${f[k]}'` });
			tokens[k] = f[k];
		}
		return sendJson(res, 200, {});
	}
	sendJson(res, 404, { error: 'no such control endpoint' });
}

const server = http.createServer((req, res) => {
	const go = req.url.startsWith(SERVICE) ? twirp(req, res) :
		req.url.startsWith('/_fixture/') ? control(req, res) :
		req.url.startsWith('/repos/') ? rest(req, res) :
		req.url.startsWith(`/${ACCOUNT}/`) ? Promise.resolve(blobProxy(req, res)) :
		Promise.resolve(twirpError(res, 'bad_route', `no handler for path "${req.url}"`));
	go.catch(e => {
		log({ kind: 'fixture_error', url: req.url, error: String(e) });
		if (!res.headersSent) sendJson(res, 500, { code: 'internal', msg: String(e) });
		else res.end();
	});
});

async function main() {
	fs.mkdirSync(opt.state, { recursive: true });
	fs.writeFileSync(logPath, '');
	// The container the entries live in (201 created, 409 already there).
	let r;
	for (let i = 0; i < 100; i++) {
		try {
			r = await azuriteRequest('PUT', `/${ACCOUNT}/${opt.container}?restype=container&` +
				accountSas('rwdlac', 'b', 'sco', 600));
			break;
		} catch (e) {
			await new Promise(ok => setTimeout(ok, 100));
		}
	}
	if (!r || (r.status !== 201 && r.status !== 409)) {
		console.error(`fixture: cannot create container in Azurite at ${opt.azurite}: ` +
			(r ? `HTTP ${r.status} ${r.body}` : 'not reachable'));
		process.exit(1);
	}
	server.listen(opt.port, '127.0.0.1', () => {
		ourPort = server.address().port;
		fs.writeFileSync(path.join(opt.state, 'port.tmp'), String(ourPort));
		fs.renameSync(path.join(opt.state, 'port.tmp'), path.join(opt.state, 'port'));
	});
}

process.on('SIGTERM', () => server.close(() => process.exit(0)));
main();
