'use strict';
// A serverless config reads its service, functions and resources from here:
// `${file(./node_modules/shardflow/infra/serverless.js):functions}` (shardflow's own serverless.yml: ./infra/serverless.js).
// The serverless CLI calls this once per reference, so the parts are computed (and bundled) once.
const { serverlessParts } = require('../bin/entry').load('infra/serverless-config');

let parts;
module.exports = async ({ options }) => {
  parts ??= serverlessParts(options);
  return parts;
};
