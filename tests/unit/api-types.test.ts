/**
 * Types flow through the builder: `npm test` typechecks this file, and each `@ts-expect-error` fails the
 * typecheck if the line it marks ever compiles. The runtime assertions check the same jobs still plan.
 */
import { countWindow, dynamoSink, job, kinesisSource, planJob, sliding, tumbling, valueState, type WindowMeta } from 'shardflow';

type Click = { userId: string; clicks: number; ts: number; page: string };
const clicks = () => job('types').source(kinesisSource<Click>('clicks', { eventTime: (c) => c.ts }));

test('numeric window functions accept numeric fields only', () => {
  const windowed = clicks().keyBy((c) => c.userId).window(tumbling('5s'));
  const summed = windowed.sum('clicks');
  // @ts-expect-error — userId is a string
  windowed.sum('userId');
  // @ts-expect-error — page is a string
  windowed.avg('page');
  // @ts-expect-error — not a field at all
  windowed.max('nope');
  expect(planJob(summed.sink(dynamoSink('out'))).stages).toHaveLength(2);
});

test('a window result carries key, window bounds and the aggregated field, typed', () => {
  const out = clicks()
    .keyBy((c) => c.userId)
    .window(sliding('10s', '5s'))
    .sum('clicks')
    .map((r) => {
      const meta: WindowMeta = r;
      const total: number = r.clicks;
      // @ts-expect-error — the result has no page field
      void r.page;
      return { user: meta.key, total, from: r.windowStart };
    });
  expect(planJob(out.sink(dynamoSink('out'))).stages[1]!.flow.ops).toHaveLength(1);
});

test('count() gives count, aggregate() gives what result() returns, keyed state is typed by its descriptor', () => {
  clicks()
    .keyBy('userId')
    .window(countWindow(10))
    .count()
    .map((r) => r.count + 1);
  clicks()
    .keyBy((c) => c.userId)
    .window(tumbling('1m'))
    .aggregate({ create: () => ({ n: 0 }), add: (a, c) => ({ n: a.n + c.clicks }), merge: (a, b) => ({ n: a.n + b.n }), result: (a) => ({ total: a.n }) })
    .map((r) => r.total.toFixed(0));
  const totals = clicks()
    .keyBy((c) => c.userId)
    .process({
      state: { count: valueState(0) },
      onEvent(click, ctx) {
        const n: number = ctx.state.count.value();
        // @ts-expect-error — the state holds numbers
        ctx.state.count.update('many');
        ctx.state.count.update(n + click.clicks);
        ctx.emit({ userId: click.userId, n });
      },
    })
    .map((r) => r.n);
  // @ts-expect-error — keyBy takes a field name of the record or a function
  clicks().keyBy('nope');
  expect(planJob(totals.sink(dynamoSink('totals'))).stages).toHaveLength(2);
});
