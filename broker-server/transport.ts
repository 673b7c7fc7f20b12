import { randomUUID } from 'node:crypto';
import { maxHeaderSize, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ServerConfig } from '../broker-core';
import { FRAMEWORK_ERRORS } from './error-filter';

/** Headers on every answer, the HTTP parser's own refusals included. */
export const STANDARD_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'x-content-type-options': 'nosniff',
};

/** Defaults of the `server:` transport fields (docs/operations.md, "Slow clients"). */
export const TRANSPORT_DEFAULTS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  // Above the 60 s idle timeout of the common load balancers, so the balancer, not the
  // broker, closes an idle connection and never sends a request into a closing one.
  keepAliveTimeoutMs: 72_000,
  maxRequestsPerSocket: 0,
} as const;

/**
 * fastify's and node:http's own knobs for slow and idle clients. Node measures both
 * deadlines from a request's first byte (a connection that sends nothing is held to the
 * headers deadline too) and checks them every `connectionsCheckingInterval`, 30 s by
 * default: far too coarse for a 10 s deadline, so it is derived from the deadline.
 */
export function transportOptions(server: ServerConfig) {
  const requestTimeout = server.requestTimeoutMs ?? TRANSPORT_DEFAULTS.requestTimeoutMs;
  const headersTimeout = Math.min(server.headersTimeoutMs ?? TRANSPORT_DEFAULTS.headersTimeoutMs, requestTimeout);
  return {
    requestTimeout,
    keepAliveTimeout: server.keepAliveTimeoutMs ?? TRANSPORT_DEFAULTS.keepAliveTimeoutMs,
    http: { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.min(1_000, Math.max(25, Math.floor(headersTimeout / 4))) },
  };
}

/**
 * `maxRequestsPerSocket`, counted here rather than by node:http, whose own limit answers a
 * request past it with a bare 503 (no envelope, no request id): the last answer the limit
 * allows says `Connection: close`, and node closes the connection after it.
 */
export class ConnectionBudget {
  private readonly served = new WeakMap<object, number>();

  constructor(private readonly max: number) {}

  /** Counts one answer on `socket`; true when it must be the connection's last. */
  spend(socket: object): boolean {
    if (this.max <= 0) return false;
    const count = (this.served.get(socket) ?? 0) + 1;
    this.served.set(socket, count);
    return count >= this.max;
  }
}

/** The request id each in-flight request was given, so a timeout of its body answers with the same id. */
const requestIds = new WeakMap<IncomingMessage, string>();

export function rememberRequestId(raw: IncomingMessage, id: string): void {
  requestIds.set(raw, id);
}

interface ParserRefusal {
  readonly status: number;
  readonly message?: string;
}

/** node:http's parser and deadline errors (llhttp `HPE_*` codes), as answers. */
function refusalFor(code: string | undefined): ParserRefusal | undefined {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408 };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: `the request headers are larger than ${maxHeaderSize / 1024} KiB` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, message: "the request's chunk extensions are too large" };
    default:
      return code?.startsWith('HPE_') ? { status: 400, message: 'the request is not valid HTTP/1.1' } : undefined;
  }
}

export interface ClientErrorObserver {
  (outcome: { status: number; error: string; requestId: string; code: string | undefined }): void;
}

/**
 * `clientError`: what node:http's parser refused or a deadline cut, answered like every
 * other error (`{error, code, message, requestId}` and the standard headers), then the
 * connection is closed. Nothing of the request is echoed. A connection whose answer has
 * already begun, or that the client reset, is only closed.
 */
export function clientErrorHandler(observe: ClientErrorObserver) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    const refusal = refusalFor(err.code);
    if (socket.destroyed || !refusal) {
      socket.destroy();
      return;
    }
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    // The in-flight request is the refused one only while it is still arriving (a body
    // cut by the deadline); otherwise the refusal concerns a request pipelined behind it.
    const arriving = inFlight?.req && !inFlight.req.complete ? inFlight.req : undefined;
    const requestId = (arriving && requestIds.get(arriving)) || randomUUID();
    const known = FRAMEWORK_ERRORS[refusal.status]!;
    observe({ status: refusal.status, error: known.error, requestId, code: err.code });
    if (!socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ error: known.error, code: known.code, message: refusal.message ?? known.message, requestId });
    const headers: Record<string, string | number> = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      ...STANDARD_HEADERS,
      connection: 'close',
    };
    const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
    socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\n${head}\r\n${body}`);
    // A client that neither reads nor closes is not waited for.
    setTimeout(() => socket.destroy(), 1_000).unref();
  };
}
