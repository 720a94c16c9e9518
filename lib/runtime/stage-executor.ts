import { selectKey } from '../api/source';
import { isRedriveInput, REDRIVE_PREFIX } from '../io/redrive';
import { isFlow, stageOutputs, type Flow, type Lane, type Plan, type Stage, type StageOutput } from '../plan/plan';
import type { LogId } from '../state/shard-log';
import { ShardState } from '../state/shard-state';
import type { ShardStates } from '../state/shard-states';
import { boundedOutOfOrderness, NO_WATERMARK } from '../time/watermark';
import { runAsyncTail, splitAtAsync, type SplitChain } from './async-chain';
import { runChain } from './chain';
import type { Failure } from './keyed/keyed-operator';
import { inheritFromParents, type ParentShard } from './keyed/inheritance';
import { KeyedShard, type KeyedShardRun } from './keyed/keyed-shard';
import { logicalShard, shardOfLogical } from './keyed/key-groups';
import { processOperator } from './keyed/process-operator';
import { windowOperator } from './keyed/window-operator';
import { asRecord, comparePositions, originKey, RecordError, recordDeadLetterId, type DeadLetter, type Element, type KeyedElement, type KeyedOutput, type Marker, type Output, type Tick } from './records';

/** A record as a source stage receives it from Kinesis. */
export interface SourceRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  /** The record's data: JSON text (UTF-8). */
  readonly data: string;
  /** Kinesis' ApproximateArrivalTimestamp: processing time for a keyed stage reading the source (0 when unknown). */
  readonly arrivalMs?: number;
  /** A record put back by `shardflow failures --redrive`: its redrive's input and the position it had (lib/io/redrive.ts). */
  readonly redriven?: { readonly input: string; readonly sequenceNumber: string };
}

/**
 * One record of a keyed stage's input stream (a shuffle stream), decoded, with its sequence number there
 * (what the stage emits because of it is named after it) and its Kinesis arrival time.
 */
export type ShuffleInput = { readonly sequenceNumber: string; readonly arrivalMs: number } & (
  | { readonly kind: 'envelope'; readonly from: string; readonly elements: readonly KeyedElement[]; readonly to?: string }
  | ({ readonly kind: 'marker'; readonly from: string } & Marker)
  | ({ readonly kind: 'tick' } & Tick)
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
  /** Keyed records for the next stages: one list per shuffle output of the stage (its stream and lane), empty ones too. */
  readonly shuffles: readonly ShuffleOutput[];
  /**
   * A stage that shuffles: the marker it sends every downstream shard after the envelopes — a source
   * stage's with its batch's watermark (the highest event time in it minus the bound; NO_WATERMARK when
   * none), a keyed shard's with its own and its status: idle when all its inputs are (Flink's idle
   * watermark status), as of its batch's last input. Undefined: send none — a keyed shard idle before and
   * after the batch, whose watermark did not move and that sent nothing, has nothing to say.
   */
  readonly marker: Marker | undefined;
  readonly outputs: readonly SinkOutput[];
  /** Elements too late for every window they belong to (also in `outputs` when the job has a late sink). */
  readonly late: readonly Element[];
  readonly deadLetters: readonly DeadLetter[];
  /** A keyed shard's watermark after the batch. */
  readonly watermarkMs: number;
  /**
   * A keyed shard heard again from an input that was idle or new, or got its first processing-time timer:
   * the watermark function may be asleep, and must wake.
   */
  readonly wokeInput: boolean;
}

/** Keyed records for one lane of a next stage's stream (see Lane). */
export interface ShuffleOutput {
  readonly stream: string;
  readonly lane: string;
  readonly elements: readonly KeyedElement[];
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
  /** The stateless chain before a keyed operator in a source stage, cut at its first mapAsync. */
  private readonly pre: SplitChain;
  /** Each flow's operators cut at their first mapAsync. */
  private readonly splits = new Map<Flow, SplitChain>();
  /** Prefixes source shards in origins when the job has several sources, whose shard ids would collide. */
  private readonly sourcePrefix: string;

