/**
 * The dashboard as a person meets it: `shardflow dev` with its demo stream in a subprocess, the page it
 * prints on the ready line opened in a real browser (Debian's chromium, driven by playwright-core), the
 * job graph checked against the plan, figures watched as they move without a reload, and a screenshot
 * saved under tests/artifacts/ (git-ignored) for a human to look at.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { loadJob } from '../../lib/cli/load-job';
import { planJob } from '../../lib/plan/planner';
import { freePort, ROOT, startDev, until, type DevProcess } from './dev-process';

jest.setTimeout(180_000);
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'tests/artifacts');
const JOB = 'examples/click-counts.ts';

async function openBrowser(userDataDir: string): Promise<BrowserContext> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
  });
}

/** A figure on the page as a number (`1,234` → 1234), NaN while it shows `—`. */
const figure = async (page: Page, selector: string): Promise<number> => Number((await page.locator(selector).first().innerText()).replace(/[^\d.]/g, '') || NaN);

describe('the dashboard of shardflow dev', () => {
  let dev: DevProcess;
  let browser: BrowserContext;
  let userDataDir: string;
  let url: string;

  beforeAll(async () => {
    const [port, dashboardPort] = [await freePort(), await freePort()];
    dev = await startDev([JOB, '--port', String(port), '--dashboard-port', String(dashboardPort), '--rate', '40']);
    url = /ready in .* — dashboard (http:\/\/127\.0\.0\.1:\d+)/.exec(dev.output())?.[1] ?? '';
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-chromium-'));
    browser = await openBrowser(userDataDir);
  });

  afterAll(async () => {
    await browser?.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
    if (dev) expect(await dev.interrupt()).toBe(0);
  });

  test('shows every stage of the job graph, figures that move while events flow, and live tables — without a reload', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    let navigations = 0;
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations++);

    await page.goto(url);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('#job').innerText()).toBe('click-counts');

    // The graph: every stage of the plan, its streams and tables.
    const plan = planJob(loadJob(path.join(ROOT, JOB)));
    for (const stage of plan.stages) await page.locator(`#graph [data-node="stage:${stage.id}"]`).waitFor();
    for (const stream of plan.streams) expect(await page.locator(`#graph [data-node="stream:${stream.name}"]`).count()).toBe(1);
    for (const table of plan.tables) expect(await page.locator(`#graph [data-node="table:${table.name}"]`).count()).toBe(1);
    expect(await page.locator('#graph .node.stage').count()).toBe(plan.stages.length);
    for (const stage of plan.stages) expect(await page.locator(`.stage-card[data-stage="${stage.id}"]`).count()).toBe(1);

    // Figures move while events flow: records in at the source, state writes and fired windows downstream.
    const recordsIn = '.stage-card[data-stage="s0"] [data-figure="recordsIn"] .v';
    await until('records in at s0', async () => (await figure(page, recordsIn)) > 0, 30_000);
    const first = await figure(page, recordsIn);
    await until('records in at s0 to grow', async () => (await figure(page, recordsIn)) > first, 15_000);
    await until('stage s1 to write its state log and emit results', async () => (await figure(page, '.stage-card[data-stage="s1"] [data-figure="stateWritten"] .v')) > 0 && (await figure(page, '.stage-card[data-stage="s1"] [data-figure="recordsOut"] .v')) > 0, 30_000);
    await until('a throughput in the graph', async () => /in [1-9][\d.]*\/s/.test((await page.locator('#graph [data-stage="s0"] [data-live="in"]').textContent()) ?? ''), 15_000);
    const points = async (): Promise<number> => Number(await page.locator('.stage-card[data-stage="s0"] [data-chart="throughput"] path.series-in.series').getAttribute('data-points'));
    const before = await points();
    await until('the throughput chart to grow', async () => (await points()) > before, 10_000);

    // Per shard watermarks, open windows, latest results.
    await until('a watermark per shard', async () => /\d\d:\d\d:\d\d\.\d{3}/.test(await page.locator('[data-watermarks="s0"] [data-watermark]').first().innerText().catch(() => '')), 30_000);
    await until('results in the table', async () => (await page.locator('#results tbody tr').count()) > 0, 40_000);
    expect(await figure(page, '[data-open-windows="s1"]')).toBeGreaterThan(0);
    const results = await figure(page, '[data-summary="results"] dd');
    await until('more results as windows close', async () => (await figure(page, '[data-summary="results"] dd')) > results, 30_000);
    expect(await figure(page, '[data-count="dead-letters"] .v')).toBe(0);
    expect(await figure(page, '[data-count="late"] .v')).toBe(0);

    // All of that live, on the first load, from this server only.
    expect(navigations).toBe(1);
    expect(requests.filter((r) => !r.startsWith(url) && !r.startsWith('data:'))).toEqual([]);
    expect(problems).toEqual([]);

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });
});

test('a dashboard port in use costs one line, not the run', async () => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const dashboardPort = (taken.address() as net.AddressInfo).port;
  const dev = await startDev([JOB, '--no-demo', '--port', String(await freePort()), '--dashboard-port', String(dashboardPort)]);
  try {
    const out = dev.output();
    expect(out).toContain(`dashboard port ${dashboardPort} is in use — running without the dashboard (pass --dashboard-port <another>, or 0 for none)\n`);
    expect(out).toMatch(/ready in [\d.]+ s — job click-counts: s0 ← clicks, s1 ← click-counts-s1\n/);
  } finally {
    expect(await dev.interrupt()).toBe(0);
    taken.close();
  }
});
