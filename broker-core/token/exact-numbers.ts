/**
 * Numbers in a token compare on the value the issuer wrote, never on what `JSON.parse`
 * rounded it to. A claim written `100.00000000000000001` parses as the double 100 and
 * would match a condition `100`; so would `9007199254740993` a condition
 * `9007199254740992`. Integers whose source text does not denote exactly the parsed
 * value become an `InexactNumber`: not a number, so they match no condition (claim
 * conditions compare types strictly) and fail every numeric check (`exp`, `iat`, `nbf`).
 */
export class InexactNumber {
  constructor(readonly source: string) {
    Object.freeze(this);
  }

  toJSON(): string {
    return this.source;
  }
}

/** Only a text with a fraction, an exponent or a long digit run can hold a rounded integer. */
const MAY_ROUND = /\d[.eE]|\d{16}/;
/** A JSON string, escapes included: what it holds is never a number. */
const JSON_STRING = /"(?:[^"\\]|\\.)*"/g;
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * Parses a JSON text, keeping integers only where the text says exactly that integer.
 * `mayRound`: what a scan of the text already found (json-duplicates.ts `jsonShape`), so
 * the text is not searched twice; otherwise it is searched here.
 */
export function parseExactJson(text: string, mayRound?: boolean): unknown {
  // Most tokens hold such a pattern only inside strings (an issuer `http://127.0.0.1`, a
  // commit sha `…9e3…`); their numbers are plain integers and need no reviver.
  if (mayRound === false || (mayRound === undefined && (!MAY_ROUND.test(text) || !MAY_ROUND.test(text.replace(JSON_STRING, '""'))))) return JSON.parse(text);
  // Node ≥ 21 hands the reviver each primitive's source text (TC39 "JSON.parse source text access").
  return JSON.parse(text, function revive(this: unknown, _key: string, value: unknown, context?: { source?: string }) {
    if (typeof value !== 'number' || !Number.isInteger(value) || context?.source === undefined) return value;
    return denotesExactly(context.source, value) ? value : new InexactNumber(context.source);
  } as (this: unknown, key: string, value: unknown) => unknown);
}

/** Whether a JSON number's text is exactly the integer `value` (e.g. `1e2` is 100; `100.0000000000000001` is not). */
export function denotesExactly(source: string, value: number): boolean {
  const match = DECIMAL.exec(source);
  if (!match) return false;
  const [, sign, whole, fraction = '', exponent = '0'] = match;
  const scale = Number(exponent) - fraction.length;
  if (Math.abs(scale) > 400) return false; // beyond any double's exact range: not this integer
  let digits = BigInt(whole! + fraction);
  if (scale < 0) {
    const divisor = 10n ** BigInt(-scale);
    if (digits % divisor !== 0n) return false;
    digits /= divisor;
  } else {
    digits *= 10n ** BigInt(scale);
  }
  return (sign ? -digits : digits) === BigInt(value);
}
