/**
 * Upgrades with state: what a new version of a job keeps, starts anew, drops or must not do, decided from
 * the two versions' state layouts (Flink maps a savepoint's state to operators by uid the same way).
 */
import { dynamoSink, job, kinesisSource, planJob, tumbling, valueState, type DataStream, type StageSettings } from 'shardflow';
import { compareLayouts, stateLayout, upgradeChanges, upgradeRefusal } from '../../lib/plan/state-layout';
import { PlanError } from '../../lib/plan/plan-error';

type Click = { userId: string; clicks: number; ts: number };
const clicks = (name = 'clicks-job'): DataStream<Click> => job(name).source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts }));

const v1 = () =>
  clicks()
    .keyBy((c) => c.userId)
    .window(tumbling('5s'))
    .sum('clicks')
    .sink(dynamoSink('counts'));

const layoutOf = (j: Parameters<typeof planJob>[0]) => stateLayout(planJob(j));

test('a stateless operator added: every state kept', () => {
  const v2 = clicks()
    .filter((c) => c.clicks > 0)
    .keyBy((c) => c.userId)
    .window(tumbling('5s'))
    .sum('clicks')
    .sink(dynamoSink('counts'));
  const changes = compareLayouts(layoutOf(v1()), layoutOf(v2));
  expect(changes).toEqual([{ stateId: 's1', verdict: 'kept', detail: 'window#3 tumbling(5s).sum(clicks)' }]);
  expect(upgradeRefusal(changes, false)).toBeUndefined();
});

test('a changed window size or key is refused, naming the state and the change', () => {
  const bigger = clicks()
    .keyBy((c) => c.userId)
    .window(tumbling('10s'))
    .sum('clicks')
    .sink(dynamoSink('counts'));
  expect(upgradeRefusal(compareLayouts(layoutOf(v1()), layoutOf(bigger)), true)).toBe(
    "the state 's1' was tumbling(5s).sum(clicks), now tumbling(10s).sum(clicks) — give the changed operator a new .uid(...) (its old state is then dropped), or start from empty state",
  );
  const rekeyed = clicks()
    .keyBy('userId')
    .window(tumbling('5s'))
    .sum('clicks')
    .sink(dynamoSink('counts'));
  // A key function is compared by its text (as compiled): here a function, then a field name.
  expect(compareLayouts(layoutOf(v1()), layoutOf(rekeyed))).toEqual([{ stateId: 's1', verdict: 'incompatible', detail: expect.stringMatching(/^keyed by \(c\) ?=> ?c\.userId, now by 'userId'$/) }]);
});

test('a keyed stage added before another renumbers the stages: the uid finds the state, but it would move to another stage and read another input — refused, saying how to keep it; without a uid, refused as another state', () => {
  const withUid = (prefix: boolean) => {
    let s: DataStream<Click> = clicks();
    if (prefix) {
      s = s
        .keyBy((c) => c.userId)
        .process({ state: { seen: valueState(false) }, onEvent: (c: Click, ctx) => (ctx.state.seen.value() ? undefined : (ctx.state.seen.update(true), ctx.emit(c))) })
        .map((r) => r as unknown as Click);
    }
    return s
      .keyBy((c) => c.userId)
      .window(tumbling('5s'))
      .sum('clicks')
      .uid('clicks-per-user')
      .sink(dynamoSink('counts'));
  };
  const moved = compareLayouts(layoutOf(withUid(false)), layoutOf(withUid(true)));
  // It would read another stream, and its shards kept each source shard's position under the bare shard id:
  // behind the process stage the same names are that stage's shards, whose positions are in another stream.
  expect(moved).toEqual([
    { stateId: 's1', verdict: 'new', detail: expect.any(String) },
    { stateId: 'clicks-per-user', verdict: 'incompatible', detail: 'moves from stage s1 to s2: it would read another stream in another function, and what the old stream holds would be lost', remedy: expect.stringMatching(/^declare new sources and keyed operators after the ones the running version has/) },
  ]);
  expect(upgradeRefusal(moved, true)).toBe(
    "the state 'clicks-per-user' moves from stage s1 to s2: it would read another stream in another function, and what the old stream holds would be lost — declare new sources and keyed operators after the ones the running version has (stages are numbered in the order the job declares them), and feed a kept operator no other input; or give it a new .uid(...) (its old state is then dropped), or start from empty state (docs/operations.md, \"Upgrade with state\")",
  );

  const noUid = (prefix: boolean) => {
    let s: DataStream<Click> = clicks();
    if (prefix) s = s.keyBy((c) => c.userId).process({ state: { seen: valueState(false) }, onEvent: (c: Click, ctx) => ctx.emit(c) }).map((r) => r as unknown as Click);
    return s.keyBy((c) => c.userId).window(tumbling('5s')).sum('clicks').sink(dynamoSink('counts'));
  };
  // Without a uid the window's state is the stage's, s1, which is now the process function's: refused.
  expect(upgradeRefusal(compareLayouts(layoutOf(noUid(false)), layoutOf(noUid(true))), true)).toMatch(/^the state 's1' was tumbling\(5s\)\.sum\(clicks\), now process\(seen: value\)/);
});

