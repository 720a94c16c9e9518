'use strict';
// @ts-check
/**
 * The worker side of lib/local/function-host.ts: one Lambda execution environment. Plain CommonJS so it
 * runs under bare `node`, with no TypeScript loader, exactly like the bundle it hosts.
 *
 * Protocol (JSON over the IPC channel; the parent's `ToChild` / `FromChild` types are the reference):
 *   parent → { type: 'init', bundlePath, handlerExport, functionName, invokedFunctionArn, memoryLimitInMB }
 *   child  → { type: 'ready', initDurationMs } | { type: 'init-error', error }, then exits
 *   parent → { type: 'invoke', requestId, payload (JSON text), deadlineEpochMs }
 *   child  → { type: 'result', requestId, payload (JSON text) } | { type: 'error', requestId, error }
 * where error = { errorType, errorMessage, trace } as in Lambda's error payload.
 *
 * Anything that kills this process — process.exit(), a signal, an uncaught exception, an OOM — is left to
 * kill it: the parent sees the exit and reports a crash, which is the point of running in a process.
 */
// (Node's global `performance` is the same object; naming the import keeps the dependency visible.)
const { performance: clock } = require('node:perf_hooks');

if (typeof process.send !== 'function') {
  console.error('function-host-child.js is started by FunctionHost (child_process.fork with an IPC channel), not by hand');
  process.exit(2);
}

// The parent is this process's only reason to exist: when the channel closes (the parent exited, died or
// disconnected us), leave at once, whatever the handler is doing.
process.on('disconnect', () => process.exit(0));

/** @type {{ functionName: string, invokedFunctionArn: string, memoryLimitInMB: string } | undefined} */
let config;
/** @type {((event: unknown, context: object, callback?: Function) => unknown) | undefined} */
let handler;

process.on('message', (/** @type {any} */ message) => {
  if (message.type === 'init') init(message);
  else if (message.type === 'invoke') void invoke(message);
});

/** @param {any} message */
function send(message, /** @type {(() => void) | undefined} */ then) {
  if (!process.connected || !process.send) return;
  process.send(message, undefined, {}, () => then && then());
}

/** Loads the bundle once: the cold start. Its module state then lives as long as this process. */
function init(/** @type {any} */ message) {
  config = message;
  const started = clock.now();
  let exported;
  try {
    exported = require(message.bundlePath);
  } catch (e) {
    send({ type: 'init-error', error: describe(e, 'Runtime.ImportModuleError') }, () => process.exit(1));
    return;
  }
  const fn = exported ? exported[message.handlerExport] : undefined;
  if (typeof fn !== 'function') {
    const error = { errorType: 'Runtime.HandlerNotFound', errorMessage: `${message.bundlePath} does not export a function '${message.handlerExport}'`, trace: [] };
    send({ type: 'init-error', error }, () => process.exit(1));
    return;
  }
  handler = fn;
  send({ type: 'ready', initDurationMs: clock.now() - started });
}

async function invoke(/** @type {any} */ message) {
  const { requestId } = message;
  const context = lambdaContext(requestId, message.deadlineEpochMs);
  let value;
  try {
    value = await callHandler(JSON.parse(message.payload), context);
  } catch (e) {
    // Lambda's Node runtime logs the error too, so it is in the function's logs as well as the response.
    const error = describe(e, 'Error');
    console.error(`ERROR\t${requestId}\tInvoke Error\t${JSON.stringify(error)}`);
    send({ type: 'error', requestId, error });
    return;
  }
  let payload;
  try {
    // Lambda returns JSON: undefined becomes null, and a value JSON cannot encode is an error.
    payload = JSON.stringify(value === undefined ? null : value);
  } catch (e) {
    send({ type: 'error', requestId, error: describe(e, 'Runtime.MarshalError', 'Runtime.MarshalError') });
    return;
  }
  send({ type: 'result', requestId, payload });
}

/** Async handlers settle their promise; callback-style ones (three parameters) call back. */
function callHandler(/** @type {unknown} */ event, /** @type {object} */ context) {
  return new Promise((resolve, reject) => {
    const fn = /** @type {NonNullable<typeof handler>} */ (handler);
    const callback = (/** @type {unknown} */ err, /** @type {unknown} */ result) => (err ? reject(err) : resolve(result));
    const returned = fn(event, context, callback);
    if (returned && typeof (/** @type {any} */ (returned).then) === 'function') {
      /** @type {Promise<unknown>} */ (returned).then(resolve, reject);
    } else if (fn.length < 3) {
      resolve(returned);
    }
  });
}

/** The documented Node.js context object: https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html */
function lambdaContext(/** @type {string} */ requestId, /** @type {number} */ deadlineEpochMs) {
  const c = /** @type {NonNullable<typeof config>} */ (config);
  return {
    functionName: c.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: c.invokedFunctionArn,
    // A string, as in Lambda's runtime (and @types/aws-lambda).
    memoryLimitInMB: c.memoryLimitInMB,
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${c.functionName}`,
    logStreamName: `local/[$LATEST]${process.pid}`,
    // Kept for handlers that set it; a worker is a long-lived process, so there is no loop to wait on.
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadlineEpochMs - Date.now()),
  };
}

/** Lambda's error payload for anything thrown. */
function describe(/** @type {unknown} */ e, /** @type {string} */ fallbackType, /** @type {string | undefined} */ forcedType) {
  if (e instanceof Error) {
    return {
      errorType: forcedType ?? e.name ?? fallbackType,
      errorMessage: e.message,
      trace: (e.stack ?? '').split('\n').slice(1).map((line) => line.trim()).filter(Boolean),
    };
  }
  let text;
  try {
    text = typeof e === 'string' ? e : JSON.stringify(e);
  } catch {
    text = String(e);
  }
  return { errorType: forcedType ?? fallbackType, errorMessage: String(text), trace: [] };
}
