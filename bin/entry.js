'use strict';
/**
 * Where shardflow's own code is. A checkout of the repository runs the TypeScript sources through
 * bin/register.js; an installed package ships no sources, only the compiled dist/ (`npm run build`).
 */
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const fromSource = fs.existsSync(path.join(root, 'lib', 'index.ts'));

/** A module of shardflow by its path without extension: load('lib/cli/main'). */
function load(modulePath) {
  require('./register');
  return require(fileOf(modulePath));
}

/** The file a module of shardflow lives in: lib/index.ts in a checkout, dist/lib/index.js in a package. */
function fileOf(modulePath) {
  return fromSource ? path.join(root, `${modulePath}.ts`) : path.join(root, 'dist', `${modulePath}.js`);
}

module.exports = { root, fromSource, load, fileOf };
