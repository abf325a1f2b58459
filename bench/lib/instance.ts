// A real feedproxy instance for benches: createDeps on a SQLite file in a temp dir (like
// test/helpers/app.ts, logs discarded), and ways to fill its store through the registry directly
// (no creation fetches: a source is a record, its cache an entry list, a feed a record + render).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { createDeps, openStore, type Deps } from '../../src/deps.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { createLogger } from '../../src/logger.js';
import { maskUrl } from '../../src/secrets/scrub.js';
import { rebuildFeed } from '../../src/publish/rebuild-feed.js';
import type { FeedRecord, SourceRecord } from '../../src/model.js';
import { randomToken } from '../../src/vault/seal.js';
import { generateCachedEntries } from './corpus.js';

/** A fixed key, so a child process can open a store a parent filled. */
export const BENCH_SECRET_KEY = '0'.repeat(64);
export const BENCH_PUBLIC_URL = 'http://feeds.bench';

export interface BenchInstance {
  deps: Deps;
  /** The store under the repositories (the bench counts what it reads). */
  kv: KeyValueStore;
  dir: string;
  storePath: string;
  env: Record<string, string>;
  close(options?: { keep?: boolean }): Promise<void>;
}

export function benchEnv(storePath: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    FEEDPROXY_STORE: `sqlite://${storePath}`,
    FEEDPROXY_SECRET_KEY: BENCH_SECRET_KEY,
    FEEDPROXY_PUBLIC_URL: BENCH_PUBLIC_URL,
    FEEDPROXY_CONFIG: '',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

const discard = new Writable({
  write(_chunk, _encoding, callback) {
    callback();
  },
});

/** `dir` reuses a store (a child process opening what the parent filled). */
export async function openInstance(
  options: { dir?: string; env?: Record<string, string>; wrapStore?: (kv: KeyValueStore) => KeyValueStore } = {},
): Promise<BenchInstance> {
  const dir = options.dir ?? mkdtempSync(join(process.env.BENCH_TMPDIR ?? tmpdir(), 'feedproxy-bench-'));
  const storePath = join(dir, 'feedproxy.sqlite');
  const env = benchEnv(storePath, options.env);
  const config = loadConfig(env);
  const opened = await openStore(config);
  const kv = options.wrapStore ? options.wrapStore(opened) : opened;
  const deps = await createDeps(config, { logger: createLogger(config.logLevel, discard), kv });
  let closed = false;
  return {
    deps,
    kv,
    dir,
    storePath,
    env,
    async close({ keep = false } = {}) {
      if (!closed) await deps.close();
      closed = true;
      if (!keep && !options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Bytes of the SQLite file with its WAL and shared-memory files. */
export function storeBytes(dir: string): number {
  return readdirSync(dir)
    .filter((name) => name.startsWith('feedproxy.sqlite'))
    .reduce((total, name) => total + statSync(join(dir, name)).size, 0);
}

export interface SourceInit {
  url: string;
  userId: string;
  /** Validator already known (a source refreshed before). */
  etag?: string;
  title?: string;
}

/** A source as createSource() stores it after its first fetch, minus the fetch. */
export async function addSource(deps: Deps, init: SourceInit): Promise<SourceRecord> {
  const now = deps.now().toISOString();
  const source: SourceRecord = {
    id: randomToken(9),
    userId: init.userId,
    title: init.title ?? 'bench source',
    urlSealed: deps.vault.seal(init.url),
    urlMasked: maskUrl(init.url),
    host: new URL(init.url).host,
    refreshMinutes: 30,
    status: 'ok',
    errorCount: 0,
    lastFetchedAt: now,
    lastSuccessAt: now,
    nextFetchAt: now,
    entryCount: 0,
    createdAt: now,
    updatedAt: now,
    ...(init.etag ? { etag: init.etag } : {}),
  };
  await deps.registry.addSource(source);
  return source;
}

/** A source with `entries` cached entries of about `bodyBytes` of HTML each. */
export async function addCachedSource(
  deps: Deps,
  userId: string,
  index: number,
  entries: number,
  bodyBytes: number,
): Promise<SourceRecord> {
  const source = await addSource(deps, {
    userId,
    url: `https://feeds${index % 97}.example.com/private/${index}.rss?feed_token=tok${index}secret`,
    title: `Source ${index}`,
  });
  const cached = generateCachedEntries(source.id, entries, bodyBytes);
  await deps.registry.saveEntries(source.id, cached);
  const saved = { ...source, entryCount: cached.length };
  await deps.registry.saveSource(saved);
  return saved;
}

/** A feed over `sourceIds`, saved and rendered (as createFeed does), returning its record. */
export async function addFeed(
  deps: Deps,
  userId: string,
  sourceIds: string[],
  options: { limit?: number; title?: string } = {},
): Promise<FeedRecord> {
  const now = deps.now().toISOString();
  const feed: FeedRecord = {
    id: randomToken(9),
    userId,
    title: options.title ?? 'Bench feed',
    sourceIds,
    include: [],
    exclude: [],
    limit: options.limit ?? 50,
    publicToken: randomToken(18),
    createdAt: now,
    updatedAt: now,
  };
  await deps.registry.saveFeed(feed);
  await rebuildFeed(deps, feed.id);
  return feed;
}

export async function addUser(deps: Deps, name = 'bench'): Promise<string> {
  const id = randomToken(9);
  await deps.registry.createUser({ id, name, apiKeyHash: randomToken(32), createdAt: deps.now().toISOString() });
  return id;
}
