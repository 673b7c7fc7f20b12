import { UsageError } from './errors';

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

/**
 * The broker's base URL, always ending in `/` so that routes resolve under a path
 * prefix (`https://host/voidkey/` + `credentials/mint`). Plain http would send the
 * OIDC token and the credentials in clear text: allowed for loopback hosts, or when
 * the caller says so (a service mesh that encrypts for us).
 */
export function parseBrokerUrl(raw: string | undefined, allowHttp: boolean): URL {
  if (raw === undefined || raw.trim() === '') {
    throw new UsageError('no broker URL: pass --broker-url or set VOIDKEY_BROKER_URL');
  }
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UsageError(`the broker URL is not a valid URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`the broker URL must be https: got ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new UsageError('the broker URL must not contain a user name or password');
  }
  if (url.search !== '' || url.hash !== '') {
    throw new UsageError('the broker URL must not contain a query string or fragment');
  }
  if (url.protocol === 'http:' && !allowHttp && !isLoopback(url.hostname)) {
    throw new UsageError(
      `refusing to send a token over plain http to ${url.host}: use https, or pass --allow-http if the network encrypts for you`,
    );
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

export function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}
