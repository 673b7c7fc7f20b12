/* global process, console, fetch, setTimeout */
// S1 of the shared bench (one key per request, 32 connections, 256 distinct tokens) on two
// brokers of the same build at once, one with the bench guardrails as `policy:` and one
// without, driven in short alternating bursts so that whatever else the machine runs hits
// both alike. Uses the shared bench's world (client IdP, broker IdP, fake STS) and config;
// both brokers are pinned to CPU 0, the world and the load to CPU 1, as the bench does.
// Prints, per burst and as medians, the broker's CPU per mint (user + system from /proc) and
// mints/s, and the with/without ratios. Run `npm run build` first.
//   node scripts/bench/policy-ab.mjs [--rounds 8] [--seconds 3] [--observe] [--harness DIR]
// --profile DIR: each broker writes a V8 CPU profile (DIR/policy, DIR/no-policy) when it stops.
// --harness: a folder holding the shared bench's world.mjs with its node_modules (default: a
// scratch copy of ../shared/bench, installed with `npm ci` like run.sh does).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { stringify } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    observe: { type: 'boolean', default: false },
    harness: { type: 'string' },
    profile: { type: 'string' },
  },
  strict: true,
});
const pin = spawnSync('taskset', ['-V']).status === 0;
const pinned = (cpus, cmd, argv) => (pin ? ['taskset', ['-c', cpus, cmd, ...argv]] : [cmd, argv]);
const children = [];
const stopAll = () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
};
process.on('exit', stopAll);

let harness = args.harness;
if (!harness) {
  const shared = resolve(root, '../shared/bench');
  harness = mkdtempSync(join(tmpdir(), 'voidkey-policy-ab-'));
  for (const file of readdirSync(shared).filter((f) => f.endsWith('.mjs') || f.startsWith('package'))) cpSync(join(shared, file), join(harness, file));
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: harness, stdio: 'ignore' });
}
if (pin) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });

const dir = mkdtempSync(join(tmpdir(), 'voidkey-policy-ab-run-'));

