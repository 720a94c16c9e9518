import { isRedriveInput } from '../../io/redrive';
import type { InputState, ShardState } from '../../state/shard-state';
import { boundedOutOfOrderness, NO_WATERMARK } from '../../time/watermark';
import { comparePositions, type Element, type KeyedElement, type KeyedOutput, type Marker, type Output, type Tick } from '../records';
import { appliedBefore, inheritedMarksOf, laterPosition, type InheritedMarks } from './inheritance';
import { DueIndex, type Failure, type KeyedOperatorRuntime, type OperatorContext } from './keyed-operator';

/** What a keyed shard needs to know of its stage to move its watermark. */
export interface KeyedShardSettings {
  readonly idleAfterMs: number;
  readonly outOfOrdernessMs: number;
  /**
   * Upstream shards the plan sizes (a shuffled stage): until as many have been heard from, or a tick has
   * named them, or the first heard is `idleAfter` old, the watermark waits — as Flink waits for every
   * input channel — so a late starter's on-time records are not late.
   */
  readonly plannedInputs: number;
  /**
   * Whether a sender is one of those planned shards (a shuffled stage). A reshard's children are not: one that
   * speaks first must not stand in for a planned shard not heard yet. Without it, every sender counts.
   */
  readonly isPlannedInput?: (from: string) => boolean;
  /** Which input of the operator a sender feeds (a co-process function has two; see Lane). */
  readonly inputOf: (from: string) => number;
  /**
   * Whether a sender goes idle by being silent for `idleAfter` — a shard of a stage that reads a source,
   * which cannot tell a quiet input from its own — or only on its word, in its markers (a keyed stage's
   * shard after a shuffle: see Marker). Without it, every sender goes idle by silence.
   */
  readonly idleBySilence?: (from: string) => boolean;
}

/**
 * A keyed operator over one shard's state, fed in stream order. Where the watermark moves is part of the
 * stream — a marker from an upstream shard, a tick from the watermark function, a source record's event
 * time — and idleness is decided from records' arrival times: so a batch, retried, bisected or run again
 * on another container, computes the same outputs for the same records. Processing time is the same
 * kind of thing: the arrival time of the record being processed (ticks included), never the clock of
 * the container that runs the batch.
 */
export class KeyedShard {
  /** Per state object: which keys are due when (rebuilt when a state is loaded anew). */
  private readonly dueIndexes = new WeakMap<ShardState, DueIndexes>();

  constructor(
    readonly operator: KeyedOperatorRuntime,
    readonly settings: KeyedShardSettings,
  ) {}

  /**
   * Starts a batch on the shard's current state. Its due indexes follow the keys that log entries written
   * by other containers changed since this one last ran (a shard's batches go to any warm container).
   */
  run(state: ShardState): KeyedShardRun {
    let due = this.dueIndexes.get(state);
    const applied = state.takeAppliedKeys();
    if (!due || applied === 'all') {
      due = { event: new DueIndex(), processing: this.operator.onProcessingTime ? new DueIndex() : undefined };
      for (const key of state.keys()) indexKey(due, this.operator, state, key);
      this.dueIndexes.set(state, due);
    } else {
      for (const key of applied) indexKey(due, this.operator, state, key);
    }
    return new KeyedShardRun(state, this.operator, due, this.settings);
  }
}

/** Which keys are due when: by the watermark, and (for operators with processing-time timers or windows) by processing time. */
interface DueIndexes {
  readonly event: DueIndex;
  readonly processing: DueIndex | undefined;
}

function indexKey(due: DueIndexes, operator: KeyedOperatorRuntime, state: ShardState, key: string): void {
  const keyState = state.get(key);
  due.event.set(key, operator.nextFireAt(keyState));
  due.processing?.set(key, operator.nextProcessingTimeAt!(keyState));
}

