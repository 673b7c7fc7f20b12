import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../sandbox/broker-process';

jest.setTimeout(120_000);

/**
 * scripts/bundle-snapshot.mjs on small entries: what cannot be in a V8 startup snapshot
 * (node:http, a cloud SDK, an Intl formatter) is deferred to run time, and a module that
 * touches one while the snapshot is built fails the build with a message naming it,
 * instead of a V8 abort or a half-loaded module frozen in the blob.
 */
function buildSnapshot(source: string): { status: number | null; output: string; run: () => { status: number | null; stdout: string; stderr: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-snapshot-build-'));
  const entry = join(dir, 'entry.mjs');
  writeFileSync(entry, source);
  const out = join(dir, 'out');
  const built = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/bundle-snapshot.mjs'), '--entry', entry, '--out', out], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 100_000 });
  return {
    status: built.status,
    output: `${built.stdout}${built.stderr}`,
    run: () => {
      const ran = spawnSync(process.execPath, ['--snapshot-blob', join(out, 'main.blob'), join(out, 'main.cjs')], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', TZ: 'UTC' }, timeout: 20_000 });
      return { status: ran.status, stdout: ran.stdout, stderr: ran.stderr };
    },
  };
}

/** Every use the refusals below make while the module loads, made at run time instead. */
const RUN_TIME_USE = `import { Agent, createServer, STATUS_CODES } from 'node:http';
import * as https from 'node:https';
import { startupSnapshot } from 'node:v8';
// Read while the module loads, as fastify does: served from the values baked in.
const notFound = STATUS_CODES[404];
// Held in module scope, as NestJS does: built on first use, at run time.
const year = new Intl.DateTimeFormat('en-US', { year: 'numeric', timeZone: 'UTC' });
startupSnapshot.setDeserializeMainFunction(async () => {
  // As the providers load their SDK: an import() on first use.
  const { STSClient } = await import('@aws-sdk/client-sts');
  class Pool extends Agent {}
  console.log(JSON.stringify({
    notFound,
    year: year.format(new Date(0)),
    listening: createServer().listening,
    pool: new Pool().maxSockets,
    request: typeof https.request,
    sdk: STSClient.name,
  }));
});
`;

describe('bundle-snapshot', () => {
  it('builds a module that uses node:http, node:https, a cloud SDK and Intl at run time, and reads http.STATUS_CODES at load', () => {
    const build = buildSnapshot(RUN_TIME_USE);
    expect(build.output).toContain('bundle-snapshot: ');
    expect(build.status).toBe(0);
    const run = build.run();
    expect(run.stderr).toBe('');
    // pool: an Agent's maxSockets, Infinity, which JSON writes as null.
    expect(JSON.parse(run.stdout)).toEqual({ notFound: 'Not Found', year: '1970', listening: false, pool: null, request: 'function', sdk: 'STSClient' });
  });

  it.each([
    ['reads node:http.Agent while its module loads', `import { Agent } from 'node:http';\nglobalThis.Pool = class Pool extends Agent {};\n`, "node:http.Agent was read while the snapshot was being built: node:http can only load at run time"],
    ['reads node:https.request while its module loads', `import * as https from 'node:https';\nglobalThis.send = https.request.bind(https);\n`, 'node:https.request was read while the snapshot was being built'],
    ['evaluates a cloud SDK while its module loads', `import { STSClient } from '@aws-sdk/client-sts';\nglobalThis.sdk = STSClient.name;\n`, "vendor bundle 'aws' was required while the snapshot was being built: it must load at run time only"],
  ])('refuses a module that %s, naming it', (_name, source, message) => {
    const build = buildSnapshot(source);
    expect(build.status).toBe(1);
    expect(build.output).toContain(message);
    expect(build.output).toContain('bundle-snapshot: node --build-snapshot failed (exit 1)');
  });
});
