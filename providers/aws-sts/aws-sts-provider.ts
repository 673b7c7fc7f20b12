import type { STSClient } from '@aws-sdk/client-sts';
import type { AccessProvider, MintContext, MintedCredential, ProviderDependencies } from '../../broker-core';
import { AWS_SOURCE_IDENTITY, AWS_TAG_VALUE, renderTemplate } from '../sts-common/claim-templates';
import { assumeRole, createStsClient, policyDocument, roleSessionName, WebIdentityStsClient } from '../sts-common/sts-client';
import type { AwsStsKeyConfig, AwsStsProviderConfig } from './descriptor';

const ANY = /^[\s\S]*$/;

/**
 * `aws-sts`. Web identity (default): AssumeRoleWithWebIdentity, unsigned, with the
 * broker's own token in the POST body. Ambient: AssumeRole signed with the broker's own
 * AWS credentials (Lambda role, IRSA, instance profile, environment), carrying
 * SourceIdentity and session tags from the caller's claims so CloudTrail shows who asked.
 */
class AwsStsProvider implements AccessProvider {
  readonly type = 'aws-sts';
  readonly name: string;
  /** The SDK, for the signed AssumeRole only; created on the first ambient mint. */
  private client?: STSClient;
  private readonly webIdentity: WebIdentityStsClient;

  constructor(
    private readonly config: AwsStsProviderConfig,
    private readonly deps: ProviderDependencies,
  ) {
    this.name = config.name;
    // The provider's endpoint wins over AWS_ENDPOINT_URL_STS: an explicit value is always passed.
    this.webIdentity = new WebIdentityStsClient({ ...this.stsOptions(), http: deps.http, flavor: 'AWS STS' });
  }

  private stsOptions() {
    return { endpoint: this.config.endpoint, region: this.config.region ?? 'us-east-1', timeoutMs: this.deps.settings.upstreamTimeoutMs };
  }

  mint(context: MintContext): Promise<MintedCredential> {
    return this.config.auth === 'ambient' ? this.assumeRole(context) : this.assumeRoleWithWebIdentity(context);
  }

  private async assumeRoleWithWebIdentity(context: MintContext): Promise<MintedCredential> {
    const key = context.key as AwsStsKeyConfig;
    const webIdentityToken = await context.brokerToken(this.config.brokerAuth?.audience);
    return this.webIdentity.assumeRoleWithWebIdentity(
      {
        RoleArn: key.roleArn ?? this.config.roleArn!,
        RoleSessionName: this.sessionName(key, context),
        WebIdentityToken: webIdentityToken,
        DurationSeconds: context.durationSeconds,
        Policy: policyDocument(key.policy),
        PolicyArns: key.policyArns?.map((arn) => ({ arn })),
      },
      context,
    );
  }

  private async assumeRole(context: MintContext): Promise<MintedCredential> {
    const key = context.key as AwsStsKeyConfig;
    const tags = Object.entries(key.sessionTags ?? {}).map(([Key, template]) => ({
      Key,
      Value: renderTemplate(template, context.claims, `session tag '${Key}'`, AWS_TAG_VALUE),
    }));
    this.client ??= createStsClient(this.stsOptions());
    return assumeRole(
      this.client,
      {
        RoleArn: key.roleArn ?? this.config.roleArn!,
        RoleSessionName: this.sessionName(key, context),
        DurationSeconds: context.durationSeconds,
        Policy: policyDocument(key.policy),
        PolicyArns: key.policyArns?.map((arn) => ({ arn })),
        ExternalId: key.externalId,
        SourceIdentity: key.sourceIdentity === undefined ? undefined : renderTemplate(key.sourceIdentity, context.claims, 'sourceIdentity', AWS_SOURCE_IDENTITY),
        Tags: tags.length > 0 ? tags : undefined,
        TransitiveTagKeys: key.transitiveTagKeys,
      },
      context,
      'AWS STS',
    );
  }

  /** Always valid: a template is rendered, then sanitised like a subject. */
  private sessionName(key: AwsStsKeyConfig, context: MintContext): string {
    if (key.roleSessionName === undefined) return roleSessionName(context.subject);
    return roleSessionName(renderTemplate(key.roleSessionName, context.claims, 'roleSessionName', ANY));
  }
}

export function createAwsStsProvider(provider: AwsStsProviderConfig, deps: ProviderDependencies): AccessProvider {
  return new AwsStsProvider(provider, deps);
}
