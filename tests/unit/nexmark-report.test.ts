/** bench/nexmark-report.ts: the Nexmark section goes into bench/REPORT.md once, in its place, leaving the rest. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nexmarkSection, spliceIntoReport, type NexmarkResult } from '../../bench/nexmark-report';

const figure = (median: number) => ({ median, min: median * 0.9, max: median * 1.1, runs: [median], loadavg: [[0.5, 0.4, 0.3]] as [number, number, number][] });
const result: NexmarkResult = {
  command: 'npm run bench:nexmark',
  date: '2026-11-30T18:00:00.000Z',
  machine: { cpu: 'AMD EPYC', cores: 2, node: 'v20.20.2', os: 'Linux', memoryGb: 8 },
  loadavgAtEnd: [0.5, 0.4, 0.3],
  events: 1000,
  bids: 920,
  runs: 1,
  quick: true,
  rows: [
    { query: 'q1', plan: 'stateless', events: 1000, read: 920, eventsPerSec: figure(100_000), eventsPerCpuSec: figure(90_000), results: 920 },
    { query: 'q15', plan: 'stateless → process', events: 400, read: 368, eventsPerSec: figure(1_000), eventsPerCpuSec: figure(900), results: 736 },
  ],
  notPlanned: ['q3'],
};

test('the section names each query beside Flink’s figure, the load, and says a quick run is indicative', () => {
  const text = nexmarkSection(result).join('\n');
  expect(text).toContain('| q1 | stateless | all | 920 | 100,000 (90,000–110,000) | 90,000 | 157,940 | 920 | 0.5 |');
  expect(text).toContain('| q15 | stateless → process | **400** | 368 | 1,000 (900–1,100) | 900 | 72,420 | 736 | 0.5 |');
  expect(text).toContain('**A quick run**');
  expect(text).toContain('Not planned yet, so not measured: q3.');
  expect(nexmarkSection(undefined).join('\n')).toContain('_Not run: `npm run bench:nexmark`._');
});

test('spliced into the report: before "This run" the first time, in place of itself after', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sf-report-')), 'REPORT.md');
  fs.writeFileSync(file, '# shardflow benchmarks\n\n## 8. Catch-up\n\ntext\n\n## This run\n\n| a |\n');
  spliceIntoReport(['## 9. Nexmark', '', 'first', ''], file);
  expect(fs.readFileSync(file, 'utf8')).toBe('# shardflow benchmarks\n\n## 8. Catch-up\n\ntext\n\n## 9. Nexmark\n\nfirst\n\n## This run\n\n| a |\n');
  spliceIntoReport(['## 9. Nexmark', '', 'second', ''], file);
  expect(fs.readFileSync(file, 'utf8')).toBe('# shardflow benchmarks\n\n## 8. Catch-up\n\ntext\n\n## 9. Nexmark\n\nsecond\n\n## This run\n\n| a |\n');
  fs.writeFileSync(file, '# shardflow benchmarks\n\n## 8. Catch-up\n\ntext\n');
  spliceIntoReport(['## 9. Nexmark', '', 'alone', ''], file);
  expect(fs.readFileSync(file, 'utf8')).toBe('# shardflow benchmarks\n\n## 8. Catch-up\n\ntext\n\n## 9. Nexmark\n\nalone\n\n');
});
