import { Controller, Get, Header, Inject } from '@nestjs/common';
import { buildOpenApi } from './openapi';
import { RUNTIME, type BrokerRuntime } from './runtime';

@Controller()
export class OpenApiController {
  private document: string | undefined;

  constructor(@Inject(RUNTIME) private readonly runtime: BrokerRuntime) {}

  /** Built on first request: the start path stays as it was. */
  @Get('openapi.json')
  @Header('content-type', 'application/json; charset=utf-8')
  openapi(): string {
    return (this.document ??= JSON.stringify(buildOpenApi(this.runtime.version)));
  }
}
