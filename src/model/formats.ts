// The formats a merged feed is published in, written once: the published bytes, the public URLs
// (`<token>.atom|.rss|.json`), WebSub topics and the renderers all go by this list. (What parse/
// reads from upstreams is another list: `FeedFormat` in entries.ts.)

export const FEED_FORMATS = ['atom', 'rss', 'json'] as const;

/** One published format of a merged feed. */
export type RenderedFormat = (typeof FEED_FORMATS)[number];

export function isRenderedFormat(value: string): value is RenderedFormat {
  return (FEED_FORMATS as readonly string[]).includes(value);
}
