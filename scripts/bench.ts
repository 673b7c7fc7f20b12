/**
 * `npm run bench`: the real broker server under load, against the local sandbox.
 *
 * The sandbox (CI token issuer, the broker's IdP on oidc-provider, AWS and MinIO STS
 * emulators — the same parts and config as test/e2e/sandbox.ts) runs in a child process,
 * the broker in another (`node dist/broker-server/main.js`, started by
 * sandbox/broker-process.ts), and this process generates the load with autocannon
 * (closed loop) or a paced open-loop generator. Every figure comes with what it cost: STS
 * calls, JWKS fetches and broker-token requests counted by the emulators, CPU time of each
 * process read from /proc, and the broker's RSS. See docs/performance.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../sandbox/broker-process';
import { MAIN_SUBJECT } from '../sandbox/sandbox-config';
import { startBroker as spawnBroker } from './bench/broker';
import { SandboxHost } from './bench/host-client';
import { closedLoop, once, openLoop, percentiles, type LoadResult, type Percentiles, type Shot } from './bench/load';
import { cpuModel, machineBusyPercent, machineCpuMs, ownCpuMs, RssSampler, sampleProcess } from './bench/proc';
import { monotonicMicros, readProfile, summariseProfile, type ProfileSummary } from './bench/profile';
import { stsClientCosts, type ClientCost } from './bench/sdk';
import { verifyCosts, type VerifyCost } from './bench/verify';
import { auditCosts, type EventCost } from './bench/audit-cost';
import { counterDelta, scenarioTable, table, type ScenarioRow } from './bench/report';

const SCENARIOS = ['health', 'mint', 'mint2', 'denied', 'latency', 'flood', 'herd', 'parallel', 'logging', 'sdk', 'verify'] as const;
type Scenario = (typeof SCENARIOS)[number];

const USAGE = `usage: npm run bench -- [options]

  --scenario LIST     all (default) or a comma list of: ${SCENARIOS.join(', ')}
                        health   GET /health, the HTTP stack alone
                        mint     one key (AWS_DEPLOY), warm caches, a pool of distinct tokens
                        mint2    two keys in parallel (AWS_DEPLOY on AWS STS, ARTIFACTS on MinIO)
                        denied   expired tokens: 401 after signature and claim checks
                        latency  open loop at --rate valid mints/s: latency without queueing; then the same load
                          on a bare node:http server, the floor this machine sets
                        flood    the same valid traffic beside a closed-loop flood of invalid tokens
                        herd     a fresh broker, --herd concurrent first requests: JWKS and broker-token fetches
                        parallel five keys whose STS answers take 50 ms each, against one key
                        logging  what stdout logging and the audit trail cost (fresh brokers)
                        sdk      one STS call through the broker's AWS SDK client vs bare node:http, CPU per call
                        verify   one RS256 verification: jose (WebCrypto) vs node:crypto, CPU per operation
  --duration S        seconds per load phase (default: 10 for mint/mint2, 8 for latency/flood, 5 otherwise)
  --connections N     closed-loop connections (default 32)
  --tokens N          distinct valid tokens in the pool (default 200)
  --rate R            open-loop rate for latency/flood (default: half of what mint reached, else 1500)
  --herd N            size of the cold herd (default 200)
  --sts-latency MS    add this much latency to every STS answer in the load phases (default 0)
  --log-level L       the broker's log level during the run (default warn)
  --pin               pin the broker to CPU 0, the sandbox and the load generator to CPU 1 (taskset)
  --node-options=S    NODE_OPTIONS for every broker (default: the production heap sizing of
                      package.json's start script, --max-semi-space-size=16 --max-old-space-size=160; --node-options= for V8's defaults)
  --profile           run the main broker under --cpu-prof and summarise the top self-time functions
  --profile-dir DIR   keep the .cpuprofile in DIR (implies --profile; open it in Chrome DevTools)
  --wait-quiet S      first wait up to S seconds for other processes to leave the CPUs alone
  --json              print a JSON summary after the tables
  --json-file FILE    write the JSON summary to FILE
`;

/** The heap sizing `npm start`, the Dockerfile and the Kubernetes Deployment use. */
const PRODUCTION_NODE_OPTIONS = '--max-semi-space-size=16 --max-old-space-size=160';

interface Options {
  readonly scenarios: ReadonlySet<Scenario>;
  readonly duration?: number;
  readonly connections: number;
  readonly tokens: number;
  readonly rate?: number;
  readonly herd: number;
  readonly stsLatency: number;
  readonly logLevel: string;
  readonly pin: boolean;
  readonly nodeOptions?: string;
  readonly profile: boolean;
  readonly profileDir?: string;
  readonly json: boolean;
  readonly jsonFile?: string;
  readonly waitQuiet: number;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', default: 'all' },
      duration: { type: 'string' },
      connections: { type: 'string', default: '32' },
      tokens: { type: 'string', default: '200' },
      rate: { type: 'string' },
      herd: { type: 'string', default: '200' },
      'sts-latency': { type: 'string', default: '0' },
      'log-level': { type: 'string', default: 'warn' },
      pin: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'profile-dir': { type: 'string' },
      'node-options': { type: 'string' },
      json: { type: 'boolean', default: false },
      'wait-quiet': { type: 'string', default: '0' },
      'json-file': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const positive = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!(value > 0) || !Number.isFinite(value)) throw new Error(`--${name} must be a positive number, not '${text}'`);
    return value;
  };
  const names = values.scenario === 'all' ? [...SCENARIOS] : values.scenario.split(',').map((name) => name.trim());
  for (const name of names) if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`unknown scenario '${name}'\n${USAGE}`);
  const stsLatency = Number(values['sts-latency']);
  if (!(stsLatency >= 0)) throw new Error(`--sts-latency must be a number of milliseconds, not '${values['sts-latency']}'`);
  return {
    scenarios: new Set(names as Scenario[]),
    duration: positive('duration', values.duration),
    connections: Math.round(positive('connections', values.connections)!),
    tokens: Math.round(positive('tokens', values.tokens)!),
    rate: positive('rate', values.rate),
    herd: Math.round(positive('herd', values.herd)!),
    stsLatency,
    logLevel: values['log-level'],
    pin: values.pin,
    nodeOptions: values['node-options'] ?? PRODUCTION_NODE_OPTIONS,
    profile: values.profile || values['profile-dir'] !== undefined,
    profileDir: values['profile-dir'] === undefined ? undefined : resolve(values['profile-dir']),
    json: values.json,
    jsonFile: values['json-file'],
    waitQuiet: Number(values['wait-quiet']) || 0,
  };
}

