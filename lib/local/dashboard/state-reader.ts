import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { shardOfSender, stageOutputs, type Plan, type Stage } from '../../plan/plan';
import type { KeyedOperatorRuntime } from '../../runtime/keyed/keyed-operator';
import { processOperator } from '../../runtime/keyed/process-operator';
import { windowOperator } from '../../runtime/keyed/window-operator';
import { DynamoLogStore } from '../../state/dynamodb/dynamo-log-store';
import type { ShardState } from '../../state/shard-state';
import { ShardStates } from '../../state/shard-states';
import { NO_WATERMARK } from '../../time/watermark';

/** One input of a stage: a source shard, or an upstream shard as one keyed shard has heard it. */
export interface InputWatermark {
  /** The shard this stage reads. */
  readonly shardId: string;
  /** For a shuffled input, the upstream shard heard through it. */
  readonly fromShard?: string;
  readonly watermarkMs?: number;
  /** When it was last heard (its last record's Kinesis arrival time). */
  readonly lastActiveMs: number;
  /** Left out of the watermark: silent for longer than the job's `idleAfter`, as the stream last said. */
  readonly idle: boolean;
}

export interface StageWatermarks {
  readonly stage: string;
  /** The watermark up to which the stage's windows have fired: the lowest of its shards' (keyed stages). */
  readonly firedWatermarkMs?: number;
  readonly inputs: readonly InputWatermark[];
  /** Keyed stages: each shard's state, bytes as JSON, and its keys. */
  readonly shards?: readonly { readonly shardId: string; readonly watermarkMs?: number; readonly stateBytes: number; readonly keys: number }[];
}

/** A window (or timer) waiting for the watermark. */
export interface OpenWindow {
  readonly key: string;
  /** For time windows: [startMs, endMs). */
  readonly startMs?: number;
  readonly endMs?: number;
  readonly fireAtMs: number;
  /** The accumulator so far, or the key's state, short. */
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
 * Reads the dashboard's view of a job's tables: each keyed shard's state from its log (kept current
 * with the entries after what this reader last saw) — its watermark, what it heard of each upstream
 * shard, its open windows and timers, its size — and the latest results, dead letters and late records.
 * Scans are fine locally, where tables are small; this never runs on AWS.
 */
export class StateReader {
  private readonly logs: DynamoLogStore;
  private readonly states: ShardStates;
  private readonly operators = new Map<string, KeyedOperatorRuntime>();
  private readonly firstSeen = new Map<string, number>();

  constructor(
    private readonly plan: Plan,
    private readonly ddb: DynamoDBClient,
    private readonly clock: () => number = Date.now,
  ) {
    this.logs = new DynamoLogStore(ddb, plan.stateTable);
    this.states = new ShardStates(this.logs);
    for (const s of plan.stages) if (s.keyed) this.operators.set(s.id, s.keyed.kind === 'window' ? windowOperator(s.keyed) : processOperator(s.keyed));
  }

  async read(): Promise<StateSnapshot> {
    const resultTables = this.plan.stages.flatMap((s) => stageOutputs(s).flatMap((o) => (o.kind === 'sink' && o.sink.kind === 'dynamodb' ? [o.sink.table] : [])));
    const lateTables = this.plan.stages.flatMap((s) => (s.keyed?.kind === 'window' && s.keyed.lateSink?.kind === 'dynamodb' ? [s.keyed.lateSink.table] : []));
    const keyedShards = await this.keyedShards();
    const [results, deadLetters, lateSinks] = await Promise.all([
      Promise.all([...new Set(resultTables)].map((t) => this.results(t))),
      this.newestFirst(this.plan.deadLetterTable, (i) => String(i.id)),
      Promise.all([...new Set(lateTables)].map((t) => this.newestFirst(t, (i) => String(i.id ?? i.key)))),
    ]);
    return {
      watermarks: this.plan.stages.map((s) => this.watermarks(s, keyedShards)),
      openWindows: this.plan.stages.filter((s) => s.keyed).map((s) => this.openWindows(s, keyedShards.get(s.stateId) ?? [])),
      results,
      deadLetters,
      lateSinks,
    };
  }

  /** Every keyed shard with a log, by the state id of its stage, at its log's head. */
  private async keyedShards(): Promise<Map<string, { shardId: string; state: ShardState }[]>> {
    const out = new Map<string, { shardId: string; state: ShardState }[]>();
    const logs = await this.logs.listLogs(this.plan.stages.flatMap((s) => (s.keyed ? [s.stateId] : [])));
    for (const log of logs.sort((a, b) => a.shardId.localeCompare(b.shardId))) {
      let states = out.get(log.stageId);
      if (!states) out.set(log.stageId, (states = []));
      states.push({ shardId: log.shardId, state: await this.states.current(log) });
    }
    return out;
  }

