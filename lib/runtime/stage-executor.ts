import { selectKey } from '../api/source';
import type { Plan, Stage } from '../plan/plan';
import { hashKeyOf } from '../io/shard-map';
import type { LogId } from '../state/shard-log';
import type { ShardState } from '../state/shard-state';
import type { ShardStates } from '../state/shard-states';
import { boundedOutOfOrderness, NO_WATERMARK } from '../time/watermark';
import { runChain } from './chain';
import type { Failure } from './keyed/keyed-operator';
import { KeyedShard, type KeyedShardRun } from './keyed/keyed-shard';
import { processOperator } from './keyed/process-operator';
import { windowOperator } from './keyed/window-operator';
import { asRecord, originKey, RecordError, recordDeadLetterId, type DeadLetter, type Element, type KeyedElement, type KeyedOutput, type Output } from './records';

/** A record as a source stage receives it from Kinesis. */
export interface SourceRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  /** The record's data: JSON text (UTF-8). */
  readonly data: string;
  /** A record put back by `shardflow failures --redrive`: its redrive's input and the position it had (lib/io/redrive.ts). */
  readonly redriven?: { readonly input: string; readonly sequenceNumber: string };
}

/**
 * One record of a keyed stage's input stream (a shuffle stream), decoded, with its sequence number there
 * (what the stage emits because of it is named after it) and its Kinesis arrival time.
 */
export type ShuffleInput = { readonly sequenceNumber: string; readonly arrivalMs: number } & (
  | { readonly kind: 'envelope'; readonly from: string; readonly elements: readonly KeyedElement[] }
  | { readonly kind: 'marker'; readonly from: string; readonly watermarkMs: number }
  | { readonly kind: 'tick'; readonly upstream: readonly string[] }
);

/** A batch from one input shard: raw records at a source, decoded shuffle records after a shuffle. */
export type StageBatch =
  | { readonly kind: 'source'; readonly shardId: string; readonly records: readonly SourceRecord[] }
  | { readonly kind: 'shuffled'; readonly shardId: string; readonly inputs: readonly ShuffleInput[] };

/** A record for a named sink. */
export interface SinkOutput {
  readonly sink: string;
  readonly output: Output;
}

/** What a batch produced. The caller delivers it: shuffle to the next stream, outputs to sinks. */
export interface StageResult {
  /** Keyed records for the next stage. */
  readonly shuffled: readonly KeyedElement[];
  /**
   * A stage that shuffles: the watermark for the marker it sends every downstream shard after the
   * envelopes — a source stage's batch's (the highest event time in it minus the bound; NO_WATERMARK when
   * none), a keyed shard's own. Undefined: send none — a keyed shard whose inputs are all idle and whose
   * watermark did not move is idle itself (Flink's idle watermark status), and a marker would tell the
   * stage downstream it is active and keep the watermark function awake.
   */
  readonly markerWatermarkMs: number | undefined;
  readonly outputs: readonly SinkOutput[];
  /** Elements too late for every window they belong to (also in `outputs` when the job has a late sink). */
  readonly late: readonly Element[];
  readonly deadLetters: readonly DeadLetter[];
  /** A keyed shard's watermark after the batch. */
  readonly watermarkMs: number;
  /** A keyed shard heard again from an input that was idle or new: the watermark function may be asleep. */
  readonly wokeInput: boolean;
}

/** A batch run, its state changes packed: deliver the result, then commit. */
export interface PreparedBatch {
  readonly result: StageResult;
  /** Appends the batch's state changes to the shard's log; 'lost' means run the batch again (see {@link ShardStates}). */
  commit(): Promise<'appended' | 'unchanged' | 'lost'>;
}

/**
 * Runs one stage: a batch of input records through its operators and, for a keyed stage, its shard's state.
 * No AWS here: the shard log store and the caller do the I/O. Effects are a function of the input and the
 * log: retried, bisected, or run again by a zombie, a batch produces the same outputs with the same ids.
 */
export class StageExecutor {
  private readonly keyedShard: KeyedShard | undefined;
  private readonly lateSink: string | undefined;

