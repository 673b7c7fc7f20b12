import { REASONS, type BrokerErrorCode } from '../broker-core';
import { FRAMEWORK_ERRORS } from './error-filter';
import { STATUS_BY_CODE } from './http-status';

/**
 * JSON Schemas (draft 2020-12) of every answer the broker sends: the one definition that
 * /openapi.json publishes and the contract tests hold the real server's answers to.
 */

/** Error codes answered only by the Lambda handler, before the app exists. */
export const LAMBDA_ERRORS = [
  { status: 503, error: 'config_invalid', code: 'ERR_CONFIG_INVALID' },
  { status: 503, error: 'startup_failed', code: 'ERR_STARTUP_FAILED' },
] as const;

export interface ErrorCodeRow {
  readonly status: number;
  readonly error: string;
  readonly code: string;
}

/**
 * `mint_failed` (several keys, one failed) answers with the status of the first failure:
 * one a single key can meet while it is minted.
 */
const MINT_FAILED_STATUSES = [403, 502, 503, 504];

/** Every error the broker can answer with: its status, reason and code. */
export function errorCodes(): ErrorCodeRow[] {
  const rows: ErrorCodeRow[] = (Object.keys(REASONS) as BrokerErrorCode[]).map((code) => ({ status: STATUS_BY_CODE[code], error: REASONS[code], code }));
  for (const status of MINT_FAILED_STATUSES) {
    if (status !== STATUS_BY_CODE.ERR_MINT_FAILED) rows.push({ status, error: REASONS.ERR_MINT_FAILED, code: 'ERR_MINT_FAILED' });
  }
  for (const [status, known] of Object.entries(FRAMEWORK_ERRORS)) {
    if (!rows.some((row) => row.code === known.code)) rows.push({ status: Number(status), error: known.error, code: known.code });
  }
  rows.push(...LAMBDA_ERRORS);
  return rows;
}

const KEY_FAILURE = {
  type: 'object',
  additionalProperties: false,
  required: ['error', 'code', 'message'],
  properties: { error: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
} as const;

/** `{error, code, message, requestId}` for one status; `keys` names each key's failure (`mint_failed`). */
export function errorSchema(status: number): Record<string, unknown> {
  const rows = errorCodes().filter((row) => row.status === status);
  return {
    type: 'object',
    additionalProperties: false,
    required: ['error', 'code', 'message', 'requestId'],
    properties: {
      error: { enum: [...new Set(rows.map((row) => row.error))], description: 'stable reason (docs/api.md lists each)' },
      code: { enum: [...new Set(rows.map((row) => row.code))], description: 'stable error code' },
      message: { type: 'string', description: 'for people; never a token, an upstream body or a stack' },
      requestId: { type: 'string', minLength: 1, description: 'the X-Request-Id of this answer; the audit event carries the detail' },
      keys: { type: 'object', additionalProperties: KEY_FAILURE, description: 'mint_failed: each failed key and its reason' },
    },
  };
}

export const MINTED_KEY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['credentials', 'expiresAt', 'metadata'],
  properties: {
    credentials: { type: 'object', additionalProperties: { type: 'string' }, description: 'output name (an environment variable) → value' },
    expiresAt: { type: 'string', format: 'date-time', description: 'ISO 8601 UTC' },
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['provider', 'type', 'identity', 'fields'],
      properties: {
        provider: { type: 'string' },
        type: { type: 'string' },
        identity: { type: 'string' },
        credentialId: { type: 'string', description: 'a non-secret id of the credential (e.g. the access key id)' },
        fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'output name → the provider field it carries' },
      },
    },
  },
} as const;

/** The flat map Voidkey's CLI parses: key name → credentials. */
export const MINT_RESPONSE_SCHEMA = { type: 'object', minProperties: 1, additionalProperties: MINTED_KEY_SCHEMA } as const;

export const KEYS_RESPONSE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['idp', 'subject', 'identities', 'keys'],
  properties: {
    idp: { type: 'string' },
    subject: { type: 'string' },
    identities: { type: 'array', items: { type: 'string' } },
    keys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'provider', 'type', 'identity', 'outputs', 'duration'],
        properties: {
          name: { type: 'string' },
          provider: { type: 'string' },
          type: { type: 'string' },
          identity: { type: 'string' },
          outputs: { type: 'array', items: { type: 'string' } },
          duration: {
            type: 'object',
            additionalProperties: false,
            required: ['min', 'max', 'default'],
            properties: { min: { type: 'integer' }, max: { type: 'integer' }, default: { type: 'integer' } },
          },
        },
      },
    },
  },
} as const;

export const IDP_PROVIDERS_SCHEMA = {
  type: 'array',
  items: { type: 'object', additionalProperties: false, required: ['name', 'isDefault'], properties: { name: { type: 'string' }, isDefault: { type: 'boolean' } } },
} as const;

export const HEALTH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'version', 'uptimeSeconds'],
  properties: { status: { const: 'ok' }, version: { type: 'string' }, uptimeSeconds: { type: 'integer', minimum: 0 } },
} as const;

export const HEALTHZ_SCHEMA = { type: 'object', additionalProperties: false, required: ['status'], properties: { status: { const: 'ok' } } } as const;

export const READYZ_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'idps', 'audit'],
  properties: {
    status: { enum: ['ready', 'not_ready', 'shutting_down'] },
    idps: { type: 'object', additionalProperties: { enum: ['ok', 'unavailable'] }, description: 'IdP name → whether its signing keys are cached or fetchable now' },
    audit: { enum: ['ok', 'unwritable'] },
  },
} as const;
