import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Counters, HostCall, HostResponse, SandboxInfo, TokenKind } from './protocol';

/** The sandbox host child process, seen from the bench. */
export class SandboxHost {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: HostResponse) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`sandbox host: ${message.error}`));
    });
    this.exited = new Promise((done) =>
      child.once('exit', (code) => {
        for (const waiter of this.pending.values()) waiter.reject(new Error(`the sandbox host exited (code ${code})`));
        this.pending.clear();
        done(code);
      }),
    );
  }

  static spawn(): SandboxHost {
    // Same Node, no inherited --cpu-prof or inspector flags: the host is not what we measure.
    const child = fork(join(__dirname, 'host.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], env: { PATH: process.env.PATH ?? '' } });
    return new SandboxHost(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  call<T>(request: HostCall): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ ...request, id });
    });
  }

  start(clientSecret: string): Promise<SandboxInfo> {
    return this.call({ op: 'start', clientSecret });
  }

  counters(): Promise<Counters> {
    return this.call({ op: 'counters' });
  }

  tokens(count: number, kind: TokenKind): Promise<string[]> {
    return this.call({ op: 'tokens', count, kind });
  }

  stsDelay(flavor: 'aws' | 'minio', times: number | 'always', ms: number): Promise<void> {
    return this.call({ op: 'stsDelay', flavor, times, ms });
  }

  /** A token for the broker's client from the broker's IdP, as the broker gets it. */
  brokerToken(): Promise<string> {
    return this.call({ op: 'brokerToken' });
  }

  clearFaults(): Promise<void> {
    return this.call({ op: 'clearFaults' });
  }

  /** Closes the sandbox servers, then the process. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      await Promise.race([this.call({ op: 'close' }), new Promise((done) => setTimeout(done, 5_000))]);
    } catch {
      // already gone
    }
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}
