// The stores every core suite runs against: SQLite always, Redis when it answers. In CI Redis must
// answer (.ci/run starts one), so a missing Redis fails the run there instead of skipping silently.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKeyValueStore, type KeyValueStore } from '../../src/store/kv.js';
import { deleteRedisPrefix, isRedisReachable, readRedisPrefix } from './redis-keys.js';

export type StoreKind = 'sqlite' | 'redis';

export const REDIS_URL = process.env.FEEDPROXY_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export const redisAvailable = await isRedisReachable(REDIS_URL);
if (!redisAvailable && process.env.CI) {
  throw new Error(`CI is set but Redis does not answer at ${REDIS_URL}: the Redis runs of the suites cannot be skipped in CI`);
}
/** Why the Redis runs are missing, when they are. */
export const REDIS_SKIP_REASON = redisAvailable ? undefined : `Redis does not answer at ${REDIS_URL}; Redis runs skipped`;
if (REDIS_SKIP_REASON) console.warn(`feedproxy tests: ${REDIS_SKIP_REASON}`);

/** For `describe.each(STORES)`. */
export const STORES: StoreKind[] = redisAvailable ? ['sqlite', 'redis'] : ['sqlite'];

/**
 * A store of `kind` a test opens for itself (a SQLite file in a temp dir, or a Redis prefix of its
 * own), and `remove` for afterEach: closes it and deletes what it held.
 */
export function ownStore(kind: StoreKind) {
  const prefix = uniqueRedisPrefix();
  let store: KeyValueStore | undefined;
  let dir: string | undefined;
  return {
    async open(): Promise<KeyValueStore> {
      dir = mkdtempSync(join(tmpdir(), 'feedproxy-store-'));
      store = await openKeyValueStore(kind === 'sqlite' ? `sqlite://${join(dir, 'store.sqlite')}` : REDIS_URL, { prefix });
      return store;
    },
    async remove(): Promise<void> {
      await store?.close();
      store = undefined;
      if (kind === 'redis') await deleteRedisKeys(prefix);
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

/** A key prefix no other test run uses. */
export function uniqueRedisPrefix(): string {
  return `fp-test-${process.pid}-${randomBytes(4).toString('hex')}:`;
}

/** Every key of a prefix and what it holds (strings as stored; sets as their members). */
export function readRedisKeys(prefix: string): Promise<Map<string, string>> {
  return readRedisPrefix(REDIS_URL, prefix);
}

export function deleteRedisKeys(prefix: string): Promise<number> {
  return deleteRedisPrefix(REDIS_URL, prefix);
}

/** A fresh 32-byte secret key, hex. */
export function randomSecretKey(): string {
  return randomBytes(32).toString('hex');
}
