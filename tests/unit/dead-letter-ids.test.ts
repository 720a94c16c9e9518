import { dynamoSink, job, tumbling } from 'shardflow';
import { harness } from 'shardflow/testing';
import { severalFailuresPerKey, source, clicks } from '../fixtures/failing-jobs';

describe('dead-letter ids', () => {
  test('every failure of one key (windows, a late firing, timers, post-window maps) has its own id', async () => {
    const { windows, timers, postMap } = await severalFailuresPerKey();
    for (const [letters, failures] of [
      [windows, 4],
      [timers, 3],
      [postMap, 3],
    ] as const) {
      expect(letters).toHaveLength(failures);
      const ids = letters.map((l) => l.id);
      for (const id of ids) expect(typeof id).toBe('string');
      expect(new Set(ids).size).toBe(failures);
    }
  });

  test('ids are deterministic: running the same input again gives the same ids (a replay rewrites the same items)', async () => {
    const first = await severalFailuresPerKey();
    const second = await severalFailuresPerKey();
    const ids = (r: typeof first): unknown[] => [...r.windows, ...r.timers, ...r.postMap].map((l) => l.id);
    expect(ids(second)).toEqual(ids(first));
  });

  test('two elements of one record that a window refuses (flatMap fan-out) get different ids', async () => {
    const h = harness(
      job('fan-out')
        .source(source())
        .flatMap((c) => [{ ...c, clicks: 'many' as unknown as number }, { ...c, clicks: 'more' as unknown as number }])
        .keyBy((c) => c.userId)
        .window(tumbling('5s'))
        .sum('clicks')
        .sink(dynamoSink('out')),
    );
    await h.send(clicks('a', 1)[0]);
    expect(h.deadLetters()).toHaveLength(2);
    expect(new Set(h.deadLetters().map((l) => l.id)).size).toBe(2);
  });
});
