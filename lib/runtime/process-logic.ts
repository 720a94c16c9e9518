import type { KeyedContext } from '../api/functions';
import type { ListState, MapState, StateDescriptor, ValueState } from '../api/state';
import type { KeyedOperator } from '../plan/plan';
import type { FailedElement, ItemContext, ItemStep, KeyedLogic } from './keyed-logic';
import { asRecord, originKey, type Element, type Output } from './records';

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
const clone = (d: ProcessData): ProcessData => structuredClone(d);

/**
 * The keyed logic of a process function (Flink's KeyedProcessFunction): one item per key holding its
 * named state and timers. A call that throws leaves the state as it was and sends the element to the
 * dead-letter output.
 */
export function processLogic(op: ProcessOperator): KeyedLogic {
  const fn = op.fn;
  const descriptors = fn.state ?? {};

  /** Builds the context for one call at event time `now`, writing into `data`. */
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

  const finish = (data: ProcessData, outputs: Output[], failed: FailedElement[]): ItemStep => ({
    // The firing count names timer outputs: keep it, or a timer firing again for the same time after the
    // state emptied would reuse an id, and consumers would drop its output as a repeat.
    data: isEmpty(data) && data.timerFirings === 0 ? null : data,
    fireAtMs: data.timers[0] ?? null,
    closed: false,
    outputs,
    late: [],
    failed,
  });

  return {
    operator: op.id,
    route: () => ['p'],
    onElements(item: ItemContext, stored, elements: readonly Element[]) {
      let data = stored ? clone(stored as ProcessData) : emptyData();
      const outputs: Output[] = [];
      const failed: FailedElement[] = [];
      for (const element of elements) {
        const before = clone(data);
        const emitted: Output[] = [];
        const emit = (r: object): void => {
          emitted.push({ id: `${originKey(element.origin)}/${emitted.length}`, record: asRecord(r) });
        };
        try {
          fn.onEvent(element.value, contextFor(item.key, element.timestampMs, item.watermarkMs, data, emit));
          outputs.push(...emitted);
        } catch (e) {
          data = before;
          failed.push({ element, operator: op.id, reason: `${op.id} onEvent threw: ${e instanceof Error ? e.message : String(e)}` });
        }
      }
      return finish(data, outputs, failed);
    },
    onWatermark(item, stored) {
      let data = clone(stored as ProcessData);
      const outputs: Output[] = [];
      const failed: FailedElement[] = [];
      // Timers fire in time order; a timer registered while firing fires in the same pass if it is due.
      for (let ts = data.timers[0]; ts !== undefined && ts <= item.watermarkMs; ts = data.timers[0]) {
        data.timers = data.timers.slice(1);
        const firing = data.timerFirings++;
        const emitted: Output[] = [];
        const emit = (r: object): void => {
          emitted.push({ id: `${item.key}/timer/${ts}/${firing}/${emitted.length}`, record: asRecord(r) });
        };
        // A throwing onTimer leaves state as it was before the call and becomes a dead letter: one bad
        // timer must not stall the stage's watermark.
        const before = clone(data);
        try {
          fn.onTimer?.(ts, contextFor(item.key, ts, item.watermarkMs, data, emit));
          outputs.push(...emitted);
        } catch (e) {
          data = before;
          const element = { origin: { shardId: `timer ${item.key}`, sequenceNumber: '0', subIndex: 0 }, timestampMs: ts, value: { key: item.key, timer: ts } };
          const reason = `${op.id} onTimer threw: ${e instanceof Error ? e.message : String(e)}`;
          failed.push({ element, operator: op.id, reason, deadLetterId: `${item.key}/timer/${ts}/${firing}/${op.id}` });
        }
      }
      return finish(data, outputs, failed);
    },
  };
}

const isEmpty = (d: ProcessData): boolean =>
  d.timers.length === 0 &&
  Object.keys(d.values).length === 0 &&
  Object.keys(d.lists).length === 0 &&
  Object.values(d.maps).every((m) => Object.keys(m).length === 0);
