import type { KeyedContext } from '../../api/functions';
import { READ_IN_PLACE, type ListState, type MapState, type StateDescriptor, type ValueState } from '../../api/state';
import type { KeyedOperator } from '../../plan/plan';
import { asRecord, originKey, type Output } from '../records';
import { shortText, type KeyedOperatorRuntime, type OperatorContext } from './keyed-operator';
import { failureId } from './window-operator';

type ProcessOperator = Extract<KeyedOperator, { kind: 'process' }>;

/** A stored value with the event time it was last written at, for TTL. */
interface Stamped<V = unknown> {
  v: V;
  t: number;
}
/**
 * A key's process-function state: named states, pending event-time timers, and pending processing-time
 * timers (absent while none: most jobs have none, and the log bills per byte). A key with none of them has
 * no state at all.
 */
interface ProcessData {
  values: Record<string, Stamped>;
  lists: Record<string, Stamped[]>;
  maps: Record<string, Record<string, Stamped>>;
  timers: number[];
  ptimers?: number[];
}

/** What a call runs at: the element's or timer's time, the clock TTL counts in, the shard's times. */
interface CallTime {
  readonly timestamp: number;
  /** Event time for TTL: the element's or event-time timer's; in a processing-time timer, the watermark. */
  readonly ttlNowMs: number;
  readonly watermarkMs: number;
  readonly processingTimeMs: number;
  readonly timeDomain: 'event' | 'processing';
}

/** Collects a call's outputs: the record, its event time, and its side output's tag (none: the main output). */
type Emit = (record: object, timestampMs: number, tag?: string) => void;

/** What a join's process function sees beyond a user's: it emits at its pair's time, and says when a record is late. */
export interface JoinContext {
  emitAt(record: object, timestampMs: number): void;
  late(): void;
}

const emptyData = (): ProcessData => ({ values: {}, lists: {}, maps: {}, timers: [] });

/**
 * A process function (Flink's KeyedProcessFunction) on a shard: one state per key holding its named state
 * and its event-time and processing-time timers. A call that throws leaves the key's state as it was before
 * the call and sends the element (or the timer) to the dead-letter output; the stage goes on.
 */
