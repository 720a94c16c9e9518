import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { init } from '../../lib/cli/init';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-init-'));
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

const readJson = (file: string): Record<string, Record<string, string>> => JSON.parse(fs.readFileSync(file, 'utf8'));

test('a new directory gets a job, its test, Vitest, a tsconfig, the scripts and the dependencies', async () => {
  expect(await init([path.join(dir, 'orders')])).toBe(0);
  const project = path.join(dir, 'orders');
  expect(fs.readdirSync(project).sort()).toEqual(['.gitignore', 'README.md', 'jobs', 'package.json', 'tests', 'tsconfig.json', 'vitest.config.mts']);
  const pkg = readJson(path.join(project, 'package.json'));
  expect(pkg.scripts).toEqual({ start: 'shardflow dev jobs/clicks.ts', test: 'vitest run', plan: 'shardflow plan jobs/clicks.ts', deploy: 'shardflow deploy jobs/clicks.ts --stage prod', typecheck: 'tsc --noEmit' });
  expect(Object.keys(pkg.dependencies!)).toEqual(['shardflow']);
  expect(Object.keys(pkg.devDependencies!).sort()).toEqual(['@types/node', 'typescript', 'vitest']);
  expect(fs.readFileSync(path.join(project, 'tests/clicks.test.ts'), 'utf8')).toContain("from 'shardflow/testing'");
});

test("an existing project keeps its package.json entries and its files; npm init's placeholder test script is replaced", async () => {
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'mine', type: 'commonjs', scripts: { test: 'echo "Error: no test specified" && exit 1', lint: 'eslint .' }, dependencies: { shardflow: 'file:../shardflow-0.1.0.tgz' } }));
  fs.mkdirSync(path.join(dir, 'jobs'));
  fs.writeFileSync(path.join(dir, 'jobs/clicks.mjs'), '// mine\n');
  expect(await init([dir, '--js'])).toBe(0);
  const pkg = readJson(path.join(dir, 'package.json'));
  expect(pkg).toMatchObject({ name: 'mine', type: 'commonjs', dependencies: { shardflow: 'file:../shardflow-0.1.0.tgz' } });
  expect(pkg.scripts).toMatchObject({ test: 'vitest run', lint: 'eslint .', start: 'shardflow dev jobs/clicks.mjs' });
  expect(fs.readFileSync(path.join(dir, 'jobs/clicks.mjs'), 'utf8')).toBe('// mine\n');
  expect(fs.existsSync(path.join(dir, 'tsconfig.json'))).toBe(false);
  expect(fs.existsSync(path.join(dir, 'tests/clicks.test.mjs'))).toBe(true);
});
