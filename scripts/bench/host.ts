/**
 * The benchmark's sandbox host: a child process (forked by `bench.ts`) that runs the
 * local sandbox exactly as test/e2e/sandbox.ts builds it — the CI token issuer, the
 * broker's IdP (oidc-provider) and the AWS and MinIO STS emulators — so that their CPU
 * is accounted apart from the load generator's and the broker's. It answers requests
 * over the IPC channel: counters, token batches, STS latency faults.
 */
import { startLocalIdp, type LocalIdp } from '../../sandbox/local-idp';
import { BROKER_AUDIENCE, MINIO_ROLE, sandboxConfigText } from '../../sandbox/sandbox-config';
import { startStsEmulator, type StsEmulator } from '../../sandbox/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';
import type { Counters, HostRequest, HostResponse, SandboxInfo, TokenKind } from './protocol';

interface World {
  readonly github: TokenIssuer;
  readonly brokerIdp: LocalIdp;
  readonly aws: StsEmulator;
  readonly minio: StsEmulator;
}

let world: World | undefined;
let secret = '';

async function start(clientSecret: string): Promise<SandboxInfo> {
  secret = clientSecret;
  const github = await startTokenIssuer({ audience: 'https://broker.example.com' });
  const brokerIdp = await startLocalIdp({ clients: [{ clientId: 'voidkey-broker', clientSecret }] });
  const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: BROKER_AUDIENCE };
  // The emulators keep every request for inspection; a bench sends hundreds of thousands.
  const aws = await startStsEmulator({ flavor: 'aws', trust, maxSessionDuration: 3600, recordLimit: 1_000 });
  const minio = await startStsEmulator({ flavor: 'minio', trust, minioRoleArn: MINIO_ROLE, recordLimit: 1_000 });
  world = { github, brokerIdp, aws, minio };
  return { config: sandboxConfigText(world), awsUrl: aws.url, minioUrl: minio.url };
}

function need(): World {
  if (!world) throw new Error('the sandbox is not started');
  return world;
}

function counters(): Counters {
  const { github, brokerIdp, aws, minio } = need();
  return {
    aws: aws.calls,
    minio: minio.calls,
    jwks: github.counts.jwks,
    discovery: github.counts.discovery,
    brokerToken: brokerIdp.counts.token,
    brokerIdpJwks: brokerIdp.counts.jwks,
  };
}

async function tokens(count: number, kind: TokenKind): Promise<string[]> {
  const { github } = need();
  const now = Math.floor(Date.now() / 1000);
  const stranger = kind === 'bad-signature' ? await github.generateKey() : undefined;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    // Each token is distinct (its own jti and run id), so no cache keyed by token helps.
    const claims = { repository_id: '123456789', run_id: String(1_000_000 + i), run_attempt: '1' };
    switch (kind) {
      case 'valid':
        out.push(await github.githubToken(claims, { expiresIn: 3600 }));
        break;
      case 'expired':
        out.push(await github.githubToken(claims, { iat: now - 7200, expiresIn: 600 }));
        break;
      case 'bad-signature':
        // Signed by a key of the right shape and the published kid, but not the published key.
        out.push(await github.githubToken(claims, { expiresIn: 3600, key: stranger, header: { kid: github.activeKey.kid } }));
        break;
      case 'unknown-issuer': {
        const token = await github.githubToken(claims, { expiresIn: 3600 });
        const [header, payload, signature] = token.split('.');
        const body = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
        body.iss = 'https://issuer.invalid';
        out.push(`${header}.${Buffer.from(JSON.stringify(body)).toString('base64url')}.${signature}`);
        break;
      }
    }
  }
  return out;
}

async function handle(request: HostRequest): Promise<unknown> {
  switch (request.op) {
    case 'start':
      return start(request.clientSecret);
    case 'counters':
      return counters();
    case 'tokens':
      return tokens(request.count, request.kind);
    case 'stsDelay': {
      const sts = request.flavor === 'minio' ? need().minio : need().aws;
      sts.delayNext(request.times, request.ms);
      return null;
    }
    case 'brokerToken':
      return need().brokerIdp.clientCredentialsToken('voidkey-broker', secret, BROKER_AUDIENCE);
    case 'clearFaults':
      need().aws.clearFaults();
      need().minio.clearFaults();
      return null;
    case 'close': {
      const current = world;
      world = undefined;
      if (current) await Promise.all([current.github.close(), current.brokerIdp.close(), current.aws.close(), current.minio.close()]);
      return null;
    }
  }
}

process.on('message', (message: HostRequest) => {
  handle(message).then(
    (result) => process.send!({ id: message.id, ok: true, result } satisfies HostResponse),
    (err: unknown) => process.send!({ id: message.id, ok: false, error: (err as Error)?.stack ?? String(err) } satisfies HostResponse),
  );
});
// The parent going away ends the host, whatever state it is in.
process.on('disconnect', () => {
  const current = world;
  if (!current) process.exit(0);
  void Promise.allSettled([current.github.close(), current.brokerIdp.close(), current.aws.close(), current.minio.close()]).then(() => process.exit(0));
});
