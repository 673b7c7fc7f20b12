import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadSigningKeys, signingKeyFromPem } from '../../broker-core/issuer/signing-keys';
import type { BrokerConfig, KeyConfig } from '../../broker-core/config/types';
import { providerDescriptors } from '../../providers/descriptors';

/** The public JWKS the broker serves at /.well-known/jwks.json, from the config's key files. */
export function issuerJwks(config: BrokerConfig): { keys: object[] } {
  if (!config.brokerIdentity) throw new IssuerConfigMissing("the config has no 'brokerIdentity'");
  const keys = loadSigningKeys(config.brokerIdentity, { stat: statSync, read: (path) => readFileSync(path, 'utf8'), platform: process.platform });
  return { keys: keys.map((key) => key.publicJwk) };
}

export class IssuerConfigMissing extends Error {}

/** `voidkey issuer keygen`: a new PKCS#8 PEM key written with mode 0600, never over an existing file. */
export function writeSigningKey(path: string, type: 'ec-p256' | 'rsa2048' | 'rsa3072'): { ok: true; kid: string } | { ok: false; code: string } {
  const pair = type === 'ec-p256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: type === 'rsa2048' ? 2048 : 3072 });
  const pem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  try {
    // wx: an existing key (perhaps the one signing now) is never replaced.
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    return { ok: false, code: (err as NodeJS.ErrnoException).code ?? 'error' };
  }
  return { ok: true, kid: signingKeyFromPem(pem, path).kid };
}

export interface IssuerTrust {
  readonly key: string;
  readonly provider: string;
  readonly type: string;
  readonly issuer: string;
  /** The token's `sub` for this key: what every cloud-side trust pins. */
  readonly subject: string;
  readonly audience: string;
  readonly aws?: {
    readonly oidcProviderArn: string;
    readonly createOidcProvider: string;
    readonly trustPolicy: Record<string, unknown>;
  };
  readonly minio?: { readonly environment: Record<string, string> };
  readonly gcp?: {
    readonly createProvider: string;
    readonly attributeMapping: Record<string, string>;
    readonly allowedAudiences: readonly string[];
    readonly principal: string;
    readonly grantServiceAccount?: string;
  };
  readonly azure?: { readonly federatedCredential: { name: string; issuer: string; subject: string; audiences: string[]; description: string }; readonly createCommand: string };
}

