import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AccessProvider, MintContext, MintedCredential, ProviderDependencies } from '../../broker-core';
import {
  CLOUD_PLATFORM_SCOPE,
  DEFAULT_IAM_CREDENTIALS_ENDPOINT,
  DEFAULT_STS_ENDPOINT,
  projectIdOf,
  type GcpKeyConfig,
  type GcpProviderConfig,
} from './gcp-config';
import { capAnswers } from '../http-common/capped-agent';
import { generateAccessToken, type GcpTransport } from './generate-access-token';

/** `type: gcp`: workload identity federation, then a service account's access token. */
export function createGcpProvider(config: GcpProviderConfig, deps: ProviderDependencies): AccessProvider {
  const agentOptions = { keepAlive: true, maxSockets: 256 };
  const http = capAnswers(new HttpAgent(agentOptions));
  const https = capAnswers(new HttpsAgent(agentOptions));
  const transport: GcpTransport = {
    agent: (url) => (url.protocol === 'http:' ? http : https),
    timeoutMs: deps.settings.upstreamTimeoutMs,
  };
  return new GcpAccessProvider(config, transport);
}

class GcpAccessProvider implements AccessProvider {
  readonly type = 'gcp';
  readonly name: string;
  private readonly stsEndpoint: string;
  private readonly iamCredentialsEndpoint: string;
  /**
   * GCP accepts the provider's resource name as the token's audience when the pool
   * provider lists no allowed audiences; `brokerAuth.audience` names another.
   */
  private readonly brokerAudience: string;

  constructor(
    private readonly config: GcpProviderConfig,
    private readonly transport: GcpTransport,
  ) {
    this.name = config.name;
    this.stsEndpoint = config.stsEndpoint ?? DEFAULT_STS_ENDPOINT;
    this.iamCredentialsEndpoint = (config.iamCredentialsEndpoint ?? DEFAULT_IAM_CREDENTIALS_ENDPOINT).replace(/\/+$/, '');
    this.brokerAudience = config.brokerAuth?.audience ?? config.workloadIdentityProvider;
  }

  async mint(context: MintContext): Promise<MintedCredential> {
    const key = context.key as GcpKeyConfig;
    const subjectToken = await context.brokerToken(this.brokerAudience);
    const token = await generateAccessToken(
      {
        workloadIdentityProvider: this.config.workloadIdentityProvider,
        stsEndpoint: this.stsEndpoint,
        iamCredentialsEndpoint: this.iamCredentialsEndpoint,
        subjectToken,
        serviceAccount: key.serviceAccount,
        scopes: key.scopes ?? [CLOUD_PLATFORM_SCOPE],
        delegates: key.delegates ?? [],
        lifetimeSeconds: context.durationSeconds,
      },
      this.transport,
      context,
    );
    const projectId = key.projectId ?? projectIdOf(key.serviceAccount);
    return {
      fields: {
        AccessToken: token.accessToken,
        ExpireTime: token.expireTime.toISOString(),
        ...(projectId === undefined ? {} : { ProjectId: projectId }),
      },
      expiresAt: token.expireTime,
      // Google access tokens have no public id; a hash lets audit correlate without the secret.
      credentialId: `sha256:${createHash('sha256').update(token.accessToken).digest('hex').slice(0, 32)}`,
    };
  }
}
