// Run by `npm run build` after tsc: writes the files generated from the code's own
// schemas, so the committed copies can be read (and diffed in review) without a build.
// CI fails when a committed copy differs from what the build writes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchema } from '../broker-core/config/config-json-schema';
import { buildOpenApi } from '../broker-server/openapi';
import { builtInProviders } from '../providers';

const root = join(__dirname, __dirname.includes(join('dist', 'scripts')) ? '../..' : '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

export const GENERATED = {
  'docs/openapi.json': () => buildOpenApi(version),
  'config/voidkey-config.schema.json': () => configJsonSchema(builtInProviders()),
} as const;

if (require.main === module) {
  for (const [file, make] of Object.entries(GENERATED)) writeFileSync(join(root, file), `${JSON.stringify(make(), null, 2)}\n`);
}
