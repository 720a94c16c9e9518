'use strict';
/**
 * Lets Node require a job written in TypeScript (.ts, .mts) or as an ES module (.mjs) without a build
 * step, and resolves `shardflow` / `shardflow/testing` to this package from a job file anywhere on disk
 * (so a job and the CLI always share one copy of the library). In a checkout of the repository the
 * library itself is TypeScript too (the CLI, benchmarks and tests run from source).
 */
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const esbuild = require('esbuild');
const { fileOf } = require('./entry');

const aliases = {
  shardflow: fileOf('lib/index'),
  'shardflow/testing': fileOf('lib/testing/index'),
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

/** Compiles one file to CommonJS, with an inline source map so stack traces name the lines as written. */
function compile(loader) {
  return function (module, filename) {
    const source = fs.readFileSync(filename, 'utf8');
    let code;
    try {
      ({ code } = esbuild.transformSync(source, { loader, format: 'cjs', target: 'node20', sourcefile: filename, sourcemap: 'inline' }));
    } catch (e) {
      if (!Array.isArray(e.errors)) throw e;
      // The whole of each error, with the file, line and the line itself marked (esbuild's own format).
      const errors = e.errors.map((m) => (m.location ? { ...m, location: { ...m.location, file: path.relative(process.cwd(), m.location.file) } } : m));
      throw new SyntaxError(esbuild.formatMessagesSync(errors, { kind: 'error', color: false }).join('').trimEnd());
    }
    module._compile(code, filename);
  };
}

require.extensions['.ts'] = compile('ts');
require.extensions['.mts'] = compile('ts');
// Node 20 cannot require an ES module; a job is a module without top-level await, so CommonJS serves.
require.extensions['.mjs'] = compile('js');
