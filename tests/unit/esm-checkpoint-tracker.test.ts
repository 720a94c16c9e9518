import { CheckpointTracker } from '../../lib/local/esm/checkpoint-tracker';

const tracker = (seqs: string[], initial?: string): CheckpointTracker => {
  const t = new CheckpointTracker(initial);
  seqs.forEach((s, i) => t.add(s, 1_000 + i));
  return t;
};

describe('checkpoint arithmetic', () => {
  test('the checkpoint starts where the shard resumed', () => {
    expect(new CheckpointTracker().checkpoint).toBeUndefined();
    expect(new CheckpointTracker('42').checkpoint).toBe('42');
  });

  test('records finished out of order move the checkpoint only to the end of the finished prefix', () => {
    const t = tracker(['10', '20', '30', '40', '50']);
    t.markDone(['20', '40']);
    expect(t.checkpoint).toBeUndefined();
    expect(t.pending).toBe(5);
    t.markDone(['10']);
    expect(t.checkpoint).toBe('20');
    expect(t.pending).toBe(3);
    t.markDone(['30']);
    expect(t.checkpoint).toBe('40');
    t.markDone(['50']);
    expect(t.checkpoint).toBe('50');
    expect(t.pending).toBe(0);
  });

  test('the oldest pending arrival is that of the first record not yet checkpointed', () => {
    const t = tracker(['1', '2', '3']);
    expect(t.oldestPendingArrivalMs()).toBe(1_000);
    t.markDone(['1', '3']);
    expect(t.oldestPendingArrivalMs()).toBe(1_001);
    t.markDone(['2']);
    expect(t.oldestPendingArrivalMs()).toBeUndefined();
  });

  test('unknown or repeated sequence numbers change nothing', () => {
    const t = tracker(['1', '2'], '0');
    t.markDone(['99', '1', '1']);
    expect(t.checkpoint).toBe('1');
  });

  test('a long run keeps working after the finished prefix is compacted', () => {
    const t = new CheckpointTracker();
    for (let i = 1; i <= 5_000; i++) t.add(String(i), i);
    for (let i = 1; i <= 4_999; i++) t.markDone([String(i)]);
    expect(t.checkpoint).toBe('4999');
    expect(t.pending).toBe(1);
    t.add('5001', 0);
    t.markDone(['5001', '5000']);
    expect(t.checkpoint).toBe('5001');
    expect(t.pending).toBe(0);
  });
});
