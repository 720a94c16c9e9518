import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { pipeline } from 'node:stream';

// One local endpoint for every service, like LocalStack's edge port: tools and
// SDK clients need a single --endpoint-url, and the emulators stay on
// whatever free ports they got. Bodies are streamed as bytes, so JSON and
// CBOR (application/x-amz-cbor-1.1) both pass through untouched.

/** Options for {@link startEdge}. */
export interface EdgeOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /** Kinesis emulator base URL, e.g. `http://127.0.0.1:45123`. */
  kinesis: string;
  /** DynamoDB emulator base URL. */
  dynamodb: string;
  /** Receives one line per upstream failure. */
  log?: (line: string) => void;
  /** Sees every routed API call: request counts for metrics and the cost model. */
  onCall?: (call: EdgeCall) => void;
  /**
   * Answers a call instead of the emulator, for fault injection (e.g. 400
   * ProvisionedThroughputExceededException); undefined forwards it.
   */
  intercept?: (call: EdgeCall) => { status: number; body: object } | undefined;
  /**
   * Lambda's Invoke (`POST /2015-03-31/functions/NAME/invocations`), answered by the embedded runtime's
   * functions: `Event` is queued (202), `RequestResponse` answers with the function's result; undefined
   * when no function has that name (404). Without it Lambda calls get a 400.
   */
  invoke?: (functionName: string, payload: unknown, invocationType: 'Event' | 'RequestResponse') => Promise<unknown> | undefined;
  /** SQS's JSON protocol (`X-Amz-Target: AmazonSQS.*`), answered in-process: the stages' on-failure queues. Without it SQS calls get a 400. */
  sqs?: (operation: string, input: Record<string, unknown>) => { status: number; body: object };
}

/** One AWS API call as the edge sees it. */
export interface EdgeCall {
  readonly service: Service | 'lambda' | 'sqs';
  /** The operation, e.g. `PutRecords`, `UpdateItem` (from X-Amz-Target). */
  readonly operation: string;
  /** The request body's size in bytes (Content-Length). */
  readonly bytes: number;
}

/** A running edge proxy. */
export interface Edge {
  /** Base URL to use as the endpoint for every service, e.g. `http://127.0.0.1:4566`. */
  url: string;
  /** Stops listening, drops open connections and resolves once the server is closed. */
  close(): Promise<void>;
}

export type Service = 'kinesis' | 'dynamodb';

/** X-Amz-Target prefixes (JSON/CBOR protocols) and the service behind each. */
const TARGET_PREFIXES: ReadonlyArray<readonly [string, Service]> = [
  ['Kinesis_20131202.', 'kinesis'],
  ['DynamoDB_20120810.', 'dynamodb'],
  // dynalite does not implement Streams, but routing it lets it answer with its own error.
  ['DynamoDBStreams_20120810.', 'dynamodb'],
];

/** SQS's JSON protocol target prefix (the SDK's default since 2023). */
const SQS_TARGET_PREFIX = 'AmazonSQS.';

/** Lambda's Invoke REST path; the function is a name or an ARN (URL-encoded). */
const LAMBDA_INVOKE_PATH = /^\/2015-03-31\/functions\/([^/?]+)\/invocations(?:\?.*)?$/;

/** Health check path answered by the edge itself. */
export const EDGE_HEALTH_PATH = '/_shardflow/health';

// Connection-scoped headers must not be forwarded; each hop manages its own.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

/**
 * Starts an HTTP proxy that forwards each AWS API call to the Kinesis or
 * DynamoDB emulator according to its `X-Amz-Target` header (falling back to
 * the SigV4 credential scope when there is no target header).
 *
 * Unknown targets get a 400 JSON error naming the target.
 *
 * @throws Error `port N is in use` when the port is taken.
 */
