/** `policy` may be a JSON string or a YAML mapping; STS receives compact JSON. */
export function policyDocument(policy: unknown): string | undefined {
  if (policy === undefined) return undefined;
  return typeof policy === 'string' ? JSON.stringify(JSON.parse(policy)) : JSON.stringify(policy);
}
