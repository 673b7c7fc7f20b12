import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { HttpError } from '../broker-core';
import { NodeHttpClient } from './node-http-client';

describe('NodeHttpClient', () => {
  let server: Server;
  let url: string;
  let requests = 0;
  const perSocket = new WeakMap<Socket, number>();
  let behaviour: 'drop-reused' | 'ok' | 'redirect' | 'big' | 'hang' = 'ok';

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      req.resume();
      const seen = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, seen);
      if (behaviour === 'drop-reused' && seen > 1) {
        req.socket.destroy(); // what a server that timed out an idle keep-alive socket looks like
        return;
      }
      if (behaviour === 'redirect') {
        res.writeHead(302, { location: 'http://attacker.example/' }).end();
        return;
      }
      if (behaviour === 'hang') return;
      res.setHeader('content-type', 'application/json');
      res.end(behaviour === 'big' ? JSON.stringify({ x: 'y'.repeat(4096) }) : '{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const get = (client: NodeHttpClient, overrides: { maxBytes?: number; timeoutMs?: number } = {}) =>
    client.request({ method: 'GET', url, timeoutMs: overrides.timeoutMs ?? 2000, maxBytes: overrides.maxBytes ?? 1024 });

  it('retries once on a fresh socket when a reused keep-alive socket was closed by the server', async () => {
    const client = new NodeHttpClient();
    try {
      behaviour = 'ok';
      expect((await get(client)).status).toBe(200);
      behaviour = 'drop-reused';
      requests = 0;
      const response = await get(client);
      expect(response.status).toBe(200);
      expect(requests).toBe(2);
    } finally {
      client.close();
    }
  });

  it('returns a redirect as is (never follows it), caps the size and times out', async () => {
    const client = new NodeHttpClient();
    try {
      behaviour = 'redirect';
      expect((await get(client)).status).toBe(302);
      behaviour = 'big';
      await expect(get(client)).rejects.toMatchObject({ failure: 'too_large' });
      behaviour = 'hang';
      const error = await get(client, { timeoutMs: 100 }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({ failure: 'timeout' });
    } finally {
      behaviour = 'ok';
      client.close();
    }
  });
});
