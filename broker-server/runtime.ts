import type { Broker, ServerConfig } from '../broker-core';
import type { AuditLog } from './audit-log';
import type { Logger } from './logger';
import type { BrokerMetrics } from './metrics';
import type { RateLimiter } from './rate-limiter';

export const RUNTIME = Symbol('voidkey.runtime');

/**
 * What the HTTP layer needs. `broker` is swapped whole on a config reload, so a request
 * sees one config from start to end.
 */
export interface BrokerRuntime {
  broker: Broker;
  server: ServerConfig;
  rateLimiter?: RateLimiter;
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
  readonly audit: AuditLog;
  readonly startedAt: number;
  readonly version: string;
  /** False once shutdown began: new requests are refused with 503. */
  accepting: boolean;
}
