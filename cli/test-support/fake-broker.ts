import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback HTTP server that answers like the broker's API and records what it got. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface FakeAnswer {
  readonly status: number;
  readonly body?: unknown;
  /** Sent as is, not as JSON. */
  readonly rawBody?: string;
  readonly headers?: Record<string, string>;
}

export type FakeHandler = (request: RecordedRequest) => FakeAnswer | Promise<FakeAnswer>;

export interface FakeServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  handler: FakeHandler;
  close(): Promise<void>;
}

export async function startFakeServer(handler: FakeHandler): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const fake = { handler } as { handler: FakeHandler };
  let served = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(recorded);
      served += 1;
      Promise.resolve(fake.handler(recorded)).then(
        (answer) => {
          const body = answer.rawBody ?? (answer.body === undefined ? '' : JSON.stringify(answer.body));
          res.writeHead(answer.status, { 'content-type': 'application/json', 'x-request-id': `req-${served}`, ...answer.headers });
          res.end(body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** A loopback port nothing listens on (connections are refused). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A JWT-shaped token; the fake broker does not verify it, the CLI only carries it. */
export function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

/** Hostile values: each must come out of every format exactly as it went in. */
export const HOSTILE_VALUES: Readonly<Record<string, string>> = {
  SINGLE_QUOTE: "it's",
  QUOTES: `'"'"''\\''`,
  SPACES: '  a  b  ',
  DOLLAR: '$HOME ${PATH} $((1+1))',
  SUBSHELL: '$(touch /tmp/voidkey-pwned) `touch /tmp/voidkey-pwned`',
  SEMICOLON: 'a; echo pwned; b && c || d | e & f',
  NEWLINES: 'line1\nline2\n\nline4\n',
  CARRIAGE: 'a\r\nb\r',
  BACKSLASH: 'a\\b\\\\c\\n\\',
  GLOB: '* ? [a-z] ~ ~root',
  BANG: '!! !$ !-1',
  DASH: '-n -e --',
  UNICODE: 'ключ 🔑 \u2028 \u00a0',
  EMPTY: '',
  HEREDOC: 'EOF\nghadelimiter_x\n%0A%25::add-mask::x',
  TAB: 'a\tb',
};
