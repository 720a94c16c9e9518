/**
 * How watermark function invocations agree with each other and with the stage functions: one ticks at a
 * time (a lease), and it sleeps while every input is idle, to be woken by the first stage batch that
 * hears an input again (a flag). Kept apart from the keyed state (Kafka Streams keeps coordination out of
 * its state stores too): each is small, and easy to test against memory and DynamoDB alike.
 */
export interface WatermarkCoordination {
  /**
   * The watermark function stops looping while every input is idle (nothing can fire until data comes)
   * and says so here first; the stage function that next hears an idle input again wakes it. Setting the
   * flag is a plain write, taking it back is conditional, so of several stage functions waking at once
   * exactly one sees `true` and invokes the watermark function.
   */
  markWatermarkAsleep(): Promise<void>;
  /** Clears the flag; true only for the call that found it set. */
  claimWatermarkWake(): Promise<boolean>;
  /**
   * One watermark function ticks at a time when it loops (as deployed): it takes this lease for its loop,
   * `holder` naming the invocation. False when another holder's lease has not expired by `nowMs`.
   */
  acquireWatermarkLease(holder: string, nowMs: number, untilMs: number): Promise<boolean>;
  /** Gives the lease up; false when `holder` no longer held it (it expired and another took it). */
  releaseWatermarkLease(holder: string): Promise<boolean>;
}

/** Coordination in process memory: the harness, unit tests. */
export class MemoryCoordination implements WatermarkCoordination {
  private asleep = false;
  private lease: { holder: string; untilMs: number } | undefined;

  async markWatermarkAsleep(): Promise<void> {
    this.asleep = true;
  }

  async claimWatermarkWake(): Promise<boolean> {
    const was = this.asleep;
    this.asleep = false;
    return was;
  }

  async acquireWatermarkLease(holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    if (this.lease && this.lease.untilMs >= nowMs) return false;
    this.lease = { holder, untilMs };
    return true;
  }

  async releaseWatermarkLease(holder: string): Promise<boolean> {
    if (this.lease?.holder !== holder) return false;
    this.lease = undefined;
    return true;
  }
}
