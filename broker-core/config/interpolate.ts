import { isScalar, visit, type Document } from 'yaml';
import type { ConfigProblem } from '../access/access-provider';

const REFERENCE = /\$\$\{|\$\{([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replaces `${VAR}` in string values with the environment's value, in place.
 * `${claims.NAME}` is a per-request template and stays as written; `$${` is a literal `${`.
 * Problems carry the YAML path so they can be located; values never appear in messages.
 */
export function interpolateEnv(doc: Document, env: Readonly<Record<string, string | undefined>>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const path = pathOf([...ancestors, node]);
      node.value = node.value.replace(REFERENCE, (match, name: string | undefined) => {
        if (name === undefined) return '${';
        if (name.startsWith('claims.')) return match;
        if (!ENV_NAME.test(name)) {
          problems.push({ path, message: `'\${${name}}' is not a valid environment variable reference` });
          return match;
        }
        const value = env[name];
        if (value === undefined) {
          problems.push({ path, message: `environment variable ${name} is not set` });
          return match;
        }
        return value;
      });
    },
  });
  return problems;
}

function pathOf(ancestors: readonly unknown[]): (string | number)[] {
  const path: (string | number)[] = [];
  for (let i = 0; i < ancestors.length; i++) {
    const node = ancestors[i] as { items?: unknown[]; key?: unknown };
    const child = ancestors[i + 1];
    if (node && Array.isArray(node.items) && child !== undefined) {
      const index = node.items.indexOf(child);
      const item = node.items[index] as { key?: unknown } | undefined;
      if (item && typeof item === 'object' && 'key' in item) {
        path.push(isScalar(item.key) ? String(item.key.value) : String(item.key));
      } else {
        path.push(index);
      }
    }
  }
  return path;
}
