import type { MintResponse } from '../broker-client';

/** The broker's map as it came, for tools that parse JSON (`jq`, scripts). */
export function formatJson(minted: MintResponse): string {
  return `${JSON.stringify(minted, null, 2)}\n`;
}
