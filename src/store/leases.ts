// Leases: one holder at a time across processes sharing the store (serve beside cron, several
// instances), each named by what it guards. withLease is the one way to wait for one: the refresh
// of a source, the edit of a feed record and the rebuild of a feed all go through it.
import { isStoreBusy, type KeyValueStore } from './kv.js';

export const lease = {
  /** One refresh of a source at a time (refresh/refresh-source.ts). */
  refresh: (sourceId: string) => `refresh:${sourceId}`,
  /** One read-modify-write of a feed record at a time (services/feeds.ts). */
  feedEdit: (feedId: string) => `feed-edit:${feedId}`,
  /** One rebuild of a feed at a time, so the last one written saw the newest entries (publish/rebuild-feed.ts). */
  rebuild: (feedId: string) => `rebuild:${feedId}`,
  /** One create of a source per normalised URL at a time, so two never both pass the duplicate check (services/source-index.ts). */
  sourceUrlClaim: (userId: string, digest: string) => `source-url-claim:${userId}:${digest}`,
  /** One count of a user's records at a time (services/source-index.ts). */
  userIndex: (userId: string) => `user-index:${userId}`,
  /** One process delivers to a WebSub subscription at a time (websub/deliver.ts). */
  websubDelivery: (subscriptionId: string) => `websub:deliver:${subscriptionId}`,
  /** One start of a new OAuth connection per user at a time, so two never both pass the bound on pending ones (services/connections.ts). */
  connectionStart: (userId: string) => `connection-start:${userId}`,
  /** One instance sweeps lapsed WebSub subscriptions per interval (websub/delivery-loop.ts). */
  websubSweep: 'websub:sweep',
};

export interface LeaseWait {
  /** How long the holder keeps the lease at most (the store renews it while the holder lives). */
  ttlMs: number;
  /** How long to wait for another holder; 0 tries once. */
  waitMs: number;
  /** Pause between attempts. */
  pollMs: number;
  /** Asked after each refused attempt: true stops waiting at once. */
  giveUp?: () => boolean | Promise<boolean>;
}

export type LeaseOutcome<T> = { held: true; value: T } | { held: false };

export type Leases = ReturnType<typeof createLeases>;

export function createLeases(store: Pick<KeyValueStore, 'acquireLease' | 'acquireLeaseAndGet' | 'releaseLease'>) {
  async function holding<R, T>(
    name: string,
    owner: string,
    wait: LeaseWait,
    attempt: () => Promise<{ taken: false } | { taken: true; value: R | undefined }>,
    work: (record: R | undefined) => Promise<T>,
  ): Promise<LeaseOutcome<T>> {
    const deadline = Date.now() + wait.waitMs;
    let leased = await attempt();
    while (!leased.taken) {
      if ((await wait.giveUp?.()) || Date.now() >= deadline) return { held: false };
      await new Promise((resolve) => setTimeout(resolve, wait.pollMs));
      leased = await attempt();
    }
    try {
      return { held: true, value: await work(leased.value) };
    } finally {
      // A release refused by a busy store leaves the lease to lapse (the heartbeat stopped renewing
      // it: lease-heartbeat.ts); the work is done and written, so its result stands.
      await store.releaseLease(name, owner).catch((error: unknown) => {
        if (!isStoreBusy(error)) throw error;
      });
    }
  }

  return {
    acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
      return store.acquireLease(name, owner, ttlMs);
    },
    release(name: string, owner: string): Promise<void> {
      return store.releaseLease(name, owner);
    },
    /**
     * Runs `work` holding the lease `name`, waiting for another holder as `wait` says, and releases
     * it after. `{ held: false }` when the wait ended without the lease: the caller decides what
     * that means (skip, answer 409, or go ahead unguarded).
     */
    withLease<T>(name: string, owner: string, wait: LeaseWait, work: () => Promise<T>): Promise<LeaseOutcome<T>> {
      const attempt = async () =>
        (await store.acquireLease(name, owner, wait.ttlMs)) ? { taken: true as const, value: undefined } : { taken: false as const };
      return holding(name, owner, wait, attempt, () => work());
    },
    /** withLease, handing `work` the record under `recordKey` read in the round trip that took the lease. */
    withLeaseReading<R, T>(
      name: string,
      owner: string,
      wait: LeaseWait,
      recordKey: string,
      work: (record: R | undefined) => Promise<T>,
    ): Promise<LeaseOutcome<T>> {
      return holding(name, owner, wait, () => store.acquireLeaseAndGet<R>(name, owner, wait.ttlMs, recordKey), work);
    },
  };
}
