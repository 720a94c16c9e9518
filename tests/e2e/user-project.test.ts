/**
 * shardflow as a user meets it: the packed tarball installed into a new project with npm, `shardflow init`,
 * the project's own test, `plan`, `dev` with a push and a results scan, `package` — all from the project's
 * directory, with nothing written inside node_modules — and the package's declarations type-checked in a
 * strict user project by TypeScript 5 and 7 under every module resolution users have.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clickEvents, freePort, ROOT, run, scanResults, startDev, until } from './dev-process';

jest.setTimeout(600_000);

let dir: string;
let project: string;
/** The installed package's command, as `npx shardflow` runs it. */
let shardflowBin: string;
/** Every file under the project's node_modules with its size and modification time, after installing. */
let installed: Map<string, string>;

/** Plain output, whatever the terminal jest runs in. */
const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
/** npm as a user runs it (offline where the cache has the package already). */
const npm = (args: readonly string[], cwd: string): Promise<{ stdout: string; stderr: string }> =>
  run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, env, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
const shardflow = (args: readonly string[], cwd = project): Promise<{ stdout: string; stderr: string }> =>
  run(process.execPath, [shardflowBin, ...args], { cwd, env, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 });

function filesUnder(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        const stat = fs.lstatSync(full);
        files.set(path.relative(root, full), `${stat.size} ${stat.mtimeMs}`);
      }
    }
  };
  walk(root);
  return files;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-user-'));
  project = path.join(dir, 'my-job');
  fs.mkdirSync(project);
  const { stdout } = await npm(['pack', '--pack-destination', dir], ROOT); // prepack builds dist/
  const tarball = path.join(dir, stdout.trim().split('\n').pop()!);
  await npm(['init', '-y'], project);
  await npm(['install', tarball], project);
  shardflowBin = path.join(project, 'node_modules/shardflow/bin/shardflow.js');
  await shardflow(['init']);
  await npm(['install'], project);
  installed = filesUnder(path.join(project, 'node_modules'));
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the tarball holds the built library, its declarations and the CLI, and no tests, benchmarks or CI', () => {
  const pkg = path.join(project, 'node_modules/shardflow');
  for (const file of ['dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/testing/index.js', 'dist/lib/testing/index.d.ts', 'bin/shardflow.js', 'infra/serverless.js']) {
    expect(fs.existsSync(path.join(pkg, file))).toBe(true);
  }
  for (const dir of ['tests', 'bench', '.ci', 'lib', 'examples']) expect(fs.existsSync(path.join(pkg, dir))).toBe(false);
  const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { private?: boolean; dependencies: Record<string, string> };
  expect(manifest.private).toBeUndefined();
  expect(Object.keys(manifest.dependencies)).toEqual(expect.arrayContaining(['esbuild', 'osls']));
});

test("init's project passes its own test and type-check; `require` and `import` of shardflow both work", async () => {
  const { stdout } = await run('npm', ['test'], { cwd: project, env, timeout: 120_000 });
  expect(stdout).toMatch(/Tests +1 passed/);
  await run('npm', ['run', 'typecheck'], { cwd: project, env, timeout: 120_000 });
  const esm = await run(process.execPath, ['--input-type=module', '-e', "import { job } from 'shardflow'; import { harness } from 'shardflow/testing'; console.log(typeof job, typeof harness);"], { cwd: project });
  expect(esm.stdout.trim()).toBe('function function');
  const cjs = await run(process.execPath, ['-e', "const { job } = require('shardflow'); const { harness } = require('shardflow/testing'); console.log(typeof job, typeof harness);"], { cwd: project });
  expect(cjs.stdout.trim()).toBe('function function');
});

