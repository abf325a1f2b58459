// Users, sources, feeds, connections and cached entries on top of the key-value store.
// Records are JSON; secrets inside them are sealed by the vault before they get here.
// Indexes are store sets, so concurrent creates never lose each other's entries.
import { randomBytes } from 'node:crypto';
import type { CachedEntry, ConnectionRecord, FeedRecord, MergeState, PublicTokenTarget, RenderedBody, RenderedFormat, RenderedMeta, SourceRecord, UserRecord } from '../model.js';
import { DEFAULT_TOKEN_ID, FEED_FORMATS } from '../model.js';
import type { KeyValueStore } from './kv.js';

const key = {
  user: (id: string) => `user:${id}`,
  apiKey: (hash: string) => `apikey:${hash}`,
  source: (id: string) => `source:${id}`,
  /** Marks a store whose due index has been built (stores written before the index had none). */
  dueIndexBuilt: 'meta:due-index',
  entries: (sourceId: string) => `entries:${sourceId}`,
  /** Changes whenever the source's entries may have: a rebuild re-reads only sources whose revision moved. */
  entriesRevision: (sourceId: string) => `entries-rev:${sourceId}`,
  feed: (id: string) => `feed:${id}`,
  publicToken: (token: string) => `public:${token}`,
  /** A copy of the feed's rendered meta beside each public token: a reader's GET reads both in one round trip. */
  publicMeta: (token: string) => `public-meta:${token}`,
  rendered: (feedId: string) => `rendered:${feedId}`,
  mergeState: (feedId: string) => `merge-state:${feedId}`,
  renderedBody: (feedId: string, format: RenderedFormat) => `rendered:${feedId}:${format}`,
  connection: (id: string) => `connection:${id}`,
  requestToken: (hash: string) => `oauth-request:${hash}`,
  /** A user's source by the keyed digest of a normalised URL: duplicate detection without a scan. */
  sourceUrl: (userId: string, digest: string) => `source-url:${userId}:${digest}`,
  /** Counter fields per user (`sources`, `feeds`) and the marker that they were counted once. */
  userCounts: (userId: string) => `user-counts:${userId}`,
};
const set = {
  users: 'users',
  allSources: 'sources',
  userSources: (userId: string) => `sources:${userId}`,
  userFeeds: (userId: string) => `feeds:${userId}`,
  sourceFeeds: (sourceId: string) => `source-feeds:${sourceId}`,
  connectionSources: (connectionId: string) => `connection-sources:${connectionId}`,
  userConnections: (userId: string) => `connections:${userId}`,
};

export type Registry = ReturnType<typeof createRegistry>;

function newRevision(): string {
  return randomBytes(6).toString('base64url');
}
const PENDING_REVISION = ':pending';
const INITIAL_REVISION = 'initial';

/** Feed and token ids are base64url: a colon never occurs in either. */
const TOKEN_TARGET_SEPARATOR = ':';

