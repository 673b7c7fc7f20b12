import { RateLimited } from '../broker-core';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Per-client token buckets, bounded in memory: at most `maxClients` buckets, the least
 * recently used dropped first (a Map keeps insertion order; a touched bucket moves to
 * the end). A dropped client simply starts again with a full bucket.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly ratePerMs: number;
  private readonly burst: number;
  private readonly maxClients: number;

  constructor(
    options: { requestsPerMinute: number; burst?: number; maxClients?: number },
    private readonly clock: () => number = Date.now,
  ) {
    this.ratePerMs = options.requestsPerMinute / 60_000;
    this.burst = options.burst ?? Math.max(1, Math.ceil(options.requestsPerMinute / 6));
    this.maxClients = options.maxClients ?? 10_000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one request from the client's bucket, or throws RateLimited with Retry-After. */
  take(client: string): void {
    const now = this.clock();
    let bucket = this.buckets.get(client);
    if (bucket) {
      this.buckets.delete(client);
      bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.updatedAt) * this.ratePerMs);
      bucket.updatedAt = now;
    } else {
      bucket = { tokens: this.burst, updatedAt: now };
      if (this.buckets.size >= this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(client, bucket);
    if (bucket.tokens < 1) {
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerMs / 1000));
      throw new RateLimited('too many requests from this client', { retryAfterSeconds });
    }
    bucket.tokens -= 1;
  }
}
