import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
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

  /**
   * Ready: a config is loaded, every IdP's signing keys are cached (or were fetched now),
   * and the audit trail can be written. A probe never costs an IdP more than one fetch
   * per cooldown: while a key set is failing, the last failure is reported.
   */
  @Get('readyz')
  async readyz(@Res({ passthrough: true }) reply: FastifyReply): Promise<{ status: string; idps: Record<string, string>; audit: 'ok' | 'unwritable'; policy?: Record<string, string> }> {
    const idps: Record<string, string> = {};
    await Promise.all(
      [...this.runtime.broker.verifier.keySets()].map(async ([name, keys]) => {
        idps[name] = (await keys.ready()) ? 'ok' : 'unavailable';
      }),
    );
    const audit = this.runtime.audit.writable ? 'ok' : 'unwritable';
    const ready = this.runtime.accepting && audit === 'ok' && Object.values(idps).every((state) => state === 'ok');
    reply.status(ready ? 200 : 503);
    const policy = this.runtime.broker.policy?.versions;
    return { status: ready ? 'ready' : this.runtime.accepting ? 'not_ready' : 'shutting_down', idps, audit, ...(policy ? { policy } : {}) };
  }

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.runtime.metrics.registry.metrics();
  }
}
