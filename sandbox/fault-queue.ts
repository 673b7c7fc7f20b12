/** How many upcoming requests a fault applies to. */
export type FaultTimes = number | 'always';

interface QueuedFault<F> {
  readonly fault: F;
  remaining: number;
}

/**
 * Faults injected into a test server, applied to upcoming requests in the order they
 * were queued: `add(a, 2); add(b, 1)` answers the next two requests with `a`, the third
 * with `b`, and the rest normally.
 */
export class FaultQueue<F> {
  private readonly queue: QueuedFault<F>[] = [];

  add(fault: F, times: FaultTimes = 1): void {
    const remaining = times === 'always' ? Number.POSITIVE_INFINITY : times;
    if (!(remaining >= 1) || (Number.isFinite(remaining) && !Number.isInteger(remaining))) {
      throw new RangeError(`fault count must be a positive integer or 'always', got ${String(times)}`);
    }
    this.queue.push({ fault, remaining });
  }

  /** The fault for the request being handled now, if any. */
  take(): F | undefined {
    const head = this.queue[0];
    if (head === undefined) return undefined;
    head.remaining -= 1;
    if (head.remaining <= 0) this.queue.shift();
    return head.fault;
  }

  clear(): void {
    this.queue.length = 0;
  }

  get size(): number {
    return this.queue.length;
  }
}
