/**
 * Where a mapping keeps each shard's checkpoint, so a restart resumes after the last record that was
 * processed (Lambda keeps the same thing in its own lease table; the KCL's in DynamoDB).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * Checkpoint persistence. Keys are `<mapping>/<shardId>` (see {@link checkpointKey}); values are a
 * sequence number, or {@link SHARD_END} once a closed shard has been processed to its end.
 */
export interface CheckpointStore {
  load(key: string): Promise<string | undefined>;
  save(key: string, sequenceNumber: string): Promise<void>;
}

/**
 * The checkpoint of a closed shard whose records have all been processed. Children of the shard may
 * start only when all their parents hold it (the KCL uses the same sentinel).
 */
export const SHARD_END = 'SHARD_END';

/**
 * The key of a shard's checkpoint: mapping `<function>@<stream>`, then the shard.
 *
 * @example checkpointKey('click-counts-s0', 'clicks', 'shardId-000000000000') // 'click-counts-s0@clicks/shardId-000000000000'
 */
export function checkpointKey(functionName: string, streamName: string, shardId: string): string {
  return `${functionName}@${streamName}/${shardId}`;
}

/** Checkpoints held in memory: lost with the process; for tests and throwaway runs. */
export function memoryCheckpointStore(): CheckpointStore & { entries(): ReadonlyMap<string, string> } {
  const entries = new Map<string, string>();
  return {
    load: async (key) => entries.get(key),
    save: async (key, sequenceNumber) => {
      entries.set(key, sequenceNumber);
    },
    entries: () => entries,
  };
}

/** What a checkpoint file holds: one mapping, every shard. */
interface CheckpointFile {
  readonly version: 1;
  readonly mapping: string;
  readonly updatedAt: string;
  readonly checkpoints: Record<string, string>;
}

/**
 * Checkpoints in `dir`, one JSON file per mapping (`<function>@<stream>.json`), each write atomic: the
 * new content goes to a temporary file, is fsynced, then renamed over the old one, so a crash leaves
 * either the old or the new checkpoints, never half a file. `save` resolves once the value is on disk.
 *
 * @example
 * ```ts
 * const checkpoints = fileCheckpointStore('.shardflow/checkpoints');
 * new EventSourceMapping(kinesis, config, invoke, { checkpoints });
 * ```
 */
export function fileCheckpointStore(dir: string): CheckpointStore {
  const root = resolve(dir);
  const files = new Map<string, MappingFile>();
  const fileOf = (key: string): { file: MappingFile; shardId: string } => {
    const slash = key.lastIndexOf('/');
    const mapping = slash < 0 ? 'checkpoints' : key.slice(0, slash);
    const shardId = key.slice(slash + 1);
    let file = files.get(mapping);
    if (!file) {
      file = new MappingFile(root, mapping);
      files.set(mapping, file);
    }
    return { file, shardId };
  };
  return {
    async load(key) {
      const { file, shardId } = fileOf(key);
      return (await file.entries())[shardId];
    },
    async save(key, sequenceNumber) {
      const { file, shardId } = fileOf(key);
      await file.set(shardId, sequenceNumber);
    },
  };
}

/** One mapping's checkpoint file: read once, then written whole on every change, writes never overlapping. */
class MappingFile {
  private readonly path: string;
  private loaded: Promise<Record<string, string>> | undefined;
  private writing: Promise<void> | undefined;
  private dirty = false;

  constructor(
    private readonly dir: string,
    private readonly mapping: string,
  ) {
    // Stream and function names are [A-Za-z0-9_.-]; anything else is replaced so the name stays one path segment.
    this.path = join(dir, `${mapping.replace(/[^A-Za-z0-9_.@-]/g, '_')}.json`);
  }

  entries(): Promise<Record<string, string>> {
    this.loaded ??= this.read();
    return this.loaded;
  }

  async set(shardId: string, sequenceNumber: string): Promise<void> {
    const entries = await this.entries();
    entries[shardId] = sequenceNumber;
    this.dirty = true;
    // One writer loop: a save made while a write is under way is picked up by the next round, and
    // every caller waits for the round that includes its value.
    this.writing ??= this.writeWhileDirty(entries).finally(() => {
      this.writing = undefined;
    });
    await this.writing;
  }

  private async read(): Promise<Record<string, string>> {
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as Partial<CheckpointFile>;
      return { ...(parsed.checkpoints ?? {}) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new Error(`checkpoint file ${this.path} is unreadable: ${(e as Error).message} — fix or delete it (deleting restarts every shard from the starting position)`);
    }
  }

  private async writeWhileDirty(entries: Record<string, string>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    while (this.dirty) {
      this.dirty = false;
      const content: CheckpointFile = { version: 1, mapping: this.mapping, updatedAt: new Date().toISOString(), checkpoints: { ...entries } };
      const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        const handle = await open(tmp, 'w');
        try {
          await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`, 'utf8');
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, this.path);
      } catch (e) {
        // The content is still unwritten: the next save (or the caller's retry) writes it again.
        this.dirty = true;
        await unlink(tmp).catch(() => undefined);
        throw e;
      }
    }
  }
}