export function processOperator(op: ProcessOperator): KeyedOperatorRuntime {
  const fn = op.fn;
  const descriptors = fn.state ?? {};

  /**
   * The context of one call at `time`, changing `data` through `changes`. The joins shardflow writes as process
   * functions (lib/api/joins.ts) also emit at a time of their own and say when the element is late (`late`:
   * counted, as a window's late records are).
   */
  function contextFor(key: string, time: CallTime, data: ProcessData, changes: CallChanges, emit: Emit, late: () => void = () => {}): KeyedContext<Record<string, StateDescriptor>, object> & JoinContext {
    const now = time.ttlNowMs;
    const live = (name: string, s: Stamped | undefined): s is Stamped => {
      const ttl = op.ttlMs[name];
      return s !== undefined && (ttl === undefined || s.t + ttl > now);
    };
    const state: Record<string, unknown> = {};
    for (const [name, d] of Object.entries(descriptors)) {
      if (d.kind === 'value') {
        const inPlace = (d as { [READ_IN_PLACE]?: true })[READ_IN_PLACE] === true;
        const handle: ValueState<unknown> = {
          value: () => {
            const s = data.values[name];
            if (!live(name, s)) return structuredClone(d.initial);
            return inPlace ? s.v : changes.own(data.values, name, s).v;
          },
          update: (v) => changes.set(data.values, name, { v, t: now }),
          clear: () => changes.remove(data.values, name),
        };
        state[name] = handle;
      } else if (d.kind === 'list') {
        const handle: ListState<unknown> = {
          get: () => changes.own(data.lists, name, data.lists[name] ?? []).flatMap((s) => (live(name, s) ? [s.v] : [])),
          add: (v) => {
            const list = data.lists[name];
            if (list && op.ttlMs[name] === undefined) changes.push(list, { v, t: now });
            else changes.set(data.lists, name, [...(list ?? []).filter((s) => live(name, s)), { v, t: now }]);
          },
          update: (vs) => changes.set(data.lists, name, vs.map((v) => ({ v, t: now }))),
          clear: () => changes.remove(data.lists, name),
        };
        state[name] = handle;
      } else {
        const entries = (): Record<string, Stamped> => data.maps[name] ?? changes.set(data.maps, name, {});
        const handle: MapState<unknown> = {
          get: (k) => {
            const s = data.maps[name]?.[k];
            return live(name, s) ? changes.own(entries(), k, s).v : undefined;
          },
          put: (k, v) => changes.set(entries(), k, { v, t: now }),
          remove: (k) => changes.remove(entries(), k),
          has: (k) => live(name, data.maps[name]?.[k]),
          entries: () => Object.entries(changes.own(data.maps, name, entries())).flatMap(([k, s]) => (live(name, s) ? [[k, s.v] as [string, unknown]] : [])),
          clear: () => changes.remove(data.maps, name),
        };
        state[name] = handle;
      }
    }
    return {
      key,
      timestamp: time.timestamp,
      watermark: time.watermarkMs,
      processingTime: time.processingTimeMs,
      timeDomain: time.timeDomain,
      state: state as KeyedContext<Record<string, StateDescriptor>, object>['state'],
      timers: {
        registerEventTime: (ts) => {
          if (!Number.isFinite(ts)) throw new TypeError(`timer time ${ts} is not a number`);
          if (!data.timers.includes(ts)) changes.set(data, 'timers', [...data.timers, ts].sort((a, b) => a - b));
        },
        deleteEventTime: (ts) => {
          if (data.timers.includes(ts)) changes.set(data, 'timers', data.timers.filter((t) => t !== ts), true);
        },
        registerProcessingTime: (ts) => {
          if (!Number.isFinite(ts)) throw new TypeError(`processing-time timer ${ts} is not a number of epoch ms`);
          const pending = data.ptimers ?? [];
          if (!pending.includes(ts)) changes.set(data, 'ptimers', [...pending, ts].sort((a, b) => a - b));
        },
        deleteProcessingTime: (ts) => {
          const left = (data.ptimers ?? []).filter((t) => t !== ts);
          if (left.length > 0) changes.set(data, 'ptimers', left, true);
          else changes.remove(data, 'ptimers');
        },
      },
      emit: (record) => emit(record, time.timestamp),
      emitAt: (record, timestampMs) => emit(record, timestampMs),
      late,
      output: (tag, record) => {
        if (tag?.kind !== 'outputTag') throw new TypeError("ctx.output needs an outputTag: outputTag<T>('name')");
        emit(record, time.timestamp, tag.name);
      },
    };
  }

  /**
   * Runs one user call on the key's state, in place, noting what it changes: its outputs go out when it
   * returns; when it throws, its changes are undone (the state is as it was) and the failure goes to the dead
   * letters. Copying the whole state per call instead made an event's cost grow with the key's state.
   */
  const call = (key: string, ctx: OperatorContext, run: (data: ProcessData, changes: CallChanges, emit: Emit) => void, idOf: (i: number) => string, failure: (reason: string) => Parameters<OperatorContext['fail']>[0]): void => {
    const stored = ctx.state.get(key) as ProcessData | undefined;
    const data = stored ?? emptyData();
    const changes = new CallChanges();
    const emitted: { output: Output; timestampMs: number; tag: string | undefined }[] = [];
    try {
      run(data, changes, (r, timestampMs, tag) => emitted.push({ output: { id: idOf(emitted.length), record: asRecord(r) }, timestampMs, tag }));
    } catch (e) {
      changes.undo();
      ctx.fail(failure(e instanceof Error ? e.message : String(e)));
      return;
    }
    changes.commit();
    // An empty key leaves no state: timer outputs are named after the input record that fired them, not a count kept here.
    // Whether the key is left empty is looked at only when it may be: a look counts a map's entries.
    ctx.state.put(key, (stored === undefined || changes.shrank) && isEmpty(data) ? undefined : data);
    // Downstream, an output carries the time of what caused it: the element's, or the timer's (either clock), or a join's pair's.
    for (const e of emitted) ctx.emit(e.output, e.timestampMs, e.tag);
  };

  /**
   * Fires the key's timers of one clock due by `nowMs`, in time order; a timer registered while firing fires
   * in the same pass if it is due. A timer is consumed whether onTimer returns or throws: one bad timer
   * must not stall the shard. Its outputs are named after the firing ({@link OperatorContext.firingId}).
   */
  const fireTimers = (key: string, ctx: OperatorContext, domain: 'event' | 'processing', nowMs: number): void => {
    const pendingOf = (d: ProcessData): number[] => (domain === 'event' ? d.timers : (d.ptimers ?? []));
    for (let data = ctx.state.get(key) as ProcessData | undefined; data && (pendingOf(data)[0] ?? Infinity) <= nowMs; data = ctx.state.get(key) as ProcessData | undefined) {
      const [ts, ...rest] = pendingOf(data) as [number, ...number[]];
      const firing = ctx.firingId(key);
      const consumed: ProcessData = { ...data };
      if (domain === 'event') consumed.timers = rest;
      else if (rest.length > 0) consumed.ptimers = rest;
      else delete consumed.ptimers;
      ctx.state.put(key, isEmpty(consumed) ? undefined : consumed);
      const time: CallTime =
        domain === 'event'
          ? { timestamp: ts, ttlNowMs: ts, watermarkMs: ctx.watermarkMs, processingTimeMs: ctx.processingTimeMs, timeDomain: 'event' }
          : { timestamp: ts, ttlNowMs: ctx.watermarkMs, watermarkMs: ctx.watermarkMs, processingTimeMs: ctx.processingTimeMs, timeDomain: 'processing' };
      const kind = domain === 'event' ? 'timer' : 'ptimer';
      call(
        key,
        ctx,
        (d, changes, emit) => fn.onTimer?.(ts, contextFor(key, time, d, changes, emit)),
        (i) => `${key}/${kind}/${ts}/${firing}/${i}`,
        (reason) => ({ id: `${kind}/${op.id}/${key}/${ts}/${firing}`, operator: op.id, reason: `${op.id} onTimer threw: ${reason}`, value: { key, [domain === 'event' ? 'timer' : 'processingTimeTimer']: ts } }),
      );
    }
  };

  return {
    id: op.id,
    onElement(key, element, ctx, input) {
      const time: CallTime = { timestamp: element.timestampMs, ttlNowMs: element.timestampMs, watermarkMs: ctx.watermarkMs, processingTimeMs: ctx.processingTimeMs, timeDomain: 'event' };
      const onEvent = fn.onEvent[input]!;
      call(
        key,
        ctx,
        (data, changes, emit) => onEvent(element.value, contextFor(key, time, data, changes, emit, () => ctx.late(element))),
        (i) => `${originKey(element.origin)}/${i}`,
        (reason) => ({ id: failureId(op.id, element), operator: op.id, reason: `${op.id} ${onEventName(op, input)} threw: ${reason}`, value: element.value, element }),
      );
    },
    onWatermark: (key, ctx) => fireTimers(key, ctx, 'event', ctx.watermarkMs),
    onProcessingTime: (key, ctx) => fireTimers(key, ctx, 'processing', ctx.processingTimeMs),
    nextFireAt: (keyState) => (keyState as ProcessData | undefined)?.timers[0],
    nextProcessingTimeAt: (keyState) => (keyState as ProcessData | undefined)?.ptimers?.[0],
    pending: (keyState) => {
      const data = keyState as ProcessData | undefined;
      const values = shortText(Object.fromEntries(Object.entries(data?.values ?? {}).map(([name, s]) => [name, s.v])));
      return [
        ...(data?.timers ?? []).map((fireAtMs) => ({ fireAtMs, value: values })),
        ...(data?.ptimers ?? []).map((fireAtMs) => ({ fireAtMs, value: `processing time; ${values}` })),
      ];
    },
  };
}

