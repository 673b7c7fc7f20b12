import { randomBytes } from 'node:crypto';
import { startBrokerProcess, type BrokerProcess } from '../support/broker-process';
import { startLocalIdp, type LocalIdp } from '../support/local-idp';
import { startStsEmulator, type StsEmulator } from '../support/sts-emulator';
import { startTokenIssuer, type TokenIssuer } from '../support/token-issuer';
import { BROKER_AUDIENCE, MINIO_ROLE, sandboxConfigText } from '../support/sandbox-config';

export { MAIN_SUBJECT, MINIO_ROLE, ROLE_DEPLOY, ROLE_READONLY } from '../support/sandbox-config';

/** The local world an end-to-end test runs in: IdPs, STS sandboxes and the real broker process. */
export interface Sandbox {
  readonly github: TokenIssuer;
  readonly brokerIdp: LocalIdp;
  readonly aws: StsEmulator;
  readonly minio: StsEmulator;
  readonly broker: BrokerProcess;
  readonly clientSecret: string;
  readonly config: string;
  close(): Promise<void>;
}

export async function startSandbox(options: { brokerEnv?: Record<string, string>; transformConfig?: (config: string) => string } = {}): Promise<Sandbox> {
  const clientSecret = `canary-client-secret-${randomBytes(12).toString('hex')}`;
  const github = await startTokenIssuer({ audience: 'https://broker.example.com' });
  const brokerIdp = await startLocalIdp({ clients: [{ clientId: 'voidkey-broker', clientSecret }] });
  const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: BROKER_AUDIENCE };
  const aws = await startStsEmulator({ flavor: 'aws', trust, maxSessionDuration: 3600 });
  const minio = await startStsEmulator({ flavor: 'minio', trust, minioRoleArn: MINIO_ROLE });
  const config = (options.transformConfig ?? ((text: string) => text))(sandboxConfigText({ github, brokerIdp, aws, minio }));
  const broker = await startBrokerProcess({ config, env: { BROKER_CLIENT_SECRET: clientSecret, ...options.brokerEnv } });
  return {
    github,
    brokerIdp,
    aws,
    minio,
    broker,
    clientSecret,
    config,
    async close() {
      await broker.stop();
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
