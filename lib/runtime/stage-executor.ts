import { selectKey } from '../api/source';
import type { Plan, Stage } from '../plan/plan';
import type { InputRow, ItemRef, Position, StateBackend } from '../state/backend';
import { boundedOutOfOrderness, combineWatermarks, NO_WATERMARK } from '../time/watermark';
import { runChain } from './chain';
import { forEachConcurrently } from './concurrently';
import type { FailedElement, KeyedLogic } from './keyed-logic';
import { logicFor } from './logic';
import { asRecord, comparePositions, originKey, RecordError, recordDeadLetterId, type DeadLetter, type Element, type KeyedElement, type Output } from './records';

/** A record as a source stage receives it from Kinesis. */
export interface SourceRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  /** The record's data: JSON text (UTF-8). */
  readonly data: string;
}

/** A batch from one input shard. Source stages get raw records; shuffled stages get keyed elements. */
export type StageBatch =
  | { readonly kind: 'source'; readonly shardId: string; readonly nowMs: number; readonly records: readonly SourceRecord[] }
  | {
      readonly kind: 'shuffled';
      readonly shardId: string;
      readonly nowMs: number;
      readonly elements: readonly KeyedElement[];
      /** Watermarks the upstream shards sent with their envelopes and markers. */
      readonly heard: readonly { readonly upstreamShard: string; readonly watermarkMs: number }[];
    };

/** A record for a named sink. */
export interface SinkOutput {
  readonly sink: string;
  readonly output: Output;
}

/** What firing one item produced, handed over before the firing is recorded. */
export interface FiredOutputs {
  readonly outputs: readonly SinkOutput[];
  readonly deadLetters: readonly DeadLetter[];
}

/** What a batch produced. The caller delivers it: shuffle to the next stream, outputs to sinks. */
export interface StageResult {
  /** Keyed records for the next stage. */
  readonly shuffled: readonly KeyedElement[];
  readonly outputs: readonly SinkOutput[];
  /** Elements too late for every window they belong to (also in `outputs` when the job has a late sink). */
  readonly late: readonly Element[];
  readonly deadLetters: readonly DeadLetter[];
  /** A source shard's watermark before and after the batch: envelopes carry `beforeMs`, markers `afterMs`. */
  readonly watermark: { readonly beforeMs: number; readonly afterMs: number };
  /**
   * What the batch tells of the stage's inputs (event-time progress, watermarks heard). Write them with
   * `commit` only once the batch's outputs are delivered: a watermark must never run ahead of data
   * that a retry would still bring.
   */
  readonly inputRows: readonly InputRow[];
  /**
   * Whether an input this batch came from had been idle (or had never reported) before it: the
   * watermark function may have stopped meanwhile (see {@link StateBackend.markWatermarkAsleep}).
   */
  readonly wokeInput: boolean;
}

/**
 * Runs one stage: a batch of input records through its operators and its keyed state, and firing what
 * a watermark makes due. No AWS here: the backend and the caller do the I/O. Effects are idempotent
 * under replay: state updates are exactly once by origin position, outputs carry deterministic ids.
 */
export class StageExecutor {
  private readonly logic: KeyedLogic | undefined;
  private readonly lateSink: string | undefined;
  private readonly mainSink: string | undefined;

  constructor(
    private readonly plan: Plan,
    readonly stage: Stage,
    private readonly backend: StateBackend,
  ) {
    this.logic = stage.keyed && logicFor(stage.keyed);
    this.lateSink = stage.keyed?.kind === 'window' ? stage.keyed.lateSink?.name : undefined;
    this.mainSink = stage.output.kind === 'sink' ? stage.output.sink.name : undefined;
  }

