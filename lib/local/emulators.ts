import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { freePort } from './free-port';

// Runs kinesis-local (kinesis-mock's Node build) and dynalite as child
// processes on loopback. Child processes rather than in-process servers so a
// CPU-heavy emulator never stalls the runtime under test, and so `stop()` means
// the same thing for both.

/** A running emulator child process. */
export interface Emulator {
  /** `kinesis` or `dynamodb`. */
  name: string;
  /** Base URL for SDK clients, e.g. `http://127.0.0.1:45123` (plain HTTP). */
  endpoint: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** OS process id of the child. */
  pid: number;
  /** Terminates the child (SIGTERM, then SIGKILL after a grace period); resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startKinesis} and {@link startDynamo}. */
export interface EmulatorOptions {
  /** Port to listen on (127.0.0.1). Default: a free port chosen by the OS. */
  port?: number;
  /**
   * Persist data under this directory (a `kinesis/` or `dynamodb/` subfolder
   * is used, so both emulators can share one dataDir). Default: memory only.
   */
  dataDir?: string;
  /** Receives each line the child prints (stderr lines are prefixed `[stderr] `). */
  log?: (line: string) => void;
  /** How long to wait for the first successful API call. Default 30000 ms. */
  startTimeoutMs?: number;
}

const HOST = '127.0.0.1';
const DEFAULT_START_TIMEOUT_MS = 30_000;
/** How long a child may take to shut down before it exits hard. */
const CHILD_GRACE_MS = 5_000;
/**
 * The same for a persisting kinesis, whose last act is to save every stream to
 * its data file: the whole data set serialised to one JSON document, which takes
 * seconds once the file is tens of MB on a busy machine. Cut short, the save
 * loses every write since the previous periodic one: with 17 MB of records the
 * last save began 4–9 s after SIGTERM, and a 5 s grace cut most such stops short.
 */
const PERSISTING_CHILD_GRACE_MS = 60_000;
/** Parent-side wait after SIGTERM before SIGKILL, beyond the child's own deadline. */
const STOP_GRACE_MARGIN_MS = 1_000;
const OUTPUT_TAIL_LINES = 30;
/** Attempts when we picked the port ourselves and lost the race for it. */
const PORT_RACE_ATTEMPTS = 3;

/** What differs between the two emulators. */
interface LaunchSpec {
  name: string;
  entry: string;
  args: string[];
  env: Record<string, string>;
  /** Inherited variables the emulator must not see. */
  unsetEnv: string[];
  port: number;
  /** Signal to send if the parent exits without calling stop(). */
  exitSignal: NodeJS.Signals;
  /** How long the child may take to shut down after SIGTERM before it exits hard. */
  graceMs: number;
  probe: { target: string; contentType: string; expectKey: string };
}

/**
 * Starts kinesis-local on 127.0.0.1 over plain HTTP and resolves once
 * `ListStreams` succeeds.
 *
 * Streams become ACTIVE almost immediately (all state-transition durations are
 * set to 0 ms) and the shard limit is raised to 1000.
 *
 * @throws Error `<name> emulator: port N is in use; ...` (one line) when an
 *   explicit `port` is taken; otherwise an Error naming the cause with the
 *   child's last output lines (early exit, or not ready within startTimeoutMs).
 */
export async function startKinesis(opts: EmulatorOptions = {}): Promise<Emulator> {
  const entry = require.resolve('kinesis-local/main.js');
  const dataDir = opts.dataDir === undefined ? undefined : ensureDir(join(resolve(opts.dataDir), 'kinesis'));
  return launchWithPortRetry(opts, async (port) => {
    // kinesis-mock always opens a TLS listener too; give it its own free port
    // so parallel instances never collide on the default 4567.
    const tlsPort = await freePort();
    const fast = '0ms';
    return {
      name: 'kinesis',
      entry,
      args: [],
      env: {
        KINESIS_MOCK_PLAIN_PORT: String(port),
        KINESIS_MOCK_TLS_PORT: String(tlsPort),
        // Resolved against the cwd by default, which is never the package dir.
        KINESIS_MOCK_CERT_PATH: join(dirname(entry), 'server.json'),
        CREATE_STREAM_DURATION: fast,
        DELETE_STREAM_DURATION: fast,
        UPDATE_SHARD_COUNT_DURATION: fast,
        UPDATE_STREAM_MODE_DURATION: fast,
        SPLIT_SHARD_DURATION: fast,
        MERGE_SHARDS_DURATION: fast,
        REGISTER_STREAM_CONSUMER_DURATION: fast,
        DEREGISTER_STREAM_CONSUMER_DURATION: fast,
        START_STREAM_ENCRYPTION_DURATION: fast,
        STOP_STREAM_ENCRYPTION_DURATION: fast,
        SHARD_LIMIT: '1000',
        ON_DEMAND_STREAM_COUNT_LIMIT: '100',
        // Pin values the parent's env might otherwise leak in (e.g. LOG_LEVEL=debug fails to parse).
        LOG_LEVEL: 'ERROR',
        AWS_REGION: 'us-east-1',
        AWS_ACCOUNT_ID: '000000000000',
        // Without an explicit "false", kinesis-mock loads ./data/kinesis-data.json from the cwd.
        SHOULD_PERSIST_DATA: dataDir !== undefined ? 'true' : 'false',
        LOAD_DATA_IF_EXISTS: dataDir !== undefined ? 'true' : 'false',
        ...(dataDir !== undefined
          ? { PERSIST_PATH: dataDir, PERSIST_FILE_NAME: 'kinesis-data.json', PERSIST_INTERVAL: '2s' }
          : {}),
      },
      // Would create streams at startup; even an empty value fails to parse.
      unsetEnv: ['INITIALIZE_STREAMS'],
      port,
      // A persisting instance writes its file on graceful shutdown; SIGKILL would lose up to PERSIST_INTERVAL.
      exitSignal: dataDir !== undefined ? 'SIGTERM' : 'SIGKILL',
      graceMs: dataDir !== undefined ? PERSISTING_CHILD_GRACE_MS : CHILD_GRACE_MS,
      probe: {
        target: 'Kinesis_20131202.ListStreams',
        contentType: 'application/x-amz-json-1.1',
        expectKey: 'StreamNames',
      },
    };
  });
}

/**
 * Starts dynalite on 127.0.0.1 and resolves once `ListTables` succeeds.
 * Tables are ACTIVE immediately (create/delete/update delays set to 0 ms).
 *
 * @throws Error `<name> emulator: port N is in use; ...` (one line) when an
 *   explicit `port` is taken; otherwise an Error naming the cause with the
 *   child's last output lines (early exit, or not ready within startTimeoutMs).
 */
export async function startDynamo(opts: EmulatorOptions = {}): Promise<Emulator> {
  const entry = require.resolve('dynalite/cli.js');
  const dataDir = opts.dataDir === undefined ? undefined : ensureDir(join(resolve(opts.dataDir), 'dynamodb'));
  return launchWithPortRetry(opts, async (port) => ({
    name: 'dynamodb',
    entry,
    args: [
      '--host', HOST,
      '--port', String(port),
      '--createTableMs', '0',
      '--deleteTableMs', '0',
      '--updateTableMs', '0',
      ...(dataDir !== undefined ? ['--path', dataDir] : []),
    ],
    env: {},
    unsetEnv: [],
    port,
    // LevelDB writes reach the OS on every put, so a hard kill loses nothing.
    exitSignal: 'SIGKILL',
    graceMs: CHILD_GRACE_MS,
    probe: {
      target: 'DynamoDB_20120810.ListTables',
      contentType: 'application/x-amz-json-1.0',
      expectKey: 'TableNames',
    },
  }));
}

function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Thrown internally when the child could not bind its port. */
class PortInUseError extends Error {}

async function launchWithPortRetry(
  opts: EmulatorOptions,
  makeSpec: (port: number) => Promise<LaunchSpec>,
): Promise<Emulator> {
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await launch(await makeSpec(port), opts);
    } catch (err) {
      // freePort() releases the port before the child binds it, so another
      // process can win the race; only then is a retry meaningful.
      const retry = err instanceof PortInUseError && opts.port === undefined && attempt < PORT_RACE_ATTEMPTS;
      if (!retry) throw err;
    }
  }
}

