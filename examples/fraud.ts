/**
 * Fraud detection (the seed's 6.2) as one job with three sources:
 * - a card used within 5 minutes after a login from another country: card transactions interval-joined
 *   with logins (Flink's intervalJoin, event time);
 * - per-user spending limits that change while the job runs: transactions connected with a stream of
 *   limit rules (Flink's KeyedCoProcessFunction). Each transaction is judged by the rule in force at its
 *   event time — it waits, in state, until the watermark reaches it, so the answer does not depend on
 *   which stream's records arrive first; the approved ones go to a side output.
 *   npx shardflow plan examples/fraud.ts
 *   npx shardflow dev examples/fraud.ts --no-demo   # then push to transactions, logins and limit-rules
 */
import { dynamoSink, job, kinesisSource, listState, outputTag } from 'shardflow';

export type Transaction = { txId: string; card: string; userId: string; amount: number; country: string; ts: number };
export type Login = { card: string; country: string; ts: number };
export type LimitRule = { userId: string; limit: number; ts: number };
export type CountryAlert = { txId: string; card: string; txCountry: string; loginCountry: string; loginTs: number };
export type LimitAlert = { txId: string; userId: string; amount: number; limit: number };

// Limit rules are rare and a source stage's first batch may wait for its function to start: inputs count as
// idle only after 30 s of silence, so none is passed over while the job starts.
const events = { outOfOrderness: '2s', idleAfter: '30s' } as const;
const fraud = job('fraud');
const transactions = fraud.source(kinesisSource<Transaction>('transactions', { eventTime: (t) => t.ts, ...events }));
const logins = fraud.source(kinesisSource<Login>('logins', { eventTime: (l) => l.ts, ...events }));
const rules = fraud.source(kinesisSource<LimitRule>('limit-rules', { eventTime: (r) => r.ts, ...events }));

transactions
  .keyBy((t) => t.card)
  .intervalJoin(logins.keyBy((l) => l.card))
  .between('-5m', '0s')
  .process((t, l): CountryAlert => ({ txId: t.txId, card: t.card, txCountry: t.country, loginCountry: l.country, loginTs: l.ts }))
  .filter((a) => a.txCountry !== a.loginCountry)
  .sink(dynamoSink('fraud-country-alerts'));

/** The limit in force at `ts`: the latest rule at or before it. */
export const limitAt = (history: readonly LimitRule[], ts: number): number | undefined =>
  history.filter((r) => r.ts <= ts).reduce<LimitRule | undefined>((latest, r) => (!latest || r.ts >= latest.ts ? r : latest), undefined)?.limit;

export const approved = outputTag<Transaction>('approved');
const limitState = { rules: listState<LimitRule>(), waiting: listState<Transaction>() };

const overLimit = transactions
  .connect(rules)
  .keyBy(
    (t) => t.userId,
    (r) => r.userId,
  )
  .process<typeof limitState, LimitAlert>({
    state: limitState,
    onEvent1(t, ctx) {
      ctx.state.waiting.add(t);
      ctx.timers.registerEventTime(t.ts);
    },
    onEvent2(r, ctx) {
      ctx.state.rules.add(r);
    },
    onTimer(ts, ctx) {
      const history = ctx.state.rules.get();
      const [due, later] = [ctx.state.waiting.get().filter((t) => t.ts <= ts), ctx.state.waiting.get().filter((t) => t.ts > ts)];
      for (const t of due) {
        const limit = limitAt(history, t.ts);
        if (limit !== undefined && t.amount > limit) ctx.emit({ txId: t.txId, userId: t.userId, amount: t.amount, limit });
        else ctx.output(approved, t);
      }
      ctx.state.waiting.update(later);
      // Rules before the one in force now can judge nothing any more.
      const inForce = history.filter((r) => r.ts <= ts).reduce((n, r) => Math.max(n, r.ts), Number.NEGATIVE_INFINITY);
      ctx.state.rules.update(history.filter((r) => r.ts >= inForce));
    },
  });
overLimit.sink(dynamoSink('fraud-limit-alerts'));
overLimit.sideOutput(approved).sink(dynamoSink('approved-transactions'));

export default fraud;
