import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { pickConfigFile } from '../broker-core/config/config-dir';

/**
 * `--config`, `VOIDKEY_CONFIG` and Voidkey's `CONFIG_DIR` may name a file or a folder;
 * a folder must hold exactly one YAML file (ConfigDirError otherwise). Symbolic links
 * are followed, as Kubernetes ConfigMap mounts need.
 */
export function resolveConfigPath(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const files = readdirSync(path).filter((name) => {
    try {
      return statSync(join(path, name)).isFile();
    } catch {
      return false; // a dangling link is not a config
    }
  });
  return join(path, pickConfigFile(path, files));
}

/**
 * Which config the environment names for the server: `VOIDKEY_CONFIG` or Voidkey's
 * `CONFIG_DIR`. Both set is fine when they name the same config (a file and the folder
 * holding it, as deployments that set both for Voidkey and for this broker do); two
 * different configs are refused rather than guessed.
 */
export function configPathFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const { VOIDKEY_CONFIG: file, CONFIG_DIR: dir } = env;
  if (file && dir && file !== dir && configFileOf(file) !== configFileOf(dir)) {
    throw new Error('VOIDKEY_CONFIG and CONFIG_DIR name different configs: set one of them');
  }
  return file || dir || undefined;
}

/** The real path of the config a file or folder names, or the text itself when it cannot be read (the loader says why). */
function configFileOf(path: string): string {
  try {
    return realpathSync(resolveConfigPath(path));
  } catch {
    return path;
  }
}

/**
 * `policy.active`/`policy.observe`: a .cedar file, or a folder whose *.cedar files are read
 * in name order; relative paths are relative to the config file's folder.
 */
export function readPolicyPath(base: string, path: string): Array<{ file: string; text: string }> {
  const full = isAbsolute(path) ? path : join(base, path);
  let stat;
  try {
    stat = statSync(full);
  } catch (err) {
    throw new Error(`${full}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (err as Error).message}`, { cause: err });
  }
  if (!stat.isDirectory()) return [{ file: full, text: readFileSync(full, 'utf8') }];
  const names = readdirSync(full).filter((name) => name.endsWith('.cedar')).sort();
  if (names.length === 0) throw new Error(`${full}: the folder holds no *.cedar file`);
  return names.map((name) => ({ file: join(full, name), text: readFileSync(join(full, name), 'utf8') }));
}