test("a kept operator stays in its stage and reads the same inputs: new sources and operators declared after the old ones keep it; a source declared before, or another input, is refused", () => {
  const union = (extra?: 'before' | 'after' | 'without-b') => {
    const j = job('union-job');
    const source = (name: string) => j.source(kinesisSource<Click>(name, { eventTime: (c) => c.ts }));
    const maxes = () => source('extra').keyBy((c) => c.userId).window(tumbling('5s')).max('clicks').uid('maxes').sink(dynamoSink('maxes'));
    if (extra === 'before') maxes();
    const [a, b] = [source('a'), source('b')];
    if (extra === 'without-b') b.sink(dynamoSink('b-copies'));
    (extra === 'without-b' ? a : a.union(b)).keyBy((c) => c.userId).window(tumbling('5s')).sum('clicks').uid('sums').sink(dynamoSink('counts'));
    if (extra === 'after') maxes();
    return j;
  };
  const v1 = layoutOf(union());
  expect(v1.operators).toEqual([expect.objectContaining({ stateId: 'sums', stage: 's2', inputs: ['s0.0 ← source a', 's1.0 ← source b'] })]);
  expect(compareLayouts(v1, layoutOf(union('after')))).toEqual([
    { stateId: 'sums', verdict: 'kept', detail: expect.any(String) },
    { stateId: 'maxes', verdict: 'new', detail: expect.any(String) },
  ]);
  // Declared first, the new source and its window are stages s0 and s1: the union's stage is s4, its lanes s2.0 and s3.0.
  expect(compareLayouts(v1, layoutOf(union('before')))[1]).toEqual({ stateId: 'sums', verdict: 'incompatible', detail: expect.stringMatching(/^moves from stage s2 to s4: /), remedy: expect.any(String) });
  // The same stage, one input fewer: a's shards would send as bare shard ids, b's old positions held for ever.
  expect(compareLayouts(v1, layoutOf(union('without-b')))).toEqual([
    {
      stateId: 'sums',
      verdict: 'incompatible',
      detail: 'read s0.0 ← source a, s1.0 ← source b; now ← source a: the positions its state keeps per input would be misread',
      remedy: expect.any(String),
    },
  ]);
  // One lane, another source stream: its shards' names are the same bare shard ids, of another stream.
  const from = (stream: string) => job('one').source(kinesisSource<Click>(stream, { eventTime: (c) => c.ts })).keyBy((c) => c.userId).window(tumbling('5s')).sum('clicks').uid('sums').sink(dynamoSink('counts'));
  expect(compareLayouts(layoutOf(from('clicks')), layoutOf(from('taps')))[0]).toMatchObject({ verdict: 'incompatible', detail: 'read ← source clicks; now ← source taps: the positions its state keeps per input would be misread' });
  // A layout recorded by an earlier shardflow has neither: not compared.
  const { stage: _s, inputs: _i, ...earlier } = v1.operators[0]!;
  expect(compareLayouts({ ...v1, operators: [earlier] }, layoutOf(union('before')))[1]).toMatchObject({ stateId: 'sums', verdict: 'kept' });
});

test('a keyed stage an upgrade adds behind the source is told it waits for every source shard only when no kept stage reads that source; not on a first deploy', () => {
  const v2 = () => {
    const j = job('clicks-job');
    const perUser = j.source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts })).keyBy((c) => c.userId);
    const sums = perUser.window(tumbling('5s')).sum('clicks').uid('sums');
    sums.sink(dynamoSink('counts'));
    perUser.window(tumbling('5s')).max('clicks').uid('maxes').sink(dynamoSink('maxes'));
    sums.keyBy((r) => r.windowStart).window(tumbling('5s')).sum('clicks').uid('totals').sink(dynamoSink('totals'));
    return j;
  };
  const startsEmpty = /: starts with no state$/;
  // The kept `sums` reads the source: its logs say where the running version had read, and `maxes` starts there.
  const v1WithUid = clicks().keyBy((c) => c.userId).window(tumbling('5s')).sum('clicks').uid('sums').sink(dynamoSink('counts'));
  expect(upgradeChanges(layoutOf(v1WithUid), planJob(v2()))).toEqual([
    { stateId: 'sums', verdict: 'kept', detail: expect.not.stringContaining('fires once') },
    { stateId: 'maxes', verdict: 'new', detail: expect.stringMatching(startsEmpty) },
    { stateId: 'totals', verdict: 'new', detail: expect.stringMatching(startsEmpty) },
  ]);
  // No kept stage reads the source (the old operator's state is dropped): the new ones behind it wait for each of its shards.
  const v1OtherUid = clicks().keyBy((c) => c.userId).window(tumbling('5s')).sum('clicks').uid('old-sums').sink(dynamoSink('counts'));
  const waits = '; no kept keyed operator reads clicks to say how far it was read: it fires once every shard of it has sent a record since the upgrade (put one on a quiet shard: docs/operations.md, "Upgrade with state")';
  expect(upgradeChanges(layoutOf(v1OtherUid), planJob(v2()))).toEqual([
    { stateId: 'sums', verdict: 'new', detail: `window#2 tumbling(5s).sum(clicks): starts with no state${waits}` },
    { stateId: 'maxes', verdict: 'new', detail: `window#4 tumbling(5s).max(clicks): starts with no state${waits}` },
    { stateId: 'totals', verdict: 'new', detail: expect.stringMatching(startsEmpty) },
    { stateId: 'old-sums', verdict: 'dropped', detail: expect.any(String) },
  ]);
  // A first deploy: nothing was read before, nothing waits.
  expect(upgradeChanges(undefined, planJob(v2())).map((c) => startsEmpty.test(c.detail))).toEqual([true, true, true]);
});

