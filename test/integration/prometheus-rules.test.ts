import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { deployedExpressions, PROMETHEUS_DIR } from '../support/promql-names';

// The real promtool (Debian's prometheus package; .ci/run installs it). In CI a missing
// promtool fails the suite; on a developer's machine these tests say so and skip.
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const available = promtool.status === 0;
if (!available && process.env.CI === 'true') throw new Error('promtool is missing in CI: .ci/run installs Debian\'s prometheus package');
if (!available) console.warn('promtool not found: the alert-rule tests are skipped (apt-get install prometheus to run them)');
const withPromtool = available ? describe : describe.skip;

function run(args: string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

withPromtool('deploy/prometheus alert rules (promtool)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'voidkey-promtool-'));

  it('check rules: the rules are valid', () => {
    const result = run(['check', 'rules', 'voidkey-alerts.yml'], PROMETHEUS_DIR);
    expect(result).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('check rules refuses a broken rule (the check is not a no-op)', () => {
    const broken = readFileSync(join(PROMETHEUS_DIR, 'voidkey-alerts.yml'), 'utf8').replace('sum by (sink) (increase(', 'sum by (sink) (increase((');
    writeFileSync(join(scratch, 'broken.yml'), broken);
    expect(run(['check', 'rules', 'broken.yml'], scratch).status).not.toBe(0);
  });

  it('test rules: every alert fires on its series, and stays quiet on the series that must not fire it', () => {
    const result = run(['test', 'rules', 'voidkey-alerts.test.yml'], PROMETHEUS_DIR);
    expect(result).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    const tests = readFileSync(join(PROMETHEUS_DIR, 'voidkey-alerts.test.yml'), 'utf8');
    const alerts = [...readFileSync(join(PROMETHEUS_DIR, 'voidkey-alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    expect(alerts.length).toBe(10);
    for (const alert of alerts) {
      // Each alert is tested both ways: expected to fire somewhere, expected silent somewhere.
      const cases = [...tests.matchAll(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:( \\[\\])?`, 'g'))].map((m) => (m[1] ? 'silent' : 'fires'));
      expect({ alert, cases: [...new Set(cases)].sort() }).toEqual({ alert, cases: ['fires', 'silent'] });
    }
  });

  it('test rules fails when the rules change under the tests (the tests are not a no-op)', () => {
    copyFileSync(join(PROMETHEUS_DIR, 'voidkey-alerts.test.yml'), join(scratch, 'voidkey-alerts.test.yml'));
    // The audit alert made to need two failures: the series with one must now fail the test.
    writeFileSync(join(scratch, 'voidkey-alerts.yml'), readFileSync(join(PROMETHEUS_DIR, 'voidkey-alerts.yml'), 'utf8').replace('(increase(voidkey_audit_write_failures_total[5m])) > 0', '(increase(voidkey_audit_write_failures_total[5m])) > 5'));
    const result = run(['test', 'rules', 'voidkey-alerts.test.yml'], scratch);
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('VoidkeyAuditWriteFailures');
  });

  it('every dashboard query is valid PromQL', () => {
    // Grafana's variables replaced by what Grafana sends, each query checked as a recording rule.
    const rules = deployedExpressions()
      .filter(({ where }) => where.startsWith('panel') || where.startsWith('variable'))
      .map(({ expr }, index) => ({ record: `dashboard:query_${index}`, expr: expr.replace(/\$__rate_interval/g, '1m').replace(/\$instance/g, '.*') }));
    expect(rules.length).toBeGreaterThan(15);
    writeFileSync(join(scratch, 'dashboard-queries.yml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
    const result = run(['check', 'rules', 'dashboard-queries.yml'], scratch);
    expect(result).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });
});
