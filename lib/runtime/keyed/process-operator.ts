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
/** A key's process-function state: named states, pending timers, and how many timers have fired (for ids). */
interface ProcessData {
  values: Record<string, Stamped>;
  lists: Record<string, Stamped[]>;
  maps: Record<string, Record<string, Stamped>>;
  timers: number[];
  timerFirings: number;
}

const emptyData = (): ProcessData => ({ values: {}, lists: {}, maps: {}, timers: [], timerFirings: 0 });

/**
 * A process function (Flink's KeyedProcessFunction) on a shard: one state per key holding its named state
 * and event-time timers. A call that throws leaves the key's state as it was before the call and sends the
 * element (or the timer) to the dead-letter output; the stage goes on.
 */
export function processOperator(op: ProcessOperator): KeyedOperatorRuntime {
  const fn = op.fn;
  const descriptors = fn.state ?? {};

  /** The context of one call at event time `now`, writing into `data`. */
  function contextFor(key: string, now: number, watermarkMs: number, data: ProcessData, emit: (r: object) => void): KeyedContext<Record<string, StateDescriptor>, object> {
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
      timestamp: now,
      watermark: watermarkMs,
      state: state as KeyedContext<Record<string, StateDescriptor>, object>['state'],
      timers: {
        registerEventTime: (ts) => {
          if (!Number.isFinite(ts)) throw new TypeError(`timer time ${ts} is not a number`);
          if (!data.timers.includes(ts)) data.timers = [...data.timers, ts].sort((a, b) => a - b);
        },
        deleteEventTime: (ts) => {
          data.timers = data.timers.filter((t) => t !== ts);
        },
      },
      emit,
    };
  }

  /**
   * Runs one user call on a copy of the key's state: the copy is kept when it returns, and its outputs go
   * out; when it throws, the state stays as it was and the failure goes to the dead letters.
   */
  const call = (key: string, ctx: OperatorContext, timestampMs: number, run: (data: ProcessData, emit: (r: object) => void) => void, idOf: (i: number) => string, failure: (reason: string) => Parameters<OperatorContext['fail']>[0]): void => {
    const stored = ctx.state.get(key) as ProcessData | undefined;
    const data = stored ? structuredClone(stored) : emptyData();
    const emitted: Output[] = [];
    try {
      run(data, (r) => emitted.push({ id: idOf(emitted.length), record: asRecord(r) }));
    } catch (e) {
      ctx.fail(failure(e instanceof Error ? e.message : String(e)));
      return;
    }
    // The firing count names timer outputs: keep it, or a timer firing again for the same time after the
    // state emptied would reuse an id, and consumers would drop its output as a repeat.
    ctx.state.put(key, isEmpty(data) && data.timerFirings === 0 ? undefined : data);
    for (const o of emitted) ctx.emit(o, timestampMs);
  };

  return {
    id: op.id,
    onElement(key, element, ctx) {
      call(
        key,
        ctx,
        element.timestampMs,
        (data, emit) => fn.onEvent(element.value, contextFor(key, element.timestampMs, ctx.watermarkMs, data, emit)),
        (i) => `${originKey(element.origin)}/${i}`,
        (reason) => ({ id: failureId(op.id, element), operator: op.id, reason: `${op.id} onEvent threw: ${reason}`, value: element.value, element }),
      );
    },
    onWatermark(key, ctx) {
      // Timers fire in time order; a timer registered while firing fires in the same pass if it is due.
      for (let data = ctx.state.get(key) as ProcessData | undefined; data && data.timers[0] !== undefined && data.timers[0] <= ctx.watermarkMs; data = ctx.state.get(key) as ProcessData | undefined) {
        const ts = data.timers[0];
        const firing = data.timerFirings;
        // The timer is consumed (and counted) whether onTimer returns or throws: one bad timer must not
        // stall the shard's watermark.
        const consumed: ProcessData = { ...data, timers: data.timers.slice(1), timerFirings: firing + 1 };
        ctx.state.put(key, consumed);
        call(
          key,
          ctx,
          ts,
          (d, emit) => fn.onTimer?.(ts, contextFor(key, ts, ctx.watermarkMs, d, emit)),
          (i) => `${key}/timer/${ts}/${firing}/${i}`,
          (reason) => ({ id: `timer/${op.id}/${key}/${ts}/${firing}`, operator: op.id, reason: `${op.id} onTimer threw: ${reason}`, value: { key, timer: ts } }),
        );
      }
    },
    nextFireAt: (keyState) => (keyState as ProcessData | undefined)?.timers[0],
    pending: (keyState) => {
      const data = keyState as ProcessData | undefined;
      const values = Object.fromEntries(Object.entries(data?.values ?? {}).map(([name, s]) => [name, s.v]));
      return (data?.timers ?? []).map((fireAtMs) => ({ fireAtMs, value: shortText(values) }));
    },
  };
}

const isEmpty = (d: ProcessData): boolean =>
  d.timers.length === 0 &&
  Object.keys(d.values).length === 0 &&
  Object.keys(d.lists).length === 0 &&
  Object.values(d.maps).every((m) => Object.keys(m).length === 0);
