/**
 * Voidkey's `CONFIG_DIR`: a folder that holds the config. The broker reads exactly one
 * YAML file from it; several are refused rather than merged (or one picked) behind the
 * user's back. Pure: the caller lists the folder (the core does no I/O).
 */
export class ConfigDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigDirError';
  }
}

/** Whether a folder entry counts as a config file: `*.yaml`/`*.yml`, not hidden (Kubernetes mounts keep `..data` beside the files). */
export function isConfigFileName(name: string): boolean {
  return !name.startsWith('.') && /\.ya?ml$/i.test(name);
}

/** The one YAML file among `files` (the folder's regular files), or a ConfigDirError saying why not. */
export function pickConfigFile(dir: string, files: readonly string[]): string {
  const yaml = files.filter(isConfigFileName).sort();
  if (yaml.length === 1) return yaml[0]!;
  if (yaml.length === 0) throw new ConfigDirError(`${dir} holds no config: expected one YAML file (*.yaml or *.yml) in the folder`);
  throw new ConfigDirError(
    `${dir} holds ${yaml.length} YAML files (${yaml.join(', ')}): the broker reads one config and never merges files. Keep one in the folder, or name it with --config FILE`,
  );
}
