/**
 * FunctionHost runs handlers in real worker processes: tiny CommonJS handlers written to a temp dir, and
 * once the real operator bundle of the click example.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundleFunctions } from '../../infra/bundle';
import { FunctionError, FunctionHost, type FunctionHostOptions } from '../../lib/local/function-host';

jest.setTimeout(30_000);

let dir: string;
const hosts: FunctionHost[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'function-host-'));
});

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stop()));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes a CommonJS handler file and returns its absolute path. */
function handlerFile(name: string, source: string): string {
  const file = path.join(dir, `${name}.js`);
  fs.writeFileSync(file, source);
  return file;
}

/** A host for `bundlePath`, stopped after the test. */
function host(bundlePath: string, options: Partial<FunctionHostOptions> = {}): FunctionHost {
  const h = new FunctionHost({ functionName: 'fn', bundlePath, env: {}, timeoutMs: 5_000, ...options });
  hosts.push(h);
  return h;
}

/** Whether a process with this pid exists (signal 0 only checks). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (polling) until `condition` holds; rejects naming `what` after `timeoutMs`. */
async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Awaits the rejection of `p` and returns it as a FunctionError. */
async function failure(p: Promise<unknown>): Promise<FunctionError> {
  const outcome = await p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(FunctionError);
  return outcome.error as FunctionError;
}

const ECHO = `exports.handler = async (event) => ({ echo: event, pid: process.pid });`;
const COUNTER = `let calls = 0;\nexports.handler = async () => ({ calls: ++calls, pid: process.pid });`;

test('returns the handler value, with the event passed through as JSON', async () => {
  const h = host(handlerFile('echo', ECHO));
  const result = (await h.invoke({ Records: [{ n: 1 }], at: '2024-01-01' })) as { echo: unknown; pid: number };
  expect(result.echo).toEqual({ Records: [{ n: 1 }], at: '2024-01-01' });
  expect(result.pid).not.toBe(process.pid);
  expect(await host(handlerFile('nothing', `exports.handler = async () => undefined;`)).invoke({})).toBeNull();
});

test('a warm worker keeps module state between invocations, and counts one cold start', async () => {
  const h = host(handlerFile('counter', COUNTER));
  const results = [];
  for (let i = 0; i < 3; i++) results.push((await h.invoke({})) as { calls: number; pid: number });
  expect(results.map((r) => r.calls)).toEqual([1, 2, 3]);
  expect(new Set(results.map((r) => r.pid)).size).toBe(1);
  expect(h.stats()).toMatchObject({ invocations: 3, errors: 0, coldStarts: 1 });
  expect(h.stats().durationsMs).toHaveLength(3);
});

test('a throwing handler rejects with kind handler-error and its worker stays warm', async () => {
  const file = handlerFile(
    'throws',
    `let calls = 0;
     exports.handler = async (event) => {
       calls++;
       if (event.fail) throw new TypeError('bad record 7');
       return { calls, pid: process.pid };
     };`,
  );
  const lines: string[] = [];
  const h = host(file, { functionName: 'thrower', log: (l) => lines.push(l) });
  const first = (await h.invoke({})) as { pid: number };
  const error = await failure(h.invoke({ fail: true }));
  expect(error).toMatchObject({ kind: 'handler-error', functionName: 'thrower', errorType: 'TypeError', phase: 'invoke', pid: first.pid });
  expect(error.message).toContain('bad record 7');
  expect(error.trace.join('\n')).toContain('throws.js');
  expect(await h.invoke({})).toEqual({ calls: 3, pid: first.pid });
  expect(h.stats()).toMatchObject({ invocations: 3, errors: 1, crashes: 0, coldStarts: 1 });
  expect(lines.some((l) => l.startsWith('[thrower] ERROR') && l.includes('bad record 7'))).toBe(true);
});