test('a plain JavaScript (.mjs) job from `init --js` tests and plans too', async () => {
  await shardflow(['init', 'js', '--js']);
  const js = path.join(project, 'js');
  expect(fs.existsSync(path.join(js, 'jobs/clicks.mjs'))).toBe(true);
  const { stdout } = await run(path.join(project, 'node_modules/.bin/vitest'), ['run'], { cwd: js, env, timeout: 120_000 });
  expect(stdout).toMatch(/Tests +1 passed/);
  expect((await shardflow(['plan', 'jobs/clicks.mjs'], js)).stdout).toMatch(/operators: window#2 tumbling\(10s\)\.sum\('clicks'\)/);
});

test('plan, then dev with events pushed and results scanned, then package: all from the project directory', async () => {
  const plan = await shardflow(['plan', 'jobs/clicks.ts']);
  expect(plan.stdout).toMatch(/stage s1 .*\n.*window#2 tumbling\(10s\)\.sum\('clicks'\)/);

  const port = await freePort();
  const dev = await startDev(['jobs/clicks.ts', '--no-demo', '--port', String(port), '--dashboard-port', '0'], 90_000, { bin: shardflowBin, cwd: project });
  try {
    const events = clickEvents(60, 3, 7).map((e) => ({ ...e, ts: e.ts - (e.ts % 1000) }));
    fs.writeFileSync(path.join(project, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n'));
    await shardflow(['push', 'clicks', '--file', 'events.jsonl', '--endpoint', `http://localhost:${port}`]);
    // Every 10-second window the watermark (last event time − 2 s) has passed, summed per user.
    const watermark = Math.max(...events.map((e) => e.ts)) - 2000 - 1;
    const expected = new Map<string, number>();
    for (const e of events) {
      const start = e.ts - (e.ts % 10_000);
      if (start + 10_000 - 1 <= watermark) expected.set(`${e.userId} ${start}`, (expected.get(`${e.userId} ${start}`) ?? 0) + e.clicks);
    }
    expect(expected.size).toBeGreaterThan(3);
    await until('every closed window in the results table', async () => (await scanResults(port, 'clicks-per-user')).length >= expected.size, 180_000).catch((e: Error) => {
      throw new Error(`${e.message}; shardflow dev printed:\n${dev.output().replace(/\r/g, '\n').slice(-3000)}`);
    });
    const results = await scanResults(port, 'clicks-per-user');
    expect(new Map(results.map(([key, start, clicks]) => [`${key} ${start}`, clicks]))).toEqual(expected);
  } finally {
    expect(await dev.interrupt()).toBe(0);
  }

  const packaged = await shardflow(['package', 'jobs/clicks.ts', '--stage', 'prod']);
  expect(packaged.stdout + packaged.stderr).toMatch(/Service packaged/);
  const template = JSON.parse(fs.readFileSync(path.join(project, '.serverless/cloudformation-template-update-stack.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function').map((r) => r.Properties.FunctionName);
  expect(functions.sort()).toEqual(['shardflow-clicks-per-user-prod-s0', 'shardflow-clicks-per-user-prod-s1', 'shardflow-clicks-per-user-prod-watermark']);
  for (const zip of ['s0.zip', 's1.zip', 'watermark.zip']) expect(fs.existsSync(path.join(project, '.serverless', zip))).toBe(true);
  expect(fs.existsSync(path.join(project, '.build/clicks-per-user/operator.js'))).toBe(true);
  // shardflow's service config was written for the run only.
  expect(fs.readdirSync(project).filter((f) => f.startsWith('.serverless-'))).toEqual([]);

  // Nothing any of it did wrote inside node_modules.
  const after = filesUnder(path.join(project, 'node_modules'));
  expect([...after.keys()].filter((f) => installed.get(f) !== after.get(f))).toEqual([]);
});

/** A user's code using the API's types: a job, a custom aggregate, the harness. */
const USER_CODE = `import { dynamoSink, job, kinesisSource, tumbling, type AggregateFunction, type JobDefinition } from 'shardflow';
import { harness } from 'shardflow/testing';

type Order = { customer: string; amount: number; ts: number };
const largest: AggregateFunction<Order, { max: number }, { largest: number }> = {
  create: () => ({ max: 0 }),
  add: (acc, o) => ({ max: Math.max(acc.max, o.amount) }),
  merge: (a, b) => ({ max: Math.max(a.max, b.max) }),
  result: (acc) => ({ largest: acc.max }),
};
export const orders: JobDefinition = job('orders')
  .source(kinesisSource<Order>('orders', { eventTime: (o) => o.ts, outOfOrderness: '2s' }))
  .keyBy((o) => o.customer)
  .window(tumbling('1m'))
  .aggregate(largest)
  .sink(dynamoSink('largest-orders'));

export async function windowsFired(): Promise<number> {
  const h = harness(orders);
  await h.send({ customer: 'c', amount: 3, ts: 1 });
  await h.watermark(60_000);
  return h.results().length;
}
`;

/** The strictest settings users turn on, with the library's declarations checked too (no skipLibCheck). */
const STRICT = {
  target: 'ES2022',
  lib: ['ES2022'],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noPropertyAccessFromIndexSignature: true,
  noImplicitOverride: true,
  noImplicitReturns: true,
  skipLibCheck: false,
  noEmit: true,
  types: [],
};

test.each([
  ['TypeScript 5', () => path.join(project, 'node_modules/typescript/bin/tsc')],
  ['TypeScript 7', () => typescript7],
])('%s type-checks a strict user project importing shardflow and shardflow/testing, under moduleResolution node16, nodenext and bundler', async (_, tsc) => {
  const resolutions = { node16: 'node16', nodenext: 'nodenext', bundler: 'preserve' } as const;
  const errors = await Promise.all(
    Object.entries(resolutions).map(async ([moduleResolution, module]) => {
      const checked = fs.mkdtempSync(path.join(project, `types-${moduleResolution}-`));
      fs.writeFileSync(path.join(checked, 'user.ts'), USER_CODE);
      fs.writeFileSync(path.join(checked, 'user-esm.mts'), USER_CODE); // an ES module importing the package
      fs.writeFileSync(path.join(checked, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...STRICT, module, moduleResolution }, files: ['user.ts', 'user-esm.mts'] }));
      const out = await run(tsc(), ['-p', checked], { cwd: project, env, timeout: 120_000 }).catch((e: { stdout: string }) => e);
      return [moduleResolution, out.stdout] as const;
    }),
  );
  expect(Object.fromEntries(errors)).toEqual({ node16: '', nodenext: '', bundler: '' });
});

/** `tsc` of TypeScript 7 (the native compiler `npm i typescript` installs now), installed beside the project. */
let typescript7: string;
beforeAll(async () => {
  const ts7 = path.join(dir, 'typescript-7');
  fs.mkdirSync(ts7);
  await npm(['init', '-y'], ts7);
  await npm(['install', 'typescript@7'], ts7);
  typescript7 = path.join(ts7, 'node_modules/.bin/tsc');
});
