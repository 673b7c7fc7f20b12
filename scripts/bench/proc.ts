import { readFileSync } from 'node:fs';

/** What Linux says about a process: CPU time and memory (all zeros where /proc is missing). */
export interface ProcSample {
  /** User + system CPU time of every thread, milliseconds. */
  readonly cpuMs: number;
  /** Resident set size now, bytes. */
  readonly rss: number;
  /** Peak resident set size since start (VmHWM), bytes. */
  readonly hwm: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux that ships today

export function sampleProcess(pid: number): ProcSample {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { cpuMs: ((utime + stime) * 1000) / TICKS_PER_SECOND, rss: kib(status, 'VmRSS'), hwm: kib(status, 'VmHWM') };
  } catch {
    return { cpuMs: 0, rss: 0, hwm: 0 };
  }
}

function kib(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** The resident set size of a process, sampled every `intervalMs` until stopped: the peak. */
export class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 200,
  ) {
    this.take();
    this.timer = setInterval(() => this.take(), intervalMs);
    this.timer.unref();
  }

  private take(): void {
    this.peak = Math.max(this.peak, sampleProcess(this.pid).rss);
  }

  stop(): number {
    clearInterval(this.timer);
    this.take();
    return this.peak;
  }
}

/** CPU used by this process (the load generator), milliseconds. */
export function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

export function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return match?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Machine-wide CPU time from /proc/stat, milliseconds: busy (not idle, not iowait) and total. */
export function machineCpuMs(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    const idle = ticks[3]! + ticks[4]!;
    return { busy: ((total - idle) * 1000) / TICKS_PER_SECOND, total: (total * 1000) / TICKS_PER_SECOND };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** CPU used by everything on the machine over `ms`, in percent of one core. */
export async function machineBusyPercent(ms: number): Promise<number> {
  const before = machineCpuMs();
  const started = performance.now();
  await new Promise((done) => setTimeout(done, ms));
  const after = machineCpuMs();
  return (100 * (after.busy - before.busy)) / (performance.now() - started);
}
