import { formatIssue, type ConfigIssue } from '../../broker-core/config/config-error';
import { escapeCommandData } from '../formats/github';
import { printable } from '../printable';
import type { ConfigCheck } from './check-config';

export const VALIDATE_FORMATS = ['text', 'json', 'github'] as const;
export type ValidateFormat = (typeof VALIDATE_FORMATS)[number];

/** Whether a file passes: no errors, and with `strict` no warnings. Notes never fail. */
export function passes(check: ConfigCheck, strict: boolean): boolean {
  return check.errors.length === 0 && (!strict || check.warnings.length === 0);
}

export function renderValidation(checks: readonly ConfigCheck[], format: ValidateFormat, strict: boolean): string {
  if (format === 'json') {
    return `${JSON.stringify(
      {
        ok: checks.every((check) => passes(check, strict)),
        strict,
        files: checks.map((check) => ({ file: check.file, ok: passes(check, strict), errors: check.errors, warnings: check.warnings, notes: check.notes })),
      },
      null,
      2,
    )}\n`;
  }
  let out = '';
  for (const check of checks) {
    const findings = [
      ...check.errors.map((issue) => ({ issue, kind: 'error' as const })),
      ...check.warnings.map((issue) => ({ issue, kind: 'warning' as const })),
      ...check.notes.map((issue) => ({ issue, kind: 'note' as const })),
    ].sort((a, b) => a.issue.line - b.issue.line || a.issue.column - b.issue.column);
    // File names, paths and messages quote the config: in text, no value may start a line (a workflow command).
    for (const { issue, kind } of findings) out += format === 'github' ? annotation(issue, kind) : `${printable(textLine(issue, kind))}\n`;
    out += `${printable(summary(check, strict))}\n`;
  }
  return out;
}

/** Errors read exactly as the broker prints them at start; the others say what they are, like a compiler's. */
function textLine(issue: ConfigIssue, kind: 'error' | 'warning' | 'note'): string {
  if (kind === 'error') return formatIssue(issue);
  return `${issue.file}:${issue.line}:${issue.column}: ${kind}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

function summary(check: ConfigCheck, strict: boolean): string {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const parts = [
    [check.errors.length, 'error'],
    [check.warnings.length, 'warning'],
    [check.notes.length, 'note'],
  ] as const;
  const counts = parts.filter(([n]) => n > 0).map(([n, what]) => count(n, what));
  const verdict = passes(check, strict) ? 'ok' : check.errors.length === 0 ? 'invalid (--strict: warnings fail)' : 'invalid';
  return `${check.file}: ${verdict}${counts.length > 0 ? ` (${counts.join(', ')})` : ''}`;
}

/** A GitHub Actions workflow command: the finding shows on the pull request's diff. */
function annotation(issue: ConfigIssue, kind: 'error' | 'warning' | 'note'): string {
  const command = kind === 'note' ? 'notice' : kind;
  const properties = `file=${escapeProperty(issue.file)},line=${issue.line},col=${issue.column},title=${escapeProperty(`voidkey config validate: ${kind}`)}`;
  return `::${command} ${properties}::${escapeCommandData(`${issue.path ? `${issue.path}: ` : ''}${issue.message}`)}\n`;
}

/** actions/toolkit `escapeProperty`. */
function escapeProperty(text: string): string {
  return escapeCommandData(text).replaceAll(':', '%3A').replaceAll(',', '%2C');
}
