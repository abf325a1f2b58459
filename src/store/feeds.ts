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

export function createFeedRepository(store: KeyValueStore) {
  return {
    async saveFeed(feed: FeedRecord, previous?: FeedRecord): Promise<void> {
      await store.set(key.feed(feed.id), feed);
      await store.set(key.publicToken(feed.publicToken), feed.id);
      const known = new Set((previous?.subscriberTokens ?? []).map((subscriber) => subscriber.token));
      for (const subscriber of feed.subscriberTokens ?? []) {
        if (!known.has(subscriber.token))
          await store.set(key.publicToken(subscriber.token), `${feed.id}${TOKEN_TARGET_SEPARATOR}${subscriber.id}`);
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
