import { Controller, Get, Inject } from '@nestjs/common';
import { RUNTIME, type BrokerRuntime } from './runtime';

@Controller()
export class HealthController {
  constructor(@Inject(RUNTIME) private readonly runtime: BrokerRuntime) {}

  /** Voidkey's shape. */
  @Get('health')
  health(): { status: 'ok'; version: string; uptimeSeconds: number } {
    return { status: 'ok', version: this.runtime.version, uptimeSeconds: Math.round((Date.now() - this.runtime.startedAt) / 1000) };
  }

  /** Alive: the process serves HTTP. */
  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
