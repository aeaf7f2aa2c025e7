#!/usr/bin/env node
// tests/gha/glob-oracle.mjs: what @actions/glob (from $CICACHE_NPM_DIR,
// see setup.sh) matches, for t0172 to hold cache-save's patterns to it.
//
//   node glob-oracle.mjs [--follow] [--no-implicit] PATTERN...
//
// Globs the patterns (joined by newlines, as actions/cache does) from the
// current directory with implicitDescendants: true (cicache's rule; with
// --no-implicit, false: actions/cache's) and followSymbolicLinks: false
// (cicache searches real directories only; --follow: the default that
// actions/cache uses).  Prints every match that is not a directory,
// relative to the current directory, one per line, sorted bytewise.
import fs from 'fs';
import path from 'path';
import { pathToFileURL } from 'url';

const dir = process.env.CICACHE_NPM_DIR || '/var/cache/cicache-npm';
const args = process.argv.slice(2);
const follow = args.includes('--follow');
const implicit = !args.includes('--no-implicit');
const patterns = args.filter(a => a !== '--follow' && a !== '--no-implicit');
// @actions/core prints ::debug:: lines on standard output: keep it for ours.
process.stdout.write = () => true;
const glob = await import(pathToFileURL(path.join(dir, 'node_modules/@actions/glob/lib/glob.js')).href);
const globber = await glob.create(patterns.join('\n'), {
	implicitDescendants: implicit,
	followSymbolicLinks: follow,
});
const out = [];
for await (const p of globber.globGenerator()) {
	const st = follow ? fs.statSync(p) : fs.lstatSync(p);
	if (!st.isDirectory())
		out.push(path.relative(process.cwd(), p));
}
out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
fs.writeSync(1, out.map(p => p + '\n').join(''));
