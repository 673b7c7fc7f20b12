/**
 * The machine's floor for the latency scenario: a bare node:http server, in its own
 * process like the broker, that reads each request and answers it at once with a body the
 * size of a one-key mint answer. Driven by the same open loop, its latency is what this
 * machine (scheduler, loopback, load generator) adds before any broker code runs.
 * Prints `listening http://127.0.0.1:PORT` when it is ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = JSON.stringify({
  AWS_DEPLOY: {
    credentials: { AWS_ACCESS_KEY_ID: 'ASIA'.padEnd(20, 'X'), AWS_SECRET_ACCESS_KEY: 'x'.repeat(40), AWS_SESSION_TOKEN: 'x'.repeat(356), AWS_REGION: 'us-east-1' },
    expiresAt: new Date(Date.now() + 900_000).toISOString(),
  },
});

const server = createServer({ keepAlive: true }, (request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