  /**
   * A keyed stage: its shards' watermarks and what each heard of its upstream shards. A source stage keeps
   * no state: its shards' watermarks are what the keyed shards downstream last heard from them.
   */
  private watermarks(stage: Stage, keyedShards: ReadonlyMap<string, readonly { shardId: string; state: ShardState }[]>): StageWatermarks {
    const known = (ms: number): number | undefined => (ms === NO_WATERMARK ? undefined : ms);
    if (stage.keyed) {
      const shards = keyedShards.get(stage.stateId) ?? [];
      const inputs: InputWatermark[] = [];
      for (const { shardId, state } of shards) {
        if (stage.input.kind === 'source') {
          const watermarkMs = known(state.watermarkMs);
          inputs.push({ shardId, ...(watermarkMs !== undefined && { watermarkMs }), lastActiveMs: 0, idle: false });
        }
        for (const [fromShard, input] of state.allInputs()) {
          if (fromShard === 'harness') continue;
          const watermarkMs = known(input.watermarkMs);
          inputs.push({ shardId, fromShard, ...(watermarkMs !== undefined && { watermarkMs }), lastActiveMs: input.heardAtMs, idle: input.idle });
        }
      }
      const fired = shards.length > 0 ? Math.min(...shards.map((s) => s.state.watermarkMs)) : NO_WATERMARK;
      const firedWatermarkMs = known(fired);
      return {
        stage: stage.id,
        ...(firedWatermarkMs !== undefined && { firedWatermarkMs }),
        inputs: inputs.sort((a, b) => (a.shardId + (a.fromShard ?? '')).localeCompare(b.shardId + (b.fromShard ?? ''))),
        shards: shards.map(({ shardId, state }) => ({ shardId, ...(known(state.watermarkMs) !== undefined && { watermarkMs: state.watermarkMs }), stateBytes: state.bytes, keys: state.keyCount })),
      };
    }
    const heard = new Map<string, InputWatermark>();
    for (const downstream of this.plan.stages) {
      const lanes = downstream.input.kind === 'shuffle' ? downstream.input.lanes.filter((l) => l.fromStage === stage.id) : [];
      // The upstream shard a sender is, when the sender is one of this stage's (see Lane).
      const shardOf = (sender: string): string | undefined => lanes.map((l) => shardOfSender(l.name, sender)).find((id) => id !== undefined);
      for (const { state } of lanes.length > 0 ? (keyedShards.get(downstream.stateId) ?? []) : []) {
        for (const [sender, input] of state.allInputs()) {
          const shardId = shardOf(sender);
          if (shardId === undefined) continue;
          const before = heard.get(shardId);
          const watermarkMs = Math.max(input.watermarkMs, before?.watermarkMs ?? NO_WATERMARK);
          heard.set(shardId, { shardId, ...(known(watermarkMs) !== undefined && { watermarkMs }), lastActiveMs: Math.max(input.heardAtMs, before?.lastActiveMs ?? 0), idle: input.idle && (before?.idle ?? true) });
        }
      }
    }
    return { stage: stage.id, inputs: [...heard.values()].sort((a, b) => a.shardId.localeCompare(b.shardId)) };
  }

  private openWindows(stage: Stage, shards: readonly { shardId: string; state: ShardState }[]): StageOpenWindows {
    const operator = this.operators.get(stage.id)!;
    const open: OpenWindow[] = [];
    for (const { state } of shards) for (const key of state.keys()) for (const p of operator.pending(state.get(key))) open.push({ key, ...p });
    open.sort((a, b) => a.fireAtMs - b.fireAtMs || a.key.localeCompare(b.key));
    return { stage: stage.id, total: open.length, soonest: open.slice(0, LATEST) };
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

  private async scan(table: string, projection?: string, filter?: string, values?: Record<string, AttributeValue>): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.ddb.send(
        new ScanCommand({
          TableName: table,
          ...(projection && { ProjectionExpression: projection }),
          ...(filter && { FilterExpression: filter, ExpressionAttributeValues: values }),
          ...(start && { ExclusiveStartKey: start }),
        }),
      );
      for (const raw of page.Items ?? []) items.push(unmarshall(raw));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