test('a removed keyed operator drops its state: refused unless --allow-non-restored-state', () => {
  const stateless = clicks().map((c) => ({ ...c, seen: true })).sink(dynamoSink('counts'));
  const changes = compareLayouts(layoutOf(v1()), layoutOf(stateless));
  expect(changes).toEqual([{ stateId: 's1', verdict: 'dropped', detail: 'window#2 tumbling(5s).sum(clicks): no operator of the new version has this state' }]);
  expect(upgradeRefusal(changes, false)).toBe("the state 's1' (window#2 tumbling(5s).sum(clicks): no operator of the new version has this state) would be dropped — pass --allow-non-restored-state to go ahead without it (Flink's flag)");
  expect(upgradeRefusal(changes, true)).toBeUndefined();
});

test('a uid is checked at plan time: after a keyed operator, usable in a name, unique', () => {
  const planError = (build: () => unknown): string => {
    try {
      planJob(build() as never);
    } catch (e) {
      if (e instanceof PlanError) return e.problem;
      throw e;
    }
    return 'planned';
  };
  expect(planError(() => clicks().map((c) => c).uid('x').sink(dynamoSink('counts')))).toBe(".uid('x') follows map");
  expect(planError(() => clicks().keyBy((c) => c.userId).window(tumbling('5s')).count().uid('s2').sink(dynamoSink('counts')))).toBe("uid 's2' is not usable");
  expect(planError(() => clicks().keyBy((c) => c.userId).window(tumbling('5s')).count().uid('a#b').sink(dynamoSink('counts')))).toBe("uid 'a#b' is not usable");
  const j = job('twice');
  const s = j.source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts })).keyBy((c) => c.userId);
  s.window(tumbling('5s')).count().uid('same').sink(dynamoSink('a-table'));
  s.window(tumbling('10s')).count().uid('same').sink(dynamoSink('b-table'));
  expect(planError(() => j)).toBe("two keyed operators have the uid 'same' (the other is window#2)");
  const named = planJob(clicks().keyBy((c) => c.userId).window(tumbling('5s')).count().uid('per-user').sink(dynamoSink('counts')));
  expect(named.stages[1]).toMatchObject({ id: 's1', stateId: 'per-user' });
});

test('key groups: a keyed stage with more than one is in the layout (schema version 2); its parallelizationFactor may change within them, its keyGroups may not, and the refusal names the stage and what to do', () => {
  const withGroups = (settings: StageSettings) =>
    clicks()
      .keyBy((c) => c.userId)
      .window(tumbling('5s'))
      .sum('clicks')
      .settings(settings)
      .sink(dynamoSink('counts'));
  // P = 1 writes the layout it always did.
  expect(layoutOf(v1())).toEqual(layoutOf(withGroups({ parallelizationFactor: 1 })));
  expect(layoutOf(v1()).version).toBe(1);
  expect(layoutOf(v1()).operators[0]).not.toHaveProperty('keyGroups');
  const three = layoutOf(withGroups({ parallelizationFactor: 3 }));
  expect(three.version).toBe(2);
  expect(three.operators[0]).toMatchObject({ stateId: 's1', keyGroups: 3 });
  const kept = [{ stateId: 's1', verdict: 'kept', detail: expect.stringMatching(/^window#\d+ tumbling\(5s\)\.sum\(clicks\)$/) }];
  expect(compareLayouts(three, layoutOf(withGroups({ parallelizationFactor: 3 })))).toEqual(kept);
  // Four key groups, the factor 2 → 4 → 1: the logs stay where they are.
  const four = (p: number) => layoutOf(withGroups({ keyGroups: 4, parallelizationFactor: p }));
  expect(compareLayouts(four(2), four(4))).toEqual(kept);
  expect(compareLayouts(four(4), four(1))).toEqual(kept);
  // The default keyGroups is the factor, so P 4 alone matches K 4 at P 2.
  expect(compareLayouts(four(2), layoutOf(withGroups({ parallelizationFactor: 4 })))).toEqual(kept);
  for (const [before, after] of [[layoutOf(v1()), three], [three, four(3)], [four(2), layoutOf(withGroups({ parallelizationFactor: 2 }))]] as const) {
    const refusal = upgradeRefusal(compareLayouts(before, after), true);
    expect(refusal).toMatch(/^the state 's1' is kept in \d key group\(s\) per shard, now \d \(keyGroups \d → \d on window#\d+'s stage\): the state would not be found — set keyGroups: \d \(parallelizationFactor may change up to it\), or reshard its stream instead/);
  }
});