test.each([
  ['process.exit(3)', 'process.exit(3)', { exitCode: 3, signal: null }],
  ['a SIGKILL to itself', "process.kill(process.pid, 'SIGKILL')", { exitCode: null, signal: 'SIGKILL' }],
])('a handler that calls %s rejects with kind crash, and the next invocation cold-starts a fresh worker', async (_name, kill, exit) => {
  const file = handlerFile(
    `crash-${exit.exitCode ?? 'kill'}`,
    `exports.handler = async (event) => {
       if (event.crash) { console.error('about to die'); ${kill}; }
       return { pid: process.pid };
     };`,
  );
  const h = host(file);
  const before = (await h.invoke({})) as { pid: number };
  const error = await failure(h.invoke({ crash: true }));
  expect(error).toMatchObject({ kind: 'crash', errorType: 'Runtime.ExitError', pid: before.pid, ...exit });
  expect(error.logTail).toContain('about to die');
  expect(isAlive(before.pid)).toBe(false);
  const after = (await h.invoke({})) as { pid: number };
  expect(after.pid).not.toBe(before.pid);
  expect(h.stats()).toMatchObject({ invocations: 3, errors: 1, crashes: 1, coldStarts: 2 });
});

test('an uncaught exception thrown outside the promise chain is a crash, not a hang', async () => {
  const file = handlerFile('uncaught', `exports.handler = async () => { setTimeout(() => { throw new Error('boom'); }, 1); await new Promise(() => {}); };`);
  const error = await failure(host(file).invoke({}));
  expect(error).toMatchObject({ kind: 'crash', exitCode: 1 });
});

test('a handler sleeping past timeoutMs rejects with kind timeout and its worker is gone', async () => {
  const file = handlerFile('sleeper', `exports.handler = async (event) => { await new Promise((r) => setTimeout(r, event.ms)); return { pid: process.pid }; };`);
  const h = host(file, { timeoutMs: 300 });
  // Unless the timeout stops it, the handler answers (after 10 s) and failure() throws.
  const error = await failure(h.invoke({ ms: 10_000 }));
  expect(error).toMatchObject({ kind: 'timeout', errorType: 'Sandbox.Timedout', signal: 'SIGKILL' });
  expect(error.pid).toBeDefined();
  expect(isAlive(error.pid as number)).toBe(false);
  expect(h.pids()).toEqual([]);
  expect(await h.invoke({ ms: 1 })).toEqual({ pid: expect.any(Number) });
  expect(h.stats()).toMatchObject({ invocations: 2, errors: 1, timeouts: 1, coldStarts: 2 });
});

test('concurrent invocations run in parallel on separate workers, which are then reused', async () => {
  // A barrier: each run announces itself and waits until `event.parties` runs have. Run one after
  // another, the first would wait forever (and the test time out).
  const barrier = fs.mkdtempSync(path.join(dir, 'barrier-'));
  const file = handlerFile(
    'parallel',
    `const fs = require('node:fs');
     exports.handler = async (event) => {
       if (event.parties) {
         fs.writeFileSync(event.dir + '/' + process.pid, '');
         while (fs.readdirSync(event.dir).length < event.parties) await new Promise((r) => setImmediate(r));
       }
       return { pid: process.pid };
     };`,
  );
  const h = host(file);
  type Span = { pid: number };
  const spans = (await Promise.all([0, 1, 2].map(() => h.invoke({ parties: 3, dir: barrier })))) as Span[];
  expect(new Set(spans.map((s) => s.pid)).size).toBe(3);
  expect(h.pids().sort()).toEqual(spans.map((s) => s.pid).sort());
  const again = (await Promise.all([h.invoke({}), h.invoke({})])) as Span[];
  expect(again.every((s) => spans.some((first) => first.pid === s.pid))).toBe(true);
  expect(h.stats().coldStarts).toBe(3);
});