const PROVIDER_NAME = /^\/\/iam\.googleapis\.com\/projects\/(\d+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/providers\/([^/]+)$/;

/**
 * What a cloud must be told to trust the broker's issuer for one key: the token's iss,
 * sub (`voidkey:key:<KEY>`) and aud, in each cloud's own words.
 */
export function issuerTrust(config: BrokerConfig, keyName: string): IssuerTrust {
  if (!config.brokerIdentity) throw new IssuerConfigMissing("the config has no 'brokerIdentity'");
  const key = config.clientIdentities.map((identity) => identity.keys[keyName]).find((k): k is KeyConfig => k !== undefined);
  if (!key) throw new IssuerConfigMissing(`no identity grants a key named '${keyName}'`);
  const provider = config.accessProviders.find((p) => p.name === key.provider)!;
  const brokerAuth = provider.brokerAuth as { tokenSource?: string; audience?: string } | undefined;
  if (brokerAuth?.tokenSource !== 'self') throw new IssuerConfigMissing(`provider '${provider.name}' of key '${keyName}' does not use 'brokerAuth: {tokenSource: self}'`);
  const descriptor = providerDescriptors().get(provider.type);
  const audience = brokerAuth.audience ?? descriptor?.selfAudience?.(provider) ?? '';
  const issuer = config.brokerIdentity.issuer;
  const subject = `voidkey:key:${keyName}`;
  const base = { key: keyName, provider: provider.name, type: provider.type, issuer, subject, audience };
  const host = issuer.replace(/^https?:\/\//, '');
  switch (provider.type) {
    case 'aws-sts': {
      const roleArn = (key.roleArn ?? provider.roleArn) as string;
      const account = /^arn:aws[\w-]*:iam::(\d{12}):/.exec(roleArn)?.[1] ?? 'ACCOUNT_ID';
      const partition = /^arn:(aws[\w-]*):/.exec(roleArn)?.[1] ?? 'aws';
      const oidcProviderArn = `arn:${partition}:iam::${account}:oidc-provider/${host}`;
      const actions = ['sts:AssumeRoleWithWebIdentity'];
      if (key.sessionTags !== undefined) actions.push('sts:TagSession');
      if (key.sourceIdentity !== undefined) actions.push('sts:SetSourceIdentity');
      return {
        ...base,
        aws: {
          oidcProviderArn,
          createOidcProvider: `aws iam create-open-id-connect-provider --url ${issuer} --client-id-list ${audience}`,
          trustPolicy: {
            Version: '2012-10-17',
            Statement: [{
              Effect: 'Allow',
              Principal: { Federated: oidcProviderArn },
              Action: actions,
              Condition: { StringEquals: { [`${host}:sub`]: subject, [`${host}:aud`]: audience } },
            }],
          },
        },
      };
    }
    case 'minio-sts':
      return {
        ...base,
        minio: {
          environment: {
            MINIO_IDENTITY_OPENID_CONFIG_URL: `${issuer}/.well-known/openid-configuration`,
            MINIO_IDENTITY_OPENID_CLIENT_ID: audience,
            MINIO_IDENTITY_OPENID_CLAIM_USERINFO: 'off',
          },
        },
      };
    case 'gcp': {
      const name = String(provider.workloadIdentityProvider);
      const [, project = 'PROJECT_NUMBER', pool = 'POOL', providerId = 'PROVIDER'] = PROVIDER_NAME.exec(name) ?? [];
      const attributeMapping = { 'google.subject': 'assertion.sub' };
      const principal = `principal://iam.googleapis.com/projects/${project}/locations/global/workloadIdentityPools/${pool}/subject/${subject}`;
      const serviceAccount = typeof key.serviceAccount === 'string' ? key.serviceAccount : undefined;
      return {
        ...base,
        gcp: {
          createProvider: `gcloud iam workload-identity-pools providers create-oidc ${providerId} --project=${project} --location=global --workload-identity-pool=${pool} --issuer-uri=${issuer} --allowed-audiences=${audience} --attribute-mapping=google.subject=assertion.sub`,
          attributeMapping,
          allowedAudiences: [audience],
          principal,
          ...(serviceAccount ? { grantServiceAccount: `gcloud iam service-accounts add-iam-policy-binding ${serviceAccount} --role=roles/iam.workloadIdentityUser --member=${principal}` } : {}),
        },
      };
    }
    case 'azure': {
      const federatedCredential = { name: `voidkey-${keyName.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 120), issuer, subject, audiences: [audience], description: `Voidkey broker key ${keyName}` };
      const clientId = typeof key.clientId === 'string' ? key.clientId : 'APP_CLIENT_ID';
      return { ...base, azure: { federatedCredential, createCommand: `az ad app federated-credential create --id ${clientId} --parameters federated-credential.json` } };
    }
    default:
      return base;
  }
}

/** The text form: commands and documents to paste, each under a heading. */
export function renderTrust(trust: IssuerTrust): string {
  const lines = [`# key ${trust.key} (provider ${trust.provider}, ${trust.type}): iss=${trust.issuer} sub=${trust.subject} aud=${trust.audience}`, ''];
  if (trust.aws) {
    lines.push('# 1. AWS: the IAM OIDC provider for the broker\'s issuer (once per account)', trust.aws.createOidcProvider, '');
    lines.push(`# 2. AWS: the role's trust policy, pinned to this key's sub and aud`, JSON.stringify(trust.aws.trustPolicy, null, 2), '');
  }
  if (trust.minio) {
    lines.push('# MinIO: the OpenID provider settings (role policy: MINIO_IDENTITY_OPENID_ROLE_POLICY)');
    for (const [name, value] of Object.entries(trust.minio.environment)) lines.push(`${name}=${value}`);
    lines.push('');
  }
  if (trust.gcp) {
    lines.push('# 1. GCP: the workload identity pool provider (for a private issuer, --jwk-json-path=jwks.json from `voidkey issuer jwks`)', trust.gcp.createProvider, '');
    if (trust.gcp.grantServiceAccount) lines.push('# 2. GCP: let this key\'s principal impersonate the service account', trust.gcp.grantServiceAccount, '');
  }
  if (trust.azure) {
    lines.push('# Azure: the app\'s federated credential (federated-credential.json)', JSON.stringify(trust.azure.federatedCredential, null, 2), '', trust.azure.createCommand, '');
  }
  return `${lines.join('\n')}`;
}
