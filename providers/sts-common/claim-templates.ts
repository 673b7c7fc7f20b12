import type { JWTPayload } from 'jose';
import { ClaimValueInvalid } from '../../broker-core/errors';
import { readClaim } from '../../broker-core/identity/claims';

const PLACEHOLDER = /\$\{claims\.([A-Za-z0-9_./:-]+)\}/g;

/** True when the text uses `${claims.NAME}`. */
export function isTemplate(text: string): boolean {
  return /\$\{claims\./.test(text);
}

/**
 * Renders `${claims.NAME}` from the verified token (a name starting with `/` is a JSON
 * pointer). A missing claim, a non-scalar one, or a result outside `allowed` refuses the
 * mint (403 claim_value_invalid): values are never silently rewritten.
 */
export function renderTemplate(template: string, claims: Readonly<JWTPayload>, field: string, allowed: RegExp): string {
  const value = template.replace(PLACEHOLDER, (_match, name: string) => {
    const claim = readClaim(claims, name);
    if (typeof claim === 'string' || typeof claim === 'number' || typeof claim === 'boolean') return String(claim);
    throw new ClaimValueInvalid(`the token lacks the claim '${name}' that ${field} needs`, { detail: `${field}: claim ${name} missing or not a scalar` });
  });
  if (!allowed.test(value)) {
    throw new ClaimValueInvalid(`the token's claims give ${field} a value AWS does not accept`, { detail: `${field}: rendered value outside ${allowed.source}` });
  }
  return value;
}

/** AWS's limits for the fields claims may fill. */
export const AWS_TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
export const AWS_TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;
export const AWS_SOURCE_IDENTITY = /^(?!aws:)[\w+=,.@-]{2,64}$/;
