import type { BrokerError } from '../errors';

/** Attempts per key, the first included, whatever the provider does inside one mint. */
export const MAX_PROVIDER_ATTEMPTS = 3;
const BASE_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1_000;

/**
 * The one owner of a key's retry budget. A provider whose mint makes several upstream
 * calls (GCP: STS then IAM Credentials) runs every call through the same budget, so
 * nested retries never multiply: at most `MAX_PROVIDER_ATTEMPTS` calls per key in total.
 * Only `ERR_PROVIDER_UNAVAILABLE` (throttling, 5xx, lost connections) is retried, with
 * jittered exponential backoff, and only while the wait still ends before the deadline.
 */
export class RetryBudget {
  private used = 0;

  constructor(
    private readonly scope: { readonly signal: AbortSignal; readonly deadline: number },
    private readonly maxAttempts = MAX_PROVIDER_ATTEMPTS,
  ) {}

  /** Upstream calls made so far. */
  get attempts(): number {
    return this.used;
  }

  /** Runs `send` until it succeeds, a failure is final, or the budget or deadline is spent. */
  async run<T>(send: () => Promise<T>, classify: (err: unknown) => BrokerError): Promise<T> {
    for (;;) {
      this.used += 1;
      try {
        return await send();
      } catch (err) {
        const error = classify(err);
        const backoff = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (this.used - 1)) * (0.5 + Math.random() / 2);
        const retryable = error.code === 'ERR_PROVIDER_UNAVAILABLE' && this.used < this.maxAttempts && !this.scope.signal.aborted;
        if (!retryable || Date.now() + backoff >= this.scope.deadline) throw error;
        await sleep(backoff, this.scope.signal);
        if (this.scope.signal.aborted) throw error;
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
