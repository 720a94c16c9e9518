import { createServer } from 'node:net';

/**
 * Asks the OS for a TCP port that is free on 127.0.0.1 right now.
 *
 * The port is released before the promise resolves, so another process could
 * in theory grab it before the caller binds it; callers that spawn servers on
 * it should treat "address in use" as retryable.
 *
 * @returns a port number in the ephemeral range.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err) =>
      reject(new Error(`freePort: could not bind a probe socket on 127.0.0.1: ${err.message}`)),
    );
    // Port 0 lets the kernel choose; we read it back and free it again.
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: the probe socket has no TCP address'));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
