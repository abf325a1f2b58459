// Merged feed management: the operations behind /api/v1/feeds.
import type { Deps } from '../deps.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import { validateFilterRules } from '../pipeline/filter.js';
import { rebuildFeed } from '../publish/rebuild-feed.js';
import type { FeedRecord } from '../store/registry.js';
import { randomToken } from '../vault/seal.js';

export interface FeedInput {
  title?: string;
  sources?: string[];
  include?: string[];
  exclude?: string[];
  limit?: number;
}

export const MAX_FEED_LIMIT = 500;
const MAX_SOURCES_PER_FEED = 1000;
/** 144 bits: public URLs must be unguessable. */
const PUBLIC_TOKEN_BYTES = 18;

export async function createFeed(deps: Deps, userId: string, input: FeedInput): Promise<FeedRecord> {
  await checkFeedQuota(deps, userId);
  const now = deps.now().toISOString();
  const feed: FeedRecord = {
    id: randomToken(9),
    userId,
    title: checkTitle(input.title),
    sourceIds: await checkSources(deps, userId, input.sources ?? []),
    ...checkFilters(input),
    limit: checkLimit(input.limit ?? deps.config.feeds.defaultLimit),
    publicToken: randomToken(PUBLIC_TOKEN_BYTES),
    createdAt: now,
    updatedAt: now,
  };
  await deps.registry.saveFeed(feed);
  await rebuildFeed(deps, feed.id);
  return feed;
}

export async function updateFeed(deps: Deps, userId: string, id: string, input: FeedInput): Promise<FeedRecord> {
  const previous = await getOwnedFeedOrThrow(deps, userId, id);
  const feed: FeedRecord = {
    ...previous,
    ...(input.title !== undefined ? { title: checkTitle(input.title) } : {}),
    ...(input.sources !== undefined ? { sourceIds: await checkSources(deps, userId, input.sources) } : {}),
    ...checkFilters({ include: input.include ?? previous.include, exclude: input.exclude ?? previous.exclude }),
    ...(input.limit !== undefined ? { limit: checkLimit(input.limit) } : {}),
    updatedAt: deps.now().toISOString(),
  };
  await deps.registry.saveFeed(feed, previous);
  await rebuildFeed(deps, feed.id);
  return feed;
}

/** New public URLs; the old ones answer 404 as soon as this returns. */
export async function rotateFeed(deps: Deps, userId: string, id: string): Promise<FeedRecord> {
  const previous = await getOwnedFeedOrThrow(deps, userId, id);
  const feed = { ...previous, publicToken: randomToken(PUBLIC_TOKEN_BYTES), updatedAt: deps.now().toISOString() };
  await deps.registry.saveFeed(feed, previous);
  await rebuildFeed(deps, feed.id);
  return feed;
}

export async function deleteFeed(deps: Deps, userId: string, id: string): Promise<void> {
  await deps.registry.deleteFeed(await getOwnedFeedOrThrow(deps, userId, id));
}

export async function getOwnedFeedOrThrow(deps: Pick<Deps, 'registry'>, userId: string, id: string): Promise<FeedRecord> {
  const feed = await deps.registry.getOwnedFeed(userId, id);
  if (!feed) throw new NotFoundError('Feed');
  return feed;
}

async function checkFeedQuota(deps: Deps, userId: string): Promise<void> {
  const max = deps.config.limits.maxFeedsPerUser;
  if ((await deps.registry.listFeeds(userId)).length >= max) {
    throw new ConflictError(`feed limit reached: a user may have at most ${max} feeds; delete one first`);
  }
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

function checkFilters(input: Pick<FeedInput, 'include' | 'exclude'>): Pick<FeedRecord, 'include' | 'exclude'> {
  const rules = { include: input.include ?? [], exclude: input.exclude ?? [] };
  validateFilterRules(rules);
  return rules;
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FEED_LIMIT) {
    throw new BadRequestError(`limit must be an integer from 1 to ${MAX_FEED_LIMIT}`);
  }
  return limit;
}
