/**
 * examples/enrichment.ts against a real scoring service: a node:http server on loopback with latency and
 * failures injected per transaction. Every transaction is scored or dead-lettered with the reason, none is
 * lost, and the scored ones keep their order.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { harness } from 'shardflow/testing';
import enrichment, { type Transaction } from '../../examples/enrichment';

/** What the service does with a transaction's n-th call (0-based): wait, then answer with a status. */
type Behaviour = (tx: Transaction, call: number) => { delayMs: number; status: number };

/** The scoring service: `{ score: amount / 100 }`, as `behaviour` says; counts calls and the most in flight. */
async function scoringService(behaviour: Behaviour) {
  const calls = new Map<string, number>();
  let inFlight = 0;
  let mostInFlight = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const tx = JSON.parse(body) as Transaction;
      const call = calls.get(tx.txId) ?? 0;
      calls.set(tx.txId, call + 1);
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      const { delayMs, status } = behaviour(tx, call);
      let answered = false;
      const timer = setTimeout(() => {
        answered = true;
        inFlight -= 1;
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(status === 200 ? { score: tx.amount / 100 } : { error: 'injected' }));
      }, delayMs);
      // A client that gave up (its call timed out) closes the connection: the request is over for it too.
      res.on('close', () => {
        if (answered) return;
        clearTimeout(timer);
        inFlight -= 1;
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/score`,
    calls: (txId: string) => calls.get(txId) ?? 0,
    mostInFlight: () => mostInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const transactions: Transaction[] = Array.from({ length: 40 }, (_, i) => ({ txId: `tx-${String(i).padStart(2, '0')}`, userId: `u${i % 3}`, amount: 100 + i, ts: 1_700_000_000_000 + i }));

test('every transaction is scored or dead-lettered with the reason, none lost, in order, with at most 8 calls in flight', async () => {
  const service = await scoringService((tx, call) => {
    const i = Number(tx.txId.slice(3));
    const latency = (i * 37) % 31; // 0–30 ms: calls finish out of order
    if (i === 5) return { delayMs: latency, status: call === 0 ? 503 : 200 }; // a retry helps
    if (i === 10) return { delayMs: call === 0 ? 1_500 : latency, status: 200 }; // a timeout, then a retry helps
    if (i === 15) return { delayMs: latency, status: 500 }; // always failing
    if (i === 20) return { delayMs: 2_000, status: 200 }; // always too slow
    return { delayMs: latency, status: 200 };
  });
  const before = process.env.SCORING_URL;
  process.env.SCORING_URL = service.url;
  try {
    const h = harness(enrichment);
    await h.sendBatch(transactions);
    const failed = new Set(['tx-15', 'tx-20']);
    expect(h.results()).toEqual(transactions.filter((t) => !failed.has(t.txId)).map((t) => ({ ...t, score: t.amount / 100 })));
    expect(h.deadLetters().map((d) => [JSON.parse(d.data).txId, d.operator, d.reason])).toEqual([
      ['tx-15', 'mapAsync#1', 'mapAsync#1 threw: scoring service answered 500 (3 attempts)'],
      ['tx-20', 'mapAsync#1', 'mapAsync#1 timed out after 1000 ms (3 attempts)'],
    ]);
    expect(h.results().length + h.deadLetters().length).toBe(transactions.length);
    expect([service.calls('tx-05'), service.calls('tx-10'), service.calls('tx-15'), service.calls('tx-20'), service.calls('tx-00')]).toEqual([2, 2, 3, 3, 1]);
    // Calls overlapped (the slow ones held their lanes while others went on), never more than 8 at once.
    expect(service.mostInFlight()).toBeGreaterThanOrEqual(2);
    expect(service.mostInFlight()).toBeLessThanOrEqual(8);
  } finally {
    if (before === undefined) delete process.env.SCORING_URL;
    else process.env.SCORING_URL = before;
    await service.close();
  }
});
