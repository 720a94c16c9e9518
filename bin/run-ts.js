#!/usr/bin/env node
'use strict';
// Runs a TypeScript file: node bin/run-ts.js bench/engine.ts [args]
require('./register');
const path = require('node:path');
const [file, ...args] = process.argv.slice(2);
process.argv = [process.argv[0], path.resolve(file), ...args];
require(path.resolve(file));
