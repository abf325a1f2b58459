// parse/: upstream documents → our ParsedFeed/Entry types. Never fetches.
export { parseFeed, type ParseFeedOptions } from './parse-feed.js';
export { sanitizeHtml, htmlToText, type SanitizeOptions } from './sanitize-html.js';
export { isHtmlDocument, discoverFeedLinks, type DiscoveredFeed } from './discover-feeds.js';
export { decodeBody } from './decode-body.js';
export { parseDate } from './parse-date.js';
export { NORMALISER_VERSION } from './normalise.js';
