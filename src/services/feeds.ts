// Merged feed management: the operations behind /api/v1/feeds.
import type { Deps } from '../deps.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import { validateFilterRules } from '../pipeline/filter.js';
import { DEFAULT_FEED_OPTIONS, feedOptionsOf, type PublishedEntry } from '../pipeline/feed-options.js';
import { rebuildFeed, selectEntries } from '../publish/rebuild-feed.js';
import type { FeedStats, TokenStats } from '../stats/feed-stats.js';
import { DEFAULT_TOKEN_ID, type FeedOptions, type FeedRecord, type SourceRecord, type SubscriberToken } from '../model.js';
import { lease } from '../store/leases.js';
import { randomToken } from '../vault/seal.js';
import { releaseSlot, reserveSlot } from './source-index.js';

export interface FeedInput {
  title?: string;
  sources?: string[];
  include?: string[];
  exclude?: string[];
  limit?: number;
  options?: Partial<FeedOptions>;
}

export const MAX_FEED_LIMIT = 500;
export const MAX_SUBSCRIBER_TOKENS = 50;
export const MAX_AGE_DAYS = 3650;
const PREVIEW_ENTRIES = 20;
/** An edit holds its feed this long at most (a read, checks, one save). */
const EDIT_LEASE_MS = 10_000;
/** Tries of an edit's (or a delete's) write over a record that changed since it was read. */
const EDIT_WRITE_TRIES = 3;
/** How long an edit waits for another edit of the same feed before answering 409. */
const EDIT_WAIT_MS = 5_000;
const MAX_SOURCES_PER_FEED = 1000;
/** 144 bits: public URLs must be unguessable. */
const PUBLIC_TOKEN_BYTES = 18;

export async function createFeed(deps: Deps, userId: string, input: FeedInput): Promise<FeedRecord> {
  await reserveSlot(deps, userId, 'feeds');
  let saved = false;
  try {
    const feed = await saveNewFeed(deps, userId, input);
    saved = true;
    await rebuildFeed(deps, feed.id);
    return feed;
  } finally {
    if (!saved) await releaseSlot(deps, userId, 'feeds');
  }
}

async function saveNewFeed(deps: Deps, userId: string, input: FeedInput): Promise<FeedRecord> {
  const now = deps.now().toISOString();
  const feed: FeedRecord = {
    id: randomToken(9),
    userId,
    title: checkTitle(input.title),
    sourceIds: await checkSources(deps, userId, input.sources ?? []),
    ...checkFilters(deps, input),
    limit: checkLimit(input.limit ?? deps.config.feeds.defaultLimit),
    options: checkOptions(input.options, DEFAULT_FEED_OPTIONS),
    publicToken: randomToken(PUBLIC_TOKEN_BYTES),
    createdAt: now,
    updatedAt: now,
  };
  // One atomic write (the record, its public token, the user's and its sources' lists), as a source's
  // create is: a failure leaves nothing listed or orphaned, and the slot given back leaves the counter
  // equal to what is listed.
  await deps.registry.saveFeed(feed);
  return feed;
}

export async function updateFeed(deps: Deps, userId: string, id: string, input: FeedInput): Promise<FeedRecord> {
  const feed = await editFeedRecord(deps, id, userId, async (previous) => ({
    ...previous,
    ...(input.title !== undefined ? { title: checkTitle(input.title) } : {}),
    ...(input.sources !== undefined ? { sourceIds: await checkSources(deps, userId, input.sources) } : {}),
    ...checkFilters(deps, { include: input.include ?? previous.include, exclude: input.exclude ?? previous.exclude }),
    ...(input.limit !== undefined ? { limit: checkLimit(input.limit) } : {}),
    ...(input.options !== undefined ? { options: checkOptions(input.options, feedOptionsOf(previous.options)) } : {}),
    updatedAt: deps.now().toISOString(),
  }));
  await rebuildFeed(deps, feed.id);
  return feed;
}

/** New public URLs; the old ones answer 404 as soon as this returns. */
export async function rotateFeed(deps: Deps, userId: string, id: string): Promise<FeedRecord> {
  const feed = await editFeedRecord(deps, id, userId, (previous) => ({
    ...previous,
    publicToken: randomToken(PUBLIC_TOKEN_BYTES),
    updatedAt: deps.now().toISOString(),
  }));
  await rebuildFeed(deps, feed.id);
  return feed;
}

export async function deleteFeed(deps: Deps, userId: string, id: string): Promise<void> {
  await underFeedEditLease(deps, id, async () => {
    // Over the record as read: one changed since (an edit past its lease) is read again, so the
    // tokens it added are deleted too.
    for (let attempt = 1; ; attempt++) {
      const feed = attempt === 1 ? await getOwnedFeedOrThrow(deps, userId, id) : await deps.registry.getOwnedFeed(userId, id);
      if (!feed || (await deps.registry.deleteFeed(feed, { ifUnchanged: true }))) return;
      if (attempt === EDIT_WRITE_TRIES) throw new ConflictError('the feed kept changing while it was deleted; try again');
    }
  });
  await deps.stats.forget(id);
}

