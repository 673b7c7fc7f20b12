import { randomUUID } from 'node:crypto';

/**
 * Claim sets shaped like the tokens CI systems issue (see /work/shared/REFERENCE.md).
 * Each builder derives the dependent claims (`sub`, owner, ref type, …) from the
 * overrides, so `githubActionsClaims(ctx, { ref: 'refs/tags/v1' })` is consistent.
 * An override set to `undefined` removes the claim.
 */

export interface ClaimContext {
  readonly issuer: string;
  readonly audience: string | readonly string[];
  /** Epoch seconds. */
  readonly iat: number;
  /** Seconds after `iat`; default is the issuer's usual lifetime. */
  readonly expiresIn?: number;
  /** Epoch seconds; default is the issuer's usual value. */
  readonly notBefore?: number;
}

export type ClaimOverrides<T> = { readonly [K in keyof T]?: T[K] | undefined } & Readonly<Record<string, unknown>>;

interface RegisteredClaims {
  iss: string;
  aud: string | string[];
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  sub: string;
}

/** GitHub Actions: every custom claim is a string. */
export interface GithubActionsClaims extends RegisteredClaims {
  actor: string;
  actor_id: string;
  base_ref: string;
  head_ref: string;
  environment?: string;
  event_name: string;
  job_workflow_ref: string;
  job_workflow_sha: string;
  ref: string;
  ref_protected: string;
  ref_type: string;
  repository: string;
  repository_id: string;
  repository_owner: string;
  repository_owner_id: string;
  repository_visibility: string;
  run_attempt: string;
  run_id: string;
  run_number: string;
  runner_environment: string;
  sha: string;
  workflow: string;
  workflow_ref: string;
  workflow_sha: string;
}

export interface GitlabCiClaims extends RegisteredClaims {
  namespace_id: string;
  namespace_path: string;
  project_id: string;
  project_path: string;
  user_id: string;
  user_login: string;
  user_email: string;
  user_access_level: string;
  pipeline_id: string;
  pipeline_source: string;
  job_id: string;
  ref: string;
  ref_type: string;
  ref_path: string;
  ref_protected: string;
  environment?: string;
  environment_protected?: string;
  deployment_tier?: string;
  runner_id: number;
  runner_environment: string;
  sha: string;
  project_visibility: string;
  ci_config_ref_uri: string;
  ci_config_sha: string;
  groups_direct: string[];
}

export interface KubernetesServiceAccountClaim {
  namespace: string;
  serviceaccount: { name: string; uid: string };
  pod?: { name: string; uid: string };
  node?: { name: string; uid: string };
}

export interface KubernetesClaims extends RegisteredClaims {
  aud: string[];
  'kubernetes.io': KubernetesServiceAccountClaim;
}

export type KubernetesOverrides = ClaimOverrides<Omit<KubernetesClaims, 'kubernetes.io'>> & {
  /** Merged into the default: give only what the test cares about. */
  readonly 'kubernetes.io'?: Partial<KubernetesServiceAccountClaim>;
};

const SHA = '6d6e7c1d0b7c4a2f9e8d7c6b5a4f3e2d1c0b9a88';

export function githubActionsClaims(ctx: ClaimContext, overrides: ClaimOverrides<GithubActionsClaims> = {}): GithubActionsClaims {
  const repository = pick(overrides, 'repository', 'acme/app');
  const ref = pick(overrides, 'ref', 'refs/heads/main');
  const eventName = pick(overrides, 'event_name', 'push');
  const environment = overrides.environment;
  const workflowRef = `${repository}/.github/workflows/deploy.yml@${ref}`;
  const sub = environment !== undefined
    ? `repo:${repository}:environment:${environment}`
    : eventName === 'pull_request'
      ? `repo:${repository}:pull_request`
      : `repo:${repository}:ref:${ref}`;
  const claims: GithubActionsClaims = {
    jti: randomUUID(),
    sub,
    aud: audienceClaim(ctx.audience),
    ref,
    sha: SHA,
    repository,
    repository_owner: repository.split('/', 1)[0],
    repository_owner_id: '1000001',
    repository_id: '2000002',
    repository_visibility: 'private',
    run_id: '3000003',
    run_number: '42',
    run_attempt: '1',
    runner_environment: 'github-hosted',
    actor: 'octocat',
    actor_id: '583231',
    workflow: 'deploy',
    workflow_ref: workflowRef,
    workflow_sha: SHA,
    job_workflow_ref: workflowRef,
    job_workflow_sha: SHA,
    head_ref: '',
    base_ref: '',
    event_name: eventName,
    ref_protected: 'true',
    ref_type: ref.startsWith('refs/tags/') ? 'tag' : 'branch',
    ...(environment === undefined ? {} : { environment }),
    ...times(ctx, 300, 5),
    iss: ctx.issuer,
  };
  return applyOverrides(claims, overrides);
}

