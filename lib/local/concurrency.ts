/**
 * Lambda's concurrency limits, for the local runtime
 * (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html):
 *
 * - an account runs at most `accountLimit` invocations at once (1,000 by default), shared by every
 *   function without a reservation;
 * - a function with reserved concurrency R runs at most R at once, and those R are set aside from the
 *   account's pool for it alone (reserved concurrency 0 stops the function);
 * - Lambda keeps at least 100 of the account's concurrency unreserved ("Lambda requires at least 100
 *   unreserved concurrency"), so reservations may not take more than `accountLimit − 100`.
 *
 * An invoke past a limit is refused at once with TooManyRequestsException: the function never runs.
 * An event source mapping retries it until it runs or its records expire (see the batch runner).
 */

/** Lambda's name for an invoke refused because the function is at its concurrency limit (HTTP 429). */
export const THROTTLE_ERROR_NAME = 'TooManyRequestsException';

/**
 * An invocation Lambda refused for concurrency: the function never ran.
 *
 * @example throw new TooManyRequestsError('click-counts-s0', 'Rate Exceeded. (reserved concurrency 1)')
 */
export class TooManyRequestsError extends Error {
  override readonly name = THROTTLE_ERROR_NAME;
  constructor(
    readonly functionName: string,
    reason: string,
  ) {
    super(`${functionName}: ${reason}`);
  }
}

/** AWS's default concurrency limit per account and region. */
export const DEFAULT_ACCOUNT_CONCURRENCY = 1_000;
/** What Lambda keeps unreserved. */
const MIN_UNRESERVED = 100;

/** The settings, named after Lambda's. */
export interface ConcurrencySettings {
  /** The account's concurrent executions (`ConcurrentExecutions`). Default 1000. */
  readonly accountLimit?: number;
  /** `ReservedConcurrentExecutions` by function name. */
  readonly reserved?: Readonly<Record<string, number>>;
}

/** A setting Lambda would refuse, named with what to do. */
export class ConcurrencyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConcurrencyConfigError';
  }
}

/**
 * The running invocations of an account's functions against their limits. `acquire` before running an
 * invocation, `release` after; a refused `acquire` is a throttle.
 *
 * @example
 * ```ts
 * const limits = new LambdaConcurrency({ accountLimit: 1000, reserved: { 'clicks-s1': 2 } });
 * limits.acquire('clicks-s1'); // throws TooManyRequestsError once two are running
 * try { await run(); } finally { limits.release('clicks-s1'); }
 * ```
 */
export class LambdaConcurrency {
  readonly accountLimit: number;
  private readonly reserved: ReadonlyMap<string, number>;
  private readonly running = new Map<string, number>();
  private unreservedRunning = 0;
  private readonly throttled = new Map<string, number>();

  /** @throws ConcurrencyConfigError for a limit Lambda would refuse. */
  constructor(settings: ConcurrencySettings = {}) {
    this.accountLimit = settings.accountLimit ?? DEFAULT_ACCOUNT_CONCURRENCY;
    if (!Number.isInteger(this.accountLimit) || this.accountLimit < MIN_UNRESERVED) {
      throw new ConcurrencyConfigError(`account concurrency ${this.accountLimit} is out of range — use a whole number of at least ${MIN_UNRESERVED} (AWS's default is ${DEFAULT_ACCOUNT_CONCURRENCY})`);
    }
    this.reserved = new Map(Object.entries(settings.reserved ?? {}));
    let total = 0;
    for (const [fn, r] of this.reserved) {
      if (!Number.isInteger(r) || r < 0) throw new ConcurrencyConfigError(`${fn}: reserved concurrency ${r} is out of range — use a whole number from 0`);
      total += r;
    }
    if (total > this.accountLimit - MIN_UNRESERVED) {
      throw new ConcurrencyConfigError(
        `reserved concurrency ${total} in all leaves less than ${MIN_UNRESERVED} of the account's ${this.accountLimit} unreserved — reserve less, or raise the account limit`,
      );
    }
  }

  /** What functions without a reservation share. */
  get unreservedLimit(): number {
    let total = 0;
    for (const r of this.reserved.values()) total += r;
    return this.accountLimit - total;
  }

  /**
   * Takes one concurrent execution for the function.
   *
   * @throws TooManyRequestsError when the function (or the account's unreserved pool) is at its limit.
   */
  acquire(functionName: string): void {
    const reserved = this.reserved.get(functionName);
    const running = this.running.get(functionName) ?? 0;
    if (reserved !== undefined ? running >= reserved : this.unreservedRunning >= this.unreservedLimit) {
      this.throttled.set(functionName, (this.throttled.get(functionName) ?? 0) + 1);
      const limit = reserved !== undefined ? `reserved concurrency ${reserved}` : `the account's unreserved concurrency ${this.unreservedLimit}`;
      throw new TooManyRequestsError(functionName, `Rate Exceeded. (${running} running, at ${limit})`);
    }
    this.running.set(functionName, running + 1);
    if (reserved === undefined) this.unreservedRunning++;
  }

  /** Gives back an execution taken with {@link acquire}. */
  release(functionName: string): void {
    const running = this.running.get(functionName) ?? 0;
    if (running <= 0) return;
    this.running.set(functionName, running - 1);
    if (!this.reserved.has(functionName)) this.unreservedRunning--;
  }

  /** Invocations refused for the function so far (Lambda's `Throttles`). */
  throttles(functionName: string): number {
    return this.throttled.get(functionName) ?? 0;
  }

  /** Invocations running now (Lambda's `ConcurrentExecutions`). */
  concurrent(functionName: string): number {
    return this.running.get(functionName) ?? 0;
  }
}