  constructor(
    private readonly plan: Plan,
    readonly stage: Stage,
    /** The keyed shards' states; required for a keyed stage. */
    private readonly states?: ShardStates,
    /**
     * An input shard's parents and hash range, for a keyed stage: a child shard of a reshard of its input
     * stream (a partitioned source, or a shuffle stream) starts from its parents' state for its keys.
     * Without it, such a reshard loses state.
     */
    private readonly lineage?: (shardId: string) => Promise<{ parents: readonly string[]; startingHashKey: bigint; endingHashKey: bigint } | undefined>,
  ) {
    if (stage.keyed) {
      if (!states) throw new Error(`stage ${stage.id} is keyed: it needs shard states`);
      const operator = stage.keyed.kind === 'window' ? windowOperator(stage.keyed) : processOperator(stage.keyed);
      const lanes = stage.input.kind === 'shuffle' ? stage.input.lanes : [];
      this.keyedShard = new KeyedShard(operator, {
        idleAfterMs: stage.eventTime.idleAfterMs,
        outOfOrdernessMs: stage.eventTime.outOfOrdernessMs,
        plannedInputs: lanes.length === 0 ? 1 : lanes.reduce((n, l) => n + plannedShards(plan, l) * upstreamOf(plan, l).keyGroups, 0),
        ...(lanes.length > 0 && { isPlannedInput: plannedSender(lanes, (l) => plannedShards(plan, l)) }),
        inputOf: inputOfSender(lanes),
        idleBySilence: idleBySilenceOf(lanes, (l) => upstreamOf(plan, l).input.kind === 'source'),
      });
    }
    this.lateSink = stage.keyed?.kind === 'window' ? stage.keyed.lateSink?.name : undefined;
    this.pre = splitAtAsync(stage.pre);
    this.sourcePrefix = stage.input.kind === 'source' && plan.stages.filter((s) => s.input.kind === 'source').length > 1 ? `${stage.input.stream}:` : '';
  }

  /** The log of one of this stage's input shards (a logical shard `<shard>.g<k>` when the stage has key groups). */
  logOf(shardId: string): LogId {
    return { stageId: this.stage.stateId, shardId };
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
      const decoded = this.decodeSource(batch, deadLetters);
      const shuffles = this.emptyShuffles();
      const items: FlowItem[] = decoded.records.flatMap((r, base) => r.elements.map((e) => ({ value: e.value, base })));
      const elementOf = (item: FlowItem): KeyedElement => decoded.records[item.base]!.elements[0]!;
      await this.runFlow(this.stage.flow, items, {
        failed: (item, e) => deadLetters.push(this.deadLetterOf({ id: recordDeadLetterId(elementOf(item).origin, e.operator), operator: e.operator, reason: e.message, value: elementOf(item).value, element: elementOf(item) })),
        deliver: (out, delivered) => {
          const counts = new Map<number, number>();
          for (const item of delivered) {
            const subIndex = counts.get(item.base) ?? 0;
            counts.set(item.base, subIndex + 1);
            const { origin, timestampMs } = elementOf(item);
            const at = { ...origin, subIndex };
            if (out.kind === 'sink') outputs.push({ sink: out.sink.name, output: { id: prefixed(out.idPrefix, originKey(at)), record: asRecord(item.value) } });
            else this.shuffle(shuffles, out, { origin: at, timestampMs, value: item.value, key: '' }, deadLetters);
          }
        },
      });
      // In record order, as a record-by-record stage would have refused them (decoding first, then the flow).
      deadLetters.sort((a, b) => comparePositions({ sequenceNumber: a.sequenceNumber, subIndex: 0 }, { sequenceNumber: b.sequenceNumber, subIndex: 0 }));
      const maxEventTimeMs = decoded.maxEventTimeMs;
      const watermarkMs = maxEventTimeMs === NO_WATERMARK ? NO_WATERMARK : boundedOutOfOrderness(maxEventTimeMs, this.stage.eventTime.outOfOrdernessMs);
      // The marker says how far the shard has been read: the watermark function looks after it before anyone takes the shard for idle.
      const at = batch.kind === 'source' ? batch.records[batch.records.length - 1]?.sequenceNumber : undefined;
      const result: StageResult = { shuffles: [...shuffles.values()], marker: { watermarkMs, ...(at !== undefined && { at }) }, outputs, late: [], deadLetters, watermarkMs, wokeInput: false };
      return { result, commit: async () => 'unchanged' };
    }

