import { createDeadline, fetchWithRetry, NoAnswer, retryDelay, type RetryPolicy } from './fetch-with-retry';
import { closedPort, startFakeServer, type FakeAnswer, type FakeServer } from './test-support/fake-broker';

const fast: RetryPolicy = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 };
let server: FakeServer;
let answers: FakeAnswer[];
beforeAll(async () => {
  server = await startFakeServer(() => answers.shift() ?? { status: 200, body: { ok: true } });
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
});

const get = (timeoutMs = 5_000) =>
  fetchWithRetry(new URL(`${server.url}/x`), { method: 'GET' }, { fetch, deadline: createDeadline(timeoutMs), retry: fast });

describe('fetchWithRetry', () => {
  it.each([
    [[503, 503, 200], 200, 3],
    [[429, 200], 200, 2],
    [[503, 503, 503, 200], 503, 3],
    [[500, 200], 500, 1],
    [[502, 200], 502, 1],
    [[401, 200], 401, 1],
    [[403, 200], 403, 1],
  ])('answers %j with %i after %i attempts', async (statuses, final, attempts) => {
    answers = statuses.map((status) => ({ status, body: {} }));
    const response = await get();
    expect(response.status).toBe(final);
    expect(server.requests).toHaveLength(attempts);
  });

  it('retries refused connections, then gives up with the socket error', async () => {
    const url = new URL(`http://127.0.0.1:${await closedPort()}/x`);
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    const err = await fetchWithRetry(url, {}, { fetch: counting, deadline: createDeadline(5_000), retry: fast }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAnswer);
    expect((err as NoAnswer).kind).toBe('network');
    expect((err as NoAnswer).message).toBe('ECONNREFUSED');
    expect(calls).toBe(3);
  });

  it('does not retry when the deadline would pass first', async () => {
    answers = [{ status: 503, body: {}, headers: { 'retry-after': '1' } }];
    const policy: RetryPolicy = { attempts: 3, baseDelayMs: 10, maxDelayMs: 5_000 };
    // 1 s fits the policy but not the 300 ms deadline.
    const response = await fetchWithRetry(new URL(`${server.url}/x`), {}, { fetch, deadline: createDeadline(300), retry: policy });
    expect(response.status).toBe(503);
    expect(server.requests).toHaveLength(1);
  });

  it('does not retry when Retry-After asks for a longer pause than the policy allows', async () => {
    answers = [{ status: 429, body: {}, headers: { 'retry-after': '3600' } }];
    const response = await get();
    expect(response.status).toBe(429);
    expect(server.requests).toHaveLength(1);
  });

  it('times out as a whole', async () => {
    const slow = await startFakeServer(() => new Promise((resolve) => setTimeout(() => resolve({ status: 200 }), 2_000)));
    try {
      const err = await fetchWithRetry(new URL(slow.url), {}, { fetch, deadline: createDeadline(100), retry: fast }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoAnswer);
      expect((err as NoAnswer).kind).toBe('timeout');
    } finally {
      await slow.close();
    }
  });
});

describe('retryDelay', () => {
  const policy: RetryPolicy = { attempts: 3, baseDelayMs: 500, maxDelayMs: 5_000 };
  it.each([
    [1, 0, 250],
    [1, 1, 500],
    [2, 0, 500],
    [2, 1, 1000],
    [5, 1, 5000],
  ])('backs off with jitter: attempt %i, random %d → %i ms', (attempt, random, delay) => {
    expect(retryDelay(attempt, null, policy, () => random)).toBe(delay);
  });

  it.each([
    ['2', 2000],
    ['5', 5000],
    ['6', undefined],
    ['Thu, 01 Jan 1970 00:00:03 GMT', 2000],
  ])('honours Retry-After %j, and does not retry past maxDelayMs', (header, delay) => {
    expect(retryDelay(1, header, policy, () => 0, () => 1000)).toBe(delay);
  });
});
