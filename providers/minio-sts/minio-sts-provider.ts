import type { STSClient } from '@aws-sdk/client-sts';
import type { AccessProvider, MintContext, MintedCredential, ProviderDependencies } from '../../broker-core';
import { assumeRoleWithWebIdentity, createStsClient, policyDocument } from '../sts-common/sts-client';
import { isPolicyName, roleArnOf, type MinioKeyConfig, type MinioStsProviderConfig } from './descriptor';

/**
 * `minio-sts`: AssumeRoleWithWebIdentity at the MinIO endpoint with the broker's token.
 * A key's `roleArn` picks a role-policy OpenID provider; its `policy` narrows the session.
 */
class MinioStsProvider implements AccessProvider {
  readonly type = 'minio-sts';
  readonly name: string;
  private readonly client: STSClient;

  constructor(
    private readonly config: MinioStsProviderConfig,
    timeoutMs: number,
  ) {
    this.name = config.name;
    this.client = createStsClient({ endpoint: config.endpoint, region: config.region ?? 'us-east-1', timeoutMs });
  }

  async mint(context: MintContext): Promise<MintedCredential> {
    const key = context.key as MinioKeyConfig;
    const webIdentityToken = await context.brokerToken(this.config.brokerAuth?.audience);
    // MinIO ignores RoleSessionName but the SDK requires one.
    const minted = await assumeRoleWithWebIdentity(
      this.client,
      {
        RoleArn: roleArnOf(this.config, key),
        RoleSessionName: 'voidkey',
        WebIdentityToken: webIdentityToken,
        DurationSeconds: context.durationSeconds,
        // A policy name (Voidkey) is not a session policy: MinIO picks the policy itself.
        Policy: isPolicyName(key.policy) ? undefined : policyDocument(key.policy),
      },
      context,
      'MinIO STS',
    );
    return { ...minted, fields: { ...minted.fields, Endpoint: this.config.endpoint } };
  }
}

export function createMinioStsProvider(provider: MinioStsProviderConfig, deps: ProviderDependencies): AccessProvider {
  return new MinioStsProvider(provider, deps.settings.upstreamTimeoutMs);
}
