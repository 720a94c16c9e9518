#!/usr/bin/env node
'use strict';
require('./register');
require('../lib/cli/main.ts').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => {
    console.error(`shardflow: ${e && e.message ? e.message : e}`);
    process.exitCode = 1;
  },
);
