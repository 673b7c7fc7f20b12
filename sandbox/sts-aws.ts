import { createHash } from 'node:crypto';
import { expiresAfter, isSigned, packedPolicyPercent, parsePolicy, type StsCall, type StsOutcome, type StsParams, type StsSettings } from './sts-common';
import { Constraints, members } from './sts-constraints';
import type { TokenVerdict } from './sts-token-check';
import { StsError, awsCredentials, credentialsXml, elements, STS_VERSION } from './sts-wire';

/** AWS STS: AssumeRoleWithWebIdentity (unsigned) and AssumeRole (SigV4-signed). */
export async function runAwsAction(settings: StsSettings, call: StsCall): Promise<StsOutcome> {
  if (call.params.Version !== STS_VERSION) {
    throw new StsError('InvalidAction', `Could not find operation ${call.action} for version ${call.params.Version ?? 'NO_VERSION_SPECIFIED'}`);
  }
  switch (call.action) {
    case 'AssumeRoleWithWebIdentity':
      return assumeRoleWithWebIdentity(settings, call);
    case 'AssumeRole':
      return assumeRole(settings, call);
    default:
      throw new StsError('InvalidAction', `Could not find operation ${call.action} for version ${STS_VERSION}`);
  }
}

const SESSION_NAME = /^[\w+=,.@-]*$/;
const SESSION_NAME_SHOWN = '[\\w+=,.@-]*';
const ROLE_ARN = /^arn:aws[\w-]*:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

async function assumeRoleWithWebIdentity(settings: StsSettings, { action, params }: StsCall): Promise<StsOutcome> {
  const check = new Constraints();
  const policyArns = commonConstraints(check, params, 43_200);
  if (check.required('webIdentityToken', params.WebIdentityToken)) check.length('webIdentityToken', params.WebIdentityToken, 4, 20_000);
  check.check();
  const { RoleArn: roleArn = '', RoleSessionName: sessionName = '', WebIdentityToken: token = '' } = params;
  const role = parseRoleArn(roleArn);
  const policy = checkPolicy(params.Policy);

  const verdict = await settings.checkToken(token);
  if (!verdict.ok) throw tokenError(verdict);
  const { claims } = verdict;
  const principalTags = claims['https://aws.amazon.com/tags'];
  const attribution = tokenAttribution(claims);
  const percent = packedPolicyPercent(settings.packedPolicyLimitBytes, [
    policy ?? '',
    ...policyArns,
    principalTags === undefined ? '' : JSON.stringify(principalTags),
  ]);
  if (percent > 100) throw packedTooLarge(percent);
  if (settings.condition !== undefined && !settings.condition(claims, params)) {
    throw new StsError('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
  }
  const duration = Number(params.DurationSeconds ?? 3600);
  if (duration > settings.maxSessionDuration) {
    throw new StsError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  }

  const credentials = awsCredentials(expiresAfter(duration));
  const { sourceIdentity } = attribution;
  const subject = stringClaim(claims.sub);
  const issuer = stringClaim(claims.iss) ?? '';
  const result = elements({ SubjectFromWebIdentityToken: subject, Audience: verdict.audience })
    + assumedRoleUser(role, sessionName)
    + credentialsXml('aws', credentials)
    + elements({
      SourceIdentity: sourceIdentity,
      Provider: `arn:aws:iam::${role.account}:oidc-provider/${issuer.replace(/^https?:\/\//, '')}`,
      PackedPolicySize: percent > 0 ? percent : undefined,
    });
  return {
    result,
    issued: { ...credentials, action, roleArn, roleSessionName: sessionName, subject, sourceIdentity, ...(attribution.tags ? { tags: attribution.tags, transitiveTagKeys: attribution.transitiveTagKeys } : {}) },
  };
}

/**
 * The session's SourceIdentity and principal tags, from the token's own claims, within
 * AWS's limits (IAM User Guide, "Passing session tags using AssumeRoleWithWebIdentity"):
 * at most 50 tags, keys 1-128 and values 0-256 characters of the tag character set, each
 * value a one-element list; a source identity of 2-64 characters of [\w+=,.@-], not aws:.
 */
function tokenAttribution(claims: Record<string, unknown>): { sourceIdentity?: string; tags?: Record<string, string>; transitiveTagKeys?: string[] } {
  const invalid = (why: string) => new StsError('InvalidIdentityToken', `The web identity token that was passed could not be validated: ${why}`);
  const sourceIdentity = claims['https://aws.amazon.com/source_identity'];
  if (sourceIdentity !== undefined) {
    if (typeof sourceIdentity !== 'string' || !/^[\w+=,.@-]{2,64}$/.test(sourceIdentity) || sourceIdentity.toLowerCase().startsWith('aws:')) throw invalid('invalid source_identity claim');
  }
  const tagsClaim = claims['https://aws.amazon.com/tags'];
  if (tagsClaim === undefined) return { sourceIdentity };
  if (typeof tagsClaim !== 'object' || tagsClaim === null || Array.isArray(tagsClaim)) throw invalid('invalid tags claim');
  const { principal_tags: principal, transitive_tag_keys: transitive } = tagsClaim as Record<string, unknown>;
  if (typeof principal !== 'object' || principal === null || Array.isArray(principal)) throw invalid('tags claim without principal_tags');
  const tags: Record<string, string> = {};
  const entries = Object.entries(principal as Record<string, unknown>);
  if (entries.length > 50) throw invalid('more than 50 principal tags');
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > 128 || !TAG_TEXT.test(key)) throw invalid(`invalid principal tag key ${key.slice(0, 16)}`);
    if (!Array.isArray(value) || value.length !== 1 || typeof value[0] !== 'string' || value[0].length > 256 || !TAG_TEXT.test(value[0])) throw invalid(`invalid value of principal tag ${key}`);
    tags[key] = value[0];
  }
  let transitiveTagKeys: string[] | undefined;
  if (transitive !== undefined) {
    if (!Array.isArray(transitive) || !transitive.every((k) => typeof k === 'string' && Object.hasOwn(tags, k))) throw invalid('transitive_tag_keys must name principal tags');
    transitiveTagKeys = transitive as string[];
  }
  return { sourceIdentity, tags, transitiveTagKeys };
}