/**
 * What one call changed in its key's state, to undo when it throws. Every change goes through here: a slot
 * set (its old value noted), an entry pushed on a list, a slot removed. A removal leaves the slot undefined
 * until `commit` deletes it, so that an undo puts the old value back in its place, in the same key order.
 * A stored object the call reads (`own`) is copied first, so that the call may change it in place and an
 * undo still finds the old one.
 */
class CallChanges {
  private readonly undos: (() => void)[] = [];
  private readonly removed: [Record<string, unknown>, string][] = [];
  private readonly owned = new Set<object>();
  /** Whether the call removed anything: only then may a key that had state be left with none. */
  shrank = false;

  set<T>(target: object, name: string, value: T, shrinks = false): T {
    this.shrank ||= shrinks;
    const slots = target as Record<string, unknown>;
    const old = slots[name];
    this.undos.push(Object.hasOwn(slots, name) ? () => (slots[name] = old) : () => delete slots[name]);
    slots[name] = value;
    this.owned.add(value as object);
    return value;
  }

  push<T>(list: T[], item: T): void {
    const length = list.length;
    this.undos.push(() => (list.length = length));
    list.push(item);
  }

  remove(target: object, name: string): void {
    const slots = target as Record<string, unknown>;
    if (slots[name] === undefined) return;
    this.set(slots, name, undefined, true);
    this.removed.push([slots, name]);
  }

  /**
   * `value` (stored in `target[name]`), or, the first time the call reads it and when it holds objects the
   * call could change in place, a deep copy of it put there instead.
   */
  own<T extends Stamped | Stamped[] | Record<string, Stamped>>(target: object, name: string, value: T): T {
    if (this.owned.has(value) || !holdsObjects(value)) return value;
    return this.set(target, name, structuredClone(value));
  }

  undo(): void {
    for (let i = this.undos.length - 1; i >= 0; i--) this.undos[i]!();
  }

  commit(): void {
    for (const [slots, name] of this.removed) if (slots[name] === undefined) delete slots[name];
  }
}

/** Whether stored values hold objects a call could change in place (numbers and strings it cannot). */
function holdsObjects(stored: Stamped | Stamped[] | Record<string, Stamped>): boolean {
  const isObject = (s: Stamped | undefined): boolean => s !== undefined && s.v !== null && typeof s.v === 'object';
  if (Array.isArray(stored)) return stored.some(isObject);
  return 't' in stored && typeof stored.t === 'number' ? isObject(stored as Stamped) : Object.values(stored as Record<string, Stamped>).some(isObject);
}

const isEmpty = (d: ProcessData): boolean =>
  d.timers.length === 0 &&
  d.ptimers === undefined &&
  Object.keys(d.values).length === 0 &&
  Object.keys(d.lists).length === 0 &&
  Object.values(d.maps).every((m) => Object.keys(m).length === 0);

/** The handler's name as the user wrote it: onEvent, or onEvent1/onEvent2 of a co-process function. */
const onEventName = (op: ProcessOperator, input: number): string => (op.written === 'coProcess' ? `onEvent${input + 1}` : op.written === 'process' ? 'onEvent' : 'join');
