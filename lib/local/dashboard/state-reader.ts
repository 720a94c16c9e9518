import { BatchGetItemCommand, QueryCommand, ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Plan, Stage } from '../../plan/plan';
import { DynamoBackend } from '../../state/dynamodb/dynamo-backend';
import { ACC_PREFIX, FIRE_BUCKETS, refOf } from '../../state/dynamodb/item-codec';
import { NO_WATERMARK } from '../../time/watermark';
import { FIRE_INDEX } from '../../../infra/tables';

/** One input of a stage, as its function last recorded it in the state table (`m#<stage>` / `in#…`). */
export interface InputWatermark {
  /** The shard this stage reads. */
  readonly shardId: string;
  /** For a shuffled input, the upstream shard heard through it. */
  readonly fromShard?: string;
  readonly watermarkMs?: number;
  /** The highest event time seen (source shards). */
  readonly maxEventTimeMs?: number;
  readonly lastActiveMs: number;
  /** Silent for longer than the job's `idleAfter`: left out of the stage's watermark. */
  readonly idle: boolean;
}

export interface StageWatermarks {
  readonly stage: string;
  /** The watermark up to which the stage's windows have fired (keyed stages). */
  readonly firedWatermarkMs?: number;
  readonly inputs: readonly InputWatermark[];
}

/** A window (or timer) waiting for the watermark. */
export interface OpenWindow {
  readonly key: string;
  readonly slot: string;
  /** For time windows: [startMs, endMs). */
  readonly startMs?: number;
  readonly endMs?: number;
  readonly fireAtMs: number;
  /** The accumulator so far (additive aggregates), or the item's data as short JSON. */
  readonly value: string;
}

export interface StageOpenWindows {
  readonly stage: string;
  readonly total: number;
  /** The next to fire, soonest first. */
  readonly soonest: readonly OpenWindow[];
}

export interface TableItems {
  readonly table: string;
  readonly total: number;
  /** Newest first: results by window, dead letters and late records by when this reader first saw them. */
  readonly latest: readonly Record<string, unknown>[];
}

/** What the job's tables hold right now, for the dashboard. */
export interface StateSnapshot {
  readonly watermarks: readonly StageWatermarks[];
  readonly openWindows: readonly StageOpenWindows[];
  /** DynamoDB sinks (main outputs). */
  readonly results: readonly TableItems[];
  readonly deadLetters: TableItems;
  /** DynamoDB late-output tables. */
  readonly lateSinks: readonly TableItems[];
}

const LATEST = 12;

/**
 * Reads the dashboard's view of a job's tables: per-shard watermarks from the input rows the stage
 * functions commit, open windows through the state table's fire-time index (only items still waiting
 * are in it), the latest results, dead letters and late records. Scans are fine locally, where tables
 * are small; this never runs on AWS.
 */
export class StateReader {
  private readonly backend: DynamoBackend;
  private readonly firstSeen = new Map<string, number>();

  constructor(
    private readonly plan: Plan,
    private readonly ddb: DynamoDBClient,
    private readonly clock: () => number = Date.now,
  ) {
    this.backend = new DynamoBackend(ddb, plan.stateTable);
  }

  async read(): Promise<StateSnapshot> {
    const resultTables = this.plan.stages.flatMap((s) => (s.output.kind === 'sink' && s.output.sink.kind === 'dynamodb' ? [s.output.sink.table] : []));
    const lateTables = this.plan.stages.flatMap((s) => (s.keyed?.kind === 'window' && s.keyed.lateSink?.kind === 'dynamodb' ? [s.keyed.lateSink.table] : []));
    const [watermarks, openWindows, results, deadLetters, lateSinks] = await Promise.all([
      Promise.all(this.plan.stages.map((s) => this.watermarks(s))),
      Promise.all(this.plan.stages.filter((s) => s.keyed).map((s) => this.openWindows(s))),
      Promise.all([...new Set(resultTables)].map((t) => this.results(t))),
      this.newestFirst(this.plan.deadLetterTable, (i) => String(i.id)),
      Promise.all([...new Set(lateTables)].map((t) => this.newestFirst(t, (i) => String(i.id ?? i.key)))),
    ]);
    return { watermarks, openWindows, results, deadLetters, lateSinks };
  }

