import { randomBytes } from 'node:crypto';
import { startBrokerProcess, type BrokerProcess } from '../../sandbox/broker-process';
import { startLocalIdp, type LocalIdp } from '../../sandbox/local-idp';
import { startStsEmulator, type StsEmulator } from '../../sandbox/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../../sandbox/token-issuer';
import { freeLoopbackPort, writeSigningKey } from '../../sandbox/broker-issuer-keys';
import { AWS_SELF_AUDIENCE, BROKER_AUDIENCE, MINIO_ROLE, sandboxConfigText, type SelfIssuerParts } from '../../sandbox/sandbox-config';

export { MAIN_SUBJECT, MINIO_ROLE, ROLE_DEPLOY, ROLE_READONLY } from '../../sandbox/sandbox-config';

/** The local world an end-to-end test runs in: IdPs, STS sandboxes and the real broker process. */
export interface Sandbox {
  readonly github: TokenIssuer;
  readonly brokerIdp: LocalIdp;
  readonly aws: StsEmulator;
  readonly minio: StsEmulator;
  /** The running broker; `restartBroker` swaps it. */
  readonly broker: BrokerProcess;
  readonly clientSecret: string;
  readonly config: string;
  /** `brokerToken: 'self'`: the broker's own issuer URL and key files (the emulators trust that issuer). */
  readonly self?: SelfIssuerParts;
  /** Stops the broker and starts another on `config` (the sandbox's secret in its environment). */
  restartBroker(config: string): Promise<BrokerProcess>;
  /** Stops the current broker and every local service. */
  close(): Promise<void>;
}

export interface SandboxOptions {
  readonly brokerEnv?: Record<string, string>;
  readonly transformConfig?: (config: string) => string;
  /**
   * `broker-idp` (default here, so the broker-IdP flow stays covered): the broker logs in
   * to a local oidc-provider. `self`: the broker signs its own tokens and the STS emulators
   * trust its issuer, found by discovery on the broker itself.
   */
  readonly brokerToken?: 'broker-idp' | 'self';
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const clientSecret = `canary-client-secret-${randomBytes(12).toString('hex')}`;
  const github = await startTokenIssuer({ audience: 'https://broker.example.com' });
  const brokerIdp = await startLocalIdp({ clients: [{ clientId: 'voidkey-broker', clientSecret }] });
  let self: SelfIssuerParts | undefined;
  let port = 0;
  let aws: StsEmulator;
  let minio: StsEmulator;
  if (options.brokerToken === 'self') {
    port = await freeLoopbackPort();
    self = { issuer: `http://127.0.0.1:${port}`, keyFiles: [writeSigningKey()] };
    aws = await startStsEmulator({ flavor: 'aws', trust: { issuer: self.issuer, audience: AWS_SELF_AUDIENCE }, maxSessionDuration: 3600 });
    minio = await startStsEmulator({ flavor: 'minio', trust: { issuer: self.issuer, audience: BROKER_AUDIENCE }, minioRoleArn: MINIO_ROLE });
  } else {
    const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: BROKER_AUDIENCE };
    aws = await startStsEmulator({ flavor: 'aws', trust, maxSessionDuration: 3600 });
    minio = await startStsEmulator({ flavor: 'minio', trust, minioRoleArn: MINIO_ROLE });
  }
  const config = (options.transformConfig ?? ((text: string) => text))(sandboxConfigText({ github, ...(self ? { self } : { brokerIdp }), aws, minio }));
  const broker = await startBrokerProcess({ config, port, env: { BROKER_CLIENT_SECRET: clientSecret, ...options.brokerEnv } });
  let current = broker;
  return {
    github,
    brokerIdp,
    aws,
    minio,
    get broker() {
      return current;
    },
    clientSecret,
    config,
    ...(self ? { self } : {}),
    async restartBroker(text: string) {
      await current.stop();
      current = await startBrokerProcess({ config: text, port, env: { BROKER_CLIENT_SECRET: clientSecret, ...options.brokerEnv } });
      return current;
    },
    async close() {
      await current.stop();
      await Promise.all([github.close(), brokerIdp.close(), aws.close(), minio.close()]);
    },
  };
}

export interface MintAnswer<B = Record<string, unknown>> {
  readonly status: number;
  readonly requestId: string | null;
  readonly body: B;
}

/** POST /credentials/mint with the token as Bearer, as the CLI sends it. */
export async function mintAt<B = Record<string, unknown>>(brokerUrl: string, token: string, keys: readonly string[]): Promise<MintAnswer<B>> {
  const response = await fetch(`${brokerUrl}/credentials/mint`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ keys }),
  });
  return { status: response.status, requestId: response.headers.get('x-request-id'), body: (await response.json()) as B };
}

/** A mint for the sandbox's main GitHub identity (repository_id pinned). */
export async function mintAsMain<B = Record<string, unknown>>(sandbox: Sandbox, keys: readonly string[]): Promise<MintAnswer<B>> {
  return mintAt<B>(sandbox.broker.url, await sandbox.github.githubToken({ repository_id: '123456789' }), keys);
}