  constructor(
    private readonly plan: Plan,
    readonly stage: Stage,
    /** The keyed shards' states; required for a keyed stage. */
    private readonly states?: ShardStates,
    /**
     * A source shard's parents and hash range, for a keyed stage on a source stream: a child shard of a
     * reshard starts from its parents' state for its keys. Without it, a reshard of such a source loses state.
     */
    private readonly lineage?: (shardId: string) => Promise<{ parents: readonly string[]; startingHashKey: bigint; endingHashKey: bigint } | undefined>,
  ) {
    if (stage.keyed) {
      if (!states) throw new Error(`stage ${stage.id} is keyed: it needs shard states`);
      const operator = stage.keyed.kind === 'window' ? windowOperator(stage.keyed) : processOperator(stage.keyed);
      const upstream = stage.input.kind === 'shuffle' ? plan.stages.find((s) => s.id === (stage.input as { fromStage: string }).fromStage) : undefined;
      this.keyedShard = new KeyedShard(operator, {
        idleAfterMs: plan.eventTime.idleAfterMs,
        outOfOrdernessMs: plan.eventTime.outOfOrdernessMs,
        plannedInputs: upstream?.input.shards ?? 1,
      });
    }
    this.lateSink = stage.keyed?.kind === 'window' ? stage.keyed.lateSink?.name : undefined;
  }

  /** The log of one of this stage's input shards. */
  logOf(shardId: string): LogId {
    return { stageId: this.stage.id, shardId };
  }

  /**
   * Runs a batch on the shard's current state (read from the log first: never a stale cache) and packs
   * its state changes. A stateless stage has nothing to commit. On any error the shard's cached state is
   * dropped (it may be half-changed): the retry reloads it.
   */
  async run(batch: StageBatch): Promise<PreparedBatch> {
    const deadLetters: DeadLetter[] = [];
    const outputs: SinkOutput[] = [];
    if (!this.keyedShard) {
      const shuffled: KeyedElement[] = [];
      const output = this.stage.output;
      const maxEventTimeMs = this.decodeSource(batch, deadLetters, undefined, (e) => {
        if (output.kind === 'shuffle') {
          const key = this.keyOf(output.keyBy, e, output.keyById, deadLetters);
          if (key !== undefined) shuffled.push(withKey(e, key));
        } else {
          outputs.push({ sink: output.sink.name, output: { id: originKey(e.origin), record: asRecord(e.value) } });
        }
      });
      const markerWatermarkMs = maxEventTimeMs === NO_WATERMARK ? NO_WATERMARK : boundedOutOfOrderness(maxEventTimeMs, this.plan.eventTime.outOfOrdernessMs);
      const result: StageResult = { shuffled, markerWatermarkMs, outputs, late: [], deadLetters, watermarkMs: markerWatermarkMs, wokeInput: false };
      return { result, commit: async () => 'unchanged' };
    }

    const states = this.states!;
    const log = this.logOf(batch.shardId);
    try {
      const state = await states.current(log);
      if (batch.kind === 'source' && state.slot === 0 && !state.changed) await this.inheritFromParents(state, batch.shardId);
      const watermarkBefore = state.watermarkMs;
      const run = this.keyedShard.run(state);
      if (batch.kind === 'source') {
        // Record by record: its elements at the watermark so far, then the watermark follows its event time
        // (filtered and refused records' too), so where the watermark moves does not depend on batching.
        let keyed: KeyedElement[] = [];
        this.decodeSource(
          batch,
          deadLetters,
          (timestampMs, record) => {
            // What the record makes downstream is named after its position here; a redriven record's
            // elements are applied under its redrive's input and move no watermark (lib/io/redrive.ts).
            run.beginRecord(record.sequenceNumber);
            run.sourceElements(record.redriven?.input ?? record.shardId, keyed);
            if (!record.redriven) run.sourceEventTime(timestampMs);
            keyed = [];
          },
          (e) => {
            const key = this.keyOf(this.stage.keyBy!, e, 'keyBy', deadLetters);
            if (key !== undefined) keyed.push(withKey(e, key));
          },
        );
      } else {
        for (const input of batch.inputs) {
          run.beginRecord(input.sequenceNumber);
          if (input.kind === 'envelope') run.envelope(input.from, input.arrivalMs, input.elements);
          else if (input.kind === 'marker') run.marker(input.from, input.arrivalMs, input.watermarkMs);
          else run.tick(input.arrivalMs, input.upstream);
        }
      }
      const result = this.resultOf(batch.shardId, run, watermarkBefore, outputs, deadLetters);
      const entry = states.prepare(log, state);
      return { result, commit: () => states.commit(log, state, entry) };
    } catch (e) {
      states.drop(log);
      throw e;
    }
  }