export async function startEdge(opts: EdgeOptions): Promise<Edge> {
  const host = opts.host ?? '127.0.0.1';
  const upstreams: Record<Service, URL> = {
    kinesis: parseUpstream('kinesis', opts.kinesis),
    dynamodb: parseUpstream('dynamodb', opts.dynamodb),
  };
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });

  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === EDGE_HEALTH_PATH) {
      sendJson(res, 200, { services: { kinesis: opts.kinesis, dynamodb: opts.dynamodb } });
      return;
    }
    const lambda = LAMBDA_INVOKE_PATH.exec(req.url ?? '');
    if (req.method === 'POST' && lambda) {
      invokeFunction(req, res, decodeURIComponent(lambda[1]!), opts);
      return;
    }
    const target = headerValue(req.headers['x-amz-target']);
    if (target?.startsWith(SQS_TARGET_PREFIX) && opts.sqs) {
      answerSqs(req, res, target.slice(SQS_TARGET_PREFIX.length), opts.sqs, opts.onCall);
      return;
    }
    const service = routeFor(target, req.headers);
    if (service === undefined) {
      sendJson(res, 400, {
        __type: 'UnknownOperationException',
        message:
          `shardflow edge: no emulator serves X-Amz-Target '${target ?? '(none)'}'. ` +
          `Supported prefixes: ${TARGET_PREFIXES.map(([p]) => p).join(', ')}`,
      });
      return;
    }
    const call: EdgeCall = { service, operation: target?.slice(target.indexOf('.') + 1) ?? 'unknown', bytes: Number(req.headers['content-length'] ?? 0) };
    opts.onCall?.(call);
    const injected = opts.intercept?.(call);
    if (injected) {
      req.resume();
      sendJson(res, injected.status, injected.body);
      return;
    }
    forward(req, res, service, upstreams[service], agent, opts.log);
  });
  // Longer than Node's 5 s default: clients that ignore the Keep-Alive hint
  // (botocore) otherwise reuse a socket the edge just closed and see a reset.
  server.keepAliveTimeout = 65_000;

  return new Promise((resolveEdge, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      agent.destroy();
      if (err.code === 'EADDRINUSE') {
        reject(new Error(`edge: port ${opts.port} is in use on ${host}; stop whatever holds it or choose another port`));
      } else if (err.code === 'EACCES') {
        reject(new Error(`edge: no permission to listen on ${host}:${opts.port}; use a port above 1023`));
      } else {
        reject(new Error(`edge: cannot listen on ${host}:${opts.port}: ${err.message}`));
      }
    };
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      const address = server.address();
      const port = address !== null && typeof address === 'object' ? address.port : opts.port;
      const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      let closing: Promise<void> | undefined;
      resolveEdge({
        url: `http://${urlHost}:${port}`,
        close: () =>
          (closing ??= new Promise<void>((resolveClose) => {
            server.close(() => resolveClose());
            // close() alone waits for keep-alive clients to hang up.
            server.closeAllConnections();
            agent.destroy();
          })),
      });
    });
  });
}

/** An SQS JSON-protocol call, answered in-process. */
function answerSqs(req: IncomingMessage, res: ServerResponse, operation: string, sqs: NonNullable<EdgeOptions['sqs']>, onCall: EdgeOptions['onCall']): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    onCall?.({ service: 'sqs', operation, bytes: body.length });
    let input: Record<string, unknown>;
    try {
      input = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      return sendJson(res, 400, { __type: 'com.amazonaws.sqs#InvalidParameterValue', message: 'the request body is not JSON' }, 'application/x-amz-json-1.0');
    }
    const answer = sqs(operation, input);
    sendJson(res, answer.status, answer.body, 'application/x-amz-json-1.0');
  });
}

