import type { AccessProvider, MintContext, MintedCredential, ProviderDependencies } from '../../broker-core';
import { policyDocument, WebIdentityStsClient } from '../sts-common/sts-client';
import { isPolicyName, roleArnOf, type MinioKeyConfig, type MinioStsProviderConfig } from './descriptor';

/**
 * `minio-sts`: AssumeRoleWithWebIdentity at the MinIO endpoint with the broker's token.
 * A key's `roleArn` picks a role-policy OpenID provider; its `policy` narrows the session.
 */
class MinioStsProvider implements AccessProvider {
  readonly type = 'minio-sts';
  readonly name: string;
  private readonly client: WebIdentityStsClient;

  constructor(
    private readonly config: MinioStsProviderConfig,
    deps: ProviderDependencies,
  ) {
    this.name = config.name;
    this.client = new WebIdentityStsClient({
      endpoint: config.endpoint,
      region: config.region ?? 'us-east-1',
      timeoutMs: deps.settings.upstreamTimeoutMs,
      http: deps.http,
      flavor: 'MinIO STS',
    });
  }

  async mint(context: MintContext): Promise<MintedCredential> {
    const key = context.key as MinioKeyConfig;
    const webIdentityToken = await context.brokerToken(this.config.brokerAuth?.audience);
    // MinIO ignores RoleSessionName but the SDK always sent one: kept, so the wire is unchanged.
    const minted = await this.client.assumeRoleWithWebIdentity(
      {
        RoleArn: roleArnOf(this.config, key),
        RoleSessionName: 'voidkey',
        WebIdentityToken: webIdentityToken,
        DurationSeconds: context.durationSeconds,
        // A policy name (Voidkey) is not a session policy: MinIO picks the policy itself.
        Policy: isPolicyName(key.policy) ? undefined : policyDocument(key.policy),
      },
      context,
    );
    return { ...minted, fields: { ...minted.fields, Endpoint: this.config.endpoint } };
  }
}

export function createMinioStsProvider(provider: MinioStsProviderConfig, deps: ProviderDependencies): AccessProvider {
  return new MinioStsProvider(provider, deps);
}