  async runBatch(batch: StageBatch): Promise<StageResult> {
    const deadLetters: DeadLetter[] = [];
    let keyed: KeyedElement[];
    let watermark = { beforeMs: NO_WATERMARK, afterMs: NO_WATERMARK };
    let inputRows: InputRow[];
    let wokeInput: boolean;
    const shuffled: KeyedElement[] = [];
    const outputs: SinkOutput[] = [];

    if (batch.kind === 'source') {
      const decoded = await this.decodeSource(batch, deadLetters);
      watermark = decoded.watermark;
      inputRows = [decoded.row];
      wokeInput = decoded.wokeInput;
      keyed = [];
      const output = this.stage.output;
      for (const e of decoded.elements) {
        // Decoded elements are ours and shaped with a `key` slot already: key them in place.
        if (this.stage.keyBy) {
          const key = this.keyOf(this.stage.keyBy, e, 'keyBy', deadLetters);
          if (key !== undefined) keyed.push(withKey(e, key));
        } else if (output.kind === 'shuffle') {
          const key = this.keyOf(output.keyBy, e, output.keyById, deadLetters);
          if (key !== undefined) shuffled.push(withKey(e, key));
        } else {
          outputs.push({ sink: output.sink.name, output: { id: originKey(e.origin), record: asRecord(e.value) } });
        }
      }
    } else {
      ({ keyed, inputRows, wokeInput } = await this.uncommitted(batch));
    }

    const late: Element[] = [];
    if (this.logic && keyed.length > 0) await this.applyKeyed(keyed, outputs, late, deadLetters);
    return { shuffled, outputs, late, deadLetters, watermark, inputRows, wokeInput };
  }

  /** Records the batch's input progress; call after its outputs are delivered. */
  async commit(result: StageResult): Promise<void> {
    if (result.inputRows.length > 0) await this.backend.writeInputs(this.stage.id, result.inputRows);
  }

  /**
   * The shuffled elements not yet committed (a retried batch, or envelopes an upstream retry sent
   * again, bring elements whose effects are complete), and the input rows this batch will commit.
   */
  private async uncommitted(batch: Extract<StageBatch, { kind: 'shuffled' }>): Promise<{ keyed: KeyedElement[]; inputRows: InputRow[]; wokeInput: boolean }> {
    const input = (upstream: string): string => `${batch.shardId}<${upstream}`;
    const committed = new Map<string, Position | undefined>();
    let wokeInput = false;
    for (const upstream of new Set([...batch.heard.map((h) => h.upstreamShard), ...batch.elements.map((e) => e.origin.shardId)])) {
      const row = await this.backend.readInput(this.stage.id, input(upstream));
      committed.set(upstream, row?.committed);
      wokeInput ||= this.wasIdle(row, batch.nowMs);
    }
    const keyed: KeyedElement[] = [];
    const lastElement = new Map<string, KeyedElement>();
    let shard: string | undefined;
    let mark: Position | undefined;
    let previous: KeyedElement | undefined;
    for (const e of batch.elements) {
      if (e.origin.shardId !== shard) {
        if (previous) lastElement.set(previous.origin.shardId, previous);
        shard = e.origin.shardId;
        mark = committed.get(shard);
      }
      if (mark && comparePositions(e.origin, mark) <= 0) continue;
      keyed.push(e);
      previous = e;
    }
    if (previous) lastElement.set(previous.origin.shardId, previous);
    const last = new Map([...lastElement].map(([upstream, e]) => [upstream, { sequenceNumber: e.origin.sequenceNumber, subIndex: e.origin.subIndex }]));
    const heard = new Map(batch.heard.map((h) => [h.upstreamShard, h.watermarkMs]));
    const inputRows = [...new Set([...heard.keys(), ...last.keys()])].map((upstream) => ({
      input: input(upstream),
      watermarkMs: heard.get(upstream) ?? NO_WATERMARK,
      maxEventTimeMs: NO_WATERMARK,
      lastActiveMs: batch.nowMs,
      ...(last.has(upstream) && { committed: last.get(upstream)! }),
    }));
    return { keyed, inputRows, wokeInput };
  }

  private wasIdle(row: InputRow | undefined, nowMs: number): boolean {
    return !row || nowMs - row.lastActiveMs >= this.plan.eventTime.idleAfterMs;
  }

