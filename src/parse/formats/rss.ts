// RSS 0.9x / 2.0, with the namespaces real feeds mix in (content, dc, dcterms, itunes, media, atom).
import type { RssFeed } from 'feedsmith';
import type { Entry, ParsedFeed } from '../../model.js';
import { parseDate } from '../parse-date.js';
import {
  absoluteUrl,
  cleanHtml,
  compact,
  entryOf,
  makeEnclosure,
  makePerson,
  personOfText,
  maybeHtml,
  mediaDescription,
  mediaImage,
  mediaTitle,
  plainText,
  podcastChannelOf,
  podcastOf,
  readTtlMinutes,
  resolveBase,
  stableId,
  textAsHtml,
  uniqueEnclosures,
  uniquePeople,
  uniqueStrings,
  untypedText,
  type Context,
} from '../normalise.js';

/** Atom's <content> inside an RSS item: HTML when typed html or xhtml, else text (RFC 4287 §4.1.3.1). */
function atomContent(context: Context, content: { value?: string; type?: string } | undefined, base: string): string | undefined {
  const type = content?.type?.trim().toLowerCase();
  return type === 'html' || type === 'xhtml' || type === 'text/html'
    ? cleanHtml(context, content?.value, base)
    : textAsHtml(context, content?.value, base);
}

/** The links more than one of `links` names. */
function linksOfMany(links: Array<string | undefined>): Set<string> {
  const seen = new Set<string>();
  const many = new Set<string>();
  for (const link of links) {
    if (link === undefined || link.trim() === '') continue;
    if (seen.has(link)) many.add(link);
    seen.add(link);
  }
  return many;
}

/**
 * Items with no guid that only their first enclosure tells apart: the same title, date, description
 * and link (a "Daily briefing" twice a day with one date). Only these take the enclosure into their
 * id, so no other item's id changes. A pair the upstream's window splits (one item left in the
 * document) leaves the other with the id it would have had alone: seen once more as new.
 */
