/**
 * The docs show real output. Every code block preceded by `<!-- output of: voidkey … -->`
 * in docs/cli.md and docs/github-action.md must be exactly what that command prints for
 * the fixture below (a fake broker answering with AWS's documented example credentials;
 * files such as sample-config.yaml from the repository), and every YAML block in the
 * docs must parse. After a deliberate change, `UPDATE_DOCS_EXAMPLES=1 npx jest
 * cli/docs-examples` rewrites the blocks with what the CLI prints now.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { fakeJwt, startFakeServer, type FakeServer } from './test-support/fake-broker';
import { runInProcess } from './test-support/run-in-process';

const ROOT = join(__dirname, '..');
const DOCS = ['docs/cli.md', 'docs/github-action.md'];

const FIXTURE = {
  AWS_DEPLOY: {
    credentials: {
      AWS_ACCESS_KEY_ID: 'ASIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      // A quote, to show how each format escapes one.
      AWS_SESSION_TOKEN: "IQoJb3JpZ2luX2VjEXAMPLE'TOKEN",
      AWS_REGION: 'us-east-1',
    },
    expiresAt: '2026-12-02T15:04:05.000Z',
    metadata: {
      provider: 'aws-prod',
      type: 'aws-sts',
      identity: 'app-deploy-main',
      credentialId: 'ASIAIOSFODNN7EXAMPLE',
      fields: { AWS_ACCESS_KEY_ID: 'AccessKeyId', AWS_SECRET_ACCESS_KEY: 'SecretAccessKey', AWS_SESSION_TOKEN: 'SessionToken' },
    },
  },
};
const KEYS = {
  idp: 'github-actions',
  subject: 'repo:acme/app:ref:refs/heads/main',
  identities: ['app-deploy-main'],
  keys: [
    {
      name: 'AWS_DEPLOY',
      provider: 'aws-prod',
      type: 'aws-sts',
      identity: 'app-deploy-main',
      outputs: Object.keys(FIXTURE.AWS_DEPLOY.credentials),
      duration: { default: 900, min: 900, max: 3600 },
    },
  ],
};

interface Example {
  readonly doc: string;
  readonly line: number;
  readonly command: string;
  readonly output: string;
}

const UPDATE = process.env.UPDATE_DOCS_EXAMPLES === '1';

/** Replaces the body of the code block that opens at `line` (1-based). */
function rewriteBlock(doc: string, line: number, body: string): void {
  const path = join(ROOT, doc);
  const lines = readFileSync(path, 'utf8').split('\n');
  const end = lines.findIndex((text, i) => i > line - 1 && text === '```');
  lines.splice(line, end - line, ...body.replace(/\n$/, '').split('\n'));
  writeFileSync(path, lines.join('\n'));
}

function codeBlocks(text: string): Array<{ line: number; lang: string; body: string; before: string }> {
  const blocks: Array<{ line: number; lang: string; body: string; before: string }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!;
    const end = lines.findIndex((line, j) => j > i && line === `${indent}\`\`\``);
    if (end === -1) throw new Error(`unclosed code block at line ${i + 1}`);
    blocks.push({ line: i + 1, lang: open[2]!, body: lines.slice(i + 1, end).map((line) => line.slice(indent.length)).join('\n'), before: lines[i - 1] ?? '' });
    i = end;
  }
  return blocks;
}

/** Enough of sh's word splitting for the documented commands: blanks, '…' and "…". */
function words(command: string): string[] {
  const out: string[] = [];
  const pattern = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const match of command.matchAll(pattern)) out.push(match[1] ?? match[2]?.replace(/\\(.)/g, '$1') ?? match[3]!);
  return out;
}

const examples: Example[] = DOCS.flatMap((doc) =>
  codeBlocks(readFileSync(join(ROOT, doc), 'utf8')).flatMap((block) => {
    const marker = /^<!-- output of: (voidkey .+) -->$/.exec(block.before);
    return marker ? [{ doc, line: block.line, command: marker[1]!, output: `${block.body}\n` }] : [];
  }),
);

describe('documented output', () => {
  let broker: FakeServer;
  beforeAll(async () => {
    broker = await startFakeServer((request) => {
      if (request.url === '/credentials/mint') return { status: 200, body: FIXTURE };
      if (request.url === '/credentials/keys') return { status: 200, body: KEYS };
      return { status: 404, body: { error: 'not_found' } };
    });
  });
  afterAll(() => broker.close());

  it('has examples to check', () => {
    expect(examples.map((example) => example.command)).toEqual(
      expect.arrayContaining(['voidkey mint --keys AWS_DEPLOY --format env', 'voidkey config validate sample-config.yaml']),
    );
  });

  it.each(examples.map((example) => [`${example.doc}:${example.line}`, example] as const))('%s is what the CLI prints', async (_where, example) => {
    const env = { VOIDKEY_BROKER_URL: broker.url, VOIDKEY_OIDC_TOKEN: fakeJwt({ sub: 'docs' }) };
    const run = await runInProcess(words(example.command).slice(1), env);
    if (UPDATE && run.stdout !== example.output) rewriteBlock(example.doc, example.line, run.stdout);
    else expect(run.stdout).toBe(example.output);
  });
});

describe('YAML examples', () => {
  const blocks = DOCS.flatMap((doc) =>
    codeBlocks(readFileSync(join(ROOT, doc), 'utf8'))
      .filter((block) => block.lang === 'yaml' || block.lang === 'yml')
      .map((block) => [`${doc}:${block.line}`, block.body] as const),
  );

  it('exist', () => {
    expect(blocks.length).toBeGreaterThan(3);
  });

  it.each(blocks)('%s parses', (_where, body) => {
    const documents = parseAllDocuments(body, { prettyErrors: true, uniqueKeys: true });
    const errors = (Array.isArray(documents) ? documents : [documents]).flatMap((document) => [...document.errors, ...document.warnings]);
    expect(errors.map(String)).toEqual([]);
  });
});
