import type { ConfigProblem } from '../access/access-provider';
import { CedarPolicySet, PolicySetError, type PolicyIssue, type PolicySource } from '../policy/cedar-policy-set';
import type { ConfigIssue } from './config-error';
import type { PolicyConfig } from './types';

/**
 * Reads a policy path as written in the config (a file, or a folder whose *.cedar files
 * are read in name order). Throws an Error whose message says why it cannot.
 */
export type PolicyReader = (path: string) => PolicySource[];

export interface LoadedPolicies {
  readonly active?: CedarPolicySet;
  readonly observe?: CedarPolicySet;
  /** Why the candidate set did not load: the active path carries on without it. */
  readonly observeProblem?: string;
}

interface PolicyLoad {
  readonly loaded: LoadedPolicies;
  /** Problems in the config (a path) or in a policy file (file:line:col). */
  readonly errors: Array<ConfigProblem | ConfigIssue>;
  readonly warnings: Array<ConfigProblem | ConfigIssue>;
}

/** Parses and validates each policy set once, at load: an active set that fails is a config error. */
export function loadPolicies(config: PolicyConfig, read: PolicyReader | undefined): PolicyLoad {
  const errors: PolicyLoad['errors'] = [];
  const warnings: PolicyLoad['warnings'] = [];
  const compile = (label: 'active' | 'observe', path: string): { set?: CedarPolicySet; problems: Array<ConfigProblem | ConfigIssue> } => {
    if (!read) return { problems: [{ path: ['policy', label], message: 'policy files cannot be read by this loader' }] };
    let sources: PolicySource[];
    try {
      sources = read(path);
    } catch (err) {
      return { problems: [{ path: ['policy', label], message: `cannot be read: ${err instanceof Error ? err.message : String(err)}` }] };
    }
    try {
      const set = new CedarPolicySet(label, sources);
      warnings.push(...set.warnings.map(asIssue));
      return { set, problems: [] };
    } catch (err) {
      if (err instanceof PolicySetError) return { problems: err.issues.map(asIssue) };
      throw err;
    }
  };
  let active: CedarPolicySet | undefined;
  let observe: CedarPolicySet | undefined;
  let observeProblem: string | undefined;
  if (config.active !== undefined) {
    const result = compile('active', config.active);
    active = result.set;
    errors.push(...result.problems);
  }
  if (config.observe !== undefined) {
    const result = compile('observe', config.observe);
    observe = result.set;
    if (result.problems.length > 0) {
      // A candidate that does not load never breaks the active path: it is reported, not fatal.
      observeProblem = `the observe set did not load (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'})`;
      for (const problem of result.problems) {
        warnings.push('file' in problem
          ? { ...problem, code: 'policy_observe_invalid', message: `observe set not loaded: ${problem.message}` }
          : { ...problem, code: 'policy_observe_invalid', message: `observe set not loaded: ${problem.message}` });
      }
    }
  }
  return { loaded: { ...(active ? { active } : {}), ...(observe ? { observe } : {}), ...(observeProblem ? { observeProblem } : {}) }, errors, warnings };
}

function asIssue(issue: PolicyIssue): ConfigIssue {
  return { file: issue.file, line: issue.line, column: issue.column, path: '', message: issue.message, ...(issue.code ? { code: issue.code } : {}) };
}
