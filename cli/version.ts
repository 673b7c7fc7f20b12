// scripts/bundle-cli.mjs defines VOIDKEY_VERSION from package.json; tests run the source.
declare const VOIDKEY_VERSION: string | undefined;

export const CLI_VERSION: string = typeof VOIDKEY_VERSION === 'string' ? VOIDKEY_VERSION : '0.0.0-dev';
