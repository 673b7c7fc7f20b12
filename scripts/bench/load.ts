import { Agent, request as httpRequest } from 'node:http';
import autocannon from 'autocannon';

/** One HTTP request of a scenario. */
export interface Shot {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** What one load run measured (latencies in milliseconds, sub-millisecond precision). */
export interface LoadResult {
  readonly seconds: number;
  readonly completed: number;
  readonly perSecond: number;
  readonly statuses: Record<string, number>;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Latency of every answered request (any status). */
  readonly latency: Percentiles;
  /**
   * Open loop only: each answer's latency less the upstream wait its `Server-Timing`
   * header reports — what the broker, the machine and the load generator added.
   */
  readonly lessUpstream?: Percentiles;
}

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  let sum = 0;
  for (const value of sorted) sum += value;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1]!, mean: sum / sorted.length };
}

/**
 * A closed-loop run with autocannon: `connections` keep-alive connections, each sending
 * its next request when the last one is answered. `shots` rotate round-robin across all
 * connections (a pool of distinct tokens). autocannon's own latency histogram keeps whole
 * milliseconds and 2xx only, so every response's time is recorded here instead.
 */
export function closedLoop(options: { url: string; connections: number; seconds: number; shots: readonly Shot[]; title?: string }): Promise<LoadResult> {
  const { shots } = options;
  let next = 0;
  const request: autocannon.Request = {
    method: shots[0]!.method,
    path: shots[0]!.path,
    setupRequest: (req) => {
      const shot = shots[next++ % shots.length]!;
      return { ...req, method: shot.method, path: shot.path, headers: shot.headers ?? {}, body: shot.body };
    },
  };
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url: options.url, connections: options.connections, duration: options.seconds, timeout: 10, requests: [request], title: options.title },
      (error, result) => {
        if (error) {
          reject(error);
          return;
        }
        const statuses: Record<string, number> = {};
        for (const [status, { count }] of Object.entries(result.statusCodeStats)) statuses[status] = count;
        const completed = Object.values(statuses).reduce((a, b) => a + b, 0);
        resolve({
          seconds: result.duration,
          completed,
          perSecond: completed / result.duration,
          statuses,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          latency: percentiles(latencies),
        });
      },
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime);
    });
  });
}

/**
 * An open-loop run at a fixed rate: requests leave on schedule whether or not earlier
 * ones were answered, and each latency counts from the moment the request was due, so a
 * stall shows in the figures instead of slowing the generator down (no coordinated
 * omission). This is how a fleet of CI jobs arrives at a broker.
 */
export async function openLoop(options: { url: string; rate: number; seconds: number; shots: readonly Shot[]; maxSockets?: number }): Promise<LoadResult> {
  const target = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256 });
  const latencies: number[] = [];
  const lessUpstream: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let timeouts = 0;
  let sent = 0;
  let inFlight = 0;
  const total = Math.round(options.rate * options.seconds);
  const started = performance.now();
  let allSent!: () => void;
  const drained = new Promise<void>((done) => (allSent = done));

  const fire = (index: number) => {
    const shot = options.shots[index % options.shots.length]!;
    const due = started + (index * 1000) / options.rate;
    inFlight++;
    const finish = () => {
      inFlight--;
      if (sent === total && inFlight === 0) allSent();
    };
    const req = httpRequest(
      { host: target.hostname, port: target.port, method: shot.method, path: shot.path, headers: { ...shot.headers, ...(shot.body ? { 'content-length': Buffer.byteLength(shot.body) } : {}) }, agent, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => {
          const latency = performance.now() - due;
          latencies.push(latency);
          const upstream = /upstream;dur=([0-9.]+)/.exec(String(res.headers['server-timing'] ?? ''));
          if (upstream) lessUpstream.push(latency - Number(upstream[1]));
          statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
          finish();
        });
      },
    );
    req.on('timeout', () => {
      timeouts++;
      req.destroy(new Error('timeout'));
    });
    req.on('error', () => {
      errors++;
      finish();
    });
    req.end(shot.body);
  };

  await new Promise<void>((done) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * options.rate) / 1000) + 1);
      while (sent < due) fire(sent++);
      if (sent >= total) {
        clearInterval(timer);
        done();
      }
    };
    const timer = setInterval(tick, 1);
    tick();
  });
  if (inFlight > 0) await drained;
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const completed = Object.values(statuses).reduce((a, b) => a + b, 0);
  const non2xx = Object.entries(statuses).reduce((n, [status, count]) => (status.startsWith('2') ? n : n + count), 0);
  return {
    seconds,
    completed,
    perSecond: completed / seconds,
    statuses,
    non2xx,
    errors,
    timeouts,
    latency: percentiles(latencies),
    ...(lessUpstream.length > 0 ? { lessUpstream: percentiles(lessUpstream) } : {}),
  };
}

/** Sends one request and returns its status, body and time in ms. */
export function once(url: string, shot: Shot): Promise<{ status: number; body: string; ms: number }> {
  const target = new URL(shot.path, url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(target, { method: shot.method, headers: { ...shot.headers, ...(shot.body ? { 'content-length': Buffer.byteLength(shot.body) } : {}) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(shot.body);
  });
}