/** Takes a source out of every feed that lists it (the source is being deleted); the feeds it was in. */
export async function removeSourceFromFeeds(deps: Deps, sourceId: string): Promise<string[]> {
  const feedIds = await deps.registry.feedIdsOfSource(sourceId);
  for (const feedId of feedIds) {
    await editFeedRecord(deps, feedId, undefined, (feed) => ({ ...feed, sourceIds: feed.sourceIds.filter((id) => id !== sourceId) })).catch(
      (error: unknown) => {
        if (!(error instanceof NotFoundError)) throw error; // deleted meanwhile: nothing to take out
      },
    );
  }
  return feedIds;
}

/**
 * Read-modify-write of one feed record under the feed's edit lease, so concurrent edits — a
 * subscriber URL created on one instance while another is revoked on a second — never write back
 * a stale copy: a lost token would stay live in the index yet be missing from the list, where
 * nobody could revoke it. `userId` limits the edit to that user's feed.
 */
async function editFeedRecord(
  deps: Deps,
  feedId: string,
  userId: string | undefined,
  change: (feed: FeedRecord) => FeedRecord | Promise<FeedRecord>,
): Promise<FeedRecord> {
  return underFeedEditLease(deps, feedId, async () => {
    for (let attempt = 1; ; attempt++) {
      const previous = userId === undefined ? await deps.registry.getFeed(feedId) : await deps.registry.getOwnedFeed(userId, feedId);
      if (!previous) throw new NotFoundError('Feed');
      const feed = await change(previous);
      // Refused when the record changed since it was read (this lease lapsed and another write
      // landed): the change is made again on the record as it is, a deleted feed answered as such.
      if (await deps.registry.saveFeed(feed, previous)) return feed;
      if (attempt === EDIT_WRITE_TRIES) throw new ConflictError('the feed kept changing while it was edited; try again');
    }
  });
}

async function underFeedEditLease<T>(deps: Deps, feedId: string, edit: () => Promise<T>): Promise<T> {
  // Unique per call: a lease is re-entrant for its owner, and two requests of one process must exclude each other.
  const owner = `${deps.instanceId}:${randomToken(6)}`;
  const edited = await deps.registry.leases.withLease(
    lease.feedEdit(feedId),
    owner,
    { ttlMs: EDIT_LEASE_MS, waitMs: EDIT_WAIT_MS, pollMs: 10 },
    edit,
  );
  if (!edited.held) throw new ConflictError('the feed is being edited by another request; try again');
  return edited.value;
}

/** The first entries a feed with these settings would publish now, and its sources; nothing is stored. */
export async function previewFeed(
  deps: Deps,
  userId: string,
  input: FeedInput,
): Promise<{ sources: SourceRecord[]; entries: PublishedEntry[] }> {
  const selection = {
    sourceIds: await checkSources(deps, userId, input.sources ?? []),
    ...checkFilters(deps, input),
    limit: Math.min(checkLimit(input.limit ?? deps.config.feeds.defaultLimit), PREVIEW_ENTRIES),
    options: checkOptions(input.options, DEFAULT_FEED_OPTIONS),
  };
  return selectEntries(deps, selection, deps.now());
}

// Per-subscriber URLs --------------------------------------------------------------------------

export interface FeedToken {
  id: string;
  name: string;
  token: string;
  createdAt: string;
}

/** The feed's default URL first (id `default`, replaced by a rotation), then the named ones. */
export function tokensOf(feed: FeedRecord): FeedToken[] {
  return [
    { id: DEFAULT_TOKEN_ID, name: DEFAULT_TOKEN_ID, token: feed.publicToken, createdAt: feed.createdAt },
    ...(feed.subscriberTokens ?? []),
  ];
}

export async function createFeedToken(deps: Deps, userId: string, feedId: string, name: string | undefined): Promise<FeedToken> {
  const cleaned = checkTokenName(name);
  const token: SubscriberToken = {
    id: randomToken(6),
    name: cleaned,
    token: randomToken(PUBLIC_TOKEN_BYTES),
    createdAt: deps.now().toISOString(),
  };
  await editFeedRecord(deps, feedId, userId, (previous) => {
    const existing = previous.subscriberTokens ?? [];
    if (existing.length >= MAX_SUBSCRIBER_TOKENS)
      throw new ConflictError(`a feed has at most ${MAX_SUBSCRIBER_TOKENS} subscriber URLs; revoke one first`);
    if (tokensOf(previous).some((other) => other.name.toLowerCase() === cleaned.toLowerCase())) {
      throw new ConflictError(`this feed already has a URL named "${cleaned}"`);
    }
    return { ...previous, subscriberTokens: [...existing, token] };
  });
  // The bytes are unchanged; this writes the new token's copy of the feed's meta (one-read GETs).
  await rebuildFeed(deps, feedId);
  return token;
}

