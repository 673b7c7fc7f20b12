const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * Issuer, JWKS, token and provider URLs must be https; plain http is accepted only for
 * loopback hosts, and only when `allowHttpLoopback` (the config loader passes true and
 * warns instead; a URL learnt at run time passes the config's consent).
 * Returns a problem description, or undefined when the URL is acceptable.
 */
export function checkServiceUrl(value: string, allowHttpLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.username || url.password) return 'must not carry credentials in the URL';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return 'must use https';
  if (!isLoopbackHost(url.hostname)) return 'must use https (plain http is only for loopback hosts in a local setup)';
  if (!allowHttpLoopback) return 'plain http needs settings.allowHttpLoopback: true (local/test setups only)';
  return undefined;
}

/** An `http:` URL to a loopback host: loads with a warning unless the config is marked local. */
export function isHttpLoopbackUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}
