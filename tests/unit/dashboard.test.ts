/**
 * The local dashboard's parts without a browser: the job graph of each example, the figures read from
 * the functions' log lines, the live history's rates, and the HTTP server (page, JSON, Server-Sent
 * Events, a port in use).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { dynamoSink, job, kinesisSource, session } from 'shardflow';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { runInNewContext } from 'node:vm';
import { loadJob } from '../../lib/cli/load-job';
import { JobMetrics, stageBatchMetrics, watermarkTickMetrics } from '../../lib/io/metrics';
import { FunctionFigures } from '../../lib/local/dashboard/function-figures';
import { jobGraph } from '../../lib/local/dashboard/job-graph';
import { LiveHistory } from '../../lib/local/dashboard/live-history';
import { shortText } from '../../lib/runtime/keyed/keyed-operator';
import { windowOperator } from '../../lib/runtime/keyed/window-operator';
import type { KeyedOperator } from '../../lib/plan/plan';
import { Dashboard, DashboardPortInUseError, type DashboardRuntime } from '../../lib/local/dashboard/server';
import type { DevSnapshot, DevStatus } from '../../lib/local/dev-runtime';
import { planJob } from '../../lib/plan/planner';

const JOBS = ['examples/click-counts.ts', 'examples/click-totals.ts', 'examples/hot-items.ts', 'tests/fixtures/sessions-to-kinesis.ts', 'examples/fraud.ts'];

/** What Powertools writes, as a function worker's log would have it (stdout and stderr: warnings go to stderr). */
function outputLines(run: () => void): string[] {
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array): boolean => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(capture), jest.spyOn(process.stderr, 'write').mockImplementation(capture)];
  try {
    run();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return lines;
}

