// Atom 0.3 / 1.0 (feedsmith maps 0.3's issued/modified/tagline onto 1.0's names).
import type { AtomFeed } from 'feedsmith';
import type { Entry, ParsedFeed, Person } from '../../model.js';
import { parseDate } from '../parse-date.js';
import { decodeBase64Text } from '../repair-xml.js';
import {
  absoluteUrl,
  cleanHtml,
  compact,
  entryOf,
  literalText,
  makeEnclosure,
  makePerson,
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
  type Context,
} from '../normalise.js';

const HTML_TEXT_TYPES = new Set(['html', 'xhtml', 'text/html', 'application/xhtml+xml']);

function atomHtml(context: Context, text: AtomFeed.Text | AtomFeed.Content | undefined, base: string): string | undefined {
  if (text?.value === undefined) return undefined;
  const textBase = resolveBase(text.xml?.base, base);
  const type = text.type?.trim().toLowerCase();
  // RFC 4287 §4.1.3.3: a type neither text nor XML is base64; what decodes to text is shown as text.
  if (type !== undefined && !isTextualType(type)) return textAsHtml(context, decodeNonTextual(type, text.value), textBase);
  // RFC 4287 §3.1.1: no type means text.
  if (type === undefined || !HTML_TEXT_TYPES.has(type)) return textAsHtml(context, text.value, textBase);
  return cleanHtml(context, text.value, textBase);
}

/**
 * The text of a construct of a non-text type: its base64 decoded; or, when that is no text and the
 * type names no binary medium (`application/json`, `application/x-custom`), the value as written —
 * what feeds mean by it, and what lenient readers show.
 */
function decodeNonTextual(type: string, value: string): string | undefined {
  const decoded = decodeBase64Text(value);
  if (decoded !== undefined) return decoded;
  return /^(?:image|audio|video|font|model)\/|^application\/(?:octet-stream|pdf|zip|gzip)\b/.test(type) ? undefined : value;
}

function isTextualType(type: string): boolean {
  return type === 'text' || HTML_TEXT_TYPES.has(type) || type.startsWith('text/') || /[/+]xml(?:\s*;|$)/.test(type) || !type.includes('/');
}

/** An Atom title: type="text" (the default) is literal text, html and xhtml are markup. */
function atomTitle(context: Context, text: AtomFeed.Text | undefined): string | undefined {
  const type = text?.type?.trim().toLowerCase();
  // A media type neither text nor XML: base64, as in content (RFC 4287 §4.1.3.3; readers decode it in titles too).
  if (type !== undefined && text?.value !== undefined && !isTextualType(type))
    return literalText(context, decodeNonTextual(type, text.value));
  return type !== undefined && HTML_TEXT_TYPES.has(type) ? plainText(context, text?.value) : literalText(context, text?.value);
}

/** The rel="alternate" link (RFC 4287 §4.2.7.2: no rel means alternate), HTML preferred. */
function atomAlternate(context: Context, links: Array<AtomFeed.Link<string>> | undefined, base: string): string | undefined {
  const alternates = (links ?? []).filter((link) => link.rel === undefined || link.rel === 'alternate');
  const preferred = alternates.find((link) => link.type === undefined || /html/i.test(link.type)) ?? alternates[0];
  return absoluteUrl(context, preferred?.href, base);
}

function atomPeople(context: Context, people: Array<AtomFeed.Person> | undefined, base: string): Person[] {
  return uniquePeople((people ?? []).map((person) => makePerson(context, person.name, person.email, person.uri, base)));
}

function normaliseAtomEntry(context: Context, entry: AtomFeed.Entry<string>, feedBase: string, feedAuthors: Person[]): Entry {
  const base = resolveBase(entry.xml?.base, feedBase);
  const link = atomAlternate(context, entry.links, base);
  const authors = atomPeople(context, entry.authors, base);
  const sourceAuthors = atomPeople(context, entry.source?.authors, base);
  const enclosures = uniqueEnclosures(
    (entry.links ?? [])
      .filter((candidate) => candidate.rel === 'enclosure')
      .map((candidate) => makeEnclosure(context, candidate.href, candidate.type, candidate.length, base)),
  );
  return compact({
    id: stableId(context, entry.id, link, [
      entry.title?.value,
      entry.updated ?? entry.published,
      entry.summary?.value ?? entry.content?.value,
    ]),
    title: atomTitle(context, entry.title) ?? plainText(context, mediaTitle(entry.media)),
    link,
    published: parseDate(entry.published) ?? parseDate(entry.dc?.dates?.[0]) ?? parseDate(entry.dcterms?.issued?.[0]),
    updated: parseDate(entry.updated),
    // RFC 4287 §4.2.1: an entry without authors has its source's, else its feed's.
    authors: authors.length > 0 ? authors : sourceAuthors.length > 0 ? sourceAuthors : feedAuthors,
    summary: atomHtml(context, entry.summary, base) ?? mediaDescription(context, entry.media, base),
    content: atomHtml(context, entry.content, base),
    categories: uniqueStrings((entry.categories ?? []).map((category) => plainText(context, category.label ?? category.term))),
    enclosures,
    image: absoluteUrl(context, entry.itunes?.image ?? mediaImage(entry.media), base),
    podcast: podcastOf(context, entry.itunes, undefined, base),
  });
}

export function normaliseAtom(context: Context, feed: AtomFeed.Feed<string>, baseUrl: string): ParsedFeed {
  const base = resolveBase(feed.xml?.base, baseUrl);
  const feedAuthors = atomPeople(context, feed.authors, base);
  return compact({
    format: 'atom' as const,
    title: atomTitle(context, feed.title),
    link: atomAlternate(context, feed.links, base),
    description: atomTitle(context, feed.subtitle),
    ttlMinutes: readTtlMinutes(undefined, feed.sy),
    image: absoluteUrl(context, feed.itunes?.image ?? feed.logo ?? feed.icon, base),
    explicit: feed.itunes?.explicit,
    podcast: podcastChannelOf(context, feed.itunes, undefined, feed.xml?.lang, base),
    entries: (feed.entries ?? []).map((entry) =>
      entryOf(context, entry, base, feedAuthors, () => normaliseAtomEntry(context, entry, base, feedAuthors)),
    ),
  });
}
