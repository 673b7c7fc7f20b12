import type { IncomingHttpHeaders } from 'node:http';
import { deflateRawSync } from 'node:zlib';
import type { TokenChecker, StsTrust } from './sts-token-check';
import type { StsCredentials, StsFlavor } from './sts-wire';

/** How an emulated STS behaves; fixed when the emulator starts. */
export interface StsSettings {
  readonly flavor: StsFlavor;
  readonly checkToken: TokenChecker;
  readonly condition?: StsTrust['condition'];
  /** AWS: the role's MaxSessionDuration. */
  readonly maxSessionDuration: number;
  /** AWS: compressed size of session policies and tags that counts as 100 %. */
  readonly packedPolicyLimitBytes: number;
  /** MinIO: the role-policy provider's ARN; absent means a claim-based provider. */
  readonly minioRoleArn?: string;
  readonly minioPolicyClaim: string;
  readonly minioSigningSecret: string;
}

/** Form fields of a Query request; any of them may be missing. */
export type StsParams = Readonly<Partial<Record<string, string>>>;

export interface StsCall {
  readonly action: string;
  readonly params: StsParams;
  readonly headers: IncomingHttpHeaders;
}

export interface IssuedCredentials extends StsCredentials {
  readonly action: string;
  readonly roleArn?: string;
  readonly roleSessionName?: string;
  readonly subject?: string;
  readonly sourceIdentity?: string;
  /** AssumeRoleWithWebIdentity: the principal tags the token carried. */
  readonly tags?: Readonly<Record<string, string>>;
  readonly transitiveTagKeys?: readonly string[];
}

export interface StsOutcome {
  /** The inside of `<{Action}Result>`. */
  readonly result: string;
  readonly issued: IssuedCredentials;
}

export type PolicyProblem = 'not_json' | 'syntax' | 'no_version';

/** Checks a session policy the way IAM's parser would at a glance; returns its minified form. */
export function parsePolicy(text: string): { ok: true; minified: string } | { ok: false; problem: PolicyProblem } {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not_json' };
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return { ok: false, problem: 'syntax' };
  const { Version: version, Statement: statement } = document as { Version?: unknown; Statement?: unknown };
  if (version === undefined) return { ok: false, problem: 'no_version' };
  if (version !== '2012-10-17' && version !== '2008-10-17') return { ok: false, problem: 'syntax' };
  const statements = Array.isArray(statement) ? statement : [statement];
  const valid = statements.length > 0 && statements.every((s: unknown) => {
    if (typeof s !== 'object' || s === null) return false;
    const { Effect: effect, Action: action, NotAction: notAction } = s as Record<string, unknown>;
    return (effect === 'Allow' || effect === 'Deny') && (action !== undefined || notAction !== undefined);
  });
  return valid ? { ok: true, minified: JSON.stringify(document) } : { ok: false, problem: 'syntax' };
}

/** Percentage of the packed-policy allowance used by the session policies and tags. */
export function packedPolicyPercent(limitBytes: number, parts: readonly string[]): number {
  const present = parts.filter((part) => part !== '');
  if (present.length === 0) return 0;
  return Math.ceil((deflateRawSync(present.join('\n')).length * 100) / limitBytes);
}

export function isSigned(headers: IncomingHttpHeaders): boolean {
  return headers.authorization?.startsWith('AWS4-HMAC-SHA256 ') === true;
}

export function expiresAfter(seconds: number): Date {
  return new Date(Date.now() + seconds * 1000);
}
