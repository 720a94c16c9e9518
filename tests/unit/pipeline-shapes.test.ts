/**
 * Jobs of any shape on the public harness: several sources, union, a stream going several ways, connect
 * with a co-process function, side outputs — and the plan-time errors for shapes that cannot run.
 */
import { dynamoSink, job, kinesisSource, logSink, outputTag, planJob, tumbling, valueState, type OperatorNode } from 'shardflow';
import { harness } from 'shardflow/testing';
import { describePlan } from '../../lib/plan/describe';
import { PlanError } from '../../lib/plan/plan-error';

interface Click {
  userId: string;
  ts: number;
}
interface Tx {
  userId: string;
  amount: number;
  ts: number;
}
interface Rule {
  userId: string;
  limit: number;
  ts: number;
}

const clicksOn = (stream: string) => kinesisSource<Click>(stream, { eventTime: (c) => c.ts });

function planErrorOf(build: () => unknown): PlanError {
  try {
    planJob(build() as never);
  } catch (e) {
    if (e instanceof PlanError) return e;
    throw e;
  }
  throw new Error('the job planned without error');
}

describe('union', () => {
  const unioned = () => {
    const j = job('regions');
    const eu = j.source(clicksOn('clicks-eu'));
    const us = j.source(clicksOn('clicks-us'));
    eu.union(us)
      .keyBy((c) => c.userId)
      .window(tumbling('5s'))
      .count()
      .sink(dynamoSink('counts'));
    return j;
  };

  test('two sources into one keyed stage: one stage per source, both on its stream as lanes of their own', () => {
    const plan = planJob(unioned());
    expect(plan.stages.map((s) => [s.id, s.input.stream])).toEqual([
      ['s0', 'clicks-eu'],
      ['s1', 'clicks-us'],
      ['s2', 'regions-s2'],
    ]);
    expect(plan.stages[2]!.input).toMatchObject({ kind: 'shuffle', lanes: [{ fromStage: 's0', name: 's0.0', input: 0 }, { fromStage: 's1', name: 's1.0', input: 0 }] });
    expect(plan.streams.map((s) => [s.name, s.role])).toEqual([
      ['clicks-eu', 'source'],
      ['clicks-us', 'source'],
      ['regions-s2', 'shuffle'],
    ]);
  });

  test("counts both sources' records, and the watermark waits for the slower input (the lowest of the two)", async () => {
    const h = harness(unioned(), { watermarks: 'strategy' });
    await h.sendBatch([{ userId: 'a', ts: 1000 }, { userId: 'a', ts: 2000 }, { userId: 'a', ts: 12_000 }], { source: 'clicks-eu' });
    // The EU input is at 12 s, the US input has said nothing: the window [0, 5 s) must wait.
    expect(h.results()).toEqual([]);
    await h.sendBatch([{ userId: 'a', ts: 3000 }], { source: 'clicks-us' });
    // The US input at 3 s holds the watermark below the window's end.
    expect(h.results()).toEqual([]);
    await h.sendBatch([{ userId: 'b', ts: 11_000 }], { source: 'clicks-us' });
    expect(h.results()).toEqual([{ key: 'a', windowStart: 0, windowEnd: 5000, count: 3 }]);
    await h.finish();
    expect(h.table()).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 5000, count: 3 },
      { key: 'a', windowStart: 10_000, windowEnd: 15_000, count: 1 },
      { key: 'b', windowStart: 10_000, windowEnd: 15_000, count: 1 },
    ]);
  });

  test('a stream and a copy of itself into one sink: both routes arrive, their ids apart', async () => {
    const j = job('twice');
    const clicks = j.source(clicksOn('clicks'));
    clicks.union(clicks.map((c) => ({ ...c, userId: `${c.userId}-copy` }))).sink(logSink('out'));
    const h = harness(j);
    await h.send({ userId: 'a', ts: 1 });
    const out = h.outputs('out');
    expect(out.map((o) => o.record.userId).sort()).toEqual(['a', 'a-copy']);
    expect(new Set(out.map((o) => o.id)).size).toBe(2);
  });
});

