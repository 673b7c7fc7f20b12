import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../sandbox/broker-process';

jest.setTimeout(120_000);

/**
 * `npm run bench` in miniature: the script starts the sandbox and the real broker, drives
 * them and shuts everything down. Figures are not asserted (they depend on the machine);
 * what the sandbox counted is: one JWKS fetch and one broker token for a cold herd, one
 * STS call per key.
 */
describe('the benchmark script', () => {
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a short bench, reports JSON and exits 0', async () => {
    const jsonFile = join(dir, 'bench.json');
    const args = ['--scenario', 'health,mint,mint2,denied,herd,parallel', '--duration', '1', '--connections', '4', '--tokens', '20', '--herd', '20', '--json-file', jsonFile];
    const result = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/scripts/bench.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, output }));
    });
    expect(result.output).toContain('Cold herd');
    expect(result.code).toBe(0);

    const summary = JSON.parse(readFileSync(jsonFile, 'utf8')) as {
      scenarios: Array<{ name: string; load: { completed: number; statuses: Record<string, number> }; upstream: { stsPerRequest: number; jwksFetches: number } }>;
      herd: { size: number; statuses: Record<string, number>; jwksFetches: number; brokerTokenRequests: number; stsCalls: number };
      parallel: { rounds: number; stsCallsPerFiveKeyMint: number };
      problems: string[];
    };
    expect(summary.problems).toEqual([]);
    const byName = new Map(summary.scenarios.map((row) => [row.name, row]));
    expect(Object.keys(byName.get('mint')!.load.statuses)).toEqual(['200']);
    expect(byName.get('mint')!.upstream.stsPerRequest).toBeCloseTo(1, 1);
    expect(byName.get('mint2')!.upstream.stsPerRequest).toBeCloseTo(2, 1);
    expect(Object.keys(byName.get('denied')!.load.statuses)).toEqual(['401']);
    expect(byName.get('denied')!.upstream.stsPerRequest).toBe(0);
    expect(summary.herd).toMatchObject({ size: 20, statuses: { 200: 20 }, jwksFetches: 1, brokerTokenRequests: 1, stsCalls: 20 });
    expect(summary.parallel.rounds).toBeGreaterThan(0);
    expect(summary.parallel.stsCallsPerFiveKeyMint).toBe(5);
  });
});
