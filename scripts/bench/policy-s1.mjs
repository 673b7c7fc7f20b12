/* global process, console */
// The shared bench's S1 for the same build with and without a `policy:` section, alternated
// (off on, on off, …) so that the machine's drift hits both alike; prints, per run and as
// medians, mints/s and the broker's CPU per mint (user + system, as the bench reads it from
// /proc), and the with/without ratios. Run `npm run build` first.
//   node scripts/bench/policy-s1.mjs [--pairs 4] [--observe] [--harness DIR]
// --harness: a folder holding the shared bench's run.mjs with its node_modules (default: a
// scratch copy of ../shared/bench, installed once with `npm ci` like run.sh does).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args } = parseArgs({
  options: { pairs: { type: 'string', default: '4' }, observe: { type: 'boolean', default: false }, harness: { type: 'string' }, duration: { type: 'string', default: '4' } },
  strict: true,
});

let harness = args.harness;
if (!harness) {
  const shared = resolve(root, '../shared/bench');
  harness = mkdtempSync(join(tmpdir(), 'voidkey-policy-s1-'));
  for (const file of readdirSync(shared).filter((f) => f.endsWith('.mjs') || f.startsWith('package'))) cpSync(join(shared, file), join(harness, file));
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: harness, stdio: 'ignore' });
}
const node = realpathSync(join(root, 'node_modules/.bin/node'));

function run(policy, index) {
  const json = join(tmpdir(), `voidkey-policy-s1-${process.pid}-${index}.json`);
  const env = { ...process.env, SUT_START: `BENCH_POLICY=${policy ? 'on' : 'off'}${args.observe ? ' BENCH_POLICY_OBSERVE=1' : ''} exec sh scripts/bench/with-policy.sh` };
  const r = spawnSync(node, [join(harness, 'run.mjs'), '--project', root, '--node', node, '--sut', 'ours', '--ours-config-extra', '{"settings":{"allowHttpLoopback":true}}',
    '--reps', '1', '--duration', args.duration, '--prime', '3', '--json', json], { env, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0 || !existsSync(json)) throw new Error(`bench run failed:\n${r.stdout}\n${r.stderr}`);
  const s1 = JSON.parse(readFileSync(json, 'utf8')).suts.ours.s1?.reps?.[0];
  if (!s1 || s1.non2xx > 0 || s1.errors > 0) throw new Error(`S1 did not run cleanly: ${JSON.stringify(s1)}`);
  return { perSec: s1.perSec, cpuUsPerMint: (s1.sutCpuPct * 10_000) / s1.perSec, others: s1.otherOnSutCpuPct };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = { off: [], on: [] };
const label = args.observe ? 'active + observe' : 'active';
for (let pair = 0; pair < Number(args.pairs); pair++) {
  for (const policy of pair % 2 === 0 ? [false, true] : [true, false]) {
    const r = run(policy, `${pair}-${policy}`);
    results[policy ? 'on' : 'off'].push(r);
    console.log(`pair ${pair + 1} ${policy ? `policy (${label})` : 'no policy'}: ${r.perSec.toFixed(0)} mints/s, ${r.cpuUsPerMint.toFixed(0)} µs CPU per mint, others on the SUT's CPU ${r.others?.toFixed(0) ?? '?'}%`);
  }
}
const off = { perSec: median(results.off.map((r) => r.perSec)), cpu: median(results.off.map((r) => r.cpuUsPerMint)) };
const on = { perSec: median(results.on.map((r) => r.perSec)), cpu: median(results.on.map((r) => r.cpuUsPerMint)) };
console.log(`medians: no policy ${off.perSec.toFixed(0)} mints/s, ${off.cpu.toFixed(0)} µs/mint; policy (${label}) ${on.perSec.toFixed(0)} mints/s, ${on.cpu.toFixed(0)} µs/mint`);
console.log(`with/without: mints/s ×${(on.perSec / off.perSec).toFixed(3)}, CPU per mint ×${(on.cpu / off.cpu).toFixed(3)}`);
