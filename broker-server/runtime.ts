import type { Broker } from '../broker-core';
import type { Logger } from './logger';

export const RUNTIME = Symbol('voidkey.runtime');

/**
 * What the HTTP layer needs. `broker` is swapped whole on a config reload, so a request
 * sees one config from start to end.
 */
export interface BrokerRuntime {
  broker: Broker;
  readonly logger: Logger;
  readonly startedAt: number;
  readonly version: string;
}
