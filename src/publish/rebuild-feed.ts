// cache → pipeline → render → stored bytes. Runs when a feed is created or edited and when one of
// its sources changes; a reader's GET only ever reads what this wrote.
import type { Deps } from '../deps.js';
import { applyFeedOptions, feedOptionsOf, oldestAllowed, type PublishedEntry, type SourceFacet } from '../pipeline/feed-options.js';
import { mergeAll, mergeFeed, type FeedSelection, type MergedSelection, type WrittenEntries } from './merge-state.js';
import { renderFeeds } from '../render/render-feed.js';
import { maskUrl, REDACTED } from '../secrets/scrub.js';
import {
  entryDate,
  FEED_FORMATS,
  type CachedEntry,
  type FeedRecord,
  type PodcastChannel,
  type RenderedFormat,
  type RenderedMeta,
  type SourceRecord,
} from '../model.js';
import { feedStaleness } from '../model/source-policy.js';
import { isStoreBusy } from '../store/kv.js';
import { lease } from '../store/leases.js';
import { hubUrlOf, publicFeedIdOf, publicUrlsOf } from './public-urls.js';
import { VERSION } from '../version.js';
import { strongEtag } from './strong-etag.js';
import { onFeedPublished } from '../websub/notify.js';
import { escapeHtml } from '../text.js';

type RebuildDeps = Pick<Deps, 'config' | 'registry' | 'metrics' | 'now' | 'instanceId' | 'logger'>;

const REBUILD_LEASE_MS = 30_000;

interface RebuildQueue {
  /** The last rebuild of each feed asked for in this process: the next one starts after it. */
  chains: Map<string, Promise<RenderedMeta | undefined>>;
  /** A rebuild asked for and not yet started: it will read everything written before it starts. */
  waiting: Map<string, Promise<RenderedMeta | undefined>>;
}
const queues = new WeakMap<object, RebuildQueue>();

/**
 * Rebuilds a feed's published bytes from the current entries. Rebuilds of one feed run one after
 * another — chained in this process, under a lease across processes — so the bytes written last
 * always come from the newest entries, whichever worker refreshed which source. A call while a
 * rebuild of the feed is still waiting to start joins it: that rebuild has not read anything yet,
 * so it covers the caller's writes too, and ten sources of a feed refreshed together cost one or two
 * rebuilds, not ten. `written`: lists this process wrote (merge-state.ts WrittenEntries), read only
 * if their revision moved since.
 */
export async function rebuildFeed(
  deps: RebuildDeps,
  feedId: string,
  written?: ReadonlyMap<string, WrittenEntries>,
): Promise<RenderedMeta | undefined> {
  let queue = queues.get(deps.registry);
  if (!queue) queues.set(deps.registry, (queue = { chains: new Map(), waiting: new Map() }));
  const { chains, waiting } = queue;
  const joined = waiting.get(feedId);
  if (joined) return joined;
  const previous = chains.get(feedId) ?? Promise.resolve(undefined);
  const next: Promise<RenderedMeta | undefined> = previous
    .catch(() => undefined)
    .then(() => {
      if (waiting.get(feedId) === next) waiting.delete(feedId);
      return rebuildUnderLease(deps, feedId, written);
    });
  chains.set(feedId, next);
  waiting.set(feedId, next);
  try {
    return await next;
  } finally {
    if (chains.get(feedId) === next) chains.delete(feedId);
  }
}

async function rebuildUnderLease(
  deps: RebuildDeps,
  feedId: string,
  written: ReadonlyMap<string, WrittenEntries> | undefined,
): Promise<RenderedMeta | undefined> {
  // Another process is rebuilding this feed: wait for it, then rebuild from what is newer still.
  // A holder that outlasts the wait is presumed stuck: the rebuild goes ahead without the lease.
  const wait = { ttlMs: REBUILD_LEASE_MS, waitMs: REBUILD_LEASE_MS, pollMs: 25 };
  const rebuilt = await deps.registry.leases.withLease(lease.rebuild(feedId), deps.instanceId, wait, () =>
    renderAndStore(deps, feedId, written),
  );
  return rebuilt.held ? rebuilt.value : renderAndStore(deps, feedId, written);
}

