import { expiresAfter, isSigned, parsePolicy, type StsCall, type StsOutcome, type StsSettings } from './sts-common';
import { StsError, credentialsXml, elements, minioCredentials, STS_VERSION } from './sts-wire';

/** MinIO's STS: the AWS Query protocol with MinIO's own checks, codes and messages. */
export async function runMinioAction(settings: StsSettings, call: StsCall): Promise<StsOutcome> {
  if (call.params.Version !== STS_VERSION) {
    throw new StsError('MissingParameter', `Invalid STS API version ${call.params.Version ?? ''}, expecting ${STS_VERSION}`);
  }
  if (call.action === 'AssumeRole' && isSigned(call.headers)) return assumeRole(settings, call);
  if (call.action === 'AssumeRole') throw new StsError('AccessDenied', 'Access Denied.');
  if (call.action === 'AssumeRoleWithWebIdentity') return assumeRoleWithWebIdentity(settings, call);
  throw new StsError('InvalidParameterValue', `Unsupported action ${call.action}`);
}

const MIN_DURATION = 900;
const MAX_DURATION = 365 * 24 * 3600;

async function assumeRoleWithWebIdentity(settings: StsSettings, { action, params }: StsCall): Promise<StsOutcome> {
  const token = params.WebIdentityToken ?? params.Token ?? '';
  // A role-policy provider needs its RoleArn; a claim-based one ignores any RoleArn
  // (so that SDKs, which insist on sending one, still work).
  if (settings.minioRoleArn !== undefined && params.RoleArn !== settings.minioRoleArn) {
    throw new StsError('InvalidParameterValue', `Error processing RoleArn parameter: RoleARN ${params.RoleArn ?? ''} is not defined`);
  }
  const duration = durationSeconds(params.DurationSeconds);

  const verdict = await settings.checkToken(token);
  if (!verdict.ok) {
    if (verdict.failure === 'expired') throw new StsError('ExpiredToken', 'The web identity token that was passed is expired or is not valid. Get a new identity token from the identity provider and then retry the request.');
    throw new StsError('InvalidParameterValue', verdict.message);
  }
  const { claims } = verdict;
  if (settings.minioRoleArn === undefined && claims[settings.minioPolicyClaim] === undefined) {
    throw new StsError('InvalidParameterValue', `${settings.minioPolicyClaim} claim missing from the JWT token, credentials will not be generated`);
  }
  checkSessionPolicy(params.Policy);
  const subject = typeof claims.sub === 'string' ? claims.sub : '';
  if (subject === '') {
    throw new StsError('InvalidParameterValue', 'STS JWT Token has `sub` claim missing, `sub` claim is mandatory');
  }
  if (settings.condition !== undefined && !settings.condition(claims, params)) {
    throw new StsError('AccessDenied', 'this user does not have enough permission');
  }

  const credentials = minioCredentials(expiresAfter(duration), { sub: subject, iss: claims.iss, aud: claims.aud }, settings.minioSigningSecret);
  const result = emptyAssumedRoleUser() + credentialsXml('minio', credentials) + elements({ SubjectFromWebIdentityToken: subject });
  return { result, issued: { ...credentials, action, roleArn: params.RoleArn, subject } };
}

function assumeRole(settings: StsSettings, { action, params }: StsCall): StsOutcome {
  checkSessionPolicy(params.Policy);
  const duration = durationSeconds(params.DurationSeconds);
  const credentials = minioCredentials(expiresAfter(duration), { parent: 'minio-user' }, settings.minioSigningSecret);
  return { result: emptyAssumedRoleUser() + credentialsXml('minio', credentials), issued: { ...credentials, action } };
}

function durationSeconds(value: string | undefined): number {
  if (value === undefined || value === '') return 3600;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < MIN_DURATION || seconds > MAX_DURATION) {
    throw new StsError('InvalidParameterValue', 'invalid token expiry');
  }
  return seconds;
}

/** MinIO re-serialises the policy and then applies AWS's 2048-character limit. */
function checkSessionPolicy(policy: string | undefined): void {
  if (policy === undefined || policy === '') return;
  const parsed = parsePolicy(policy);
  if (!parsed.ok) {
    throw new StsError('InvalidParameterValue', parsed.problem === 'no_version' ? "Version cannot be empty expecting '2012-10-17'" : 'invalid session policy document');
  }
  if (parsed.minified.length > 2048) throw new StsError('InvalidParameterValue', 'Session policy should not exceed 2048 characters');
}

/** MinIO always writes the element, with empty fields. */
function emptyAssumedRoleUser(): string {
  return '<AssumedRoleUser><Arn></Arn><AssumeRoleId></AssumeRoleId></AssumedRoleUser>';
}
