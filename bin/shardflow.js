#!/usr/bin/env node
'use strict';
// The SDK's notice about its future Node requirement is not actionable at run time (the lockfile pins it).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('./entry').load('lib/cli/main').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => {
    console.error(`shardflow: ${e && e.message ? e.message : e}`);
    process.exitCode = 1;
  },
);
