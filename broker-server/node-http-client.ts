import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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
  // Made on the first https request: node:https loads node:tls, which a start need not
  // pay for (the V8 startup snapshot cannot hold it: scripts/bundle-snapshot.mjs).
  private httpsAgentMade?: HttpsAgent;

  constructor(private readonly options: NodeHttpClientOptions = {}) {}

  private get httpsAgent(): HttpsAgent {
    return (this.httpsAgentMade ??= new HttpsAgent({ keepAlive: true, maxSockets: 128, ...(this.options.ca ? { ca: this.options.ca as string[] } : {}) }));
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
      const https = url.protocol === 'https:';
      const send = https ? httpsRequest : httpRequest;
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
      const outgoing = send(url, { method: req.method, headers, agent: https ? this.httpsAgent : this.httpAgent }, (res: IncomingMessage) => {
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
    this.httpsAgentMade?.destroy();
  }
}

class StaleSocket extends Error {}