function assumeRole(settings: StsSettings, { action, params, headers }: StsCall): StsOutcome {
  if (!isSigned(headers)) throw new StsError('MissingAuthenticationToken', 'Request is missing Authentication Token');
  const check = new Constraints();
  const policyArns = commonConstraints(check, params, 43_200);
  const tagKeys = members(params, 'Tags', '.Key');
  const tagValues = members(params, 'Tags', '.Value');
  check.count('tags', tagKeys, 50);
  tagKeys.forEach((key, n) => {
    check.length(`tags.${n + 1}.member.key`, key, 1, 128);
    check.pattern(`tags.${n + 1}.member.key`, key, TAG_TEXT, '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+');
  });
  tagValues.forEach((value, n) => {
    check.length(`tags.${n + 1}.member.value`, value, 0, 256);
    check.pattern(`tags.${n + 1}.member.value`, value, TAG_TEXT, '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*');
  });
  check.count('transitiveTagKeys', members(params, 'TransitiveTagKeys'), 50);
  check.length('externalId', params.ExternalId, 2, 1224);
  check.pattern('externalId', params.ExternalId, /^[\w+=,.@:/-]*$/, '[\\w+=,.@:\\/-]*');
  check.length('sourceIdentity', params.SourceIdentity, 2, 64);
  check.pattern('sourceIdentity', params.SourceIdentity, SESSION_NAME, SESSION_NAME_SHOWN);
  check.check();
  if (params.SourceIdentity?.toLowerCase().startsWith('aws:') === true) {
    throw new StsError('ValidationError', "SourceIdentity cannot start with the reserved prefix 'aws:'");
  }
  const { RoleArn: roleArn = '', RoleSessionName: sessionName = '' } = params;
  const role = parseRoleArn(roleArn);
  const policy = checkPolicy(params.Policy);
  const tags = tagKeys.map((key, n) => `${key}=${tagValues[n] ?? ''}`);
  const percent = packedPolicyPercent(settings.packedPolicyLimitBytes, [policy ?? '', ...policyArns, ...tags]);
  if (percent > 100) throw packedTooLarge(percent);

  const duration = Number(params.DurationSeconds ?? 3600);
  // Temporary credentials (a session token) make this role chaining, capped at one hour.
  if (headers['x-amz-security-token'] !== undefined && duration > 3600) {
    throw new StsError('ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
  }
  if (duration > settings.maxSessionDuration) {
    throw new StsError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  }
  const credentials = awsCredentials(expiresAfter(duration));
  const result = elements({ SourceIdentity: params.SourceIdentity })
    + assumedRoleUser(role, sessionName)
    + credentialsXml('aws', credentials)
    + elements({ PackedPolicySize: percent > 0 ? percent : undefined });
  return {
    result,
    issued: { ...credentials, action, roleArn, roleSessionName: sessionName, sourceIdentity: params.SourceIdentity },
  };
}

/** Constraints shared by both actions; returns the session policy ARNs. */
function commonConstraints(check: Constraints, params: StsParams, maxDuration: number): string[] {
  if (check.required('roleArn', params.RoleArn)) check.length('roleArn', params.RoleArn, 20, 2048);
  if (check.required('roleSessionName', params.RoleSessionName)) {
    check.length('roleSessionName', params.RoleSessionName, 2, 64);
    check.pattern('roleSessionName', params.RoleSessionName, SESSION_NAME, SESSION_NAME_SHOWN);
  }
  check.integer('durationSeconds', params.DurationSeconds, 900, maxDuration);
  check.length('policy', params.Policy, 1, 2048);
  const policyArns = members(params, 'PolicyArns', '.arn');
  check.count('policyArns', policyArns, 10);
  policyArns.forEach((arn, n) => check.length(`policyArns.${n + 1}.member.arn`, arn, 20, 2048));
  return policyArns;
}

interface Role {
  readonly account: string;
  readonly name: string;
  readonly id: string;
}

function parseRoleArn(arn: string): Role {
  const match = ROLE_ARN.exec(arn);
  if (match === null) throw new StsError('ValidationError', 'Request ARN is invalid');
  const digest = createHash('sha256').update(arn).digest();
  let id = 'AROA';
  for (let i = 0; i < 17; i += 1) id += ROLE_ID_CHARS[digest[i] % ROLE_ID_CHARS.length];
  return { account: match[1], name: match[2], id };
}

const ROLE_ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function assumedRoleUser(role: Role, sessionName: string): string {
  return `<AssumedRoleUser>${elements({
    Arn: `arn:aws:sts::${role.account}:assumed-role/${role.name}/${sessionName}`,
    AssumedRoleId: `${role.id}:${sessionName}`,
  })}</AssumedRoleUser>`;
}

/** The minified policy, or undefined when none was given. */
function checkPolicy(policy: string | undefined): string | undefined {
  if (policy === undefined) return undefined;
  const parsed = parsePolicy(policy);
  if (parsed.ok) return parsed.minified;
  throw new StsError('MalformedPolicyDocument', parsed.problem === 'not_json' ? 'The policy is not in the valid JSON format.' : 'Syntax errors in policy.');
}

function packedTooLarge(percent: number): StsError {
  return new StsError('PackedPolicyTooLarge', `Packed policy consumes ${percent}% of allotted space, please use smaller policy.`);
}

function tokenError(verdict: Extract<TokenVerdict, { ok: false }>): StsError {
  switch (verdict.failure) {
    case 'expired':
      return new StsError('ExpiredTokenException', verdict.message);
    case 'unknown_issuer':
      return new StsError('InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${verdict.message}`);
    case 'audience':
      return new StsError('InvalidIdentityToken', 'Incorrect token audience');
    case 'key_unavailable':
      return new StsError('InvalidIdentityToken', "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements");
    case 'key_not_found':
    case 'signature':
      return new StsError('InvalidIdentityToken', 'The web identity token signature could not be verified');
    case 'not_yet_valid':
      return new StsError('InvalidIdentityToken', 'The web identity token is not yet valid');
    case 'malformed':
    case 'claim':
      return new StsError('InvalidIdentityToken', `The web identity token that was passed could not be validated: ${verdict.message}`);
  }
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