async function launch(spec: LaunchSpec, opts: EmulatorOptions): Promise<Emulator> {
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const tail: string[] = [];
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
    opts.log?.(line);
  };

  // `node -e BOOTSTRAP entry ...args` leaves process.argv exactly as
  // `node entry ...args` would, so the entry script cannot tell the difference.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...spec.env,
    SHARDFLOW_PARENT_PID: String(process.pid),
    SHARDFLOW_GRACE_MS: String(spec.graceMs),
  };
  for (const name of spec.unsetEnv) delete env[name];
  const child = spawn(process.execPath, ['-e', childBootstrap(), spec.entry, ...spec.args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: a Ctrl-C in the terminal reaches only the parent,
    // which then decides when the emulators stop (after draining, say).
    detached: true,
    windowsHide: true,
  });
  // 'close' rather than 'exit': it also waits for the output pipes to drain,
  // so the error message below has the child's last words.
  const exited = new Promise<void>((resolveExit) => child.once('close', () => resolveExit()));
  pipeLines(child.stdout, onLine, '');
  pipeLines(child.stderr, onLine, '[stderr] ');

  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new Error(`could not run ${process.execPath} for ${spec.name}: ${err.message}`)),
    ),
  );
  spawnError.catch(() => undefined);
  if (child.pid === undefined) await spawnError;
  const pid = child.pid as number;
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  track(child, spec.exitSignal);

  const stop = once(async () => {
    if (running()) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), spec.graceMs + STOP_GRACE_MARGIN_MS);
      await exited;
      clearTimeout(timer);
    }
    untrack(child);
  });

  const endpoint = `http://${HOST}:${spec.port}`;
  try {
    await Promise.race([
      waitUntilServing(endpoint, spec.probe, startTimeoutMs, running),
      exited.then(() => {
        throw new Error(`exited with code ${String(child.exitCode ?? child.signalCode)} during startup`);
      }),
      spawnError,
    ]);
  } catch (err) {
    await stop();
    const output = tail.join('\n');
    const reason = err instanceof Error ? err.message : String(err);
    if (/EADDRINUSE/.test(output)) {
      // One line on purpose: a CLI prints it as is.
      throw new PortInUseError(
        `${spec.name} emulator: port ${spec.port} is in use; stop the process using it or choose another port`,
      );
    }
    throw new Error(
      `${spec.name} emulator (${spec.entry}) failed to start on ${endpoint}: ${reason}.\n` +
        `Last output:\n${output || '(none)'}`,
    );
  }

  return { name: spec.name, endpoint, port: spec.port, pid, stop };
}

