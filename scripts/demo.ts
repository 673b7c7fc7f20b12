/**
 * `npm run demo`: the whole path on one machine. Starts a GitHub-Actions-shaped token
 * issuer (the CI job's IdP), AWS and MinIO STS sandboxes that speak the real wire
 * protocol and trust the broker's own issuer (brokerIdentity: no broker IdP to run), and
 * the real broker server; then runs the real `voidkey mint` and explains what happened.
 * Nothing leaves loopback.
 */
import { decodeJwt } from 'jose';
import { startBrokerProcess, runCli, type BrokerProcess } from '../sandbox/broker-process';
import { freeLoopbackPort, writeSigningKey } from '../sandbox/broker-issuer-keys';
import { startStsEmulator } from '../sandbox/sts-emulator';
import { startTokenIssuer } from '../sandbox/token-issuer';
import { AWS_SELF_AUDIENCE, BROKER_AUDIENCE, MAIN_SUBJECT, MINIO_ROLE, sandboxConfigText } from '../sandbox/sandbox-config';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const step = (text: string) => process.stdout.write(`${bold('▸')} ${text}\n`);

async function main(): Promise<number> {
  const started = Date.now();
  const cleanups: Array<() => Promise<unknown>> = [];
  let broker: BrokerProcess | undefined;
  try {
    step('starting the sandbox: a GitHub-Actions-shaped token issuer, AWS and MinIO STS trusting the broker\'s own issuer');
    const github = await startTokenIssuer({ audience: 'https://broker.example.com' });
    cleanups.push(() => github.close());
    // The issuer is the broker's own URL: its port is chosen before it starts.
    const port = await freeLoopbackPort();
    const issuer = `http://127.0.0.1:${port}`;
    const keyFile = writeSigningKey();
    const aws = await startStsEmulator({ flavor: 'aws', trust: { issuer, audience: AWS_SELF_AUDIENCE } });
    cleanups.push(() => aws.close());
    const minio = await startStsEmulator({ flavor: 'minio', trust: { issuer, audience: BROKER_AUDIENCE }, minioRoleArn: MINIO_ROLE });
    cleanups.push(() => minio.close());

    step(`starting the broker: node dist/broker-server/main.js --config <demo config> (its own issuer ${issuer}, key ${keyFile})`);
    broker = await startBrokerProcess({ config: sandboxConfigText({ github, self: { issuer, keyFiles: [keyFile] }, aws, minio }), port });
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
    const awsToken = decodeJwt(awsCall?.params.WebIdentityToken ?? '');
    step('what just happened:');
    process.stdout.write(
      [
        `  1. the broker read iss from the job's token, fetched that issuer's JWKS once (${github.counts.jwks} fetch) and verified signature, exp, aud`,
        `  2. it matched sub + repository_id to the identity 'app-main', which grants AWS_DEPLOY and ARTIFACTS`,
        `  3. it signed one token per key with its own key: iss=${String(awsToken.iss)} sub=${String(awsToken.sub)} aud=${String(awsToken.aud)}`,
        `     act=${JSON.stringify(awsToken.act)} jti=${String(awsToken.jti)} (the audit event names the jti)`,
        `  4. both STS sandboxes found the broker's keys at ${issuer}/.well-known/openid-configuration, verified the tokens, and answered:`,
        `       AWS   ${awsCall?.action} RoleArn=${awsCall?.params.RoleArn} DurationSeconds=${awsCall?.params.DurationSeconds} RoleSessionName=${awsCall?.params.RoleSessionName}`,
        `             SourceIdentity=${aws.issued[0]?.sourceIdentity} tags=${JSON.stringify(aws.issued[0]?.tags)} (what CloudTrail would show)`,
        `       MinIO ${minioCall?.action} DurationSeconds=${minioCall?.params.DurationSeconds} (endpoint ${minio.url})`,
        `  5. it wrote one audit event (token as SHA-256 only) and answered; the CLI printed export lines for eval`,
        ``,
        `  The credentials above come from the local STS sandbox and are valid nowhere else.`,
        `  Demo finished in ${((Date.now() - started) / 1000).toFixed(1)} s. Next: README.md, docs/issuer.md, sample-config.yaml, docs/.`,
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
