// Merged entries → Atom 1.0, RSS 2.0 or JSON Feed 1.1 bytes. The only import of `feed`.
//
// `feed` writes the XML documents; this file hands it values it can write safely, because it
// (through xml-js) escapes less than XML needs:
//  - attribute values only get `"` escaped, and only some URLs get `&` escaped → every value that
//    ends up in an attribute is a normalised URL or is escaped here;
//  - element text has `&amp;` unescaped before escaping (to "avoid double escaping") → literal
//    `&amp;` in plain text is protected here;
//  - CDATA sections only split the first `]]>` → the later ones are split here;
//  - Atom enclosure types are guessed from the URL's extension as `image/…`, and an entry without a
//    link gets an empty `<link/>` → each Atom entry's links (and its atom:source) are written here
//    and spliced in;
//  - its own xml-stylesheet instruction leaves the href unescaped → the instruction is written here.
// JSON Feed is built here: `feed` only writes version 1.0.
// Output is deterministic (same input → same bytes): the ETag of a published feed depends on it.
import { createHash } from 'node:crypto';
import { Feed, type Author, type Extension, type FeedOptions, type Item } from 'feed';
import type { CachedEntry, Podcast } from '../model.js';
import { entryDate, parseDate } from '../pipeline/merge.js';
import type { PublishedEntry, SourceFacet } from '../pipeline/feed-options.js';
import { plainTextOf } from '../pipeline/plain-text.js';

export type RenderFormat = 'atom' | 'rss' | 'json';

/** A merged entry as pipeline/feed-options publishes it: its `source`, if any, carries no secret (the caller's job). */
export type RenderEntry = PublishedEntry;
type EntrySource = SourceFacet;

export interface RenderInput {
  /** Stable id of the feed, e.g. a urn or the public URL. */
  id: string;
  title: string;
  description?: string;
  /** Public URL of the format being rendered. */
  selfUrl: string;
  alternateUrls: { atom: string; rss: string; json: string };
  homeUrl?: string;
  updated: Date;
  generator: string;
  /** WebSub hub (W3C WebSub §4): Atom link, RSS atom:link and JSON Feed `hubs`. */
  hubUrl?: string;
  /** XSL stylesheet a browser applies to the Atom and RSS documents (routes/browser-view.ts). */
  stylesheetUrl?: string;
  /** Artwork for podcast apps (RSS itunes:image): the sources' own, never a URL with a secret. */
  image?: string;
  /** Channel itunes:explicit, when the sources say. */
  explicit?: boolean;
  entries: RenderEntry[];
}

export interface RenderedFeed {
  body: string;
  contentType: string;
}

export const CONTENT_TYPES: Record<RenderFormat, string> = {
  atom: 'application/atom+xml; charset=utf-8',
  rss: 'application/rss+xml; charset=utf-8',
  json: 'application/feed+json; charset=utf-8',
};

export function renderFeed(format: RenderFormat, input: RenderInput): RenderedFeed {
  const feed = prepareFeed(input);
  const body = format === 'atom' ? renderAtom(feed) : format === 'rss' ? renderRss(feed) : renderJson(feed);
  return { body, contentType: CONTENT_TYPES[format] };
}

// ---------------------------------------------------------------------------------------------
// One clean, format-neutral view of the input: text stripped of what XML cannot carry, URLs
// normalised, ids made valid URIs and unique, dates resolved.

interface PreparedFeed {
  id: string;
  title: string;
  description?: string;
  /** Undefined only when the caller's URL was not an http(s) URL. */
  selfUrl?: string;
  homeUrl?: string;
  hubUrl?: string;
  stylesheetUrl?: string;
  image?: string;
  explicit?: boolean;
  updated: Date;
  generator: string;
  entries: PreparedEntry[];
}