/**
 * Code run in the child before the emulator's own entry script:
 * - forces every listening socket onto loopback (kinesis-mock has no host setting);
 * - on SIGTERM, ends open connections so shutdown does not wait for idle
 *   keep-alive sockets (kinesis-mock otherwise waits 30 s before writing its
 *   data file and exiting), and hard-exits after a grace period
 *   (SHARDFLOW_GRACE_MS: long enough for kinesis' last save);
 * - exits when the parent process disappears (it may die by SIGKILL, which
 *   runs no 'exit' handlers);
 * - makes kinesis-mock's data file writes atomic: it rewrites the file in
 *   place (a write stream that truncates it), and a write cut short — its
 *   periodic save cancelled by the shutdown save, found by `npm run chaos` —
 *   left a truncated file that the next start could not load. Each save now
 *   goes to a temporary file renamed over the data file once complete.
 * Kept as plain ES2020 source text so no transpiler rewrites it.
 */
export function childBootstrap(): string {
  return `'use strict';
const net = require('node:net');
const HOST = ${JSON.stringify(HOST)};
const GRACE_MS = Number(process.env.SHARDFLOW_GRACE_MS);
const parentPid = Number(process.env.SHARDFLOW_PARENT_PID);
// cats-effect (kinesis-mock) replaces process.exit with a graceful variant; keep the real one.
const exitNow = process.exit.bind(process);
const servers = new WeakSet();
const sockets = new Set();
let stopping = false;
// FIN to the client plus EOF to the server's reader: the emulator sees the
// connection end now instead of waiting out its 30 s shutdown timeout.
function release(socket) { socket.end(); socket.push(null); }
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^[0-9]+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, HOST);
    else args[1] = HOST;
  } else if (first !== null && typeof first === 'object' && first.path === undefined && first.port !== undefined) {
    args[0] = Object.assign({}, first, { host: HOST });
  }
  if (!servers.has(this)) {
    servers.add(this);
    this.on('connection', (socket) => {
      if (stopping) { release(socket); return; }
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  }
  return listen.apply(this, args);
};
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  for (const socket of sockets) release(socket);
  setTimeout(() => exitNow(143), GRACE_MS).unref();
  // No other listener means the emulator has no shutdown logic of its own.
  if (process.listenerCount(signal) <= 1) exitNow(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
const fs = require('node:fs');
const path = require('node:path');
const dataFile = process.env.PERSIST_PATH && process.env.PERSIST_FILE_NAME ? path.resolve(process.env.PERSIST_PATH, process.env.PERSIST_FILE_NAME) : undefined;
const createWriteStream = fs.createWriteStream;
let saves = 0;
fs.createWriteStream = function (file, options) {
  if (dataFile === undefined || typeof file !== 'string' || path.resolve(file) !== dataFile) return createWriteStream.apply(this, arguments);
  const partial = dataFile + '.' + process.pid + '.' + (saves++) + '.partial';
  const stream = createWriteStream.call(this, partial, options);
  // _final runs once every write has completed, before 'finish' and the caller's end() callback.
  stream._final = (done) => { try { fs.renameSync(partial, dataFile); done(); } catch (e) { done(e); } };
  stream.once('close', () => { if (!stream.writableFinished) try { fs.unlinkSync(partial); } catch (e) {} });
  // A save cancelled by the shutdown is destroyed with a write in flight,
  // which then fails with an 'error' event whose listeners kinesis-mock has
  // already removed: unheard, it killed the process before its last save.
  const emit = stream.emit;
  stream.emit = function (event, ...args) {
    if (event === 'error' && stream.destroyed && stream.listenerCount('error') === 0) return false;
    return emit.call(this, event, ...args);
  };
  return stream;
};
// Output goes to a pipe the parent reads; once the parent is gone a write
// fails with EPIPE, which kinesis-mock's logger does not handle: the child
// died of it before its last save.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
setInterval(() => {
  if (process.ppid !== parentPid) process.kill(process.pid, 'SIGTERM');
}, 500).unref();
require(process.argv[1]);
`;
}

