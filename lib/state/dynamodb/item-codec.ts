import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { AdditiveLogic } from '../../runtime/keyed-logic';
import { decodePosition, encodePosition } from '../../runtime/records';
import type { ItemRef, Position, StoredItem } from '../backend';
import { TTL_ATTRIBUTE } from '../../../infra/tables';

/**
 * How a state item is laid out in the state table:
 * - `pk` = `k#<stage>#<key>`, `sk` = slot; meta rows use `pk` = `m#<stage>`;
 * - `v` version; `h_<shard>` one top-level mark per origin shard (encoded position, so conditions can
 *   compare with `<`); `fireAt` + `due` (= `<stage>#<bucket>`) while the item waits for the watermark;
 * - `d` the data as JSON, except an additive accumulator, kept as numbers `a_<name>` for ADD;
 * - `closed`, `ob` (the outbox, JSON), and the TTL attribute once nothing is left to wait for.
 */
export type Item = Record<string, AttributeValue>;

export const MARK_PREFIX = 'h_';
export const ACC_PREFIX = 'a_';

export const itemPk = (ref: Pick<ItemRef, 'stageId' | 'key'>): string => `k#${ref.stageId}#${ref.key}`;
export const metaPk = (stageId: string): string => `m#${stageId}`;

/** The item ref back from its table key (stage ids have no '#'; keys may). */
export function refOf(pk: string, sk: string): ItemRef {
  const rest = pk.slice(2);
  const at = rest.indexOf('#');
  return { stageId: rest.slice(0, at), key: rest.slice(at + 1), slot: sk };
}

/** Spreads keys over this many index partitions, so one stage's due items are no hot key. */
export const FIRE_BUCKETS = 4;

/** FNV-1a: a cheap, stable hash of the key for its fire-index bucket. */
export function bucketOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % FIRE_BUCKETS;
}

export const dueKey = (ref: Pick<ItemRef, 'stageId' | 'key'>): string => `${ref.stageId}#${bucketOf(ref.key)}`;

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });

/** Splits additive data into the numbers kept for ADD and the rest (omitted while it is the initial rest). */
function splitAdditive(additive: AdditiveLogic, slot: string, data: unknown): { acc: Record<string, number>; rest: string | undefined } {
  if (data === null) return { acc: {}, rest: 'null' };
  const { acc, ...rest } = data as { acc: Record<string, number> };
  const { acc: _initialAcc, ...initialRest } = additive.initial(slot);
  const restJson = JSON.stringify(rest);
  return { acc, rest: restJson === JSON.stringify(initialRest) ? undefined : restJson };
}

/** A stored item as a DynamoDB item. `nowSeconds` + `retentionSeconds` set the TTL of finished items. */
export function encodeItem(ref: ItemRef, item: StoredItem, additive: AdditiveLogic | undefined, nowSeconds: number, retentionSeconds: number): Item {
  const out: Item = { pk: S(itemPk(ref)), sk: S(ref.slot), v: N(item.version) };
  for (const [shard, p] of Object.entries(item.hwm)) out[MARK_PREFIX + shard] = S(encodePosition(p));
  if (item.fireAtMs !== null && !item.closed) {
    out.fireAt = N(item.fireAtMs);
    out.due = S(dueKey(ref));
  }
  if (item.closed) out.closed = { BOOL: true };
  if (additive) {
    const { acc, rest } = splitAdditive(additive, ref.slot, item.data);
    for (const [name, value] of Object.entries(acc)) out[ACC_PREFIX + name] = N(value);
    if (rest !== undefined) out.d = S(rest);
  } else {
    out.d = S(JSON.stringify(item.data ?? null));
  }
  const ob = item.outbox;
  if (ob.outputs.length > 0 || (ob.late?.length ?? 0) > 0 || (ob.failed?.length ?? 0) > 0) out.ob = S(JSON.stringify(ob));
  // Finished items (closed windows, emptied state) expire; their marks outlive any replay first.
  if (item.closed || (item.data === null && item.fireAtMs === null)) out[TTL_ATTRIBUTE] = N(nowSeconds + retentionSeconds);
  return out;
}

/** A DynamoDB item back as a stored item. */
export function decodeItem(raw: Item, slot: string, additive: AdditiveLogic | undefined): StoredItem {
  const hwm: Record<string, Position> = {};
  const acc: Record<string, number> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name.startsWith(MARK_PREFIX) && value.S !== undefined) hwm[name.slice(MARK_PREFIX.length)] = decodePosition(value.S);
    else if (name.startsWith(ACC_PREFIX) && value.N !== undefined) acc[name.slice(ACC_PREFIX.length)] = Number(value.N);
  }
  let data: unknown;
  if (additive) {
    const rest = raw.d?.S;
    if (rest === 'null') data = null;
    else {
      const initial = additive.initial(slot);
      data = { ...(rest === undefined ? initial : JSON.parse(rest)), acc: { ...initial.acc, ...acc } };
    }
  } else {
    data = raw.d?.S === undefined ? null : JSON.parse(raw.d.S);
  }
  return {
    data,
    hwm,
    version: Number(raw.v?.N ?? 0),
    fireAtMs: raw.fireAt?.N === undefined ? null : Number(raw.fireAt.N),
    closed: raw.closed?.BOOL === true,
    outbox: raw.ob?.S === undefined ? { spans: {}, outputs: [] } : JSON.parse(raw.ob.S),
  };
}
