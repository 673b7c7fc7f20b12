import { FaultQueue, type FaultTimes } from './fault-queue';
import { listenOnLoopback, readBody, sendJson } from './loopback-server';

/**
 * A local OpenID AuthZEN 1.0 Access Evaluation endpoint (`POST /access/v1/evaluation`):
 * it records every request it receives and decides with a rule the test sets (default:
 * allow). Fault modes answer the broker the ways a real PDP can fail.
 */
export type PdpFault = 'timeout' | 'status-500' | 'unparsable' | 'non-boolean';

export interface PdpRequest {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: {
    subject: { type: string; id: string; properties?: Record<string, unknown> };
    action: { name: string };
    resource: { type: string; id: string; properties?: Record<string, unknown> };
    context?: Record<string, unknown>;
  };
}

export interface PdpEmulator {
  /** The evaluation endpoint's URL. */
  readonly url: string;
  readonly received: PdpRequest[];
  /** Decides each request; default allows every one. */
  decide: (request: PdpRequest['body']) => boolean;
  fail(fault: PdpFault, times?: FaultTimes): void;
  close(): Promise<void>;
}

export async function startPdpEmulator(): Promise<PdpEmulator> {
  const faults = new FaultQueue<PdpFault>();
  const received: PdpRequest[] = [];
  const emulator = {
    url: '',
    received,
    decide: (() => true) as PdpEmulator['decide'],
    fail: (fault: PdpFault, times?: FaultTimes) => faults.add(fault, times),
    close: async () => {},
  };
  const server = await listenOnLoopback(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/access/v1/evaluation') return sendJson(res, 404, { error: 'not_found' });
    let body: PdpRequest['body'];
    try {
      body = JSON.parse(await readBody(req, 64 * 1024)) as PdpRequest['body'];
    } catch {
      return sendJson(res, 400, { error: 'invalid_request' });
    }
    received.push({ headers: req.headers, body });
    switch (faults.take()) {
      case 'timeout':
        return; // never answers: the broker's timeout decides
      case 'status-500':
        return sendJson(res, 500, { error: 'internal' });
      case 'unparsable':
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"decision": tru');
      case 'non-boolean':
        return sendJson(res, 200, { decision: 'true' });
      default:
        return sendJson(res, 200, { decision: emulator.decide(body) });
    }
  });
  emulator.url = `${server.url}/access/v1/evaluation`;
  emulator.close = () => server.close();
  return emulator;
}
