import { deployedExpressions, groupingLabelsOf, selectorsOf } from '../support/promql-names';
import { mintAsMain, startSandbox, type Sandbox } from './sandbox';

jest.setTimeout(60_000);

/** Labels Prometheus adds at scrape time, and the histogram bucket bound. */
const SCRAPE_LABELS = new Set(['instance', 'job']);

/** Every sample name a /metrics text exposes (histograms' _bucket/_sum/_count included), with the label names seen on it. */
function exported(text: string): Map<string, Set<string>> {
  const names = new Map<string, Set<string>>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const suffixes = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of suffixes) names.set(`${name!}${suffix}`, new Set());
  }
  for (const [, name, labels] of text.matchAll(/^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})? /gm)) {
    for (const [, label] of (labels ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="/g)) names.get(name!)?.add(label!);
  }
  return names;
}

/** What the expressions read that the broker does not export. */
function unknownNames(expressions: ReadonlyArray<{ where: string; expr: string }>, metrics: Map<string, Set<string>>): string[] {
  return expressions.flatMap(({ where, expr }) => [
    ...selectorsOf(expr).flatMap(({ metric, labels }) => {
      const known = metrics.get(metric);
      if (known === undefined) return [`${where}: ${metric} is not exported`];
      // Label names are checked where the broker has written samples (a counter never
      // incremented shows no labels yet).
      if (known.size === 0) return [];
      return labels.filter((label) => !known.has(label) && !SCRAPE_LABELS.has(label)).map((label) => `${where}: ${metric} has no label ${label}`);
    }),
    ...groupingProblems(where, expr, metrics),
  ]);
}

/** A `by (…)` label must be on some metric the expression reads (where all of them have samples). */
function groupingProblems(where: string, expr: string, metrics: Map<string, Set<string>>): string[] {
  const sets = selectorsOf(expr).map(({ metric }) => metrics.get(metric));
  if (sets.length === 0 || sets.some((labels) => labels === undefined || labels.size === 0)) return [];
  const union = new Set(sets.flatMap((labels) => [...labels!]));
  return groupingLabelsOf(expr).filter((label) => !union.has(label) && !SCRAPE_LABELS.has(label)).map((label) => `${where}: grouped by ${label}, which no metric it reads has`);
}

describe('the alert rules and the dashboard read only metrics the broker exports', () => {
  let sandbox: Sandbox;
  let metrics: Map<string, Set<string>>;
  beforeAll(async () => {
    sandbox = await startSandbox();
    // A mint and a denial, so the labelled series exist.
    expect((await mintAsMain(sandbox, ['AWS_DEPLOY'])).status).toBe(200);
    expect((await mintAsMain(sandbox, ['PROD_ADMIN'])).status).toBe(403);
    const response = await fetch(`${sandbox.broker.url}/metrics`);
    expect(response.status).toBe(200);
    metrics = exported(await response.text());
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('finds the broker\'s metrics and the deployed expressions (positive control)', () => {
    expect(metrics.get('voidkey_requests_total')).toEqual(new Set(['action', 'outcome', 'reason']));
    expect(metrics.get('voidkey_mint_duration_seconds_bucket')).toEqual(new Set(['le', 'outcome']));
    expect(unknownNames([{ where: 'control', expr: 'sum by (reason) (rate(voidkey_requests_total{outcome="denied",instance=~"$instance"}[$__rate_interval]))' }], metrics)).toEqual([]);
  });

  it('reports a name or a label the broker does not export (the check is not a no-op)', () => {
    expect(unknownNames([{ where: 'made up', expr: 'rate(voidkey_made_up_total[5m]) / on (idp) rate(voidkey_jwks_fetches_total{colour="red"}[5m]) > 0' }], metrics)).toEqual([
      'made up: voidkey_made_up_total is not exported',
      'made up: voidkey_jwks_fetches_total has no label colour',
    ]);
    expect(unknownNames([{ where: 'typo', expr: 'sum by (reasn) (rate(voidkey_requests_total[5m]))' }], metrics)).toEqual(['typo: grouped by reasn, which no metric it reads has']);
  });

  it('every metric name and label in deploy/prometheus is one a real /metrics exposes', () => {
    const expressions = deployedExpressions();
    expect(expressions.length).toBeGreaterThan(25);
    const read = new Set(expressions.flatMap(({ expr }) => selectorsOf(expr).map((selector) => selector.metric)));
    // Between them the rules and the dashboard cover every broker metric.
    expect([...read].filter((name) => !name.startsWith('voidkey_process_') && !name.startsWith('voidkey_nodejs_')).length).toBeGreaterThanOrEqual(10);
    expect(unknownNames(expressions, metrics)).toEqual([]);
  });
});