  private async watermarks(stage: Stage): Promise<StageWatermarks> {
    const now = this.clock();
    const [rows, fired] = await Promise.all([this.backend.readInputs(stage.id), stage.keyed ? this.backend.readStageWatermark(stage.id) : Promise.resolve(NO_WATERMARK)]);
    const known = (ms: number): number | undefined => (ms === NO_WATERMARK ? undefined : ms);
    const inputs = rows
      .map((r): InputWatermark => {
        const at = r.input.indexOf('<');
        const watermarkMs = known(r.watermarkMs);
        const maxEventTimeMs = known(r.maxEventTimeMs);
        return {
          shardId: at < 0 ? r.input : r.input.slice(0, at),
          ...(at >= 0 && { fromShard: r.input.slice(at + 1) }),
          ...(watermarkMs !== undefined && { watermarkMs }),
          ...(maxEventTimeMs !== undefined && { maxEventTimeMs }),
          lastActiveMs: r.lastActiveMs,
          idle: now - r.lastActiveMs >= this.plan.eventTime.idleAfterMs,
        };
      })
      .sort((a, b) => (a.shardId + (a.fromShard ?? '')).localeCompare(b.shardId + (b.fromShard ?? '')));
    const firedWatermarkMs = known(fired);
    return { stage: stage.id, ...(firedWatermarkMs !== undefined && { firedWatermarkMs }), inputs };
  }

  private async openWindows(stage: Stage): Promise<StageOpenWindows> {
    const due: { pk: string; sk: string; fireAt: number }[] = [];
    await Promise.all(
      Array.from({ length: FIRE_BUCKETS }, async (_, bucket) => {
        let start: Record<string, AttributeValue> | undefined;
        do {
          const page = await this.ddb.send(
            new QueryCommand({
              TableName: this.plan.stateTable,
              IndexName: FIRE_INDEX,
              KeyConditionExpression: 'due = :due',
              ExpressionAttributeValues: { ':due': { S: `${stage.id}#${bucket}` } },
              ...(start && { ExclusiveStartKey: start }),
            }),
          );
          for (const raw of page.Items ?? []) due.push({ pk: raw.pk!.S!, sk: raw.sk!.S!, fireAt: Number(raw.fireAt!.N) });
          start = page.LastEvaluatedKey;
        } while (start);
      }),
    );
    due.sort((a, b) => a.fireAt - b.fireAt || a.pk.localeCompare(b.pk));
    const soonest = due.slice(0, LATEST);
    const items = new Map<string, Record<string, AttributeValue>>();
    if (soonest.length > 0) {
      const got = await this.ddb.send(new BatchGetItemCommand({ RequestItems: { [this.plan.stateTable]: { Keys: soonest.map((d) => ({ pk: { S: d.pk }, sk: { S: d.sk } })) } } }));
      for (const raw of got.Responses?.[this.plan.stateTable] ?? []) items.set(`${raw.pk?.S}\u0000${raw.sk?.S}`, raw);
    }
    const sizeMs = stage.keyed?.kind === 'window' && (stage.keyed.assigner.kind === 'tumbling' || stage.keyed.assigner.kind === 'sliding') ? stage.keyed.assigner.sizeMs : undefined;
    return {
      stage: stage.id,
      total: due.length,
      soonest: soonest.map((d): OpenWindow => {
        const ref = refOf(d.pk, d.sk);
        const shown = describeItem(items.get(`${d.pk}\u0000${d.sk}`));
        const startMs = sizeMs !== undefined && /^w:-?\d+$/.test(ref.slot) ? Number(ref.slot.slice(2)) : shown.startMs;
        const endMs = sizeMs !== undefined && startMs !== undefined ? startMs + sizeMs : shown.endMs;
        return {
          key: ref.key,
          slot: ref.slot,
          ...(startMs !== undefined && endMs !== undefined && { startMs, endMs }),
          fireAtMs: d.fireAt,
          value: shown.value,
        };
      }),
    };
  }

