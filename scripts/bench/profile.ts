import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/** The parts of a V8 `.cpuprofile` (written by `node --cpu-prof`) that the summary reads. */
interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }>;
  /** Microseconds on the monotonic clock (CLOCK_MONOTONIC on Linux, as process.hrtime). */
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileEntry {
  readonly name: string;
  readonly selfMs: number;
  /** Percent of the window's busy (non-idle) samples. */
  readonly percent: number;
  /** Self time per answered request in the window, microseconds. */
  readonly microsPerRequest: number;
}

export interface ProfileWindow {
  readonly name: string;
  /** Monotonic microseconds (process.hrtime.bigint() / 1000). */
  readonly fromUs: number;
  readonly toUs: number;
  readonly requests: number;
}

export interface ProfileSummary {
  readonly window: string;
  readonly requests: number;
  readonly sampledMs: number;
  /** Sampled time that was not idle. */
  readonly busyMs: number;
  readonly busyMicrosPerRequest: number;
  readonly functions: readonly ProfileEntry[];
  /** Self time grouped by where the code lives: a package, a part of Node, our directories, GC. */
  readonly places: readonly ProfileEntry[];
}

const SOCKET_WRITES = new Set(['writeUtf8String', 'writev', 'writeBuffer', 'writeLatin1String', 'writeAsciiString']);

/** Where a frame's code lives: `pkg` for node_modules/pkg, a part of Node, else a repo path. */
function placeOf(functionName: string, url: string, root: string): string {
  if (url === '') {
    if (SOCKET_WRITES.has(functionName)) return 'socket writes (syscall)';
    if (functionName.startsWith('(')) return functionName;
    return '(native / V8 builtins)';
  }
  if (url.startsWith('node:')) {
    if (url.startsWith('node:internal/crypto/')) return 'node: crypto (WebCrypto, hashes)';
    if (url.startsWith('node:_http') || url === 'node:http') return 'node: http';
    if (url === 'node:net' || url.startsWith('node:internal/streams/') || url === 'node:internal/stream_base_commons') return 'node: net and streams';
    if (url.includes('timers') || url.includes('abort_controller') || url.includes('task_queues')) return 'node: timers, AbortSignal, ticks';
    if (url.includes('modules/') || url.includes('bootstrap')) return 'node: module loading';
    return 'node: other';
  }
  const path = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const at = path.lastIndexOf('/node_modules/');
  if (at >= 0) {
    const rest = path.slice(at + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const local = relative(root, path) || path;
  return local.startsWith('dist/') ? local.split('/').slice(0, 2).join('/') : local;
}

function shortUrl(url: string, root: string): string {
  if (url === '' || url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const at = path.lastIndexOf('/node_modules/');
  return at >= 0 ? path.slice(at + '/node_modules/'.length) : relative(root, path);
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/** Self time by function and by place over the samples inside `window` (the whole profile without one). */
export function summariseProfile(profile: CpuProfile, root: string, window?: ProfileWindow, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const from = window?.fromUs ?? -Infinity;
  const to = window?.toUs ?? Infinity;
  let at = profile.startTime;
  let sampled = 0;
  let idle = 0;
  const functions = new Map<string, number>();
  const places = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < from || at > to) continue;
    sampled += delta;
    const { functionName, url, lineNumber } = byId.get(profile.samples[i]!)!.callFrame;
    if (functionName === '(idle)') {
      idle += delta;
      continue;
    }
    const place = placeOf(functionName, url, root);
    const name = functionName.startsWith('(') ? functionName : `${functionName || '(anonymous)'}  ${url ? `${shortUrl(url, root)}:${lineNumber + 1}` : '(native)'}`;
    functions.set(name, (functions.get(name) ?? 0) + delta);
    places.set(place, (places.get(place) ?? 0) + delta);
  }
  const busy = sampled - idle;
  const requests = window?.requests ?? 0;
  const entries = (map: Map<string, number>, limit: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, micros]) => ({ name, selfMs: micros / 1000, percent: busy > 0 ? (100 * micros) / busy : 0, microsPerRequest: requests > 0 ? micros / requests : 0 }));
  return {
    window: window?.name ?? 'whole run',
    requests,
    sampledMs: sampled / 1000,
    busyMs: busy / 1000,
    busyMicrosPerRequest: requests > 0 ? busy / requests : 0,
    functions: entries(functions, top),
    places: entries(places, 16),
  };
}

/** Monotonic microseconds, on the clock V8 stamps profile samples with. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
