// The repositories over one key-value store, built together. Each aggregate has its own repository
// and owns its keys: users (users.ts), sources and their entries (sources.ts), feeds and what they
// publish (feeds.ts), connections (connections.ts), WebSub subscriptions (subscriptions.ts), usage
// statistics (feed-stats.ts), dashboard sessions (sessions.ts), the key check (key-check.ts) and
// leases (leases.ts). The store itself is not handed out.
//
// A thin facade: the user, source, feed and connection methods are spread onto the registry so the
// callers written against one registry (`deps.registry.getSource(…)`) keep working; the repositories
// are the real owners, and the newer ones are reached by name (`deps.registry.subscriptions`).
import type { KeyValueStore, RecordChangeListener, RecordWatch } from './kv.js';
import { createConnectionRepository } from './connections.js';
import { createFeedStatsStorage } from './feed-stats.js';
import { createFeedRepository } from './feeds.js';
import { createKeyCheckRecord } from './key-check.js';
import { createLeases, lease } from './leases.js';
import { createSessionRepository } from './sessions.js';
import { createSourceRepository } from './sources.js';
import { createSubscriptionRepository } from './subscriptions.js';
import { key } from './keys.js';
import { createUserRepository } from './users.js';

export type Registry = ReturnType<typeof createRegistry>;

export function createRegistry(store: KeyValueStore) {
  const leases = createLeases(store);
  return {
    ...createUserRepository(store),
    ...createSourceRepository(store),
    ...createFeedRepository(store),
    ...createConnectionRepository(store),
    subscriptions: createSubscriptionRepository(store),
    feedStats: createFeedStatsStorage(store),
    sessions: createSessionRepository(store),
    keyCheck: createKeyCheckRecord(store),
    leases,
    /** The public limit's counts of a window, added to by every instance (routes/public-limit.ts SharedCounts). */
    publicLimitCounts: {
      // A window's counts lapse on their own three minutes on: `drop` needs traffic two windows later
      // to run, and a flood from many addresses followed by silence must not stay in Redis.
      add: (windowStart: number, field: string, by: number) => store.addToField(key.publicLimit(windowStart), field, by, 3 * 60_000),
      drop: (windowStart: number) => store.deleteFields(key.publicLimit(windowStart)),
    },
    // Kept by name for services/source-index.ts, whose owner moves it onto withLease.
    acquireUserIndexLease: (userId: string, owner: string, ttlMs: number) => leases.acquire(lease.userIndex(userId), owner, ttlMs),
    releaseUserIndexLease: (userId: string, owner: string) => leases.release(lease.userIndex(userId), owner),

    // The store as a whole: readiness, change notifications, the shared rate-limit windows, shutdown.
    /** Throws when the store cannot be reached (readiness checks). */
    ping(): Promise<void> {
      return store.ping();
    },
    /** Keys written under one of `prefixes`, by any process (publish/published-cache.ts). */
    watchRecords(prefixes: string[], listener: RecordChangeListener): Promise<RecordWatch> {
      return store.watchRecords(prefixes, listener);
    },
    /** Fixed-window hit counts shared by every instance (absent on an embedded store). */
    hitWindow: store.hitWindow?.bind(store),
    close(): Promise<void> {
      return store.close();
    },
  };
}