  private async results(table: string): Promise<TableItems> {
    const items = await this.scan(table);
    items.sort((a, b) => Number(b.windowStart ?? 0) - Number(a.windowStart ?? 0) || String(a.key).localeCompare(String(b.key)));
    return { table, total: items.length, latest: items.slice(0, LATEST) };
  }

  /** Items with no time of their own (dead letters, late records): newest = first seen most recently. */
  private async newestFirst(table: string, idOf: (item: Record<string, unknown>) => string): Promise<TableItems> {
    const now = this.clock();
    const items = (await this.scan(table)).map((item) => {
      const id = `${table}\u0000${idOf(item)}`;
      if (!this.firstSeen.has(id)) this.firstSeen.set(id, now);
      return { ...item, firstSeenMs: this.firstSeen.get(id)! };
    });
    items.sort((a, b) => b.firstSeenMs - a.firstSeenMs || String(idOf(b)).localeCompare(String(idOf(a))));
    return { table, total: items.length, latest: items.slice(0, LATEST) };
  }

  private async scan(table: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.ddb.send(new ScanCommand({ TableName: table, ...(start && { ExclusiveStartKey: start }) }));
      for (const raw of page.Items ?? []) items.push(unmarshall(raw));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
}

/**
 * An item's value so far, short: an additive accumulator's numbers (`sum=12`), a window's accumulator
 * from its data (`count=3`), a key's sessions (`2 sessions · count=6`, with their span), or short JSON.
 */
export function describeItem(raw: Record<string, AttributeValue> | undefined): { value: string; startMs?: number; endMs?: number } {
  if (!raw) return { value: '' };
  const acc = Object.entries(raw).filter(([name, v]) => name.startsWith(ACC_PREFIX) && v.N !== undefined);
  if (acc.length > 0) return { value: acc.map(([name, v]) => `${name.slice(ACC_PREFIX.length)}=${Number(v.N)}`).join(' ') };
  const text = raw.d?.S;
  if (text === undefined || text === 'null') return { value: '' };
  const short = (v: string): string => (v.length > 60 ? `${v.slice(0, 59)}…` : v);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { value: short(text) };
  }
  const accOf = (d: unknown): string | undefined => {
    const a = (d as { acc?: unknown } | null)?.acc;
    if (a === null || typeof a !== 'object') return a === undefined ? undefined : short(JSON.stringify(a));
    return short(Object.entries(a).map(([k, v]) => `${k}=${typeof v === 'number' ? v : JSON.stringify(v)}`).join(' '));
  };
  const sessions = (data as { sessions?: unknown } | null)?.sessions;
  if (Array.isArray(sessions) && sessions.length > 0) {
    const spans = sessions as { start?: unknown; end?: unknown }[];
    const starts = spans.map((x) => x.start).filter((x): x is number => typeof x === 'number');
    const ends = spans.map((x) => x.end).filter((x): x is number => typeof x === 'number');
    const last = accOf(sessions[sessions.length - 1]);
    return {
      value: `${sessions.length} session${sessions.length === 1 ? '' : 's'}${last ? ` · ${last}` : ''}`,
      ...(starts.length && ends.length && { startMs: Math.min(...starts), endMs: Math.max(...ends) }),
    };
  }
  const w = data as { start?: unknown; end?: unknown };
  const value = accOf(data) ?? short(text);
  return typeof w.start === 'number' && typeof w.end === 'number' ? { value, startMs: w.start, endMs: w.end } : { value };
}
