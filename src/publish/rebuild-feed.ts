// cache → pipeline → render → stored bytes. Runs when a feed is created or edited and when one of
// its sources changes; a reader's GET only ever reads what this wrote.
import { createHash } from 'node:crypto';
import type { Deps } from '../deps.js';
import { applyFeedOptions, feedOptionsOf, oldestAllowed, type PublishedEntry, type SourceFacet } from '../pipeline/feed-options.js';
import { mergeAll, mergeFeed, type FeedSelection, type MergedSelection } from './merge-state.js';
import { renderFeed } from '../render/render-feed.js';
import { maskUrl, REDACTED } from '../secrets/scrub.js';
import { entryDate, FEED_FORMATS, type CachedEntry, type FeedRecord, type RenderedFormat, type RenderedMeta, type SourceRecord } from '../model.js';
import { VERSION } from '../version.js';
import { strongEtag } from './strong-etag.js';
import { onFeedPublished } from '../websub/notify.js';
import { escapeHtml } from '../pipeline/plain-text.js';


export function publicUrlsOf(publicUrl: string, token: string): Record<RenderedFormat, string> {
  return { atom: `${publicUrl}/${token}.atom`, rss: `${publicUrl}/${token}.rss`, json: `${publicUrl}/${token}.json` };
}

/** Namespace of published feed ids (RFC 9562 §5.5, UUID version 5). */
const FEED_ID_NAMESPACE = Buffer.from('9d3c6a51e07b4f2c8a95b1d4e6f70c28', 'hex');

/**
 * The id a published feed goes by (Atom `<id>`, the stale marker's id): a name-based UUID of the
 * feed's internal id, which the API uses and logs carry and a reader has no business seeing. The
 * internal id is 72 random bits, so the hash cannot be turned back into it. It depends on nothing
 * else, so it stays the same across restarts, edits and rotations (a rotation's new URLs are the
 * same feed, and the old URLs answer 404 all the same).
 */
export function publicFeedIdOf(feedId: string): string {
  const hash = createHash('sha1').update(FEED_ID_NAMESPACE).update(feedId).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The discovery page of a token (routes/browser-view.ts): links all three formats, for people and readers given a bare URL. */
export function pageUrlOf(publicUrl: string, token: string): string {
  return `${publicUrl}/f/${token}`;
}

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
 * rebuilds, not ten.
 */
export async function rebuildFeed(deps: RebuildDeps, feedId: string): Promise<RenderedMeta | undefined> {
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
      return rebuildUnderLease(deps, feedId);
    });
  chains.set(feedId, next);
  waiting.set(feedId, next);
  try {
    return await next;
  } finally {
    if (chains.get(feedId) === next) chains.delete(feedId);
  }
}