describe('a stream going several ways', () => {
  test('one source to two sinks and a keyed stage: every record reaches each', async () => {
    const j = job('fan');
    const clicks = j.source(clicksOn('clicks')).map((c) => ({ ...c, seen: true }));
    clicks.sink(logSink('raw'));
    clicks.filter((c) => c.userId !== 'bot').sink(logSink('humans'));
    clicks
      .keyBy((c) => c.userId)
      .window(tumbling('5s'))
      .count()
      .sink(logSink('counts'));
    const plan = planJob(j);
    expect(plan.stages).toHaveLength(2);
    expect(describePlan(plan)).toContain(['  outputs:', '    → sink log:raw', '    → filter#3 → sink log:humans', '    → keyBy#5 → stream fan-s1'].join('\n'));
    const h = harness(j);
    await h.sendBatch([
      { userId: 'a', ts: 1000 },
      { userId: 'bot', ts: 2000 },
    ]);
    await h.finish();
    expect(h.results('raw')).toEqual([
      { userId: 'a', ts: 1000, seen: true },
      { userId: 'bot', ts: 2000, seen: true },
    ]);
    expect(h.results('humans')).toEqual([{ userId: 'a', ts: 1000, seen: true }]);
    expect(h.table('counts')).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 5000, count: 1 },
      { key: 'bot', windowStart: 0, windowEnd: 5000, count: 1 },
    ]);
  });
});

describe('branches', () => {
  test('a keyed stream feeding two windows: a keyed stage each, both fed by the source stage', async () => {
    const j = job('two-windows');
    const keyed = j
      .source(clicksOn('clicks'))
      .keyBy((c) => c.userId);
    keyed.window(tumbling('5s')).count().sink(logSink('per-5s'));
    keyed.window(tumbling('10s')).count().sink(logSink('per-10s'));
    const plan = planJob(j);
    expect(plan.stages.map((s) => [s.id, s.input.stream])).toEqual([
      ['s0', 'clicks'],
      ['s1', 'two-windows-s1'],
      ['s2', 'two-windows-s2'],
    ]);
    const h = harness(j);
    await h.sendBatch([
      { userId: 'a', ts: 1000 },
      { userId: 'a', ts: 7000 },
    ]);
    await h.finish();
    expect(h.table('per-5s')).toEqual([
      { key: 'a', windowStart: 0, windowEnd: 5000, count: 1 },
      { key: 'a', windowStart: 5000, windowEnd: 10_000, count: 1 },
    ]);
    expect(h.table('per-10s')).toEqual([{ key: 'a', windowStart: 0, windowEnd: 10_000, count: 2 }]);
  });

  test('a branch that reaches no sink is left out of the plan, as Flink leaves it out', () => {
    const j = job('pruned');
    const s = j.source(clicksOn('clicks'));
    s.map((c) => c).sink(logSink());
    s.keyBy((c) => c.userId)
      .window(tumbling('5s'))
      .count();
    const plan = planJob(j);
    expect(plan.stages).toHaveLength(1);
    expect(describePlan(plan)).toContain('output:    sink log:log');
  });
});

describe('connect: a co-process function with state shared across two inputs', () => {
  const approved = outputTag<Tx>('approved');
  const limits = () => {
    const j = job('limits');
    const tx = j.source(kinesisSource<Tx>('tx', { eventTime: (t) => t.ts }));
    const rules = j.source(kinesisSource<Rule>('rules', { eventTime: (r) => r.ts }));
    const alerts = tx
      .connect(rules)
      .keyBy(
        (t) => t.userId,
        (r) => r.userId,
      )
      .process({
        state: { limit: valueState<number | null>(null) },
        onEvent1(t, ctx) {
          const limit = ctx.state.limit.value();
          if (limit !== null && t.amount > limit) ctx.emit({ userId: t.userId, amount: t.amount, limit });
          else ctx.output(approved, t);
        },
        onEvent2(r, ctx) {
          if (r.limit < 0) throw new Error(`limit ${r.limit} is negative`);
          ctx.state.limit.update(r.limit);
        },
      });
    alerts.sink(dynamoSink('alerts'));
    alerts.sideOutput(approved).sink(logSink('approved'));
    return j;
  };

  test('rules from one stream change how the other is judged, at run time; side output records reach their sink', async () => {
    const h = harness(limits());
    await h.send({ userId: 'u', amount: 50, ts: 1 }, { source: 'tx' });
    await h.send({ userId: 'u', limit: 100, ts: 2 }, { source: 'rules' });
    await h.send({ userId: 'u', amount: 150, ts: 3 }, { source: 'tx' });
    await h.send({ userId: 'v', amount: 150, ts: 4 }, { source: 'tx' });
    await h.send({ userId: 'u', limit: 200, ts: 5 }, { source: 'rules' });
    await h.send({ userId: 'u', amount: 150, ts: 6 }, { source: 'tx' });
    expect(h.results('alerts')).toEqual([{ userId: 'u', amount: 150, limit: 100 }]);
    expect(h.results('approved').map((t) => [t.userId, t.ts])).toEqual([
      ['u', 1],
      ['v', 4],
      ['u', 6],
    ]);
  });

  test('a handler that throws sends its record to the dead letters, naming onEvent2; the key keeps its state', async () => {
    const h = harness(limits());
    await h.send({ userId: 'u', limit: 100, ts: 1 }, { source: 'rules' });
    await h.send({ userId: 'u', limit: -1, ts: 2 }, { source: 'rules' });
    await h.send({ userId: 'u', amount: 150, ts: 3 }, { source: 'tx' });
    expect(h.deadLetters().map((d) => [d.operator, d.reason])).toEqual([['coProcess#4', 'coProcess#4 onEvent2 threw: limit -1 is negative']]);
    expect(h.results('alerts')).toEqual([{ userId: 'u', amount: 150, limit: 100 }]);
  });

  test('plan shows the two inputs and the side output', () => {
    const text = describePlan(planJob(limits()));
    expect(text).toContain('stage s2  ← shuffle stream limits-s2 (1 shard)  from s0 (input 1), s1 (input 2)');
    expect(text).toContain('coProcess#4 coProcess(state: limit)');
    expect(text).toContain("  side output 'approved':\n    → sink log:approved");
  });
});

