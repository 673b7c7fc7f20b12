import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigDirError } from '../broker-core';
import { envSource, fileSource } from './bootstrap';
import { configPathFromEnv, resolveConfigPath } from './config-file';

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'voidkey-config-file-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('config paths: a file, or a folder holding one YAML file (CONFIG_DIR)', () => {
  it('a file is itself; a folder resolves to its one YAML file, as a Kubernetes ConfigMap mount lays it out', () => {
    const dir = folder({ 'notes.txt': 'x' });
    mkdirSync(join(dir, '..2026_12_06'));
    writeFileSync(join(dir, '..2026_12_06', 'config.yaml'), 'clientIdps: []\n');
    symlinkSync('..2026_12_06', join(dir, '..data'));
    symlinkSync(join('..data', 'config.yaml'), join(dir, 'config.yaml'));
    expect(resolveConfigPath(join(dir, 'notes.txt'))).toBe(join(dir, 'notes.txt'));
    expect(resolveConfigPath(dir)).toBe(join(dir, 'config.yaml'));
    const source = fileSource(dir);
    expect(source.name).toBe(join(dir, 'config.yaml'));
    expect(source.read()).toBe('clientIdps: []\n');
  });

  it('refuses a folder with several YAML files, or none', () => {
    expect(() => resolveConfigPath(folder({ 'a.yaml': '', 'b.yml': '' }))).toThrow(ConfigDirError);
    expect(() => resolveConfigPath(folder({ 'README.md': '' }))).toThrow(/holds no config/);
  });

  it('reads CONFIG_DIR from the environment like VOIDKEY_CONFIG, and refuses two different sources', () => {
    const dir = folder({ 'config.yaml': 'default: x\n' });
    expect(configPathFromEnv({ CONFIG_DIR: dir })).toBe(dir);
    expect(configPathFromEnv({ VOIDKEY_CONFIG: dir, CONFIG_DIR: dir })).toBe(dir);
    // The file and the folder holding it name one config (the shared benchmark sets both).
    expect(configPathFromEnv({ VOIDKEY_CONFIG: join(dir, 'config.yaml'), CONFIG_DIR: dir })).toBe(join(dir, 'config.yaml'));
    const other = folder({ 'other.yaml': 'default: y\n' });
    expect(() => configPathFromEnv({ VOIDKEY_CONFIG: join(other, 'other.yaml'), CONFIG_DIR: dir })).toThrow('VOIDKEY_CONFIG and CONFIG_DIR name different configs: set one of them');
    expect(() => configPathFromEnv({ VOIDKEY_CONFIG: join(dir, 'config.yaml'), CONFIG_DIR: other })).toThrow('VOIDKEY_CONFIG and CONFIG_DIR name different configs');
    expect(envSource({ CONFIG_DIR: dir }).read()).toBe('default: x\n'); // the Lambda handler's source
    expect(() => envSource({ CONFIG_DIR: dir, VOIDKEY_CONFIG_YAML: 'default: x' })).toThrow(/not two of them/);
  });
});
