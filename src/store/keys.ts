// Every key and set name the repositories write, in one place: the store's layout at a glance.
// A repository owns the keys of its aggregate; a few writes reach across (deleting a source or a
// feed takes one off the user's counter), which is why the names live here and not in each file.
import type { RenderedFormat } from '../model.js';

export const key = {
  user: (id: string) => `user:${id}`,
  apiKey: (hash: string) => `apikey:${hash}`,
  /** Counter fields per user (`sources`, `feeds`) and the marker that they were counted once. */
  userCounts: (userId: string) => `user-counts:${userId}`,
  source: (id: string) => `source:${id}`,
  /** Marks a store whose due index has been built (stores written before the index had none). */
  dueIndexBuilt: 'meta:due-index',
  entries: (sourceId: string) => `entries:${sourceId}`,
  /** Changes whenever the source's entries may have: a rebuild re-reads only sources whose revision moved. */
  entriesRevision: (sourceId: string) => `entries-rev:${sourceId}`,
  /** A user's source by the keyed digest of a normalised URL: duplicate detection without a scan. */
  sourceUrl: (userId: string, digest: string) => `source-url:${userId}:${digest}`,
  feed: (id: string) => `feed:${id}`,
  publicToken: (token: string) => `public:${token}`,
  /** A copy of the feed's rendered meta beside each public token: a reader's GET reads both in one round trip. */
  publicMeta: (token: string) => `public-meta:${token}`,
  rendered: (feedId: string) => `rendered:${feedId}`,
  mergeState: (feedId: string) => `merge-state:${feedId}`,
  renderedBody: (feedId: string, format: RenderedFormat) => `rendered:${feedId}:${format}`,
  connection: (id: string) => `connection:${id}`,
  requestToken: (hash: string) => `oauth-request:${hash}`,
  subscription: (id: string) => `websub:sub:${id}`,
  /** Usage counters of a feed's public URLs (stats/feed-stats.ts). */
  feedStats: (feedId: string) => `stats:${feedId}`,
  /** The dashboard sessions of an API key signed out (fields: session ids, and a cutoff): store/sessions.ts. */
  signedOutSessions: (apiKeyHash: string) => `dashboard:signed-out:${apiKeyHash}`,
  /** A signed-out dashboard session as releases before session 21 wrote it: read, no longer written. */
  revokedSession: (id: string) => `dashboard:revoked:${id}`,
  /** Every instance's additions to the public limit's counts of one window (routes/public-limit.ts). */
  publicLimit: (windowStart: number) => `public-limit:${windowStart}`,
  /** A value sealed with the secret key in use: a start with another key is refused (services/key-check.ts). */
  keyCheck: 'vault:key-check',
};

export const set = {
  users: 'users',
  allSources: 'sources',
  userSources: (userId: string) => `sources:${userId}`,
  userFeeds: (userId: string) => `feeds:${userId}`,
  sourceFeeds: (sourceId: string) => `source-feeds:${sourceId}`,
  connectionSources: (connectionId: string) => `connection-sources:${connectionId}`,
  userConnections: (userId: string) => `connections:${userId}`,
  subscriptions: 'websub:subs',
  feedSubscriptions: (feedId: string) => `websub:feed:${feedId}`,
  /** Subscriptions owed a delivery: written when a feed is published, emptied by the delivery loop. */
  dueSubscriptions: 'websub:due',
  /**
   * Sources whose feeds a refresh batch owes a rebuild: added before the refresh writes, removed
   * once the feeds are rebuilt; what a killed process leaves here the scheduler rebuilds.
   */
  pendingRebuilds: 'rebuilds:pending',
  /**
   * Relinked connections whose unauthorized sources are owed their put-back: added before the new
   * link is written, removed once every source is put back; the scheduler finishes what is left here.
   */
  pendingPutBacks: 'put-backs:pending',
};

/** The records of `ids` that exist, in order. */
export async function getMany<T>(
  store: { getMany<R>(keys: string[]): Promise<Array<R | undefined>> },
  ids: string[],
  keyOf: (id: string) => string,
): Promise<T[]> {
  const records = await store.getMany<T>(ids.map(keyOf));
  return records.filter((record): record is Awaited<T> => record !== undefined) as T[];
}

/** A record that belongs to `userId`; another user's record is as absent as a missing one. */
export async function getOwned<T extends { userId: string }>(
  store: { get<R>(key: string): Promise<R | undefined> },
  recordKey: string,
  userId: string,
): Promise<T | undefined> {
  const record = await store.get<T>(recordKey);
  return record && record.userId === userId ? record : undefined;
}
