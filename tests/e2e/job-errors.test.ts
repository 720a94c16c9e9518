/**
 * A user's mistakes as the CLI reports them: the operator as written with its file and line, the bad value
 * echoed, a syntax error whole with its location, a missing field found at plan time with a sample event,
 * and in `dev` the dead letters counted on the progress line with the first one's reason printed once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, ROOT, run, startDev, until } from './dev-process';

jest.setTimeout(120_000);
const BIN = path.join(ROOT, 'bin/shardflow.js');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-errors-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A job file in the temporary directory: an orders job with `window` and `aggregate` as given. */
function orders(file: string, window: string, aggregate: string): void {
  fs.writeFileSync(
    path.join(dir, file),
    `import { dynamoSink, job, kinesisSource, tumbling } from 'shardflow';

type Order = { customer: string; amount: number; ts: number };

export default job('orders')
  .source(kinesisSource<Order>('orders', { eventTime: (o) => o.ts, outOfOrderness: '2s' }))
  .keyBy((o) => o.customer)
  .window(${window})
  .${aggregate}
  .sink(dynamoSink('order-totals'));
`,
  );
}

/** `shardflow ARGS` in the directory: its exit code and what it printed. */
async function shardflow(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: dir });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

test('a bad window size names the file, the line and the call as written, and echoes the value', async () => {
  orders('negative.ts', "tumbling('-1s')", "sum('amount')");
  const { code, stderr } = await shardflow(['plan', 'negative.ts']);
  expect(code).toBe(2);
  expect(stderr.trim()).toBe("shardflow: negative.ts:8 .window(tumbling('-1s')): tumbling window size '-1s' is not a positive duration — write it as '5s', '500ms' or a number of ms");
});

test('a syntax error is reported whole: what was expected, the file, line and column, and the line itself', async () => {
  orders('syntax.ts', "tumbling('1s')", "sum('amount')");
  const file = path.join(dir, 'syntax.ts');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(".sink(dynamoSink('order-totals'));", ".sink(dynamoSink('order-totals');"));
  const { code, stderr } = await shardflow(['plan', 'syntax.ts']);
  expect(code).toBe(2);
  expect(stderr).toContain('shardflow: syntax.ts: it does not load:');
  expect(stderr).toContain('Expected ")" but found ";"');
  expect(stderr).toContain('syntax.ts:10:34:');
  expect(stderr).toContain(".sink(dynamoSink('order-totals');");
});

test('a field the events lack is found at plan time with --check-event, naming the operator as written', async () => {
  orders('amout.ts', "tumbling('1s')", "sum('amout')");
  const sample = '{"customer":"ann","amount":3,"ts":1700000000000}';
  const failed = await shardflow(['plan', 'amout.ts', '--check-event', sample]);
  expect(failed.code).toBe(2);
  expect(failed.stderr.trim()).toBe("shardflow: the sample event would be a dead letter: amout.ts:9 .sum('amout'): field 'amout' is missing");
  orders('amount.ts', "tumbling('1s')", "sum('amount')");
  fs.writeFileSync(path.join(dir, 'sample.jsonl'), `${sample}\n`);
  const passed = await shardflow(['plan', 'amount.ts', '--check-event', 'sample.jsonl']);
  expect(passed.code).toBe(0);
  expect(passed.stdout).toContain('the sample event goes through every operator');
});

test('a job written as an ES module (.mjs) plans', async () => {
  fs.writeFileSync(
    path.join(dir, 'counts.mjs'),
    "import { job, kinesisSource, tumbling, logSink } from 'shardflow';\nexport default job('counts').source(kinesisSource('clicks', { eventTime: (c) => c.ts })).keyBy((c) => c.userId).window(tumbling('5s')).count().sink(logSink());\n",
  );
  const { code, stdout } = await shardflow(['plan', 'counts.mjs']);
  expect(code).toBe(0);
  expect(stdout).toContain("window#2 tumbling(5s).count()");
});

test("dev counts dead letters on its progress line and prints the first one's reason once, with where it was written", async () => {
  orders('amout-dev.ts', "tumbling('1s')", "sum('amout')");
  const port = await freePort();
  const dev = await startDev(['amout-dev.ts', '--no-demo', '--port', String(port), '--dashboard-port', '0'], 60_000, { bin: BIN, cwd: dir });
  try {
    const events = Array.from({ length: 5 }, (_, i) => JSON.stringify({ customer: `c${i % 2}`, amount: 1, ts: 1_700_000_000_000 + i * 1000 }));
    fs.writeFileSync(path.join(dir, 'orders.jsonl'), `${events.join('\n')}\n`);
    await shardflow(['push', 'orders', '--file', 'orders.jsonl', '--endpoint', `http://localhost:${port}`]);
    await until('the progress line to count 5 dead letters', async () => /dead letters 5 /.test(dev.output()), 60_000);
    const reasons = dev.output().match(/dead letter: .*/g) ?? [];
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^dead letter: sum\('amout'\): field 'amout' is missing — [1-5] of [1-5] events so far \(amout-dev\.ts:9 \.sum\('amout'\)\); every one is in table orders-dead-letters$/);
  } finally {
    expect(await dev.interrupt()).toBe(0);
  }
});
