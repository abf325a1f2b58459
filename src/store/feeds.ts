// Feeds and what they publish, one aggregate: the records, their public tokens (each with a copy of
// the rendered meta beside it), the rendered bodies per format and the merge state of the last rebuild.
import {
  DEFAULT_TOKEN_ID,
  FEED_FORMATS,
  type FeedRecord,
  type MergeState,
  type PublicTokenTarget,
  type RenderedBody,
  type RenderedFormat,
  type RenderedMeta,
} from '../model.js';
import type { KeyValueStore } from './kv.js';
import { getMany, getOwned, key, set } from './keys.js';

export type FeedRepository = ReturnType<typeof createFeedRepository>;

/** Feed and token ids are base64url: a colon never occurs in either. */
const TOKEN_TARGET_SEPARATOR = ':';

/** Each public token of the feed and what it opens: the default one the feed, a subscriber's `feed:token`. */
function tokensOf(feed: FeedRecord | undefined): Array<[token: string, target: string]> {
  if (!feed) return [];
  return [
    [feed.publicToken, feed.id],
    ...(feed.subscriberTokens ?? []).map((subscriber): [string, string] => [
      subscriber.token,
      `${feed.id}${TOKEN_TARGET_SEPARATOR}${subscriber.id}`,
    ]),
  ];
}

export function createFeedRepository(store: KeyValueStore) {
  return {
    /**
     * A feed's create (no `previous`) or edit, in one atomic write (store.writeAtomically): the record,
     * its public tokens, the user's and its sources' lists, and on an edit the lists it left and the
     * tokens a rotation or revocation replaced. A write that fails leaves the feed as it was: never
     * listed without its token, never in a source's list its record does not name. An edit applies
     * only while the record is still `previous` (unchanged since it was read), checked in the same
     * step: an edit that lands after its lease lapsed would otherwise bring back a feed deleted
     * meanwhile, or the public URL a rotation meanwhile retired. False when it did not apply (nothing
     * was written).
     */
    async saveFeed(feed: FeedRecord, previous?: FeedRecord): Promise<boolean> {
      const known = new Set(tokensOf(previous).map(([token]) => token));
      const kept = new Set(tokensOf(feed).map(([token]) => token));
      return store.writeAtomically({
        ...(previous ? { ifUnchanged: { key: key.feed(previous.id), value: previous } } : {}),
        records: [
          [key.feed(feed.id), feed],
          // The default token on every save, as before; a subscriber's only when it is new.
          ...tokensOf(feed)
            .filter(([token, target]) => target === feed.id || !known.has(token))
            .map(([token, target]): [string, unknown] => [key.publicToken(token), target]),
        ],
        // Rotation: the old public URLs answer 404 from the moment this write is acknowledged.
        deletes: tokensOf(previous)
          .filter(([token]) => !kept.has(token))
          .flatMap(([token]) => [key.publicToken(token), key.publicMeta(token)]),
        members: [
          { set: set.userFeeds(feed.userId), member: feed.id },
          ...feed.sourceIds.map((sourceId) => ({ set: set.sourceFeeds(sourceId), member: feed.id })),
        ],
        removeMembers: (previous?.sourceIds ?? [])
          .filter((sourceId) => !feed.sourceIds.includes(sourceId))
          .map((sourceId) => ({ set: set.sourceFeeds(sourceId), member: feed.id })),
      });
    },
    async getFeed(id: string): Promise<FeedRecord | undefined> {
      return store.get<FeedRecord>(key.feed(id));
    },
    async getOwnedFeed(userId: string, id: string): Promise<FeedRecord | undefined> {
      return getOwned<FeedRecord>(store, key.feed(id), userId);
    },
    async listFeeds(userId: string): Promise<FeedRecord[]> {
      return getMany<FeedRecord>(store, await store.members(set.userFeeds(userId)), key.feed);
    },
    /** The feed a public token opens; the caller still checks the token against the feed (rotation races). */
    async findPublicToken(token: string): Promise<PublicTokenTarget | undefined> {
      const [target, meta] = (await store.getMany<unknown>([key.publicToken(token), key.publicMeta(token)])) as [
        string | undefined,
        RenderedMeta | undefined,
      ];
      if (target === undefined) return undefined;
      const [feedId, tokenId = DEFAULT_TOKEN_ID] = target.split(TOKEN_TARGET_SEPARATOR);
      return { feedId: feedId!, tokenId, ...(meta ? { meta } : {}) };
    },
    /**
     * Everything of the feed in one atomic write: its public tokens with their meta copies, the user's
     * and its sources' lists, the rendered meta and bodies, the merge state and the record. The user's
     * counter moves only with the removal that took the feed off the user's list, in the same step, so
     * two deletes at once (or a rebuild's second delete) count once; a delete run again finishes one
     * that failed, and deletes again what a rebuild wrote meanwhile. With `ifUnchanged`, only while
     * the record is still `feed` (a user's delete: an edit landing between its read and this write
     * would leave the tokens it added behind); false when refused, nothing deleted.
     */
    async deleteFeed(feed: FeedRecord, { ifUnchanged = false } = {}): Promise<boolean> {
      return store.writeAtomically({
        ...(ifUnchanged ? { ifUnchanged: { key: key.feed(feed.id), value: feed } } : {}),
        deletes: [
          ...tokensOf(feed).flatMap(([token]) => [key.publicToken(token), key.publicMeta(token)]),
          key.rendered(feed.id),
          key.mergeState(feed.id),
          ...FEED_FORMATS.map((format) => key.renderedBody(feed.id, format)),
          key.feed(feed.id),
        ],
        removeMembers: [
          { set: set.userFeeds(feed.userId), member: feed.id, counted: { key: key.userCounts(feed.userId), field: 'feeds', by: -1 } },
          ...feed.sourceIds.map((sourceId) => ({ set: set.sourceFeeds(sourceId), member: feed.id })),
        ],
      });
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
        await store.set(key.renderedBody(feedId, format), {
          etag: meta.formats[format].etag,
          body,
          publicToken: meta.publicToken,
        } satisfies RenderedBody);
      }
      for (const token of tokens) await store.set(key.publicMeta(token), meta);
      await store.set(key.rendered(feedId), meta);
    },
  };
}
