// JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), keys in a fixed order.
import { plainTextOf } from '../../text.js';
import type { PreparedEntry, PreparedFeed } from '../prepare-feed.js';

export function renderJson(feed: PreparedFeed): string {
  const document = {
    version: 'https://jsonfeed.org/version/1.1',
    title: feed.title,
    home_page_url: feed.homeUrl,
    feed_url: feed.selfUrl,
    description: feed.description,
    icon: feed.image,
    language: feed.podcast?.language,
    hubs: feed.hubUrl === undefined ? undefined : [{ type: 'WebSub', url: feed.hubUrl }],
    items: feed.entries.map(jsonItem),
  };
  return JSON.stringify(document, null, 2);
}

function jsonItem(entry: PreparedEntry): Record<string, unknown> {
  const authors = entry.authors
    .map((author) => ({ name: author.name, url: author.url ?? (author.email === undefined ? undefined : `mailto:${author.email}`) }))
    .filter((author) => author.name !== undefined || author.url !== undefined);
  return {
    id: entry.guid,
    url: entry.link,
    title: entry.title,
    // One of content_html and content_text is required.
    content_html: entry.content ?? entry.summary ?? '',
    // JSON Feed's summary is plain text.
    summary: entry.summary === undefined || entry.content === undefined ? undefined : plainTextOf(entry.summary),
    image: entry.image,
    date_published: (entry.published ?? entry.updated).toISOString(),
    date_modified: entry.updated.toISOString(),
    authors: authors.length === 0 ? undefined : authors,
    tags: entry.categories.length === 0 ? undefined : entry.categories,
    attachments:
      entry.enclosures.length === 0
        ? undefined
        : entry.enclosures.map((enclosure) => ({
            url: enclosure.url,
            mime_type: enclosure.type ?? 'application/octet-stream',
            size_in_bytes: enclosure.length,
            duration_in_seconds: durationOf(entry, enclosure.type),
          })),
    // JSON Feed 1.1 "Extensions": a key of our own, starting with an underscore.
    _feedproxy: entry.source === undefined ? undefined : { source: { title: entry.source.title, url: entry.source.url } },
  };
}

/** JSON Feed 1.1 "Podcasts": the episode's length, on the attachments that are the episode (audio or video). */
function durationOf(entry: PreparedEntry, type: string | undefined): number | undefined {
  return /^(?:audio|video)\//i.test(type ?? '') ? entry.podcast?.duration : undefined;
}
