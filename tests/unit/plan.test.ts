/**
 * The planner: how a job is cut into stages (Flink's operator chaining, a keyBy ends a stage unless the
 * source is already partitioned by that key), and the plan-time errors, which name the operator and the problem.
 */
import { soleOutput, type StageOutput } from '../../lib/plan/plan';
import {
  countWindow,
  dynamoSink,
  job,
  kinesisSink,
  kinesisSource,
  logSink,
  planJob,
  sliding,
  tumbling,
  valueState,
  type Duration,
  type JobDefinition,
  type MapAsyncOptions,
  type OperatorNode,
} from 'shardflow';
import { selectKey } from '../../lib/api/source';
import { describePlan } from '../../lib/plan/describe';
import { planErrorOf } from './plan-error-of';

const outputSummary = (o: StageOutput): string | string[] => (o.kind === 'shuffle' ? [o.stream, o.toStage, o.keyById] : o.sink.name);


type Click = { userId: string; clicks: number; ts: number };

const clicks = (options: { partitionedBy?: ((c: Click) => string) | 'userId'; outOfOrderness?: Duration; stream?: string } = {}) =>
  kinesisSource<Click>(options.stream ?? 'clicks', { eventTime: (c) => c.ts, ...(options.partitionedBy && { partitionedBy: options.partitionedBy }), ...(options.outOfOrderness !== undefined && { outOfOrderness: options.outOfOrderness }) });

const byUser = (c: Click): string => c.userId;

