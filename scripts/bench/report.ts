import type { LoadResult } from './load';
import type { Counters } from './protocol';

/** One measured phase of the benchmark. */
export interface ScenarioRow {
  readonly name: string;
  readonly description: string;
  readonly load: LoadResult;
  /** Traffic that ran beside `load` (the invalid-token flood). */
  readonly side?: { readonly name: string; readonly load: LoadResult };
  readonly upstream: {
    readonly stsCalls: number;
    readonly awsCalls: number;
    readonly minioCalls: number;
    readonly stsPerRequest: number;
    readonly jwksFetches: number;
    readonly discoveryFetches: number;
    readonly brokerTokenRequests: number;
  };
  readonly broker: {
    /** Broker CPU (all threads) per answered request, microseconds. */
    readonly cpuMicrosPerRequest: number;
    /** Broker CPU over the phase, percent of one core. */
    readonly cpuPercent: number;
    readonly rssBeforeMiB: number;
    readonly rssAfterMiB: number;
    readonly rssPeakMiB: number;
    /** VmHWM: the process's peak RSS since it started. */
    readonly rssHighWaterMiB: number;
    /** `voidkey_process_resident_memory_bytes` from /metrics after the phase (cross-check). */
    readonly metricsRssMiB?: number;
    /** Mean of `voidkey_mint_duration_seconds` over the phase: time inside Broker.mint. */
    readonly mintMeanMs?: number;
    /** Mean of `voidkey_provider_call_duration_seconds` over the phase: one STS call as the broker saw it. */
    readonly providerCallMeanMs?: number;
    /**
     * `voidkey_request_broker_seconds` over the phase: the broker's own share of each mint
     * (arrival to answer, less the wait on STS), as the broker measured it. Quantiles are
     * interpolated within histogram buckets, as Prometheus's histogram_quantile does.
     */
    readonly brokerShare?: { readonly count: number; readonly p50Ms: number; readonly p99Ms: number; readonly under10msPercent: number };
    /** Time in GC (prom-client's gc histogram) over the phase, percent of wall time. */
    readonly gcPercent: number;
    readonly minorGcsPer1000: number;
    readonly majorGcs: number;
    /** Bytes the broker printed (logs + audit) per answered request. */
    readonly stdoutBytesPerRequest: number;
    readonly auditLines: number;
    readonly requestLogLines: number;
  };
  /** Percent of one core used by the sandbox host (IdPs + STS emulators) and by the load generator. */
  readonly sandboxCpuPercent: number;
  readonly loadgenCpuPercent: number;
  /** CPU used by other processes on the machine over the phase (percent of one core): noise. */
  readonly otherCpuPercent: number;
  /** The phase on the monotonic clock (microseconds), to cut the broker's CPU profile. */
  readonly window: { readonly fromUs: number; readonly toUs: number };
}

export function counterDelta(before: Counters, after: Counters, requests: number): ScenarioRow['upstream'] {
  const awsCalls = after.aws - before.aws;
  const minioCalls = after.minio - before.minio;
  return {
    stsCalls: awsCalls + minioCalls,
    awsCalls,
    minioCalls,
    stsPerRequest: requests > 0 ? (awsCalls + minioCalls) / requests : 0,
    jwksFetches: after.jwks - before.jwks,
    discoveryFetches: after.discovery - before.discovery,
    brokerTokenRequests: after.brokerToken - before.brokerToken,
  };
}

const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
const int = (value: number) => Math.round(value).toLocaleString('en-US');

function statusText(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .filter(([status]) => !status.startsWith('2'))
    .map(([status, count]) => `${status}:${count}`)
    .join(' ') || '0';
}

export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, rightAligned: (column: number) => boolean = (column) => column > 0): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => (rightAligned(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join('  ').trimEnd();
  return [line(header), widths.map((width) => '─'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

/** The readable summary of the load scenarios. */
export function scenarioTable(rows: readonly ScenarioRow[]): string {
  const header = ['scenario', 'req/s', 'p50', 'p90', 'p99', 'max ms', 'ok', 'non-2xx', 'err', 'STS/req', 'JWKS', 'tok', 'CPU µs/req', 'broker CPU', 'sandbox', 'loadgen', 'other', 'RSS MiB before→after (peak)'];
  const out: string[][] = [];
  for (const row of rows) {
    const { load, upstream, broker } = row;
    const ok = Object.entries(load.statuses).reduce((n, [status, count]) => (status.startsWith('2') ? n + count : n), 0);
    out.push([
      row.name,
      int(load.perSecond),
      ms(load.latency.p50),
      ms(load.latency.p90),
      ms(load.latency.p99),
      ms(load.latency.max),
      int(ok),
      statusText(load.statuses),
      String(load.errors),
      upstream.stsPerRequest.toFixed(2),
      String(upstream.jwksFetches),
      String(upstream.brokerTokenRequests),
      int(broker.cpuMicrosPerRequest),
      `${broker.cpuPercent.toFixed(0)}%`,
      `${row.sandboxCpuPercent.toFixed(0)}%`,
      `${row.loadgenCpuPercent.toFixed(0)}%`,
      `${row.otherCpuPercent.toFixed(0)}%`,
      `${broker.rssBeforeMiB.toFixed(0)}→${broker.rssAfterMiB.toFixed(0)} (${broker.rssPeakMiB.toFixed(0)})`,
    ]);
    if (row.side) {
      const side = row.side.load;
      const sideOk = Object.entries(side.statuses).reduce((n, [status, count]) => (status.startsWith('2') ? n + count : n), 0);
      out.push([`  + ${row.side.name}`, int(side.perSecond), ms(side.latency.p50), ms(side.latency.p90), ms(side.latency.p99), ms(side.latency.max), int(sideOk), statusText(side.statuses), String(side.errors), '', '', '', '', '', '', '', '', '']);
    }
  }
  return table(header, out);
}