test('stop() leaves no live worker, and fails an invocation still running', async () => {
  const file = handlerFile('stoppable', `exports.handler = async (event) => { if (event.ms > 1) console.log('running'); await new Promise((r) => setTimeout(r, event.ms)); return process.pid; };`);
  let running = false;
  const h = host(file, { log: (line) => (running ||= line.endsWith('running')) });
  const warm = await Promise.all([h.invoke({ ms: 1 }), h.invoke({ ms: 1 })]);
  const stopped = failure(h.invoke({ ms: 10_000 }));
  await until('the long invocation to be running', () => running);
  const pids = h.pids();
  expect(pids).toHaveLength(2);
  expect(pids.sort()).toEqual([...(warm as number[])].sort());
  await h.stop();
  expect(h.pids()).toEqual([]);
  expect(pids.filter(isAlive)).toEqual([]);
  expect(await stopped).toMatchObject({ kind: 'crash', signal: 'SIGTERM' });
  await expect(h.invoke({})).rejects.toThrow('invoke() after stop()');
});

test('past its reserved concurrency a function is throttled at once: the handler never runs, no worker starts', async () => {
  const { LambdaConcurrency, TooManyRequestsError } = await import('../../lib/local/concurrency');
  const file = handlerFile('reserved', `exports.handler = async (event) => { if (event.hold) console.log('held'); while (event.hold && !require('node:fs').existsSync(event.hold)) await new Promise((r) => setImmediate(r)); return process.pid; };`);
  let held = false;
  const h = host(file, { functionName: 'reserved', concurrency: new LambdaConcurrency({ reserved: { reserved: 1 } }), log: (l) => (held ||= l.endsWith('held')) });
  const release = path.join(dir, 'release-reserved');
  const first = h.invoke({ hold: release });
  await until('the first invocation to be running', () => held);
  await expect(h.invoke({})).rejects.toThrow(TooManyRequestsError);
  expect(h.stats()).toMatchObject({ invocations: 1, throttles: 1, coldStarts: 1 });
  fs.writeFileSync(release, '');
  expect(await first).toEqual(expect.any(Number));
  expect(await h.invoke({})).toBe(await first); // the execution was given back
});

test('env vars reach the handler, next to the Lambda-reserved ones, and its output reaches log', async () => {
  const file = handlerFile(
    'env',
    `exports.handler = async () => {
       console.log('hello from the handler');
       return { greeting: process.env.GREETING, name: process.env.AWS_LAMBDA_FUNCTION_NAME, memory: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE };
     };`,
  );
  const lines: string[] = [];
  const h = host(file, { functionName: 'greeter', env: { GREETING: 'hej' }, memoryMb: 256, log: (l) => lines.push(l) });
  expect(await h.invoke({})).toEqual({ greeting: 'hej', name: 'greeter', memory: '256' });
  expect(lines).toContain('[greeter] hello from the handler');
});