  /** Decodes JSON, reads event time, runs the stateless chain; tracks the shard's event-time progress. */
  private async decodeSource(batch: Extract<StageBatch, { kind: 'source' }>, deadLetters: DeadLetter[]) {
    const source = this.stage.input.kind === 'source' ? this.stage.input.source : undefined;
    if (!source) throw new Error(`${this.stage.id} is not a source stage`);
    const prior = await this.backend.readInput(this.stage.id, batch.shardId);
    let maxEventTimeMs = prior?.maxEventTimeMs ?? NO_WATERMARK;
    const elements: KeyedElement[] = [];
    for (const r of batch.records) {
      // A retried batch: records up to the committed position were fully delivered already.
      if (prior?.committed && comparePositions({ sequenceNumber: r.sequenceNumber, subIndex: 0 }, prior.committed) <= 0) continue;
      const dead = (reason: string, operator: string): void => {
        const id = recordDeadLetterId({ shardId: r.shardId, sequenceNumber: r.sequenceNumber, subIndex: 0 }, operator);
        deadLetters.push({ id, reason, operator, shardId: r.shardId, sequenceNumber: r.sequenceNumber, data: r.data.slice(0, 1024) });
      };
      let value: unknown;
      try {
        value = JSON.parse(r.data);
      } catch (e) {
        dead(`malformed JSON: ${(e as Error).message}`, 'source');
        continue;
      }
      let ts: unknown;
      try {
        ts = source.options.eventTime(value);
      } catch (e) {
        dead(`eventTime threw: ${(e as Error).message}`, 'source');
        continue;
      }
      if (typeof ts !== 'number' || !Number.isFinite(ts)) {
        dead(`eventTime gave ${JSON.stringify(ts)}, not a number of epoch ms`, 'source');
        continue;
      }
      if (ts > maxEventTimeMs) maxEventTimeMs = ts;
      if (this.stage.pre.length === 0) {
        elements.push({ origin: { shardId: r.shardId, sequenceNumber: r.sequenceNumber, subIndex: 0 }, timestampMs: ts, value, key: '' });
        continue;
      }
      try {
        runChain(this.stage.pre, value, (v, subIndex) => {
          elements.push({ origin: { shardId: r.shardId, sequenceNumber: r.sequenceNumber, subIndex }, timestampMs: ts, value: v, key: '' });
        });
      } catch (e) {
        if (!(e instanceof RecordError)) throw e;
        dead(e.message, e.operator);
      }
    }
    const ooo = this.plan.eventTime.outOfOrdernessMs;
    const beforeMs = boundedOutOfOrderness(prior?.maxEventTimeMs ?? NO_WATERMARK, ooo);
    const afterMs = boundedOutOfOrderness(maxEventTimeMs, ooo);
    const last = batch.records[batch.records.length - 1];
    const row: InputRow = {
      input: batch.shardId,
      watermarkMs: afterMs,
      maxEventTimeMs,
      lastActiveMs: batch.nowMs,
      ...(last && { committed: { sequenceNumber: last.sequenceNumber, subIndex: Number.MAX_SAFE_INTEGER } }),
    };
    return { elements, watermark: { beforeMs, afterMs }, row, wokeInput: this.wasIdle(prior, batch.nowMs) };
  }

  private keyOf(selector: Parameters<typeof selectKey>[0], e: Element, operator: string, deadLetters: DeadLetter[]): string | undefined {
    try {
      return selectKey(selector, e.value);
    } catch (err) {
      deadLetters.push(deadLetterOf({ element: e, operator, reason: `${operator}: ${(err as Error).message}` }));
      return undefined;
    }
  }

