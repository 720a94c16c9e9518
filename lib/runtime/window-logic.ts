import { assignTimeWindows, cover, intersects, isWindowLate, maxTimestamp, type TimeWindow, type WindowAssignerSpec } from '../time/window';
import { accumulationFor, type Accumulation } from './accumulation';
import type { FailedElement, ItemContext, ItemStep, KeyedLogic } from './keyed-logic';
import { RecordError, type Element, type Output } from './records';
import type { KeyedOperator } from '../plan/plan';

type WindowOperator = Extract<KeyedOperator, { kind: 'window' }>;

/** A time window's item: its accumulator and how often it has fired. */
interface WindowData {
  start: number;
  end: number;
  acc: unknown;
  firings: number;
}
/** A key's sessions live in one item, so merging them is one atomic update. */
interface SessionsData {
  sessions: WindowData[];
}
/** A key's count window: elements seen so far and the values still inside a window. */
interface CountData {
  seen: number;
  buffer: unknown[];
}

/** The keyed logic of a window operator. */
export function windowLogic(op: WindowOperator): KeyedLogic {
  const acc = accumulationFor(op.fn, op.id);
  switch (op.assigner.kind) {
    case 'tumbling':
    case 'sliding':
      return timeWindowLogic(op, op.assigner, acc);
    case 'session':
      return sessionLogic(op, op.assigner.gapMs, acc);
    case 'count':
      return countLogic(op, op.assigner.size, op.assigner.slide, acc);
  }
}

/** Adds elements one by one; a value the function refuses goes to the dead letters, not into the window. */
function addAll(acc: Accumulation, operator: string, start: unknown, elements: readonly Element[], failed: FailedElement[]): unknown {
  let a = start;
  for (const element of elements) {
    const rejected = acc.reject(element.value);
    if (rejected) {
      failed.push({ element, operator, reason: rejected });
      continue;
    }
    try {
      a = acc.add(a, element.value);
    } catch (e) {
      if (!(e instanceof RecordError)) throw e;
      failed.push({ element, operator, reason: e.message });
    }
  }
  return a;
}

function results(acc: Accumulation, key: string, w: TimeWindow, a: unknown, version: number, idStart = w.start, idEnd = w.end): Output[] {
  return acc.result(a, { key, start: w.start, end: w.end }).map((fields, i) => ({
    id: `${key}/${idStart}/${idEnd}/v${version}${i ? `.${i}` : ''}`,
    record: { key, windowStart: w.start, windowEnd: w.end, ...fields },
  }));
}

/** After firing, a window waits for late elements until its cleanup time; then it closes. */
const nextFireAt = (w: WindowData, latenessMs: number): number => maxTimestamp(w) + (w.firings === 0 ? 0 : latenessMs);

function timeWindowLogic(op: WindowOperator, assigner: WindowAssignerSpec, acc: Accumulation): KeyedLogic {
  const L = op.allowedLatenessMs;
  const size = assigner.kind === 'tumbling' || assigner.kind === 'sliding' ? assigner.sizeMs : 0;
  const windowOf = (slot: string): TimeWindow => {
    const start = Number(slot.slice(2));
    return { start, end: start + size };
  };
  const fresh = (slot: string): WindowData => ({ ...windowOf(slot), acc: acc.create(), firings: 0 });
  return {
    operator: op.id,
    route(_key, element, watermarkMs) {
      const live = assignTimeWindows(assigner, element.timestampMs).filter((w) => !isWindowLate(w, L, watermarkMs));
      return live.length === 0 ? 'late' : live.map((w) => `w:${w.start}`);
    },
    onElements(item, data, elements) {
      const failed: FailedElement[] = [];
      const w = (data as WindowData | null) ?? fresh(item.slot);
      const next: WindowData = { ...w, acc: addAll(acc, op.id, w.acc, elements, failed) };
      // A window that already fired takes late elements as a late firing: its result is emitted again, updated.
      const lateFiring = next.firings > 0 && failed.length < elements.length;
      if (lateFiring) next.firings += 1;
      return {
        data: next,
        fireAtMs: nextFireAt(next, L),
        closed: false,
        outputs: lateFiring ? results(acc, item.key, next, next.acc, item.nextVersion) : [],
        late: [],
        failed,
      };
    },
    onWatermark(item, data) {
      const w = data as WindowData;
      const fire = w.firings === 0 && maxTimestamp(w) <= item.watermarkMs;
      const next = fire ? { ...w, firings: 1 } : w;
      const closed = isWindowLate(w, L, item.watermarkMs);
      return {
        data: closed ? null : next,
        fireAtMs: closed ? null : nextFireAt(next, L),
        closed,
        outputs: fire ? results(acc, item.key, w, w.acc, item.nextVersion) : [],
        late: [],
        failed: [],
      };
    },
    ...(acc.additive && {
      additive: (_item: ItemContext, elements: readonly Element[]) =>
        addAll(acc, op.id, acc.create(), elements, []) as Record<string, number>,
    }),
  };
}