    const states = this.states!;
    const log = this.logOf(batch.shardId);
    try {
      const state = await states.current(log);
      const first = state.slot === 0 && !state.changed;
      if (first) await this.inheritFromParents(state, batch.shardId);
      const watermarkBefore = state.watermarkMs;
      const run = this.keyedShard.run(state);
      if (first) run.fireOverdueAtNextRecord();
      if (batch.kind === 'source') {
        // Record by record: its elements at the watermark so far, then the watermark follows its event time
        // (filtered and refused records' too), so where the watermark moves does not depend on batching.
        // What a record makes downstream is named after its position here; a redriven record's elements are
        // applied under its redrive's input and move no watermark (lib/io/redrive.ts).
        for (const record of this.decodeSource(batch, deadLetters).records) {
          run.beginRecord(record.sequenceNumber);
          const keyed: KeyedElement[] = [];
          for (const e of record.elements) {
            const key = this.keyOf(this.stage.keyBy!, e, 'keyBy', deadLetters);
            if (key !== undefined) keyed.push(withKey(e, key));
          }
          run.sourceElements(record.input, record.arrivalMs, keyed);
          if (!record.redriven) run.sourceEventTime(record.timestampMs);
        }
      } else {
        for (const input of batch.inputs) {
          run.beginRecord(input.sequenceNumber);
          // An envelope for another shard came here by a stale route map (a reshard): its sender sends it again.
          if (input.kind === 'envelope') run.envelope(input.from, input.arrivalMs, input.to === undefined || input.to === batch.shardId ? input.elements : []);
          else if (input.kind === 'marker') run.marker(input.from, input.arrivalMs, input);
          else run.tick(input.arrivalMs, input);
        }
      }
      run.endBatch(batch.kind === 'source' ? batch.records.at(-1)?.sequenceNumber : batch.inputs.at(-1)?.sequenceNumber);
      const result = await this.resultOf(batch.shardId, run, watermarkBefore, outputs, deadLetters);
      const entry = states.prepare(log, state, run.nextProcessingTimerMs);
      return { result, commit: () => states.commit(log, state, entry) };
    } catch (e) {
      states.drop(log);
      throw e;
    }
  }

  /**
   * An input shard with an empty log that a reshard made: it takes its parents' final state for the keys
   * whose partition key hashes into its range — Kinesis routes by the MD5 of the partition key, which a
   * source declared `partitionedBy` the key uses, and the shuffle emitter routes each key by the same hash
   * (lib/io/shuffle-emitter.ts) — and, after a shuffle, what they applied of each upstream shard
   * (lib/runtime/keyed/inheritance.ts). The event source mapping reads parents before children, so their
   * logs are complete.
   */
  private async inheritFromParents(state: ShardState, shardId: string, depth = 0): Promise<void> {
    // With key groups, a child's group takes over its parents' same group: a key's group does not depend on its shard.
    const groups = this.stage.keyGroups;
    const { shardId: physical, group } = shardOfLogical(shardId, groups);
    const lineage = await this.lineage?.(physical);
    if (!lineage || lineage.parents.length === 0) return;
    const parents: ParentShard[] = [];
    for (const parent of lineage.parents) {
      // A parent past the stream's retention is no longer listed: its marks then hold over the child's range.
      const range = (await this.lineage!(parent)) ?? lineage;
      const logical = logicalShard(parent, group, groups);
      let parentState = await this.states!.current(this.logOf(logical));
      // A parent that never ran (a reshard closed it before anything reached it: chaos session 3016, a merge
      // split again within a second) holds what it would have taken over: its own parents' state, taken here.
      if (parentState.slot === 0 && depth < MAX_UNRUN_ANCESTORS) {
        parentState = new ShardState();
        await this.inheritFromParents(parentState, logical, depth + 1);
      }
      parents.push({ state: parentState, range });
    }
    inheritFromParents(state, lineage, parents, this.stage.input.kind === 'shuffle');
  }

  /** Forgets a shard's cached state (a batch failed after `run`): the next run reloads it from the log. */
  drop(shardId: string): void {
    this.states?.drop(this.logOf(shardId));
  }

  private async resultOf(shardId: string, run: KeyedShardRun, watermarkBefore: number, outputs: SinkOutput[], deadLetters: DeadLetter[]): Promise<StageResult> {
    const shuffles = this.emptyShuffles();
    await this.deliverKeyed(shardId, run.outputs, outputs, shuffles, deadLetters);
    for (const f of run.failures) deadLetters.push(this.deadLetterOf(f));
    if (this.lateSink) {
      for (const e of run.lateElements) outputs.push({ sink: this.lateSink, output: { id: `late/${originKey(e.origin)}`, record: asRecord(e.value) } });
    }
    const idle = run.state.allInputsIdle;
    const silent = idle && run.wasIdle && run.watermarkMs === watermarkBefore && [...shuffles.values()].every((s) => s.elements.length === 0);
    const owes = idle ? run.nextEventFiringMs : undefined;
    const marker = shuffles.size > 0 && !silent ? { watermarkMs: run.watermarkMs, at: run.lastInputSequenceNumber, ...(idle && { idle: true as const }), ...(owes !== undefined && { owes }) } : undefined;
    return { shuffles: [...shuffles.values()], marker, outputs, late: run.lateElements, deadLetters, watermarkMs: run.watermarkMs, wokeInput: run.wokeInput };
  }

  /**
   * Decodes JSON and reads event time, then runs the stateless chain: per record with an event time, the
   * elements it became (none when filtered out or refused).
   */
  private decodeSource(batch: StageBatch, deadLetters: DeadLetter[]): { records: DecodedRecord[]; maxEventTimeMs: number } {
    const source = this.stage.input.kind === 'source' ? this.stage.input.source : undefined;
    if (!source || batch.kind !== 'source') throw new Error(`${this.stage.id} is not a source stage`);
    let maxEventTimeMs = NO_WATERMARK;
    const records: DecodedRecord[] = [];
    for (const r of batch.records) {
      const dead = (reason: string, operator: string): void => void deadLetters.push(sourceDeadLetter(r, reason, operator, this.sourcePrefix));
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
      // A redriven record is old: it moves no watermark. Its elements keep the position it had, under its redrive's input.
      if (ts > maxEventTimeMs && !r.redriven) maxEventTimeMs = ts;
      const shardId = this.sourcePrefix + (r.redriven?.input ?? r.shardId);
      const sequenceNumber = r.redriven?.sequenceNumber ?? r.sequenceNumber;
      const elements: KeyedElement[] = [];
      records.push({ timestampMs: ts, arrivalMs: r.arrivalMs ?? 0, sequenceNumber: r.sequenceNumber, input: r.redriven?.input ?? r.shardId, redriven: r.redriven !== undefined, elements });
      if (this.stage.pre.length === 0) {
        elements.push({ origin: { shardId, sequenceNumber, subIndex: 0 }, timestampMs: ts, value, key: '' });
        continue;
      }
      try {
        runChain(this.pre.head, value, (v, subIndex) => {
          elements.push({ origin: { shardId, sequenceNumber, subIndex }, timestampMs: ts, value: v, key: '' });
        });
      } catch (e) {
        if (!(e instanceof RecordError)) throw e;
        dead(e.message, e.operator);
      }
    }
    return { records, maxEventTimeMs };
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
   * The source chain's tail from its first mapAsync, over the whole batch's elements at once: an element
   * keeps its origin (the tail is one record in, at most one out), takes its new value, or is dropped —
   * filtered, or dead-lettered with the reason its call failed.
   */
  private async runPreTail(records: DecodedRecord[], deadLetters: DeadLetter[]): Promise<void> {
    const elements = records.flatMap((r) => r.elements);
    const outcomes = await runAsyncTail(this.pre.tail, elements.map((e) => e.value));
    const kept = new Map<KeyedElement, KeyedElement>();
    elements.forEach((e, i) => {
      const outcome = outcomes[i];
      if (outcome && 'value' in outcome) kept.set(e, { ...e, value: outcome.value });
      else if (outcome) deadLetters.push(this.deadLetterOf({ id: recordDeadLetterId(e.origin, outcome.error.operator), operator: outcome.error.operator, reason: outcome.error.message, value: e.value, element: e }));
    });
    for (const r of records) r.elements = r.elements.flatMap((e) => kept.get(e) ?? []);
  }

  /**
   * Runs keyed outputs through the flows after the keyed operator — the main one, and each side output's
   * — to sinks or, keyed again, to the next keyed stages. An element for a next stage is named after the
   * input record of this shard that produced it — (this shard, that record's sequence number, a running
   * index among what the record produced on that route) — so positions only grow in this shard's stream
   * order, and a retried, bisected or zombie batch, which computes the same outputs for the same records,
   * sends them under the same positions: the next stage's marks drop the repeats.
   */
  private async deliverKeyed(shardId: string, produced: readonly KeyedOutput[], outputs: SinkOutput[], shuffles: Map<string, ShuffleBuffer>, deadLetters: DeadLetter[]): Promise<void> {
    const byFlow = new Map<Flow, FlowItem[]>();
    produced.forEach((k, base) => {
      const flow = k.tag === undefined ? this.stage.flow : this.stage.sideFlows[k.tag];
      if (!flow) return; // a side output nothing reads: dropped, as Flink drops it
      let items = byFlow.get(flow);
      if (!items) byFlow.set(flow, (items = []));
      items.push({ value: k.output.record, base });
    });
    for (const [flow, items] of byFlow) {
      await this.runFlow(flow, items, {
        failed: (item, e) => {
          const o = produced[item.base]!.output;
          deadLetters.push(this.deadLetterOf({ id: `${o.id}/${e.operator}`, operator: e.operator, reason: e.message, value: { id: o.id, record: o.record } }));
        },
        deliver: (out, delivered) => {
          const fanOut = new Map<number, number>();
          const running = new Map<string, number>();
          for (const item of delivered) {
            const k = produced[item.base]!;
            if (out.kind === 'sink') {
              const i = fanOut.get(item.base) ?? 0;
              fanOut.set(item.base, i + 1);
              const id = prefixed(out.idPrefix, i === 0 ? k.output.id : `${k.output.id}.${i}`);
              outputs.push({ sink: out.sink.name, output: { id, record: asRecord(item.value), ...(k.output.order !== undefined && { order: k.output.order }) } });
              continue;
            }
            const subIndex = running.get(k.inputSequenceNumber) ?? 0;
            running.set(k.inputSequenceNumber, subIndex + 1);
            this.shuffle(shuffles, out, { origin: { shardId, sequenceNumber: k.inputSequenceNumber, subIndex }, timestampMs: k.timestampMs, value: asRecord(item.value), key: '' }, deadLetters);
          }
        },
      });
    }
  }

  /**
   * Runs a flow over a batch's items: its operators (record by record up to the first mapAsync, then over
   * the whole batch at once), then each branch and output. An item keeps its `base`, the record it came from.
   */
  private async runFlow(flow: Flow, items: readonly FlowItem[], on: FlowCallbacks): Promise<void> {
    let split = this.splits.get(flow);
    if (!split) this.splits.set(flow, (split = splitAtAsync(flow.ops)));
    let out: FlowItem[] = [];
    if (split.head.length === 0) {
      out = [...items];
    } else {
      for (const item of items) {
        try {
          runChain(split.head, item.value, (value) => out.push({ value, base: item.base }));
        } catch (e) {
          if (!(e instanceof RecordError)) throw e;
          on.failed(item, e);
        }
      }
    }
    if (split.tail.length > 0) {
      const outcomes = await runAsyncTail(split.tail, out.map((i) => i.value));
      const kept: FlowItem[] = [];
      out.forEach((item, i) => {
        const outcome = outcomes[i];
        if (outcome && 'value' in outcome) kept.push({ value: outcome.value, base: item.base });
        else if (outcome) on.failed(item, outcome.error);
      });
      out = kept;
    }
    for (const next of flow.next) {
      if (isFlow(next)) await this.runFlow(next, out, on);
      else on.deliver(next, out);
    }
  }

  /** One buffer per shuffle output of the stage, so that every lane gets its marker, elements or not. */
  private emptyShuffles(): Map<string, ShuffleBuffer> {
    const buffers = new Map<string, ShuffleBuffer>();
    for (const out of stageOutputs(this.stage)) if (out.kind === 'shuffle') buffers.set(`${out.stream} ${out.lane}`, { stream: out.stream, lane: out.lane, elements: [] });
    return buffers;
  }

  /** Keys an element for a shuffle output (a key selector that throws sends it to the dead letters). */
  private shuffle(shuffles: Map<string, ShuffleBuffer>, out: Extract<StageOutput, { kind: 'shuffle' }>, e: KeyedElement, deadLetters: DeadLetter[]): void {
    const key = this.keyOf(out.keyBy, e, out.keyById, deadLetters);
    if (key !== undefined) shuffles.get(`${out.stream} ${out.lane}`)!.elements.push(withKey(e, key));
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

/**
 * A source record, decoded: its event time, its arrival time, its position in the shard, the input its
 * elements are applied under (the shard, or a redrive's), and the elements the stage's chain made of it.
 */
interface DecodedRecord {
  readonly timestampMs: number;
  readonly arrivalMs: number;
  readonly sequenceNumber: string;
  readonly input: string;
  readonly redriven: boolean;
  elements: KeyedElement[];
}

/** A source record refused before it became elements: malformed, without an event time, or failed by the chain. */
/** `sourcePrefix` names the stream when the job has several sources, as the elements' origins do: their shard ids collide. */
function sourceDeadLetter(r: SourceRecord, reason: string, operator: string, sourcePrefix: string): DeadLetter {
  // A redriven record's dead letter is the one its first failure would have written: redriven again, the same.
  const at = r.redriven ? { shardId: r.redriven.input, sequenceNumber: r.redriven.sequenceNumber } : r;
  const shardId = sourcePrefix + at.shardId;
  return { id: recordDeadLetterId({ shardId, sequenceNumber: at.sequenceNumber, subIndex: 0 }, operator), reason, shardId, sequenceNumber: at.sequenceNumber, data: r.data.slice(0, 1024), operator };
}

/** An item going through a flow: its value, and which of the batch's records (or keyed outputs) it came from. */
interface FlowItem {
  readonly value: unknown;
  readonly base: number;
}

interface FlowCallbacks {
  failed(item: FlowItem, error: RecordError): void;
  /** The items that reached an output, in order. */
  deliver(output: StageOutput, items: readonly FlowItem[]): void;
}

type ShuffleBuffer = { readonly stream: string; readonly lane: string; readonly elements: KeyedElement[] };

/** Generations of reshards in a row that closed a shard before it ran: more is a stream resharded over and over with no data. */
const MAX_UNRUN_ANCESTORS = 8;

const prefixed = (prefix: string, id: string): string => (prefix === '' ? id : `${prefix}/${id}`);

/**
 * Which input of a two-input operator a sender feeds: a stream's only lane says it for every sender;
 * otherwise the sender names its lane (`s0.1/shardId-…`, a redrive's `redrive:s0.1/…`).
 */
function inputOfSender(lanes: readonly Lane[]): (from: string) => number {
  if (lanes.length <= 1) {
    const input = lanes[0]?.input ?? 0;
    return () => input;
  }
  const byName = new Map(lanes.map((l) => [l.name, l.input]));
  return (from) => {
    const bare = isRedriveInput(from) ? from.slice(REDRIVE_PREFIX.length) : from;
    return byName.get(bare.slice(0, bare.indexOf('/'))) ?? 0;
  };
}

/**
 * Whether a sender goes idle by silence: a shard of a stage that reads a source does — a source stage's, or
 * a keyed stage's on a source `partitionedBy` its key (it runs on its records only, no ticks, so it can never
 * find its input idle) — and a keyed stage's after a shuffle only says so (see Marker). A stream's only
 * lane says it for every sender; otherwise the sender names its lane.
 */
function idleBySilenceOf(lanes: readonly Lane[], fromSource: (lane: Lane) => boolean): (from: string) => boolean {
  if (lanes.length <= 1) {
    const bySilence = lanes[0] === undefined || fromSource(lanes[0]);
    return () => bySilence;
  }
  const byName = new Map(lanes.map((l) => [l.name, fromSource(l)]));
  return (from) => byName.get(from.slice(0, from.indexOf('/'))) ?? true;
}

const upstreamOf = (plan: Plan, lane: Lane): Stage => plan.stages.find((s) => s.id === lane.fromStage)!;

/** The shards the plan gives a lane's upstream stage's input (each of its key groups sends as a shard of its own). */
const plannedShards = (plan: Plan, lane: Lane): number => upstreamOf(plan, lane).input.shards;

/**
 * Whether a sender is one of the upstream shards the plan sizes: its shard numbered below its lane's planned
 * shard count. Kinesis numbers a stream's shards in the order they are made, so a reshard's children come
 * after: their markers must not stand in for a planned shard that has not spoken yet (chaos join seed 6010:
 * a split child's markers did, and the coGroup fired its first windows before the slow shard's clicks came).
 */
function plannedSender(lanes: readonly Lane[], shardsOf: (lane: Lane) => number): (from: string) => boolean {
  const single = lanes.length === 1 ? lanes[0] : undefined;
  const planned = new Map(lanes.map((l) => [l.name, shardsOf(l)]));
  return (from) => {
    if (isRedriveInput(from)) return false;
    // A stream's only lane keeps the bare shard id; otherwise the sender is `<lane>/<shard>`.
    const slash = from.lastIndexOf('/');
    const shards = single ? shardsOf(single) : (planned.get(from.slice(0, slash)) ?? 0);
    // A sender without a shard number (a test's name for it) counts, as every sender did before. A logical
    // shard of an upstream stage with key groups (`<shard>.g<k>`) counts as its shard.
    const number = /(\d+)(?:\.g\d+)?$/.exec(single ? from : from.slice(slash + 1));
    return number === null || Number(number[1]) < shards;
  };
}

/** Sets the key of an element this stage created (keyed elements are immutable to everyone else). */
function withKey(e: KeyedElement, key: string): KeyedElement {
  (e as { key: string }).key = key;
  return e;
}
