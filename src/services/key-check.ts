// A wrong FEEDPROXY_SECRET_KEY must stop the service at start, not turn every sealed URL and token
// into a stream of "cannot open" failures later. The first start seals a known value into the
// store; every start after opens it with the key it was given.
import { ConfigError } from '../config.js';
import type { Registry } from '../store/registry.js';
import type { Vault } from '../vault/seal.js';
const KEY_CHECK_TEXT = 'feedproxy key check v1';

/**
 * Seals the check value on first use; afterwards throws ConfigError (exit code 2 in the CLI) when
 * the key cannot open it. The store is closed before throwing, so the caller can simply exit.
 */
export async function verifySecretKey(registry: Pick<Registry, 'keyCheck' | 'close'>, vault: Vault): Promise<void> {
  const sealed = await registry.keyCheck.read();
  if (sealed === undefined) {
    await registry.keyCheck.write(vault.seal(KEY_CHECK_TEXT));
    return;
  }
  if (opens(vault, sealed)) return;
  await registry.close();
  throw new ConfigError(
    'FEEDPROXY_SECRET_KEY',
    'does not open the secrets in this store (it was created with another key); start with the key the store was created with',
  );
}

function opens(vault: Vault, sealed: unknown): boolean {
  try {
    return typeof sealed === 'string' && vault.open(sealed) === KEY_CHECK_TEXT;
  } catch {
    return false;
  }
}
