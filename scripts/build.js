'use strict';
/**
 * `npm run build` (and `npm pack` / `npm publish`, through prepack): the package's dist/ — lib/, functions/
 * and infra/ compiled to CommonJS with declarations, plus the files that are JavaScript or static already.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
/** Files the compiler does not emit: the worker process's script and the dashboard's page. */
const ASSETS = ['lib/local/function-host-child.js', 'lib/local/dashboard/static'];

const started = Date.now();
fs.rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
for (const asset of ASSETS) fs.cpSync(path.join(root, asset), path.join(dist, asset), { recursive: true });
console.log(`build: dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