  /**
   * Routes elements to their items (windows, sessions, process state), pre-aggregated per item: one
   * store update per item per batch, whatever the number of elements.
   */
  private async applyKeyed(elements: readonly KeyedElement[], outputs: SinkOutput[], late: Element[], deadLetters: DeadLetter[]): Promise<void> {
    const logic = this.logic!;
    const watermarkMs = await this.backend.readStageWatermark(this.stage.id);
    const groups: { ref: ItemRef; elements: Element[] }[] = [];
    const byKey = new Map<string, Map<string, Element[]>>();
    for (const e of elements) {
      const slots = logic.route(e.key, e, watermarkMs);
      if (slots === 'late') {
        late.push(e);
        continue;
      }
      let bySlot = byKey.get(e.key);
      if (!bySlot) byKey.set(e.key, (bySlot = new Map()));
      for (const slot of slots) {
        let group = bySlot.get(slot);
        if (!group) {
          bySlot.set(slot, (group = []));
          groups.push({ ref: { stageId: this.stage.id, key: e.key, slot }, elements: group });
        }
        group.push(e);
      }
    }
    const outcomes = await this.backend.update(groups, logic, watermarkMs);
    const refusedBy = new Map<Element, number>();
    for (const outcome of outcomes) {
      this.deliver(outcome.outputs, outputs, deadLetters);
      for (const f of outcome.failed) deadLetters.push(deadLetterOf(f));
      // An element is late when every window it went to refused it (closed since routing).
      for (const e of outcome.late) {
        const n = (refusedBy.get(e) ?? 0) + 1;
        refusedBy.set(e, n);
        // Routing is deterministic: route again rather than remember every element's fan-out.
        const routedTo = logic.route((e as KeyedElement).key, e, watermarkMs);
        if (routedTo === 'late' || n === routedTo.length) late.push(e);
      }
    }
    if (this.lateSink) {
      for (const e of late) outputs.push({ sink: this.lateSink, output: { id: `late/${originKey(e.origin)}`, record: asRecord(e.value) } });
    }
  }

  /** Runs keyed outputs through the stateless operators after the keyed one, to the stage's sink. */
  private deliver(produced: readonly Output[], outputs: SinkOutput[], deadLetters: DeadLetter[]): void {
    if (!this.mainSink) throw new Error(`${this.stage.id} has a keyed operator but no sink`);
    for (const o of produced) {
      try {
        runChain(this.stage.post, o.record, (v, i) =>
          outputs.push({ sink: this.mainSink!, output: { id: i === 0 ? o.id : `${o.id}.${i}`, record: asRecord(v), ...(o.order !== undefined && { order: o.order }) } }),
        );
      } catch (e) {
        if (!(e instanceof RecordError)) throw e;
        // Named after the output that failed: one dead letter per keyed output, the same one on a replay.
        const id = `${o.id}/${e.operator}`;
        deadLetters.push({ id, reason: e.message, operator: e.operator, shardId: this.stage.id, sequenceNumber: '0', data: JSON.stringify({ id: o.id, record: o.record }).slice(0, 1024) });
      }
    }
  }

  /**
   * The stage's watermark now: the minimum over its active inputs. `known` names the inputs that exist
   * (see {@link stageInputIds}): as Flink waits for every input channel, and holds a newly discovered
   * split back until it emits or goes idle, an input that exists but has not reported gets a row with no
   * watermark, active from now — it holds the watermark until it reports or has been silent for
   * `idleAfter`, and the row outlives a restart of the caller. Without `known`, the plan's shard counts
   * stand in for the inputs.
   */
  async currentWatermark(nowMs: number, known?: readonly string[]): Promise<number> {
    return (await this.inputProgress(nowMs, known)).watermarkMs;
  }

  /**
   * {@link currentWatermark}, and whether every input is idle (or none has reported): then nothing of
   * this stage can fire until data comes, whatever the clock does (timers are event time only).
   */
  async inputProgress(nowMs: number, known?: readonly string[]): Promise<{ watermarkMs: number; idle: boolean }> {
    const rows: InputRow[] = await this.backend.readInputs(this.stage.id);
    const idleAfterMs = this.plan.eventTime.idleAfterMs;
    if (known) {
      const heard = new Set(rows.map((r) => r.input));
      const silent: InputRow[] = known.filter((input) => !heard.has(input)).map((input) => ({ input, watermarkMs: NO_WATERMARK, maxEventTimeMs: NO_WATERMARK, lastActiveMs: nowMs }));
      if (silent.length > 0) await this.backend.writeInputs(this.stage.id, silent);
      rows.push(...silent);
    }
    const idle = rows.every((r) => nowMs - r.lastActiveMs >= idleAfterMs);
    if (known) return { watermarkMs: combineWatermarks(rows, nowMs, idleAfterMs), idle };
    // Counting inputs cannot tell them apart (a split's children count as much as a shard not heard
    // from yet), so it is the fallback: until as many inputs as the plan sizes have reported (or the first
    // report is older than the idleness timeout), a late starter's on-time records must not be late.
    const firstHeardMs = Math.min(...rows.map((r) => r.lastActiveMs));
    if (rows.length < this.expectedInputs() && (rows.length === 0 || nowMs - firstHeardMs < idleAfterMs)) return { watermarkMs: NO_WATERMARK, idle };
    return { watermarkMs: combineWatermarks(rows, nowMs, idleAfterMs), idle };
  }

