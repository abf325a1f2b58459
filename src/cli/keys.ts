// `feedproxy keys rotate [--new-key-file FILE]`: re-seals every secret in the store under a new key.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSecretKey, type Config } from '../config.js';
import { resealAll } from '../services/rotate-key.js';
import { createVault } from '../vault/seal.js';
import { loadOrCreateSecretKey } from '../vault/secret-key.js';
import { openDeps } from './open-deps.js';

/**
 * Embedded mode (key in data/secret.key): the new key (generated, or read from --new-key-file) is
 * written to secret.key.new first, every secret is re-sealed, then the files are swapped and the old
 * key kept as secret.key.old. An interrupted run is simply run again: it picks up secret.key.new.
 * With FEEDPROXY_SECRET_KEY from the environment, --new-key-file is required and the operator swaps
 * the variable afterwards (FEEDPROXY_PREVIOUS_SECRET_KEY lets instances read both meanwhile).
 */
export async function keys(config: Readonly<Config>, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: { 'new-key-file': { type: 'string' } } });
  if (action !== 'rotate') {
    console.error('usage: feedproxy keys rotate [--new-key-file FILE]');
    return 2;
  }
  const keyFile = config.secretKey === undefined && config.store.startsWith('sqlite://') ? join(config.dataDir, 'secret.key') : undefined;
  const pendingFile = keyFile && `${keyFile}.new`;
  let newKey: Buffer;
  if (values['new-key-file']) newKey = parseSecretKey(readFileSync(values['new-key-file'], 'utf8'));
  else if (pendingFile && existsSync(pendingFile)) newKey = parseSecretKey(readFileSync(pendingFile, 'utf8'));
  else if (keyFile) newKey = randomBytes(32);
  else {
    console.error('feedproxy: keys rotate needs --new-key-file FILE when the key comes from FEEDPROXY_SECRET_KEY');
    return 2;
  }
  if (pendingFile) writeFileSync(pendingFile, `${newKey.toString('base64')}\n`, { mode: 0o600 });

  const deps = await openDeps(config);
  try {
    const currentKey = config.secretKey !== undefined ? parseSecretKey(config.secretKey) : loadOrCreateSecretKey(config.dataDir);
    const previous = config.previousSecretKey !== undefined ? [parseSecretKey(config.previousSecretKey)] : [];
    // Opens values under the current, the previous or (after an interrupted run) the new key.
    const from = createVault(currentKey, [...previous, newKey]);
    const count = await resealAll(deps.registry, from, createVault(newKey));
    console.log(
      `re-sealed ${count.sources} sources, ${count.connections} connections and ${count.subscriptions} WebSub subscriptions with the new key`,
    );
  } finally {
    await deps.close();
  }
  if (keyFile && pendingFile) {
    renameSync(keyFile, `${keyFile}.old`);
    renameSync(pendingFile, keyFile);
    console.log(`the new key is in ${keyFile}; the old one is in ${keyFile}.old (delete it once no backup needs it)`);
  } else {
    console.log('now start every instance with the new key as FEEDPROXY_SECRET_KEY (or _FILE)');
  }
  return 0;
}