describe('shapes that cannot run fail at plan time, naming the operator', () => {
  const clicks = (j: ReturnType<typeof job>, stream = 'clicks') => j.source(clicksOn(stream));

  test('two sources on one stream', () => {
    const j = job('twice');
    clicks(j).sink(logSink('a'));
    clicks(j).sink(logSink('b'));
    expect(planErrorOf(() => j).problem).toMatch(/^the stream 'clicks' is read by another source too/);
  });

  test('an interval join whose lower bound is above its upper bound', () => {
    const j = job('bounds');
    clicks(j, 'a')
      .keyBy((c) => c.userId)
      .intervalJoin(clicks(j, 'b').keyBy((c) => c.userId))
      .between('5s', '-5s')
      .process((l, r) => ({ l, r }))
      .sink(logSink());
    expect(planErrorOf(() => j).problem).toBe('the lower bound 5000 ms is above the upper bound -5000 ms');
  });

  test('a window join over session windows', () => {
    const j = job('sessions');
    clicks(j, 'a')
      .join(clicks(j, 'b'))
      .where((c) => c.userId)
      .equalTo((c) => c.userId)
      .window({ kind: 'session', gapMs: 1000 })
      .apply((l, r) => ({ l, r }))
      .sink(logSink());
    expect(planErrorOf(() => j).problem).toBe('a window join over session windows is not supported');
  });

  test('a co-process function over streams not keyed (built by hand)', () => {
    const nodes: OperatorNode[] = [
      { kind: 'source', id: 'source#0', source: clicksOn('a') as never },
      { kind: 'source', id: 'source#1', source: clicksOn('b') as never },
      { kind: 'coProcess', id: 'coProcess#2', inputs: ['source#0', 'source#1'], fn: { state: {}, onEvent1: () => undefined, onEvent2: () => undefined } },
      { kind: 'sink', id: 'sink#3', sink: logSink() },
    ];
    expect(planErrorOf(() => ({ kind: 'shardflow-job', name: 'unkeyed', nodes })).message).toBe(
      'coProcess#2: coProcess needs two keyed streams — write a.connect(b).keyBy(ka, kb).process(...), a.keyBy(k).intervalJoin(b.keyBy(k)) or a.join(b).where(ka).equalTo(kb)',
    );
  });

  test('a side output of a window', () => {
    const j = job('side');
    const counts = clicks(j)
      .keyBy((c) => c.userId)
      .window(tumbling('5s'))
      .count();
    counts.sink(logSink('a'));
    counts.sideOutput(outputTag('late')).sink(logSink('b'));
    expect(planErrorOf(() => j).problem).toBe('sideOutput follows no process function or interval join');
  });

  test('streams of two jobs cannot meet', () => {
    const a = clicks(job('a'));
    const b = clicks(job('b'));
    expect(() => a.union(b)).toThrow("streams of job 'b' cannot meet streams of job 'a': build both from one job(...)");
  });
});
