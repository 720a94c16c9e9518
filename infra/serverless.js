'use strict';
// serverless.yml reads its service, functions and resources from here: `${file(./infra/serverless.js):functions}`.
// The serverless CLI calls this once per reference, so the parts are computed (and bundled) once.
require('../bin/register');
const { serverlessParts } = require('./serverless-config.ts');

let parts;
module.exports = async ({ options }) => {
  parts ??= serverlessParts(options);
  return parts;
};
