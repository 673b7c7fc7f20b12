/**
 * Text the CLI prints that it did not write itself (config values, token claims, the
 * broker's answers, file names) goes through `printable` first. A value must never start
 * a line of its own: in a CI log a line that begins `::set-output` or `::add-mask::` is a
 * workflow command, and a carriage return, an ANSI escape or a bidi override can make a
 * log say something it does not. So every control character (C0, DEL, C1), the Unicode
 * line and paragraph separators and the bidi controls are shown as JSON-style escapes
 * (`\n`, `\u001b`, `\u2028`). The backslash itself is left alone: an ordinary value
 * (a Windows path, a regex) reads as written, and escaping twice changes nothing.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

export function printable(value: unknown): string {
  return String(value).replace(UNPRINTABLE, (char) => SHORT_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Lines for a human, each made printable and ended with a newline: only the array puts line breaks in the output. */
export function printableLines(lines: readonly string[]): string {
  return lines.map((line) => `${printable(line)}\n`).join('');
}
