/**
 * The seed's "model in the stream" (8.3): every transaction is scored by an HTTP service on its way
 * through, with `mapAsync` (Flink's Async I/O): up to 8 calls in flight per shard, a 1 s timeout, two
 * retries. A transaction the service still cannot score goes to the dead letters with the reason; the
 * others keep their order. The service's address: SCORING_URL (default http://localhost:8090/score).
 */
import { dynamoSink, job, kinesisSource } from 'shardflow';

export type Transaction = { txId: string; userId: string; amount: number; ts: number };
export type ScoredTransaction = Transaction & { score: number };

/** Asks the scoring service for a transaction's score: POST the transaction, `{ score }` back. */
export async function score(transaction: Transaction, signal: AbortSignal): Promise<number> {
  const url = process.env.SCORING_URL ?? 'http://localhost:8090/score';
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(transaction), signal });
  if (!response.ok) throw new Error(`scoring service answered ${response.status}`);
  const body = (await response.json()) as { score?: unknown };
  if (typeof body.score !== 'number') throw new Error(`scoring service sent no score: ${JSON.stringify(body)}`);
  return body.score;
}

export default job('enrichment')
  .source(kinesisSource<Transaction>('transactions', { eventTime: (t) => t.ts }))
  .mapAsync(async (t, { signal }): Promise<ScoredTransaction> => ({ ...t, score: await score(t, signal) }), {
    concurrency: 8,
    timeoutMs: 1000,
    retries: 2,
    backoffMs: 50,
  })
  .sink(dynamoSink('scored-transactions', { key: (t) => String(t.txId) }));
