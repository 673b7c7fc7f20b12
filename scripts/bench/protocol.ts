/** The IPC messages between `bench.ts` and its sandbox host (`host.ts`). */

export type TokenKind = 'valid' | 'expired' | 'bad-signature' | 'unknown-issuer';

/** The sandbox's request counters: what the broker cost its upstreams. */
export interface Counters {
  /** AWS STS requests (AssumeRoleWithWebIdentity). */
  readonly aws: number;
  /** MinIO STS requests. */
  readonly minio: number;
  /** JWKS fetches at the CI token issuer. */
  readonly jwks: number;
  /** Discovery fetches at the CI token issuer. */
  readonly discovery: number;
  /** Client-credentials requests for the broker's own token. */
  readonly brokerToken: number;
  /** JWKS fetches at the broker's IdP (made by the STS emulators, not the broker). */
  readonly brokerIdpJwks: number;
}

export type HostRequest = { readonly id: number } & (
  | { readonly op: 'start'; readonly clientSecret: string }
  | { readonly op: 'counters' }
  | { readonly op: 'tokens'; readonly count: number; readonly kind: TokenKind }
  | { readonly op: 'stsDelay'; readonly flavor: 'aws' | 'minio'; readonly times: number | 'always'; readonly ms: number }
  | { readonly op: 'clearFaults' }
  | { readonly op: 'brokerToken' }
  | { readonly op: 'close' }
);

export type HostResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

export interface SandboxInfo {
  /** The sandbox config (sandbox/sandbox-config.ts) for these servers. */
  readonly config: string;
  readonly awsUrl: string;
  readonly minioUrl: string;
}

/** `HostRequest` without its id, as callers write it. */
export type HostCall = WithoutId<HostRequest>;
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
