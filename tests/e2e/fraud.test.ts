/**
 * The fraud example (three sources; an interval join; a co-process function with a side output) on
 * `shardflow dev`: transactions, logins and limit rules pushed with the AWS CLI onto three streams, the
 * three result tables read back, against sqlite3's answers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LimitRule, Login, Transaction } from '../../examples/fraud';
import { aws, freePort, run, startDev, until, type DevProcess } from './dev-process';

jest.setTimeout(240_000);
const T0 = 1_700_000_000_000;
const OUT_OF_ORDERNESS_MS = 2000;
const USERS = 6;
const COUNTRIES = ['DE', 'FR', 'US'];

let dir: string;
let running: DevProcess | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-e2e-fraud-'));
});
afterEach(async () => {
  if (running && running.child.exitCode === null && running.child.signalCode === null) await running.interrupt();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Seeded events over 40 s, each at most 1.5 s behind the stream's latest (within the bound). */
function scenario(): { transactions: Transaction[]; logins: Login[]; rules: LimitRule[] } {
  let s = 11;
  const random = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const at = (i: number, n: number): number => T0 + Math.floor((i * 40_000) / n) - Math.floor(random() * 1500);
  const user = (): number => Math.floor(random() * USERS);
  const transactions = Array.from({ length: 150 }, (_, i) => {
    const u = user();
    return { txId: `tx-${i}`, card: `card-${u}`, userId: `user-${u}`, amount: Math.floor(random() * 300), country: pick(COUNTRIES), ts: at(i, 150) };
  });
  const logins = Array.from({ length: 40 }, (_, i) => ({ card: `card-${user()}`, country: pick(COUNTRIES), ts: at(i, 40) }));
  const rules = Array.from({ length: 12 }, (_, i) => ({ userId: `user-${user()}`, limit: 50 + Math.floor(random() * 200), ts: at(i, 12) }));
  return { transactions, logins, rules };
}

/**
 * Puts the three streams' records in turns of 25, so that no stream is silent long enough to count as
 * idle while the others are put (an idle input would let the watermark run ahead of its records).
 */
async function putInTurns(port: number, streams: readonly [string, readonly object[], (e: never) => string][]): Promise<void> {
  for (let i = 0; ; i += 25) {
    const turn = streams.filter(([, events]) => i < events.length);
    if (turn.length === 0) return;
    for (const [stream, events, partitionKey] of turn) {
      const file = path.join(dir, `${stream}-${i}.json`);
      fs.writeFileSync(file, JSON.stringify(events.slice(i, i + 25).map((e) => ({ PartitionKey: partitionKey(e as never), Data: JSON.stringify(e) }))));
      const out = (await aws(port, ['kinesis', 'put-records', '--stream-name', stream, '--records', `file://${file}`])) as { FailedRecordCount: number };
      if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records refused by ${stream}`);
    }
  }
}

async function sqlite(events: ReturnType<typeof scenario>, select: string): Promise<Record<string, unknown>[]> {
  const values = (rows: readonly object[], columns: readonly string[]): string =>
    rows.map((r) => `(${columns.map((c) => JSON.stringify((r as Record<string, unknown>)[c]).replace(/"/g, "'")).join(', ')})`).join(',\n');
  const file = path.join(dir, 'reference.sql');
  fs.writeFileSync(
    file,
    `CREATE TABLE tx (txId TEXT, card TEXT, userId TEXT, amount INTEGER, country TEXT, ts INTEGER);
CREATE TABLE logins (card TEXT, country TEXT, ts INTEGER);
CREATE TABLE rules (userId TEXT, lim INTEGER, ts INTEGER);
INSERT INTO tx VALUES ${values(events.transactions, ['txId', 'card', 'userId', 'amount', 'country', 'ts'])};
INSERT INTO logins VALUES ${values(events.logins, ['card', 'country', 'ts'])};
INSERT INTO rules VALUES ${values(events.rules, ['userId', 'limit', 'ts'])};
.mode json
${select};`,
  );
  const { stdout } = await run('sqlite3', [':memory:', `.read ${file}`]);
  return JSON.parse(stdout.trim() || '[]') as Record<string, unknown>[];
}

/** A table's items as plain values, with the columns asked for, sorted. */
async function scan(port: number, table: string, columns: readonly string[]): Promise<Record<string, unknown>[]> {
  const out = (await aws(port, ['dynamodb', 'scan', '--table-name', table])) as { Items: Record<string, { S?: string; N?: string }>[] };
  const rows = out.Items.map((i) => Object.fromEntries(columns.map((c) => [c, i[c]?.N !== undefined ? Number(i[c]!.N) : i[c]?.S])));
  return sortRows(rows);
}

const sortRows = (rows: readonly Record<string, unknown>[]): Record<string, unknown>[] => [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

test('examples/fraud.ts on shardflow dev: interval-join alerts, limit alerts and approved transactions, as sqlite3 computes them', async () => {
  const port = await freePort();
  running = await startDev(['examples/fraud.ts', '--no-demo', '--port', String(port)]);
  const events = scenario();
  await putInTurns(port, [
    ['transactions', events.transactions, (t: Transaction) => t.card],
    ['logins', events.logins, (l: Login) => l.card],
    ['limit-rules', events.rules, (r: LimitRule) => r.userId],
  ]);

  // A transaction with a login on its card from another country in the 5 minutes before it (both ends in).
  const countryAlerts = sortRows(
    await sqlite(events, 'SELECT tx.txId AS txId, logins.ts AS loginTs FROM tx JOIN logins ON tx.card = logins.card AND logins.ts BETWEEN tx.ts - 300000 AND tx.ts WHERE tx.country <> logins.country'),
  );
  // Once every input is idle, the limits stage's watermark is its inputs' highest: what it has judged.
  const judgedUpTo = Math.max(...events.transactions.map((t) => t.ts), ...events.rules.map((r) => r.ts)) - OUT_OF_ORDERNESS_MS - 1;
  const inForce = 'SELECT lim FROM rules WHERE rules.userId = tx.userId AND rules.ts <= tx.ts ORDER BY rules.ts DESC LIMIT 1';
  const judged = await sqlite(events, `SELECT txId, amount, (${inForce}) AS lim FROM tx WHERE ts <= ${judgedUpTo}`);
  const limitAlerts = sortRows(judged.filter((t) => t.lim !== null && (t.amount as number) > (t.lim as number)).map((t) => ({ txId: t.txId, limit: t.lim })));
  const approved = sortRows(judged.filter((t) => !(t.lim !== null && (t.amount as number) > (t.lim as number))).map((t) => ({ txId: t.txId })));
  expect([countryAlerts.length, limitAlerts.length, approved.length].every((n) => n >= 5)).toBe(true);

  await until('every country alert', async () => (await scan(port, 'fraud-country-alerts', ['txId'])).length >= countryAlerts.length, 90_000);
  await until('every transaction judged', async () => (await scan(port, 'fraud-limit-alerts', ['txId'])).length + (await scan(port, 'approved-transactions', ['txId'])).length >= judged.length, 120_000);
  expect(await scan(port, 'fraud-country-alerts', ['txId', 'loginTs'])).toEqual(countryAlerts);
  expect(await scan(port, 'fraud-limit-alerts', ['txId', 'limit'])).toEqual(limitAlerts);
  expect(await scan(port, 'approved-transactions', ['txId'])).toEqual(approved);
  expect(await running.interrupt()).toBe(0);
});
