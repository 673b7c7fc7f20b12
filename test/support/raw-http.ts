import { connect as netConnect, type Socket } from 'node:net';

/**
 * HTTP/1.1 over a bare socket, for what no HTTP client sends: malformed requests, repeated
 * headers, bytes that trickle in, connections that go quiet. Responses are read by their
 * Content-Length (every answer of the broker has one).
 */
export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface RawConnection {
  readonly socket: Socket;
  write(bytes: string | Buffer): void;
  /** The next complete response on this connection; rejects if the connection closes first. */
  response(): Promise<RawResponse>;
  /** Resolves once the server has closed the connection (end of stream or reset). */
  readonly closed: Promise<void>;
  /** Writes `bytes` one at a time, one every `everyMs`, until all are sent or the server closes; resolves with the count sent. */
  trickle(bytes: string | Buffer, everyMs: number): Promise<number>;
  destroy(): void;
}

export async function rawConnect(port: number): Promise<RawConnection> {
  const socket = netConnect(port, '127.0.0.1');
  await new Promise<void>((done, fail) => socket.once('connect', done).once('error', fail));
  let buffer = Buffer.alloc(0);
  let isClosed = false;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((waiter) => waiter());
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    wake();
  });
  const closed = new Promise<void>((done) => {
    socket.on('error', () => undefined); // a reset after the answer is a close too
    socket.on('close', () => {
      isClosed = true;
      wake();
      done();
    });
  });

  const takeResponse = (): RawResponse | undefined => {
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine, ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (buffer.length < end + 4 + length) return undefined;
    const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    buffer = buffer.subarray(end + 4 + length);
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1]), headers, body };
  };

  return {
    socket,
    write: (bytes) => void socket.write(bytes),
    response: () =>
      new Promise<RawResponse>((done, fail) => {
        const check = () => {
          const response = takeResponse();
          if (response) done(response);
          else if (isClosed) fail(new Error(`the connection closed before a complete response (${buffer.length} bytes received)`));
          else waiters.push(check);
        };
        check();
      }),
    closed,
    trickle: (bytes, everyMs) =>
      new Promise<number>((done) => {
        const data = Buffer.from(bytes);
        let sent = 0;
        const timer = setInterval(() => {
          if (isClosed || sent === data.length) {
            clearInterval(timer);
            done(sent);
            return;
          }
          socket.write(data.subarray(sent, sent + 1));
          sent += 1;
        }, everyMs);
      }),
    destroy: () => socket.destroy(),
  };
}

/** One request on a fresh connection that the server is asked to close after answering. */
export async function rawRequest(port: number, bytes: string | Buffer): Promise<RawResponse & { closedByServer: true }> {
  const connection = await rawConnect(port);
  try {
    connection.write(bytes);
    const response = await connection.response();
    await connection.closed;
    return { ...response, closedByServer: true };
  } finally {
    connection.destroy();
  }
}
