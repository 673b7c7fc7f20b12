import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan', 'start', 'end']);

export interface Selector {
  readonly metric: string;
  readonly labels: readonly string[];
}

/**
 * The metric selectors a PromQL expression reads: each metric name with the label names
 * its matchers use. Grafana's variables ($__rate_interval, $instance) are taken as text;
 * names with a ':' are recording rules, not exported metrics, and are left out.
 */
export function selectorsOf(expr: string): Selector[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const selectors: Selector[] = [];
  for (const match of text.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?/g)) {
    const [, name, matchers, call] = match;
    if (call !== undefined || KEYWORDS.has(name!.toLowerCase()) || name!.includes(':')) continue;
    // A bare identifier inside a matcher list (the label names themselves) is skipped with it.
    const before = text.slice(0, match.index);
    if (before.lastIndexOf('{') > before.lastIndexOf('}')) continue;
    const labels = [...(matchers ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g)].map((m) => m[1]!);
    selectors.push({ metric: name!, labels });
  }
  return selectors;
}

/** The label names an expression groups or matches by: `by (…)`, `without (…)`, `on (…)`, `ignoring (…)`. */
export function groupingLabelsOf(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)].flatMap((match) => match[1]!.split(',').map((label) => label.trim()).filter(Boolean));
}

export const PROMETHEUS_DIR = join(__dirname, '../../deploy/prometheus');

/** Every PromQL expression of the alert rules and of the Grafana dashboard, with where it is. */
export function deployedExpressions(): Array<{ where: string; expr: string }> {
  const rules = parse(readFileSync(join(PROMETHEUS_DIR, 'voidkey-alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> };
  const dashboard = JSON.parse(readFileSync(join(PROMETHEUS_DIR, 'voidkey-dashboard.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ name: string; definition?: string }> };
  };
  return [
    ...rules.groups.flatMap((group) => group.rules.map((rule) => ({ where: `rule ${rule.alert ?? rule.record}`, expr: rule.expr }))),
    ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: `panel ${panel.title}`, expr: target.expr }))),
    ...dashboard.templating.list
      .filter((variable) => variable.definition !== undefined)
      .map((variable) => ({ where: `variable ${variable.name}`, expr: /label_values\(([^,]+),/.exec(variable.definition!)?.[1] ?? variable.definition! })),
  ];
}
