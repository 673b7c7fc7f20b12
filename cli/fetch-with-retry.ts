/**
 * One HTTP exchange with bounded retries. Only failures that say "try again" are
 * retried: no answer at all (connection refused, reset, DNS), 503 and 429. Anything
 * else is the answer. The deadline bounds the whole exchange, waits included.
 */

export interface RetryPolicy {
  /** Attempts in total, the first included. */
  readonly attempts: number;
  /** The n-th retry waits between half and all of baseDelayMs · 2^(n-1) … */
  readonly baseDelayMs: number;
  /** … and never longer than this. A Retry-After beyond it ends the retries: the broker asked for a pause longer than a pipeline step should sit idle. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 500, maxDelayMs: 10_000 };

export interface Deadline {
  readonly signal: AbortSignal;
  /** Epoch milliseconds. */
  readonly at: number;
  readonly timeoutMs: number;
}

export function createDeadline(timeoutMs: number, now: () => number = Date.now): Deadline {
  return { signal: AbortSignal.timeout(timeoutMs), at: now() + timeoutMs, timeoutMs };
}

export interface FetchWithRetryOptions {
  readonly fetch: typeof fetch;
  readonly deadline: Deadline;
  readonly retry?: RetryPolicy;
  readonly debug?: (message: string) => void;
  readonly random?: () => number;
  readonly now?: () => number;
}

/** No HTTP answer was obtained. `cause` is the last network error, if any. */
export class NoAnswer extends Error {
  constructor(
    readonly kind: 'timeout' | 'network',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NoAnswer';
  }

  /** A short, safe description of the network error: `ECONNREFUSED`, `ENOTFOUND`, … */
  get causeCode(): string | undefined {
    return networkErrorCode(this.cause);
  }
}

export async function fetchWithRetry(url: URL, init: RequestInit, options: FetchWithRetryOptions): Promise<Response> {
  const retry = options.retry ?? DEFAULT_RETRY;
  const now = options.now ?? Date.now;
  const { deadline } = options;
  for (let attempt = 1; ; attempt++) {
    let response: Response | undefined;
    let failure: unknown;
    try {
      response = await options.fetch(url, { ...init, signal: deadline.signal, redirect: 'manual' });
    } catch (err) {
      if (deadline.signal.aborted) {
        throw new NoAnswer('timeout', `no answer within ${deadline.timeoutMs} ms`, { cause: err });
      }
      failure = err;
    }
    const retryable = response === undefined || response.status === 503 || response.status === 429;
    const what = response === undefined ? (networkErrorCode(failure) ?? innermostMessage(failure) ?? 'network error') : `HTTP ${response.status}`;
    if (!retryable || attempt >= retry.attempts) return answerOrThrow(response, failure);
    const delay = retryDelay(attempt, response?.headers.get('retry-after') ?? null, retry, options.random ?? Math.random, now);
    if (delay === undefined || now() + delay >= deadline.at) {
      options.debug?.(`${init.method ?? 'GET'} ${url.origin}${url.pathname}: ${what}; no time left for a retry`);
      return answerOrThrow(response, failure);
    }
    await response?.body?.cancel().catch(() => undefined);
    options.debug?.(`${init.method ?? 'GET'} ${url.origin}${url.pathname}: ${what} (attempt ${attempt}/${retry.attempts}); retrying in ${delay} ms`);
    await sleep(delay, deadline.signal);
    if (deadline.signal.aborted) throw new NoAnswer('timeout', `no answer within ${deadline.timeoutMs} ms`, { cause: failure });
  }
}

function answerOrThrow(response: Response | undefined, failure: unknown): Response {
  if (response !== undefined) return response;
  throw new NoAnswer('network', networkErrorCode(failure) ?? innermostMessage(failure) ?? 'network error', { cause: failure });
}

/**
 * Milliseconds to wait before the next attempt, or undefined for "do not retry".
 * Retry-After (seconds or an HTTP date) wins over the backoff. Exported for tests.
 */
export function retryDelay(
  attempt: number,
  retryAfter: string | null,
  policy: RetryPolicy,
  random: () => number,
  now: () => number = Date.now,
): number | undefined {
  const fromHeader = parseRetryAfter(retryAfter, now);
  if (fromHeader !== undefined) return fromHeader <= policy.maxDelayMs ? fromHeader : undefined;
  const ceiling = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

function parseRetryAfter(value: string | null, now: () => number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now());
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** fetch wraps the socket error in `cause`; its `code` is safe to show. */
function networkErrorCode(err: unknown): string | undefined {
  for (let current = err, depth = 0; current !== null && typeof current === 'object' && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** fetch's own message is always "fetch failed"; the socket's says what happened. */
function innermostMessage(err: unknown): string | undefined {
  let message: string | undefined;
  for (let current = err, depth = 0; current instanceof Error && depth < 5; depth++) {
    message = current.message;
    current = current.cause;
  }
  return message;
}

/** The whole cause chain, for --debug only. */
export function describeCauses(err: unknown): string {
  const parts: string[] = [];
  for (let current = err, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(`${current.name}: ${current.message}${typeof code === 'string' ? ` (${code})` : ''}`);
    current = current.cause;
  }
  return parts.join(' ← ');
}