describe.each(JOBS)('the job graph of %s', (file) => {
  const plan = planJob(loadJob(file));
  const graph = jobGraph(plan);
  const ids = graph.nodes.map((n) => n.id);

  test('has every stage, stream and table of the plan, and the watermark function', () => {
    for (const s of plan.stages) expect(ids).toContain(`stage:${s.id}`);
    for (const s of plan.streams) expect(ids).toContain(`stream:${s.name}`);
    for (const t of plan.tables) expect(ids).toContain(`table:${t.name}`);
    expect(ids).toContain('function:watermark');
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('records flow left to right from the source stream through every stage, and no two boxes share a cell', () => {
    const at = new Map(graph.nodes.map((n) => [n.id, n]));
    for (const e of graph.edges) {
      expect(at.has(e.from) && at.has(e.to)).toBe(true);
      if (e.kind === 'data') expect(at.get(e.to)!.column).toBeGreaterThan(at.get(e.from)!.column);
    }
    expect(at.get(`stream:${plan.stages[0]!.input.stream}`)).toMatchObject({ column: 0, row: 0 });
    // A line of stages stays on the first row; stages side by side (several sources, branches) stack in their column.
    const columns = plan.stages.map((s) => at.get(`stage:${s.id}`)!.column);
    const line = new Set(columns).size === columns.length;
    for (const s of plan.stages) expect(at.get(`stage:${s.id}`)).toMatchObject({ kind: 'stage', stage: s.id, ...(line && { row: 0 }) });
    const cells = graph.nodes.map((n) => `${n.column},${n.row}`);
    expect(new Set(cells).size).toBe(cells.length);
  });
});

test('function figures: EMF lines add up per stage, other lines are ignored, logged late records and dead letters are kept newest first', () => {
  const metrics = new JobMetrics({ job: 'j', service: 'shardflow-j' });
  const logger = new Logger({ serviceName: 'shardflow-j', persistentKeys: { job: 'j' } });
  const base = { stage: 's1', shardId: 'shardId-000000000000', recordsIn: 2, shuffled: 0, outputs: 1, late: 0, deadLetters: 0, markers: 0, watermarkMs: 1000, durationMs: 10, atMs: 3000 };
  const lines = outputLines(() => {
    metrics.publish('s1', stageBatchMetrics({ ...base, elementsIn: 50 }));
    metrics.publish('s1', stageBatchMetrics({ ...base, elementsIn: 70, durationMs: 30, atMs: 5000 }));
    metrics.publish('s1', watermarkTickMetrics({ stage: 's1', ticks: 3, idleShards: 0, shards: 3, atMs: 4500 }));
    logger.info('stage batch', { stage: 's1' });
    logger.warn('late records', { stage: 's1', late: 1, sample: [{ shardId: 'shardId-000000000000', sequenceNumber: '7', eventTimeMs: 100, key: 'ann' }] });
    logger.warn('dead letters', { stage: 's0', deadLetters: 1, sample: [{ reason: 'not JSON', operator: 'source', shardId: 'shardId-000000000000', sequenceNumber: '8' }] });
    logger.warn('dead letters', { stage: 's0', deadLetters: 1, sample: [{ reason: 'too big', operator: 'source', shardId: 'shardId-000000000000', sequenceNumber: '9' }] });
  });
  const figures = new FunctionFigures();
  for (const line of lines) figures.ingest(`[j-s1] ${line}`);
  figures.ingest('[j-s1] START RequestId: 1 Version: $LATEST');

  const s1 = figures.stage('s1');
  expect(s1.RecordsIn).toMatchObject({ sum: 120, samples: 2, last: 70, max: 70 });
  expect(s1.RecordsOut).toMatchObject({ sum: 2, samples: 2 });
  expect(s1.BatchDuration).toMatchObject({ sum: 40, last: 30, max: 30 });
  expect(s1.Ticks).toMatchObject({ sum: 3 });
  expect(s1.WatermarkLag).toMatchObject({ last: 4000, max: 4000 });
  expect(figures.stage('s0')).toEqual({});
  const logged = figures.logged();
  expect(logged.late).toEqual([expect.objectContaining({ stage: 's1', key: 'ann', eventTimeMs: 100, sequenceNumber: '7' })]);
  expect(logged.deadLetters.map((d) => d.reason)).toEqual(['too big', 'not JSON']);
});

test('an open window’s value so far: a window’s accumulator and span, a session’s, a timer with the state it holds', () => {
  const windows = windowOperator(planJob(job('w').source(kinesisSource<{ k: string; n: number; ts: number }>('in', { eventTime: (e) => e.ts })).keyBy('k').window(session('30s')).sum('n').sink(dynamoSink('out'))).stages[1]!.keyed as Extract<KeyedOperator, { kind: 'window' }>);
  expect(windows.pending({ n: 1, w: [[0, 5000, { sum: 12 }, 0], [90_000, 125_000, { sum: 3 }, 1]] })).toEqual([
    { startMs: 0, endMs: 5000, fireAtMs: 4999, value: 'sum=12' },
    { startMs: 90_000, endMs: 125_000, fireAtMs: 124_999, value: 'sum=3' },
  ]);
  expect(windows.pending(undefined)).toEqual([]);
  expect(shortText({ clickCount: 'x'.repeat(100) })).toHaveLength(60);
});

const statusOf = (inTotal: number, outTotal: number, iteratorAgeMs = 0): DevStatus => ({
  stages: [
    {
      id: 's0',
      recordsIn: inTotal,
      iteratorAgeMs,
      errors: 0,
      throttles: 0,
      watermarkMs: undefined,
      metrics: { RecordsIn: { sum: inTotal, samples: 1, last: 0, max: 0, lastAtMs: 0 }, RecordsOut: { sum: outTotal, samples: 1, last: 0, max: 0, lastAtMs: 0 } },
      shards: [],
    },
  ],
});

test('live history: rates per second over the last five seconds, iterator age as is, a bounded number of samples', () => {
  const h = new LiveHistory(3, 5000);
  expect(h.add(statusOf(0, 0), 0).stages.s0).toEqual({ inPerSec: 0, outPerSec: 0, iteratorAgeMs: 0 });
  h.add(statusOf(100, 50), 1000);
  expect(h.add(statusOf(200, 100, 750), 2000).stages.s0).toEqual({ inPerSec: 100, outPerSec: 50, iteratorAgeMs: 750 });
  for (let t = 3000; t <= 8000; t += 1000) h.add(statusOf(200 + (t - 2000) / 100, 100), t);
  // Over the last five seconds: 50 records in, none out.
  expect(h.all().at(-1)!.stages.s0).toMatchObject({ inPerSec: 10, outPerSec: 0 });
  expect(h.all()).toHaveLength(3);
});

describe('the dashboard server', () => {
  const plan = planJob(loadJob('examples/click-counts.ts'));
  let inTotal = 0;
  const snapshot = (): DevSnapshot => ({
    atMs: Date.now(),
    status: statusOf(inTotal, inTotal),
    state: { watermarks: [], openWindows: [], results: [], deadLetters: { table: plan.deadLetterTable, total: 0, latest: [] }, lateSinks: [] },
    logged: { late: [], deadLetters: [] },
  });
  const runtime: DashboardRuntime = { plan, edgeUrl: 'http://localhost:4566', status: () => statusOf((inTotal += 10), inTotal), snapshot: async () => snapshot() };
  let dashboard: Dashboard;
  beforeAll(async () => {
    dashboard = await Dashboard.start(runtime, { port: 0, sampleEveryMs: 50, snapshotEveryMs: 100 });
  });
  afterAll(() => dashboard.close());

  const get = (path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> =>
    new Promise((resolve, reject) => {
      http.get(`${dashboard.url}${path}`, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      }).on('error', reject);
    });

  test('listens on loopback and serves the page, its script and style, with nothing allowed from elsewhere', async () => {
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.body).toContain('<script src="/app.js"></script>');
    expect(page.body).not.toMatch(/https?:\/\//);
    for (const file of ['/app.js', '/style.css']) {
      const r = await get(file);
      expect(r.status).toBe(200);
      expect(r.body).not.toMatch(/(src|href|url)\s*[=(]\s*["']?https?:/);
    }
    expect((await get('/nope')).status).toBe(404);
  });

  test('serves the job graph and a snapshot as JSON', async () => {
    const graph = JSON.parse((await get('/api/graph')).body);
    expect(graph.nodes.filter((n: { kind: string }) => n.kind === 'stage').map((n: { stage: string }) => n.stage)).toEqual(['s0', 's1']);
    const snap = JSON.parse((await get('/api/snapshot')).body);
    expect(snap.state.deadLetters.table).toBe(plan.deadLetterTable);
  });

  test('streams a hello, then samples and snapshots, as Server-Sent Events', async () => {
    const stream = await openEvents(`${dashboard.url}/events`);
    try {
      expect(stream.headers['content-type']).toBe('text/event-stream');
      await stream.until('three samples and a snapshot', (events) => events.filter((e) => e.event === 'sample').length >= 3 && events.some((e) => e.event === 'snapshot'));
    } finally {
      stream.close();
    }
    const events = stream.events;
    expect(events[0]!.event).toBe('hello');
    expect(events[0]!.data).toMatchObject({ job: 'click-counts', edgeUrl: 'http://localhost:4566' });
    expect(Object.keys(events[0]!.data.metrics)).toContain('RecordsIn');
    const samples = events.filter((e) => e.event === 'sample').map((e) => e.data.status.stages[0].metrics.RecordsIn.sum as number);
    expect(samples).toEqual([...samples].sort((a, b) => a - b));
    expect(samples.at(-1)).toBeGreaterThan(samples[0]!);
  });

  test('a port in use is a DashboardPortInUseError, with one line to say so', async () => {
    const port = Number(new URL(dashboard.url).port);
    await expect(Dashboard.start(runtime, { port })).rejects.toThrow(DashboardPortInUseError);
    await expect(Dashboard.start(runtime, { port })).rejects.toThrow(`dashboard port ${port} is in use — running without the dashboard (pass --dashboard-port <another>, or 0 for none)`);
  });
});

test('close() ends open event streams and frees the port', async () => {
  const plan = planJob(loadJob('examples/click-counts.ts'));
  const runtime: DashboardRuntime = { plan, edgeUrl: 'x', status: () => statusOf(0, 0), snapshot: () => new Promise(() => {}) };
  const dashboard = await Dashboard.start(runtime, { port: 0 });
  const port = Number(new URL(dashboard.url).port);
  // Once its response has started, the server has the stream among its clients.
  const stream = await openEvents(`${dashboard.url}/events`);
  await dashboard.close();
  await stream.ended();
  const again = await Dashboard.start(runtime, { port });
  expect(again.url).toBe(`http://127.0.0.1:${port}`);
  await again.close();
});

/** One Server-Sent Event, its data parsed. */
interface DashboardEvent {
  readonly event: string;
  readonly data: any;
}

/**
 * An open `/events` stream, its events parsed as they come. Waiting on it never hangs: an error, an end
 * before what is awaited, or a wait past `timeoutMs` rejects with what was awaited and what came.
 */
async function openEvents(url: string, timeoutMs = 3000) {
  const events: DashboardEvent[] = [];
  let state: { ended: boolean; error?: Error } = { ended: false };
  const listeners = new Set<() => void>();
  const changed = (): void => listeners.forEach((l) => l());
  const { req, res } = await new Promise<{ req: http.ClientRequest; res: http.IncomingMessage }>((resolve, reject) => {
    const req = http.get(url, (res) => resolve({ req, res }));
    req.on('error', reject);
  });
  req.on('error', (e) => ((state = { ...state, error: e }), changed()));
  res.on('error', (e) => ((state = { ...state, error: e }), changed()));
  res.on('end', () => ((state = { ...state, ended: true }), changed()));
  let buffer = '';
  res.on('data', (d: Buffer) => {
    buffer += d.toString();
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(chunk)?.[1];
      const data = /^data: (.*)$/m.exec(chunk)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
    changed();
  });
  /** Resolves once `done()` holds; rejects with `what` on an error, an end without it, or the timeout. */
  const wait = (what: string, done: () => boolean, failsOnEnd: boolean): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const came = (): string => `${events.length} event(s) came: ${events.map((e) => e.event).join(', ') || 'none'}`;
      const finish = (error?: Error): void => {
        listeners.delete(check);
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const check = (): void => {
        if (done()) finish();
        else if (state.error) finish(new Error(`waiting for ${what} on ${url}: ${state.error.message} (${came()})`));
        else if (failsOnEnd && state.ended) finish(new Error(`waiting for ${what} on ${url}: the stream ended (${came()})`));
      };
      const timer = setTimeout(() => finish(new Error(`waiting for ${what} on ${url}: nothing after ${timeoutMs} ms (${came()})`)), timeoutMs);
      listeners.add(check);
      check();
    });
  return {
    headers: res.headers,
    events,
    until: (what: string, predicate: (events: readonly DashboardEvent[]) => boolean) => wait(what, () => predicate(events), true),
    ended: () => wait('the end of the stream', () => state.ended, false),
    close: () => req.destroy(),
  };
}

test("the page names a key group's logical shard by its shard and group, and reads that shard's iterator age", () => {
  // The page is a plain browser script: its two naming helpers, run as they are written there.
  const script = readFileSync('lib/local/dashboard/static/app.js', 'utf8');
  const helpers = ['shardName', 'physicalShard'].map((name) => new RegExp(`^const ${name} = (?:.*;$|[\\s\\S]*?^};$)`, 'm').exec(script)?.[0] ?? `/* ${name} not found */`);
  const { shardName, physicalShard } = runInNewContext(`${helpers.join('\n')}\n({ shardName, physicalShard })`) as {
    shardName: (id: string) => string;
    physicalShard: (id: string) => string;
  };
  expect(['shardId-000000000001', 'shardId-000000000001.g2', 'src-0'].map(shardName)).toEqual(['shard 1', 'shard 1 · group 2', 'src-0']);
  expect(physicalShard('shardId-000000000003.g1')).toBe('shardId-000000000003');
});
