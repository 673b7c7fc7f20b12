import { TokenError, UsageError } from './errors';
import { describeCauses, fetchWithRetry, NoAnswer, type Deadline } from './fetch-with-retry';

export const DEFAULT_K8S_TOKEN_FILE = '/var/run/secrets/tokens/voidkey';
/** The id_tokens variable tried in GitLab CI when --token-env is not given. */
export const DEFAULT_GITLAB_TOKEN_VARIABLE = 'VOIDKEY_ID_TOKEN';

export interface TokenOptions {
  readonly token?: string;
  readonly tokenFile?: string;
  /** GitLab CI: the name of the `id_tokens` variable that holds the token. */
  readonly tokenEnv?: string;
  /** GitHub Actions: the audience to request the ID token for. */
  readonly audience?: string;
}

/** Everything a source may touch, injected so tests need no real CI. */
export interface TokenSourceContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => Promise<string>;
  readonly fileExists: (path: string) => boolean;
  readonly fetch: typeof fetch;
  readonly deadline: Deadline;
  readonly debug?: (message: string) => void;
}

export interface ResolvedToken {
  readonly token: string;
  /** Where the token came from, for --debug and whoami. Never the token itself. */
  readonly source: string;
}

type TokenSource = (options: TokenOptions, context: TokenSourceContext) => Promise<ResolvedToken | undefined>;

/**
 * The sources in the order they are tried; the first that applies wins. A source that
 * applies but fails (an unreadable --token-file, GitHub refusing the request) is an
 * error, not a reason to fall through to the next. GITHUB_TOKEN is never read: it is a
 * GitHub API token, not an OIDC token, and must not leave the runner.
 */
const SOURCES: readonly TokenSource[] = [
  fromFlag,
  fromFlagFile,
  fromEnvironment,
  fromGithubActions,
  fromGitlab,
  fromKubernetes,
];

/**
 * The variables that hold an OIDC token, or the means to request one, for any source
 * above: exec removes them from the command's environment, whichever source was used,
 * so the command gets its credentials but not the power to mint others. (A token file
 * stays readable: a file cannot be hidden from a child process.)
 */
export function tokenVariables(options: Pick<TokenOptions, 'tokenEnv'>): string[] {
  const names = ['VOIDKEY_OIDC_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_URL', DEFAULT_GITLAB_TOKEN_VARIABLE];
  if (options.tokenEnv !== undefined && !names.includes(options.tokenEnv)) names.push(options.tokenEnv);
  return names;
}

export async function resolveToken(options: TokenOptions, context: TokenSourceContext): Promise<ResolvedToken> {
  if (options.token !== undefined && options.tokenFile !== undefined) {
    throw new UsageError('--token and --token-file are mutually exclusive');
  }
  if (options.tokenEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.tokenEnv)) {
    throw new UsageError(`--token-env takes a variable name: got ${JSON.stringify(options.tokenEnv)}`);
  }
  for (const source of SOURCES) {
    const found = await source(options, context);
    if (found !== undefined) {
      context.debug?.(`token from ${found.source}`);
      return { token: checkToken(found.token, found.source), source: found.source };
    }
  }
  throw new TokenError(noTokenMessage(context));
}

async function fromFlag(options: TokenOptions): Promise<ResolvedToken | undefined> {
  return options.token === undefined ? undefined : { token: options.token, source: '--token' };
}

async function fromFlagFile(options: TokenOptions, context: TokenSourceContext): Promise<ResolvedToken | undefined> {
  if (options.tokenFile === undefined) return undefined;
  return { token: await readTokenFile(options.tokenFile, '--token-file', context), source: `--token-file ${options.tokenFile}` };
}

async function fromEnvironment(_options: TokenOptions, context: TokenSourceContext): Promise<ResolvedToken | undefined> {
  const token = context.env.VOIDKEY_OIDC_TOKEN;
  return token === undefined || token === '' ? undefined : { token, source: 'VOIDKEY_OIDC_TOKEN' };
}

