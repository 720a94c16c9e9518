/**
 * Lambda's batching window for a stream, per lane: it opens when the lane's previous invocation
 * completes (and when the lane starts), and the next batch goes out when it is full or the window has
 * closed ("Lambda […] continues to read records from the event source until it has gathered a full
 * batch, the batching window expires, or the batch reaches the payload limit of 6 MB", with-kinesis.html
 * #kinesis-polling-and-batching). So a record that reaches a lane idle for longer than the window is
 * invoked at once, and under a steady flow invocations are a window apart — not a window after each
 * batch's first record.
 *
 * @example
 * ```ts
 * const window = new BatchingWindow(1, performance.now.bind(performance));
 * if (window.remainingMs() === 0) invoke(); else setTimeout(retry, window.remainingMs());
 * window.restart(); // when the invocation completes
 * ```
 */
export class BatchingWindow {
  private readonly windowMs: number;
  private openedAtMs: number;

  /** @param seconds MaximumBatchingWindowInSeconds (whole seconds). @param now a monotonic clock in ms. */
  constructor(
    seconds: number,
    private readonly now: () => number,
  ) {
    this.windowMs = seconds * 1_000;
    this.openedAtMs = now();
  }

  /** The previous invocation completed: a new window opens now. */
  restart(): void {
    this.openedAtMs = this.now();
  }

  /** Milliseconds until the window closes; 0 once it has. */
  remainingMs(): number {
    return Math.max(0, this.openedAtMs + this.windowMs - this.now());
  }
}
