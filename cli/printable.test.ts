import { printable, printableLines } from './printable';

describe('printable', () => {
  it('leaves ordinary text as written, backslashes and non-ASCII included (positive control)', () => {
    for (const text of ['repo:acme/app:ref:refs/heads/*', 'C:\\voidkey\\config.yaml', 'a\\nb', 'ключ 🔑 é', '::set-output is harmless mid-line']) {
      expect(printable(text)).toBe(text);
    }
  });

  it.each([
    ['a newline', 'a\n::set-output name=x::1', 'a\\n::set-output name=x::1'],
    ['a carriage return', 'ok\rFAKE', 'ok\\rFAKE'],
    ['a tab, backspace and form feed', '\t\b\f', '\\t\\b\\f'],
    ['NUL and an ANSI escape', '\0\u001b[2K', '\\u0000\\u001b[2K'],
    ['DEL and C1 (NEL, CSI)', '\u007f\u0085\u009b', '\\u007f\\u0085\\u009b'],
    ['the line and paragraph separators', 'a\u2028b\u2029c', 'a\\u2028b\\u2029c'],
    ['bidi controls', '\u202egnp.exe\u2066\u200f\u061c', '\\u202egnp.exe\\u2066\\u200f\\u061c'],
  ])('escapes %s', (_name, text, shown) => {
    expect(printable(text)).toBe(shown);
  });

  it('is idempotent and takes any value', () => {
    const once = printable('x\n\u2028y');
    expect(printable(once)).toBe(once);
    expect(printable(42)).toBe('42');
    expect(printable(undefined)).toBe('undefined');
  });

  it('puts line breaks only between the given lines', () => {
    expect(printableLines(['one', '', 'two'])).toBe('one\n\ntwo\n');
    expect(printableLines(['one\n::error::x'])).toBe('one\\n::error::x\n');
  });
});
