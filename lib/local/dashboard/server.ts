import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { METRICS } from '../../io/metrics';
import type { Plan } from '../../plan/plan';
import type { DevSnapshot, DevStatus } from '../dev-runtime';
import { jobGraph, type JobGraph } from './job-graph';
import { LiveHistory, type LiveSample } from './live-history';

/** What the dashboard watches: `DevRuntime` fits. */
export interface DashboardRuntime {
  readonly plan: Plan;
  readonly edgeUrl: string;
  status(): DevStatus;
  snapshot(): Promise<DevSnapshot>;
}

export interface DashboardOptions {
  /** 0 picks a free port. */
  readonly port: number;
  /** Loopback only by default: the dashboard has no authentication. */
  readonly host?: string;
  /** How often live figures are sampled for the charts. Default 1 s. */
  readonly sampleEveryMs?: number;
  /** How often the tables are read while a page is open. Default 2 s. */
  readonly snapshotEveryMs?: number;
  readonly log?: (line: string) => void;
}

/** The first message a page gets: everything to draw it at once. */
export interface DashboardHello {
  readonly job: string;
  readonly edgeUrl: string;
  readonly startedAtMs: number;
  readonly graph: JobGraph;
  readonly metrics: typeof METRICS;
  readonly history: readonly LiveSample[];
  readonly status: DevStatus;
  readonly snapshot: DevSnapshot | undefined;
}

/** The dashboard port is taken: `shardflow dev` says so and runs on without it. */
export class DashboardPortInUseError extends Error {
  constructor(readonly port: number) {
    super(`dashboard port ${port} is in use — running without the dashboard (pass --dashboard-port <another>, or 0 for none)`);
    this.name = 'DashboardPortInUseError';
  }
}

const STATIC = path.join(__dirname, 'static');
const FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const TYPES: Readonly<Record<string, string>> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
// Nothing from the internet: the page, its script and its style come from this server only.
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'";

/**
 * The local web dashboard of `shardflow dev`, like Flink's web UI: one static page (vanilla JS + SVG)
 * and a Server-Sent Events stream (`/events`) with a live sample every second (throughput, iterator
 * age) and a snapshot of the tables every two seconds while a page is open (watermarks per shard, open
 * windows, latest results, late records, dead letters). `/api/graph`, `/api/history` and
 * `/api/snapshot` serve the same as JSON.
 */
export class Dashboard {
  private readonly clients = new Set<http.ServerResponse>();
  private readonly history = new LiveHistory();
  private readonly graph: JobGraph;
  private readonly startedAtMs = Date.now();
  private latest: DevSnapshot | undefined;
  private reading: Promise<DevSnapshot | undefined> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastError = '';

  private constructor(
    private readonly runtime: DashboardRuntime,
    private readonly server: http.Server,
    private readonly options: DashboardOptions,
    readonly url: string,
  ) {
    this.graph = jobGraph(runtime.plan);
  }

  /** Listens, and starts sampling. Rejects with {@link DashboardPortInUseError} when the port is taken. */
  static async start(runtime: DashboardRuntime, options: DashboardOptions): Promise<Dashboard> {
    const host = options.host ?? '127.0.0.1';
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' || e.code === 'EACCES' ? new DashboardPortInUseError(options.port) : e));
      server.listen(options.port, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const dashboard = new Dashboard(runtime, server, options, `http://${host}:${port}`);
    server.on('request', (req, res) => dashboard.handle(req, res));
    dashboard.sample();
    dashboard.timers.push(setInterval(() => dashboard.sample(), options.sampleEveryMs ?? 1000));
    dashboard.timers.push(setInterval(() => void dashboard.refresh(), options.snapshotEveryMs ?? 2000));
    return dashboard;
  }

  private sample(): void {
    const status = this.runtime.status();
    const sample = this.history.add(status, Date.now());
    this.broadcast('sample', { sample, status });
  }

  /** Reads the tables while someone is watching (one read at a time), and sends the result. */
  private async refresh(force = false): Promise<DevSnapshot | undefined> {
    if (!force && this.clients.size === 0) return this.latest;
    this.reading ??= this.runtime
      .snapshot()
      .then((s) => {
        this.latest = s;
        this.broadcast('snapshot', s);
        return s;
      })
      .catch((e: Error) => {
        if (e.message !== this.lastError) this.options.log?.(`dashboard: reading the tables failed: ${(this.lastError = e.message)}`);
        return this.latest;
      })
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  private hello(): DashboardHello {
    return { job: this.runtime.plan.job, edgeUrl: this.runtime.edgeUrl, startedAtMs: this.startedAtMs, graph: this.graph, metrics: METRICS, history: this.history.all(), status: this.runtime.status(), snapshot: this.latest };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (req.method !== 'GET') return void res.writeHead(405, { Allow: 'GET' }).end();
    const file = FILES[url.pathname];
    if (file) {
      fs.readFile(path.join(STATIC, file), (err, body) => {
        if (err) return void res.writeHead(500).end(String(err.message));
        res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache', 'Content-Security-Policy': CSP });
        res.end(body);
      });
      return;
    }
    switch (url.pathname) {
      case '/events':
        return this.subscribe(res);
      case '/api/graph':
        return json(res, this.graph);
      case '/api/history':
        return json(res, this.history.all());
      case '/api/snapshot':
        void this.refresh(true).then((s) => json(res, s ?? null));
        return;
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  }

  private subscribe(res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    send(res, 'hello', this.hello());
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    void this.refresh();
  }

  private broadcast(event: string, data: unknown): void {
    for (const res of this.clients) send(res, event, data);
  }

  /** Ends every live page's stream and stops listening. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const res of this.clients) res.end();
    this.clients.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function send(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function json(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' }).end(JSON.stringify(body));
}
