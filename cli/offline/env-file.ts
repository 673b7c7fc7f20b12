import { UsageError } from '../errors';

const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([\s\S]*)$/;
const DOUBLE_QUOTED_ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', $: '$' };

/**
 * A `.env` file: `NAME=value` lines (an `export ` prefix is allowed), `#` comments,
 * values unquoted (trimmed, ` #` starts a comment), single-quoted (literal) or
 * double-quoted (`\n \r \t \\ \" \$` escapes, as `voidkey mint --format dotenv` writes).
 */
export function parseEnvFile(text: string, fileName: string): Record<string, string> {
  const env: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, index) => {
    if (/^\s*(#|$)/.test(line)) return;
    const match = LINE.exec(line);
    if (match === null) throw new UsageError(`${fileName}:${index + 1}: expected NAME=value`);
    const [, name, raw] = match as unknown as [string, string, string];
    env[name] = parseValue(raw.trimEnd(), `${fileName}:${index + 1}`);
  });
  return env;
}

function parseValue(raw: string, where: string): string {
  if (raw.startsWith("'")) {
    const end = raw.indexOf("'", 1);
    if (end === -1 || !/^\s*(#[\s\S]*)?$/.test(raw.slice(end + 1))) throw new UsageError(`${where}: unterminated or trailing text after a single-quoted value`);
    return raw.slice(1, end);
  }
  if (raw.startsWith('"')) {
    let value = '';
    for (let i = 1; i < raw.length; i++) {
      const char = raw[i]!;
      if (char === '"') {
        if (!/^\s*(#[\s\S]*)?$/.test(raw.slice(i + 1))) throw new UsageError(`${where}: trailing text after a double-quoted value`);
        return value;
      }
      if (char === '\\' && i + 1 < raw.length) {
        const escaped = DOUBLE_QUOTED_ESCAPES[raw[i + 1]!];
        if (escaped !== undefined) {
          value += escaped;
          i++;
          continue;
        }
      }
      value += char;
    }
    throw new UsageError(`${where}: unterminated double-quoted value`);
  }
  return raw.replace(/\s+#[\s\S]*$/, '').trim();
}