test('the context is Lambda-like and getRemainingTimeInMillis decreases', async () => {
  const file = handlerFile(
    'context',
    `exports.handler = async (event, context) => {
       const first = context.getRemainingTimeInMillis();
       await new Promise((r) => setTimeout(r, 100));
       const { functionName, awsRequestId, invokedFunctionArn, memoryLimitInMB, callbackWaitsForEmptyEventLoop } = context;
       return { first, second: context.getRemainingTimeInMillis(), functionName, awsRequestId, invokedFunctionArn, memoryLimitInMB, callbackWaitsForEmptyEventLoop };
     };`,
  );
  const h = host(file, { functionName: 'ctx', timeoutMs: 2_000 });
  const before = Date.now();
  const c = (await h.invoke({})) as Record<string, unknown> & { first: number; second: number };
  // The deadline is timeoutMs after the invoke: by the handler's first look, at most the whole invoke has passed.
  expect(c.first).toBeLessThanOrEqual(2_000);
  expect(c.first).toBeGreaterThanOrEqual(2_000 - (Date.now() - before));
  expect(c.second).toBeLessThanOrEqual(c.first - 90);
  expect(c).toMatchObject({ functionName: 'ctx', memoryLimitInMB: '128', callbackWaitsForEmptyEventLoop: true });
  expect(c.awsRequestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(c.invokedFunctionArn).toMatch(/^arn:aws:lambda:[a-z0-9-]+:000000000000:function:ctx$/);
  const other = (await h.invoke({})) as { awsRequestId: string };
  expect(other.awsRequestId).not.toBe(c.awsRequestId);
});

test('a bundle that fails to load, or lacks the handler, fails the invocation as an init crash', async () => {
  const broken = await failure(host(handlerFile('broken', `throw new Error('cannot start');`)).invoke({}));
  expect(broken).toMatchObject({ kind: 'crash', phase: 'init', errorType: 'Error' });
  expect(broken.message).toContain('cannot start');
  const missing = await failure(host(handlerFile('no-handler', `exports.other = async () => 1;`)).invoke({}));
  expect(missing).toMatchObject({ kind: 'crash', phase: 'init', errorType: 'Runtime.HandlerNotFound' });
  const named = host(handlerFile('named', `exports.other = async () => 'other';`), { handlerExport: 'other' });
  expect(await named.invoke({})).toBe('other');
});

test.each([
  ['is SIGKILLed', 'kill'],
  ['exits while a worker is stuck in a synchronous loop', 'exit'],
])('workers do not outlive a parent process that %s', async (_name, mode) => {
  const handler = handlerFile(
    `orphan-${mode}`,
    `exports.handler = async (event) => { if (event.spin || event.wait) console.log('busy'); if (event.spin) { await new Promise((r) => setImmediate(r)); for (;;) {} } if (event.wait) await new Promise(() => {}); return process.pid; };`,
  );
  // The parent is a separate Node process (TypeScript through the repo's loader) so it can really die.
  const parentScript = handlerFile(
    `parent-${mode}`,
    `require(${JSON.stringify(path.resolve('bin/register.js'))});
     const { FunctionHost } = require(${JSON.stringify(path.resolve('lib/local/function-host.ts'))});
     let busy = () => {};
     const h = new FunctionHost({ functionName: 'orphan', bundlePath: ${JSON.stringify(handler)}, env: {}, timeoutMs: 60000, log: (line) => line.endsWith('busy') && busy() });
     (async () => {
       await Promise.all([h.invoke({}), h.invoke({})]); // two warm workers; one then gets busy
       const started = new Promise((r) => (busy = r));
       h.invoke(${mode === 'kill' ? '{ wait: true }' : '{ spin: true }'}).catch(() => {});
       await started;
       console.log(JSON.stringify(h.pids()));
       if (${JSON.stringify(mode)} === 'exit') process.exit(0);
     })();`,
  );
  const parent = spawn(process.execPath, [parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  let pids: number[] = [];
  try {
    pids = await new Promise<number[]>((resolve, reject) => {
      parent.stdout.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as number[]));
      parent.once('exit', (code) => reject(new Error(`parent exited (${code}) before printing its workers`)));
    });
    expect(pids).toHaveLength(2);
    if (mode === 'kill') parent.kill('SIGKILL');
    await until('the workers to be gone', () => !pids.some(isAlive), 10_000).catch(() => undefined);
    expect(pids.filter(isAlive)).toEqual([]);
  } finally {
    // Whatever happened above, leave nothing running behind the test.
    parent.kill('SIGKILL');
    for (const pid of pids.filter(isAlive)) process.kill(pid, 'SIGKILL');
  }
});

test('the real operator bundle of the click example loads in a worker and answers an empty batch', async () => {
  const bundles = await bundleFunctions('examples/click-counts.ts', path.join(dir, 'bundle'));
  const h = host(bundles.operator, {
    functionName: 'click-counts-s0',
    env: { SHARDFLOW_STAGE: 's0', SHARDFLOW_ENDPOINT_URL: 'http://127.0.0.1:9' },
    timeoutMs: 10_000,
  });
  expect(await h.invoke({ Records: [] })).toEqual({ batchItemFailures: [] });
  expect(h.stats()).toMatchObject({ invocations: 1, errors: 0, coldStarts: 1 });
});
