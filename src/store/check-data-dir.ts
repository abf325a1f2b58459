// The embedded store's directory must take writes before anything starts: otherwise the first
// sign is SQLite's "unable to open database file", or EROFS on the generated key, with no path.
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, sqlitePathOf, type Config } from '../config.js';

const REASONS: Record<string, string> = {
  EROFS: 'is on a read-only file system',
  EACCES: 'is not writable by this user',
  EPERM: 'is not writable by this user',
  ENOTDIR: 'has a path component that is not a directory',
  ENOSPC: 'is on a full disk',
  EDQUOT: 'is over its disk quota',
};

/** Throws ConfigError (exit code 2 in the CLI) naming the directory and why it cannot be written. */
export function checkDataDir(config: Pick<Config, 'store' | 'dataDir'>): void {
  if (!config.store.startsWith('sqlite://') || sqlitePathOf(config.store) === ':memory:') return;
  const probe = join(config.dataDir, `.write-check-${process.pid}`);
  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(probe, 'ok', { flag: 'wx' });
    unlinkSync(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const reason = REASONS[code] ?? `cannot be written (${code || 'unknown error'})`;
    throw new ConfigError('FEEDPROXY_STORE', `the data directory ${config.dataDir} ${reason}`);
  }
}
