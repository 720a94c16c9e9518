import type { PreparedBatch, StageBatch, StageExecutor } from '../runtime/stage-executor';
import { logKey } from '../state/shard-log';
import type { ShardStates } from '../state/shard-states';
import { containerFault, holdKillsForZombie, recordFault } from './fault-points';

/** How long a zombie waits for another writer to take its slot before it appends anyway. */
const ZOMBIE_WAIT_MS = 60_000;
const ZOMBIE_POLL_MS = 200;

/**
 * Chaos runs only (inert unless `SHARDFLOW_FAULTS` configures `container`): the faults of a keyed
 * stage's container that the state log exists to survive, drawn per batch (lib/io/fault-points.ts):
 *
 * - **cache lost**: the container's cached state of the shard is dropped before the batch, as if the
 *   container were new: the batch loads the latest snapshot and the deltas after it.
 * - **cache stale**: the batch runs in another warm container, which last served the shard some batches
 *   ago (the other containers ran the ones since): its cached state is an older copy, and it must read
 *   the entries after its slot and catch up before it computes anything.
 * - **zombie**: the batch runs in a container of its own, then the invocation reports a failure — Lambda
 *   gives up on it and retries the batch — but carries on: once another writer (the retry, or a later
 *   batch) has appended after the slot it ran on, it delivers its outputs and appends its entry, which must
 *   lose the slot, and then runs the batch again on the log as any stage function does.
 *
 * Each is recorded in `faults.log` with what it did (how far behind a stale cache was; how a zombie's
 * append went), which the chaos runs count.
 */
export class ContainerFaults {
  /** The other warm container (its own cache), made when a batch first goes there. */
  private other: { executor: StageExecutor; states: ShardStates } | undefined;

  constructor(
    private readonly own: StageExecutor,
    private readonly states: ShardStates,
    /** A stage executor on another container's cache. */
    private readonly executorOn: (states: ShardStates) => StageExecutor,
  ) {}

  /**
   * Draws the batch's container fault and records it. Returns the executor to run the batch on — the
   * container's own (its cache maybe dropped first) or the other container's — or `zombie` when the
   * invocation is to turn zombie ({@link zombie}).
   */
  async before(batch: StageBatch, salt: string, share = 1): Promise<StageExecutor | 'zombie'> {
    const fault = containerFault(salt, share);
    const log = this.own.logOf(batch.shardId);
    switch (fault) {
      case undefined:
        return this.own;
      case 'zombie':
        // Only a batch with records: one of ticks and markers alone rarely changes the state, and a zombie
        // with nothing to append proves nothing.
        return batch.kind === 'source' || batch.inputs.some((i) => i.kind === 'envelope') ? fault : this.own;
      case 'cache-lost': {
        const cached = this.states.cachedBytes().some((c) => c.shard === logKey(log));
        this.own.drop(batch.shardId);
        recordFault(fault, salt, cached ? 'dropped' : 'not cached');
        return this.own;
      }
      case 'cache-stale': {
        // Catching up here, before the batch, measures how far behind the other container was; the batch
        // then finds its cache current (one more read).
        const other = (this.other ??= this.newContainer());
        const before = { ...other.states.counters };
        await other.states.current(log);
        const after = other.states.counters;
        recordFault(fault, salt, after.caughtUp > before.caughtUp ? `behind ${after.entriesRead - before.entriesRead}` : after.loads > before.loads ? 'cold' : 'current');
        return other.executor;
      }
    }
  }

  /**
   * Turns the invocation zombie: runs the batch now on a container of its own (from the log as it is) and
   * returns the error to report, leaving the rest running: wait until another writer has appended past the
   * slot the batch ran on, then `finish` it (deliver, append, and on a lost slot run again), and record how
   * its append went — `lost` is the protocol holding; `won` after the slot was taken would be a broken
   * conditional put. Its process is not killed at fault points meanwhile.
   */
  async zombie(
    batch: StageBatch,
    salt: string,
    finish: (executor: StageExecutor, prepared: PreparedBatch) => Promise<{ lostSlots: number; committed: 'appended' | 'unchanged' }>,
  ): Promise<Error> {
    const done = holdKillsForZombie();
    const { executor, states } = this.newContainer();
    const log = executor.logOf(batch.shardId);
    let prepared: PreparedBatch;
    let ranOn: number;
    try {
      prepared = await executor.run(batch);
      ranOn = await states.headSlot(log);
    } catch (e) {
      done();
      throw e;
    }
    recordFault('zombie', salt, `ran on slot ${ranOn}`);
    void (async () => {
      const started = Date.now();
      let taken = false;
      while (!(taken = (await states.headSlot(log)) > ranOn) && Date.now() - started < ZOMBIE_WAIT_MS) await new Promise((r) => setTimeout(r, ZOMBIE_POLL_MS));
      const { lostSlots, committed } = await finish(executor, prepared);
      const outcome = lostSlots > 0 ? 'lost' : committed === 'unchanged' ? 'unchanged' : taken ? 'won' : 'appended, slot not taken';
      recordFault('zombie-append', salt, `${outcome} after ${Date.now() - started} ms`);
    })()
      .catch((e: unknown) => recordFault('zombie-append', salt, `failed: ${(e as Error).message}`))
      .finally(done);
    return new Error(`chaos: the invocation on ${logKey(log)} turned zombie (it finishes once another writer has appended); Lambda retries the batch`);
  }

  /** A container of its own: a cache over the same logs, and an executor on it. */
  private newContainer(): { executor: StageExecutor; states: ShardStates } {
    const states = this.states.another();
    return { executor: this.executorOn(states), states };
  }
}
