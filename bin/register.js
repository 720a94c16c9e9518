'use strict';
/**
 * Lets Node require TypeScript (job files, the CLI, benchmarks) without a build step, and resolves
 * `shardflow` / `shardflow/testing` to this package from a job file anywhere on disk.
 */
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const aliases = {
  shardflow: path.join(root, 'lib/index.ts'),
  'shardflow/testing': path.join(root, 'lib/testing/index.ts'),
};

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (Object.prototype.hasOwnProperty.call(aliases, request)) return aliases[request];
  try {
    return resolve.call(this, request, parent, ...rest);
  } catch (e) {
    // `import x from './y'` in TypeScript means ./y.ts
    if (request.startsWith('.') && parent?.filename) {
      const candidate = path.resolve(path.dirname(parent.filename), request);
      for (const ext of ['.ts', '/index.ts']) if (fs.existsSync(candidate + ext)) return candidate + ext;
    }
    throw e;
  }
};

require.extensions['.ts'] = function (module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = esbuild.transformSync(source, {
    loader: 'ts',
    format: 'cjs',
    target: 'node20',
    sourcefile: filename,
    sourcemap: 'inline',
  });
  module._compile(code, filename);
};
