import { CliError } from './errors';
import { ExitCode } from './exit-codes';
import { createDeadline } from './fetch-with-retry';
import { closedPort, startFakeServer, type FakeServer } from './test-support/fake-broker';
import { DEFAULT_K8S_TOKEN_FILE, resolveToken, tokenVariables, type TokenOptions, type TokenSourceContext } from './token-source';

let github: FakeServer;
beforeAll(async () => {
  github = await startFakeServer((request) =>
    request.headers.authorization === 'Bearer request-token' ? { status: 200, body: { value: 'gh.id.token' } } : { status: 403, body: { message: 'nope' } },
  );
});
afterAll(() => github.close());
beforeEach(() => {
  github.requests.length = 0;
});

const files: Record<string, string> = {
  '/run/token': 'file.token\n',
  [DEFAULT_K8S_TOKEN_FILE]: 'k8s.default.token\n',
  '/custom/k8s': 'k8s.custom.token',
  '/empty': ' \n',
};

function context(env: Record<string, string>, existing: readonly string[] = Object.keys(files)): TokenSourceContext {
  return {
    env,
    readFile: async (path) => {
      if (!existing.includes(path)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return files[path];
    },
    fileExists: (path) => existing.includes(path),
    fetch: (input, init) => fetch(input, init),
    deadline: createDeadline(5_000),
  };
}

const githubEnv = () => ({ ACTIONS_ID_TOKEN_REQUEST_URL: `${github.url}/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-token' });
const everything = () => ({ VOIDKEY_OIDC_TOKEN: 'env.token', ...githubEnv(), GITLAB_CI: 'true', VOIDKEY_ID_TOKEN: 'gitlab.token', CUSTOM_ID: 'custom.token' });

describe('resolveToken order', () => {
  it.each<[string, TokenOptions, () => Record<string, string>, readonly string[] | undefined, string, string]>([
    ['--token first', { token: 'flag.token', tokenEnv: 'CUSTOM_ID' }, () => (everything()), undefined, 'flag.token', '--token'],
    ['then --token-file', { tokenFile: '/run/token' }, () => (everything()), undefined, 'file.token', '--token-file /run/token'],
    ['then VOIDKEY_OIDC_TOKEN', {}, () => (everything()), undefined, 'env.token', 'VOIDKEY_OIDC_TOKEN'],
    ['then GitHub Actions', {}, () => ({ ...everything(), VOIDKEY_OIDC_TOKEN: '' }), undefined, 'gh.id.token', 'GitHub Actions ID token (default audience)'],
    ['then GitLab via --token-env', { tokenEnv: 'CUSTOM_ID' }, () => ({ GITLAB_CI: 'true', VOIDKEY_ID_TOKEN: 'gitlab.token', CUSTOM_ID: 'custom.token' }), undefined, 'custom.token', '$CUSTOM_ID'],
    ['then GitLab VOIDKEY_ID_TOKEN', {}, () => ({ GITLAB_CI: 'true', VOIDKEY_ID_TOKEN: 'gitlab.token' }), undefined, 'gitlab.token', 'GitLab id_token $VOIDKEY_ID_TOKEN'],
    ['VOIDKEY_ID_TOKEN only in GitLab CI', {}, () => ({ VOIDKEY_ID_TOKEN: 'gitlab.token' }), undefined, 'k8s.default.token', `Kubernetes token file ${DEFAULT_K8S_TOKEN_FILE}`],
    ['then the Kubernetes file', {}, () => ({ GITLAB_CI: 'true' }), undefined, 'k8s.default.token', `Kubernetes token file ${DEFAULT_K8S_TOKEN_FILE}`],
    ['VOIDKEY_K8S_TOKEN_FILE overrides it', {}, () => ({ VOIDKEY_K8S_TOKEN_FILE: '/custom/k8s' }), undefined, 'k8s.custom.token', 'Kubernetes token file /custom/k8s'],
  ])('%s', async (_name, options, env, existing, token, source) => {
    await expect(resolveToken(options, context(env(), existing))).resolves.toEqual({ token, source });
  });

  it('never reads GITHUB_TOKEN', async () => {
    const env = new Proxy({ GITHUB_TOKEN: 'ghs_secret', GITHUB_ACTIONS: 'true' } as Record<string, string>, {
      get(target, name) {
        if (name === 'GITHUB_TOKEN') throw new Error('GITHUB_TOKEN was read');
        return target[name as string];
      },
    });
    const err = await resolveToken({}, context(env, [])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.Token);
    expect((err as Error).message).toContain('id-token: write');
  });
});

describe('GitHub Actions ID token', () => {
  it('asks for the audience with the request token in Authorization', async () => {
    const resolved = await resolveToken({ audience: 'https://broker.example.com/a b' }, context(githubEnv()));
    expect(resolved).toEqual({ token: 'gh.id.token', source: 'GitHub Actions ID token (audience https://broker.example.com/a b)' });
    expect(github.requests).toHaveLength(1);
    expect(github.requests[0].method).toBe('GET');
    expect(github.requests[0].url).toBe('/token?api-version=2.0&audience=https%3A%2F%2Fbroker.example.com%2Fa%20b');
    expect(github.requests[0].headers.authorization).toBe('Bearer request-token');
  });

  it('reports a refused request as a token problem without the request token', async () => {
    const env = { ...githubEnv(), ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'wrong-request-token' };
    const err = (await resolveToken({}, context(env)).catch((e: unknown) => e)) as CliError;
    expect(err.exitCode).toBe(ExitCode.Token);
    expect(err.message).toBe('GitHub Actions refused the ID-token request (HTTP 403)');
    expect(`${err.message} ${err.debugDetail}`).not.toContain('wrong-request-token');
  });

  it('reports an unreachable endpoint as a token problem', async () => {
    const env = { ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${await closedPort()}/token`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'x' };
    const ctx = { ...context(env), deadline: createDeadline(3_000) };
    const err = (await resolveToken({}, ctx).catch((e: unknown) => e)) as CliError;
    expect(err.exitCode).toBe(ExitCode.Token);
    expect(err.message).toMatch(/cannot request an ID token from GitHub Actions: ECONNREFUSED/);
  });
});

