import type { LogEntry, LogHead, LogId, ShardLogStore } from '../../lib/state/shard-log';

let namespaces = 0;

/**
 * A store's logs under a namespace of their own, so that many property runs share one store (one DynamoDB
 * table) without sharing a log: every shard id gets the namespace in front.
 */
export class NamespacedLogStore implements ShardLogStore {
  private readonly namespace = `run${namespaces++}`;

  constructor(private readonly store: ShardLogStore) {}

  append(log: LogId, entry: LogEntry): Promise<boolean> {
    return this.store.append(this.inside(log), entry);
  }

  readAfter(log: LogId, slot: number): Promise<LogEntry[]> {
    return this.store.readAfter(this.inside(log), slot);
  }

  readLatest(log: LogId): Promise<LogEntry[]> {
    return this.store.readLatest(this.inside(log));
  }

  readHead(log: LogId): Promise<LogHead | undefined> {
    return this.store.readHead(this.inside(log));
  }

  private inside(log: LogId): LogId {
    return { stageId: log.stageId, shardId: `${this.namespace}/${log.shardId}` };
  }
}
