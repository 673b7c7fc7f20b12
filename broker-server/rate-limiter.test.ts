import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('allows a burst, then refills at the configured rate', () => {
    let now = 0;
    const limiter = new RateLimiter({ requestsPerMinute: 60, burst: 2 }, () => now);
    limiter.take('a');
    limiter.take('a');
    expect(() => limiter.take('a')).toThrow(expect.objectContaining({ reason: 'rate_limited', retryAfterSeconds: 1 }));
    limiter.take('b'); // another client has its own bucket
    now += 1000;
    expect(() => limiter.take('a')).not.toThrow();
  });

  it('stays bounded in memory: at most maxClients buckets, least recently seen dropped first', () => {
    const limiter = new RateLimiter({ requestsPerMinute: 60, burst: 1, maxClients: 100 }, () => 0);
    for (let i = 0; i < 10_000; i++) limiter.take(`client-${i}`);
    expect(limiter.size).toBe(100);
    expect(() => limiter.take('client-9999')).toThrow(); // still tracked: empty bucket
    expect(() => limiter.take('client-0')).not.toThrow(); // dropped long ago: starts afresh
  });
});