async function renderAndStore(
  deps: RebuildDeps,
  feedId: string,
  lists: ReadonlyMap<string, WrittenEntries> | undefined,
): Promise<RenderedMeta | undefined> {
  const { registry, config } = deps;
  const feed = await registry.getFeed(feedId);
  if (!feed) return undefined;
  const now = deps.now();
  const { sources, entries, merge } = await selectEntries(deps, feed, now, feed.id, lists);
  deps.metrics.feedMerges.inc({ merge });
  const staleNotice = staleNoticeOf(feed, sources, now, config.refresh.staleAfterHours);
  const published: PublishedEntry[] = staleNotice ? [staleNotice, ...entries] : entries;

  const urls = publicUrlsOf(config.publicUrl, feed.publicToken);
  const updated = latestDate(published) ?? new Date(feed.updatedAt);
  const previous = await registry.getRenderedMeta(feed.id);
  const formats = {} as RenderedMeta['formats'];
  const bodies = {} as Record<RenderedFormat, string>;
  // Each format names its own URL as self; the entries are prepared once for all three.
  const written = renderFeeds(FEED_FORMATS, {
    id: `urn:uuid:${publicFeedIdOf(feed.id)}`,
    title: feed.title,
    description: `${feed.title} — merged by feedproxy`,
    alternateUrls: urls,
    updated,
    generator: `feedproxy ${VERSION}`,
    hubUrl: hubUrlOf(config.publicUrl),
    stylesheetUrl: `${config.publicUrl}/feed.xsl`,
    ...podcastChannelOf(sources),
    entries: published,
  });
  for (const format of FEED_FORMATS) {
    const { body, contentType } = written[format];
    formats[format] = { contentType, etag: strongEtag(body) };
    bodies[format] = body;
  }
  const tokens = [feed.publicToken, ...(feed.subscriberTokens ?? []).map((subscriber) => subscriber.token)];
  const unchanged =
    previous?.publicToken === feed.publicToken && FEED_FORMATS.every((format) => previous.formats[format]?.etag === formats[format].etag);
  if (unchanged && previous) {
    await registry.syncPublicMetaCopies(previous, tokens);
    return (await deletedMeanwhile(registry, feed)) ? undefined : previous;
  }

  const rendered: RenderedMeta = { publicToken: feed.publicToken, lastModified: now.toUTCString(), formats };
  await registry.saveRendered(feed.id, rendered, bodies, tokens);
  if (await deletedMeanwhile(registry, feed)) return undefined;
  deps.metrics.feedRenders.inc();
  await onFeedPublished(deps, feed.id);
  return rendered;
}

/** A feed deleted while it was rebuilt: what the rebuild wrote would outlive it, so delete again (idempotent). */
async function deletedMeanwhile(registry: RebuildDeps['registry'], feed: FeedRecord): Promise<boolean> {
  if (await registry.getFeed(feed.id)) return false;
  await registry.deleteFeed(feed);
  return true;
}

/**
 * The entries a feed publishes, from what is cached now: merged, filtered, limited, options
 * applied. The rebuild of `feedId` renders them, merging again only the sources that changed since
 * its last rebuild (publish/merge-state.ts); the API's preview passes no feed and stores nothing.
 */
export async function selectEntries(
  deps: Pick<Deps, 'registry'>,
  selection: FeedSelection,
  now: Date,
  feedId?: string,
  written?: ReadonlyMap<string, WrittenEntries>,
): Promise<{ sources: SourceRecord[]; entries: PublishedEntry[]; merge: MergedSelection['merge'] }> {
  const { registry } = deps;
  const ids = selection.sourceIds;
  // Revisions first: entries read after them are never older than the revision recorded.
  const [records, revisions] = await Promise.all([registry.getSources(ids), feedId ? registry.getEntryRevisions(ids) : []]);
  const sources = records.filter((source): source is SourceRecord => source !== undefined);
  const options = feedOptionsOf(selection.options);
  const input = { include: selection.include, exclude: selection.exclude, limit: selection.limit, notBefore: oldestAllowed(options, now) };
  const { entries, merge } = feedId
    ? await mergeFeed(
        registry,
        feedId,
        selection,
        sources,
        new Map(ids.map((id, index) => [id, revisions[index] ?? null])),
        input.notBefore,
        written,
      )
    : { entries: (await mergeAll(registry, sources, input)).entries, merge: 'full' as const };
  const facets = new Map(sources.map((source) => [source.id, facetOf(source)]));
  return { sources, entries: applyFeedOptions(entries, options, facets), merge };
}

