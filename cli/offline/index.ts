/**
 * The offline tools: config validate and explain, audit verify. They carry ajv, yaml,
 * the provider schemas and node:crypto, which commands that talk to the broker never
 * need; cli/offline-tools.ts loads this module on first use.
 */
export { formatIssue } from '../../broker-core/config/config-error';
export { checkConfig, type ConfigCheck } from './check-config';
export { configSchema } from './config-schema';
export { parseEnvFile } from './env-file';
export { renderExplanation } from './explain-report';
export { explainToken, type Explanation } from './explain-token';
export { passes, renderValidation } from './validate-report';
export { verifyAuditFile, type AuditVerdict } from './verify-audit';
export { CedarPolicySet, PolicySetError } from '../../broker-core/policy/cedar-policy-set';
export { readPolicyPath } from './policy-files';
export { replayAudit, renderReplay, type ReplayReport } from './policy-replay';
export { issuerJwks, issuerTrust, renderTrust, writeSigningKey, IssuerConfigMissing, type IssuerTrust } from './issuer-trust';
export { SigningKeyError } from '../../broker-core/issuer/signing-keys';
