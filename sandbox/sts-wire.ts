import { createHmac, randomBytes, randomUUID } from 'node:crypto';

/**
 * The STS Query protocol's wire format: XML documents, error codes and their HTTP
 * statuses, credential shapes. AWS and MinIO share the protocol and differ in details.
 */

export type StsFlavor = 'aws' | 'minio';

export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const STS_VERSION = '2011-06-15';

/** HTTP status per error code, as each service documents or implements it. */
export const STS_ERROR_STATUS: Readonly<Record<StsFlavor, Readonly<Record<string, number>>>> = {
  aws: {
    AccessDenied: 403,
    ExpiredTokenException: 400,
    IDPCommunicationError: 400,
    IDPRejectedClaim: 403,
    InvalidAction: 400,
    InvalidIdentityToken: 400,
    MalformedPolicyDocument: 400,
    MissingAuthenticationToken: 403,
    PackedPolicyTooLarge: 400,
    RegionDisabledException: 403,
    Throttling: 400,
    ValidationError: 400,
    InternalFailure: 500,
    ServiceUnavailable: 503,
  },
  minio: {
    AccessDenied: 403,
    ExpiredToken: 400,
    IDPCommunicationError: 400,
    InvalidIdentityToken: 400,
    InvalidParameterValue: 400,
    MalformedPolicyDocument: 400,
    MissingParameter: 400,
    PackedPolicyTooLarge: 400,
    InternalError: 500,
    STSNotInitialized: 503,
    ThrottlingException: 429,
  },
};

/** A failure answered as an `<ErrorResponse>`. */
export class StsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'StsError';
  }
}

export function errorStatus(flavor: StsFlavor, code: string, status?: number): number {
  return status ?? STS_ERROR_STATUS[flavor][code] ?? 400;
}

export function errorXml(flavor: StsFlavor, code: string, message: string, status: number, requestId: string): string {
  // MinIO never fills in <Type>; AWS says who is at fault.
  const type = flavor === 'minio' ? '' : status >= 500 ? 'Receiver' : 'Sender';
  return `<ErrorResponse xmlns="${STS_NAMESPACE}"><Error><Type>${type}</Type><Code>${xmlEscape(code)}</Code>`
    + `<Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}

/** `<{Action}Response><{Action}Result>…</{Action}Result><ResponseMetadata>…` */
export function resultXml(action: string, result: string, requestId: string): string {
  return `<${action}Response xmlns="${STS_NAMESPACE}"><${action}Result>${result}</${action}Result>`
    + `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

/** Child elements in order; undefined values are left out. */
export function elements(fields: Readonly<Record<string, string | number | undefined>>): string {
  let xml = '';
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) xml += `<${name}>${xmlEscape(String(value))}</${name}>`;
  }
  return xml;
}

export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ENTITIES[c]);
}

const XML_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export interface StsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

export function credentialsXml(flavor: StsFlavor, credentials: StsCredentials): string {
  const expiration = isoSeconds(credentials.expiration);
  // Element order as each service writes it (MinIO follows its Go struct).
  const fields = flavor === 'minio'
    ? { AccessKeyId: credentials.accessKeyId, SecretAccessKey: credentials.secretAccessKey, Expiration: expiration, SessionToken: credentials.sessionToken }
    : { SessionToken: credentials.sessionToken, SecretAccessKey: credentials.secretAccessKey, Expiration: expiration, AccessKeyId: credentials.accessKeyId };
  return `<Credentials>${elements(fields)}</Credentials>`;
}

/** AWS temporary credentials: `ASIA…` key id, 40-character secret, opaque session token. */
export function awsCredentials(expiration: Date): StsCredentials {
  return {
    accessKeyId: `ASIA${randomChars(16, UPPER_ALNUM)}`,
    secretAccessKey: randomChars(40, BASE64_CHARS),
    sessionToken: `IQoJb3JpZ2luX2VjE${pooledRandomBytes(300).toString('base64')}`,
    expiration,
  };
}

/** MinIO temporary credentials: 20-character key, 40-character secret, HS512 JWT session token. */
export function minioCredentials(expiration: Date, claims: Readonly<Record<string, unknown>>, signingSecret: string): StsCredentials {
  const accessKeyId = randomChars(20, UPPER_ALNUM);
  const header = Buffer.from('{"alg":"HS512","typ":"JWT"}').toString('base64url');
  const payload = Buffer.from(JSON.stringify({ ...claims, accessKey: accessKeyId, exp: Math.floor(expiration.getTime() / 1000) })).toString('base64url');
  const signature = createHmac('sha512', signingSecret).update(`${header}.${payload}`).digest('base64url');
  return {
    accessKeyId,
    secretAccessKey: randomChars(40, BASE64_CHARS),
    sessionToken: `${header}.${payload}.${signature}`,
    expiration,
  };
}

export function awsRequestId(): string {
  return randomUUID();
}

/** MinIO request ids are 16 upper-case hex digits. */
export function minioRequestId(): string {
  return pooledRandomBytes(8).toString('hex').toUpperCase();
}

/** ISO 8601 without milliseconds, as STS writes `Expiration`. */
export function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const BASE64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function randomChars(length: number, alphabet: string): string {
  const bytes = pooledRandomBytes(length);
  let text = '';
  for (const byte of bytes) text += alphabet[byte % alphabet.length];
  return text;
}

// One CSPRNG call per 64 KiB instead of several per request: the emulator is benchmarked.
const POOL_SIZE = 64 * 1024;
let pool = randomBytes(POOL_SIZE);
let poolOffset = 0;

function pooledRandomBytes(length: number): Buffer {
  if (poolOffset + length > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + length);
  poolOffset += length;
  return bytes;
}