interface PreparedEntry {
  /** An absolute URI, unique within the feed. */
  id: string;
  /** The id is the entry's own http(s) link: RSS may mark its guid a permalink. */
  idIsLink: boolean;
  /** Plain text. */
  title?: string;
  link?: string;
  /** Sanitised HTML. */
  summary?: string;
  /** Sanitised HTML. */
  content?: string;
  updated: Date;
  published?: Date;
  authors: Array<{ name?: string; email?: string; url?: string }>;
  categories: string[];
  enclosures: Array<{ url: string; type?: string; length?: number }>;
  image?: string;
  podcast?: Podcast;
  /** Plain-text title; the URL normalised. */
  source?: EntrySource;
}

function prepareFeed(input: RenderInput): PreparedFeed {
  const usedIds = new Set<string>();
  const title = cleanText(input.title).trim();
  return {
    id: isAtomId(cleanText(input.id)) ? cleanText(input.id) : derivedId(['feed', input.id]),
    title: title === '' ? 'Untitled feed' : title,
    description: optionalText(input.description),
    selfUrl: normaliseUrl(input.selfUrl),
    homeUrl: normaliseUrl(input.homeUrl),
    hubUrl: normaliseUrl(input.hubUrl),
    stylesheetUrl: normaliseUrl(input.stylesheetUrl),
    image: normaliseUrl(input.image),
    explicit: input.explicit,
    updated: validDate(input.updated) ?? latestOf(input.entries) ?? new Date(0),
    generator: cleanText(input.generator),
    entries: input.entries.map((entry) => prepareEntry(entry, usedIds)),
  };
}

function prepareEntry(entry: RenderEntry, usedIds: Set<string>): PreparedEntry {
  const link = normaliseUrl(entry.link);
  const id = uniqueId(entry, usedIds);
  const enclosures = new Map<string, PreparedEntry['enclosures'][number]>();
  for (const enclosure of entry.enclosures) {
    const url = normaliseUrl(enclosure.url);
    if (url === undefined || enclosures.has(url)) continue;
    const type = enclosure.type !== undefined && MIME_TYPE.test(enclosure.type) ? enclosure.type : undefined;
    const length = Number.isSafeInteger(enclosure.length) && (enclosure.length ?? 0) > 0 ? enclosure.length : undefined;
    enclosures.set(url, { url, type, length });
  }
  return {
    id,
    idIsLink: link !== undefined && id === link,
    title: optionalText(entry.title),
    link,
    summary: optionalText(entry.summary),
    content: optionalText(entry.content),
    updated: entryDate(entry),
    published: parseDate(entry.published),
    authors: entry.authors
      .map((author) => ({
        name: optionalText(author.name),
        email: author.email !== undefined && EMAIL.test(cleanText(author.email)) ? cleanText(author.email) : undefined,
        url: normaliseUrl(author.url),
      }))
      .filter((author) => author.name !== undefined || author.email !== undefined || author.url !== undefined),
    categories: [...new Set(entry.categories.map((category) => cleanText(category).trim()).filter((category) => category !== ''))],
    enclosures: [...enclosures.values()],
    image: normaliseUrl(entry.image),
    podcast: preparePodcast(entry.podcast),
    source: prepareSource(entry.source),
  };
}

/** Only values the iTunes tags can carry (positive integers, the three episode types). */
function preparePodcast(podcast: Podcast | undefined): Podcast | undefined {
  if (podcast === undefined) return undefined;
  const prepared: Podcast = {};
  const positive = (value: number | undefined): value is number => Number.isSafeInteger(value) && (value ?? 0) > 0;
  if (positive(podcast.duration)) prepared.duration = podcast.duration;
  if (typeof podcast.explicit === 'boolean') prepared.explicit = podcast.explicit;
  if (positive(podcast.episode)) prepared.episode = podcast.episode;
  if (positive(podcast.season)) prepared.season = podcast.season;
  if (podcast.episodeType === 'full' || podcast.episodeType === 'trailer' || podcast.episodeType === 'bonus') prepared.episodeType = podcast.episodeType;
  return Object.keys(prepared).length === 0 ? undefined : prepared;
}

function prepareSource(source: EntrySource | undefined): EntrySource | undefined {
  const title = source && optionalText(source.title)?.trim();
  if (!source || title === undefined) return undefined;
  const url = normaliseUrl(source.url);
  return url === undefined ? { title } : { title, url };
}

