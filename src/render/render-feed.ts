// Merged entries → Atom 1.0, RSS 2.0 or JSON Feed 1.1 bytes: prepare-feed.ts makes one clean,
// format-neutral view of the input, and one writer per format (formats/) spells it out, escaping
// through text.ts. Output is deterministic (same input → same bytes): the ETag of a published feed
// depends on it.
import type { RenderedFormat } from '../model.js';
import { renderAtom } from './formats/atom.js';
import { renderJson } from './formats/json-feed.js';
import { renderRss } from './formats/rss.js';
import { prepareFeed, prepareSelfUrl, type PreparedFeed, type RenderInput } from './prepare-feed.js';

export type { RenderEntry, RenderInput } from './prepare-feed.js';

/** The published formats (model/formats.ts FEED_FORMATS). */
export type RenderFormat = RenderedFormat;

export interface RenderedFeed {
  body: string;
  contentType: string;
}

export const CONTENT_TYPES: Record<RenderFormat, string> = {
  atom: 'application/atom+xml; charset=utf-8',
  rss: 'application/rss+xml; charset=utf-8',
  json: 'application/feed+json; charset=utf-8',
};

export function renderFeed(format: RenderFormat, input: RenderInput): RenderedFeed {
  return writeFeed(format, prepareFeed(input));
}

/**
 * Every format at once, each with its own URL as self (`alternateUrls[format]`): the same bytes as
 * renderFeed per format, the input prepared once instead of once a format (a rebuild renders all).
 */
export function renderFeeds<F extends RenderFormat>(formats: readonly F[], input: Omit<RenderInput, 'selfUrl'>): Record<F, RenderedFeed> {
  const prepared = prepareFeed({ ...input, selfUrl: input.alternateUrls.atom });
  const rendered = {} as Record<F, RenderedFeed>;
  for (const format of formats) rendered[format] = writeFeed(format, { ...prepared, selfUrl: prepareSelfUrl(input.alternateUrls[format]) });
  return rendered;
}

function writeFeed(format: RenderFormat, feed: PreparedFeed): RenderedFeed {
  const body = format === 'atom' ? renderAtom(feed) : format === 'rss' ? renderRss(feed) : renderJson(feed);
  return { body, contentType: CONTENT_TYPES[format] };
}
