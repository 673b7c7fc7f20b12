import { decodeJwt } from 'jose';
import type { AccessProvider, MintContext, MintedCredential } from '../../broker-core';
import { renderTemplate } from '../sts-common/claim-templates';
import { BROKER_JWT_CLAIM_VALUE, type BrokerJwtKeyConfig, type BrokerJwtProviderConfig } from './broker-jwt-config';

/**
 * `type: broker-jwt`: the credential is the broker's own token for the key's audience,
 * signed by `brokerIdentity` with the caller in `act` and the key's templated claims, for
 * services that trust the broker's issuer (Vault JWT auth, Kubernetes, internal APIs).
 */
export function createBrokerJwtProvider(config: BrokerJwtProviderConfig): AccessProvider {
  return {
    name: config.name,
    type: 'broker-jwt',
    async mint(context: MintContext): Promise<MintedCredential> {
      const key = context.key as BrokerJwtKeyConfig;
      const claims = Object.fromEntries(
        Object.entries(key.claims ?? {}).map(([name, template]) => [name, renderTemplate(template, context.claims, `claim '${name}'`, BROKER_JWT_CLAIM_VALUE)]),
      );
      const token = await context.brokerToken(key.audience, claims, { lifetimeSeconds: context.durationSeconds });
      const { exp, jti } = decodeJwt(token);
      const expiresAt = new Date(exp! * 1000);
      return { fields: { Token: token, ExpiresAt: expiresAt.toISOString() }, expiresAt, ...(jti === undefined ? {} : { credentialId: jti }) };
    },
  };
}