/** One batch on one shard: what it emitted, refused and failed, in order. */
export class KeyedShardRun implements OperatorContext {
  readonly outputs: KeyedOutput[] = [];
  readonly lateElements: Element[] = [];
  readonly failures: Failure[] = [];
  /** The shard's processing time at the record being processed (see {@link arriving}). */
  processingTimeMs: number;
  /** An input that had been idle (or was new) spoke again. */
  private heardAgain = false;
  /** Whether the shard had a processing-time timer pending when the batch started. */
  private readonly hadProcessingTimer: boolean;
  /** Whether every input of the shard was idle when the batch started (it had said so downstream). */
  readonly wasIdle: boolean;
  /** The sequence number of the input record being processed: what it makes downstream is named after it. */
  private inputSequenceNumber = '0';
  /** Per key, the timer firings the input record being processed has caused (see {@link firingId}). */
  private readonly firings = new Map<string, number>();
  /** The shard's inherited marks, read once per batch (a batch adds none). */
  private inherited: InheritedMarks | undefined;
  /** What is due at the shard's own watermark fires at the next record (see {@link fireOverdueAtNextRecord}). */
  private overdue = false;

  constructor(
    readonly state: ShardState,
    private readonly operator: KeyedOperatorRuntime,
    private readonly due: DueIndexes,
    private readonly settings: KeyedShardSettings,
  ) {
    this.processingTimeMs = state.processingTimeMs;
    this.hadProcessingTimer = due.processing?.earliest() !== undefined;
    this.wasIdle = state.allInputsIdle;
  }

  /** The sequence number of the last input record the batch processed ('0' before any): what its marker's status is as of. */
  get lastInputSequenceNumber(): string {
    return this.inputSequenceNumber;
  }

  get watermarkMs(): number {
    return this.state.watermarkMs;
  }

  /**
   * Whether the watermark function, asleep while every input is idle and no processing-time timer is
   * pending, must be woken: an input that had been idle (or was new) spoke again, or the shard has its first
   * processing-time timer, which only ticks will fire if no events come.
   */
  get wokeInput(): boolean {
    return this.heardAgain || (!this.hadProcessingTimer && this.nextProcessingTimerMs !== undefined);
  }

  /** The earliest processing-time timer or window end pending on the shard, for its log's head (the watermark function ticks it then). */
  get nextProcessingTimerMs(): number | undefined {
    return this.due.processing?.earliest();
  }

  /**
   * The earliest event time a window or timer of the shard is due at (what an idle shard still owes: see
   * Marker's `owes`). A fired window kept for allowed lateness counts at its cleanup, though that emits nothing.
   */
  get nextEventFiringMs(): number | undefined {
    return this.due.event.earliest();
  }

  emit(output: Output, timestampMs: number, tag?: string): void {
    this.outputs.push({ output, timestampMs, inputSequenceNumber: this.inputSequenceNumber, ...(tag !== undefined && { tag }) });
  }

  /** The next input record (envelope, marker, tick or source record) is the one at `sequenceNumber` in the shard. */
  beginRecord(sequenceNumber: string): void {
    this.inputSequenceNumber = sequenceNumber;
    this.firings.clear();
    if (this.overdue) {
      this.overdue = false;
      this.fireDue(this.state.watermarkMs);
    }
  }

  firingId(key: string): string {
    const n = this.firings.get(key) ?? 0;
    this.firings.set(key, n + 1);
    return `${this.inputSequenceNumber}.${n}`;
  }

  late(element: Element): void {
    this.lateElements.push(element);
  }

  fail(failure: Failure): void {
    this.failures.push(failure);
  }

  /**
   * An envelope's elements from upstream shard `from`, in order. Those at or below the shard's mark for
   * `from` were applied already (a retried upstream batch sends them again) and are skipped.
   */
  envelope(from: string, arrivalMs: number, elements: readonly KeyedElement[]): void {
    this.arriving(arrivalMs);
    // A redrive's input is no upstream shard: it holds no watermark and is never heard from again.
    if (!isRedriveInput(from)) this.heard(from, arrivalMs, NO_WATERMARK, undefined);
    this.applyElements(from, elements, this.settings.inputOf(from));
    this.arrived(true);
  }

  /**
   * A marker: upstream shard `from` has moved its watermark to `watermarkMs` (its records before it came
   * first) and, from a keyed stage, says whether it is idle (see Marker).
   */
  marker(from: string, arrivalMs: number, marker: Marker): void {
    this.arriving(arrivalMs);
    this.heard(from, arrivalMs, marker.watermarkMs, marker);
    this.arrived(true);
  }

