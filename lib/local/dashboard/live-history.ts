import type { DevStatus } from '../dev-runtime';

/** One stage at one moment, as the charts plot it. */
export interface StageSample {
  /** Records in and out per second, over the last few seconds (batches arrive about once a second). */
  readonly inPerSec: number;
  readonly outPerSec: number;
  /** The oldest unprocessed record's age across the stage's shards (Lambda's IteratorAge). */
  readonly iteratorAgeMs: number;
  /** The stage's last reported watermark lag, when it has one. */
  readonly watermarkLagMs?: number;
}

/** Every stage at one moment. */
export interface LiveSample {
  readonly atMs: number;
  readonly stages: Readonly<Record<string, StageSample>>;
}

interface Totals {
  readonly atMs: number;
  readonly in: Readonly<Record<string, number>>;
  readonly out: Readonly<Record<string, number>>;
}

/**
 * The last few minutes of live figures, sampled once a second from `DevRuntime.status()`, so a page
 * opened late still draws its charts from the start of the window. Rates come from the EMF totals
 * (RecordsIn, RecordsOut) over a short window, as a CloudWatch chart with a short period would.
 */
export class LiveHistory {
  private readonly samples: LiveSample[] = [];
  private readonly totals: Totals[] = [];

  constructor(
    private readonly capacity = 300,
    private readonly rateWindowMs = 5000,
  ) {}

  add(status: DevStatus, atMs: number): LiveSample {
    const now: Totals = {
      atMs,
      in: Object.fromEntries(status.stages.map((s) => [s.id, s.metrics.RecordsIn?.sum ?? 0])),
      out: Object.fromEntries(status.stages.map((s) => [s.id, s.metrics.RecordsOut?.sum ?? 0])),
    };
    this.totals.push(now);
    while (this.totals.length > 2 && this.totals[1]!.atMs <= atMs - this.rateWindowMs) this.totals.shift();
    const then = this.totals[0]!;
    const seconds = (atMs - then.atMs) / 1000;
    const rate = (a: number, b: number): number => (seconds > 0 ? Math.max(0, (a - b) / seconds) : 0);
    const sample: LiveSample = {
      atMs,
      stages: Object.fromEntries(
        status.stages.map((s): [string, StageSample] => {
          const lag = s.metrics.WatermarkLag;
          return [
            s.id,
            {
              inPerSec: rate(now.in[s.id] ?? 0, then.in[s.id] ?? 0),
              outPerSec: rate(now.out[s.id] ?? 0, then.out[s.id] ?? 0),
              iteratorAgeMs: s.iteratorAgeMs,
              ...(lag && { watermarkLagMs: lag.last }),
            },
          ];
        }),
      ),
    };
    this.samples.push(sample);
    if (this.samples.length > this.capacity) this.samples.shift();
    return sample;
  }

  all(): readonly LiveSample[] {
    return this.samples;
  }
}
