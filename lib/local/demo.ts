import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';

/** The seed's click event. */
export interface DemoClick {
  userId: string;
  clicks: number;
  ts: number;
}

/** Seeded PRNG (mulberry32), so a demo run can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Clicks from `users` users (a few busy, most quiet: Zipf-like), stamped with the wall clock minus up
 * to `disorderMs`, so event time moves with real time and the watermark closes windows as you watch.
 */
export function demoClicks(options: { users?: number; disorderMs?: number; seed?: number; clock?: () => number } = {}): () => DemoClick {
  const users = options.users ?? 20;
  const random = seededRandom(options.seed ?? 1);
  const clock = options.clock ?? Date.now;
  const weights = Array.from({ length: users }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  return () => {
    let x = random() * total;
    let user = users - 1;
    for (let i = 0; i < users; i++) if ((x -= weights[i]!) <= 0) {
      user = i;
      break;
    }
    return { userId: `user-${user}`, clicks: 1 + Math.floor(random() * 5), ts: clock() - Math.floor(random() * (options.disorderMs ?? 1000)) };
  };
}

/** Puts JSON events on a stream in PutRecords calls of up to 500, partitioned by `partitionKey`. Returns how many were accepted. */
export async function putEvents(kinesis: KinesisClient, stream: string, events: readonly unknown[], partitionKey: (e: unknown) => string): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < events.length; i += 500) {
    let pending = events.slice(i, i + 500);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === 10) throw new Error(`stream ${stream} kept refusing ${pending.length} records`);
      const out = await kinesis.send(
        new PutRecordsCommand({ StreamName: stream, Records: pending.map((e) => ({ PartitionKey: partitionKey(e), Data: Buffer.from(JSON.stringify(e)) })) }),
      );
      const failed = pending.filter((_, j) => out.Records?.[j]?.ErrorCode);
      accepted += pending.length - failed.length;
      pending = failed;
      if (failed.length) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
  return accepted;
}

/** A partition key for an event: its userId when it has one (so a user's clicks stay in order), else a hash of it. */
export const partitionKeyOf = (e: unknown): string => {
  const user = (e as { userId?: unknown })?.userId;
  return typeof user === 'string' && user ? user : String(JSON.stringify(e).length % 97);
};
