import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { parseAllDocuments, type ScalarTag, type CollectionTag } from 'yaml';
import { loadConfig } from '../../broker-core';
import { createRuntime, type Runtime } from '../../broker-server/bootstrap';
import { createApp } from '../../broker-server/create-app';
import { createLogger } from '../../broker-server/logger';
import { builtInProviders } from '../../providers';

/**
 * Everything under deploy/ must parse, and what the manifests promise must hold for the
 * code beside them: probe and route paths the server answers, configs that load with the
 * providers this build ships, every ${VAR} supplied, non-root images, a Lambda handler
 * that names the bundle's output.
 */
const root = join(__dirname, '../..');
const deployDir = join(root, 'deploy');

/** CloudFormation's short-form intrinsics, enough to read a SAM template. */
const cfnTags: Array<ScalarTag | CollectionTag> = ['Ref', 'Sub', 'GetAtt', 'If', 'Not', 'Equals', 'Join', 'Select', 'Split', 'FindInMap', 'ImportValue', 'Base64', 'Condition', 'And', 'Or', 'GetAZs', 'Cidr'].flatMap(
  (name) => {
    const key = name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
    return [
      { tag: `!${name}`, resolve: (value: string) => ({ [key]: name === 'GetAtt' ? value.split('.') : value }) } as ScalarTag,
      { tag: `!${name}`, collection: 'seq', resolve: (seq: { toJSON(): unknown }) => ({ [key]: seq.toJSON() }) } as unknown as CollectionTag,
    ];
  },
);

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? yamlFiles(join(dir, entry.name)) : /\.ya?ml$/.test(entry.name) ? [join(dir, entry.name)] : [],
  );
}

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function parse(file: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { customTags: cfnTags, uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) expect({ file: relative(root, file), errors: doc.errors.map(String), warnings: doc.warnings.map(String) }).toEqual({ file: relative(root, file), errors: [], warnings: [] });
  return docs.map((doc) => doc.toJSON() as Doc).filter((doc) => doc !== null);
}

const k8s = yamlFiles(join(deployDir, 'k8s')).flatMap(parse);
const byKind = (kind: string) => k8s.filter((doc) => doc.kind === kind);
const one = (kind: string) => {
  const found = byKind(kind);
  expect(found).toHaveLength(1);
  return found[0]!;
};

