import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import type * as Https from 'node:https';
import { HttpError, type HttpClient, type HttpRequest, type HttpResponse } from '../broker-core';

export interface NodeHttpClientOptions {
  /** Extra CA certificates (PEM) trusted for https upstreams, e.g. a private PKI. */
  readonly ca?: string | readonly string[];
}

/**
 * broker-core's HTTP client on node:http with keep-alive (global fetch costs a third of
 * the throughput on the hot path: DESIGN.md). Every request has a deadline and a size
 * cap; redirects are never followed (a 3xx is returned as is and treated as a failure).
 */
export class NodeHttpClient implements HttpClient {
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 128 });
  /** Made on the first https request: loading node:https (TLS) costs a cold start ~30 ms of CPU. */
  private httpsAgent: Https.Agent | undefined;

  constructor(private readonly options: NodeHttpClientOptions = {}) {}

  private https(): { agent: Https.Agent; request: typeof Https.request } {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const https = require('node:https') as typeof Https;
    this.httpsAgent ??= new https.Agent({ keepAlive: true, maxSockets: 128, ...(this.options.ca ? { ca: this.options.ca as string[] } : {}) });
    return { agent: this.httpsAgent, request: https.request };
  }

  /**
   * A keep-alive socket the server closed while idle (or while a Lambda container was
   * frozen) fails with ECONNRESET on reuse: that one case is retried once on a new socket,
   * as Node's documentation recommends. Nothing was processed upstream.
   */
  async request(req: HttpRequest): Promise<HttpResponse> {
    try {
      return await this.send(req);
    } catch (err) {
      if (err instanceof StaleSocket) return this.send(req);
      throw err;
    }
  }

  private send(req: HttpRequest): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      let url: URL;
      try {
        url = new URL(req.url);
      } catch (err) {
        reject(new HttpError('network', 'invalid URL', { cause: err }));
        return;
      }
      const tls = url.protocol === 'https:' ? this.https() : undefined;
      const send = tls ? tls.request : httpRequest;
      const headers: Record<string, string> = { 'user-agent': 'voidkey-broker', ...req.headers };
      if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
      let settled = false;
      const fail = (error: HttpError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        outgoing.destroy();
        reject(error);
      };
      const outgoing = send(url, { method: req.method, headers, agent: tls ? tls.agent : this.httpAgent }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > req.maxBytes) {
            res.destroy();
            fail(new HttpError('too_large', `response larger than ${req.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => fail(new HttpError('network', 'response stream failed', { cause: err })));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          req.signal?.removeEventListener('abort', onAbort);
          const responseHeaders: Record<string, string | undefined> = {};
          for (const [name, value] of Object.entries(res.headers)) responseHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
          resolve({ status: res.statusCode ?? 0, headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      const timer = setTimeout(() => fail(new HttpError('timeout', `no answer within ${req.timeoutMs} ms`)), req.timeoutMs);
      const onAbort = () => fail(new HttpError('aborted', 'request aborted'));
      if (req.signal?.aborted) {
        onAbort();
        return;
      }
      req.signal?.addEventListener('abort', onAbort, { once: true });
      outgoing.on('error', (err: NodeJS.ErrnoException) => {
        if (outgoing.reusedSocket && err.code === 'ECONNRESET' && !settled) {
          settled = true;
          clearTimeout(timer);
          req.signal?.removeEventListener('abort', onAbort);
          reject(new StaleSocket());
          return;
        }
        fail(new HttpError('network', 'connection failed', { cause: err }));
      });
      outgoing.end(req.body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent?.destroy();
  }
}

class StaleSocket extends Error {}
