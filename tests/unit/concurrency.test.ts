import { ConcurrencyConfigError, LambdaConcurrency, TooManyRequestsError } from '../../lib/local/concurrency';

describe("Lambda's concurrency limits", () => {
  test('a function with reserved concurrency runs at most that many at once; the next is throttled', () => {
    const limits = new LambdaConcurrency({ reserved: { s1: 2 } });
    limits.acquire('s1');
    limits.acquire('s1');
    expect(() => limits.acquire('s1')).toThrow(TooManyRequestsError);
    expect(() => limits.acquire('s1')).toThrow(/^s1: Rate Exceeded\. \(2 running, at reserved concurrency 2\)$/);
    expect(limits.throttles('s1')).toBe(2);
    limits.release('s1');
    expect(() => limits.acquire('s1')).not.toThrow();
    expect(limits.concurrent('s1')).toBe(2);
  });

  test('functions without a reservation share what the reservations leave of the account', () => {
    const limits = new LambdaConcurrency({ accountLimit: 102, reserved: { s1: 1 } });
    expect(limits.unreservedLimit).toBe(101);
    for (let i = 0; i < 100; i++) limits.acquire(i % 2 === 0 ? 's0' : 'watermark');
    limits.acquire('s0');
    expect(() => limits.acquire('watermark')).toThrow(/at the account's unreserved concurrency 101/);
    // the reservation is the reserved function's alone
    expect(() => limits.acquire('s1')).not.toThrow();
  });

  test('reserved concurrency 0 stops the function', () => {
    const limits = new LambdaConcurrency({ reserved: { s0: 0 } });
    expect(() => limits.acquire('s0')).toThrow(TooManyRequestsError);
  });

  test('Lambda refuses reservations that leave less than 100 unreserved, and so do we', () => {
    expect(() => new LambdaConcurrency({ accountLimit: 1000, reserved: { a: 500, b: 401 } })).toThrow(ConcurrencyConfigError);
    expect(() => new LambdaConcurrency({ accountLimit: 1000, reserved: { a: 500, b: 400 } })).not.toThrow();
    expect(() => new LambdaConcurrency({ accountLimit: 50 })).toThrow(/account concurrency 50 is out of range/);
    expect(() => new LambdaConcurrency({ reserved: { a: -1 } })).toThrow(/a: reserved concurrency -1/);
  });
});