export function createRegistry(store: KeyValueStore) {
  async function getMany<T>(ids: string[], keyOf: (id: string) => string): Promise<T[]> {
    const records = await store.getMany<T>(ids.map(keyOf));
    return records.filter((record): record is Awaited<T> => record !== undefined) as T[];
  }

  /** A record of `kind` that belongs to `userId`; another user's record is as absent as a missing one. */
  async function owned<T extends { userId: string }>(recordKey: string, userId: string): Promise<T | undefined> {
    const record = await store.get<T>(recordKey);
    return record && record.userId === userId ? record : undefined;
  }

  async function syncDue(ids: string[]): Promise<void> {
    await store.syncDue(ids.map((id) => ({ id, recordKey: key.source(id) })));
  }

  return {
    store,

    // Users ------------------------------------------------------------------------------------
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
      return getMany<UserRecord>(await store.members(set.users), key.user);
    },
    /** A new API key: the new hash opens the user from now on, the old one from never again. */
    async replaceApiKey(user: UserRecord, apiKeyHash: string): Promise<UserRecord> {
      const updated = { ...user, apiKeyHash };
      await store.set(key.apiKey(apiKeyHash), user.id);
      await store.set(key.user(user.id), updated);
      await store.delete(key.apiKey(user.apiKeyHash));
      return updated;
    },
    /** Sources and feeds of a user, from the kept counters (O(1)); undefined until counted once. */
    async getUserCounts(userId: string): Promise<{ sources: number; feeds: number } | undefined> {
      const fields = await store.readFields(key.userCounts(userId));
      return fields.counted ? { sources: Number(fields.sources ?? 0), feeds: Number(fields.feeds ?? 0) } : undefined;
    },
    /** Sets the counters from a count of the indexes (once per user, under a lease). */
    async setUserCounts(userId: string, counts: { sources: number; feeds: number }): Promise<void> {
      await store.setFields(key.userCounts(userId), { sources: String(counts.sources), feeds: String(counts.feeds), counted: '1' });
    },
    /** Adds to a counter and answers the new value, atomically: a quota is a reservation. */
    addToUserCount(userId: string, field: 'sources' | 'feeds', by: number): Promise<number> {
      return store.addToField(key.userCounts(userId), field, by);
    },
    async countUserIndexes(userId: string): Promise<{ sources: number; feeds: number }> {
      const [sources, feeds] = await Promise.all([store.members(set.userSources(userId)), store.members(set.userFeeds(userId))]);
      return { sources: sources.length, feeds: feeds.length };
    },
    acquireUserIndexLease(userId: string, owner: string, ttlMs: number): Promise<boolean> {
      return store.acquireLease(`user-index:${userId}`, owner, ttlMs);
    },
    releaseUserIndexLease(userId: string, owner: string): Promise<void> {
      return store.releaseLease(`user-index:${userId}`, owner);
    },

    // Sources ----------------------------------------------------------------------------------
    /** A new source: the record, then the indexes that list it. */
    async addSource(source: SourceRecord): Promise<void> {
      await store.set(key.source(source.id), source);
      await store.addMember(set.userSources(source.userId), source.id);
      await store.addMember(set.allSources, source.id);
      if (source.connectionId) await store.addMember(set.connectionSources(source.connectionId), source.id);
      await syncDue([source.id]);
    },
    /**
     * An update of a listed source: the record, then its due-index entry derived from what is stored
     * (a refresh finishing after a delete lists nothing again, and indexes nothing: the record is gone).
     */
    async saveSource(source: SourceRecord): Promise<void> {
      await store.set(key.source(source.id), source);
      await syncDue([source.id]);
    },
    /** False once a delete has begun: it unlists the source first and removes the record last. */
    async isSourceListed(id: string): Promise<boolean> {
      return store.hasMember(set.allSources, id);
    },
    async getSource(id: string): Promise<SourceRecord | undefined> {
      return store.get<SourceRecord>(key.source(id));
    },
    async getOwnedSource(userId: string, id: string): Promise<SourceRecord | undefined> {
      return owned<SourceRecord>(key.source(id), userId);
    },
    async listSources(userId: string): Promise<SourceRecord[]> {
      return getMany<SourceRecord>(await store.members(set.userSources(userId)), key.source);
    },
    // Due index (store/due-index.ts) ------------------------------------------------------------
    /** Takes up to `limit` due sources, most overdue first, away from every other scheduler for `leaseMs`. */
    async claimDueSources(now: Date, limit: number, leaseMs: number): Promise<string[]> {
      return store.claimDue(now, limit, leaseMs);
    },
    /** Re-derives the sources' due times from their records (a claim that did not end in a write). */
    syncDueIndex: syncDue,
    /** Sources failing since a time in (after, until]. */
    async sourcesFailingBetween(after: Date | undefined, until: Date): Promise<string[]> {
      return store.failingBetween(after, until);
    },
    async countSourcesByStatus(): Promise<Record<string, number>> {
      return store.countByStatus();
    },
    /**
     * Builds the due index once for a store written before it existed: every listed source, in
     * pages, then a marker. Idempotent (a sync only re-derives), so two instances starting together
     * at worst both build it. Answers how many sources it indexed (0 when already built).
     */
    async ensureDueIndex(pageSize = 500): Promise<number> {
      if (await store.get(key.dueIndexBuilt)) return 0;
      const ids = await store.members(set.allSources);
      for (let start = 0; start < ids.length; start += pageSize) await syncDue(ids.slice(start, start + pageSize));
      await store.set(key.dueIndexBuilt, { version: 1 });
      return ids.length;
    },
    /** Every source: explicit whole-registry operations only (key rotation, `refresh --all`), never a tick. */
    async listAllSources(): Promise<SourceRecord[]> {
      return getMany<SourceRecord>(await store.members(set.allSources), key.source);
    },
    async listSourcesOfConnection(connectionId: string): Promise<SourceRecord[]> {
      return getMany<SourceRecord>(await store.members(set.connectionSources(connectionId)), key.source);
    },
    async findSourceIdByUrlDigest(userId: string, digest: string): Promise<string | undefined> {
      return store.get<string>(key.sourceUrl(userId, digest));
    },
    async indexSourceUrls(userId: string, sourceId: string, digests: string[]): Promise<void> {
      for (const digest of digests) await store.set(key.sourceUrl(userId, digest), sourceId);
    },
    /** Drops the digests that still name `sourceId` (another source may have taken one since). */
    async unindexSourceUrls(userId: string, sourceId: string, digests: string[]): Promise<void> {
      for (const digest of digests) {
        if ((await store.get<string>(key.sourceUrl(userId, digest))) === sourceId) await store.delete(key.sourceUrl(userId, digest));
      }
    },
    async deleteSource(source: SourceRecord): Promise<void> {
      await store.removeMember(set.allSources, source.id);
      // Counted once, by whichever delete unlisted it (deletes are repeated to undo racing writes).
      if (await store.removeMember(set.userSources(source.userId), source.id)) await store.addToField(key.userCounts(source.userId), 'sources', -1);
      if (source.connectionId) await store.removeMember(set.connectionSources(source.connectionId), source.id);
      await store.delete(key.entries(source.id));
      await store.delete(key.entriesRevision(source.id));
      await store.delete(key.source(source.id));
      // After the record: any sync racing the delete ran before this one, which finds no record.
      await syncDue([source.id]);
    },
    async getEntries(sourceId: string): Promise<CachedEntry[]> {
      return (await store.get<CachedEntry[]>(key.entries(sourceId))) ?? [];
    },
    async getEntriesOf(sourceIds: string[]): Promise<Map<string, CachedEntry[]>> {
      const lists = await store.getMany<CachedEntry[]>(sourceIds.map(key.entries));
      return new Map(sourceIds.map((id, index) => [id, lists[index] ?? []]));
    },
    /** In the order asked, undefined where a source no longer exists. */
    async getSources(ids: string[]): Promise<Array<SourceRecord | undefined>> {
      return store.getMany<SourceRecord>(ids.map(key.source));
    },
    /**
     * The revision is marked pending while the entries are written, and settles on a new value after:
     * a rebuild that reads it before the entries (publish/merge-state.ts) never records a settled
     * revision with entries older than it, and a writer that died mid-way leaves it pending.
     */
    async saveEntries(sourceId: string, entries: CachedEntry[]): Promise<void> {
      const revision = newRevision();
      await store.set(key.entriesRevision(sourceId), `${revision}${PENDING_REVISION}`);
      await store.set(key.entries(sourceId), entries);
      await store.set(key.entriesRevision(sourceId), revision);
    },
    /**
     * Each source's entries revision: null while a write is pending (or was cut short), so the
     * caller reads the entries again; `initial` for entries never written since revisions exist.
     */
    async getEntryRevisions(sourceIds: string[]): Promise<Array<string | null>> {
      const revisions = await store.getMany<string>(sourceIds.map(key.entriesRevision));
      return revisions.map((revision) => (revision === undefined ? INITIAL_REVISION : revision.endsWith(PENDING_REVISION) ? null : revision));
    },
    /** Feeds that include a source: rebuilt when its entries or status change. */
    async feedIdsOfSource(sourceId: string): Promise<string[]> {
      return store.members(set.sourceFeeds(sourceId));
    },

    // Feeds ------------------------------------------------------------------------------------
    async saveFeed(feed: FeedRecord, previous?: FeedRecord): Promise<void> {
      await store.set(key.feed(feed.id), feed);
      await store.set(key.publicToken(feed.publicToken), feed.id);
      const known = new Set((previous?.subscriberTokens ?? []).map((subscriber) => subscriber.token));
      for (const subscriber of feed.subscriberTokens ?? []) {
        if (!known.has(subscriber.token)) await store.set(key.publicToken(subscriber.token), `${feed.id}${TOKEN_TARGET_SEPARATOR}${subscriber.id}`);
      }
      await store.addMember(set.userFeeds(feed.userId), feed.id);
      for (const sourceId of feed.sourceIds) await store.addMember(set.sourceFeeds(sourceId), feed.id);
      if (previous) {
        for (const sourceId of previous.sourceIds) {
          if (!feed.sourceIds.includes(sourceId)) await store.removeMember(set.sourceFeeds(sourceId), feed.id);
        }
        // Rotation: the old public URLs answer 404 from the moment this write is acknowledged.
        const kept = new Set([feed.publicToken, ...(feed.subscriberTokens ?? []).map((subscriber) => subscriber.token)]);
        for (const token of [previous.publicToken, ...(previous.subscriberTokens ?? []).map((subscriber) => subscriber.token)]) {
          if (kept.has(token)) continue;
          await store.delete(key.publicToken(token));
          await store.delete(key.publicMeta(token));
        }
      }
    },
    async getFeed(id: string): Promise<FeedRecord | undefined> {
      return store.get<FeedRecord>(key.feed(id));
    },
    async getOwnedFeed(userId: string, id: string): Promise<FeedRecord | undefined> {
      return owned<FeedRecord>(key.feed(id), userId);
    },
    async listFeeds(userId: string): Promise<FeedRecord[]> {
      return getMany<FeedRecord>(await store.members(set.userFeeds(userId)), key.feed);
    },
    /** The feed a public token opens; the caller still checks the token against the feed (rotation races). */
    async findPublicToken(token: string): Promise<PublicTokenTarget | undefined> {
      const [target, meta] = (await store.getMany<unknown>([key.publicToken(token), key.publicMeta(token)])) as [string | undefined, RenderedMeta | undefined];
      if (target === undefined) return undefined;
      const [feedId, tokenId = DEFAULT_TOKEN_ID] = target.split(TOKEN_TARGET_SEPARATOR);
      return { feedId: feedId!, tokenId, ...(meta ? { meta } : {}) };
    },
    async deleteFeed(feed: FeedRecord): Promise<void> {
      for (const token of [feed.publicToken, ...(feed.subscriberTokens ?? []).map((subscriber) => subscriber.token)]) {
        await store.delete(key.publicToken(token));
        await store.delete(key.publicMeta(token));
      }
      if (await store.removeMember(set.userFeeds(feed.userId), feed.id)) await store.addToField(key.userCounts(feed.userId), 'feeds', -1);
      for (const sourceId of feed.sourceIds) await store.removeMember(set.sourceFeeds(sourceId), feed.id);
      await store.delete(key.rendered(feed.id));
      await store.delete(key.mergeState(feed.id));
      for (const format of FEED_FORMATS) await store.delete(key.renderedBody(feed.id, format));
      await store.delete(key.feed(feed.id));
    },
    async getMergeState(feedId: string): Promise<MergeState | undefined> {
      return store.get<MergeState>(key.mergeState(feedId));
    },
    async saveMergeState(feedId: string, state: MergeState | undefined): Promise<void> {
      if (state) await store.set(key.mergeState(feedId), state);
      else await store.delete(key.mergeState(feedId));
    },
    async getRenderedMeta(feedId: string): Promise<RenderedMeta | undefined> {
      return store.get<RenderedMeta>(key.rendered(feedId));
    },
    /**
     * Makes every token's copy of the meta equal `meta` — written only where it is missing (a
     * token created since the last render) or differs (a render cut short) — so a rebuild that
     * finds the bytes unchanged still leaves every token readable in one round trip.
     */
    async syncPublicMetaCopies(meta: RenderedMeta, tokens: string[]): Promise<void> {
      const copies = await store.getMany<RenderedMeta>(tokens.map(key.publicMeta));
      const wanted = JSON.stringify(meta);
      for (const [index, token] of tokens.entries()) {
        if (JSON.stringify(copies[index]) !== wanted) await store.set(key.publicMeta(token), meta);
      }
    },
    /** A body with its own ETag: a reader between two writes never pairs one with the other's tag. */
    async getRenderedBody(feedId: string, format: RenderedFormat): Promise<RenderedBody | undefined> {
      return store.get<RenderedBody>(key.renderedBody(feedId, format));
    },
    /**
     * Bodies first, then the meta that answers conditional requests: its copies beside the feed's
     * public tokens (what readers' GETs read), then the feed's own. A crash part-way leaves copies
     * that are newer than the feed's meta, never older, and the next render writes all again.
     */
    async saveRendered(feedId: string, meta: RenderedMeta, bodies: Record<RenderedFormat, string>, tokens: string[]): Promise<void> {
      for (const [format, body] of Object.entries(bodies) as Array<[RenderedFormat, string]>) {
        await store.set(key.renderedBody(feedId, format), { etag: meta.formats[format].etag, body, publicToken: meta.publicToken } satisfies RenderedBody);
      }
      for (const token of tokens) await store.set(key.publicMeta(token), meta);
      await store.set(key.rendered(feedId), meta);
    },

    // Connections ------------------------------------------------------------------------------
    async saveConnection(connection: ConnectionRecord, previous?: ConnectionRecord): Promise<void> {
      await store.set(key.connection(connection.id), connection);
      await store.addMember(set.userConnections(connection.userId), connection.id);
      if (connection.requestTokenHash) await store.set(key.requestToken(connection.requestTokenHash), connection.id);
      if (previous?.requestTokenHash && previous.requestTokenHash !== connection.requestTokenHash) {
        await store.delete(key.requestToken(previous.requestTokenHash));
      }
    },
    async getConnection(id: string): Promise<ConnectionRecord | undefined> {
      return store.get<ConnectionRecord>(key.connection(id));
    },
    async getOwnedConnection(userId: string, id: string): Promise<ConnectionRecord | undefined> {
      return owned<ConnectionRecord>(key.connection(id), userId);
    },
    async findConnectionByRequestTokenHash(hash: string): Promise<ConnectionRecord | undefined> {
      const id = await store.get<string>(key.requestToken(hash));
      return id ? store.get<ConnectionRecord>(key.connection(id)) : undefined;
    },
    async listConnections(userId: string): Promise<ConnectionRecord[]> {
      return getMany<ConnectionRecord>(await store.members(set.userConnections(userId)), key.connection);
    },
    async deleteConnection(connection: ConnectionRecord): Promise<void> {
      if (connection.requestTokenHash) await store.delete(key.requestToken(connection.requestTokenHash));
      await store.removeMember(set.userConnections(connection.userId), connection.id);
      await store.delete(key.connection(connection.id));
    },

    // Coordination -----------------------------------------------------------------------------
    /** One refresh of a source at a time, across processes (serve + cron) sharing the store. */
    acquireRefreshLease(sourceId: string, owner: string, ttlMs: number): Promise<boolean> {
      return store.acquireLease(`refresh:${sourceId}`, owner, ttlMs);
    },
    releaseRefreshLease(sourceId: string, owner: string): Promise<void> {
      return store.releaseLease(`refresh:${sourceId}`, owner);
    },
    /** One read-modify-write of a feed record at a time, across processes (services/feeds.ts). */
    acquireFeedEditLease(feedId: string, owner: string, ttlMs: number): Promise<boolean> {
      return store.acquireLease(`feed-edit:${feedId}`, owner, ttlMs);
    },
    releaseFeedEditLease(feedId: string, owner: string): Promise<void> {
      return store.releaseLease(`feed-edit:${feedId}`, owner);
    },
    /** One rebuild of a feed at a time, across processes, so the last one written saw the newest entries. */
    acquireRebuildLease(feedId: string, owner: string, ttlMs: number): Promise<boolean> {
      return store.acquireLease(`rebuild:${feedId}`, owner, ttlMs);
    },
    releaseRebuildLease(feedId: string, owner: string): Promise<void> {
      return store.releaseLease(`rebuild:${feedId}`, owner);
    },
  };
}