/** Children still running, with the signal to send them if the parent exits first. */
const live = new Map<ChildProcess, NodeJS.Signals>();
let exitHookInstalled = false;

function track(child: ChildProcess, signal: NodeJS.Signals): void {
  live.set(child, signal);
  child.once('exit', () => untrack(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous; kill() is. A persisting kinesis
    // gets SIGTERM so it can write its data file; its bootstrap hard-exits later.
    process.on('exit', () => {
      for (const [proc, sig] of live) proc.kill(sig);
    });
  }
}

function untrack(child: ChildProcess): void {
  live.delete(child);
}

function pipeLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void, prefix: string): void {
  if (stream === null) return;
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      onLine(prefix + buffered.slice(0, newline).replace(/\r$/, ''));
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (buffered !== '') onLine(prefix + buffered);
  });
}

/** Polls with a real API call until it answers 200, or the deadline passes. */
async function waitUntilServing(
  endpoint: string,
  probe: LaunchSpec['probe'],
  timeoutMs: number,
  keepTrying: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no response yet';
  while (Date.now() < deadline && keepTrying()) {
    try {
      const body = await postJson(endpoint, probe.target, probe.contentType, 1_000);
      if (probe.expectKey in (JSON.parse(body) as object)) return;
      lastError = `unexpected response ${body.slice(0, 200)}`;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(50);
  }
  throw new Error(`not ready after ${timeoutMs} ms (last probe: ${lastError})`);
}

/** One unsigned-but-well-formed JSON API call; the emulators check the header's shape, not the signature. */
function postJson(endpoint: string, target: string, contentType: string, timeoutMs: number): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const req = request(
      `${endpoint}/`,
      {
        method: 'POST',
        agent: false,
        timeout: timeoutMs,
        headers: {
          'content-type': contentType,
          'x-amz-target': target,
          'x-amz-date': '20200101T000000Z',
          authorization:
            'AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/probe/aws4_request, ' +
            'SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0',
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          res.statusCode === 200 ? resolveBody(body) : reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end('{}');
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let result: Promise<void> | undefined;
  return () => (result ??= fn());
}
