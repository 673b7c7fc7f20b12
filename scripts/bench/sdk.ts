import { Agent, request as httpRequest } from 'node:http';
import { AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import { createStsClient } from '../../providers/sts-common/sts-client';
import { percentiles, type Percentiles } from './load';
import { ownCpuMs, sampleProcess } from './proc';

/** What one way of calling STS costs the caller, measured in this process. */
export interface ClientCost {
  readonly client: string;
  readonly calls: number;
  readonly concurrency: number;
  readonly callsPerSecond: number;
  /** CPU of this process per call: building, sending, parsing. */
  readonly cpuMicrosPerCall: number;
  /** CPU the STS emulator spent per call (the same for both clients: a control). */
  readonly emulatorCpuMicrosPerCall: number;
  readonly latency: Percentiles;
}

const ROLE = 'arn:aws:iam::111122223333:role/deploy';

/**
 * AssumeRoleWithWebIdentity against the sandbox's AWS STS emulator, through the client the
 * broker builds (`createStsClient`: AWS SDK v3, NodeHttpHandler, keep-alive) and through
 * a bare node:http keep-alive POST whose XML answer is read with four regular expressions.
 * The difference is what the SDK costs per call.
 */
export async function stsClientCosts(options: { stsUrl: string; brokerToken: string; calls: number; concurrency: number; emulatorPid: number }): Promise<ClientCost[]> {
  const sdk = createStsClient({ endpoint: options.stsUrl, region: 'us-east-1', timeoutMs: 5_000 });
  const sdkCall = async () => {
    const output = await sdk.send(
      new AssumeRoleWithWebIdentityCommand({ RoleArn: ROLE, RoleSessionName: 'bench', WebIdentityToken: options.brokerToken, DurationSeconds: 900 }),
      { abortSignal: AbortSignal.timeout(15_000) },
    );
    if (!output.Credentials?.AccessKeyId) throw new Error('the SDK returned no credentials');
  };

  const target = new URL(options.stsUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const form = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: ROLE,
    RoleSessionName: 'bench',
    WebIdentityToken: options.brokerToken,
    DurationSeconds: '900',
  }).toString();
  const field = (xml: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
  const rawCall = () =>
    new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: 'POST',
          path: '/',
          agent,
          headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': Buffer.byteLength(form) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const xml = Buffer.concat(chunks).toString('utf8');
            const credentials = {
              AccessKeyId: field(xml, 'AccessKeyId'),
              SecretAccessKey: field(xml, 'SecretAccessKey'),
              SessionToken: field(xml, 'SessionToken'),
              Expiration: new Date(field(xml, 'Expiration') ?? ''),
            };
            if (res.statusCode !== 200 || !credentials.AccessKeyId) reject(new Error(`raw STS call answered ${res.statusCode}`));
            else resolve();
          });
        },
      );
      req.on('error', reject);
      req.end(form);
    });

  const measure = async (client: string, call: () => Promise<void>): Promise<ClientCost> => {
    await drive(call, Math.min(300, options.calls), options.concurrency); // warm-up: JIT and sockets
    const latencies: number[] = [];
    const cpuBefore = ownCpuMs();
    const emulatorBefore = sampleProcess(options.emulatorPid).cpuMs;
    const started = performance.now();
    await drive(
      async () => {
        const t0 = performance.now();
        await call();
        latencies.push(performance.now() - t0);
      },
      options.calls,
      options.concurrency,
    );
    const elapsed = performance.now() - started;
    return {
      client,
      calls: options.calls,
      concurrency: options.concurrency,
      callsPerSecond: (options.calls * 1000) / elapsed,
      cpuMicrosPerCall: ((ownCpuMs() - cpuBefore) * 1000) / options.calls,
      emulatorCpuMicrosPerCall: ((sampleProcess(options.emulatorPid).cpuMs - emulatorBefore) * 1000) / options.calls,
      latency: percentiles(latencies),
    };
  };

  try {
    const results: ClientCost[] = [];
    // Alternate, so a burst of unrelated load on the machine does not land on one client only.
    for (let round = 0; round < 2; round++) {
      results.push(await measure('AWS SDK v3 (createStsClient)', sdkCall));
      results.push(await measure('node:http + regex', rawCall));
    }
    return merge(results);
  } finally {
    sdk.destroy();
    agent.destroy();
  }
}

function merge(results: readonly ClientCost[]): ClientCost[] {
  const byClient = new Map<string, ClientCost[]>();
  for (const result of results) byClient.set(result.client, [...(byClient.get(result.client) ?? []), result]);
  return [...byClient.values()].map((runs) => {
    const best = runs.reduce((a, b) => (a.cpuMicrosPerCall <= b.cpuMicrosPerCall ? a : b));
    return best;
  });
}

async function drive(call: () => Promise<void>, total: number, concurrency: number): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < total) {
      started++;
      await call();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}
