import { createHash } from 'node:crypto';
import { Agent } from 'node:https';
import type { AccessProvider, MintContext, MintedCredential, ProviderDependencies } from '../../broker-core';
import {
  DEFAULT_AUTHORITY_HOST,
  DEFAULT_BROKER_AUDIENCE,
  readCaFile,
  type AzureKeyConfig,
  type AzureProviderConfig,
} from './azure-config';
import { getEntraToken, type EntraTransport } from './get-entra-token';
import { capAnswers } from '../http-common/capped-agent';

/** `type: azure`: the broker's token as a federated client assertion for the key's app. */
export function createAzureProvider(config: AzureProviderConfig, deps: ProviderDependencies): AccessProvider {
  const transport: EntraTransport = {
    agent: capAnswers(new Agent({ keepAlive: true, maxSockets: 256, ...(config.caFile === undefined ? {} : { ca: readCaFile(config.caFile) }) })),
    timeoutMs: deps.settings.upstreamTimeoutMs,
  };
  return new AzureAccessProvider(config, transport);
}

class AzureAccessProvider implements AccessProvider {
  readonly type = 'azure';
  readonly name: string;
  private readonly authorityHost: string;
  private readonly brokerAudience: string;

  constructor(
    private readonly config: AzureProviderConfig,
    private readonly transport: EntraTransport,
  ) {
    this.name = config.name;
    this.authorityHost = (config.authorityHost ?? DEFAULT_AUTHORITY_HOST).replace(/\/+$/, '');
    this.brokerAudience = config.brokerAuth?.audience ?? DEFAULT_BROKER_AUDIENCE;
  }

  async mint(context: MintContext): Promise<MintedCredential> {
    const key = context.key as AzureKeyConfig;
    const tenantId = key.tenantId ?? this.config.tenantId;
    // Fetched before the SDK runs, so a failure of the broker's own IdP keeps its own error.
    const assertion = await context.brokerToken(this.brokerAudience);
    const token = await getEntraToken(
      { authorityHost: this.authorityHost, tenantId, clientId: key.clientId, scope: key.scope, assertion },
      this.transport,
      context,
    );
    return {
      fields: {
        AccessToken: token.accessToken,
        ExpiresOn: token.expiresOn.toISOString(),
        TenantId: tenantId,
        ClientId: key.clientId,
      },
      expiresAt: token.expiresOn,
      // Entra tokens have no public id; a hash lets audit correlate without the secret.
      credentialId: `sha256:${createHash('sha256').update(token.accessToken).digest('hex').slice(0, 32)}`,
      ...(token.requestId === undefined ? {} : { upstreamRequestId: token.requestId }),
    };
  }
}
