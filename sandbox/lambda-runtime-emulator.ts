import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback-server';

/**
 * A local Lambda Runtime API (2018-06-01) for a custom runtime's `bootstrap`
 * (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): queued events are
 * served to `GET /runtime/invocation/next` (held as a long poll until one is queued) with
 * the documented headers; `/response`, `/error` and `/init/error` are recorded. An
 * invocation not answered by its deadline settles as a timeout, and a late answer is
 * refused as Lambda refuses it. Point `AWS_LAMBDA_RUNTIME_API` at `address`.
 */
export interface QueuedEvent {
  /** The event's JSON value, or `raw` text sent as is (a body that is not JSON). */
  readonly event?: unknown;
  readonly raw?: string;
  readonly requestId?: string;
  readonly traceId?: string;
  /** Default 30 s: `Lambda-Runtime-Deadline-Ms`, and when the invocation settles as a timeout. */
  readonly timeoutMs?: number;
}

export type InvocationOutcome =
  | { readonly kind: 'response'; readonly requestId: string; readonly body: string; readonly contentType?: string }
  | { readonly kind: 'error'; readonly requestId: string; readonly errorType?: string; readonly body: string }
  | { readonly kind: 'timeout'; readonly requestId: string };

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export interface LambdaRuntimeEmulator {
  /** `127.0.0.1:PORT`, the form `AWS_LAMBDA_RUNTIME_API` takes. */
  readonly address: string;
  readonly functionArn: string;
  /** Every request the runtime made, in order. */
  readonly received: readonly ReceivedRequest[];
  /** `/init/error` reports (header error type and body). */
  readonly initErrors: ReadonlyArray<{ readonly errorType?: string; readonly body: string }>;
  /** Queues an event; resolves when the runtime answered it, reported an error or timed out. */
  invoke(event: QueuedEvent): Promise<InvocationOutcome>;
  /** Resolves on the first `/init/error`. */
  initError(): Promise<{ readonly errorType?: string; readonly body: string }>;
  /** Called synchronously as an outcome arrives, before its promise settles (cold-start measurements read the process's CPU here). */
  onOutcome?: (outcome: InvocationOutcome) => void;
  close(): Promise<void>;
}

/** Lambda's limit on a synchronous invocation's response. */
const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;
const PREFIX = '/2018-06-01/runtime';

interface Pending {
  readonly id: string;
  readonly queued: QueuedEvent;
  readonly settle: (outcome: InvocationOutcome) => void;
}

export async function startLambdaRuntimeEmulator(options: { functionArn?: string } = {}): Promise<LambdaRuntimeEmulator> {
  const functionArn = options.functionArn ?? 'arn:aws:lambda:us-east-1:123456789012:function:voidkey-broker';
  const queue: Pending[] = [];
  const waiting: ServerResponse[] = [];
  const inFlight = new Map<string, Pending & { timer: NodeJS.Timeout }>();
  const done = new Set<string>();
  const received: ReceivedRequest[] = [];
  const initErrors: Array<{ errorType?: string; body: string }> = [];
  let initWaiters: Array<(report: { errorType?: string; body: string }) => void> = [];

  const settle = (id: string, outcome: InvocationOutcome) => {
    const pending = inFlight.get(id);
    if (!pending) return false;
    clearTimeout(pending.timer);
    inFlight.delete(id);
    done.add(id);
    emulator.onOutcome?.(outcome);
    pending.settle(outcome);
    return true;
  };

  const serve = (res: ServerResponse, pending: Pending) => {
    const timeoutMs = pending.queued.timeoutMs ?? 30_000;
    const timer = setTimeout(() => settle(pending.id, { kind: 'timeout', requestId: pending.id }), timeoutMs);
    inFlight.set(pending.id, { ...pending, timer });
    const body = pending.queued.raw ?? JSON.stringify(pending.queued.event ?? {});
    res.writeHead(200, {
      'content-type': 'application/json',
      'lambda-runtime-aws-request-id': pending.id,
      'lambda-runtime-deadline-ms': String(Date.now() + timeoutMs),
      'lambda-runtime-invoked-function-arn': functionArn,
      'lambda-runtime-trace-id': pending.queued.traceId ?? `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replaceAll('-', '').slice(0, 24)};Parent=${randomUUID().replaceAll('-', '').slice(0, 16)};Sampled=0`,
    });
    res.end(body);
  };

  const answer = (res: ServerResponse, status: number, body: Record<string, unknown>) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const path = req.url ?? '';
    received.push({ method: req.method ?? '', path, headers: req.headers, body });
    if (req.method === 'GET' && path === `${PREFIX}/invocation/next`) {
      const next = queue.shift();
      if (next) serve(res, next);
      else waiting.push(res);
      return;
    }
    if (req.method === 'POST' && path === `${PREFIX}/init/error`) {
      const report = { errorType: header(req.headers['lambda-runtime-function-error-type']), body };
      initErrors.push(report);
      for (const waiter of initWaiters) waiter(report);
      initWaiters = [];
      answer(res, 202, { status: 'OK' });
      return;
    }
    const match = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(path);
    if (req.method === 'POST' && match) {
      const id = decodeURIComponent(match[1]!);
      if (!inFlight.has(id)) {
        answer(res, 400, { errorType: done.has(id) ? 'InvalidStateTransition' : 'InvalidRequestID', errorMessage: `invocation ${id} is not in flight` });
        return;
      }
      if (match[2] === 'response' && Buffer.byteLength(body) > MAX_RESPONSE_BYTES) {
        settle(id, { kind: 'error', requestId: id, errorType: 'Function.ResponseSizeTooLarge', body: '' });
        answer(res, 413, { errorType: 'RequestEntityTooLarge', errorMessage: 'response payload over the limit' });
        return;
      }
      settle(
        id,
        match[2] === 'response'
          ? { kind: 'response', requestId: id, body, ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}) }
          : { kind: 'error', requestId: id, errorType: header(req.headers['lambda-runtime-function-error-type']), body },
      );
      answer(res, 202, { status: 'OK' });
      return;
    }
    answer(res, 404, { errorType: 'NotFound', errorMessage: 'no such Runtime API route' });
  };

  const server = await listenOnLoopback((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  // A long poll that the runtime gave up on is no longer a place to send an event.
  const dropClosed = () => {
    for (let i = waiting.length - 1; i >= 0; i--) if (waiting[i]!.destroyed || waiting[i]!.req.socket.destroyed) waiting.splice(i, 1);
  };

  const emulator: LambdaRuntimeEmulator = {
    address: new URL(server.url).host,
    functionArn,
    received,
    initErrors,
    invoke(queued) {
      return new Promise<InvocationOutcome>((resolve) => {
        const pending: Pending = { id: queued.requestId ?? randomUUID(), queued, settle: resolve };
        dropClosed();
        const res = waiting.shift();
        if (res) serve(res, pending);
        else queue.push(pending);
      });
    },
    initError() {
      const first = initErrors[0];
      return first ? Promise.resolve(first) : new Promise((resolve) => initWaiters.push(resolve));
    },
    async close() {
      for (const pending of inFlight.values()) clearTimeout(pending.timer);
      await server.close();
    },
  };
  return emulator;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
