// Reads a provider's feed-discovery answer into a list of feed links (XML through xml/xml-tree.ts,
// which refuses DTDs). Three shapes are accepted, because providers never agreed on one:
// - a list of `<link href rel title/>` elements under any wrapper (Netflix `/users/{id}/feeds`);
// - an Atom or RSS feed whose entries/items are the feeds;
// - JSON: an array of `{title, rel, url|href}`, or an object with such an array under `feeds`.
import { OAuthError } from '../errors.js';
import { attribute, children, createXmlTreeParser, first, textOf, XmlError, type XmlNode } from '../xml/xml-tree.js';

export interface FeedLink {
  title: string;
  rel: string;
  url: string;
}

// Atom may come as `atom:link`; the local name is what tells us what an element is.
const parseXml = createXmlTreeParser({ localNames: true });

/** Parses `body` (the discovery answer) into feed links, resolved against `baseUrl`. */
export function parseFeedLinks(body: string, baseUrl: string): FeedLink[] {
  const text = body.replace(/^\uFEFF/, '').trim();
  const links = text.startsWith('{') || text.startsWith('[') ? linksFromJson(text) : linksFromXml(text);

  const seen = new Set<string>();
  const result: FeedLink[] = [];
  for (const link of links) {
    const url = resolveHttpUrl(link.url, baseUrl);
    if (url === undefined || seen.has(url)) continue;
    seen.add(url);
    result.push({ title: link.title.trim(), rel: link.rel.trim(), url });
  }
  return result;
}

function linksFromJson(text: string): FeedLink[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new OAuthError('feed discovery answered invalid JSON');
  }
  const list = Array.isArray(data) ? data : isRecord(data) && Array.isArray(data.feeds) ? data.feeds : undefined;
  if (list === undefined) throw new OAuthError('feed discovery answered JSON without a feeds list');
  const links: FeedLink[] = [];
  for (const item of list) {
    if (!isRecord(item)) continue;
    const url = stringOf(item.url) ?? stringOf(item.href);
    if (url === undefined) continue;
    links.push({ url, title: stringOf(item.title) ?? '', rel: stringOf(item.rel) ?? '' });
  }
  return links;
}

function linksFromXml(text: string): FeedLink[] {
  let document: XmlNode;
  try {
    document = parseXml(text);
  } catch (error) {
    // A malformed document's message may quote the provider's text: not repeated to the user.
    if (error instanceof XmlError && error.reason !== 'malformed') throw new OAuthError(`feed discovery answer refused: ${error.message}`);
    throw new OAuthError('feed discovery answered neither XML nor JSON');
  }

  const feed = first(document, 'feed');
  if (feed) return children(feed, 'entry').flatMap(linkOfAtomEntry);

  const rss = first(document, 'rss');
  const channel = rss ? first(rss, 'channel') : undefined;
  if (channel) return children(channel, 'item').flatMap(linkOfRssItem);
  const rdf = first(document, 'RDF');
  if (rdf) return children(rdf, 'item').flatMap(linkOfRssItem);

  // Netflix style: `<link href rel title/>` anywhere under any wrapper.
  const links: FeedLink[] = [];
  collectLinkElements(document, links);
  return links;
}

function linkOfAtomEntry(entry: XmlNode): FeedLink[] {
  const candidates = children(entry, 'link').filter((link) => attribute(link, 'href') !== undefined);
  // RFC 4287 §4.2.7.2: a link without rel is rel="alternate", the entry's own target.
  const link = candidates.find((candidate) => (attribute(candidate, 'rel') ?? 'alternate') === 'alternate') ?? candidates[0];
  if (!link) return [];
  const rel = attribute(link, 'rel');
  const category = first(entry, 'category');
  return [
    {
      url: attribute(link, 'href') as string,
      title: textOf(first(entry, 'title')) ?? attribute(link, 'title') ?? '',
      rel: rel !== undefined && rel !== 'alternate' ? rel : ((category && attribute(category, 'term')) ?? ''),
    },
  ];
}

function linkOfRssItem(item: XmlNode): FeedLink[] {
  const url = textOf(first(item, 'link'));
  if (!url) return [];
  return [{ url, title: textOf(first(item, 'title')) ?? '', rel: textOf(first(item, 'category')) ?? '' }];
}

function collectLinkElements(node: XmlNode, links: FeedLink[]): void {
  for (const [name, value] of Object.entries(node)) {
    if (!Array.isArray(value)) continue;
    for (const child of value) {
      const href = name === 'link' ? attribute(child, 'href') : undefined;
      if (href !== undefined && attribute(child, 'rel') !== 'self') {
        links.push({ url: href, title: attribute(child, 'title') ?? '', rel: attribute(child, 'rel') ?? '' });
      }
      collectLinkElements(child, links);
    }
  }
}

function resolveHttpUrl(href: string, baseUrl: string): string | undefined {
  try {
    const url = new URL(href.trim(), baseUrl);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}