  /** Source shards, or (downstream shard × upstream shard) pairs, as the plan sizes them. */
  private expectedInputs(): number {
    const input = this.stage.input;
    if (input.kind === 'source') return input.shards;
    const upstream = this.plan.stages.find((s) => s.id === input.fromStage);
    return input.shards * (upstream?.input.shards ?? 1);
  }

  /**
   * Fires every window and timer due at `watermarkMs`, then records the watermark as the stage's.
   * Safe to run twice or concurrently: a fired item is written under its version, and outputs have ids.
   *
   * A window end makes the window of every key due at once, and each firing waits on three requests in
   * turn (read, deliver, record), so up to `concurrency` keys fire side by side. A key's own items fire
   * one after another, earliest first: its results reach a sink in event-time order, as in Flink.
   */
  async fireDue(watermarkMs: number, emit: (fired: FiredOutputs) => Promise<void>, pageSize = 500, concurrency = FIRE_CONCURRENCY): Promise<{ fired: number }> {
    let fired = 0;
    const logic = this.logic;
    if (logic) {
      const fireOne = (ref: ItemRef): Promise<void> =>
        this.backend.fire(ref, logic, watermarkMs, async (outcome) => {
          const outputs: SinkOutput[] = [];
          const deadLetters: DeadLetter[] = outcome.failed.map(deadLetterOf);
          this.deliver(outcome.outputs, outputs, deadLetters);
          await emit({ outputs, deadLetters });
        });
      for (;;) {
        const due = await this.backend.dueItems(this.stage.id, watermarkMs, pageSize);
        const byKey = new Map<string, ItemRef[]>();
        for (const ref of due) {
          const refs = byKey.get(ref.key);
          if (refs) refs.push(ref);
          else byKey.set(ref.key, [ref]);
        }
        await forEachConcurrently([...byKey.values()], concurrency, async (refs) => {
          for (const ref of refs) {
            await fireOne(ref);
            fired += 1;
          }
        });
        if (due.length < pageSize) break;
      }
    }
    await this.backend.writeStageWatermark(this.stage.id, watermarkMs);
    return { fired };
  }
}

/** Keys a watermark tick fires side by side (see {@link StageExecutor.fireDue}). */
export const FIRE_CONCURRENCY = 16;

/** Sets the key of an element this stage created (keyed elements are immutable to everyone else). */
function withKey(e: KeyedElement, key: string): KeyedElement {
  (e as { key: string }).key = key;
  return e;
}

/**
 * The ids of a keyed stage's inputs (as its input rows name them) given the shards of its input stream
 * and, for a shuffled stage, the shards of the source stream: a source shard, or `downstream<upstream`.
 */
export function stageInputIds(stage: Stage, inputShards: readonly string[], upstreamShards: readonly string[] = []): string[] {
  if (stage.input.kind === 'source') return [...inputShards];
  return inputShards.flatMap((down) => upstreamShards.map((up) => `${down}<${up}`));
}

function deadLetterOf({ element: e, operator, reason, deadLetterId }: FailedElement): DeadLetter {
  return {
    id: deadLetterId ?? recordDeadLetterId(e.origin, operator),
    reason,
    operator,
    shardId: e.origin.shardId,
    sequenceNumber: e.origin.sequenceNumber,
    data: (JSON.stringify(e.value) ?? 'undefined').slice(0, 1024),
  };
}