/** Output goes to a file, as the bench sends it: a pipe read here would load CPU 1 with the audit lines. */
function start(name, cmd, argv, env, cwd) {
  const [c, a] = pinned(name === 'world' ? '1' : '0', cmd, argv);
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(c, a, { env, cwd, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.push(child);
  return { child, output: () => readFileSync(log, 'utf8') };
}

async function until(what, check, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > end) throw new Error(`${what} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const world = start('world', process.execPath, [join(harness, 'world.mjs')], process.env, harness);
const base = await until('the world', async () => world.output().match(/"base":"([^"]+)"/)?.[1]);

// The config the shared bench writes (run.mjs writeConfig), with its extra for "ours".
const outputs = { AWS_ACCESS_KEY_ID: 'AccessKeyId', AWS_SECRET_ACCESS_KEY: 'SecretAccessKey', AWS_SESSION_TOKEN: 'SessionToken' };
const keys = Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`K${i}`, { provider: 'aws-bench', roleArn: `arn:aws:iam::111122223333:role/bench-k${i}`, duration: 900, outputs }]));
const config = {
  brokerIdp: { name: 'bench-broker', issuer: `${base}/broker`, audience: 'voidkey-broker', clientId: 'broker-service', clientSecret: 'bench-broker-secret', tokenEndpoint: `${base}/broker/token` },
  clientIdps: [{ name: 'bench-ci', issuer: `${base}/client`, audience: 'voidkey-broker', jwksUri: `${base}/client/jwks`, algorithms: ['RS256'] }],
  accessProviders: [{ name: 'aws-bench', type: 'aws-sts', endpoint: `${base}/sts`, region: 'us-east-1', brokerAuth: { tokenSource: 'broker-oidc', expectedIssuer: `${base}/broker`, expectedAudience: 'voidkey-broker' } }],
  clientIdentities: [{ subject: 'bench-client', idp: 'bench-ci', keys }],
  default: 'bench-ci',
  settings: { allowHttpLoopback: true },
};

const suts = [];
for (const [index, policy] of [[0, false], [1, true]]) {
  mkdirSync(join(dir, String(index)));
  const file = join(dir, String(index), 'voidkey.yaml');
  writeFileSync(file, stringify(config));
  const port = 41_000 + Math.floor(Math.random() * 10_000) + index;
  const profile = args.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${resolve(args.profile, policy ? 'policy' : 'no-policy')}` } : {};
  const env = { ...process.env, ...profile, PORT: String(port), VOIDKEY_CONFIG: file, NODE_ENV: 'production', BENCH_POLICY: policy ? 'on' : 'off', ...(args.observe ? { BENCH_POLICY_OBSERVE: '1' } : {}) };
  const proc = start(`sut${index}`, 'sh', [join(root, 'scripts/bench/with-policy.sh')], env, root);
  suts.push({ name: policy ? `policy (${args.observe ? 'active + observe' : 'active'})` : 'no policy', policy, port, proc, bursts: [] });
}
for (const sut of suts) await until(`${sut.name} on ${sut.port}`, async () => (await fetch(`http://127.0.0.1:${sut.port}/health`)).ok);

const tokens = await (await fetch(`${base}/_tokens?n=256`)).json();
const requests = tokens.map((token) => ({ method: 'POST', path: '/credentials/mint', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ oidcToken: token, keys: ['K1'] }) }));
for (const sut of suts) {
  // Both brokers mint, and the policy one really decides: its audit line carries the decision.
  const smoke = await fetch(`http://127.0.0.1:${sut.port}/credentials/mint`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: requests[0].body });
  if (smoke.status !== 200) throw new Error(`${sut.name}: smoke mint answered ${smoke.status}: ${await smoke.text()}`);
  await new Promise((r) => setTimeout(r, 200));
  const decided = /"policy":\{"active":\{"version":"[0-9a-f]{64}","decisions":\{"K1":\{"decision":"allow"/.test(sut.proc.output());
  if (decided !== sut.policy) throw new Error(`${sut.name}: expected ${sut.policy ? 'a' : 'no'} policy decision in its audit line`);
}

const ticks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
};
const burst = (sut, seconds) =>
  new Promise((done, fail) => {
    const before = ticks(sut.proc.child.pid);
    autocannon({ url: `http://127.0.0.1:${sut.port}`, connections: Number(args.connections), duration: seconds, requests, timeout: 10 }, (err, res) => {
      if (err) return fail(err);
      const cpuMs = (ticks(sut.proc.child.pid) - before) * 10; // CLK_TCK 100
      const ok = res['2xx'];
      if (res.non2xx > 0 || res.errors > 0) return fail(new Error(`${sut.name}: ${res.non2xx} non-2xx, ${res.errors} errors`));
      done({ perSec: ok / res.duration, cpuUsPerMint: (cpuMs * 1000) / ok });
    });
  });

for (const sut of suts) await burst(sut, 3); // JIT tiers and heap sizing settle
const rounds = Number(args.rounds);
for (let round = 0; round < rounds; round++) {
  for (const sut of round % 2 === 0 ? suts : [...suts].reverse()) {
    const r = await burst(sut, Number(args.seconds));
    sut.bursts.push(r);
    console.log(`round ${round + 1} ${sut.name.padEnd(27)} ${r.perSec.toFixed(0).padStart(5)} mints/s ${r.cpuUsPerMint.toFixed(0).padStart(5)} µs CPU per mint`);
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const [off, on] = suts.map((sut) => ({ name: sut.name, perSec: median(sut.bursts.map((b) => b.perSec)), cpu: median(sut.bursts.map((b) => b.cpuUsPerMint)) }));
// Paired: each round's ratio, then their median (drift within a round hits both).
const paired = suts[1].bursts.map((b, i) => b.cpuUsPerMint / suts[0].bursts[i].cpuUsPerMint);
for (const m of [off, on]) console.log(`median ${m.name.padEnd(27)} ${m.perSec.toFixed(0).padStart(5)} mints/s ${m.cpu.toFixed(0).padStart(5)} µs CPU per mint`);
console.log(`with/without: CPU per mint ×${(on.cpu / off.cpu).toFixed(3)} (paired median ×${median(paired).toFixed(3)}), mints/s ×${(on.perSec / off.perSec).toFixed(3)}`);
if (args.profile) {
  // A profile is written when the process exits on its own: SIGTERM is a graceful stop.
  await Promise.all(suts.map((sut) => new Promise((done) => { sut.proc.child.once('exit', done); sut.proc.child.kill('SIGTERM'); })));
  console.log(`profiles: ${resolve(args.profile)}/{no-policy,policy}/*.cpuprofile`);
}
stopAll();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