  /**
   * A source shard with an empty log that a reshard made: it takes its parents' final state for the keys
   * whose partition key hashes into its range (Kinesis routes by the MD5 of the partition key, which a
   * source declared `partitionedBy` the key uses), and the highest of their watermarks. The event source
   * mapping reads parents before children, so their logs are complete.
   */
  private async inheritFromParents(state: ShardState, shardId: string): Promise<void> {
    const lineage = await this.lineage?.(shardId);
    if (!lineage || lineage.parents.length === 0) return;
    let watermarkMs = NO_WATERMARK;
    for (const parent of lineage.parents) {
      const from = await this.states!.current(this.logOf(parent));
      for (const key of from.keys()) {
        const h = hashKeyOf(key);
        if (lineage.startingHashKey <= h && h <= lineage.endingHashKey) state.put(key, structuredClone(from.get(key)));
      }
      watermarkMs = Math.max(watermarkMs, from.watermarkMs);
    }
    state.setWatermark(watermarkMs);
  }

  /** Forgets a shard's cached state (a batch failed after `run`): the next run reloads it from the log. */
  drop(shardId: string): void {
    this.states?.drop(this.logOf(shardId));
  }

  private resultOf(shardId: string, run: KeyedShardRun, watermarkBefore: number, outputs: SinkOutput[], deadLetters: DeadLetter[]): StageResult {
    const shuffled: KeyedElement[] = [];
    this.deliverKeyed(shardId, run.outputs, outputs, shuffled, deadLetters);
    for (const f of run.failures) deadLetters.push(this.deadLetterOf(f));
    if (this.lateSink) {
      for (const e of run.lateElements) outputs.push({ sink: this.lateSink, output: { id: `late/${originKey(e.origin)}`, record: asRecord(e.value) } });
    }
    const idle = run.state.allInputsIdle && run.watermarkMs === watermarkBefore;
    const markerWatermarkMs = this.stage.output.kind === 'shuffle' && !idle ? run.watermarkMs : undefined;
    return { shuffled, markerWatermarkMs, outputs, late: run.lateElements, deadLetters, watermarkMs: run.watermarkMs, wokeInput: run.wokeInput };
  }

  /**
   * Decodes JSON and reads event time, then runs the stateless chain: each element a record became goes
   * to `onElement`, then the record's event time to `onRecord` (none for a record that was refused, or
   * filtered out before it had one). Returns the highest event time (a redriven record's aside). The hot path of every source stage:
   * no per-record allocation beyond the elements themselves.
   */
  private decodeSource(batch: StageBatch, deadLetters: DeadLetter[], onRecord: ((timestampMs: number, record: SourceRecord) => void) | undefined, onElement: (e: KeyedElement) => void): number {
    const source = this.stage.input.kind === 'source' ? this.stage.input.source : undefined;
    if (!source || batch.kind !== 'source') throw new Error(`${this.stage.id} is not a source stage`);
    const eventTime = source.options.eventTime;
    const pre = this.stage.pre;
    let maxEventTimeMs = NO_WATERMARK;
    for (const r of batch.records) {
      let value: unknown;
      try {
        value = JSON.parse(r.data);
      } catch (e) {
        deadLetters.push(sourceDeadLetter(r, `malformed JSON: ${(e as Error).message}`, 'source'));
        continue;
      }
      let ts: unknown;
      try {
        ts = eventTime(value);
      } catch (e) {
        deadLetters.push(sourceDeadLetter(r, `eventTime threw: ${(e as Error).message}`, 'source'));
        continue;
      }
      if (typeof ts !== 'number' || !Number.isFinite(ts)) {
        deadLetters.push(sourceDeadLetter(r, `eventTime gave ${JSON.stringify(ts)}, not a number of epoch ms`, 'source'));
        continue;
      }
      // A redriven record is old: it moves no watermark. Its elements keep the position it had, under its redrive's input.
      if (ts > maxEventTimeMs && !r.redriven) maxEventTimeMs = ts;
      const shardId = r.redriven?.input ?? r.shardId;
      const sequenceNumber = r.redriven?.sequenceNumber ?? r.sequenceNumber;
      if (pre.length === 0) {
        onElement({ origin: { shardId, sequenceNumber, subIndex: 0 }, timestampMs: ts, value, key: '' });
      } else {
        const timestampMs = ts;
        try {
          runChain(pre, value, (v, subIndex) => onElement({ origin: { shardId, sequenceNumber, subIndex }, timestampMs, value: v, key: '' }));
        } catch (e) {
          if (!(e instanceof RecordError)) throw e;
          deadLetters.push(sourceDeadLetter(r, e.message, e.operator));
        }
      }
      onRecord?.(ts, r);
    }
    return maxEventTimeMs;
  }