const progress = (text: string) => process.stderr.write(`bench: ${text}\n`);

/** The broker process plus what it printed, counted rather than kept. */
interface Broker {
  readonly pid: number;
  readonly url: string;
  readonly stdout: { bytes: number; audit: number; request: number; other: number };
  /** The last lines that were neither audit events nor request logs (warnings, errors). */
  readonly otherLines: string[];
  /** Spawn to serving, ms; and the RSS right after, before any request. */
  readonly startMs: number;
  readonly startRssMiB: number;
  stop(): Promise<number | null>;
}

async function startBroker(config: string, options: { clientSecret: string; logLevel: string; pin: boolean; env?: Record<string, string> }): Promise<Broker> {
  const spawned = performance.now();
  const process_ = await spawnBroker({ config, env: { BROKER_CLIENT_SECRET: options.clientSecret, ...options.env }, logLevel: options.logLevel });
  const child = process_.child;
  // broker-process.ts keeps everything the broker prints in a string: fine for a test,
  // hundreds of megabytes here. Count the lines instead (the pipe must still be drained
  // promptly, or the broker's synchronous stdout writes would block on it).
  child.stdout!.removeAllListeners('data');
  child.stderr!.removeAllListeners('data');
  const stdout = { bytes: 0, audit: 0, request: 0, other: 0 };
  const otherLines: string[] = [];
  let carry = '';
  const onData = (chunk: string) => {
    stdout.bytes += Buffer.byteLength(chunk);
    const lines = (carry + chunk).split('\n');
    carry = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"msg":"audit"')) stdout.audit++;
      else if (line.includes('"msg":"request"')) stdout.request++;
      else if (line !== '') {
        stdout.other++;
        otherLines.push(line.slice(0, 400));
        if (otherLines.length > 20) otherLines.shift();
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const startMs = performance.now() - spawned;
  const pid = child.pid!;
  if (options.pin) pin(pid, '0');
  const startRssMiB = sampleProcess(pid).rss / MiB;
  return { pid, url: process_.url, stdout, otherLines, startMs, startRssMiB, stop: () => process_.stop() };
}

/** The bare node:http server of bench/floor-server.ts, as a Broker that prints nothing. */
async function startFloorServer(pin: boolean): Promise<Broker> {
  const child = spawn(process.execPath, [join(__dirname, 'bench/floor-server.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve_, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the floor server exited with code ${code}`)));
    child.stdout!.setEncoding('utf8').once('data', (line: string) => resolve_(/listening (\S+)/.exec(line)?.[1] ?? ''));
  });
  if (pin) execFileSync('taskset', ['-a', '-p', '-c', '0', String(child.pid)], { stdio: 'ignore' });
  const stop = () =>
    new Promise<number | null>((done) => {
      child.once('exit', (code) => done(code));
      child.kill('SIGTERM');
    });
  return { pid: child.pid!, url, stdout: { bytes: 0, audit: 0, request: 0, other: 0 }, otherLines: [], startMs: 0, startRssMiB: 0, stop };
}

function pin(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** Scrapes the figures the bench reads from the broker's /metrics. */
interface Scrape {
  rss?: number;
  handled: number;
  mintSum: number;
  mintCount: number;
  providerSum: number;
  providerCount: number;
  gcSeconds: number;
  gcMinor: number;
  gcMajor: number;
  /** Cumulative `voidkey_request_broker_seconds_bucket` counts for mints, by upper bound (seconds). */
  brokerBuckets: Map<number, number>;
}

async function scrapeMetrics(url: string): Promise<Scrape> {
  const { status, body } = await once(url, { method: 'GET', path: '/metrics' });
  const total = (name: string) => {
    if (status !== 200) return 0;
    let sum = 0;
    for (const match of body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) sum += Number(match[1]);
    return sum;
  };
  const labelled = (name: string, label: string) => {
    const match = new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} ([0-9.e+-]+)$`, 'm').exec(status === 200 ? body : '');
    return match ? Number(match[1]) : 0;
  };
  const rss = /^voidkey_process_resident_memory_bytes ([0-9.e+]+)$/m.exec(body);
  // Broker decisions (mint, list-keys) count every request the broker finished, also those
  // whose client had gone (the load generator cuts requests off when a phase ends).
  return {
    rss: rss ? Number(rss[1]) : undefined,
    handled: total('voidkey_requests_total'),
    mintSum: total('voidkey_mint_duration_seconds_sum'),
    mintCount: total('voidkey_mint_duration_seconds_count'),
    providerSum: total('voidkey_provider_call_duration_seconds_sum'),
    providerCount: total('voidkey_provider_call_duration_seconds_count'),
    gcSeconds: total('voidkey_nodejs_gc_duration_seconds_sum'),
    gcMinor: labelled('voidkey_nodejs_gc_duration_seconds_count', 'kind="minor"'),
    gcMajor: labelled('voidkey_nodejs_gc_duration_seconds_count', 'kind="major"'),
    // Answered mints (2xx) only: refusals are fast and would flatter the quantiles.
    brokerBuckets: new Map(
      [...(status === 200 ? body : '').matchAll(/^voidkey_request_broker_seconds_bucket\{([^}]*)\} ([0-9.e+-]+)$/gm)]
        .filter(([, labels]) => labels!.includes('route="/credentials/mint"') && labels!.includes('status="2xx"'))
        .map(([, labels, count]) => {
          const le = /le="([^"]+)"/.exec(labels!)![1]!;
          return [le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), Number(count)] as [number, number];
        }),
    ),
  };
}

/** Quantiles of the broker's own share of mints between two scrapes (histogram_quantile's interpolation). */
function brokerShare(before: Scrape, after: Scrape): ScenarioRow['broker']['brokerShare'] {
  const bounds = [...after.brokerBuckets.keys()].sort((a, b) => a - b);
  const cumulative = bounds.map((le) => (after.brokerBuckets.get(le) ?? 0) - (before.brokerBuckets.get(le) ?? 0));
  const count = cumulative.at(-1) ?? 0;
  if (count === 0) return undefined;
  const quantile = (q: number) => {
    const rank = q * count;
    const at = cumulative.findIndex((c) => c >= rank);
    const upper = bounds[at]!;
    const lower = at === 0 ? 0 : bounds[at - 1]!;
    if (!Number.isFinite(upper)) return lower * 1000;
    const below = at === 0 ? 0 : cumulative[at - 1]!;
    return (lower + ((upper - lower) * (rank - below)) / Math.max(1, cumulative[at]! - below)) * 1000;
  };
  const under10 = cumulative[bounds.indexOf(0.01)] ?? 0;
  return { count, p50Ms: quantile(0.5), p99Ms: quantile(0.99), under10msPercent: (100 * under10) / count };
}

const MiB = 1024 * 1024;

/** Runs one phase and charges it with everything it cost. */
async function measure(
  name: string,
  description: string,
  host: SandboxHost,
  broker: Broker,
  run: () => Promise<{ load: LoadResult; side?: { name: string; load: LoadResult } }>,
): Promise<ScenarioRow> {
  progress(`${name}: ${description}`);
  const countersBefore = await host.counters();
  const metricsBefore = await scrapeMetrics(broker.url);
  const brokerBefore = sampleProcess(broker.pid);
  const hostBefore = sampleProcess(host.pid);
  const ownBefore = ownCpuMs();
  const machineBefore = machineCpuMs();
  const stdoutBefore = { ...broker.stdout };
  const sampler = new RssSampler(broker.pid);
  const started = performance.now();
  const fromUs = monotonicMicros();

  const { load, side } = await run();

  const toUs = monotonicMicros();
  const elapsedMs = performance.now() - started;
  const rssPeak = sampler.stop();
  const brokerAfter = sampleProcess(broker.pid);
  const hostAfter = sampleProcess(host.pid);
  const ownAfter = ownCpuMs();
  const machineAfter = machineCpuMs();
  // Requests cut off when the load stopped still finish in the broker (and call STS);
  // let them, and let the pipe deliver the last lines, before counting.
  await new Promise((done) => setTimeout(done, 300));
  const brokerSettled = sampleProcess(broker.pid);
  const metricsAfter = await scrapeMetrics(broker.url);
  const countersAfter = await host.counters();
  // Requests the broker finished, cut-off ones included (decisions; /health makes none).
  const decided = metricsAfter.handled - metricsBefore.handled;
  const answered = decided > 0 ? decided : load.completed + (side?.load.completed ?? 0);
  const brokerCpu = brokerAfter.cpuMs - brokerBefore.cpuMs;
  const mintCount = metricsAfter.mintCount - metricsBefore.mintCount;
  const providerCount = metricsAfter.providerCount - metricsBefore.providerCount;
  return {
    name,
    description,
    load,
    side,
    // Per request the broker handled (the load generator's cut-off requests included).
    // With a side load (the flood), per valid request answered.
    upstream: counterDelta(countersBefore, countersAfter, side ? load.completed : answered),
    broker: {
      cpuMicrosPerRequest: answered > 0 ? ((brokerSettled.cpuMs - brokerBefore.cpuMs) * 1000) / answered : 0,
      cpuPercent: (100 * brokerCpu) / elapsedMs,
      rssBeforeMiB: brokerBefore.rss / MiB,
      rssAfterMiB: brokerAfter.rss / MiB,
      rssPeakMiB: Math.max(rssPeak, brokerAfter.rss) / MiB,
      rssHighWaterMiB: brokerAfter.hwm / MiB,
      ...(metricsAfter.rss === undefined ? {} : { metricsRssMiB: metricsAfter.rss / MiB }),
      ...(mintCount > 0 ? { mintMeanMs: ((metricsAfter.mintSum - metricsBefore.mintSum) * 1000) / mintCount } : {}),
      ...(providerCount > 0 ? { providerCallMeanMs: ((metricsAfter.providerSum - metricsBefore.providerSum) * 1000) / providerCount } : {}),
      brokerShare: brokerShare(metricsBefore, metricsAfter),
      gcPercent: (100 * (metricsAfter.gcSeconds - metricsBefore.gcSeconds) * 1000) / elapsedMs,
      minorGcsPer1000: answered > 0 ? (1000 * (metricsAfter.gcMinor - metricsBefore.gcMinor)) / answered : 0,
      majorGcs: metricsAfter.gcMajor - metricsBefore.gcMajor,
      stdoutBytesPerRequest: answered > 0 ? (broker.stdout.bytes - stdoutBefore.bytes) / answered : 0,
      auditLines: broker.stdout.audit - stdoutBefore.audit,
      requestLogLines: broker.stdout.request - stdoutBefore.request,
    },
    sandboxCpuPercent: (100 * (hostAfter.cpuMs - hostBefore.cpuMs)) / elapsedMs,
    loadgenCpuPercent: (100 * (ownAfter - ownBefore)) / elapsedMs,
    otherCpuPercent: Math.max(
      0,
      (100 * (machineAfter.busy - machineBefore.busy - brokerCpu - (hostAfter.cpuMs - hostBefore.cpuMs) - (ownAfter - ownBefore))) / elapsedMs,
    ),
    window: { fromUs, toUs },
  };
}

const mintShots = (tokens: readonly string[], keys: readonly string[]): Shot[] => {
  const body = JSON.stringify({ keys });
  return tokens.map((token) => ({
    method: 'POST',
    path: '/credentials/mint',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
  }));
};

const FIVE_KEYS = ['BENCH_1', 'BENCH_2', 'BENCH_3', 'BENCH_4', 'BENCH_5'];

/** The sandbox config plus an identity for the same subject that grants five AWS keys. */
function withFiveKeys(config: string): string {
  const identity = [
    '  - name: bench-five-keys',
    `    subject: ${MAIN_SUBJECT}`,
    '    idp: github-actions',
    '    keys:',
    ...FIVE_KEYS.flatMap((key, index) => [
      `      ${key}:`,
      '        provider: aws-sandbox',
      `        roleArn: arn:aws:iam::111122223333:role/bench-${index + 1}`,
      '        outputs:',
      '          AWS_ACCESS_KEY_ID: AccessKeyId',
      '          AWS_SECRET_ACCESS_KEY: SecretAccessKey',
      '          AWS_SESSION_TOKEN: SessionToken',
    ]),
  ].join('\n');
  const anchor = '\ndefault: github-actions';
  if (!config.includes(anchor)) throw new Error('the sandbox config changed shape: no top-level `default:` to insert the five-key identity before');
  return config.replace(anchor, `\n${identity}${anchor}`);
}

function withServerSection(config: string, server: string): string {
  if (/^server:/m.test(config)) throw new Error('the sandbox config already has a server section');
  return `${config.trimEnd()}\nserver:\n${server}\n`;
}

interface HerdResult {
  readonly size: number;
  readonly statuses: Record<string, number>;
  readonly wallMs: number;
  readonly latency: Percentiles;
  readonly jwksFetches: number;
  readonly discoveryFetches: number;
  readonly brokerTokenRequests: number;
  readonly stsCalls: number;
}

interface ParallelResult {
  readonly stsLatencyMs: number;
  readonly rounds: number;
  readonly oneKey: Percentiles;
  readonly fiveKeys: Percentiles;
  readonly fiveKeysNoLatency: Percentiles;
  readonly stsCallsPerFiveKeyMint: number;
}

interface LoggingVariant {
  readonly name: string;
  readonly description: string;
  readonly row: ScenarioRow;
}

function checkStatuses(row: ScenarioRow, expected: string, problems: string[], load: LoadResult = row.load): void {
  const good = load.statuses[expected] ?? 0;
  const total = load.completed + load.errors;
  if (total === 0 || good / total < 0.99) problems.push(`${row.name}: expected ${expected}, got ${JSON.stringify(load.statuses)} and ${load.errors} errors`);
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (!options) return 0;
  const has = (scenario: Scenario) => options.scenarios.has(scenario);
  const seconds = (fallback: number) => options.duration ?? fallback;
  const warmup = Math.min(2, options.duration ?? 2);
  const clientSecret = `bench-client-secret-${randomBytes(12).toString('hex')}`;
  const scratch = mkdtempSync(join(tmpdir(), 'voidkey-bench-'));
  const host = SandboxHost.spawn();
  const brokers: Broker[] = [];
  const rows: ScenarioRow[] = [];
  const problems: string[] = [];
  let herd: HerdResult | undefined;
  let parallel: ParallelResult | undefined;
  const logging: LoggingVariant[] = [];
  let eventCosts: EventCost[] | undefined;
  const profiles: ProfileSummary[] = [];
  let sdk: ClientCost[] | undefined;
  let verify: VerifyCost[] | undefined;
  let brokerNotes: string[] = [];
  const starts: Array<{ purpose: string; startMs: number; rssMiB: number }> = [];

  const launch = async (purpose: string, config: string, logLevel: string, env: Record<string, string> = {}) => {
    const nodeOptions = [options.nodeOptions, env.NODE_OPTIONS].filter(Boolean).join(' ');
    const broker = await startBroker(config, { clientSecret, logLevel, pin: options.pin, env: { ...env, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) } });
    brokers.push(broker);
    starts.push({ purpose, startMs: Math.round(broker.startMs), rssMiB: Math.round(broker.startRssMiB) });
    return broker;
  };
  const retire = async (broker: Broker) => {
    const code = await broker.stop();
    brokers.splice(brokers.indexOf(broker), 1);
    if (code !== 0) problems.push(`a broker exited with code ${code}: ${broker.otherLines.slice(-3).join(' | ')}`);
  };

  let busyAtStart = await machineBusyPercent(1000);
  let told = 0;
  for (const deadline = Date.now() + options.waitQuiet * 1000; busyAtStart > 15 && Date.now() < deadline; ) {
    if (Date.now() - told > 30_000) {
      progress(`waiting for a quiet machine (other processes use ${busyAtStart.toFixed(0)}% of a core)`);
      told = Date.now();
    }
    busyAtStart = await machineBusyPercent(2000);
  }
  const started = Date.now();
  if (busyAtStart > 20) {
    progress(`warning: the machine is already busy (${busyAtStart.toFixed(0)}% of one core used by other processes); the figures will be low and noisy`);
  }
  try {
    if (options.pin) {
      pin(host.pid, '1');
      pin(process.pid, '1');
    }
    const { config, awsUrl } = await host.start(clientSecret);
    progress(`sandbox up (pid ${host.pid}); signing ${options.tokens} valid tokens and the invalid ones`);
    const valid = await host.tokens(options.tokens, 'valid');
    const expired = await host.tokens(50, 'expired');
    const badSignature = await host.tokens(50, 'bad-signature');
    const unknownIssuer = await host.tokens(50, 'unknown-issuer');

    const needsMain = ['health', 'mint', 'mint2', 'denied', 'latency', 'flood'].some((s) => has(s as Scenario));
    if (needsMain) {
      const profileDir = options.profileDir ?? join(scratch, 'profile');
      const broker = await launch('main', config, options.logLevel, options.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } : undefined);
      progress(`broker up (pid ${broker.pid}, ${broker.url}, --log-level ${options.logLevel}${options.profile ? ', --cpu-prof' : ''})`);
      if (options.stsLatency > 0) {
        await host.stsDelay('aws', 'always', options.stsLatency);
        await host.stsDelay('minio', 'always', options.stsLatency);
      }
      // Warm-up: JIT, the JWKS and broker-token caches, keep-alive pools. Not reported.
      await closedLoop({ url: broker.url, connections: options.connections, seconds: warmup, shots: mintShots(valid, ['AWS_DEPLOY', 'ARTIFACTS']) });
      await closedLoop({ url: broker.url, connections: options.connections, seconds: warmup / 2, shots: mintShots(expired, ['AWS_DEPLOY']) });

      const closed = (shots: Shot[], duration: number) => async () => ({
        load: await closedLoop({ url: broker.url, connections: options.connections, seconds: duration, shots }),
      });
      if (has('health')) {
        const row = await measure('health', `GET /health, ${options.connections} connections`, host, broker, closed([{ method: 'GET', path: '/health' }], seconds(5)));
        checkStatuses(row, '200', problems);
        rows.push(row);
      }
      if (has('mint')) {
        const row = await measure('mint', `one key (AWS_DEPLOY), ${valid.length} distinct tokens, ${options.connections} connections`, host, broker, closed(mintShots(valid, ['AWS_DEPLOY']), seconds(10)));
        checkStatuses(row, '200', problems);
        rows.push(row);
      }
      if (has('mint2')) {
        const row = await measure('mint2', 'two keys in parallel (AWS_DEPLOY + ARTIFACTS on MinIO)', host, broker, closed(mintShots(valid, ['AWS_DEPLOY', 'ARTIFACTS']), seconds(10)));
        checkStatuses(row, '200', problems);
        rows.push(row);
      }
      if (has('denied')) {
        const row = await measure('denied', 'expired tokens (signature checked, then exp): 401', host, broker, closed(mintShots(expired, ['AWS_DEPLOY']), seconds(5)));
        checkStatuses(row, '401', problems);
        rows.push(row);
      }
      const mintRate = rows.find((row) => row.name === 'mint')?.load.perSecond;
      const rate = options.rate ?? (mintRate ? Math.max(100, Math.round(mintRate / 2 / 100) * 100) : 1500);
      if (has('latency')) {
        const row = await measure(`latency@${rate}`, `open loop, ${rate} one-key mints/s`, host, broker, async () => ({
          load: await openLoop({ url: broker.url, rate, seconds: seconds(8), shots: mintShots(valid, ['AWS_DEPLOY']) }),
        }));
        checkStatuses(row, '200', problems);
        rows.push(row);
        // The control: the same requests at the same rate, answered by a bare node:http server.
        const floor = await startFloorServer(options.pin);
        const floorRow = await measure(`floor@${rate}`, `the same open loop against a bare node:http server (what this machine adds)`, host, floor, async () => ({
          load: await openLoop({ url: floor.url, rate, seconds: seconds(8), shots: mintShots(valid, ['AWS_DEPLOY']) }),
        }));
        await floor.stop();
        checkStatuses(floorRow, '200', problems);
        rows.push(floorRow);
      }
      if (has('flood')) {
        const invalid: Shot[] = [];
        for (let i = 0; i < 50; i++) {
          invalid.push(...mintShots([badSignature[i]!, expired[i]!, unknownIssuer[i]!], ['AWS_DEPLOY']));
          invalid.push({ method: 'POST', path: '/credentials/mint', headers: { 'content-type': 'application/json', authorization: `Bearer not-a-jwt-${i}` }, body: '{"keys":["AWS_DEPLOY"]}' });
        }
        const floodConnections = Math.max(1, Math.round(options.connections / 2));
        const row = await measure(`flood@${rate}`, `open loop, ${rate} valid mints/s beside ${floodConnections} connections of invalid tokens`, host, broker, async () => {
          const [load, flood] = await Promise.all([
            openLoop({ url: broker.url, rate, seconds: seconds(8), shots: mintShots(valid, ['AWS_DEPLOY']) }),
            closedLoop({ url: broker.url, connections: floodConnections, seconds: seconds(8), shots: invalid }),
          ]);
          return { load, side: { name: 'invalid flood', load: flood } };
        });
        checkStatuses(row, '200', problems);
        const floodOk = Object.entries(row.side!.load.statuses).filter(([status]) => status.startsWith('2'));
        if (floodOk.length > 0) problems.push(`flood: invalid tokens were answered ${JSON.stringify(row.side!.load.statuses)}`);
        rows.push(row);
      }
      if (options.stsLatency > 0) await host.clearFaults();
      brokerNotes = broker.otherLines.filter((line) => !line.includes('voidkey broker listening'));
      await retire(broker);
      if (options.profile) {
        const file = readdirSync(profileDir)
          .filter((name) => name.endsWith('.cpuprofile'))
          .map((name) => join(profileDir, name))
          .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
        if (file) {
          const data = readProfile(file);
          for (const row of rows) {
            const requests = row.load.completed + (row.side?.load.completed ?? 0);
            profiles.push(summariseProfile(data, REPO_ROOT, { name: row.name, ...row.window, requests }));
          }
          if (options.profileDir) progress(`CPU profile kept in ${file}`);
        }
        else problems.push('--profile: the broker wrote no .cpuprofile');
      }
    }

    if (has('herd') || has('parallel')) {
      // A fresh broker: nothing cached, no keep-alive sockets, no JIT.
      const broker = await launch('reference checks', withFiveKeys(config), options.logLevel);
      progress(`fresh broker for the reference checks (pid ${broker.pid})`);
      if (has('herd')) {
        progress(`herd: ${options.herd} concurrent first requests, each with its own token and connection`);
        const tokens = options.herd <= valid.length ? valid.slice(0, options.herd) : await host.tokens(options.herd, 'valid');
        const before = await host.counters();
        const t0 = performance.now();
        const answers = await Promise.all(mintShots(tokens, ['AWS_DEPLOY']).map((shot) => once(broker.url, shot)));
        const wallMs = performance.now() - t0;
        const after = await host.counters();
        const statuses: Record<string, number> = {};
        for (const { status } of answers) statuses[status] = (statuses[status] ?? 0) + 1;
        const delta = counterDelta(before, after, answers.length);
        herd = {
          size: answers.length,
          statuses,
          wallMs,
          latency: percentiles(answers.map((answer) => answer.ms)),
          jwksFetches: delta.jwksFetches,
          discoveryFetches: delta.discoveryFetches,
          brokerTokenRequests: delta.brokerTokenRequests,
          stsCalls: delta.stsCalls,
        };
        if ((statuses['200'] ?? 0) !== answers.length) problems.push(`herd: not every request succeeded: ${JSON.stringify(statuses)}`);
      }
      if (has('parallel')) {
        const STS_MS = 50;
        const rounds = 15;
        progress(`parallel: ${rounds} rounds of one key and of five keys, every STS answer delayed ${STS_MS} ms`);
        const one: number[] = [];
        const five: number[] = [];
        const fiveFast: number[] = [];
        const before = await host.counters();
        // Warm the path once (JWKS, broker token, sockets) so the rounds time minting only.
        await once(broker.url, mintShots([valid[0]!], FIVE_KEYS)[0]!);
        for (let round = 0; round < rounds; round++) {
          const token = valid[round % valid.length]!;
          await host.stsDelay('aws', 1, STS_MS);
          const a = await once(broker.url, mintShots([token], ['AWS_DEPLOY'])[0]!);
          await host.stsDelay('aws', FIVE_KEYS.length, STS_MS);
          const b = await once(broker.url, mintShots([token], FIVE_KEYS)[0]!);
          const c = await once(broker.url, mintShots([token], FIVE_KEYS)[0]!);
          if (a.status !== 200 || b.status !== 200 || c.status !== 200) {
            problems.push(`parallel: round ${round} answered ${a.status}/${b.status}/${c.status}: ${b.body.slice(0, 300)}`);
            break;
          }
          one.push(a.ms);
          five.push(b.ms);
          fiveFast.push(c.ms);
        }
        await host.clearFaults();
        const after = await host.counters();
        const fiveKeyMints = 1 + 2 * five.length;
        parallel = {
          stsLatencyMs: STS_MS,
          rounds: five.length,
          oneKey: percentiles(one),
          fiveKeys: percentiles(five),
          fiveKeysNoLatency: percentiles(fiveFast),
          stsCallsPerFiveKeyMint: (after.aws - before.aws - one.length) / fiveKeyMints,
        };
      }
      await retire(broker);
    }

    if (has('logging')) {
      const keyPair = generateKeyPairSync('ed25519');
      const keyFile = join(scratch, 'audit-signing.pem');
      writeFileSync(keyFile, keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      const variants: Array<{ name: string; description: string; config: string; logLevel: string }> = [
        { name: 'info', description: '--log-level info: a request log line and the audit event on stdout (the default)', config, logLevel: 'info' },
        { name: 'warn', description: '--log-level warn: the audit event on stdout, no request log', config, logLevel: 'warn' },
        { name: 'quiet', description: '--log-level warn, server.audit.stdout: false: nothing printed per request', config: withServerSection(config, '  audit:\n    stdout: false'), logLevel: 'warn' },
        {
          name: 'file+signed',
          description: '--log-level warn, audit to a file only, hash-chained and Ed25519-signed (writeSync per event)',
          config: withServerSection(config, `  audit:\n    stdout: false\n    file: ${join(scratch, 'audit.jsonl')}\n    signingKeyFile: ${keyFile}`),
          logLevel: 'warn',
        },
      ];
      for (const variant of variants) {
        const broker = await launch(`logging: ${variant.name}`, variant.config, variant.logLevel);
        await closedLoop({ url: broker.url, connections: options.connections, seconds: warmup * 0.75, shots: mintShots(valid, ['AWS_DEPLOY']) });
        const row = await measure(`log:${variant.name}`, variant.description, host, broker, async () => ({
          load: await closedLoop({ url: broker.url, connections: options.connections, seconds: seconds(5), shots: mintShots(valid, ['AWS_DEPLOY']) }),
        }));
        checkStatuses(row, '200', problems);
        logging.push({ name: variant.name, description: variant.description, row });
        await retire(broker);
      }
      progress('logging: the same code paths in this process, per event');
      eventCosts = auditCosts();
    }
    if (has('sdk')) {
      progress('sdk: AssumeRoleWithWebIdentity through the AWS SDK client and through bare node:http, in this process');
      const brokerToken = await host.brokerToken();
      sdk = await stsClientCosts({ stsUrl: awsUrl, brokerToken, calls: 3_000, concurrency: 8, emulatorPid: host.pid });
    }
    if (has('verify')) {
      progress('verify: RS256 verification through jose and through node:crypto, in this process');
      verify = await verifyCosts();
    }
  } finally {
    await Promise.allSettled(brokers.map((broker) => broker.stop()));
    await host.close();
    rmSync(scratch, { recursive: true, force: true });
  }

  const machine = { cpu: cpuModel(), cpus: cpus().length, node: process.version, pinned: options.pin, busyPercentAtStart: Math.round(busyAtStart) };
  const out: string[] = [];
  out.push(`Voidkey broker benchmark — ${machine.cpus} CPUs (${machine.cpu}), Node ${machine.node}${options.pin ? ', broker pinned to CPU 0' : ', processes unpinned'}`);
  out.push(`broker log level ${options.logLevel}${options.nodeOptions ? `; broker NODE_OPTIONS ${options.nodeOptions}` : ''}; STS latency added ${options.stsLatency} ms; ${options.connections} connections; ${options.tokens} distinct tokens; other load before the run ${busyAtStart.toFixed(0)}% of a core`);
  if (starts.length > 0) {
    out.push(`broker start (spawn → serving) and RSS before any request: ${starts.map((start) => `${start.startMs} ms, ${start.rssMiB} MiB (${start.purpose})`).join('; ')}`);
  }
  out.push('');
  if (rows.length > 0) {
    out.push(scenarioTable(rows));
    out.push('');
    out.push('latency in ms (every answer, sub-millisecond); "CPU µs/req": broker CPU time (all threads) per answer; CPU columns in % of one core;');
    out.push('STS/req, JWKS and tok (broker-token requests) counted by the sandbox over the phase; "other": CPU used by unrelated processes (noise).');
    for (const row of rows) {
      const notes: string[] = [];
      if (row.broker.cpuMicrosPerRequest > 0) notes.push(`≈ ${Math.round(1e6 / row.broker.cpuMicrosPerRequest).toLocaleString('en-US')} req/s per broker core`);
      if (row.broker.mintMeanMs !== undefined) notes.push(`inside Broker.mint ${row.broker.mintMeanMs.toFixed(2)} ms mean`);
      if (row.broker.providerCallMeanMs !== undefined) notes.push(`STS call ${row.broker.providerCallMeanMs.toFixed(2)} ms mean`);
      const share = row.broker.brokerShare;
      if (share) notes.push(`broker's own share p50 ${share.p50Ms.toFixed(2)} ms, p99 ${share.p99Ms.toFixed(2)} ms (${share.under10msPercent.toFixed(1)}% under 10 ms)`);
      notes.push(`GC ${row.broker.gcPercent.toFixed(1)}% of the phase (${row.broker.minorGcsPer1000.toFixed(1)} scavenges per 1000 requests, ${row.broker.majorGcs} mark-compacts)`);
      notes.push(`stdout ${row.broker.stdoutBytesPerRequest.toFixed(0)} B/req (${row.broker.auditLines} audit, ${row.broker.requestLogLines} request lines)`);
      out.push(`  ${row.name}: ${notes.join('; ')}`);
    }
    out.push('');
  }
  if (herd) {
    out.push(`Cold herd: ${herd.size} concurrent first requests on a fresh broker → ${JSON.stringify(herd.statuses)} in ${herd.wallMs.toFixed(0)} ms (p50 ${herd.latency.p50.toFixed(0)}, p99 ${herd.latency.p99.toFixed(0)} ms)`);
    out.push(`  JWKS fetches ${herd.jwksFetches} (+${herd.discoveryFetches} discovery), broker-token requests ${herd.brokerTokenRequests}, STS calls ${herd.stsCalls}.  Voidkey reference: ${herd.size} and ${herd.size}; bar: 1 and 1.`);
  }
  if (parallel) {
    out.push(
      `Parallel minting, every STS answer ${parallel.stsLatencyMs} ms late (${parallel.rounds} rounds): one key p50 ${parallel.oneKey.p50.toFixed(1)} ms; five keys p50 ${parallel.fiveKeys.p50.toFixed(1)} ms, max ${parallel.fiveKeys.max.toFixed(1)} ms` +
        ` (serial ≥ ${5 * parallel.stsLatencyMs} ms; Voidkey reference 266 ms); five keys without added latency p50 ${parallel.fiveKeysNoLatency.p50.toFixed(1)} ms; ${parallel.stsCallsPerFiveKeyMint.toFixed(2)} STS calls per five-key mint.`,
    );
  }
  if (herd || parallel) out.push('');
  if (logging.length > 0) {
    const base = logging.find((variant) => variant.name === 'quiet')?.row;
    out.push('What logging and the audit trail cost (fresh broker each, one-key mint, closed loop):');
    out.push(
      table(
        ['variant', 'req/s', 'p50', 'p99', 'CPU µs/req', 'vs quiet', 'stdout B/req', 'audit lines', 'request lines', 'what'],
        logging.map(({ name, description, row }) => [
          name,
          Math.round(row.load.perSecond).toLocaleString('en-US'),
          row.load.latency.p50.toFixed(2),
          row.load.latency.p99.toFixed(2),
          row.broker.cpuMicrosPerRequest.toFixed(0),
          base ? `${row.broker.cpuMicrosPerRequest - base.broker.cpuMicrosPerRequest >= 0 ? '+' : ''}${(row.broker.cpuMicrosPerRequest - base.broker.cpuMicrosPerRequest).toFixed(0)} µs` : '',
          row.broker.stdoutBytesPerRequest.toFixed(0),
          String(row.broker.auditLines),
          String(row.broker.requestLogLines),
          description,
        ]),
        (column) => column > 0 && column < 9,
      ),
    );
    const silent = logging.filter(({ name, row }) => (name === 'info' || name === 'warn') && row.broker.auditLines === 0);
    for (const { name } of silent) out.push(`  ! ${name}: no audit event reached stdout although server.audit.stdout is on — the log level filters the audit trail.`);
    out.push('');
  }
  if (eventCosts) {
    out.push("Per event, the broker's own logger and AuditLog in this process (to /dev/null or a temporary file):");
    out.push(table(['CPU µs/event', 'what'], eventCosts.map((cost) => [cost.cpuMicrosPerEvent.toFixed(1), cost.what]), (column) => column === 0));
    out.push('');
  }
  if (sdk) {
    out.push('One STS call (AssumeRoleWithWebIdentity on the loopback emulator), 8 in flight, best of two runs:');
    out.push(
      table(
        ['client', 'calls/s', 'CPU µs/call', 'emulator µs/call', 'p50 ms', 'p99 ms'],
        sdk.map((cost) => [cost.client, Math.round(cost.callsPerSecond).toLocaleString('en-US'), cost.cpuMicrosPerCall.toFixed(0), cost.emulatorCpuMicrosPerCall.toFixed(0), cost.latency.p50.toFixed(2), cost.latency.p99.toFixed(2)]),
      ),
    );
    out.push('');
  }
  if (verify) {
    out.push('One RS256 token verification (2048-bit key), in this process:');
    out.push(
      table(
        ['method', 'in flight', 'ops/s', 'CPU µs/op'],
        verify.map((cost) => [cost.method, String(cost.concurrency), Math.round(cost.perSecond).toLocaleString('en-US'), cost.cpuMicrosPerOp.toFixed(1)]),
      ),
    );
    out.push('');
  }
  for (const summary of profiles) {
    out.push(`CPU profile of the broker during ${summary.window}: ${(summary.busyMs / 1000).toFixed(2)} s busy of ${(summary.sampledMs / 1000).toFixed(2)} s, ${summary.busyMicrosPerRequest.toFixed(0)} µs per answer; top self time:`);
    out.push(table(['µs/req', '%', 'function  (place)'], summary.functions.map((entry) => [entry.microsPerRequest.toFixed(1), entry.percent.toFixed(1), entry.name]), (column) => column < 2));
    out.push('by place:');
    out.push(table(['µs/req', '%', 'place'], summary.places.map((entry) => [entry.microsPerRequest.toFixed(1), entry.percent.toFixed(1), entry.name]), (column) => column < 2));
    out.push('');
  }
  if (brokerNotes.length > 0) out.push(`broker said: ${brokerNotes.slice(-5).join('\n  ')}`, '');
  const targets = targetsMet(rows, logging);
  if (targets.length > 0) {
    out.push('Targets (issue 5, this machine):');
    for (const line of targets) out.push(`  ${line}`);
    out.push('');
  }
  out.push(`finished in ${((Date.now() - started) / 1000).toFixed(0)} s${problems.length > 0 ? `; PROBLEMS:\n  ${problems.join('\n  ')}` : ''}`);
  process.stdout.write(`${out.join('\n')}\n`);

  const summary = { machine, options: { ...options, scenarios: [...options.scenarios] }, brokerStarts: starts, scenarios: rows, herd, parallel, logging, eventCosts, sdk, verify, profiles, problems };
  const json = JSON.stringify(summary, null, 2);
  if (options.json) process.stdout.write(`${json}\n`);
  if (options.jsonFile) writeFileSync(options.jsonFile, `${json}\n`);
  return problems.length > 0 ? 1 : 0;
}

function targetsMet(rows: readonly ScenarioRow[], logging: readonly LoggingVariant[]): string[] {
  const lines: string[] = [];
  const mint = rows.find((row) => row.name === 'mint');
  if (mint) lines.push(`${mint.load.perSecond >= 3000 ? 'met ' : 'MISS'}  single-key mints/s ≥ 3,000: ${Math.round(mint.load.perSecond).toLocaleString('en-US')}`);
  const latency = rows.find((row) => row.name.startsWith('latency@'));
  if (latency) {
    const share = latency.broker.brokerShare;
    const floor = rows.find((row) => row.name.startsWith('floor@'));
    const less = latency.load.lessUpstream;
    const floorText = floor ? `; the same load on a bare node:http server: p99 ${floor.load.latency.p99.toFixed(2)} ms` : '';
    if (!less) {
      lines.push(`MISS  broker-added p99 < 10 ms at ${latency.name.slice(8)}/s: not measured (no answer carried Server-Timing)`);
    } else {
      lines.push(
        `${less.p99 < 10 ? 'met ' : 'MISS'}  broker-added p99 < 10 ms at ${latency.name.slice(8)}/s: end-to-end less each answer's STS wait (Server-Timing) p99 ${less.p99.toFixed(2)} ms` +
          ` (end-to-end ${latency.load.latency.p99.toFixed(2)} ms${floorText}${share ? `; inside the broker, from arrival to answer, p99 ${share.p99Ms.toFixed(2)} ms` : ''})`,
      );
    }
  }
  const flood = rows.find((row) => row.name.startsWith('flood@'));
  if (latency && flood) {
    const less = flood.load.lessUpstream && latency.load.lessUpstream ? `; less the STS wait ${flood.load.lessUpstream.p99.toFixed(2)} ms vs ${latency.load.lessUpstream.p99.toFixed(2)} ms` : '';
    lines.push(`info  valid p99 beside an invalid flood: ${flood.load.latency.p99.toFixed(2)} ms vs ${latency.load.latency.p99.toFixed(2)} ms alone${less}`);
  }
  const peak = Math.max(0, ...rows.map((row) => row.broker.rssPeakMiB), ...logging.map((variant) => variant.row.broker.rssPeakMiB));
  if (peak > 0) lines.push(`${peak < 200 ? 'met ' : 'MISS'}  broker RSS < 200 MB: peak ${peak.toFixed(0)} MiB`);
  return lines;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
