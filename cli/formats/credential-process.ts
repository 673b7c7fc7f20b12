import type { MintedKey, MintResponse } from '../broker-client';
import { UnexpectedResponse, UsageError } from '../errors';

const AWS_TYPES: ReadonlySet<string> = new Set(['aws-sts', 'minio-sts']);

/**
 * When the broker does not send `metadata.fields` (env name → provider field), the
 * AWS SDK's own variable names are the only safe guess.
 */
const CONVENTIONAL_ENV: Readonly<Record<string, string>> = {
  AccessKeyId: 'AWS_ACCESS_KEY_ID',
  SecretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  SessionToken: 'AWS_SESSION_TOKEN',
};

export interface CredentialProcessOutput {
  readonly Version: 1;
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly SessionToken?: string;
  readonly Expiration: string;
}

/** Checked before minting when the keys are named, so a wrong call costs no credentials. */
export function checkCredentialProcessKeys(keys: readonly string[] | undefined): void {
  if (keys !== undefined && keys.length !== 1) {
    throw new UsageError(`--format credential-process needs exactly one key, got ${keys.length}`);
  }
}

/** The AWS CLI/SDK `credential_process` JSON for exactly one aws-sts or minio-sts key. */
export function formatCredentialProcess(minted: MintResponse): string {
  const entries = Object.entries(minted);
  if (entries.length !== 1) {
    throw new UsageError(`--format credential-process needs exactly one key, the broker minted ${entries.length}`);
  }
  const [name, key] = entries[0];
  if (!AWS_TYPES.has(key.metadata.type)) {
    throw new UsageError(`--format credential-process needs an aws-sts or minio-sts key; ${name} is ${JSON.stringify(key.metadata.type)}`);
  }
  const field = (providerField: string): string | undefined => providerFieldValue(key, providerField);
  const accessKeyId = field('AccessKeyId');
  const secretAccessKey = field('SecretAccessKey');
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    throw new UsageError(`key ${name} does not output AccessKeyId and SecretAccessKey; add them to its outputs`);
  }
  const sessionToken = field('SessionToken');
  const expiration = normaliseExpiration(field('Expiration') ?? key.expiresAt, name);
  const output: CredentialProcessOutput = {
    Version: 1,
    AccessKeyId: accessKeyId,
    SecretAccessKey: secretAccessKey,
    ...(sessionToken === undefined ? {} : { SessionToken: sessionToken }),
    Expiration: expiration,
  };
  return `${JSON.stringify(output)}\n`;
}

function providerFieldValue(key: MintedKey, providerField: string): string | undefined {
  const fields = key.metadata.fields;
  if (fields !== undefined) {
    const envName = Object.keys(fields).find((env) => fields[env] === providerField);
    return envName === undefined ? undefined : key.credentials[envName];
  }
  const conventional = CONVENTIONAL_ENV[providerField];
  return conventional === undefined ? undefined : key.credentials[conventional];
}

/** The AWS SDKs parse ISO 8601; an expiry that is not a date would make them cache forever or fail. */
function normaliseExpiration(value: string, name: string): string {
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new UnexpectedResponse(`the broker sent key ${name} with an expiry that is not a date`);
  return new Date(time).toISOString();
}