/** https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect */
async function fromGithubActions(options: TokenOptions, context: TokenSourceContext): Promise<ResolvedToken | undefined> {
  const requestUrl = context.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = context.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!requestUrl || !requestToken) return undefined;
  const audience = options.audience;
  let url: URL;
  try {
    const separator = requestUrl.includes('?') ? '&' : '?';
    url = new URL(audience === undefined ? requestUrl : `${requestUrl}${separator}audience=${encodeURIComponent(audience)}`);
  } catch {
    throw new TokenError('ACTIONS_ID_TOKEN_REQUEST_URL is not a valid URL');
  }
  const source = `GitHub Actions ID token${audience === undefined ? ' (default audience)' : ` (audience ${audience})`}`;
  let response: Response;
  try {
    response = await fetchWithRetry(
      url,
      { method: 'GET', headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json' } },
      { fetch: context.fetch, deadline: context.deadline, debug: context.debug },
    );
  } catch (err) {
    const why = err instanceof NoAnswer && err.kind === 'timeout' ? 'no answer within the timeout' : err instanceof Error ? err.message : 'network error';
    throw new TokenError(`cannot request an ID token from GitHub Actions: ${why}`, describeCauses(err), { cause: err });
  }
  const text = await response.text().catch(() => '');
  if (response.status !== 200) {
    throw new TokenError(`GitHub Actions refused the ID-token request (HTTP ${response.status})`);
  }
  let value: unknown;
  try {
    value = (JSON.parse(text) as { value?: unknown }).value;
  } catch {
    value = undefined;
  }
  if (typeof value !== 'string' || value === '') {
    throw new TokenError('GitHub Actions answered the ID-token request without a token');
  }
  return { token: value, source };
}

async function fromGitlab(options: TokenOptions, context: TokenSourceContext): Promise<ResolvedToken | undefined> {
  if (options.tokenEnv !== undefined) {
    const token = context.env[options.tokenEnv];
    if (token === undefined || token === '') {
      throw new TokenError(`--token-env ${options.tokenEnv}: the variable is not set (declare it under id_tokens in .gitlab-ci.yml)`);
    }
    return { token, source: `$${options.tokenEnv}` };
  }
  if (!context.env.GITLAB_CI) return undefined;
  const token = context.env[DEFAULT_GITLAB_TOKEN_VARIABLE];
  return token === undefined || token === '' ? undefined : { token, source: `GitLab id_token $${DEFAULT_GITLAB_TOKEN_VARIABLE}` };
}

async function fromKubernetes(_options: TokenOptions, context: TokenSourceContext): Promise<ResolvedToken | undefined> {
  const configured = context.env.VOIDKEY_K8S_TOKEN_FILE;
  const path = configured || DEFAULT_K8S_TOKEN_FILE;
  if (!configured && !context.fileExists(path)) return undefined;
  return { token: await readTokenFile(path, 'VOIDKEY_K8S_TOKEN_FILE', context), source: `Kubernetes token file ${path}` };
}

async function readTokenFile(path: string, origin: string, context: TokenSourceContext): Promise<string> {
  let text: string;
  try {
    text = await context.readFile(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new TokenError(`cannot read the token file ${path} (${origin}): ${typeof code === 'string' ? code : 'read failed'}`);
  }
  return text;
}

/** Files and variables often end in a newline; anything else that is not a visible character is refused. */
function checkToken(raw: string, source: string): string {
  const token = raw.trim();
  if (token === '') throw new TokenError(`the token from ${source} is empty`);
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new TokenError(`the token from ${source} contains whitespace or characters a JWT never holds`);
  }
  return token;
}

function noTokenMessage(context: TokenSourceContext): string[] {
  const k8s = context.env.VOIDKEY_K8S_TOKEN_FILE || DEFAULT_K8S_TOKEN_FILE;
  const lines = [
    `no OIDC token found (tried --token, --token-file, VOIDKEY_OIDC_TOKEN, GitHub Actions, GitLab CI $${DEFAULT_GITLAB_TOKEN_VARIABLE}, ${k8s})`,
  ];
  if (context.env.GITHUB_ACTIONS === 'true') {
    lines.push('hint: in GitHub Actions, give the job `permissions: id-token: write`');
  }
  if (context.env.GITLAB_CI) {
    lines.push(`hint: in GitLab CI, declare \`id_tokens: ${DEFAULT_GITLAB_TOKEN_VARIABLE}: {aud: …}\` or pass --token-env NAME`);
  }
  return lines;
}
