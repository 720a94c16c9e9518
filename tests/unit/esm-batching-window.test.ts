import { BatchingWindow } from '../../lib/local/esm/batching-window';

/** A clock the test moves by hand. */
function fakeClock(startMs = 0) {
  let now = startMs;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe("Lambda's batching window (whole seconds, opened when the previous invocation completes)", () => {
  test('a window of 1 s is 1000 ms from when it opened', () => {
    const clock = fakeClock();
    const window = new BatchingWindow(1, clock.now);
    expect(window.remainingMs()).toBe(1000);
    clock.advance(300); // a record arrives 300 ms in: it waits for the rest of the window, not a new one
    expect(window.remainingMs()).toBe(700);
    clock.advance(700);
    expect(window.remainingMs()).toBe(0);
  });

  test('a lane idle for longer than its window invokes the next record at once', () => {
    const clock = fakeClock();
    const window = new BatchingWindow(2, clock.now);
    clock.advance(60_000);
    expect(window.remainingMs()).toBe(0);
  });

  test('a new window opens when the previous invocation completes', () => {
    const clock = fakeClock();
    const window = new BatchingWindow(5, clock.now);
    clock.advance(5_000);
    expect(window.remainingMs()).toBe(0); // invoke…
    clock.advance(1_234); // …the invocation takes 1.234 s
    window.restart();
    expect(window.remainingMs()).toBe(5_000);
    clock.advance(4_999);
    expect(window.remainingMs()).toBe(1);
  });

  test('a window of 0 never waits', () => {
    const clock = fakeClock(42);
    expect(new BatchingWindow(0, clock.now).remainingMs()).toBe(0);
  });
});