export function gitlabCiClaims(ctx: ClaimContext, overrides: ClaimOverrides<GitlabCiClaims> = {}): GitlabCiClaims {
  const projectPath = pick(overrides, 'project_path', 'group/proj');
  const ref = pick(overrides, 'ref', 'main');
  const refType = pick(overrides, 'ref_type', 'branch');
  const refPath = `refs/${refType === 'tag' ? 'tags' : 'heads'}/${ref}`;
  const namespacePath = projectPath.slice(0, Math.max(0, projectPath.lastIndexOf('/'))) || projectPath;
  const environment = overrides.environment;
  const claims: GitlabCiClaims = {
    jti: randomUUID(),
    sub: `project_path:${projectPath}:ref_type:${refType}:ref:${ref}`,
    aud: audienceClaim(ctx.audience),
    namespace_id: '100',
    namespace_path: namespacePath,
    project_id: '200',
    project_path: projectPath,
    user_id: '300',
    user_login: 'dev',
    user_email: 'dev@example.com',
    user_access_level: 'developer',
    pipeline_id: '400',
    pipeline_source: 'push',
    job_id: '500',
    ref,
    ref_type: refType,
    ref_path: refPath,
    ref_protected: 'true',
    runner_id: 600,
    runner_environment: 'gitlab-hosted',
    sha: SHA,
    project_visibility: 'private',
    ci_config_ref_uri: `${hostOf(ctx.issuer)}/${projectPath}//.gitlab-ci.yml@${refPath}`,
    ci_config_sha: SHA,
    groups_direct: [namespacePath],
    ...(environment === undefined
      ? {}
      : { environment, environment_protected: 'true', deployment_tier: environment === 'production' ? 'production' : 'other' }),
    ...times(ctx, 3600, 0),
    iss: ctx.issuer,
  };
  return applyOverrides(claims, overrides);
}

export function kubernetesClaims(ctx: ClaimContext, overrides: KubernetesOverrides = {}): KubernetesClaims {
  const given = overrides['kubernetes.io'] ?? {};
  const k8s: KubernetesServiceAccountClaim = {
    namespace: given.namespace ?? 'ci',
    serviceaccount: { name: 'deployer', uid: '9f6c2a8e-3d4b-4c1a-8e7f-0a1b2c3d4e5f', ...given.serviceaccount },
    pod: { name: 'runner-7d9f8', uid: '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9', ...given.pod },
    node: { name: 'node-a', uid: '2c3d4e5f-6071-4829-93a4-b5c6d7e8f901', ...given.node },
  };
  const claims: KubernetesClaims = {
    jti: randomUUID(),
    sub: `system:serviceaccount:${k8s.namespace}:${k8s.serviceaccount.name}`,
    aud: typeof ctx.audience === 'string' ? [ctx.audience] : [...ctx.audience],
    'kubernetes.io': k8s,
    ...times(ctx, 3600, 0),
    iss: ctx.issuer,
  };
  return applyOverrides(claims, { ...overrides, 'kubernetes.io': k8s });
}

/** `undefined` values remove a claim; every other value replaces it. */
export function applyOverrides<T extends object>(claims: T, overrides: object): T {
  const result: Record<string, unknown> = { ...(claims as Record<string, unknown>), ...(overrides as Record<string, unknown>) };
  for (const [name, value] of Object.entries(result)) if (value === undefined) delete result[name];
  return result as unknown as T;
}

function pick<T extends object, K extends keyof T & string>(overrides: ClaimOverrides<T>, name: K, fallback: string): string {
  const value = (overrides as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : fallback;
}

function times(ctx: ClaimContext, lifetime: number, nbfSkew: number): { iat: number; nbf: number; exp: number } {
  return { iat: ctx.iat, nbf: ctx.notBefore ?? ctx.iat - nbfSkew, exp: ctx.iat + (ctx.expiresIn ?? lifetime) };
}

function audienceClaim(audience: string | readonly string[]): string | string[] {
  return typeof audience === 'string' ? audience : [...audience];
}

function hostOf(url: string): string {
  return URL.canParse(url) ? new URL(url).host : url;
}