function itemsToldApartByEnclosure(items: Array<RssFeed.Item<string>>): Set<RssFeed.Item<string>> {
  const groups = new Map<string, Array<RssFeed.Item<string>>>();
  for (const item of items) {
    if (item.guid?.value !== undefined || item.enclosures?.[0]?.url === undefined) continue;
    const key = JSON.stringify([item.title, item.pubDate ?? item.dc?.dates?.[0], item.description, item.link]);
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return new Set([...groups.values()].filter((group) => group.length > 1).flat());
}

function normaliseRssItem(
  context: Context,
  item: RssFeed.Item<string>,
  feedBase: string,
  sharedLinks: ReadonlySet<string>,
  byEnclosure: boolean,
): Entry {
  const base = resolveBase(item.xml?.base, feedBase);
  const guid = item.guid?.value;
  const atomAlternate = item.atom?.links?.find((link) => link.rel === undefined || link.rel === 'alternate')?.href;
  const link =
    absoluteUrl(context, item.link, base) ??
    (item.guid?.isPermaLink !== false && /^https?:\/\//i.test(guid ?? '') ? absoluteUrl(context, guid, base) : undefined) ??
    absoluteUrl(context, atomAlternate, base);
  const enclosures = uniqueEnclosures([
    ...(item.enclosures ?? []).map((enclosure) => makeEnclosure(context, enclosure.url, enclosure.type, enclosure.length, base)),
    ...(item.media?.contents ?? [])
      .filter((content) => content.medium !== 'image' && !content.type?.startsWith('image/'))
      .map((content) => makeEnclosure(context, content.url, content.type, content.fileSize, base)),
  ]);
  const imageEnclosure = item.enclosures?.find((enclosure) => enclosure.type?.startsWith('image/'))?.url;
  const description = item.description ?? item.dc?.descriptions?.[0];
  // Items with no guid that share one link are told apart by what they say, not by the link.
  const idLink = link !== undefined && sharedLinks.has(link) ? undefined : link;
  return compact({
    id: stableId(context, guid, idLink, [
      item.title,
      item.pubDate ?? item.dc?.dates?.[0],
      item.description,
      ...(idLink === link ? [] : [link]),
      ...(byEnclosure ? [item.enclosures?.[0]?.url] : []),
      // An item with none of these (only dc:creator, itunes:summary…) is told apart by all it holds.
      ...((item.title ?? item.pubDate ?? item.dc?.dates?.[0] ?? item.description ?? link) ? [] : [JSON.stringify(item)]),
    ]),
    title: untypedText(context, item.title ?? item.dc?.titles?.[0] ?? item.itunes?.title ?? mediaTitle(item.media)),
    link,
    published:
      parseDate(item.pubDate) ??
      parseDate(item.dc?.dates?.[0]) ??
      parseDate(item.atom?.published) ??
      parseDate(item.dcterms?.issued?.[0]) ??
      parseDate(item.dcterms?.created?.[0]),
    updated: parseDate(item.atom?.updated) ?? parseDate(item.dcterms?.modified?.[0]),
    authors: uniquePeople([
      ...(item.authors ?? []).map((author) => makePerson(context, author.name, author.email, author.link, base)),
      // Atom's <author> inside RSS: what .NET's SyndicationFeed writes (as a10:author).
      ...(item.atom?.authors ?? []).map((author) => makePerson(context, author.name, author.email, author.uri, base)),
      ...(item.dc?.creators ?? []).map((creator) => personOfText(context, creator, base)),
      makePerson(context, item.itunes?.author, undefined, undefined, base),
    ]),
    summary:
      maybeHtml(context, description, base) ??
      maybeHtml(context, item.itunes?.summary, base) ??
      mediaDescription(context, item.media, base) ??
      maybeHtml(context, item.atom?.summary?.value, base),
    content: cleanHtml(context, item.content?.encoded, base) ?? atomContent(context, item.atom?.content, base),
    categories: uniqueStrings([
      ...(item.categories ?? []).map((category) => plainText(context, category.name)),
      ...(item.dc?.subjects ?? []).map((subject) => plainText(context, subject)),
    ]),
    enclosures,
    image: absoluteUrl(context, item.itunes?.image ?? mediaImage(item.media) ?? imageEnclosure, base),
    podcast: podcastOf(context, item.itunes, item.podcast, base),
  });
}

export function normaliseRss(context: Context, feed: RssFeed.Feed<string>, baseUrl: string): ParsedFeed {
  const base = resolveBase(feed.xml?.base, baseUrl);
  const atomAlternate = feed.atom?.links?.find((link) => link.rel === undefined || link.rel === 'alternate')?.href;
  const items = feed.items ?? [];
  const sharedLinks = linksOfMany(items.filter((item) => item.guid?.value === undefined).map((item) => item.link));
  const toldApartByEnclosure = itemsToldApartByEnclosure(items);
  const sharedLinkUrls = new Set([...sharedLinks].map((link) => absoluteUrl(context, link, base)).filter((link) => link !== undefined));
  return compact({
    format: 'rss' as const,
    title: untypedText(context, feed.title),
    link: absoluteUrl(context, feed.link, base) ?? absoluteUrl(context, atomAlternate, base),
    description: untypedText(context, feed.description),
    ttlMinutes: readTtlMinutes(feed.ttl, feed.sy),
    image: absoluteUrl(context, feed.itunes?.image ?? feed.image?.url, base),
    explicit: feed.itunes?.explicit,
    podcast: podcastChannelOf(context, feed.itunes, feed.podcast, feed.language ?? feed.dc?.languages?.[0], base),
    entries: items.map((item) => {
      const shared = item.guid?.value === undefined && sharedLinks.has(item.link ?? '');
      const byEnclosure = toldApartByEnclosure.has(item);
      const extra = shared ? 'shared-link' : undefined;
      return entryOf(context, item, base, byEnclosure ? [extra, 'enclosure'] : extra, () =>
        normaliseRssItem(context, item, base, sharedLinkUrls, byEnclosure),
      );
    }),
  });
}
