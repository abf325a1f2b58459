// RDF: RSS 0.90 and 1.0.
import type { RdfFeed } from 'feedsmith';
import type { Entry, ParsedFeed } from '../../model.js';
import { parseDate } from '../parse-date.js';
import {
  absoluteUrl,
  cleanHtml,
  compact,
  entryOf,
  mediaImage,
  personOfText,
  plainText,
  readTtlMinutes,
  resolveBase,
  stableId,
  uniquePeople,
  uniqueStrings,
  untypedText,
  type Context,
} from '../normalise.js';

function normaliseRdfItem(context: Context, item: RdfFeed.Item<string>, feedBase: string): Entry {
  const base = resolveBase(item.xml?.base, feedBase);
  const link = absoluteUrl(context, item.link, base) ?? absoluteUrl(context, item.rdf?.about, base);
  return compact({
    id: stableId(context, item.rdf?.about, link, [item.title, item.dc?.dates?.[0], item.description]),
    title: untypedText(context, item.title ?? item.dc?.titles?.[0]),
    link,
    published: parseDate(item.dc?.dates?.[0]) ?? parseDate(item.dcterms?.issued?.[0]),
    updated: parseDate(item.dcterms?.modified?.[0]),
    authors: uniquePeople((item.dc?.creators ?? []).map((creator) => personOfText(context, creator, base))),
    summary: cleanHtml(context, item.description, base),
    content: cleanHtml(context, item.content?.encoded, base),
    categories: uniqueStrings((item.dc?.subjects ?? []).map((subject) => plainText(context, subject))),
    enclosures: [],
    image: absoluteUrl(context, mediaImage(item.media), base),
  });
}

export function normaliseRdf(context: Context, feed: RdfFeed.Feed<string>, baseUrl: string): ParsedFeed {
  const base = resolveBase(feed.xml?.base, baseUrl);
  return compact({
    format: 'rdf' as const,
    title: untypedText(context, feed.title),
    link: absoluteUrl(context, feed.link, base),
    description: untypedText(context, feed.description),
    ttlMinutes: readTtlMinutes(undefined, feed.sy),
    entries: (feed.items ?? []).map((item) => entryOf(context, item, base, undefined, () => normaliseRdfItem(context, item, base))),
  });
}
