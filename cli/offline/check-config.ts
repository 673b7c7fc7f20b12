import { ConfigError, type ConfigIssue } from '../../broker-core/config/config-error';
import { loadConfig } from '../../broker-core/config/load-config';
import type { BrokerConfig } from '../../broker-core/config/types';
import { providerDescriptors } from '../../providers/descriptors';
import type { LoadedPolicies } from '../../broker-core/config/load-policies';
import { policyReaderFor } from './policy-files';

export interface CheckConfigOptions {
  readonly fileName: string;
  /** For `${VAR}` interpolation, as the broker would see it. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** An unset `${VAR}` is an error, as it is when the broker starts. */
  readonly requireEnv?: boolean;
}

export interface ConfigCheck {
  readonly file: string;
  /** Present when the config has no errors: what the broker would load. */
  readonly config?: BrokerConfig;
  /** The policy sets the config names, parsed and validated as the broker does. */
  readonly policies?: LoadedPolicies;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  /** Findings that are neither: values from unset variables, which were not judged. */
  readonly notes: readonly ConfigIssue[];
}

/** broker-core's message for an unset `${VAR}` (load-config tests pin it). */
const UNSET = /^environment variable ([A-Za-z_][A-Za-z0-9_]*) is not set$/;

let registry: ReturnType<typeof providerDescriptors> | undefined;

/**
 * Loads a config exactly as the broker does (same loader, same schemas, same lint),
 * with one difference made for pull-request checks, which have no secrets: a `${VAR}`
 * that is not set becomes a note, the config is checked with the reference kept as
 * written in its place, and a complaint about that one value becomes a note too (a
 * placeholder cannot be judged). `requireEnv` restores the broker's rule.
 */
export function checkConfig(text: string, options: CheckConfigOptions): ConfigCheck {
  const file = options.fileName;
  const providers = (registry ??= providerDescriptors());
  const load = (env: CheckConfigOptions['env']) => loadConfig(text, { fileName: file, env, providers, readPolicies: policyReaderFor(file) });
  let first;
  try {
    first = load(options.env);
    return { file, config: first.config, policies: first.policies, errors: [], warnings: first.warnings, notes: [] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    first = err.issues;
  }
  const unset = first.flatMap((issue) => {
    const name = UNSET.exec(issue.message)?.[1];
    return name === undefined ? [] : [{ issue, name }];
  });
  const otherInterpolation = first.filter((issue) => !UNSET.test(issue.message));
  // Interpolation problems stop the loader before any other check: with none but unset
  // variables, a second pass with placeholders reaches the rest.
  if (unset.length === 0 || otherInterpolation.length > 0) {
    return { file, errors: options.requireEnv ? first : otherInterpolation, warnings: [], notes: options.requireEnv ? [] : unset.map(noteFor) };
  }
  const placeholders = Object.fromEntries(unset.map(({ name }) => [name, `\${${name}}`]));
  const placeheld = new Map(unset.map(({ issue, name }) => [issue.path, name]));
  const notes = options.requireEnv ? [] : unset.map(noteFor);
  const unsetErrors = options.requireEnv ? unset.map(({ issue }) => issue) : [];
  try {
    const second = load({ ...options.env, ...placeholders });
    return { file, config: unsetErrors.length === 0 ? second.config : undefined, policies: second.policies, errors: unsetErrors, warnings: second.warnings, notes };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const errors = [...unsetErrors];
    for (const issue of err.issues) {
      const name = placeheld.get(issue.path);
      if (name === undefined) errors.push(issue);
      else notes.push({ ...issue, message: `not checked without ${name}: ${issue.message}` });
    }
    return { file, errors, warnings: [], notes };
  }
}

function noteFor({ issue, name }: { issue: ConfigIssue; name: string }): ConfigIssue {
  return { ...issue, message: `\${${name}} is not set here, so its value was not checked (the broker needs ${name} when it starts)` };
}
