import type { KeyedContext } from '../../api/functions';
import type { ListState, MapState, StateDescriptor, ValueState } from '../../api/state';
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

const emptyData = (): ProcessData => ({ values: {}, lists: {}, maps: {}, timers: [] });

/**
 * A process function (Flink's KeyedProcessFunction) on a shard: one state per key holding its named state
 * and its event-time and processing-time timers. A call that throws leaves the key's state as it was before
 * the call and sends the element (or the timer) to the dead-letter output; the stage goes on.
 */
export function processOperator(op: ProcessOperator): KeyedOperatorRuntime {
  const fn = op.fn;
  const descriptors = fn.state ?? {};

  /** The context of one call at `time`, writing into `data`. */
  function contextFor(key: string, time: CallTime, data: ProcessData, emit: Emit): KeyedContext<Record<string, StateDescriptor>, object> & { emitAt(record: object, timestampMs: number): void } {
    const now = time.ttlNowMs;
    const live = (name: string, s: Stamped | undefined): s is Stamped => {
      const ttl = op.ttlMs[name];
      return s !== undefined && (ttl === undefined || s.t + ttl > now);
    };
    const state: Record<string, unknown> = {};
    for (const [name, d] of Object.entries(descriptors)) {
      if (d.kind === 'value') {
        const handle: ValueState<unknown> = {
          value: () => {
            const s = data.values[name];
            return live(name, s) ? s.v : structuredClone(d.initial);
          },
          update: (v) => {
            data.values[name] = { v, t: now };
          },
          clear: () => {
            delete data.values[name];
          },
        };
        state[name] = handle;
      } else if (d.kind === 'list') {
        const handle: ListState<unknown> = {
          get: () => (data.lists[name] ?? []).filter((s) => live(name, s)).map((s) => s.v),
          add: (v) => {
            data.lists[name] = [...(data.lists[name] ?? []).filter((s) => live(name, s)), { v, t: now }];
          },
          update: (vs) => {
            data.lists[name] = vs.map((v) => ({ v, t: now }));
          },
          clear: () => {
            delete data.lists[name];
          },
        };
        state[name] = handle;
      } else {
        const entries = (): Record<string, Stamped> => (data.maps[name] ??= {});
        const handle: MapState<unknown> = {
          get: (k) => {
            const s = entries()[k];
            return live(name, s) ? s.v : undefined;
          },
          put: (k, v) => {
            entries()[k] = { v, t: now };
          },
          remove: (k) => {
            delete entries()[k];
          },
          has: (k) => live(name, entries()[k]),
          entries: () => Object.entries(entries()).flatMap(([k, s]) => (live(name, s) ? [[k, s.v] as [string, unknown]] : [])),
          clear: () => {
            delete data.maps[name];
          },
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
          if (!data.timers.includes(ts)) data.timers = [...data.timers, ts].sort((a, b) => a - b);
        },
        deleteEventTime: (ts) => {
          data.timers = data.timers.filter((t) => t !== ts);
        },
        registerProcessingTime: (ts) => {
          if (!Number.isFinite(ts)) throw new TypeError(`processing-time timer ${ts} is not a number of epoch ms`);
          const pending = data.ptimers ?? [];
          if (!pending.includes(ts)) data.ptimers = [...pending, ts].sort((a, b) => a - b);
        },
        deleteProcessingTime: (ts) => {
          const left = (data.ptimers ?? []).filter((t) => t !== ts);
          if (left.length > 0) data.ptimers = left;
          else delete data.ptimers;
        },
      },
      emit: (record) => emit(record, time.timestamp),
      emitAt: (record, timestampMs) => emit(record, timestampMs),
      output: (tag, record) => {
        if (tag?.kind !== 'outputTag') throw new TypeError("ctx.output needs an outputTag: outputTag<T>('name')");
        emit(record, time.timestamp, tag.name);
      },
    };
  }

  /**
   * Runs one user call on a copy of the key's state: the copy is kept when it returns, and its outputs go
   * out; when it throws, the state stays as it was and the failure goes to the dead letters.
   */
  const call = (key: string, ctx: OperatorContext, run: (data: ProcessData, emit: Emit) => void, idOf: (i: number) => string, failure: (reason: string) => Parameters<OperatorContext['fail']>[0]): void => {
    const stored = ctx.state.get(key) as ProcessData | undefined;
    const data = stored ? structuredClone(stored) : emptyData();
    const emitted: { output: Output; timestampMs: number; tag: string | undefined }[] = [];
    try {
      run(data, (r, timestampMs, tag) => emitted.push({ output: { id: idOf(emitted.length), record: asRecord(r) }, timestampMs, tag }));
    } catch (e) {
      ctx.fail(failure(e instanceof Error ? e.message : String(e)));
      return;
    }
    // An empty key leaves no state: timer outputs are named after the input record that fired them, not a count kept here.
    ctx.state.put(key, isEmpty(data) ? undefined : data);
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
        (d, emit) => fn.onTimer?.(ts, contextFor(key, time, d, emit)),
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
        (data, emit) => onEvent(element.value, contextFor(key, time, data, emit)),
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

const isEmpty = (d: ProcessData): boolean =>
  d.timers.length === 0 &&
  d.ptimers === undefined &&
  Object.keys(d.values).length === 0 &&
  Object.keys(d.lists).length === 0 &&
  Object.values(d.maps).every((m) => Object.keys(m).length === 0);

/** The handler's name as the user wrote it: onEvent, or onEvent1/onEvent2 of a co-process function. */
const onEventName = (op: ProcessOperator, input: number): string => (op.written === 'coProcess' ? `onEvent${input + 1}` : op.written === 'process' ? 'onEvent' : 'join');