/** Lambda's Invoke, answered by `opts.invoke`: the payload is read whole, the result is JSON. */
function invokeFunction(req: IncomingMessage, res: ServerResponse, nameOrArn: string, opts: EdgeOptions): void {
  // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] names the same function as NAME.
  const name = nameOrArn.startsWith('arn:') ? (nameOrArn.split(':')[6] ?? nameOrArn) : nameOrArn;
  const type = headerValue(req.headers['x-amz-invocation-type']) ?? 'RequestResponse';
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const call: EdgeCall = { service: 'lambda', operation: 'Invoke', bytes: body.length };
    opts.onCall?.(call);
    const injected = opts.intercept?.(call);
    if (injected) return sendJson(res, injected.status, injected.body);
    if (!opts.invoke) return sendJson(res, 400, { __type: 'UnknownOperationException', message: 'shardflow edge: no Lambda functions are served here' });
    if (type !== 'Event' && type !== 'RequestResponse') return sendJson(res, 400, { __type: 'InvalidParameterValueException', message: `shardflow edge: invocation type '${type}' is not served; use Event or RequestResponse` });
    let payload: unknown;
    try {
      payload = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch {
      return sendJson(res, 400, { __type: 'InvalidRequestContentException', message: 'Could not parse request body into json' });
    }
    const running = opts.invoke(name, payload, type);
    if (!running) return sendJson(res, 404, { __type: 'ResourceNotFoundException', message: `Function not found: ${name}` });
    if (type === 'Event') {
      // Queued: Lambda answers at once; a failed run is the function's own business (and its log's).
      running.catch((e: Error) => opts.log?.(`edge: async invoke of ${name} failed: ${e.message}`));
      res.writeHead(202, { 'content-length': 0 });
      res.end();
      return;
    }
    running.then(
      (result) => {
        const out = JSON.stringify(result ?? null);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
        res.end(out);
      },
      (e: Error) => {
        // A function at its concurrency limit refuses the call (429), as Lambda does; it never ran.
        if (e.name === 'TooManyRequestsException') {
          const refused = JSON.stringify({ Type: 'User', message: e.message, Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
          res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException', 'content-length': Buffer.byteLength(refused) });
          res.end(refused);
          return;
        }
        const out = JSON.stringify({ errorMessage: e.message, errorType: e.name });
        res.writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled', 'content-length': Buffer.byteLength(out) });
        res.end(out);
      },
    );
  });
}

function parseUpstream(name: Service, url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`edge: ${name} upstream '${url}' is not a URL; pass e.g. http://127.0.0.1:4567`);
  }
  if (parsed.protocol !== 'http:') {
    throw new Error(`edge: ${name} upstream '${url}' must be plain http://`);
  }
  return parsed;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Picks the service by X-Amz-Target, else by the SigV4 credential scope (`.../kinesis/aws4_request`). */
function routeFor(target: string | undefined, headers: IncomingHttpHeaders): Service | undefined {
  if (target !== undefined) {
    for (const [prefix, service] of TARGET_PREFIXES) {
      if (target.startsWith(prefix)) return service;
    }
    return undefined;
  }
  const scope = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\/aws4_request/.exec(headers.authorization ?? '');
  const signedFor = scope?.[1];
  return signedFor === 'kinesis' || signedFor === 'dynamodb' ? signedFor : undefined;
}

function forward(
  req: IncomingMessage,
  res: ServerResponse,
  service: Service,
  upstream: URL,
  agent: Agent,
  log: ((line: string) => void) | undefined,
): void {
  const upstreamReq = httpRequest({
    protocol: upstream.protocol,
    hostname: upstream.hostname,
    port: upstream.port,
    method: req.method,
    path: req.url,
    headers: withoutHopByHop(req.headers),
    agent,
  });
  let failed = false;
  const fail = (err: Error): void => {
    if (failed) return;
    failed = true;
    log?.(`edge: ${service} upstream ${upstream.origin} failed: ${err.message}`);
    if (!res.headersSent) {
      sendJson(res, 502, {
        __type: 'ServiceUnavailableException',
        message: `shardflow edge: ${service} emulator at ${upstream.origin} is unreachable (${err.message}); is it running?`,
      });
    } else {
      res.destroy(err);
    }
  };
  upstreamReq.on('response', (upstreamRes) => {
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, withoutHopByHop(upstreamRes.headers));
    pipeline(upstreamRes, res, () => undefined);
  });
  upstreamReq.on('error', fail);
  // pipe() rather than pipeline(): an upstream failure must not destroy the
  // client's socket before we can answer 502.
  req.pipe(upstreamReq);
  // Client went away mid-call: abandon the upstream call too.
  res.on('close', () => {
    if (!res.writableFinished) upstreamReq.destroy();
  });
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

function sendJson(res: ServerResponse, status: number, body: object, contentType = 'application/x-amz-json-1.1'): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}
