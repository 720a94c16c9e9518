import type { KeyedElement, Marker, Tick } from '../runtime/records';
import { NO_WATERMARK } from '../time/watermark';

/**
 * Records between stages. For each batch, a stage sends one envelope per destination shard (not per
 * key: one keyed batch downstream then covers many upstream batches, and Kinesis bills fewer PUT units).
 * An envelope holds, in order, every element bound for that shard with its key, origin position and event
 * time. Once a batch's envelopes are all accepted, the sender sends every shard a marker with the
 * watermark its batch reached (and, from a keyed stage, whether it is idle): a marker never overtakes the
 * data it covers. A shard that hears nothing from a source stage's shard for `idleAfter` takes it for idle. Ticks come from the watermark
 * function: they carry no data, only their arrival time and the upstream shards that exist.
 */
export type ShuffleRecord =
  /** `to`: the shard the sender routed it to; a shard that is not (a stale route map sent it here) ignores its elements, which the sender sends again. */
  | { readonly kind: 'envelope'; readonly from: string; readonly elements: readonly KeyedElement[]; readonly to?: string }
  | ({ readonly kind: 'marker'; readonly from: string } & Marker)
  | ({ readonly kind: 'tick' } & Tick);

/** Kinesis' limit is 1 MiB per record including the partition key; keep a margin. */
export const MAX_ENVELOPE_BYTES = 1_000_000;

type Row = [key: string, sequenceNumber: string, subIndex: number, timestampMs: number, value: unknown];
type Wire = { f: string; w: number; m?: 1; i?: 1; a?: string; o?: number; d?: string; r?: Row[] } | { t: 1; u: string[]; e?: string[]; s?: 1; q?: Record<string, string>; b?: Record<string, string> };

/**
 * The envelopes of one batch for one destination shard, split in order where one would exceed
 * `maxBytes`: the pieces must be sent one after another. `toShard` names the destination (see
 * {@link ShuffleRecord}); without it, whichever shard the envelope lands on takes it.
 */
export function encodeEnvelopes(fromShard: string, elements: readonly KeyedElement[], maxBytes = MAX_ENVELOPE_BYTES, toShard?: string): Buffer[] {
  // `w` stays on the wire for readers of the format; an envelope moves no watermark (markers do).
  const head = JSON.stringify({ f: fromShard, w: NO_WATERMARK, ...(toShard !== undefined && { d: toShard }), r: [] }).slice(0, -3); // without '[]}'
  const pieces: Buffer[] = [];
  let rows: string[] = [];
  let size = Buffer.byteLength(head) + 2;
  const flush = (): void => {
    if (rows.length > 0) pieces.push(Buffer.from(`${head}[${rows.join(',')}]}`));
    rows = [];
    size = Buffer.byteLength(head) + 2;
  };
  for (const e of elements) {
    const row = JSON.stringify([e.key, e.origin.sequenceNumber, e.origin.subIndex, e.timestampMs, e.value]);
    const bytes = Buffer.byteLength(row) + 1;
    if (size + bytes > maxBytes && rows.length > 0) flush();
    if (size + bytes > maxBytes) throw new RangeError(`one record for key '${e.key}' is ${bytes} bytes, over the ${maxBytes}-byte envelope limit`);
    rows.push(row);
    size += bytes;
  }
  flush();
  return pieces;
}

export const encodeMarker = (fromShard: string, marker: Marker): Buffer =>
  Buffer.from(JSON.stringify({ f: fromShard, w: marker.watermarkMs, m: 1, ...(marker.idle && { i: 1 }), ...(marker.at !== undefined && { a: marker.at }), ...(marker.owes !== undefined && { o: marker.owes }) }));

/** A tick of the watermark function (see {@link Tick}). */
export const encodeTick = (tick: Tick): Buffer =>
  Buffer.from(
    JSON.stringify({
      t: 1,
      u: tick.upstream,
      ...(tick.ended && tick.ended.length > 0 && { e: tick.ended }),
      ...(tick.resumed && { s: 1 }),
      ...(tick.caughtUp && Object.keys(tick.caughtUp).length > 0 && { q: tick.caughtUp }),
      ...(tick.startAt && Object.keys(tick.startAt).length > 0 && { b: tick.startAt }),
    }),
  );

const isPositions = (v: unknown): v is Record<string, string> => typeof v === 'object' && v !== null && Object.values(v).every((p) => typeof p === 'string');

/** Reads one record of a shuffle stream. Throws with the reason for anything that is not one of ours. */
export function decodeShuffleRecord(data: Buffer | string): ShuffleRecord {
  const wire = JSON.parse(typeof data === 'string' ? data : data.toString('utf8')) as Wire;
  if (wire && 't' in wire && wire.t === 1) {
    if (!Array.isArray(wire.u) || !wire.u.every((u) => typeof u === 'string')) throw new Error('tick without its list of upstream shards');
    if (wire.e !== undefined && (!Array.isArray(wire.e) || !wire.e.every((u) => typeof u === 'string'))) throw new Error('tick with a list of ended shards that is not shard ids');
    if (wire.q !== undefined && !isPositions(wire.q)) throw new Error('tick with caught-up shards that are not positions');
    if (wire.b !== undefined && !isPositions(wire.b)) throw new Error('tick with start positions that are not positions');
    return { kind: 'tick', upstream: wire.u, ...(wire.e && { ended: wire.e }), ...(wire.s === 1 && { resumed: true as const }), ...(wire.q && { caughtUp: wire.q }), ...(wire.b && { startAt: wire.b }) };
  }
  if (!wire || !('f' in wire) || typeof wire.f !== 'string' || typeof wire.w !== 'number') throw new Error('not a shardflow envelope (no sender shard or watermark)');
  if (wire.m === 1) {
    if (wire.a !== undefined && typeof wire.a !== 'string') throw new Error('marker with a position that is not a sequence number');
    if (wire.o !== undefined && typeof wire.o !== 'number') throw new Error('marker with an owed time that is not a number');
    return { kind: 'marker', from: wire.f, watermarkMs: wire.w, ...(wire.i === 1 && { idle: true as const }), ...(wire.a !== undefined && { at: wire.a }), ...(wire.o !== undefined && { owes: wire.o }) };
  }
  if (!Array.isArray(wire.r)) throw new Error('envelope without records');
  const from = wire.f;
  if (wire.d !== undefined && typeof wire.d !== 'string') throw new Error('envelope with a destination that is not a shard id');
  return {
    kind: 'envelope',
    from,
    ...(wire.d !== undefined && { to: wire.d }),
    elements: wire.r.map((row) => {
      if (!Array.isArray(row) || typeof row[0] !== 'string' || typeof row[1] !== 'string' || typeof row[3] !== 'number') throw new Error('envelope row is not [key, sequenceNumber, subIndex, timestamp, value]');
      const [key, sequenceNumber, subIndex, timestampMs, value] = row;
      return { key, origin: { shardId: from, sequenceNumber, subIndex }, timestampMs, value };
    }),
  };
}