describe('deploy/', () => {
  const silent = createLogger({ level: 'silent' });
  const started: Array<{ app: NestFastifyApplication; runtime: Runtime }> = [];

  /** The server built on a config: its routes, with no network I/O (keys are fetched on demand). */
  async function serverFor(text: string, env: Record<string, string>): Promise<NestFastifyApplication> {
    const runtime = createRuntime({ name: 'config.yaml', read: () => text }, { env, logger: silent });
    const app = await createApp(runtime);
    started.push({ app, runtime });
    return app;
  }
  afterAll(async () => {
    for (const { app, runtime } of started) {
      await app.close();
      runtime.close();
    }
  });

  it('every YAML file parses cleanly', () => {
    const files = yamlFiles(deployDir);
    expect(files.map((file) => relative(deployDir, file)).sort()).toEqual(expect.arrayContaining(['k8s/deployment.yaml', 'k8s/configmap.yaml', 'sam/template.yaml', 'sam/config.yaml']));
    for (const file of files) expect(parse(file).length).toBeGreaterThan(0);
  });

  describe('k8s', () => {
    const deployment = one('Deployment');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const configMap = one('ConfigMap');
    const secret = one('Secret');

    /** The container's environment, Secret references resolved to the placeholder Secret. */
    function containerEnv(): Record<string, string> {
      const env: Record<string, string> = {};
      for (const variable of container.env as Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (ref) {
          expect(ref.name).toBe(secret.metadata.name);
          expect(Object.keys(secret.stringData)).toContain(ref.key);
          env[variable.name] = secret.stringData[ref.key];
        } else {
          env[variable.name] = variable.value!;
        }
      }
      return env;
    }

    it('the ConfigMap config loads with the built-in providers, every ${VAR} supplied by the Deployment', () => {
      const loaded = loadConfig(configMap.data['config.yaml'], { fileName: 'configmap.yaml', env: containerEnv(), providers: builtInProviders() });
      expect(loaded.warnings).toEqual([]);
      expect(loaded.config.server?.audit?.stdout).toBe(true);
    });

    it('VOIDKEY_CONFIG points at the ConfigMap key through a directory mount (so updates reach the pod)', () => {
      const configPath = containerEnv().VOIDKEY_CONFIG!;
      const mount = (container.volumeMounts as Array<{ name: string; mountPath: string; subPath?: string }>).find((m) => configPath.startsWith(`${m.mountPath}/`));
      expect(mount?.subPath).toBeUndefined();
      const volume = (pod.volumes as Array<{ name: string; configMap?: { name: string; items?: Array<{ key: string; path: string }> } }>).find((v) => v.name === mount!.name);
      expect(volume?.configMap?.name).toBe(configMap.metadata.name);
      const item = volume!.configMap!.items!.find((entry) => join(mount!.mountPath, entry.path) === configPath);
      expect(Object.keys(configMap.data)).toContain(item?.key);
    });

    it('probes hit routes the server answers, on the container port', async () => {
      const app = await serverFor(configMap.data['config.yaml'], containerEnv());
      const fastify = app.getHttpAdapter().getInstance();
      const probes = [pod.containers[0].startupProbe, container.livenessProbe, container.readinessProbe];
      expect(probes.map((probe) => probe.httpGet.path)).toEqual(['/healthz', '/healthz', '/readyz']);
      for (const probe of probes) {
        expect(fastify.hasRoute({ method: 'GET', url: probe.httpGet.path })).toBe(true);
        expect(container.ports.map((port: { name: string }) => port.name)).toContain(probe.httpGet.port);
      }
      expect(fastify.hasRoute({ method: 'GET', url: deployment.spec.template.metadata.annotations['prometheus.io/path'] })).toBe(true);
      expect(String(container.ports[0].containerPort)).toBe(containerEnv().PORT);
    });

    it('runs as non-root with a read-only root file system, as the image does', () => {
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      const users = readFileSync(join(root, 'Dockerfile'), 'utf8').match(/^USER\s+(\S+)/gm) ?? [];
      expect(users.at(-1)).toMatch(/^USER\s+(node|[1-9]\d*)$/);
      expect(byKind('Namespace')[0]?.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    });

    it('two replicas with requests and limits; the grace period covers preStop plus the 30 s drain', () => {
      expect(deployment.spec.replicas).toBe(2);
      expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      expect(container.resources.limits).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      const drainMs = Number(/DRAIN_TIMEOUT_MS = ([\d_]+)/.exec(readFileSync(join(root, 'broker-server/main.ts'), 'utf8'))![1]!.replace(/_/g, ''));
      const preStop = Number(container.lifecycle.preStop.exec.command.at(-1));
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + drainMs / 1000);
    });

    it('Service, PodDisruptionBudget and HorizontalPodAutoscaler select the Deployment', () => {
      const labels = deployment.spec.template.metadata.labels;
      for (const [name, value] of Object.entries(deployment.spec.selector.matchLabels)) expect(labels[name]).toBe(value);
      const service = one('Service');
      for (const [name, value] of Object.entries(service.spec.selector)) expect(labels[name]).toBe(value);
      expect(container.ports.map((port: { name: string }) => port.name)).toContain(service.spec.ports[0].targetPort);
      const pdb = one('PodDisruptionBudget');
      expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
      expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
      const hpa = one('HorizontalPodAutoscaler');
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(deployment.spec.replicas);
    });

    it('the kustomization lists every manifest but the placeholder Secret', () => {
      const kustomization = one('Kustomization');
      const files = readdirSync(join(deployDir, 'k8s')).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
      expect([...kustomization.resources].sort()).toEqual(files.filter((file) => file !== 'secret.yaml').sort());
      expect(kustomization.images[0].name).toBe(container.image.split(':')[0]);
    });
  });

  describe('sam', () => {
    const templatePath = join(deployDir, 'sam/template.yaml');
    const [template] = parse(templatePath);
    const fn = template!.Resources.BrokerFunction.Properties;

    it('the function runs the bundle that scripts/bundle-lambda.mjs writes', () => {
      expect(fn.Runtime).toBe('nodejs24.x');
      expect(resolve(dirname(templatePath), fn.CodeUri)).toBe(join(root, 'dist/lambda'));
      const bundleScript = readFileSync(join(root, 'scripts/bundle-lambda.mjs'), 'utf8');
      expect(bundleScript).toContain("join(root, 'dist/lambda')");
      // index.js (the Handler's file) is written by the script and exports the broker's handler from main.js.
      expect(bundleScript).toContain("await writeFile(join(outdir, 'index.js'), INDEX_JS);");
      expect(bundleScript).toContain("export const { handler } = await import('./main.js');");
      expect(bundleScript).toContain('export { handler }');
      expect(fn.Handler).toBe('index.handler');
      expect(fn).toMatchObject({ MemorySize: 512, Timeout: 30 });
      expect(fn.Environment.Variables.VOIDKEY_CONFIG).toBe('/var/task/config.yaml');
    });

    it('the bundled config loads, and its ambient providers are covered by the role policy', () => {
      const text = readFileSync(join(deployDir, 'sam/config.yaml'), 'utf8');
      const { config, warnings } = loadConfig(text, { fileName: 'sam/config.yaml', env: {}, providers: builtInProviders() });
      expect(warnings).toEqual([]);
      expect(config.accessProviders.every((provider) => provider.type === 'aws-sts' && provider.auth === 'ambient')).toBe(true);
      const actions = fn.Policies.flatMap((policy: Doc) => policy.Statement.flatMap((statement: Doc) => statement.Action));
      expect(actions).toEqual(expect.arrayContaining(['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity']));
      expect(template!.Resources[fn.LoggingConfig.LogGroup.Ref].Properties.RetentionInDays).toEqual({ Ref: 'LogRetentionDays' });
    });

    it('the custom-runtime variant (template-snapshot.yaml) runs what scripts/bundle-lambda-snapshot.mjs writes, on an architecture chosen to match the build machine, and is otherwise the same function', () => {
      const snapshotPath = join(deployDir, 'sam/template-snapshot.yaml');
      const [variant] = parse(snapshotPath);
      const snapshotFn = variant!.Resources.BrokerFunction.Properties;
      expect(snapshotFn).toMatchObject({ Runtime: 'provided.al2023', Handler: 'bootstrap', Architectures: [{ Ref: 'Architecture' }] });
      expect(variant!.Parameters.Architecture).toMatchObject({ AllowedValues: ['x86_64', 'arm64'] });
      expect(resolve(dirname(snapshotPath), snapshotFn.CodeUri)).toBe(join(root, 'dist/lambda-snapshot'));
      expect(readFileSync(join(root, 'scripts/bundle-lambda-snapshot.mjs'), 'utf8')).toContain("join(root, 'dist/lambda-snapshot')");
      const runtimeFields = new Set(['Runtime', 'Handler', 'Architectures', 'CodeUri', 'Description']);
      const rest = (props: Doc) => Object.fromEntries(Object.entries(props).filter(([name]) => !runtimeFields.has(name)));
      expect(rest(snapshotFn)).toEqual(rest(fn));
      expect(Object.keys(variant!.Resources).sort()).toEqual(Object.keys(template!.Resources).sort());
    });

    it('every HttpApi route reaches a server route', async () => {
      const text = readFileSync(join(deployDir, 'sam/config.yaml'), 'utf8');
      const fastify = (await serverFor(text, {})).getHttpAdapter().getInstance();
      const events = Object.values(fn.Events as Record<string, { Type: string; Properties: { Path: string; Method: string } }>);
      expect(events.length).toBeGreaterThanOrEqual(4);
      for (const { Type, Properties } of events) {
        expect(Type).toBe('HttpApi');
        const urls = Properties.Path === '/credentials/{proxy+}' ? ['/credentials/keys', '/credentials/idp-providers'] : [Properties.Path];
        for (const url of urls) expect({ url, routed: fastify.hasRoute({ method: Properties.Method as 'GET', url }) }).toEqual({ url, routed: true });
      }
    });
  });
});