/** Characters XML 1.0 (§2.2) cannot carry at all: C0 controls but tab/LF/CR, U+FFFE/F, lone surrogates. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function cleanText(text: string): string {
  return text.replace(XML_INVALID, '');
}

function optionalText(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const cleaned = cleanText(text);
  return cleaned.trim() === '' ? undefined : cleaned;
}

/** An absolute http(s) URL in its serialised form (non-ASCII and `<>"` percent-encoded), or undefined. */
function normaliseUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const parsed = new URL(cleanText(url).trim());
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

function validDate(date: Date): Date | undefined {
  return Number.isNaN(date.getTime()) ? undefined : parseDate(date.toISOString());
}

function latestOf(entries: CachedEntry[]): Date | undefined {
  return entries.map(entryDate).reduce<Date | undefined>((latest, date) => (latest && latest >= date ? latest : date), undefined);
}

/** RFC 2045 type/subtype with optional parameters. */
const MIME_TYPE = /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+(\s*;\s*[!#$%&'*+.^_`|~0-9a-z-]+=("[^"]*"|[!#$%&'*+.^_`|~0-9a-z-]+))*$/i;
const EMAIL = /^[^\s@<>()",;:[\]\\]+@[^\s@<>()",;:[\]\\]+\.[^\s@<>()",;:[\]\\]+$/;

// Atom ids are IRIs compared character by character (RFC 4287 §4.2.6); feed validators accept
// ASCII URIs, and for tag: and urn: only the RFC 4151 and RFC 8141 forms.
const ASCII_URI = /^[a-z][a-z0-9+.-]*:(\/\/)?[0-9a-z;/?:@&=+$.\-_!~*'()%,#]+$/i;
const TAG_URI = /^tag:([a-z0-9\-._]+?@)?[a-z0-9.-]+?,\d{4}(-\d{2}(-\d{2})?)?:[0-9a-z;/?:@&=+$.\-_!~*'()%,]*(#[0-9a-z;/?:@&=+$.\-_!~*'()%,]*)?$/i;
const URN = /^urn:[a-z0-9][a-z0-9-]{1,31}:([a-z0-9()+,.:=@;$_!*'-]|%[0-9a-f]{2})+$/i;
const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isAtomId(id: string): boolean {
  if (!ASCII_URI.test(id)) return false;
  const scheme = id.slice(0, id.indexOf(':')).toLowerCase();
  if (scheme === 'tag') return TAG_URI.test(id);
  if (scheme === 'urn') return id.toLowerCase().startsWith('urn:uuid:') ? UUID_URN.test(id) : URN.test(id);
  return true;
}

/**
 * The upstream id when it is a usable URI and not taken yet; otherwise a name-based UUID of the
 * source and upstream id, so the same entry keeps the same id across renders.
 */
function uniqueId(entry: CachedEntry, usedIds: Set<string>): string {
  const upstream = cleanText(entry.id);
  let id = isAtomId(upstream) ? upstream : derivedId([entry.sourceId, entry.id]);
  for (let copy = 1; usedIds.has(id); copy += 1) id = derivedId([entry.sourceId, entry.id, String(copy)]);
  usedIds.add(id);
  return id;
}

/** Namespace of feedproxy's name-based ids (RFC 9562 §5.5, UUID version 5). */
const ID_NAMESPACE = Buffer.from('5f0b1f2e8c4a4d7e9b1a6c3d2e4f5a60', 'hex');

function derivedId(parts: string[]): string {
  const hash = createHash('sha1').update(ID_NAMESPACE).update(JSON.stringify(parts)).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------
// What xml-js (inside `feed`) needs from us; see the header comment.

/** For element text xml-js writes itself: it turns `&amp;` back into `&` before escaping. */
function xmlText(text: string): string {
  return text.replace(/&amp;/g, '&amp;amp;');
}

/** For attribute values xml-js writes as given (it only escapes `"`). */
function xmlAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
}

/**
 * For CDATA content: xml-js splits the first `]]>` itself; every later one is split here, the same
 * way, so the section round-trips to exactly the text given.
 */
function cdataText(text: string): string {
  const first = text.indexOf(']]>');
  if (first < 0) return text;
  return text.slice(0, first + 3) + text.slice(first + 3).replace(/\]\]>/g, ']]]]><![CDATA[>');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** For text and attribute values written here, not by xml-js. */
function escapeXml(text: string): string {
  return escapeHtml(text).replace(/"/g, '&quot;');
}

/**
 * The xml-stylesheet instruction (W3C "Associating Style Sheets with XML documents" §2), right
 * after the XML declaration. Its pseudo-attributes take the predefined entities; a normalised URL
 * holds no `?>` (the URL serialiser percent-encodes `>`), so the instruction cannot end early.
 */
function withStylesheet(xml: string, stylesheetUrl: string | undefined): string {
  if (stylesheetUrl === undefined) return xml;
  const declarationEnd = xml.startsWith('<?xml ') ? xml.indexOf('?>') + 2 : 0;
  const instruction = `<?xml-stylesheet type="text/xsl" href="${escapeXml(stylesheetUrl)}"?>`;
  return `${xml.slice(0, declarationEnd)}\n${instruction}${xml.slice(declarationEnd)}`;
}

function newFeed(options: FeedOptions, items: Item[]): Feed {
  const feed = new Feed(options);
  for (const item of items) feed.addItem(item);
  return feed;
}

// ---------------------------------------------------------------------------------------------
// Atom 1.0 (RFC 4287)

/**
 * Stands in for an entry's links while `feed` writes the document. It holds U+0001, which
 * cleanText removed from every other string, so nothing else in the document can look like it.
 */
const LINK_MARK = '\u0001';
const linkPlaceholder = (index: number): string => `https://feedproxy.invalid/${LINK_MARK}${index}${LINK_MARK}`;
const LINK_PLACEHOLDER_LINE = new RegExp(`^([ \\t]*)<link href="https://feedproxy\\.invalid/${LINK_MARK}(\\d+)${LINK_MARK}"/>\\n?`, 'gm');

function renderAtom(feed: PreparedFeed): string {
  const options: FeedOptions = {
    id: xmlText(feed.id),
    title: xmlText(feed.title),
    description: feed.description === undefined ? undefined : xmlText(feed.description),
    updated: feed.updated,
    generator: feed.generator,
    link: feed.homeUrl,
    feed: feed.selfUrl,
    hub: feed.hubUrl,
    // RFC 4287 §4.1.1: a feed whose entries lack an author needs one of its own.
    author: { name: xmlText(feed.title) },
  };
  const items = feed.entries.map((entry, index): Item => {
    // §4.1.2: an entry with no alternate link must carry content: its summary, else its title
    // (never its id, which is ours and says nothing to a reader).
    const content = entry.content ?? (entry.link === undefined ? (entry.summary ?? (escapeHtml(entry.title ?? '') || ' ')) : undefined);
    const summary = entry.content === undefined && entry.link === undefined ? undefined : entry.summary;
    return {
      id: entry.id,
      title: cdataText(escapeHtml(entry.title ?? '')),
      link: linkPlaceholder(index),
      date: entry.updated,
      published: entry.published,
      description: summary === undefined ? undefined : cdataText(summary),
      content: content === undefined ? undefined : cdataText(content),
      // §3.2.1: a person needs a name; one known only by e-mail is named by it.
      author: entry.authors.filter((author) => author.name !== undefined || author.email !== undefined).map(atomAuthor),
      category: entry.categories.map((category) => ({ term: xmlAttribute(category) })),
    };
  });
  const xml = newFeed(options, items).atom1();
  const spliced = xml.replace(LINK_PLACEHOLDER_LINE, (_line, indent: string, index: string) => {
    const entry = feed.entries[Number(index)];
    return entry ? [...atomLinks(entry), ...atomSource(entry)].map((line) => `${indent}${line}\n`).join('') : '';
  });
  return withStylesheet(spliced, feed.stylesheetUrl);
}

function atomAuthor(author: PreparedEntry['authors'][number]): Author {
  return { name: xmlText(author.name ?? author.email ?? ''), email: author.email && xmlText(author.email), link: author.url };
}

function atomLinks(entry: PreparedEntry): string[] {
  const links = entry.link === undefined ? [] : [`<link rel="alternate" href="${xmlAttribute(entry.link)}"/>`];
  for (const enclosure of entry.enclosures) {
    const type = enclosure.type === undefined ? '' : ` type="${xmlAttribute(enclosure.type)}"`;
    const length = enclosure.length === undefined ? '' : ` length="${enclosure.length}"`;
    links.push(`<link rel="enclosure" href="${xmlAttribute(enclosure.url)}"${type}${length}/>`);
  }
  return links;
}

/**
 * RFC 4287 §4.2.11: the feed an entry was copied from. We know its title and home page, not its
 * atom:id or atom:updated, which the spec only recommends: the W3C validator finds no error.
 */
function atomSource(entry: PreparedEntry): string[] {
  if (!entry.source) return [];
  const link = entry.source.url === undefined ? '' : `<link rel="alternate" href="${escapeXml(entry.source.url)}"/>`;
  return [`<source><title>${escapeXml(entry.source.title)}</title>${link}</source>`];
}

// ---------------------------------------------------------------------------------------------
// RSS 2.0 (https://www.rssboard.org/rss-specification)

const DUBLIN_CORE = 'http://purl.org/dc/elements/1.1/';
const ITUNES = 'http://www.itunes.com/dtds/podcast-1.0.dtd';

/** itunes:duration as H:MM:SS (the validator's and Apple's form). */
function itunesDuration(seconds: number): string {
  const pad = (value: number): string => String(value).padStart(2, '0');
  return `${Math.floor(seconds / 3600)}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}

/** The iTunes tags podcast apps read from an episode; only what the source gave. */
function itunesItemTags(entry: PreparedEntry): Extension[] {
  const podcast = entry.podcast;
  if (podcast === undefined) return [];
  const tags: Extension[] = [];
  const text = (name: string, value: string): void => void tags.push({ name, objects: { _text: value } });
  if (podcast.duration !== undefined) text('itunes:duration', itunesDuration(podcast.duration));
  if (entry.image !== undefined) tags.push({ name: 'itunes:image', objects: { _attributes: { href: xmlAttribute(entry.image) } } });
  if (podcast.explicit !== undefined) text('itunes:explicit', String(podcast.explicit));
  if (podcast.episode !== undefined) text('itunes:episode', String(podcast.episode));
  if (podcast.season !== undefined) text('itunes:season', String(podcast.season));
  if (podcast.episodeType !== undefined) text('itunes:episodeType', podcast.episodeType);
  return tags;
}

/**
 * RSS text elements carry no type, and many readers and aggregator pages render titles and
 * descriptions as HTML. Our text is plain, so those go out HTML-escaped, as Atom's `type="html"`
 * title does: an HTML-rendering reader shows the text we have, and `<img onerror=…>` stays text.
 */
function rssText(text: string): string {
  return escapeHtml(text);
}

/**
 * Names (`<source>`, `<category>`, `dc:creator`) that readers commonly show as plain text
 * (Universal Feed Parser does): the markup characters are escaped, so no tag can form however a
 * reader takes them, and `&` is left as it is, so "Tom & Jerry" reads right either way.
 */
function rssName(text: string): string {
  return text.replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function renderRss(feed: PreparedFeed): string {
  const options: FeedOptions = {
    title: xmlText(rssText(feed.title)),
    link: feed.homeUrl ?? feed.selfUrl ?? '',
    description: xmlText(rssText(feed.description ?? feed.title)),
    updated: feed.updated,
    generator: xmlText(feed.generator),
    feed: feed.selfUrl,
    hub: feed.hubUrl,
  };
  let namesAuthors = false;
  let namesItunes = false;
  const items = feed.entries.map((entry): Item => {
    const description = entry.summary ?? entry.content;
    const enclosure = entry.enclosures[0];
    const emails = entry.authors.flatMap((author) => (author.name === undefined && author.email !== undefined ? [author.email] : []));
    // RSS allows one <author>: the first author known only by e-mail; any others are named in dc:creator.
    const names = [...entry.authors.flatMap((author) => (author.name === undefined ? [] : [author.name])), ...emails.slice(1)];
    const extensions: Extension[] = itunesItemTags(entry);
    if (extensions.length > 0) namesItunes = true;
    // An author known only by e-mail goes in <author>, which is an e-mail address.
    if (emails[0] !== undefined) extensions.push({ name: 'author', objects: { _text: xmlText(emails[0]) } });
    if (names.length > 0) {
      namesAuthors = true;
      // <author> must be an e-mail address; a name goes in dc:creator, one element per author.
      extensions.push({ name: 'dc:creator', objects: names.map((name) => ({ _text: xmlText(rssName(name)) })) as unknown as Record<string, unknown> });
    }
    // RSS 2.0 <source> requires its url attribute: a source without a home page is not named.
    if (entry.source?.url !== undefined) {
      extensions.push({ name: 'source', objects: { _attributes: { url: xmlAttribute(entry.source.url) }, _text: xmlText(rssName(entry.source.title)) } });
    }
    return {
      // An item needs a title or a description.
      title: cdataText(rssText(entry.title ?? (description === undefined ? 'Untitled' : ''))),
      link: entry.link ?? '',
      // Without id and guid, `feed` writes the link as a permalink guid; otherwise isPermaLink="false".
      guid: entry.idIsLink ? undefined : xmlText(entry.id),
      date: entry.updated,
      published: entry.published,
      description: description === undefined ? undefined : cdataText(description),
      content: entry.summary !== undefined && entry.content !== undefined ? cdataText(entry.content) : undefined,
      category: entry.categories.map((category) => ({ name: xmlText(rssName(category)) })),
      // RSS has room for one enclosure per item, with a type and a length (0 when unknown).
      enclosure: enclosure && { url: xmlAttribute(enclosure.url), type: enclosure.type ?? 'application/octet-stream', length: enclosure.length ?? 0 },
      extensions,
    };
  });
  const rss = newFeed(options, items);
  // Channel artwork and rating for podcast apps; written by hand, since `feed`'s podcast mode adds
  // Google Play tags and owner details we do not have.
  if (feed.image !== undefined) {
    namesItunes = true;
    rss.addExtension({ name: 'itunes:image', objects: { _attributes: { href: xmlAttribute(feed.image) } } });
  }
  if (feed.explicit !== undefined) {
    namesItunes = true;
    rss.addExtension({ name: 'itunes:explicit', objects: { _text: String(feed.explicit) } });
  }
  let xml = rss.rss2();
  // `feed` declares the dc: prefix only when some item has content:encoded.
  const rootEnd = xml.indexOf('>', xml.indexOf('<rss '));
  const declarations = [
    namesAuthors && !xml.slice(0, rootEnd).includes('xmlns:dc=') ? ` xmlns:dc="${DUBLIN_CORE}"` : '',
    namesItunes ? ` xmlns:itunes="${ITUNES}"` : '',
  ].join('');
  xml = `${xml.slice(0, rootEnd)}${declarations}${xml.slice(rootEnd)}`;
  return withStylesheet(xml, feed.stylesheetUrl);
}

// ---------------------------------------------------------------------------------------------
// JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), keys in a fixed order.

function renderJson(feed: PreparedFeed): string {
  const document = {
    version: 'https://jsonfeed.org/version/1.1',
    title: feed.title,
    home_page_url: feed.homeUrl,
    feed_url: feed.selfUrl,
    description: feed.description,
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
    id: entry.id,
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
          })),
    // JSON Feed 1.1 "Extensions": a key of our own, starting with an underscore.
    _feedproxy: entry.source === undefined ? undefined : { source: { title: entry.source.title, url: entry.source.url } },
  };
}