  /**
   * A tick from the watermark function (see Tick): the time of its arrival decides which inputs have gone
   * idle, and `upstream` names every upstream shard that exists, heard from or not. `ended` names upstream
   * shards a reshard closed and that are done (their children run): they will send nothing more, so they stop
   * holding the watermark back now rather than `idleAfter` after their last marker. `caughtUp` names source
   * stages' shards whose source shard the watermark function found nothing in after the position given
   * ('' from its start): one silent for `idleAfter` whose last marker was at that position is idle.
   *
   * `startAt` (a stage an upgrade added): where the previous version had read each source shard. A new input
   * starts there, as if it had read that far — what the previous version read never reaches this stage (a
   * batch retried across the upgrade sends it again: skipped), and the watermark function looks after that
   * position, not from the shard's start, before taking a quiet shard for idle.
   *
   * `resumed`: the runtime was down and has started again on its data (`shardflow dev --data`). Its inputs
   * were silent because nothing ran, so silence before this tick says nothing of idleness: every input that
   * has not ended counts as heard now, as Flink restores a job with every input channel active. Without it,
   * the first upstream shard to catch up after a long stop would carry the watermark past the others'
   * backlog, and those records would be late.
   */
  tick(arrivalMs: number, { upstream, ended = [], resumed, caughtUp = {}, startAt = {} }: Tick): void {
    this.arriving(arrivalMs);
    if (resumed) {
      for (const [u, input] of [...this.state.allInputs()]) {
        if (ended.includes(u) || isRedriveInput(u)) continue;
        this.state.setInput(u, withStatus(input, false, Math.max(input.heardAtMs, arrivalMs)));
        // An input active again goes idle only on a later tick: a sleeping watermark function must wake.
        if (input.idle) this.heardAgain = true;
      }
    }
    for (const u of upstream) {
      if (this.state.input(u) || ended.includes(u)) continue;
      // A new input holds the watermark until it speaks or goes idle, which only a later tick can tell: a
      // sleeping watermark function must wake for it.
      const at = startAt[u];
      this.state.setInput(u, { watermarkMs: NO_WATERMARK, heardAtMs: arrivalMs, idle: false, ...(at !== undefined && { statusAt: at }) });
      if (at !== undefined && !this.state.mark(u)) this.state.setMark(u, { sequenceNumber: at, subIndex: Number.MAX_SAFE_INTEGER });
      this.heardAgain = true;
    }
    for (const u of ended) {
      const input = this.state.input(u);
      if (input && (!input.idle || input.owes !== undefined)) this.state.setInput(u, withStatus(input, true));
    }
    this.markIdle(arrivalMs, caughtUp);
    this.advanceTo(this.combined(arrivalMs, true));
    this.arrived(false);
  }

  /**
   * Elements of the shard's own source records (a source declared partitioned by the key: no shuffle):
   * each is applied at the watermark so far, and the watermark then follows its event time.
   */
  sourceElements(shardId: string, arrivalMs: number, elements: readonly KeyedElement[]): void {
    this.arriving(arrivalMs);
    const mark = this.state.mark(shardId);
    const ooo = this.settings.outOfOrdernessMs;
    for (const e of elements) {
      if (mark && comparePositions(e.origin, mark) <= 0) continue;
      this.applyOne(e, 0);
      const wm = boundedOutOfOrderness(e.timestampMs, ooo);
      if (wm > this.state.watermarkMs) this.advanceTo(wm);
    }
    const last = elements[elements.length - 1];
    if (last && (!mark || comparePositions(last.origin, mark) > 0)) this.state.setMark(shardId, last.origin);
    this.arrived(true);
  }

  /** The source shard's own records moved its watermark without elements (e.g. filtered out). */
  sourceEventTime(timestampMs: number): void {
    const wm = boundedOutOfOrderness(timestampMs, this.settings.outOfOrdernessMs);
    if (wm > this.state.watermarkMs) this.advanceTo(wm);
  }

  /** Moves the shard's watermark forward to `watermarkMs` and fires every key due by it, earliest first. */
  advanceTo(watermarkMs: number): void {
    if (watermarkMs <= this.state.watermarkMs) return;
    this.state.setWatermark(watermarkMs);
    this.fireDue(watermarkMs);
  }

