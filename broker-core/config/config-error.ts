export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Field path such as `clientIdentities[0].keys.AWS_DEPLOY.duration` (empty for the root). */
  readonly path: string;
  readonly message: string;
  /** Warnings only: a stable code from CONFIG_WARNING_CODES. */
  readonly code?: string;
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

/** A config file that must not be served. `message` lists every problem, one per line. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG_INVALID';

  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${segment}` : segment;
  }
  return out;
}