describe('resolveToken errors', () => {
  it.each<[string, TokenOptions, Record<string, string>, number, RegExp]>([
    ['nothing found', {}, {}, ExitCode.Token, /^no OIDC token found/],
    ['--token and --token-file', { token: 'a', tokenFile: '/run/token' }, {}, ExitCode.Usage, /mutually exclusive/],
    ['a bad --token-env name', { tokenEnv: 'A-B' }, {}, ExitCode.Usage, /--token-env takes a variable name/],
    ['an unset --token-env variable', { tokenEnv: 'MISSING' }, {}, ExitCode.Token, /MISSING: the variable is not set/],
    ['a missing --token-file', { tokenFile: '/nope' }, {}, ExitCode.Token, /cannot read the token file \/nope \(--token-file\): ENOENT/],
    ['an empty --token-file', { tokenFile: '/empty' }, {}, ExitCode.Token, /is empty/],
    ['a missing VOIDKEY_K8S_TOKEN_FILE', {}, { VOIDKEY_K8S_TOKEN_FILE: '/nope' }, ExitCode.Token, /cannot read the token file \/nope/],
    ['a token with whitespace', { token: 'a b' }, {}, ExitCode.Token, /contains whitespace/],
    ['a token with a newline inside', { token: 'a\nb' }, {}, ExitCode.Token, /contains whitespace/],
  ])('%s', async (_name, options, env, exitCode, message) => {
    const err = (await resolveToken(options, context(env, ['/run/token', '/empty'])).catch((e: unknown) => e)) as CliError;
    expect(err).toBeInstanceOf(CliError);
    expect(err.exitCode).toBe(exitCode);
    expect(err.message).toMatch(message);
  });

  it('hints at id_tokens in GitLab CI', async () => {
    const err = (await resolveToken({}, context({ GITLAB_CI: 'true' }, [])).catch((e: unknown) => e)) as CliError;
    expect(err.message).toContain('id_tokens');
    // The hint is a line of its own; a value in a message cannot make one (cli/printable.ts).
    expect(err.describe().split('\n')).toEqual([expect.stringMatching(/^voidkey: token: no OIDC token found/), expect.stringMatching(/^hint: in GitLab CI/)]);
  });

  it('shows a file name that holds a newline on one line', async () => {
    // Positive control: a plain name is shown as given.
    const plain = (await resolveToken({ tokenFile: '/missing' }, context({}, [])).catch((e: unknown) => e)) as CliError;
    expect(plain.describe()).toBe('voidkey: token: cannot read the token file /missing (--token-file): ENOENT');
    const err = (await resolveToken({ tokenFile: '/missing\n::error::x' }, context({}, [])).catch((e: unknown) => e)) as CliError;
    expect(err.describe()).toBe('voidkey: token: cannot read the token file /missing\\n::error::x (--token-file): ENOENT');
  });
});

describe('tokenVariables', () => {
  it('names every variable a source reads a token or a token request from, and the --token-env one', () => {
    expect(tokenVariables({})).toEqual(['VOIDKEY_OIDC_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_URL', 'VOIDKEY_ID_TOKEN']);
    expect(tokenVariables({ tokenEnv: 'DEPLOY_TOKEN' })).toContain('DEPLOY_TOKEN');
    expect(tokenVariables({ tokenEnv: 'VOIDKEY_ID_TOKEN' })).toHaveLength(4);
  });
});
