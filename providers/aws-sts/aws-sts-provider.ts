import type { STSClient } from '@aws-sdk/client-sts';
import type { AccessProvider, MintContext, MintedCredential, ProviderDependencies } from '../../broker-core';
import { AWS_SOURCE_IDENTITY, AWS_TAG_VALUE, renderTemplate } from '../sts-common/claim-templates';
import { assumeRole, createStsClient, policyDocument, roleSessionName, WebIdentityStsClient } from '../sts-common/sts-client';
import type { AwsStsKeyConfig, AwsStsProviderConfig } from './descriptor';

const ANY = /^[\s\S]*$/;
/** The claims AWS reads from a web identity token (IAM User Guide, "Passing session tags using AssumeRoleWithWebIdentity"). */
const AWS_SOURCE_IDENTITY_CLAIM = 'https://aws.amazon.com/source_identity';
const AWS_TAGS_CLAIM = 'https://aws.amazon.com/tags';

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
    const webIdentityToken = await context.brokerToken(this.config.brokerAuth?.audience, this.attribution(key, context));
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

  /**
   * Web identity: AWS reads the session's SourceIdentity and principal tags only from the
   * token's own claims, which the broker's own issuer signs for this mint (the config
   * allows these fields here only with `tokenSource: self`).
   */
  private attribution(key: AwsStsKeyConfig, context: MintContext): Record<string, unknown> | undefined {
    if (key.sessionTags === undefined && key.sourceIdentity === undefined) return undefined;
    const claims: Record<string, unknown> = {};
    if (key.sourceIdentity !== undefined) claims[AWS_SOURCE_IDENTITY_CLAIM] = renderTemplate(key.sourceIdentity, context.claims, 'sourceIdentity', AWS_SOURCE_IDENTITY);
    const tags = this.sessionTags(key, context);
    if (tags.length > 0) {
      claims[AWS_TAGS_CLAIM] = {
        principal_tags: Object.fromEntries(tags.map(({ Key, Value }) => [Key, [Value]])),
        ...(key.transitiveTagKeys === undefined ? {} : { transitive_tag_keys: key.transitiveTagKeys }),
      };
    }
    return claims;
  }

  private sessionTags(key: AwsStsKeyConfig, context: MintContext): Array<{ Key: string; Value: string }> {
    return Object.entries(key.sessionTags ?? {}).map(([Key, template]) => ({
      Key,
      Value: renderTemplate(template, context.claims, `session tag '${Key}'`, AWS_TAG_VALUE),
    }));
  }

  private async assumeRole(context: MintContext): Promise<MintedCredential> {
    const key = context.key as AwsStsKeyConfig;
    const tags = this.sessionTags(key, context);
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
