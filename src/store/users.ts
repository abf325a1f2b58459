// Users: their records, the API-key index and the per-user counters that quotas reserve against.
import type { SourceRecord, UserRecord } from '../model.js';
import type { KeyValueStore } from './kv.js';
import { getMany, key, set } from './keys.js';

export type UserRepository = ReturnType<typeof createUserRepository>;

export function createUserRepository(store: KeyValueStore) {
  return {
    async createUser(user: UserRecord): Promise<void> {
      await store.set(key.user(user.id), user);
      await store.set(key.apiKey(user.apiKeyHash), user.id);
      await store.addMember(set.users, user.id);
    },
    async findUserByApiKeyHash(hash: string): Promise<UserRecord | undefined> {
      const userId = await store.get<string>(key.apiKey(hash));
      return userId ? store.get<UserRecord>(key.user(userId)) : undefined;
    },
    async getUser(id: string): Promise<UserRecord | undefined> {
      return store.get<UserRecord>(key.user(id));
    },
    async listUsers(): Promise<UserRecord[]> {
      return getMany<UserRecord>(store, await store.members(set.users), key.user);
    },
    /** A new API key: the new hash opens the user from now on, the old one from never again. */
    async replaceApiKey(user: UserRecord, apiKeyHash: string): Promise<UserRecord> {
      const updated = { ...user, apiKeyHash };
      await store.set(key.apiKey(apiKeyHash), user.id);
      await store.set(key.user(user.id), updated);
      await store.delete(key.apiKey(user.apiKeyHash));
      // The old key's signed-out dashboard sessions: the key opens nothing any more.
      await store.deleteFields(key.signedOutSessions(user.apiKeyHash));
      return updated;
    },
    /** Sources and feeds of a user, from the kept counters (O(1)); undefined until counted once. */
    async getUserCounts(userId: string): Promise<{ sources: number; feeds: number; cachedBytes?: number } | undefined> {
      const fields = await store.readFields(key.userCounts(userId));
      if (!fields.counted) return undefined;
      // cachedBytes is undefined for users counted before it was kept (counted once more, below).
      return {
        sources: Number(fields.sources ?? 0),
        feeds: Number(fields.feeds ?? 0),
        ...(fields.bytesCounted ? { cachedBytes: Number(fields.cachedBytes ?? 0) } : {}),
      };
    },
    /** Sets the counters from a count of the indexes (once per user, under a lease). */
    async setUserCounts(userId: string, counts: { sources: number; feeds: number; cachedBytes: number }): Promise<void> {
      await store.setFields(key.userCounts(userId), {
        sources: String(counts.sources),
        feeds: String(counts.feeds),
        cachedBytes: String(counts.cachedBytes),
        counted: '1',
        bytesCounted: '1',
      });
    },
    /** Sets the cached-bytes counter of a user counted before it was kept (once). */
    async setUserCachedBytes(userId: string, cachedBytes: number): Promise<void> {
      await store.setFields(key.userCounts(userId), { cachedBytes: String(cachedBytes), bytesCounted: '1' });
    },
    /**
     * Adds to a counter and answers the new value, atomically: a quota is a reservation.
     * `cachedBytes` (the sum of the user's sources' `cachedBytes`) moves on create, refresh and delete.
     */
    addToUserCount(userId: string, field: 'sources' | 'feeds' | 'cachedBytes', by: number): Promise<number> {
      return store.addToField(key.userCounts(userId), field, by);
    },
    async countUserIndexes(userId: string): Promise<{ sources: number; feeds: number; cachedBytes: number }> {
      const [sources, feeds] = await Promise.all([store.members(set.userSources(userId)), store.members(set.userFeeds(userId))]);
      const records = await getMany<SourceRecord>(store, sources, key.source);
      return {
        sources: sources.length,
        feeds: feeds.length,
        cachedBytes: records.reduce((total, source) => total + (source.cachedBytes ?? 0), 0),
      };
    },
  };
}
