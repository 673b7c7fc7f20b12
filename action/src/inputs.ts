import type { MintRequest } from '../../cli/broker-client';
import { UsageError } from '../../cli/errors';
import { collectKeys, mintRequest } from '../../cli/mint-request';

/** The Action's inputs (action.yml), as `core.getInput` returns them: trimmed, '' when unset. */
export interface ActionInputs {
  readonly brokerUrl: string;
  readonly request: MintRequest;
  /** undefined: GitHub's default audience. */
  readonly audience?: string;
  readonly timeoutMs: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_TIMEOUT_MS = 3_600_000;

/** The same rules as `voidkey mint`'s flags; a bad input fails before any token is requested. */
export function readInputs(getInput: (name: string) => string): ActionInputs {
  const brokerUrl = getInput('broker-url');
  if (brokerUrl === '') throw new UsageError('the broker-url input is required');
  // Commas or newlines: a YAML block list reads naturally in a workflow.
  const keys = getInput('keys')
    .split(/[\n,]/)
    .reduce<string[]>((list, key) => collectKeys(key, list), []);
  const all = booleanInput(getInput('all'), 'all');
  // Checked here to speak of inputs; mintRequest's messages speak of flags.
  if (all && keys.length > 0) throw new UsageError('set either the keys input or `all: true`, not both');
  if (!all && keys.length === 0) throw new UsageError('set the keys input to the keys to mint (e.g. `keys: AWS_DEPLOY,ARTIFACTS`), or `all: true`');
  const request = mintRequest({
    keys,
    all,
    duration: integerInput(getInput('duration'), 'duration', Number.MAX_SAFE_INTEGER),
    idp: getInput('idp') || undefined,
  });
  return {
    brokerUrl,
    request,
    audience: getInput('audience') || undefined,
    timeoutMs: integerInput(getInput('timeout'), 'timeout', MAX_TIMEOUT_MS) ?? DEFAULT_TIMEOUT_MS,
  };
}

function booleanInput(value: string, name: string): boolean {
  if (value === '' || /^(false|False|FALSE)$/.test(value)) return false;
  if (/^(true|True|TRUE)$/.test(value)) return true;
  throw new UsageError(`the ${name} input must be true or false, not ${JSON.stringify(value)}`);
}

function integerInput(value: string, name: string, max: number): number | undefined {
  if (value === '') return undefined;
  if (!/^\d+$/.test(value) || Number(value) <= 0 || Number(value) > max) {
    throw new UsageError(`the ${name} input must be a positive whole number${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, not ${JSON.stringify(value)}`);
  }
  return Number(value);
}
