// Leases that outlive a dead holder by a bounded time: a wrapper around any KeyValueStore (kv.ts).
import type { KeyValueStore, LeasedRecord } from './kv.js';

/**
 * A lease is stored with a short TTL (`heartbeatMs`) and renewed every third of it while its
 * holder lives, up to the TTL the holder asked for. A live holder keeps its lease through a slow
 * refresh; a killed one (SIGKILL, lost machine) stops renewing and its lease lapses within
 * `heartbeatMs`, so another instance takes the source over without waiting for the full TTL.
 */
export function withLeaseHeartbeat(store: KeyValueStore, heartbeatMs: number): KeyValueStore {
  const held = new Map<string, { key: string; owner: string; until: number }>();
  let beating = false;
  const beat = async () => {
    if (beating) return;
    beating = true;
    try {
      for (const [id, lease] of held) {
        const left = lease.until - Date.now();
        if (left <= 0) {
          held.delete(id); // the holder's own bound: let it lapse
          continue;
        }
        // Renewed only while still ours: a lease released meanwhile (by this process or another
        // sharing the owner id) is not taken again by the heartbeat.
        const kept = await store.renewLease(lease.key, lease.owner, Math.min(heartbeatMs, left)).catch(() => true);
        if (!kept) held.delete(id); // released, lapsed, or taken by another
      }
    } finally {
      beating = false;
    }
  };
  const timer = setInterval(() => void beat(), Math.max(Math.floor(heartbeatMs / 3), 50));
  timer.unref();
  const idOf = (key: string, owner: string) => `${owner}\n${key}`;

  return {
    ...store,
    async acquireLease(key, owner, ttlMs) {
      const taken = await store.acquireLease(key, owner, Math.min(ttlMs, heartbeatMs));
      if (taken) held.set(idOf(key, owner), { key, owner, until: Date.now() + ttlMs });
      return taken;
    },
    async acquireLeaseAndGet<T>(key: string, owner: string, ttlMs: number, recordKey: string): Promise<LeasedRecord<T>> {
      const leased = await store.acquireLeaseAndGet<T>(key, owner, Math.min(ttlMs, heartbeatMs), recordKey);
      if (leased.taken) held.set(idOf(key, owner), { key, owner, until: Date.now() + ttlMs });
      return leased;
    },
    async releaseLease(key, owner) {
      held.delete(idOf(key, owner));
      await store.releaseLease(key, owner);
    },
    async close() {
      clearInterval(timer);
      held.clear();
      await store.close();
    },
  };
}