  /**
   * A shard a reshard made starts at the highest of its parents' watermarks, with a lagging parent's windows
   * and timers that are due below it: they fire at its first record, before anything it sends — its marker
   * would otherwise carry the next stage past them, and they would come late at its next advance (chaos
   * chained 4015). Flink likewise fires restored timers at the first watermark after a restore.
   */
  fireOverdueAtNextRecord(): void {
    this.overdue = true;
  }

  /**
   * Ends a batch: what is still overdue (no record began — a source batch whose records were all
   * dead-lettered) fires under the batch's last position, since the batch commits the inherited state.
   */
  endBatch(lastSequenceNumber: string | undefined): void {
    if (this.overdue && lastSequenceNumber !== undefined) this.beginRecord(lastSequenceNumber);
  }

  private fireDue(watermarkMs: number): void {
    for (let key = this.due.event.peekDue(watermarkMs); key !== undefined; key = this.due.event.peekDue(watermarkMs)) {
      this.operator.onWatermark(key, this);
      indexKey(this.due, this.operator, this.state, key);
    }
  }

  /**
   * A record arrived: processing time moves to its arrival time (never back), and what is due by then fires
   * before the record's elements — a timer at or before the arrival, a window that ended by then — so a
   * timer the record's own elements would reset still fires if its time had come (a device silent too
   * long, then heard from), and elements never land in a window that has fired.
   */
  private arriving(arrivalMs: number): void {
    this.processingTimeMs = Math.max(this.state.processingTimeMs, arrivalMs);
    this.fireProcessingTime();
  }

  /**
   * After the record's elements: timers its calls registered at or before its processing time fire now, so
   * that nothing due is left pending behind the shard's processing time. The shard keeps that time after
   * every record — ticks included — when its operator has processing-time timers or windows: a retry runs a
   * batch's ticks and markers again (nothing marks them applied), and only a kept time, with nothing due
   * behind it, makes that idempotent, though arrival times may go back. An event-time operator never reads
   * processing time: there a tick that fires nothing changes nothing.
   */
  private arrived(data: boolean): void {
    this.fireProcessingTime();
    if (data || this.due.processing) this.state.setProcessingTime(this.processingTimeMs);
  }

  /** Fires every key due by processing time `processingTimeMs`, earliest first. */
  private fireProcessingTime(): void {
    const due = this.due.processing;
    if (!due) return;
    for (let key = due.peekDue(this.processingTimeMs); key !== undefined; key = due.peekDue(this.processingTimeMs)) {
      this.operator.onProcessingTime!(key, this);
      indexKey(this.due, this.operator, this.state, key);
    }
  }

  private applyElements(from: string, elements: readonly KeyedElement[], input: number): void {
    const mark = this.state.mark(from);
    // A shard a reshard made skips, too, what its parents applied of their ranges (inheritance.ts).
    const inherited = (this.inherited ??= inheritedMarksOf(this.state)).get(from);
    let last: KeyedElement | undefined;
    for (const e of elements) {
      // Elements of one upstream shard come in position order: once one is past the mark, all after it are.
      if (!last && mark && comparePositions(e.origin, mark) <= 0) continue;
      if (inherited && appliedBefore(inherited, e)) continue;
      this.applyOne(e, input);
      last = e;
    }
    if (last) this.state.setMark(from, last.origin);
  }

  private applyOne(e: KeyedElement, input: number): void {
    this.operator.onElement(e.key, e, this, input);
    indexKey(this.due, this.operator, this.state, e.key);
  }

  /** Records that `from` spoke at `arrivalMs` (with its watermark and status, for a marker), then moves the watermark. */
  private heard(from: string, arrivalMs: number, watermarkMs: number, marker: Marker | undefined): void {
    const before = this.state.input(from);
    // An input that goes idle by silence is active again whenever it speaks; its marker says how far it has
    // read (never back: a marker delivered late, a zombie's).
    const { idle, statusAt, owes } = this.idleBySilence(from) ? { idle: false, statusAt: laterPosition(before?.statusAt, marker?.at), owes: undefined } : statusAfter(before, marker);
    if (!idle && (!before || before.idle)) this.heardAgain = true;
    const input = { watermarkMs: Math.max(watermarkMs, before?.watermarkMs ?? NO_WATERMARK), heardAtMs: Math.max(arrivalMs, before?.heardAtMs ?? arrivalMs), idle, ...(owes !== undefined && { owes }) };
    this.state.setInput(from, statusAt === undefined ? input : { ...input, statusAt });
    this.markIdle(arrivalMs);
    this.advanceTo(this.combined(arrivalMs, false));
  }

