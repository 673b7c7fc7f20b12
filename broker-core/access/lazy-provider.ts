import type { AccessProvider } from './access-provider';

/**
 * An access provider whose implementation (and its cloud SDK) is loaded on first use.
 * A broker that configures one cloud does not pay for evaluating the others' SDKs at
 * start: this is most of a Lambda cold start.
 */
export function lazyProvider(name: string, type: string, load: () => Promise<AccessProvider>): AccessProvider {
  let loading: Promise<AccessProvider> | undefined;
  const instance = (): Promise<AccessProvider> => {
    loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    });
    return loading;
  };
  return {
    name,
    type,
    mint: async (context) => (await instance()).mint(context),
  };
}