/**
 * A source as a published feed may name it: its title, and its home page only when nothing in it is
 * masked as a secret or was scrubbed as one (a home under `/newhome/<token>/` is no home to share).
 */
function facetOf(source: SourceRecord): SourceFacet {
  const home = source.siteUrl;
  const shareable =
    home !== undefined &&
    /^https?:\/\//i.test(home) &&
    maskUrl(home) === home &&
    !home.includes(REDACTED) &&
    !/@/.test(home.split('/')[2] ?? '');
  return { title: source.title, ...(shareable ? { url: home } : {}) };
}

/**
 * What podcast apps read from the channel: the artwork of the first source (in the feed's order)
 * that has one and nothing masked in it, explicit when any source says so, and the rest of the
 * channel's metadata as its sources agree on it (podcastMetadataOf).
 */
function podcastChannelOf(sources: SourceRecord[]): { image?: string; explicit?: boolean; podcast?: PodcastChannel } {
  const image = sources
    .map((source) => source.image)
    .find((url) => url !== undefined && /^https?:\/\//i.test(url) && maskUrl(url) === url && !url.includes(REDACTED));
  const ratings = sources.map((source) => source.explicit);
  const explicit = ratings.includes(true) ? true : ratings.length > 0 && ratings.every((rating) => rating === false) ? false : undefined;
  const podcast = podcastMetadataOf(sources);
  return {
    ...(image === undefined ? {} : { image }),
    ...(explicit === undefined ? {} : { explicit }),
    ...(podcast === undefined ? {} : { podcast }),
  };
}

/**
 * A channel's author, owner, categories, type, language, funding and completeness speak for one
 * show: a feed of one source republishes its source's; a merge of several publishes a value only
 * where every source says the same (the categories every source lists), since one show's author or
 * serial order said of another's episodes would be false. Blocked from directories when any source
 * is (a private feed kept out of Apple's directory stays out, merged or not). Funding links with
 * anything masked in them are not shared, as artwork is not. docs/podcasts.md
 */
function podcastMetadataOf(sources: SourceRecord[]): PodcastChannel | undefined {
  if (sources.length === 0) return undefined;
  const channels = sources.map((source) => source.podcast ?? {});
  const agreed = <K extends keyof PodcastChannel>(key: K): PodcastChannel[K] | undefined => {
    const first = JSON.stringify(channels[0]![key] ?? null);
    return first !== 'null' && channels.every((channel) => JSON.stringify(channel[key] ?? null) === first) ? channels[0]![key] : undefined;
  };
  const categories = (channels[0]!.categories ?? []).filter((category) =>
    channels.every((channel) => (channel.categories ?? []).some((other) => JSON.stringify(other) === JSON.stringify(category))),
  );
  const funding = agreed('funding')?.filter(({ url }) => /^https?:\/\//i.test(url) && maskUrl(url) === url && !url.includes(REDACTED));
  const podcast: PodcastChannel = {
    author: agreed('author'),
    owner: agreed('owner'),
    categories: categories.length === 0 ? undefined : categories,
    type: agreed('type'),
    language: agreed('language'),
    block: channels.some((channel) => channel.block === true) ? true : undefined,
    complete: agreed('complete'),
    funding: funding === undefined || funding.length === 0 ? undefined : funding,
  };
  for (const key of Object.keys(podcast) as Array<keyof PodcastChannel>) if (podcast[key] === undefined) delete podcast[key];
  return Object.keys(podcast).length === 0 ? undefined : podcast;
}

/** Rebuilds every feed that includes the source; failures are the caller's to log. */
export async function rebuildFeedsOfSource(deps: RebuildDeps, sourceId: string): Promise<void> {
  for (const feedId of await deps.registry.feedIdsOfSource(sourceId)) await rebuildFeed(deps, feedId);
}

/**
 * Rebuilds every feed that includes one of the sources, each feed once however many of its sources
 * are named (a refresh batch's changes, or what set.pendingRebuilds holds); a feed that fails is
 * logged and the others still run. A source whose feeds all rebuilt leaves the pending set; answers
 * the others (a feed of theirs failed). A busy store rejects (isStoreBusy), the sources left pending.
 * `written`: the lists the batch wrote (rebuildFeed).
 */
export async function rebuildFeedsOfSources(
  deps: RebuildDeps,
  sourceIds: Iterable<string>,
  written?: ReadonlyMap<string, WrittenEntries>,
): Promise<string[]> {
  const ids = [...sourceIds];
  // One read for the round's sources and one removal after: the round's bookkeeping is two store
  // calls, not two a source.
  const feedsOf = await deps.registry.feedIdsOfSources(ids);
  const failed = new Set<string>();
  for (const feedId of new Set(feedsOf.flat())) {
    await rebuildFeed(deps, feedId, written).catch((error: unknown) => {
      // A busy store ends the round: the other feeds would each wait out the busy timeout and fail
      // the same way. The round's sources stay marked pending, and the caller hears of it.
      if (isStoreBusy(error)) throw error;
      failed.add(feedId);
      deps.logger.error({ feedId, err: (error as Error).message }, 'rebuilding feeds failed');
    });
  }
  const rebuilt = (_: string, index: number) => !feedsOf[index]!.some((feedId) => failed.has(feedId));
  await deps.registry.unmarkRebuildPending(ids.filter(rebuilt));
  return ids.filter((id, index) => !rebuilt(id, index));
}

/**
 * Rebuilds the feeds a refresh batch marked and never rebuilt (set.pendingRebuilds): its process was
 * killed between writing entries and publishing them, or is still running (then a feed is rebuilt
 * twice). Usually nothing: one read. The scheduler runs it every tick, `feedproxy refresh` first.
 */
export async function rebuildPendingFeeds(deps: RebuildDeps): Promise<void> {
  const sourceIds = await deps.registry.pendingRebuildSourceIds();
  if (sourceIds.length > 0) await rebuildFeedsOfSources(deps, sourceIds);
}

function latestDate(entries: CachedEntry[]): Date | undefined {
  let latest: Date | undefined;
  for (const entry of entries) {
    const date = entryDate(entry);
    if (!latest || date > latest) latest = date;
  }
  return latest;
}

/**
 * The stale marker: when every source of a feed has been failing for longer than `staleAfterHours`,
 * the feed leads with one entry saying so. Its id changes only with the failure's start, so a reader
 * shows it once per outage, and it disappears with the first successful refresh.
 */
function staleNoticeOf(feed: FeedRecord, sources: SourceRecord[], now: Date, staleAfterHours: number): CachedEntry | undefined {
  const staleness = feedStaleness(sources, staleAfterHours);
  if (!staleness || now.getTime() < staleness.staleAt) return undefined;
  const { since, staleAt } = staleness;
  // Dated when the feed became stale: deterministic, so re-renders keep the same bytes.
  const dated = new Date(staleAt).toISOString();
  // Status and error code only: the error's words can name a private upstream host, and this is public.
  const details = sources.map(
    (source) =>
      `<li>${escapeHtml(source.title)}: ${escapeHtml(source.status)}${source.lastErrorCode ? ` (${escapeHtml(source.lastErrorCode)})` : ''}</li>`,
  );
  return {
    id: `urn:feedproxy:stale:${publicFeedIdOf(feed.id)}:${since}`,
    sourceId: 'feedproxy',
    title: `feedproxy:stale — no source of “${feed.title}” has refreshed since ${since}`,
    summary: `<p>The entries below are the last good ones. Sources:</p><ul>${details.join('')}</ul>`,
    authors: [{ name: 'feedproxy' }],
    categories: ['feedproxy:stale'],
    enclosures: [],
    published: dated,
    updated: dated,
    firstSeenAt: dated,
  };
}