async function rebuildUnderLease(deps: RebuildDeps, feedId: string): Promise<RenderedMeta | undefined> {
  const deadline = Date.now() + REBUILD_LEASE_MS;
  // Another process is rebuilding this feed: wait for it, then rebuild from what is newer still.
  while (!(await deps.registry.acquireRebuildLease(feedId, deps.instanceId, REBUILD_LEASE_MS)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  try {
    return await renderAndStore(deps, feedId);
  } finally {
    await deps.registry.releaseRebuildLease(feedId, deps.instanceId);
  }
}

async function renderAndStore(deps: RebuildDeps, feedId: string): Promise<RenderedMeta | undefined> {
  const { registry, config } = deps;
  const feed = await registry.getFeed(feedId);
  if (!feed) return undefined;
  const now = deps.now();
  const { sources, entries, merge } = await selectEntries(deps, feed, now, feed.id);
  deps.metrics.feedMerges.inc({ merge });
  const staleNotice = staleNoticeOf(feed, sources, now, config.refresh.staleAfterHours);
  const published: PublishedEntry[] = staleNotice ? [staleNotice, ...entries] : entries;

  const urls = publicUrlsOf(config.publicUrl, feed.publicToken);
  const updated = latestDate(published) ?? new Date(feed.updatedAt);
  const previous = await registry.getRenderedMeta(feed.id);
  const formats = {} as RenderedMeta['formats'];
  const bodies = {} as Record<RenderedFormat, string>;
  for (const format of FEED_FORMATS) {
    const { body, contentType } = renderFeed(format, {
      id: `urn:uuid:${publicFeedIdOf(feed.id)}`,
      title: feed.title,
      description: `${feed.title} — merged by feedproxy`,
      selfUrl: urls[format],
      alternateUrls: urls,
      updated,
      generator: `feedproxy ${VERSION}`,
      hubUrl: hubUrlOf(config.publicUrl),
      stylesheetUrl: `${config.publicUrl}/feed.xsl`,
      ...podcastChannelOf(sources),
      entries: published,
    });
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
): Promise<{ sources: SourceRecord[]; entries: PublishedEntry[]; merge: MergedSelection['merge'] }> {
  const { registry } = deps;
  const ids = selection.sourceIds;
  // Revisions first: entries read after them are never older than the revision recorded.
  const [records, revisions] = await Promise.all([registry.getSources(ids), feedId ? registry.getEntryRevisions(ids) : []]);
  const sources = records.filter((source): source is SourceRecord => source !== undefined);
  const options = feedOptionsOf(selection.options);
  const input = { include: selection.include, exclude: selection.exclude, limit: selection.limit, notBefore: oldestAllowed(options, now) };
  const { entries, merge } = feedId
    ? await mergeFeed(registry, feedId, selection, sources, new Map(ids.map((id, index) => [id, revisions[index] ?? null])), input.notBefore)
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
    home !== undefined && /^https?:\/\//i.test(home) && maskUrl(home) === home && !home.includes(REDACTED) && !/@/.test(home.split('/')[2] ?? '');
  return { title: source.title, ...(shareable ? { url: home } : {}) };
}

/**
 * What podcast apps read from the channel: the artwork of the first source (in the feed's order)
 * that has one and nothing masked in it, and explicit when any source says so.
 */
function podcastChannelOf(sources: SourceRecord[]): { image?: string; explicit?: boolean } {
  const image = sources.map((source) => source.image).find((url) => url !== undefined && /^https?:\/\//i.test(url) && maskUrl(url) === url && !url.includes(REDACTED));
  const ratings = sources.map((source) => source.explicit);
  const explicit = ratings.includes(true) ? true : ratings.length > 0 && ratings.every((rating) => rating === false) ? false : undefined;
  return { ...(image === undefined ? {} : { image }), ...(explicit === undefined ? {} : { explicit }) };
}

/** The WebSub hub every published feed names (routes/websub.ts). */
export function hubUrlOf(publicUrl: string): string {
  return `${publicUrl}/websub`;
}

/** Rebuilds every feed that includes the source; failures are the caller's to log. */
export async function rebuildFeedsOfSource(deps: RebuildDeps, sourceId: string): Promise<void> {
  for (const feedId of await deps.registry.feedIdsOfSource(sourceId)) await rebuildFeed(deps, feedId);
}


function latestDate(entries: CachedEntry[]): Date | undefined {
  let latest: Date | undefined;
  for (const entry of entries) {
    const date = entryDate(entry);
    if (!latest || date > latest) latest = date;
  }
  return latest;
}

const HOUR_MS = 3_600_000;

/**
 * When a failing source's last good items turn stale: the feeds that hold it may need the stale
 * marker from then on, although nothing about the source changes at that moment (the scheduler
 * rebuilds them when the time passes; a disabled or unauthorized source is never fetched again).
 */
export function staleAtOf(source: SourceRecord, staleAfterHours: number): number | undefined {
  const since = failingSince(source);
  return since === undefined ? undefined : Date.parse(since) + staleAfterHours * HOUR_MS;
}

/** Since when a failing source has had no good refresh (ISO); undefined while it is ok or new. */
function failingSince(source: SourceRecord): string | undefined {
  return source.status === 'ok' || source.status === 'new' ? undefined : (source.lastSuccessAt ?? source.createdAt);
}

/**
 * The stale marker: when every source of a feed has been failing for longer than `staleAfterHours`,
 * the feed leads with one entry saying so. Its id changes only with the failure's start, so a reader
 * shows it once per outage, and it disappears with the first successful refresh.
 */
function staleNoticeOf(feed: FeedRecord, sources: SourceRecord[], now: Date, staleAfterHours: number): CachedEntry | undefined {
  const sinces = sources.map(failingSince);
  if (sources.length === 0 || sinces.includes(undefined)) return undefined;
  const since = (sinces as string[]).reduce((latest, date) => (date > latest ? date : latest));
  const staleAt = Date.parse(since) + staleAfterHours * HOUR_MS;
  if (now.getTime() < staleAt) return undefined;
  // Dated when the feed became stale: deterministic, so re-renders keep the same bytes.
  const dated = new Date(staleAt).toISOString();
  // Status and error code only: the error's words can name a private upstream host, and this is public.
  const details = sources.map((source) => `<li>${escapeHtml(source.title)}: ${escapeHtml(source.status)}${source.lastErrorCode ? ` (${escapeHtml(source.lastErrorCode)})` : ''}</li>`);
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

