/** The public interface of broker-core: what the server, providers and CLI-side tools import. */
export * from './access/access-provider';
export * from './access/lazy-provider';
export * from './access/check-expiry';
export * from './access/retry-budget';
export * from './audit';
export * from './broker';
export * from './broker-auth/broker-token-source';
export * from './clock';
export * from './config/config-error';
export * from './config/load-config';
export * from './config/types';
export * from './errors';
export * from './http';
export * from './identity/claims';
export * from './identity/glob';
export * from './identity/identity-matcher';
export { tokenHash, TokenVerifier, type VerifiedToken } from './token/token-verifier';
export * from './audit-chain';