  private keyOf(selector: Parameters<typeof selectKey>[0], e: Element, operator: string, deadLetters: DeadLetter[]): string | undefined {
    try {
      return selectKey(selector, e.value);
    } catch (err) {
      deadLetters.push(this.deadLetterOf({ id: recordDeadLetterId(e.origin, operator), operator, reason: `${operator}: ${(err as Error).message}`, value: e.value, element: e }));
      return undefined;
    }
  }

  /**
   * Runs keyed outputs through the stateless operators after the keyed one, to the stage's sink or, keyed
   * again, to the next keyed stage. An element for the next stage is named after the input record of this
   * shard that produced it — (this shard, that record's sequence number, a running index among what the
   * record produced) — so positions only grow in this shard's stream order, and a retried, bisected or
   * zombie batch, which computes the same outputs for the same records, sends them under the same
   * positions: the next stage's marks drop the repeats.
   */
  private deliverKeyed(shardId: string, produced: readonly KeyedOutput[], outputs: SinkOutput[], shuffled: KeyedElement[], deadLetters: DeadLetter[]): void {
    const target = this.stage.output;
    let producedBy: string | undefined;
    let subIndex = 0;
    for (const { output: o, timestampMs, inputSequenceNumber } of produced) {
      if (inputSequenceNumber !== producedBy) {
        producedBy = inputSequenceNumber;
        subIndex = 0;
      }
      const send = (value: unknown, i: number): void => {
        if (target.kind === 'sink') {
          outputs.push({ sink: target.sink.name, output: { id: i === 0 ? o.id : `${o.id}.${i}`, record: asRecord(value), ...(o.order !== undefined && { order: o.order }) } });
          return;
        }
        const e: KeyedElement = { origin: { shardId, sequenceNumber: inputSequenceNumber, subIndex: subIndex++ }, timestampMs, value, key: '' };
        const key = this.keyOf(target.keyBy, e, target.keyById, deadLetters);
        if (key !== undefined) shuffled.push(withKey(e, key));
      };
      if (this.stage.post.length === 0) {
        send(o.record, 0);
        continue;
      }
      try {
        runChain(this.stage.post, o.record, send);
      } catch (e) {
        if (!(e instanceof RecordError)) throw e;
        deadLetters.push(this.deadLetterOf({ id: `${o.id}/${e.operator}`, operator: e.operator, reason: e.message, value: { id: o.id, record: o.record } }));
      }
    }
  }

  private deadLetterOf(f: Failure): DeadLetter {
    return {
      id: f.id,
      reason: f.reason,
      operator: f.operator,
      shardId: f.element?.origin.shardId ?? this.stage.id,
      sequenceNumber: f.element?.origin.sequenceNumber ?? '0',
      data: (JSON.stringify(f.value) ?? 'undefined').slice(0, 1024),
    };
  }
}

/** A source record refused before it became elements: malformed, without an event time, or failed by the chain. */
function sourceDeadLetter(r: SourceRecord, reason: string, operator: string): DeadLetter {
  // A redriven record's dead letter is the one its first failure would have written: redriven again, the same.
  const at = r.redriven ? { shardId: r.redriven.input, sequenceNumber: r.redriven.sequenceNumber } : r;
  return { id: recordDeadLetterId({ ...at, subIndex: 0 }, operator), reason, shardId: at.shardId, sequenceNumber: at.sequenceNumber, data: r.data.slice(0, 1024), operator };
}

/** Sets the key of an element this stage created (keyed elements are immutable to everyone else). */
function withKey(e: KeyedElement, key: string): KeyedElement {
  (e as { key: string }).key = key;
  return e;
}
