import * as path from 'node:path';

/** infra/serverless.js of this package (from dist/infra/ in an installed package, infra/ in a checkout). */
const PARTS_FILE = path.resolve(__dirname, __filename.endsWith('.ts') ? '..' : '../..', 'infra', 'serverless.js');

/** Where a deployment goes unless `--region` says otherwise. */
export const DEFAULT_REGION = 'us-east-1';

/**
 * The serverless service `shardflow package|deploy|remove` runs in a project without a serverless config
 * of its own: shardflow's serverless.yml, with the parts read from this package wherever it is installed.
 * Paths in it (the job, the bundles, `.serverless/`) are the service directory's: the user's project.
 */
export function serverlessService(options: { stage: string }): Record<string, unknown> {
  const parts = (name: string): string => `\${file(${PARTS_FILE}):${name}}`;
  return {
    service: parts('service'),
    frameworkVersion: '>=3',
    provider: {
      name: 'aws',
      runtime: parts('runtime'),
      architecture: 'arm64',
      region: `\${opt:region, '${DEFAULT_REGION}'}`,
      stage: "${opt:stage, 'dev'}",
      logRetentionInDays: 14,
    },
    package: { individually: true },
    functions: parts('functions'),
    resources: parts('resources'),
    // Only the `local` stage talks to LocalStack (see localstack/README.md); every other stage deploys to AWS.
    ...(options.stage === 'local' && {
      plugins: [path.dirname(require.resolve('serverless-localstack/package.json'))],
      custom: { localstack: { stages: ['local'], host: 'http://localhost', edgePort: 4566, autostart: false, lambda: { mountCode: false } } },
    }),
  };
}