function sessionLogic(op: WindowOperator, gapMs: number, acc: Accumulation): KeyedLogic {
  const L = op.allowedLatenessMs;
  return {
    operator: op.id,
    route(_key, element, watermarkMs) {
      const w = { start: element.timestampMs, end: element.timestampMs + gapMs };
      return isWindowLate(w, L, watermarkMs) ? 'late' : ['s'];
    },
    onElements(item, data, elements) {
      const failed: FailedElement[] = [];
      let sessions = [...((data as SessionsData | null)?.sessions ?? [])];
      const touched = new Set<WindowData>();
      for (const element of elements) {
        const rejected = acc.reject(element.value);
        if (rejected) {
          failed.push({ element, operator: op.id, reason: rejected });
          continue;
        }
        let merged: WindowData = {
          start: element.timestampMs,
          end: element.timestampMs + gapMs,
          acc: addAll(acc, op.id, acc.create(), [element], failed),
          firings: 0,
        };
        // Merge every session the new one overlaps, until none is left (Flink's MergingWindowSet).
        for (let overlapping = sessions.filter((s) => intersects(s, merged)); overlapping.length > 0; overlapping = sessions.filter((s) => intersects(s, merged))) {
          for (const s of overlapping) {
            merged = { ...cover(s, merged), acc: acc.merge(s.acc, merged.acc), firings: Math.max(s.firings, merged.firings) };
            touched.delete(s);
          }
          sessions = sessions.filter((s) => !overlapping.includes(s));
        }
        sessions.push(merged);
        touched.add(merged);
      }
      sessions.sort((a, b) => a.start - b.start);
      const outputs: Output[] = [];
      for (const s of sessions) {
        if (touched.has(s) && s.firings > 0) {
          s.firings += 1;
          outputs.push(...results(acc, item.key, s, s.acc, item.nextVersion));
        }
      }
      return { data: { sessions }, fireAtMs: earliest(sessions, L), closed: false, outputs, late: [], failed };
    },
    onWatermark(item, data) {
      const outputs: Output[] = [];
      const sessions: WindowData[] = [];
      for (const s of (data as SessionsData).sessions) {
        const fire = s.firings === 0 && maxTimestamp(s) <= item.watermarkMs;
        if (fire) outputs.push(...results(acc, item.key, s, s.acc, item.nextVersion));
        if (!isWindowLate(s, L, item.watermarkMs)) sessions.push(fire ? { ...s, firings: 1 } : s);
      }
      return {
        data: sessions.length > 0 ? { sessions } : null,
        fireAtMs: earliest(sessions, L),
        closed: false,
        outputs,
        late: [],
        failed: [],
      };
    },
  };
}

const earliest = (sessions: readonly WindowData[], latenessMs: number): number | null =>
  sessions.length === 0 ? null : Math.min(...sessions.map((s) => nextFireAt(s, latenessMs)));

/**
 * Count windows (Flink's countWindow: a count trigger plus, when sliding, a count evictor): every
 * `slide` elements of a key, the last `size` of them form a window. Fired in-band, as elements arrive.
 */
function countLogic(op: WindowOperator, size: number, slide: number, acc: Accumulation): KeyedLogic {
  return {
    operator: op.id,
    route: () => ['c'],
    onElements(item, data, elements) {
      const failed: FailedElement[] = [];
      const state = (data as CountData | null) ?? { seen: 0, buffer: [] };
      let { seen } = state;
      let buffer = [...state.buffer];
      const outputs: Output[] = [];
      for (const element of elements) {
        const rejected = acc.reject(element.value);
        if (rejected) {
          failed.push({ element, operator: op.id, reason: rejected });
          continue;
        }
        buffer.push(element.value);
        if (buffer.length > size) buffer.shift();
        seen += 1;
        if (seen % slide === 0) {
          const values = buffer.slice(-Math.min(size, seen));
          const a = addAll(acc, op.id, acc.create(), values.map((value) => ({ ...element, value })), failed);
          const w = { start: seen - values.length, end: seen };
          outputs.push(...results(acc, item.key, w, a, item.nextVersion, w.start, w.end).map((o) => ({ ...o, id: `${item.key}/c${w.start}-${w.end}` })));
          buffer = size > slide ? buffer.slice(-(size - slide)) : [];
        }
      }
      return { data: { seen, buffer }, fireAtMs: null, closed: false, outputs, late: [], failed };
    },
    onWatermark: (_item, data) => ({ data, fireAtMs: null, closed: false, outputs: [], late: [], failed: [] }),
  };
}
