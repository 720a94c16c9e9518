import { forEachConcurrently } from '../../lib/runtime/concurrently';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('forEachConcurrently', () => {
  test('never runs more than the limit at once, and runs every item', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachConcurrently([...Array(20).keys()], 4, async (n) => {
      running += 1;
      peak = Math.max(peak, running);
      await tick();
      done.push(n);
      running -= 1;
    });
    expect(peak).toBe(4);
    expect(done.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
  });

  test('after a failure starts nothing new, lets the items in flight finish, then throws the first error', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = forEachConcurrently([...Array(10).keys()], 3, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('item 1 failed');
      await tick();
      await tick();
      finished.push(n);
    });
    await expect(run).rejects.toThrow('item 1 failed');
    // 0, 1 and 2 start together; 1 fails at once, so its lane takes nothing more and 0 and 2 finish.
    expect(started).toEqual([0, 1, 2]);
    expect(finished.sort()).toEqual([0, 2]);
  });
});
