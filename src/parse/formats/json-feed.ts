// JSON Feed 1.0 / 1.1 (feedsmith maps 1.0's `author` onto 1.1's `authors`).
import type { JsonFeed } from 'feedsmith';
import type { Entry, ParsedFeed, Person } from '../../model.js';
import { parseDate } from '../parse-date.js';
import {
  absoluteUrl,
  cleanHtml,
  compact,
  entryOf,
  makeEnclosure,
  makePerson,
  plainText,
  podcastChannelOf,
  podcastOf,
  stableId,
  textAsHtml,
  textWithReferences,
  uniqueEnclosures,
  uniquePeople,
  uniqueStrings,
  type Context,
} from '../normalise.js';

function jsonPeople(context: Context, authors: JsonFeed.Author[] | undefined, base: string): Person[] {
  return uniquePeople((authors ?? []).map((author) => makePerson(context, author.name, undefined, author.url, base)));
}

function normaliseJsonItem(context: Context, item: JsonFeed.Item<string>, base: string, feedAuthors: Person[]): Entry {
  const link = absoluteUrl(context, item.url, base) ?? absoluteUrl(context, item.external_url, base);
  const authors = jsonPeople(context, item.authors, base);
  return compact({
    id: stableId(context, item.id, link, [item.title, item.date_published, item.summary ?? item.content_html ?? item.content_text]),
    title: textWithReferences(context, item.title),
    link,
    published: parseDate(item.date_published),
    updated: parseDate(item.date_modified),
    // JSON Feed 1.1: an item without authors has the feed's.
    authors: authors.length > 0 ? authors : feedAuthors,
    summary: textAsHtml(context, item.summary, base),
    content: cleanHtml(context, item.content_html, base) ?? textAsHtml(context, item.content_text, base),
    categories: uniqueStrings((item.tags ?? []).map((tag) => plainText(context, tag))),
    enclosures: uniqueEnclosures(
      (item.attachments ?? []).map((attachment) =>
        makeEnclosure(context, attachment.url, attachment.mime_type, attachment.size_in_bytes, base),
      ),
    ),
    image: absoluteUrl(context, item.image ?? item.banner_image, base),
    // An attachment's duration_in_seconds is the episode's length (JSON Feed 1.1 "Podcasts").
    podcast: podcastOf(
      context,
      undefined,
      undefined,
      base,
      item.attachments?.find((attachment) => Number(attachment.duration_in_seconds) > 0)?.duration_in_seconds,
    ),
  });
}

export function normaliseJson(context: Context, feed: JsonFeed.Feed<string>, baseUrl: string): ParsedFeed {
  const feedAuthors = jsonPeople(context, feed.authors, baseUrl);
  return compact({
    format: 'json' as const,
    title: textWithReferences(context, feed.title),
    link: absoluteUrl(context, feed.home_page_url, baseUrl),
    description: plainText(context, feed.description),
    image: absoluteUrl(context, feed.icon, baseUrl),
    podcast: podcastChannelOf(context, undefined, undefined, feed.language, baseUrl),
    entries: (feed.items ?? []).map((item) =>
      entryOf(context, item, baseUrl, feedAuthors, () => normaliseJsonItem(context, item, baseUrl, feedAuthors)),
    ),
  });
}
