import type { Agent } from 'node:http';
import type { Duplex } from 'node:stream';

/** The `code` of the error a socket is destroyed with when an answer passes the cap. */
export const ANSWER_TOO_LARGE = 'VOIDKEY_ANSWER_TOO_LARGE';

/** Answers (status line, headers and body) above this are cut off: 64 KiB of body and room for headers. */
export const MAX_ANSWER_BYTES = 80 * 1024;

/**
 * Caps every answer read through an agent, whatever client library drives it (gaxios,
 * @azure/core-rest-pipeline): bytes are counted per socket as they arrive and reset when
 * the socket is handed back to the pool, and a socket past the cap is destroyed at once
 * with an error coded ANSWER_TOO_LARGE. Nothing past the cap is buffered, and no single
 * upstream answer can grow the process (an 8 MB GCP STS answer used to be read whole).
 * The client libraries report the cut as a lost connection (gaxios: premature close), so
 * it is retried within the key's budget of 3 attempts and then answered 503.
 */
export function capAnswers<A extends Agent>(agent: A, maxBytes = MAX_ANSWER_BYTES): A {
  const read = new WeakMap<Duplex, number>();
  const pooled = agent as unknown as { createConnection: (...args: unknown[]) => Duplex | undefined };
  const create = pooled.createConnection.bind(agent);
  pooled.createConnection = (...args: unknown[]) => {
    const socket = create(...args);
    socket?.on('data', (chunk: Buffer) => {
      const total = (read.get(socket) ?? 0) + chunk.length;
      read.set(socket, total);
      if (total > maxBytes) socket.destroy(Object.assign(new Error(`the upstream answer exceeds ${maxBytes} bytes`), { code: ANSWER_TOO_LARGE }));
    });
    return socket;
  };
  agent.on('free', (socket: Duplex) => read.set(socket, 0));
  return agent;
}
