/**
 * The hot-items example (two keyed stages) on `shardflow dev`: clicks pushed with the AWS CLI, the top 3
 * items of every closed window read back from the results table, against sqlite3's answer.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { aws, freePort, putWithCli, run, startDev, until, type DevProcess } from './dev-process';

jest.setTimeout(180_000);
const T0 = 1_700_000_000_000;
const OUT_OF_ORDERNESS_MS = 2000;

let dir: string;
let running: DevProcess | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-e2e-hot-'));
});
afterEach(async () => {
  if (running && running.child.exitCode === null && running.child.signalCode === null) await running.interrupt();
  fs.rmSync(dir, { recursive: true, force: true });
});

type ItemClick = { itemId: string; userId: string; ts: number };
type Ranked = { windowStart: number; top: { itemId: string; clicks: number }[] };

/** Seeded clicks on 12 items over 50 s, a few items far more popular, with disorder within the bound. */
function itemClicks(n: number): ItemClick[] {
  let s = 5;
  const random = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, (_, i) => ({
    itemId: `item-${Math.floor(12 * random() ** 2)}`,
    userId: `user-${Math.floor(random() * 30)}`,
    ts: T0 + Math.floor((i * 50_000) / n) - Math.floor(random() * 1500),
  }));
}

/** sqlite3's answer: clicks per item per 10-second window, the 3 most clicked (ties by item id) of each window the watermark closed. */
async function sqliteTopItems(events: readonly ItemClick[], watermarkMs: number): Promise<Ranked[]> {
  const file = path.join(dir, 'reference.sql');
  fs.writeFileSync(
    file,
    `CREATE TABLE clicks (item TEXT, ts INTEGER);
INSERT INTO clicks VALUES ${events.map((e) => `('${e.itemId}', ${e.ts})`).join(',\n')};
.mode json
WITH per_item AS (SELECT item, ts - ts % 10000 AS start, COUNT(*) AS clicks FROM clicks GROUP BY item, start),
ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY start ORDER BY clicks DESC, item) AS rank FROM per_item)
SELECT start, item, clicks FROM ranked WHERE rank <= 3 AND start + 10000 - 1 <= ${watermarkMs} ORDER BY start, rank;`,
  );
  const { stdout } = await run('sqlite3', [':memory:', `.read ${file}`]);
  const rows = JSON.parse(stdout.trim() || '[]') as { start: number; item: string; clicks: number }[];
  const byWindow = new Map<number, Ranked>();
  for (const r of rows) {
    const w = byWindow.get(r.start) ?? { windowStart: r.start, top: [] };
    w.top.push({ itemId: r.item, clicks: r.clicks });
    byWindow.set(r.start, w);
  }
  return [...byWindow.values()];
}

/** The results table, read with the AWS CLI. */
async function scanHotItems(port: number): Promise<Ranked[]> {
  const out = (await aws(port, ['dynamodb', 'scan', '--table-name', 'hot-items'])) as { Items: Record<string, { N?: string; L?: { M: { itemId: { S: string }; clicks: { N: string } } }[] }>[] };
  return out.Items.map((i) => ({ windowStart: Number(i.windowStart!.N), top: i.top!.L!.map(({ M }) => ({ itemId: M.itemId.S, clicks: Number(M.clicks.N) })) })).sort((a, b) => a.windowStart - b.windowStart);
}

test('examples/hot-items.ts on shardflow dev: the top 3 items of every closed 10-second window, as sqlite3 ranks them', async () => {
  const port = await freePort();
  running = await startDev(['examples/hot-items.ts', '--no-demo', '--port', String(port)]);
  const events = itemClicks(500);
  await putWithCli(port, 'item-clicks', events, dir);
  const expected = await sqliteTopItems(events, Math.max(...events.map((e) => e.ts)) - OUT_OF_ORDERNESS_MS - 1);
  expect(expected.length).toBeGreaterThanOrEqual(4);
  await until('every closed window ranked in the results table', async () => (await scanHotItems(port)).length >= expected.length, 90_000);
  expect(await scanHotItems(port)).toEqual(expected);
  expect(await running.interrupt()).toBe(0);
});