  /**
   * Inputs silent for `idleAfter` by `nowMs` stop holding the watermark back (Flink's withIdleness), if silence
   * is what makes them idle — and only once the watermark function has found nothing in their source shard
   * after what they last read (`caughtUp`, from a tick): a source stage's shard is silent, too, while its
   * reader stalls (throttled, failing, a slow or restarting runtime), and taking it for idle then would make
   * its backlog late. Until then it is *awaiting*, which the log's head tells the watermark function.
   */
  private markIdle(nowMs: number, caughtUp: Readonly<Record<string, string>> = {}): void {
    for (const [u, input] of [...this.state.allInputs()]) {
      if (input.idle || nowMs - input.heardAtMs < this.settings.idleAfterMs || !this.idleBySilence(u)) continue;
      if (caughtUp[u] !== undefined && caughtUp[u] === (input.statusAt ?? '')) this.state.setInput(u, withStatus(input, true));
      else if (!input.awaiting) this.state.setInput(u, { ...input, awaiting: true });
    }
  }

  private idleBySilence(from: string): boolean {
    return this.settings.idleBySilence?.(from) ?? true;
  }

  /**
   * The minimum over active inputs; when every input is idle, the highest (nothing holds it back) — in both
   * cases below the earliest time an idle input still owes (see Marker's `owes`). No watermark while fewer of
   * the planned inputs have spoken than the plan has, unless a tick named them all or the first is
   * `idleAfter` old.
   */
  private combined(nowMs: number, named: boolean): number {
    let min = Number.POSITIVE_INFINITY;
    let max = NO_WATERMARK;
    let firstHeardMs = Number.POSITIVE_INFINITY;
    let inputs = 0;
    let planned = 0;
    let active = 0;
    let owed = Number.POSITIVE_INFINITY;
    const isPlanned = this.settings.isPlannedInput;
    for (const [from, input] of this.state.allInputs()) {
      inputs += 1;
      if (!isPlanned || isPlanned(from)) planned += 1;
      firstHeardMs = Math.min(firstHeardMs, input.heardAtMs);
      if (input.watermarkMs > max) max = input.watermarkMs;
      if (input.idle) {
        if (input.owes !== undefined) owed = Math.min(owed, input.owes - 1);
        continue;
      }
      active += 1;
      if (input.watermarkMs < min) min = input.watermarkMs;
    }
    if (inputs === 0) return NO_WATERMARK;
    if (!named && planned < this.settings.plannedInputs && nowMs - firstHeardMs < this.settings.idleAfterMs) return NO_WATERMARK;
    return Math.min(active > 0 ? min : max, owed);
  }
}

/**
 * An input idle or active (heard at `heardAtMs`), no longer awaiting the watermark function. It owes nothing
 * here: only its marker says so (an ended shard's children owe what it held).
 */
function withStatus(input: InputState, idle: boolean, heardAtMs = input.heardAtMs): InputState {
  const { awaiting: _, owes: __, ...rest } = input;
  return { ...rest, idle, heardAtMs };
}

/**
 * The status of an input that goes idle on its word (a keyed stage's shard) after it speaks: its marker's,
 * unless that marker is older than the last it took (a zombie's, delivered late); no marker keeps the status.
 */
const statusAfter = (before: InputState | undefined, marker: Marker | undefined): { idle: boolean; statusAt: string | undefined; owes: number | undefined } => {
  const kept = { idle: before?.idle ?? false, statusAt: before?.statusAt, owes: before?.owes };
  if (!marker) return kept;
  const owes = marker.idle === true ? marker.owes : undefined;
  if (marker.at === undefined) return { idle: marker.idle === true, statusAt: before?.statusAt, owes };
  if (before?.statusAt !== undefined && comparePositions({ sequenceNumber: marker.at, subIndex: 0 }, { sequenceNumber: before.statusAt, subIndex: 0 }) < 0) return kept;
  return { idle: marker.idle === true, statusAt: marker.at, owes };
};
