import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, UsageError } from './args';

/**
 * The test runner of a new project: Vitest runs TypeScript and ES modules as they are, with no transform
 * to configure and Jest's `expect`; 4.x is the line that still supports Node 20 (5.x needs Node 22.12).
 */
const DEV_DEPENDENCIES = { vitest: '^4.1.12', typescript: '^5.9.3', '@types/node': '^20.19.0' } as const;

/** One file of a new project, relative to its directory. */
interface ProjectFile {
  readonly path: string;
  readonly text: string;
}

/**
 * `shardflow init [DIR] [--js]`: a project that runs, tests and deploys one job — jobs/clicks.ts (or .mjs with
 * --js), its test with shardflow/testing, Vitest, a tsconfig, package.json scripts (start = dev, test,
 * deploy) and a short README. Files that exist are kept; an existing package.json gets the scripts and
 * dependencies it lacks.
 */
export async function init(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, ['js']);
  if (args.positionals.length > 1) throw new UsageError(`init takes one directory, not ${args.positionals.length}: shardflow init my-job`);
  const dir = path.resolve(args.positionals[0] ?? '.');
  const js = args.flags.get('js') === true;
  const job = js ? 'jobs/clicks.mjs' : 'jobs/clicks.ts';
  fs.mkdirSync(dir, { recursive: true });

  const written: string[] = [];
  const kept: string[] = [];
  for (const file of projectFiles(js)) {
    const target = path.join(dir, file.path);
    if (fs.existsSync(target)) {
      kept.push(file.path);
      continue;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, file.text);
    written.push(file.path);
  }
  writePackageJson(path.join(dir, 'package.json'), path.basename(dir), job);
  written.push('package.json');

  const where = path.relative(process.cwd(), dir);
  console.log(`shardflow init: ${written.join(', ')}${kept.length ? ` (kept your ${kept.join(', ')})` : ''}${where ? ` in ${where}` : ''}`);
  console.log(`next:${where ? ` cd ${where} &&` : ''} npm install && npm test && npm start`);
  return 0;
}

/** Adds what the project needs to package.json (creating it if needed), keeping whatever is there. */
function writePackageJson(file: string, name: string, job: string): void {
  const existing = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const scripts = { start: `shardflow dev ${job}`, test: 'vitest run', plan: `shardflow plan ${job}`, deploy: `shardflow deploy ${job} --stage prod`, ...(job.endsWith('.ts') && { typecheck: 'tsc --noEmit' }) };
  const record = (key: string): Record<string, string> => (existing[key] ?? {}) as Record<string, string>;
  const pkg = {
    name: name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-') || 'my-job',
    version: '0.1.0',
    private: true,
    type: 'module',
    ...existing,
    scripts: { ...scripts, ...record('scripts'), ...(isNpmInitDefault(record('scripts')) && { test: scripts.test }) },
    dependencies: { shardflow: `^${ownVersion()}`, ...record('dependencies') },
    devDependencies: { ...DEV_DEPENDENCIES, ...record('devDependencies') },
  };
  fs.writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
}

/** `npm init -y`'s placeholder test script, which a new project replaces. */
const isNpmInitDefault = (scripts: Record<string, string>): boolean => scripts.test?.includes('Error: no test specified') === true;

function ownVersion(): string {
  // lib/cli/ in a checkout, dist/lib/cli/ in an installed package: package.json is the first one up.
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return '0.1.0';
}

function projectFiles(js: boolean): ProjectFile[] {
  const ext = js ? 'mjs' : 'ts';
  return [
    { path: `jobs/clicks.${ext}`, text: js ? JOB_JS : JOB_TS },
    { path: `tests/clicks.test.${ext}`, text: TEST.replace('../jobs/clicks', js ? '../jobs/clicks.mjs' : '../jobs/clicks') },
    { path: js ? 'vitest.config.mjs' : 'vitest.config.mts', text: VITEST_CONFIG },
    ...(js ? [] : [{ path: 'tsconfig.json', text: TSCONFIG }]),
    { path: '.gitignore', text: 'node_modules/\n.serverless/\n.serverless-shardflow.json\n.build/\n.shardflow/\n.vite/\n' },
    { path: 'README.md', text: readme(`jobs/clicks.${ext}`, `tests/clicks.test.${ext}`) },
  ];
}

const JOB_TS = `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';

/** One event on the \`clicks\` stream (what \`npm start\`'s demo pushes). */
export type Click = { userId: string; clicks: number; ts: number };

/** Clicks per user per 10 seconds of event time. */
export default job('clicks-per-user')
  .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s' }))
  .keyBy((c) => c.userId)
  .window(tumbling('10s'))
  .sum('clicks')
  .sink(dynamoSink('clicks-per-user'));
`;

const JOB_JS = `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';

/** Clicks per user per 10 seconds of event time; an event is { userId, clicks, ts } (what \`npm start\`'s demo pushes). */
export default job('clicks-per-user')
  .source(kinesisSource('clicks', { eventTime: (c) => c.ts, outOfOrderness: '2s', idleAfter: '10s' }))
  .keyBy((c) => c.userId)
  .window(tumbling('10s'))
  .sum('clicks')
  .sink(dynamoSink('clicks-per-user'));
`;

const TEST = `import { expect, test } from 'vitest';
import { harness } from 'shardflow/testing';
import clicks from '../jobs/clicks';

test('clicks are summed per user in 10-second windows, which fire when the watermark passes their end', async () => {
  const h = harness(clicks);
  await h.send({ userId: 'ann', clicks: 2, ts: 1_000 });
  await h.send({ userId: 'ann', clicks: 3, ts: 9_000 });
  await h.send({ userId: 'bob', clicks: 1, ts: 4_000 });
  await h.send({ userId: 'ann', clicks: 7, ts: 12_000 });
  await h.watermark(9_999);
  expect(h.results()).toEqual([
    { key: 'ann', windowStart: 0, windowEnd: 10_000, clicks: 5 },
    { key: 'bob', windowStart: 0, windowEnd: 10_000, clicks: 1 },
  ]);
});
`;

/** Vitest's cache in the project (.vite/), not inside node_modules. */
const VITEST_CONFIG = `import { defineConfig } from 'vitest/config';

export default defineConfig({ cacheDir: '.vite', test: { include: ['tests/**/*.test.{ts,mjs}'] } });
`;

/** Strict, checked only (shardflow and Vitest run the TypeScript as it is). */
const TSCONFIG = `${JSON.stringify(
  {
    compilerOptions: {
      target: 'ES2022',
      module: 'preserve',
      moduleResolution: 'bundler',
      lib: ['ES2022'],
      types: ['node'],
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      skipLibCheck: false,
    },
    include: ['jobs', 'tests', 'vitest.config.mts'],
  },
  null,
  2,
)}\n`;

function readme(job: string, test: string): string {
  return `# clicks-per-user

A shardflow job: clicks per user per 10 seconds, on Kinesis,
Lambda and DynamoDB. The job is \`${job}\`; its test is \`${test}\`.

\`\`\`sh
npm install
npm test          # the job on shardflow's test harness (Vitest), no AWS
npm start         # the job on the embedded runtime with a demo click stream; Ctrl-C stops it
npm run plan      # its stages, streams and tables
npm run deploy    # to AWS (credentials in your shell; add -- --region R, default us-east-1)
\`\`\`

\`npx shardflow package ${job} --stage prod\` writes the CloudFormation template to \`.serverless/\` without
deploying; \`npx shardflow remove ${job} --stage prod\` deletes the stack with its streams and tables.
`;
}
