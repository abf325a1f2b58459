// Everything the domain needs, built once from the config and passed down. Tests build their own
// with a temp store and a captured logger; nothing reads globals.
import { randomBytes } from 'node:crypto';
import { parseSecretKey, type Config } from './config.js';
import { createFetcher, type FetcherHooks } from './fetch/index.js';
import type { Fetcher, FetcherOptions } from './fetch/types.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createStatsRecorder, type StatsRecorder } from './stats/feed-stats.js';
import { checkDataDir } from './store/check-data-dir.js';
import { openKeyValueStore, type KeyValueStore, type StoreOptions } from './store/kv.js';
import { createRegistry, type Registry } from './store/registry.js';
import { verifySecretKey } from './services/key-check.js';
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
  /** Usage of the public feed URLs, counted in memory and flushed to the store. */
  stats: StatsRecorder;
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
  /** Test seam for name resolution (hostnames that resolve to private addresses, rebinding). */
  fetcherHooks?: FetcherHooks;
  /** Test seam: the store, opened by the caller (openStore) so a test can check what lies at a key. */
  kv?: KeyValueStore;
}

/** The store the config names, as createDeps opens it (a test may shorten SQLite's busy timeout). */
export function openStore(config: Readonly<Config>, options: Pick<StoreOptions, 'busyTimeoutMs'> = {}): Promise<KeyValueStore> {
  return openKeyValueStore(config.store, { prefix: config.storePrefix, leaseHeartbeatMs: config.refresh.leaseSeconds * 1000, ...options });
}

export async function createDeps(config: Readonly<Config>, overrides: DepsOverrides = {}): Promise<Deps> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  checkDataDir(config);
  const key = config.secretKey !== undefined ? parseSecretKey(config.secretKey) : loadOrCreateSecretKey(config.dataDir);
  const store = overrides.kv ?? (await openStore(config));
  const previousKeys =
    config.previousSecretKey !== undefined ? [parseSecretKey(config.previousSecretKey, 'FEEDPROXY_PREVIOUS_SECRET_KEY')] : [];
  const vault = createVault(key, previousKeys);
  const registry = createRegistry(store);
  await verifySecretKey(registry, vault);
  // Stores written before the due index existed get it built once, here (docs/refreshing.md, "Cost that follows the work").
  const indexed = await registry.ensureDueIndex();
  if (indexed > 0) logger.info({ sources: indexed }, 'due index built');
  const fetcher = createFetcher(
    {
      allowPrivate: [...config.allowPrivate],
      maxBodyBytes: config.fetch.maxBodyBytes,
      timeoutMs: config.fetch.timeoutSeconds * 1000,
      connectTimeoutMs: config.fetch.connectTimeoutSeconds * 1000,
      maxRedirects: config.fetch.maxRedirects,
      userAgent: config.fetch.userAgent ?? `feedproxy/${VERSION} (+${config.publicUrl})`,
      ...overrides.fetcher,
    },
    overrides.fetcherHooks,
  );
  const stats = createStatsRecorder(registry.feedStats, logger);
  return {
    config,
    logger,
    registry,
    stats,
    vault,
    fetcher,
    metrics: createMetrics(),
    now: overrides.now ?? (() => new Date()),
    instanceId: `${process.pid}-${randomBytes(4).toString('hex')}`,
    async close() {
      await stats.close();
      await fetcher.close();
      await store.close();
    },
  };
}
