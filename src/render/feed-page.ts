// A published feed as a small HTML page: the discovery page GET /f/<token> and what a browser
// navigating to an Atom or RSS URL is shown (routes/browser-view.ts). Built from the JSON Feed
// document a reader of that token gets, so the page shows exactly what the feed publishes.
//
// Every value is escaped; entries' HTML (from strangers' feeds) is shown as text only. No script,
// no inline style: the page works under the strictest Content-Security-Policy.
import { escapeHtml, plainTextOf } from '../text.js';
import type { RenderFormat } from './render-feed.js';

export interface FeedPageLinks {
  /** The public URLs of the token's three documents. */
  feeds: Record<RenderFormat, string>;
  /** The style sheet, relative to the page (so a path prefix in the public URL needs nothing). */
  styleHref: string;
}

/** Entries shown; the feed itself may carry more. */
const MAX_ENTRIES = 50;
const SUMMARY_CHARS = 300;

const FORMATS: ReadonlyArray<{ format: RenderFormat; type: string; name: string }> = [
  { format: 'atom', type: 'application/atom+xml', name: 'Atom' },
  { format: 'rss', type: 'application/rss+xml', name: 'RSS' },
  { format: 'json', type: 'application/feed+json', name: 'JSON Feed' },
];

interface JsonFeedItem {
  title?: unknown;
  url?: unknown;
  summary?: unknown;
  content_html?: unknown;
  date_published?: unknown;
  date_modified?: unknown;
  _feedproxy?: { source?: { title?: unknown } };
}

export function renderFeedPage(jsonFeed: string, links: FeedPageLinks): string {
  const document = JSON.parse(jsonFeed) as { title?: unknown; items?: JsonFeedItem[] };
  const title = text(document.title) || 'Untitled feed';
  const items = Array.isArray(document.items) ? document.items : [];
  const alternates = FORMATS.map(
    ({ format, type, name }) =>
      `<link rel="alternate" type="${type}" title="${escapeHtml(`${title} (${name})`)}" href="${escapeHtml(links.feeds[format])}">`,
  );
  const copyFields = FORMATS.map(
    ({ format, name }) => `<label class="copy">${name}<input type="text" readonly value="${escapeHtml(links.feeds[format])}"></label>`,
  );
  const more = items.length > MAX_ENTRIES ? [`<p class="meta">…and ${items.length - MAX_ENTRIES} older entries in the feed.</p>`] : [];
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${escapeHtml(title)} (feed)</title>`,
    ...alternates,
    `<link rel="stylesheet" href="${escapeHtml(links.styleHref)}">`,
    '</head><body><header>',
    '<p class="badge">Feed</p>',
    `<h1>${escapeHtml(title)}</h1>`,
    '<p class="help">This is a feed: paste one of its URLs into your reader (NetNewsWire, Feedly, Miniflux, newsboat…) to subscribe. ' +
      'Atom and RSS suit every reader; JSON Feed suits scripts and newer readers.</p>',
    ...copyFields,
    '</header><main>',
    ...(items.length === 0 ? ['<p class="empty">No entries yet.</p>'] : items.slice(0, MAX_ENTRIES).map(entryHtml)),
    ...more,
    '</main></body></html>',
    '',
  ].join('\n');
}

function entryHtml(item: JsonFeedItem): string {
  const title = escapeHtml(text(item.title) || 'Untitled');
  const url = text(item.url);
  const heading = /^https?:\/\//i.test(url) ? `<a href="${escapeHtml(url)}" rel="noopener noreferrer">${title}</a>` : title;
  // The date the feed is sorted by (merge.ts entryDate, rendered as date_modified), so the list
  // reads as sorted; date_published may be older than an entry's update.
  const date = (text(item.date_modified) || text(item.date_published)).slice(0, 10);
  const source = text(item._feedproxy?.source?.title);
  const meta = [
    date && `<time datetime="${escapeHtml(date)}">${escapeHtml(date)}</time>`,
    source && `from <span class="source">${escapeHtml(source)}</span>`,
  ]
    .filter(Boolean)
    .join(' · ');
  // JSON Feed's summary is plain text; content_html is HTML, shown as its text.
  const summary = text(item.summary) || plainTextOf(text(item.content_html));
  const characters = Array.from(summary);
  const shortened =
    characters.length > SUMMARY_CHARS
      ? `${characters
          .slice(0, SUMMARY_CHARS)
          .join('')
          .replace(/\s+\S*$/, '')}…`
      : summary;
  return [
    '<article>',
    `<h2>${heading}</h2>`,
    meta ? `<p class="meta">${meta}</p>` : '',
    shortened ? `<p class="summary">${escapeHtml(shortened)}</p>` : '',
    '</article>',
  ].join('');
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}