/** How a plan error names an operator written in this file: where, then the call as written. */
const written = (call: string): string => expect.stringMatching(new RegExp(`^tests/unit/plan\\.test\\.ts:\\d+ ${call.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

describe('stages', () => {
  test('stateless operators chain; a keyBy ends the stage: source→map→filter→keyBy→window→map→sink is 2 stages', () => {
    const plan = planJob(
      job('chained')
        .source(clicks())
        .map((c) => ({ ...c, clicks: c.clicks * 2 }))
        .filter((c) => c.clicks > 0)
        .keyBy(byUser)
        .window(tumbling('5s'))
        .sum('clicks')
        .map((r) => ({ ...r, doubled: true }))
        .sink(dynamoSink('chained-out')),
    );
    expect(plan.stages).toHaveLength(2);
    const [first, second] = plan.stages;

    expect(first!.id).toBe('s0');
    expect(first!.input).toMatchObject({ kind: 'source', stream: 'clicks', shards: 1 });
    expect(first!.pre).toEqual([]);
    expect(first!.flow.ops.map((op) => op.id)).toEqual(['map#1', 'filter#2']);
    expect(first!.keyed).toBeUndefined();
    expect(first!.keyBy).toBeUndefined();
    expect(soleOutput(first!)).toMatchObject({ kind: 'shuffle', stream: 'chained-s1', toStage: 's1', keyById: 'keyBy#3', keyBy: byUser, lane: '' });

    expect(second!.id).toBe('s1');
    expect(second!.input).toEqual({ kind: 'shuffle', stream: 'chained-s1', shards: 1, lanes: [{ fromStage: 's0', name: '', input: 0 }] });
    expect(second!.pre).toEqual([]);
    expect(second!.keyed).toMatchObject({ kind: 'window', id: 'window#4', assigner: { kind: 'tumbling', sizeMs: 5000 }, allowedLatenessMs: 0, fn: { kind: 'sum', field: 'clicks' } });
    expect(second!.flow.ops.map((op) => op.id)).toEqual(['map#5']);
    expect(soleOutput(second!)).toEqual({ kind: 'sink', sink: dynamoSink('chained-out'), idPrefix: '' });

    expect(plan.streams).toEqual([
      { name: 'clicks', shards: 1, role: 'source' },
      { name: 'chained-s1', shards: 1, role: 'shuffle' },
    ]);
    expect(plan.tables).toEqual([
      { name: 'chained-state', role: 'state' },
      { name: 'chained-dead-letters', role: 'dead-letter' },
      { name: 'chained-out', role: 'sink' },
    ]);
  });

  test('a source declared partitionedBy the keyBy selector needs no shuffle: 1 stage', () => {
    const plan = planJob(job('prepartitioned').source(clicks({ partitionedBy: byUser })).keyBy(byUser).window(tumbling('5s')).count().sink(dynamoSink('counts')));
    expect(plan.stages).toHaveLength(1);
    expect(plan.stages[0]).toMatchObject({ id: 's0', input: { kind: 'source', stream: 'clicks' }, keyBy: byUser, keyed: { kind: 'window', id: 'window#2' }, flow: { next: [{ kind: 'sink' }] } });
    expect(plan.streams).toEqual([{ name: 'clicks', shards: 1, role: 'source' }]);
  });

  test('the same field name counts as the same selector', () => {
    const plan = planJob(job('by-field').source(clicks({ partitionedBy: 'userId' })).keyBy('userId').window(tumbling('5s')).count().sink(dynamoSink('counts')));
    expect(plan.stages).toHaveLength(1);
  });

  test(".parallelism(n) after a keyed operator is its input stream's shard count; the source keeps its own", () => {
    const plan = planJob(job('wide').source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, shards: 13 })).keyBy(byUser).window(tumbling('5s')).count().parallelism(2).sink(dynamoSink('counts')));
    expect(plan.stages.map((s) => s.input.shards)).toEqual([13, 2]);
    expect(plan.streams.map((s) => [s.name, s.shards])).toEqual([['clicks', 13], ['wide-s1', 2]]);
    const processed = planJob(job('p').source(clicks()).keyBy(byUser).process({ state: {}, onEvent: () => {} }).parallelism(4).sink(logSink()));
    expect(processed.stages[1]!.input.shards).toBe(4);
  });

  test('.parallelism(n) where it cannot apply: after a stateless operator, out of range, on a stage that reads the source itself', () => {
    const afterMap = planErrorOf(job('m').source(clicks()).map((c) => c).parallelism(2).keyBy(byUser).window(tumbling('5s')).count().sink(logSink()));
    expect([afterMap.operator, afterMap.problem]).toEqual([written('.map((c) => c)'), '.parallelism(2) follows map']);
    expect(afterMap.hint).toMatch(/after a keyed operator/);
    for (const n of [0, 1.5, 501]) {
      const error = planErrorOf(job('n').source(clicks()).keyBy(byUser).window(tumbling('5s')).count().parallelism(n).sink(logSink()));
      expect([error.operator, error.problem]).toEqual([written(".window(tumbling('5s'))"), `parallelism is ${n}`]);
    }
    const global = planErrorOf(job('g').source(clicks()).windowAll(tumbling('5s')).count().parallelism(4).sink(logSink()));
    expect(global.problem).toBe('parallelism is 4, but a windowAll has one key, so one shard');
    const direct = planErrorOf(job('d').source(clicks({ partitionedBy: byUser })).keyBy(byUser).window(tumbling('5s')).count().parallelism(2).sink(logSink()));
    expect(direct.problem).toMatch(/reads the source directly/);
    expect(direct.hint).toMatch(/source's shards/);
  });

  test('a different selector, even one computing the same key, is a shuffle: 2 stages', () => {
    const plan = planJob(job('other-key').source(clicks({ partitionedBy: byUser })).keyBy((c) => c.userId).window(tumbling('5s')).count().sink(dynamoSink('counts')));
    expect(plan.stages).toHaveLength(2);
    expect(soleOutput(plan.stages[0]!)!.kind).toBe('shuffle');
  });

  test('filters before the keyBy keep a partitioned source in one stage; a map does not (it may change the key)', () => {
    const filtered = planJob(job('filtered').source(clicks({ partitionedBy: byUser })).filter((c) => c.clicks > 0).keyBy(byUser).window(tumbling('5s')).count().sink(dynamoSink('counts')));
    expect(filtered.stages).toHaveLength(1);
    expect(filtered.stages[0]!.pre.map((op) => op.id)).toEqual(['filter#1']);

    const mapped = planJob(job('mapped').source(clicks({ partitionedBy: byUser })).map((c) => c).keyBy(byUser).window(tumbling('5s')).count().sink(dynamoSink('counts')));
    expect(mapped.stages).toHaveLength(2);
  });

  test('a process function is the keyed operator of its stage, with state TTLs in ms', () => {
    const plan = planJob(
      job('totals')
        .source(clicks())
        .keyBy(byUser)
        .process({ state: { total: valueState(0, { ttl: '1h' }) }, onEvent: () => undefined })
        .sink(kinesisSink('totals-out')),
    );
    expect(plan.stages[1]!.keyed).toMatchObject({ kind: 'process', id: 'process#2', ttlMs: { total: 3_600_000 } });
    expect(plan.streams.map((s) => [s.name, s.role])).toEqual([
      ['clicks', 'source'],
      ['totals-s1', 'shuffle'],
      ['totals-out', 'sink'],
    ]);
  });

  test('a late output is one of the plan sinks', () => {
    const plan = planJob(job('with-late').source(clicks()).keyBy(byUser).window(tumbling('5s')).lateOutput(dynamoSink('late-clicks')).count().sink(dynamoSink('counts')));
    expect(plan.sinks.map((s) => s.name)).toEqual(['counts', 'late-clicks']);
    expect(plan.tables.filter((t) => t.role === 'sink').map((t) => t.name)).toEqual(['counts', 'late-clicks']);
  });

  test('keyed stages chain: each keyBy after a keyed operator starts a stage with its own stream, fed by the one before', () => {
    const plan = planJob(
      job('rekey')
        .source(clicks({ partitionedBy: byUser }))
        .keyBy(byUser)
        .window(tumbling('5s'))
        .sum('clicks')
        .filter((r) => r.clicks > 0)
        .keyBy((r) => r.windowEnd)
        .process({ state: {}, onEvent: () => undefined })
        .map((r) => r)
        .keyBy('key')
        .window(tumbling('1m'))
        .lateOutput(dynamoSink('late-totals'))
        .count()
        .sink(dynamoSink('per-minute')),
    );
    expect(plan.stages.map((s) => ({ id: s.id, input: s.input, keyed: s.keyed?.id, post: s.flow.ops.map((o) => o.id), output: outputSummary(soleOutput(s)!) }))).toEqual([
      { id: 's0', input: expect.objectContaining({ kind: 'source', stream: 'clicks' }), keyed: 'window#2', post: ['filter#3'], output: ['rekey-s1', 's1', 'keyBy#4'] },
      { id: 's1', input: { kind: 'shuffle', stream: 'rekey-s1', shards: 1, lanes: [{ fromStage: 's0', name: '', input: 0 }] }, keyed: 'process#5', post: ['map#6'], output: ['rekey-s2', 's2', 'keyBy#7'] },
      { id: 's2', input: { kind: 'shuffle', stream: 'rekey-s2', shards: 1, lanes: [{ fromStage: 's1', name: '', input: 0 }] }, keyed: 'window#8', post: [], output: 'per-minute' },
    ]);
    expect(plan.streams.map((s) => [s.name, s.role])).toEqual([
      ['clicks', 'source'],
      ['rekey-s1', 'shuffle'],
      ['rekey-s2', 'shuffle'],
    ]);
    expect(plan.sinks.map((s) => s.name)).toEqual(['per-minute', 'late-totals']);
  });

  test('shuffle streams after the first keyed stage have as many shards as the source', () => {
    const plan = planJob(
      job('wide')
        .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, shards: 4 }))
        .keyBy(byUser)
        .window(tumbling('5s'))
        .count()
        .keyBy((r) => r.windowEnd)
        .window(tumbling('5s'))
        .max('count')
        .sink(logSink()),
    );
    expect(plan.streams.map((s) => [s.name, s.shards])).toEqual([
      ['clicks', 4],
      ['wide-s1', 4],
      ['wide-s2', 4],
    ]);
  });

  test('windowAll is a keyBy on one key with a one-shard stream: parallelism 1, and plan says so', () => {
    const plan = planJob(
      job('global')
        .source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts, shards: 3 }))
        .keyBy(byUser)
        .window(tumbling('5s'))
        .sum('clicks')
        .windowAll(tumbling('5s'))
        .max('clicks')
        .sink(logSink()),
    );
    const last = plan.stages[2]!;
    expect(last.input).toEqual({ kind: 'shuffle', stream: 'global-s2', shards: 1, lanes: [{ fromStage: 's1', name: '', input: 0 }], global: true });
    const output = soleOutput(plan.stages[1]!)!;
    expect(output.kind === 'shuffle' && [output.keyById, selectKey(output.keyBy, { anything: 1 })]).toEqual(['keyBy#3', 'all']);
    expect(describePlan(plan)).toContain('stage s2  ← shuffle stream global-s2 (1 shard)  windowAll: runs with parallelism 1');
    expect(plan.streams.map((s) => [s.name, s.shards])).toEqual([
      ['clicks', 3],
      ['global-s1', 3],
      ['global-s2', 1],
    ]);
  });

  test('event-time settings come from the source, in ms', () => {
    const plan = planJob(job('times').source(clicks({ outOfOrderness: '2s' })).keyBy(byUser).window(tumbling('5s')).count().sink(logSink()));
    expect(plan.eventTime).toEqual({ outOfOrdernessMs: 2000, idleAfterMs: 60_000 });
  });
});

describe('plan errors name the operator and the problem', () => {
  test('a window without keyBy (a graph built by hand, as plain JavaScript could)', () => {
    const nodes: OperatorNode[] = [
      { kind: 'source', id: 'source#0', source: clicks() as never },
      { kind: 'window', id: 'window#1', assigner: tumbling('5s'), allowedLateness: 0, lateSink: undefined, fn: { kind: 'count' } },
      { kind: 'sink', id: 'sink#2', sink: dynamoSink('counts') },
    ];
    const error = planErrorOf({ kind: 'shardflow-job', name: 'unkeyed', nodes });
    expect(error.operator).toBe('window#1');
    expect(error.problem).toBe('window needs a keyed stream');
    expect(error.message).toBe('window#1: window needs a keyed stream — call .keyBy(...) before .window(...)');
  });

  test('a keyBy followed by something other than a window or process function (built by hand)', () => {
    const nodes: OperatorNode[] = [
      { kind: 'source', id: 'source#0', source: clicks() as never },
      { kind: 'keyBy', id: 'keyBy#1', selector: (r) => (r as Click).userId },
      { kind: 'map', id: 'map#2', fn: (r) => r },
      { kind: 'sink', id: 'sink#3', sink: dynamoSink('out-table') },
    ];
    const error = planErrorOf({ kind: 'shardflow-job', name: 'dangling', nodes });
    expect([error.operator, error.problem]).toEqual(['keyBy#1', 'keyBy is followed by map']);
  });

  test('a sliding size that is not a multiple of the slide', () => {
    const error = planErrorOf(job('slides').source(clicks()).keyBy(byUser).window(sliding('5s', '2s')).count().sink(dynamoSink('counts')));
    expect(error.message).toEqual(written(".window(sliding('5s', '2s')): sliding size 5000ms is not a multiple of slide 2000ms — pick a slide that divides the size"));
  });

  test('two sinks with one name: the main output and the late output', () => {
    const error = planErrorOf(job('clash').source(clicks()).keyBy(byUser).window(tumbling('5s')).lateOutput(dynamoSink('counts')).count().sink(dynamoSink('counts')));
    expect([error.operator, error.problem]).toEqual([written(".sink(dynamoSink('counts'))"), expect.stringMatching(/^two sinks are named 'counts' \(the other is tests\/unit\/plan\.test\.ts:\d+ \.window\(tumbling\('5s'\)\)\)$/)]);
  });

  test.each([
    ['a window size', () => job('d').source(clicks()).keyBy(byUser).window(tumbling('5x' as Duration)).count().sink(logSink()), ".window(tumbling('5x' as Duration))", "tumbling window size '5x' is not a positive duration"],
    ['a sliding slide', () => job('d').source(clicks()).keyBy(byUser).window(sliding('5s', 'soon' as Duration)).count().sink(logSink()), ".window(sliding('5s', 'soon' as Duration))", "sliding window slide 'soon' is not a positive duration"],
    ['outOfOrderness', () => job('d').source(clicks({ outOfOrderness: '5x' as Duration })).keyBy(byUser).window(tumbling('5s')).count().sink(logSink()), ".source(clicks({ outOfOrderness: '5x' as Duration }))", "outOfOrderness '5x' is not a duration: write '500ms', '5s', '2m', '1h', '1d' or a number of milliseconds"],
    ['allowedLateness', () => job('d').source(clicks()).keyBy(byUser).window(tumbling('5s')).allowedLateness('5x' as Duration).count().sink(logSink()), ".window(tumbling('5s'))", "allowedLateness '5x' is not a duration: write '500ms', '5s', '2m', '1h', '1d' or a number of milliseconds"],
    ['a state TTL', () => job('d').source(clicks()).keyBy(byUser).process({ state: { n: valueState(0, { ttl: '-1s' as Duration }) }, onEvent: () => undefined }).sink(logSink()), ".process({ state: { n: valueState(0, { ttl: '-1s' as Duration }) }, onEvent: () => undefined })", "state 'n' ttl '-1s' is not a duration: write '500ms', '5s', '2m', '1h', '1d' or a number of milliseconds"],
  ])('a bad duration string in %s', (_where, build, operator, problem) => {
    const error = planErrorOf(build());
    expect([error.operator, error.problem]).toEqual([written(operator), problem]);
  });

  test.each([
    ['a DynamoDB sink table', () => job('names').source(clicks()).keyBy(byUser).window(tumbling('5s')).count().sink(dynamoSink('ab')), ".sink(dynamoSink('ab'))", "'ab' is not a DynamoDB table name"],
    ['a Kinesis sink stream', () => job('names').source(clicks()).keyBy(byUser).window(tumbling('5s')).count().sink(kinesisSink('has space')), ".sink(kinesisSink('has space'))", "'has space' is not a Kinesis stream name"],
    ['the source stream', () => job('names').source(clicks({ stream: 'clicks/raw' })).keyBy(byUser).window(tumbling('5s')).count().sink(logSink()), ".source(clicks({ stream: 'clicks/raw' }))", "'clicks/raw' is not a Kinesis stream name"],
    ['a late output table', () => job('names').source(clicks()).keyBy(byUser).window(tumbling('5s')).lateOutput(dynamoSink('late clicks')).count().sink(logSink()), ".window(tumbling('5s'))", "'late clicks' is not a DynamoDB table name"],
    ['the job', () => job('9lives').source(clicks()).keyBy(byUser).window(tumbling('5s')).count().sink(logSink()), "job '9lives'", 'the name is not usable in AWS resource names'],
  ])('a bad name: %s', (_what, build, operator, problem) => {
    const error = planErrorOf(build());
    expect([error.operator, error.problem]).toEqual([operator.startsWith('.') ? written(operator) : operator, problem]);
  });

  test("a sink cannot take the job's own tables or its source stream", () => {
    expect(planErrorOf(job('own').source(clicks()).keyBy(byUser).window(tumbling('5s')).count().sink(dynamoSink('own-state'))).problem).toBe("the table 'own-state' is the job's own");
    expect(planErrorOf(job('loop').source(clicks()).keyBy(byUser).window(tumbling('5s')).count().sink(kinesisSink('clicks'))).problem).toBe("the sink writes to the source stream 'clicks'");
  });

  test('a keyed stream without a keyed operator: keyBy or windowAll followed by a sink (built by hand)', () => {
    const nodes: OperatorNode[] = [
      { kind: 'source', id: 'source#0', source: clicks() as never },
      { kind: 'keyBy', id: 'keyBy#1', selector: byUser as never },
      { kind: 'window', id: 'window#2', assigner: tumbling('5s'), allowedLateness: 0, lateSink: undefined, fn: { kind: 'count' } },
      { kind: 'keyBy', id: 'windowAll#3', selector: () => 'all', global: true },
      { kind: 'sink', id: 'sink#4', sink: dynamoSink('out-table') },
    ];
    const error = planErrorOf({ kind: 'shardflow-job', name: 'dangling', nodes });
    expect(error.message).toBe('windowAll#3: windowAll is followed by sink — follow windowAll with a window function, e.g. .count()');
  });

  test('a window after a keyed operator without a keyBy between them names the window', () => {
    const nodes: OperatorNode[] = [
      { kind: 'source', id: 'source#0', source: clicks() as never },
      { kind: 'keyBy', id: 'keyBy#1', selector: byUser as never },
      { kind: 'window', id: 'window#2', assigner: tumbling('5s'), allowedLateness: 0, lateSink: undefined, fn: { kind: 'count' } },
      { kind: 'window', id: 'window#3', assigner: tumbling('1m'), allowedLateness: 0, lateSink: undefined, fn: { kind: 'count' } },
      { kind: 'sink', id: 'sink#4', sink: dynamoSink('out-table') },
    ];
    expect(planErrorOf({ kind: 'shardflow-job', name: 'rewindow', nodes }).message).toBe('window#3: window needs a keyed stream — call .keyBy(...) before .window(...)');
  });
  test('a count window with allowed lateness (count windows have no event time)', () => {
    const error = planErrorOf(job('counted').source(clicks()).keyBy(byUser).window(countWindow(10)).allowedLateness('1s').count().sink(logSink()));
    expect([error.operator, error.problem]).toEqual([written('.window(countWindow(10))'), 'count windows have no event time, so no lateness']);
    const withLateOutput = planErrorOf(job('counted').source(clicks()).keyBy(byUser).window(countWindow(10)).lateOutput(dynamoSink('late-clicks')).count().sink(logSink()));
    expect(withLateOutput.operator).toEqual(written('.window(countWindow(10))'));
  });

  test('count window sizes and slides must be whole and the slide at most the size', () => {
    expect(planErrorOf(job('c').source(clicks()).keyBy(byUser).window(countWindow(0)).count().sink(logSink())).problem).toBe('count window size 0 is not a positive whole number');
    expect(planErrorOf(job('c').source(clicks()).keyBy(byUser).window(countWindow(3, 5)).count().sink(logSink())).problem).toBe('count window slide 5 is not between 1 and the size 3');
  });

  test('a sum over a result field would overwrite it', () => {
    const error = planErrorOf(
      job('overwrite')
        .source(kinesisSource<{ windowStart: number; ts: number; k: string }>('events', { eventTime: (e) => e.ts }))
        .keyBy('k')
        .window(tumbling('5s'))
        .sum('windowStart')
        .sink(logSink()),
    );
    expect([error.operator, error.problem]).toEqual([written(".sum('windowStart')"), "sum('windowStart') would overwrite a result field"]);
  });
});

describe('mapAsync: plan-time errors name the operator', () => {
  type Rec = { id: number; ts: number };
  const recs = kinesisSource<Rec>('recs', { eventTime: (r) => r.ts });
  const withAsync = (options: MapAsyncOptions, fn: ((r: Rec) => Promise<Rec>) | null = async (r) => r): JobDefinition =>
    job('async').source(recs).mapAsync(fn as (r: Rec) => Promise<Rec>, options).sink(dynamoSink('async-out'));

  test.each([
    ['no function', withAsync({}, null), 'mapAsync needs a function'],
    ['concurrency 0', withAsync({ concurrency: 0 }), 'mapAsync concurrency 0 is not a whole number of at least 1'],
    ['concurrency 2.5', withAsync({ concurrency: 2.5 }), 'mapAsync concurrency 2.5 is not a whole number of at least 1'],
    ['timeoutMs 0', withAsync({ timeoutMs: 0 }), 'mapAsync timeoutMs 0 is not a time above 0 ms'],
    ['timeoutMs -5', withAsync({ timeoutMs: -5 }), 'mapAsync timeoutMs -5 is not a time above 0 ms'],
    ['retries -1', withAsync({ retries: -1 }), 'mapAsync retries -1 is not a whole number of at least 0'],
    ['readsTables not a list', withAsync({ readsTables: 'tiers' as unknown as string[] }), 'mapAsync readsTables "tiers" is not a list of DynamoDB table names'],
    ['readsTables with a bad name', withAsync({ readsTables: ['tiers', 'a b'] }), 'mapAsync readsTables ["tiers","a b"] is not a list of DynamoDB table names'],
  ])('%s', (_name, definition, problem) => {
    const error = planErrorOf(definition);
    expect([error.operator, error.problem]).toEqual([expect.stringMatching(/^tests\/unit\/plan\.test\.ts:\d+ \.mapAsync\(/), problem]);
  });

  test("a flatMap after a mapAsync in one stage (its numbering would follow the service's answers); before it is fine", () => {
    const error = planErrorOf(job('fan').source(recs).mapAsync(async (r) => [r, r]).flatMap((rs) => rs).sink(dynamoSink('fan-out')));
    expect([error.operator, error.problem]).toEqual([written('.flatMap((rs) => rs)'), 'flatMap after mapAsync#1 in one stage is not supported']);
    expect(() => planJob(job('fan-before').source(recs).flatMap((r) => [r, r]).mapAsync(async (r) => r).sink(dynamoSink('fan-out')))).not.toThrow();
  });

  test('the plan prints its settings', () => {
    expect(describePlan(planJob(withAsync({ concurrency: 4, timeoutMs: 500, retries: 1 })))).toContain('operators: mapAsync#1 (concurrency 4, timeout 500ms, retries 1)');
    expect(describePlan(planJob(withAsync({ readsTables: ['user-tiers'] })))).toContain('operators: mapAsync#1 (concurrency 10, timeout 5s, retries 0, reads user-tiers)');
  });
});
