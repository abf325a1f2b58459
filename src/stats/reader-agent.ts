// Subscriber counts that hosted readers report in their User-Agent when they poll a feed for many
// users at once. There is no standard; these are the shapes the big fetchers send, e.g.
//   Feedly/1.0 (+http://www.feedly.com/fetcher.html; 16 subscribers; feed-id=1234)
//   Mozilla/5.0 (compatible; Inoreader; +http://www.inoreader.com/feed-fetcher; 4 subscribers; )
//   NewsBlur Feed Fetcher - 12 subscribers - http://www.newsblur.com/site/123/example (…)
//   Feedbin feed-id:1373711 - 142 subscribers
//   Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 3 subscribers)
//   theoldreader.com (1 subscribers; feed-id=…)

export interface ReaderReport {
  /** The reader's name as it introduces itself (product token), at most 64 characters. */
  reader: string;
  subscribers: number;
  /** The reader's own id of the feed, when it says: one reader may poll one URL as several feeds. */
  readerFeedId?: string;
}

const SUBSCRIBERS = /(\d{1,9})\s+(?:subscribers?|readers?)\b/i;
/**
 * Counts are whatever the poller says, and anyone holding the URL can poll it (issue 18: "999999999
 * subscribers" was shown as such). More than this in one reader is not a real private feed's
 * audience: such a report is ignored (the request itself still counts). Below it a made-up count
 * still shows; the figure is documented as self-reported.
 */
export const MAX_REPORTED_SUBSCRIBERS = 100_000;
const FEED_ID = /feed-?id[=:]\s*([\w.-]{1,64})/i;
/** Tokens that name a browser engine or a generic library rather than the reader. */
const GENERIC = /^(mozilla|compatible|applewebkit|khtml|gecko|chrome|safari|like)$/i;

/** The report in a User-Agent, or undefined when it carries no subscriber count. */
export function parseReaderAgent(userAgent: string | undefined): ReaderReport | undefined {
  if (!userAgent || userAgent.length > 512) return undefined;
  const count = SUBSCRIBERS.exec(userAgent);
  if (!count || Number(count[1]) > MAX_REPORTED_SUBSCRIBERS) return undefined;
  const feedId = FEED_ID.exec(userAgent)?.[1];
  return { reader: readerName(userAgent), subscribers: Number(count[1]), ...(feedId ? { readerFeedId: feedId } : {}) };
}

/** The first word that is not a browser's or a URL: "Feedly", "Inoreader", "NewsBlur", "theoldreader.com". */
function readerName(userAgent: string): string {
  for (const word of userAgent.split(/[\s;()]+/)) {
    const name = word.split('/')[0]!.replace(/^\+/, '');
    if (!name || GENERIC.test(name) || /^(https?:|\d)/i.test(name) || name === '-') continue;
    return name.slice(0, 64);
  }
  return 'unknown';
}
