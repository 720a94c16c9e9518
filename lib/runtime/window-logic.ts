import { assignTimeWindows, cover, intersects, isWindowLate, maxTimestamp, type TimeWindow, type WindowAssignerSpec } from '../time/window';
import { accumulationFor, type Accumulation } from './accumulation';
import type { FailedElement, KeyedLogic } from './keyed-logic';
import { RecordError, versionOrder, type Element, type Output } from './records';
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
  if (acc.addInPlace) {
    // Additive accumulators are flat number records: one copy per item, not one object per element.
    const a = { ...(start as Record<string, number>) };
    for (const element of elements) {
      const rejected = acc.reject(element.value);
      if (rejected) failed.push({ element, operator, reason: rejected });
      else acc.addInPlace(a, element.value);
    }
    return a;
  }
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

/**
 * A window's result records. A window function that throws (aggregate/process result) makes a dead
 * letter naming the window instead, and firing goes on: one bad window must not stall the stage.
 */
function results(acc: Accumulation, key: string, w: TimeWindow, a: unknown, version: number, failed: FailedElement[], idStart = w.start, idEnd = w.end): Output[] {
  let fields: Record<string, unknown>[];
  try {
    fields = acc.result(a, { key, start: w.start, end: w.end });
  } catch (e) {
    if (!(e instanceof RecordError)) throw e;
    const element = { origin: { shardId: `window ${key}`, sequenceNumber: '0', subIndex: 0 }, timestampMs: w.start, value: { key, windowStart: w.start, windowEnd: w.end } };
    failed.push({ element, operator: e.operator, reason: e.message, deadLetterId: `${key}/${idStart}/${idEnd}/v${version}/${e.operator}` });
    return [];
  }
  const order = versionOrder(version);
  return fields.map((fields, i) => ({
    id: `${key}/${idStart}/${idEnd}/v${version}${i ? `.${i}` : ''}`,
    order,
    // The window's own fields win: a reduce/aggregate/process result carrying `key` or `windowStart` must not
    // move the result to another sink item (tables are keyed by key + windowStart).
    record: Object.assign({ key, windowStart: w.start, windowEnd: w.end }, fields, { key, windowStart: w.start, windowEnd: w.end }),
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
  const slotCache = new Map<number, readonly string[]>();
  const firstLiveStart = (ts: number, watermarkMs: number): number | undefined =>
    assignTimeWindows(assigner, ts).find((w) => !isWindowLate(w, L, watermarkMs))?.start;
  return {
    operator: op.id,
    route(_key, element, watermarkMs) {
      if (assigner.kind === 'tumbling') {
        // The hot path: one window, its slot list cached (no allocation per element).
        const start = element.timestampMs - (((element.timestampMs % size) + size) % size);
        if (start + size - 1 + L <= watermarkMs) return 'late';
        let slots = slotCache.get(start);
        if (!slots) {
          if (slotCache.size > 4096) slotCache.clear();
          slotCache.set(start, (slots = [`w:${start}`]));
        }
        return slots;
      }
      const live = assignTimeWindows(assigner, element.timestampMs).filter((w) => !isWindowLate(w, L, watermarkMs));
      return live.length === 0 ? 'late' : live.map((w) => `w:${w.start}`);
    },
    onElements(item, data, elements) {
      const failed: FailedElement[] = [];
      const w = (data as WindowData | null) ?? fresh(item.slot);
      const next: WindowData = { ...w, acc: addAll(acc, op.id, w.acc, elements, failed) };
      const accepted = failed.length < elements.length;
      // A record in several (sliding) windows is refused by each of them; only its first live window reports
      // it, so one bad record makes one dead letter.
      const reported = failed.filter((f) => firstLiveStart(f.element.timestampMs, item.watermarkMs) === w.start);
      // A window that only refused elements does not exist: it must not fire an empty result.
      if (!data && !accepted) return { data: null, fireAtMs: null, closed: false, outputs: [], late: [], failed: reported };
      // Flink's EventTimeTrigger.onElement: a window already due fires at once. For a window that fired, that is a
      // late firing (its result again, updated); for one created after the watermark passed its end (within the
      // allowed lateness), its first firing.
      const fire = accepted && maxTimestamp(next) <= item.watermarkMs;
      if (fire) next.firings += 1;
      const firingFailed: FailedElement[] = [];
      const outputs = fire ? results(acc, item.key, next, next.acc, item.nextVersion, firingFailed) : [];
      return { data: next, fireAtMs: nextFireAt(next, L), closed: false, outputs, late: [], failed: [...reported, ...firingFailed] };
    },
    onWatermark(item, data) {
      const w = data as WindowData;
      const fire = w.firings === 0 && maxTimestamp(w) <= item.watermarkMs;
      const next = fire ? { ...w, firings: 1 } : w;
      const closed = isWindowLate(w, L, item.watermarkMs);
      const failed: FailedElement[] = [];
      const outputs = fire ? results(acc, item.key, w, w.acc, item.nextVersion, failed) : [];
      return { data: closed ? null : next, fireAtMs: closed ? null : nextFireAt(next, L), closed, outputs, late: [], failed };
    },
    ...(acc.additive && {
      additive: {
        initial: (slot: string) => ({ ...fresh(slot) }) as unknown as { acc: Record<string, number> } & Record<string, unknown>,
        delta: (elements: readonly Element[]) =>
          elements.some((e) => acc.reject(e.value) !== undefined) ? undefined : (addAll(acc, op.id, acc.create(), elements, []) as Record<string, number>),
        fireAtMs: (slot: string) => maxTimestamp(windowOf(slot)),
      },
    }),
  };
}

function sessionLogic(op: WindowOperator, gapMs: number, acc: Accumulation): KeyedLogic {
  const L = op.allowedLatenessMs;
  return {
    operator: op.id,
    // Lateness is decided after merging, inside the item (Flink's WindowOperator checks the merged window):
    // an element whose own session [ts, ts + gap) is late may still join a session that is not.
    route: () => ['s'],
    onElements(item, data, elements) {
      const failed: FailedElement[] = [];
      const late: Element[] = [];
      let sessions = [...((data as SessionsData | null)?.sessions ?? [])];
      const touched = new Set<WindowData>();
      for (const element of elements) {
        const rejected = acc.reject(element.value);
        if (rejected) {
          failed.push({ element, operator: op.id, reason: rejected });
          continue;
        }
        // Every session the new one overlaps, until none is left (Flink's MergingWindowSet).
        let window: TimeWindow = { start: element.timestampMs, end: element.timestampMs + gapMs };
        let merging: WindowData[] = [];
        for (let more = sessions.filter((s) => intersects(s, window)); more.length > 0; more = sessions.filter((s) => !merging.includes(s) && intersects(s, window))) {
          for (const s of more) window = cover(s, window);
          merging = [...merging, ...more];
        }
        if (isWindowLate(window, L, item.watermarkMs)) {
          late.push(element);
          continue;
        }
        const refused = failed.length;
        let merged: WindowData = { ...window, acc: addAll(acc, op.id, acc.create(), [element], failed), firings: 0 };
        if (failed.length > refused) continue;
        for (const s of merging) {
          merged = { ...merged, acc: acc.merge(s.acc, merged.acc), firings: Math.max(s.firings, merged.firings) };
          touched.delete(s);
        }
        sessions = [...sessions.filter((s) => !merging.includes(s)), merged];
        touched.add(merged);
      }
      sessions.sort((a, b) => a.start - b.start);
      const outputs: Output[] = [];
      for (const s of touched) {
        if (maxTimestamp(s) <= item.watermarkMs) {
          // Due already (Flink's EventTimeTrigger.onElement): a late firing, or the first firing of a session
          // created or extended within the allowed lateness.
          s.firings += 1;
          outputs.push(...results(acc, item.key, s, s.acc, item.nextVersion, failed));
        } else {
          // Not due: a session that grew past the watermark fires again when the watermark reaches its new end.
          s.firings = 0;
        }
      }
      return { data: sessions.length > 0 ? { sessions } : null, fireAtMs: earliest(sessions, L), closed: false, outputs, late, failed };
    },
    onWatermark(item, data) {
      const outputs: Output[] = [];
      const failed: FailedElement[] = [];
      const sessions: WindowData[] = [];
      for (const s of (data as SessionsData).sessions) {
        const fire = s.firings === 0 && maxTimestamp(s) <= item.watermarkMs;
        if (fire) outputs.push(...results(acc, item.key, s, s.acc, item.nextVersion, failed));
        if (!isWindowLate(s, L, item.watermarkMs)) sessions.push(fire ? { ...s, firings: 1 } : s);
      }
      return {
        data: sessions.length > 0 ? { sessions } : null,
        fireAtMs: earliest(sessions, L),
        closed: false,
        outputs,
        late: [],
        failed,
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
          outputs.push(...results(acc, item.key, w, a, item.nextVersion, failed, w.start, w.end).map((o, i) => ({ ...o, id: `${item.key}/c${w.start}-${w.end}${i ? `.${i}` : ''}` })));
          buffer = size > slide ? buffer.slice(-(size - slide)) : [];
        }
      }
      return { data: { seen, buffer }, fireAtMs: null, closed: false, outputs, late: [], failed };
    },
    onWatermark: (_item, data) => ({ data, fireAtMs: null, closed: false, outputs: [], late: [], failed: [] }),
  };
}