/** The token's URLs answer 404 as soon as this returns; the others keep working. */
export async function revokeFeedToken(deps: Deps, userId: string, feedId: string, tokenId: string): Promise<void> {
  await editFeedRecord(deps, feedId, userId, (previous) => {
    if (tokenId === DEFAULT_TOKEN_ID)
      throw new BadRequestError('the default URL cannot be revoked; replace it with POST /api/v1/feeds/:id/rotate');
    const existing = previous.subscriberTokens ?? [];
    if (!existing.some((token) => token.id === tokenId)) throw new NotFoundError('Token');
    return { ...previous, subscriberTokens: existing.filter((token) => token.id !== tokenId) };
  });
}

export interface FeedUsage {
  totals: { requests: number; notModified: number; subscribers: number };
  tokens: Array<Omit<TokenStats, 'tokenId'> & { id: string; name: string }>;
  days: FeedStats['days'];
}

/** Usage per live token; counts of this process not yet flushed are included. */
export async function feedUsage(deps: Deps, userId: string, feedId: string): Promise<FeedUsage> {
  const feed = await getOwnedFeedOrThrow(deps, userId, feedId);
  await deps.stats.flush();
  const { tokens: counted, days } = await deps.stats.read(feed.id, deps.now());
  const tokens = tokensOf(feed).map(({ id, name }) => {
    const { tokenId: _tokenId, ...usage } = counted.get(id) ?? {
      tokenId: id,
      requests: 0,
      notModified: 0,
      lastSeenAt: null,
      subscribers: 0,
      readers: [],
    };
    return { id, name, ...usage };
  });
  const sum = <T>(of: Iterable<T>, pick: (token: T) => number) => [...of].reduce((total, token) => total + pick(token), 0);
  // Requests and 304s count every URL the feed has had, revoked ones too, as the per-day counts
  // (kept per feed, not per URL) do; subscribers are those of the live URLs only.
  return {
    totals: {
      requests: sum(counted.values(), (token) => token.requests),
      notModified: sum(counted.values(), (token) => token.notModified),
      subscribers: sum(tokens, (token) => token.subscribers),
    },
    tokens,
    days,
  };
}

export async function getOwnedFeedOrThrow(deps: Pick<Deps, 'registry'>, userId: string, id: string): Promise<FeedRecord> {
  const feed = await deps.registry.getOwnedFeed(userId, id);
  if (!feed) throw new NotFoundError('Feed');
  return feed;
}

function checkTitle(title: string | undefined): string {
  const cleaned = title?.replace(/\s+/g, ' ').trim();
  if (!cleaned) throw new BadRequestError('title is required');
  if (cleaned.length > 300) throw new BadRequestError('title must be at most 300 characters');
  return cleaned;
}

async function checkSources(deps: Deps, userId: string, ids: string[]): Promise<string[]> {
  const unique = [...new Set(ids)];
  if (unique.length > MAX_SOURCES_PER_FEED) throw new BadRequestError(`a feed takes at most ${MAX_SOURCES_PER_FEED} sources`);
  for (const [index, id] of unique.entries()) {
    // Another user's source is reported exactly like a missing one.
    if (!(await deps.registry.getOwnedSource(userId, id))) throw new BadRequestError(`sources[${index}]: no such source`);
  }
  return unique;
}

function checkFilters(deps: Pick<Deps, 'config'>, input: Pick<FeedInput, 'include' | 'exclude'>): Pick<FeedRecord, 'include' | 'exclude'> {
  const rules = { include: input.include ?? [], exclude: input.exclude ?? [] };
  const { maxFilterRules, maxFilterRuleLength } = deps.config.limits;
  // Every rule is run over every entry of every source: count and length bound a preview's work.
  validateFilterRules(rules, { maxRules: maxFilterRules, maxLength: maxFilterRuleLength });
  return rules;
}

function checkOptions(input: Partial<FeedOptions> | undefined, base: FeedOptions): FeedOptions {
  const options = { ...base, ...input };
  const { maxAgeDays } = options;
  if (!Number.isInteger(maxAgeDays) || maxAgeDays < 0 || maxAgeDays > MAX_AGE_DAYS) {
    throw new BadRequestError(`options.maxAgeDays must be an integer from 0 (any age) to ${MAX_AGE_DAYS}`);
  }
  return options;
}

function checkTokenName(name: string | undefined): string {
  const cleaned = name?.replace(/\s+/g, ' ').trim();
  if (!cleaned) throw new BadRequestError('name is required');
  if (cleaned.length > 100) throw new BadRequestError('name must be at most 100 characters');
  return cleaned;
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FEED_LIMIT) {
    throw new BadRequestError(`limit must be an integer from 1 to ${MAX_FEED_LIMIT}`);
  }
  return limit;
}
