// A feed's publishing options, applied after merging: what aggregator pages and small screens
// need from the same entries. Pure: `now` comes from the caller.
import type { CachedEntry } from '../model.js';
import type { FeedOptions } from '../model.js';
import { escapeHtml, plainTextOf } from '../text.js';

export const DEFAULT_FEED_OPTIONS: Readonly<FeedOptions> = {
  prefixSourceTitle: false,
  summaryOnly: false,
  maxAgeDays: 0,
  sourceInfo: true,
};

/** What a published entry carries beyond the cached one: where it came from. */
export interface SourceFacet {
  title: string;
  /** The source's home page (never its feed URL: that one may carry a token). */
  url?: string;
}
export type PublishedEntry = CachedEntry & { source?: SourceFacet };

/** Longest summary derived from full content when a feed publishes summaries only. */
const DERIVED_SUMMARY_CHARS = 500;

export function feedOptionsOf(options: Partial<FeedOptions> | undefined): FeedOptions {
  return { ...DEFAULT_FEED_OPTIONS, ...options };
}

/** The oldest date an entry may carry to be published, or undefined when every age is. */
export function oldestAllowed(options: FeedOptions, now: Date): Date | undefined {
  return options.maxAgeDays === 0 ? undefined : new Date(now.getTime() - options.maxAgeDays * 86_400_000);
}

export function applyFeedOptions(
  entries: CachedEntry[],
  options: FeedOptions,
  sources: ReadonlyMap<string, SourceFacet>,
): PublishedEntry[] {
  return entries.map((entry) => {
    const source = sources.get(entry.sourceId);
    let published: PublishedEntry = entry;
    if (options.prefixSourceTitle && source) {
      published = { ...published, title: published.title ? `${source.title}: ${published.title}` : source.title };
    }
    if (options.summaryOnly && published.content !== undefined) {
      const { content, ...rest } = published;
      published = { ...rest, summary: rest.summary ?? summaryOf(content) };
    }
    if (options.sourceInfo && source) published = { ...published, source };
    return published;
  });
}

function summaryOf(html: string): string | undefined {
  const text = plainTextOf(html);
  if (!text) return undefined;
  const cut = text.length > DERIVED_SUMMARY_CHARS ? `${text.slice(0, DERIVED_SUMMARY_CHARS).replace(/\s+\S*$/, '')}…` : text;
  return escapeHtml(cut);
}
