/**
 * `npm run demo`: the whole path on one machine. Starts a local OpenID provider (the
 * broker's own IdP), a GitHub-Actions-shaped token issuer (the CI job's IdP), AWS and
 * MinIO STS sandboxes that speak the real wire protocol, and the real broker server;
 * then runs the real `voidkey mint` and explains what happened. Nothing leaves loopback.
 */
import { randomBytes } from 'node:crypto';
import { startBrokerProcess, runCli, type BrokerProcess } from '../sandbox/broker-process';
import { startLocalIdp } from '../sandbox/local-idp';
import { startStsEmulator } from '../sandbox/sts-emulator';
import { startTokenIssuer } from '../sandbox/token-issuer';
import { BROKER_AUDIENCE, MAIN_SUBJECT, MINIO_ROLE, sandboxConfigText } from '../sandbox/sandbox-config';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const step = (text: string) => process.stdout.write(`${bold('▸')} ${text}\n`);

async function main(): Promise<number> {
  const started = Date.now();
  const cleanups: Array<() => Promise<unknown>> = [];
  let broker: BrokerProcess | undefined;
  try {
    step('starting the sandbox: a GitHub-Actions-shaped token issuer, the broker\'s IdP (oidc-provider), AWS and MinIO STS');
    const github = await startTokenIssuer({ audience: 'https://broker.example.com' });
    cleanups.push(() => github.close());
    const clientSecret = randomBytes(24).toString('base64url');
    const brokerIdp = await startLocalIdp({ clients: [{ clientId: 'voidkey-broker', clientSecret }] });
    cleanups.push(() => brokerIdp.close());
    const trust = { issuer: brokerIdp.issuer, jwksUri: brokerIdp.jwksUri, audience: BROKER_AUDIENCE };
    const aws = await startStsEmulator({ flavor: 'aws', trust });
    cleanups.push(() => aws.close());
    const minio = await startStsEmulator({ flavor: 'minio', trust, minioRoleArn: MINIO_ROLE });
    cleanups.push(() => minio.close());

    step('starting the broker: node dist/broker-server/main.js --config <demo config>');
    broker = await startBrokerProcess({
      config: sandboxConfigText({ github, brokerIdp, aws, minio }),
      env: { BROKER_CLIENT_SECRET: clientSecret },
    });
    process.stdout.write(`  broker listening on ${broker.url} (config ${broker.configPath})\n`);

    const token = await github.githubToken({ repository_id: '123456789' });
    step(`the CI job's OIDC token: sub=${MAIN_SUBJECT}, aud=https://broker.example.com`);
    step(`running: VOIDKEY_BROKER_URL=${broker.url} VOIDKEY_OIDC_TOKEN=… voidkey mint --keys AWS_DEPLOY,ARTIFACTS --format env`);
    const result = await runCli(['mint', '--keys', 'AWS_DEPLOY,ARTIFACTS', '--format', 'env'], {
      env: { VOIDKEY_BROKER_URL: broker.url, VOIDKEY_OIDC_TOKEN: token },
    });
    if (result.code !== 0) {
      process.stderr.write(`voidkey mint failed (exit ${result.code}):\n${result.stderr}`);
      return 1;
    }
    process.stdout.write(`\n${result.stdout}\n`);

    const awsCall = aws.requests[0];
    const minioCall = minio.requests[0];
    step('what just happened:');
    process.stdout.write(
      [
        `  1. the broker read iss from the job's token, fetched that issuer's JWKS once (${github.counts.jwks} fetch) and verified signature, exp, aud`,
        `  2. it matched sub + repository_id to the identity 'app-main', which grants AWS_DEPLOY and ARTIFACTS`,
        `  3. it got its own token from its IdP with client credentials (${brokerIdp.counts.token} token request; cached for the next mints)`,
        `  4. it called both STS endpoints in parallel with that token in the POST body:`,
        `       AWS   ${awsCall?.action} RoleArn=${awsCall?.params.RoleArn} DurationSeconds=${awsCall?.params.DurationSeconds} RoleSessionName=${awsCall?.params.RoleSessionName}`,
        `       MinIO ${minioCall?.action} DurationSeconds=${minioCall?.params.DurationSeconds} (endpoint ${minio.url})`,
        `  5. it wrote one audit event (token as SHA-256 only) and answered; the CLI printed export lines for eval`,
        ``,
        `  The credentials above come from the local STS sandbox and are valid nowhere else.`,
        `  Demo finished in ${((Date.now() - started) / 1000).toFixed(1)} s. Next: README.md, sample-config.yaml, docs/.`,
        ``,
      ].join('\n'),
    );
    return 0;
  } finally {
    await broker?.stop();
    await Promise.allSettled(cleanups.map((cleanup) => cleanup()));
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
