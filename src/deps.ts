// Everything the domain needs, built once from the config and passed down. Tests build their own
// with a temp store and a captured logger; nothing reads globals.
import { randomBytes } from 'node:crypto';
import { parseSecretKey, type Config } from './config.js';
import { createFetcher } from './fetch/index.js';
import type { Fetcher, FetcherOptions } from './fetch/types.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { openKeyValueStore } from './store/kv.js';
import { createRegistry, type Registry } from './store/registry.js';
import { createVault, type Vault } from './vault/seal.js';
import { loadOrCreateSecretKey } from './vault/secret-key.js';
import { VERSION } from './version.js';

export interface Deps {
  config: Readonly<Config>;
  logger: Logger;
  registry: Registry;
  vault: Vault;
  fetcher: Fetcher;
  metrics: Metrics;
  /** The clock; injected so tests can move time. */
  now: () => Date;
  /** Names this process as the holder of refresh leases. */
  instanceId: string;
  close(): Promise<void>;
}

export interface DepsOverrides {
  logger?: Logger;
  now?: () => Date;
  /** Test seam for the fetcher (connect recorder). */
  fetcher?: Partial<FetcherOptions>;
}

export async function createDeps(config: Readonly<Config>, overrides: DepsOverrides = {}): Promise<Deps> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const key = config.secretKey !== undefined ? parseSecretKey(config.secretKey) : loadOrCreateSecretKey(config.dataDir);
  const store = await openKeyValueStore(config.store);
  const fetcher = createFetcher({
    allowPrivate: [...config.allowPrivate],
    maxBodyBytes: config.fetch.maxBodyBytes,
    timeoutMs: config.fetch.timeoutSeconds * 1000,
    connectTimeoutMs: config.fetch.connectTimeoutSeconds * 1000,
    maxRedirects: config.fetch.maxRedirects,
    userAgent: config.fetch.userAgent ?? `feedproxy/${VERSION} (+${config.publicUrl})`,
    ...overrides.fetcher,
  });
  return {
    config,
    logger,
    registry: createRegistry(store),
    vault: createVault(key),
    fetcher,
    metrics: createMetrics(),
    now: overrides.now ?? (() => new Date()),
    instanceId: `${process.pid}-${randomBytes(4).toString('hex')}`,
    async close() {
      await fetcher.close();
      await store.close();
    },
  };
}
