// The only import of feedsmith: upstream bytes → ParsedFeed. Everything that leaves is plain data
// of our own types: text is plain, HTML is sanitised, URLs are absolute http(s) with the source's
// secrets taken out, dates are ISO 8601.
import {
  DetectError,
  MalformedError,
  ParseError,
  detectJsonFeed,
  parseAtomFeed,
  parseJsonFeed,
  parseRdfFeed,
  parseRssFeed,
  type AtomFeed,
  type JsonFeed,
  type MediaNs,
  type RdfFeed,
  type RssFeed,
  type SyNs,
} from 'feedsmith';
import { NotAFeedError, isCodedError } from '../errors.js';
import { createHash } from 'node:crypto';
import type { Enclosure, Entry, FeedFormat, ParsedFeed, Person, Podcast } from '../model.js';
import { decodeBody } from './decode-body.js';
import { parseDate } from './parse-date.js';
import { createSecretRedactor, type SecretRedactor } from './redact-secrets.js';
import { sha256Hex } from '../vault/seal.js';
import { htmlToText, sanitizeHtml, textToHtml } from './sanitize-html.js';

export interface ParseFeedOptions {
  /** URL the document was fetched from: base of relative links, and its query values are secrets. */
  baseUrl: string;
  contentType?: string;
  /**
   * Entries this source's last parse made, by `fingerprint`: an item whose fingerprint is known is
   * taken as is instead of normalised and sanitised again (usually all but the newest few).
   */
  known?: ReadonlyMap<string, Entry>;
}

/** Part of every fingerprint: bump it when normalising or sanitising changes, so old entries are made again. */
const NORMALISER_VERSION = '2';

// Bounds the work one document can cause downstream; real feeds carry tens to hundreds.
const MAX_ENTRIES = 5000;
// Ids longer than this (or carrying a secret) are replaced by their hash.
const MAX_ID_LENGTH = 1024;
const HASH_ID_PREFIX = 'urn:feedproxy:sha256:';

/** Shared by every normaliser: how to turn upstream strings into our fields. */
interface Context {
  redactor: SecretRedactor;
  /** The source URL (its secrets are redacted from the output): part of every fingerprint. */
  sourceUrl: string;
  known?: ReadonlyMap<string, Entry>;
}

/**
 * The entry for one upstream item: the known one when the item, its base and the source are what
 * they were (a keyed hash — the source URL, secrets included, is part of it — so the stored value
 * says nothing about them), else `normalise()`'s, stamped with the fingerprint.
 */
function entryOf(context: Context, item: unknown, base: string, extra: unknown, normalise: () => Entry): Entry {
  const fingerprint = createHash('sha256')
    .update(`${NORMALISER_VERSION}\0${context.sourceUrl}\0${base}\0`)
    .update(JSON.stringify([item, extra]) ?? '')
    .digest('base64url');
  const known = context.known?.get(fingerprint);
  return known ?? { ...normalise(), fingerprint };
}


// ---------------------------------------------------------------------------------------------
// Reading the document

type DocumentKind = { kind: 'json'; value: unknown } | { kind: 'xml'; format: Exclude<FeedFormat, 'json'>; xml: string };

// Where a feed may start after junk a broken server printed first (a PHP warning, a stray newline
// in an include); looked for only near the start.
const FEED_START = /<\?xml\s|<(?:[\w-]+:)?(?:rss|feed|rdf)[\s>]/i;
const JUNK_SCAN_LENGTH = 4096;

interface Prolog {
  root?: string;
  declaresEntities: boolean;
}

/** End index (exclusive) of the DOCTYPE starting at `start`, and whether it declares entities. */
function scanDoctype(text: string, start: number): { end: number; declaresEntities: boolean } {
  let quote: string | undefined;
  let subsetStart = -1;
  let inSubset = false;
  for (let i = start + 9; i < text.length; i++) {
    const c = text[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '<' && text.startsWith('<!--', i)) {
      const close = text.indexOf('-->', i + 4);
      if (close === -1) break;
      i = close + 2;
    } else if (c === '[' && subsetStart === -1) {
      subsetStart = i;
      inSubset = true;
    } else if (c === ']' && inSubset) {
      inSubset = false;
    } else if (c === '>' && !inSubset) {
      const subset = subsetStart === -1 ? '' : text.slice(subsetStart, i);
      return { end: i + 1, declaresEntities: /<!ENTITY/i.test(subset) };
    }
  }
  // Unterminated: judge by what there is; the XML parser will refuse the rest.
  return { end: text.length, declaresEntities: /<!ENTITY/i.test(text.slice(start)) };
}

/** Walks the XML prolog (declaration, comments, PIs, DOCTYPE) to the root element's name. */
function scanProlog(text: string): Prolog {
  let declaresEntities = false;
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (text.startsWith('<?', i)) {
      const close = text.indexOf('?>', i + 2);
      if (close === -1) break;
      i = close + 2;
    } else if (text.startsWith('<!--', i)) {
      const close = text.indexOf('-->', i + 4);
      if (close === -1) break;
      i = close + 3;
    } else if (text.slice(i, i + 9).toUpperCase() === '<!DOCTYPE') {
      const doctype = scanDoctype(text, i);
      declaresEntities ||= doctype.declaresEntities;
      i = doctype.end;
    } else {
      const root = text.slice(i, i + 128).match(/^<([A-Za-z_][\w.:-]*)/)?.[1];
      return root === undefined ? { declaresEntities } : { root, declaresEntities };
    }
  }
  return { declaresEntities };
}

function localNameOf(name: string | undefined): string | undefined {
  return name?.slice(name.indexOf(':') + 1).toLowerCase();
}

function isFeedRoot(name: string | undefined): boolean {
  const localName = localNameOf(name);
  return localName === 'rss' || localName === 'feed' || localName === 'rdf';
}

function classifyDocument(text: string): DocumentKind {
  const start = text.trimStart();
  if (start === '') throw new NotAFeedError('the document is empty');
  if (start.startsWith('{') || start.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(start);
    } catch {
      throw new NotAFeedError('invalid JSON');
    }
    if (!detectJsonFeed(value)) throw new NotAFeedError('JSON document is not a JSON Feed');
    return { kind: 'json', value };
  }
  let xml = start;
  let prolog = scanProlog(xml);
  if (!prolog.declaresEntities && !isFeedRoot(prolog.root) && localNameOf(prolog.root) !== 'html') {
    const feedStart = xml.slice(0, JUNK_SCAN_LENGTH).search(FEED_START);
    if (feedStart > 0) {
      xml = xml.slice(feedStart);
      prolog = scanProlog(xml);
    }
  }
  if (!xml.startsWith('<')) throw new NotAFeedError('neither XML nor JSON');
  // Entity declarations are how billion-laughs and XXE documents work; no real feed needs them.
  if (prolog.declaresEntities) throw new NotAFeedError('the document type declares entities');
  const root = prolog.root?.toLowerCase();
  const localName = localNameOf(root);
  if (localName === 'rss') return { kind: 'xml', format: 'rss', xml };
  if (localName === 'feed') return { kind: 'xml', format: 'atom', xml };
  if (localName === 'rdf') return { kind: 'xml', format: 'rdf', xml };
  if (localName === 'html') {
    // An Atom feed a server wrapped in an XHTML page: lenient readers find the <feed> and read it.
    const embedded = embeddedAtomFeed(xml);
    if (embedded !== undefined) return { kind: 'xml', format: 'atom', xml: embedded };
    throw new NotAFeedError('an HTML page');
  }
  if (root === undefined) throw new NotAFeedError('no root element');
  throw new NotAFeedError(`unexpected root element <${root.slice(0, 40)}>`);
}

const EMBEDDED_ATOM = /<(?:([\w-]+):)?feed\s[^>]*xmlns(?::[\w-]+)?\s*=\s*["']http:\/\/(?:www\.w3\.org\/2005\/Atom|purl\.org\/atom\/ns#)["']/;

/** The Atom <feed> element inside an (X)HTML document, as a document of its own, or undefined. */
function embeddedAtomFeed(xml: string): string | undefined {
  const start = EMBEDDED_ATOM.exec(xml);
  if (!start) return undefined;
  const closeTag = `</${start[1] === undefined ? '' : `${start[1]}:`}feed>`;
  const end = xml.lastIndexOf(closeTag);
  return end < start.index ? undefined : xml.slice(start.index, end + closeTag.length);
}

// ---------------------------------------------------------------------------------------------
// Repairs for documents lenient readers (Universal Feed Parser, browsers) still read

/** RSS with its items straight under <rss>, no <channel>: the channel is put back around them. */
function withChannel(xml: string): string {
  if (/<(?:[\w-]+:)?channel[\s>]/.test(xml)) return xml;
  const open = /<(?:[\w-]+:)?rss(?:\s[^>]*)?>/.exec(xml);
  if (!open) return xml;
  const afterOpen = open.index + open[0].length;
  const close = xml.lastIndexOf('</');
  const end = close > afterOpen && /^<\/(?:[\w-]+:)?rss\s*>/.test(xml.slice(close)) ? close : xml.length;
  return `${xml.slice(0, afterOpen)}<channel>${xml.slice(afterOpen, end)}</channel>${xml.slice(end)}`;
}

// Atom 0.3 mode="base64" (and RFC 4287 content of a non-text type) carries base64: decoded here,
// before parsing, since the parser keeps the text but not the mode.
const BASE64_ELEMENT = /<((?:[\w-]+:)?(?:content|summary|title|tagline|info|subtitle))((?:\s[^>]*?)?)\smode\s*=\s*["']base64["']([^>]*)>([^<]*)<\/\1\s*>/g;

function withBase64Decoded(xml: string): string {
  if (!/mode\s*=\s*["']base64["']/.test(xml)) return xml;
  return xml.replace(BASE64_ELEMENT, (whole, name: string, before: string, after: string, encoded: string) => {
    const text = decodeBase64Text(encoded);
    return text === undefined ? whole : `<${name}${before}${after}>${escapeXmlText(text)}</${name}>`;
  });
}

/** Base64 that decodes to UTF-8 text, else undefined (binary content is no entry text). */
function decodeBase64Text(encoded: string): string | undefined {
  const compact = encoded.replace(/\s+/g, '');
  if (compact === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(compact, 'base64'));
    // eslint-disable-next-line no-control-regex -- control characters mean binary, not text
    return /[\u0000-\u0008\u000e-\u001f]/.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

function escapeXmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const MAX_REPAIR_DEPTH = 256;
const CONTAINERS = new Set(['rss', 'channel', 'feed', 'rdf']);
const ENTRY_ELEMENTS = new Set(['item', 'entry']);
const XML_TOKEN = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<![^>]*>|<\/\s*([\w.:-]+)\s*>|<([\w.:-]+)(?:\s(?:[^>"']|"[^"]*"|'[^']*')*)?>/g;

/**
 * Closes what a broken document left open, as a lenient reader does: an element still open when an
 * item or entry starts (an unclosed <itunes:category> would swallow every item after it), or when
 * an ancestor closes; a close tag nothing opened is dropped.
 */
function balanceTags(xml: string): string {
  const stack: string[] = [];
  let out = '';
  let last = 0;
  for (const match of xml.matchAll(XML_TOKEN)) {
    // Real feeds are a few levels deep; past this the document is not one to repair (and the
    // searches below stay cheap).
    if (stack.length > MAX_REPAIR_DEPTH) return xml;
    const [token, closing, opening] = match;
    let replacement = token;
    if (closing !== undefined) {
      const at = stack.lastIndexOf(closing);
      if (at === -1) replacement = '';
      else replacement = stack.splice(at).reverse().map((name) => `</${name}>`).join('');
    } else if (opening !== undefined && !token.endsWith('/>')) {
      let closed = '';
      if (ENTRY_ELEMENTS.has(localNameOf(opening) ?? '') && stack.some((name) => CONTAINERS.has(localNameOf(name) ?? ''))) {
        while (stack.length > 0 && !CONTAINERS.has(localNameOf(stack.at(-1)) ?? '')) closed += `</${stack.pop()}>`;
      }
      stack.push(opening);
      replacement = closed + token;
    }
    out += xml.slice(last, match.index) + replacement;
    last = match.index + token.length;
  }
  return out + xml.slice(last) + stack.reverse().map((name) => `</${name}>`).join('');
}

/** How many items or entries the document holds, counted by their start tags. */
function countEntryTags(xml: string, format: 'rss' | 'atom' | 'rdf'): number {
  const pattern = format === 'atom' ? /<(?:[\w-]+:)?entry[\s>]/g : /<(?:[\w-]+:)?item[\s>]/g;
  return xml.replace(/<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>/g, '').match(pattern)?.length ?? 0;
}

function toNotAFeed(error: unknown): Error {
  if (isCodedError(error)) return error;
  // Too deep for the stack (ours, the XML parser's or JSON's): refuse the document, keep the process.
  if (error instanceof RangeError) return new NotAFeedError('the document is nested too deeply');
  if (error instanceof MalformedError) {
    const cause = error.cause instanceof Error ? error.cause.message : '';
    return new NotAFeedError(/nest/i.test(cause) ? 'the document is nested too deeply' : 'malformed XML');
  }
  if (error instanceof DetectError) return new NotAFeedError('unrecognised feed format');
  return new NotAFeedError('the document could not be read as a feed');
}

// ---------------------------------------------------------------------------------------------
// Field helpers

function resolveBase(xmlBase: string | undefined, parent: string): string {
  if (xmlBase === undefined) return parent;
  try {
    return new URL(xmlBase.trim(), parent).href;
  } catch {
    return parent;
  }
}

function absoluteUrl(context: Context, value: unknown, base: string): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  let url: URL;
  try {
    url = new URL(value.trim(), base);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return context.redactor.redactUrl(url.href);
}

function plainText(context: Context, value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = context.redactor.redactText(htmlToText(String(value)));
  return text === '' ? undefined : text;
}

/** Text that is text already (Atom type="text"): `<blink>` in it is shown, not stripped. */
function literalText(context: Context, value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = context.redactor.redactText(String(value).replace(/\s+/g, ' ').trim());
  return text === '' ? undefined : text;
}

function cleanHtml(context: Context, value: unknown, base: string): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const html = sanitizeHtml(value, base, { rewriteUrl: (url) => context.redactor.redactUrl(url) });
  const redacted = context.redactor.redactText(html);
  return redacted === '' ? undefined : redacted;
}

function textAsHtml(context: Context, value: unknown, base: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  return cleanHtml(context, textToHtml(value), base);
}

// Markup or an entity: fields with no declared type (itunes:summary, dc:description) hold either.
const LOOKS_LIKE_HTML = /<\/?[a-z][\w-]*[\s/>]|&(?:#\d+|#x[0-9a-f]+|[a-z]+);/i;

/** A field that may be plain text or HTML, as HTML. */
function maybeHtml(context: Context, value: unknown, base: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  return LOOKS_LIKE_HTML.test(value) ? cleanHtml(context, value, base) : textAsHtml(context, value, base);
}

/** media:description (Media RSS: plain unless type="html"), of the item or of its first group that has one. */
function mediaDescription(context: Context, media: MediaNs.ItemOrFeed | undefined, base: string): string | undefined {
  const description = media?.description ?? media?.groups?.find((group) => group.description?.value)?.description;
  if (description?.value === undefined) return undefined;
  return description.type === 'html' ? cleanHtml(context, description.value, base) : textAsHtml(context, description.value, base);
}

/** media:title of the item or its first group: the title of entries that have no other. */
function mediaTitle(media: MediaNs.ItemOrFeed | undefined): string | undefined {
  return media?.title?.value ?? media?.groups?.find((group) => group.title?.value)?.title?.value;
}

/** The iTunes tags of an episode that podcast apps read, or undefined when there are none. */
function podcastOf(itunes: { duration?: number; explicit?: boolean; episode?: number; season?: number; episodeType?: string } | undefined): Podcast | undefined {
  if (itunes === undefined) return undefined;
  const podcast: Podcast = {};
  if (Number.isFinite(itunes.duration) && (itunes.duration ?? 0) > 0) podcast.duration = Math.round(itunes.duration!);
  if (typeof itunes.explicit === 'boolean') podcast.explicit = itunes.explicit;
  if (Number.isSafeInteger(itunes.episode) && (itunes.episode ?? 0) > 0) podcast.episode = itunes.episode!;
  if (Number.isSafeInteger(itunes.season) && (itunes.season ?? 0) > 0) podcast.season = itunes.season!;
  const episodeType = itunes.episodeType?.trim().toLowerCase();
  if (episodeType === 'full' || episodeType === 'trailer' || episodeType === 'bonus') podcast.episodeType = episodeType;
  return Object.keys(podcast).length === 0 ? undefined : podcast;
}

/** The entry id: upstream's if usable, else the link, else a hash of what the entry says. */
function stableId(context: Context, upstreamId: unknown, link: string | undefined, fallback: unknown[]): string {
  const raw = typeof upstreamId === 'number' ? String(upstreamId) : typeof upstreamId === 'string' ? upstreamId.trim() : '';
  if (raw !== '') {
    return raw.length > MAX_ID_LENGTH || context.redactor.containsSecret(raw) ? HASH_ID_PREFIX + sha256Hex(raw) : raw;
  }
  if (link !== undefined) return link;
  // Raw upstream strings, not our cleaned ones, so a change in the sanitiser keeps ids stable.
  const parts = fallback.map((part) => (typeof part === 'string' || typeof part === 'number' ? String(part) : ''));
  return HASH_ID_PREFIX + sha256Hex(JSON.stringify(parts));
}

function uniqueStrings(values: Array<string | undefined>): string[] {
  return [...new Set(values.filter((value): value is string => value !== undefined && value !== ''))];
}

function uniquePeople(people: Person[]): Person[] {
  const seen = new Set<string>();
  return people.filter((person) => {
    const key = `${person.name ?? ''}\u0000${person.email ?? ''}`;
    if ((person.name === undefined && person.email === undefined && person.url === undefined) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function makePerson(context: Context, name: unknown, email: unknown, url: unknown, base: string): Person {
  const person: Person = {};
  const cleanName = plainText(context, name);
  const cleanEmail = plainText(context, email);
  const cleanUrl = absoluteUrl(context, url, base);
  if (cleanName !== undefined) person.name = cleanName;
  if (cleanEmail !== undefined && cleanEmail.includes('@')) person.email = cleanEmail;
  if (cleanUrl !== undefined) person.url = cleanUrl;
  return person;
}

function makeEnclosure(context: Context, url: unknown, type: unknown, length: unknown, base: string): Enclosure | undefined {
  const absolute = absoluteUrl(context, url, base);
  if (absolute === undefined) return undefined;
  const enclosure: Enclosure = { url: absolute };
  if (typeof type === 'string' && /^[\w.+-]+\/[\w.+-]+$/.test(type.trim())) enclosure.type = type.trim().toLowerCase();
  const size = Number(length);
  if (Number.isSafeInteger(size) && size > 0) enclosure.length = size;
  return enclosure;
}

function uniqueEnclosures(enclosures: Array<Enclosure | undefined>): Enclosure[] {
  const seen = new Set<string>();
  return enclosures.filter((enclosure): enclosure is Enclosure => {
    if (enclosure === undefined || seen.has(enclosure.url)) return false;
    seen.add(enclosure.url);
    return true;
  });
}

function mediaImage(media: MediaNs.ItemOrFeed | undefined): string | undefined {
  const thumbnail = media?.thumbnails?.[0]?.url ?? media?.groups?.[0]?.thumbnails?.[0]?.url;
  if (thumbnail !== undefined) return thumbnail;
  return media?.contents?.find((content) => content.medium === 'image' || content.type?.startsWith('image/'))?.url;
}

const UPDATE_PERIOD_MINUTES: Record<string, number> = {
  hourly: 60,
  daily: 1440,
  weekly: 10_080,
  monthly: 43_200,
  yearly: 525_600,
};

/** RSS <ttl> and sy:updatePeriod/updateFrequency; the longer interval wins when both are given. */
function readTtlMinutes(ttl: unknown, sy: SyNs.Feed<string> | undefined): number | undefined {
  const candidates: number[] = [];
  const ttlNumber = Number(ttl);
  if (ttl !== undefined && Number.isFinite(ttlNumber) && ttlNumber > 0) candidates.push(Math.ceil(ttlNumber));
  const period = sy?.updatePeriod?.trim().toLowerCase();
  const periodMinutes = period === undefined ? undefined : UPDATE_PERIOD_MINUTES[period];
  if (periodMinutes !== undefined) {
    const frequency = Number(sy?.updateFrequency ?? 1);
    const perUpdate = Number.isFinite(frequency) && frequency >= 1 ? periodMinutes / frequency : periodMinutes;
    candidates.push(Math.max(1, Math.ceil(perUpdate)));
  }
  return candidates.length === 0 ? undefined : Math.max(...candidates);
}

/** Removes undefined fields so entries stay plain, comparable JSON. */
function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as Array<keyof T>) {
    if (value[key] === undefined) delete value[key];
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// RSS 0.9x / 2.0

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

function normaliseRssItem(context: Context, item: RssFeed.Item<string>, feedBase: string, sharedLinks: ReadonlySet<string>): Entry {
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
    id: stableId(context, guid, idLink, [item.title, item.pubDate ?? item.dc?.dates?.[0], item.description, ...(idLink === link ? [] : [link])]),
    title: plainText(context, item.title ?? item.dc?.titles?.[0] ?? item.itunes?.title ?? mediaTitle(item.media)),
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
      ...(item.dc?.creators ?? []).map((creator) => makePerson(context, creator, undefined, undefined, base)),
      makePerson(context, item.itunes?.author, undefined, undefined, base),
    ]),
    summary:
      maybeHtml(context, description, base) ??
      maybeHtml(context, item.itunes?.summary, base) ??
      mediaDescription(context, item.media, base) ??
      maybeHtml(context, item.atom?.summary?.value, base),
    content: cleanHtml(context, item.content?.encoded, base),
    categories: uniqueStrings([
      ...(item.categories ?? []).map((category) => plainText(context, category.name)),
      ...(item.dc?.subjects ?? []).map((subject) => plainText(context, subject)),
    ]),
    enclosures,
    image: absoluteUrl(context, item.itunes?.image ?? mediaImage(item.media) ?? imageEnclosure, base),
    podcast: podcastOf(item.itunes),
  });
}

function normaliseRss(context: Context, feed: RssFeed.Feed<string>, baseUrl: string): ParsedFeed {
  const base = resolveBase(feed.xml?.base, baseUrl);
  const atomAlternate = feed.atom?.links?.find((link) => link.rel === undefined || link.rel === 'alternate')?.href;
  const items = feed.items ?? [];
  const sharedLinks = linksOfMany(items.filter((item) => item.guid?.value === undefined).map((item) => item.link));
  const sharedLinkUrls = new Set([...sharedLinks].map((link) => absoluteUrl(context, link, base)).filter((link) => link !== undefined));
  return compact({
    format: 'rss' as const,
    title: plainText(context, feed.title),
    link: absoluteUrl(context, feed.link, base) ?? absoluteUrl(context, atomAlternate, base),
    description: plainText(context, feed.description),
    ttlMinutes: readTtlMinutes(feed.ttl, feed.sy),
    image: absoluteUrl(context, feed.itunes?.image ?? feed.image?.url, base),
    explicit: feed.itunes?.explicit,
    entries: items.map((item) => {
      const shared = item.guid?.value === undefined && sharedLinks.has(item.link ?? '');
      return entryOf(context, item, base, shared ? 'shared-link' : undefined, () => normaliseRssItem(context, item, base, sharedLinkUrls));
    }),
  });
}

// ---------------------------------------------------------------------------------------------
// Atom 0.3 / 1.0 (feedsmith maps 0.3's issued/modified/tagline onto 1.0's names)

const HTML_TEXT_TYPES = new Set(['html', 'xhtml', 'text/html', 'application/xhtml+xml']);

function atomHtml(context: Context, text: AtomFeed.Text | AtomFeed.Content | undefined, base: string): string | undefined {
  if (text?.value === undefined) return undefined;
  const textBase = resolveBase(text.xml?.base, base);
  const type = text.type?.trim().toLowerCase();
  // RFC 4287 §4.1.3.3: a type neither text nor XML is base64; what decodes to text is shown as text.
  if (type !== undefined && !isTextualType(type)) return textAsHtml(context, decodeBase64Text(text.value), textBase);
  // RFC 4287 §3.1.1: no type means text.
  if (type === undefined || !HTML_TEXT_TYPES.has(type)) return textAsHtml(context, text.value, textBase);
  return cleanHtml(context, text.value, textBase);
}

function isTextualType(type: string): boolean {
  return type === 'text' || HTML_TEXT_TYPES.has(type) || type.startsWith('text/') || /[/+]xml(?:\s*;|$)/.test(type) || !type.includes('/');
}

/** An Atom title: type="text" (the default) is literal text, html and xhtml are markup. */
function atomTitle(context: Context, text: AtomFeed.Text | undefined): string | undefined {
  const type = text?.type?.trim().toLowerCase();
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
    id: stableId(context, entry.id, link, [entry.title?.value, entry.updated ?? entry.published, entry.summary?.value ?? entry.content?.value]),
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
    podcast: podcastOf(entry.itunes),
  });
}

function normaliseAtom(context: Context, feed: AtomFeed.Feed<string>, baseUrl: string): ParsedFeed {
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
    entries: (feed.entries ?? []).map((entry) => entryOf(context, entry, base, feedAuthors, () => normaliseAtomEntry(context, entry, base, feedAuthors))),
  });
}

// ---------------------------------------------------------------------------------------------
// RDF / RSS 0.90 and 1.0

function normaliseRdfItem(context: Context, item: RdfFeed.Item<string>, feedBase: string): Entry {
  const base = resolveBase(item.xml?.base, feedBase);
  const link = absoluteUrl(context, item.link, base) ?? absoluteUrl(context, item.rdf?.about, base);
  return compact({
    id: stableId(context, item.rdf?.about, link, [item.title, item.dc?.dates?.[0], item.description]),
    title: plainText(context, item.title ?? item.dc?.titles?.[0]),
    link,
    published: parseDate(item.dc?.dates?.[0]) ?? parseDate(item.dcterms?.issued?.[0]),
    updated: parseDate(item.dcterms?.modified?.[0]),
    authors: uniquePeople((item.dc?.creators ?? []).map((creator) => makePerson(context, creator, undefined, undefined, base))),
    summary: cleanHtml(context, item.description, base),
    content: cleanHtml(context, item.content?.encoded, base),
    categories: uniqueStrings((item.dc?.subjects ?? []).map((subject) => plainText(context, subject))),
    enclosures: [],
    image: absoluteUrl(context, mediaImage(item.media), base),
  });
}

function normaliseRdf(context: Context, feed: RdfFeed.Feed<string>, baseUrl: string): ParsedFeed {
  const base = resolveBase(feed.xml?.base, baseUrl);
  return compact({
    format: 'rdf' as const,
    title: plainText(context, feed.title),
    link: absoluteUrl(context, feed.link, base),
    description: plainText(context, feed.description),
    ttlMinutes: readTtlMinutes(undefined, feed.sy),
    entries: (feed.items ?? []).map((item) => entryOf(context, item, base, undefined, () => normaliseRdfItem(context, item, base))),
  });
}

// ---------------------------------------------------------------------------------------------
// JSON Feed 1.0 / 1.1 (feedsmith maps 1.0's `author` onto 1.1's `authors`)

function jsonPeople(context: Context, authors: JsonFeed.Author[] | undefined, base: string): Person[] {
  return uniquePeople((authors ?? []).map((author) => makePerson(context, author.name, undefined, author.url, base)));
}

function normaliseJsonItem(context: Context, item: JsonFeed.Item<string>, base: string, feedAuthors: Person[]): Entry {
  const link = absoluteUrl(context, item.url, base) ?? absoluteUrl(context, item.external_url, base);
  const authors = jsonPeople(context, item.authors, base);
  return compact({
    id: stableId(context, item.id, link, [item.title, item.date_published, item.summary ?? item.content_html ?? item.content_text]),
    title: plainText(context, item.title),
    link,
    published: parseDate(item.date_published),
    updated: parseDate(item.date_modified),
    // JSON Feed 1.1: an item without authors has the feed's.
    authors: authors.length > 0 ? authors : feedAuthors,
    summary: textAsHtml(context, item.summary, base),
    content: cleanHtml(context, item.content_html, base) ?? textAsHtml(context, item.content_text, base),
    categories: uniqueStrings((item.tags ?? []).map((tag) => plainText(context, tag))),
    enclosures: uniqueEnclosures(
      (item.attachments ?? []).map((attachment) => makeEnclosure(context, attachment.url, attachment.mime_type, attachment.size_in_bytes, base)),
    ),
    image: absoluteUrl(context, item.image ?? item.banner_image, base),
  });
}

function normaliseJson(context: Context, feed: JsonFeed.Feed<string>, baseUrl: string): ParsedFeed {
  const feedAuthors = jsonPeople(context, feed.authors, baseUrl);
  return compact({
    format: 'json' as const,
    title: plainText(context, feed.title),
    link: absoluteUrl(context, feed.home_page_url, baseUrl),
    description: plainText(context, feed.description),
    entries: (feed.items ?? []).map((item) => entryOf(context, item, baseUrl, feedAuthors, () => normaliseJsonItem(context, item, baseUrl, feedAuthors))),
  });
}

// ---------------------------------------------------------------------------------------------

/**
 * Parses an upstream feed document (RSS 0.9x/2.0, RDF/RSS 1.0, Atom 0.3/1.0, JSON Feed 1.0/1.1).
 * Throws NotAFeedError (FP_NOT_A_FEED) with a short, safe reason for anything else, including
 * documents that declare entities and documents nested too deeply.
 */
export function parseFeed(body: Buffer | string, options: ParseFeedOptions): ParsedFeed {
  const context: Context = { redactor: createSecretRedactor(options.baseUrl), sourceUrl: options.baseUrl, ...(options.known ? { known: options.known } : {}) };
  try {
    const document = classifyDocument(decodeBody(body, options.contentType));
    if (document.kind === 'json') return normaliseJson(context, parseJsonFeed(document.value, { maxItems: MAX_ENTRIES }), options.baseUrl);
    const xml = document.format === 'rss' ? withChannel(document.xml) : document.format === 'atom' ? withBase64Decoded(document.xml) : document.xml;
    const expected = countEntryTags(xml, document.format);
    let parsed: ParsedFeed | undefined;
    try {
      parsed = parseXml(context, document.format, xml, options.baseUrl);
    } catch (error) {
      // Only a refusal for what the document lacks is worth a second reading; malformed or too
      // deep stays refused.
      if (expected === 0 || !(error instanceof ParseError || error instanceof DetectError)) throw error;
    }
    // Items the document holds but the parse lost (an unclosed element swallowed them, or the
    // feed was refused for what it lacks): read again with what was left open closed.
    if (expected > 0 && (parsed === undefined || parsed.entries.length === 0)) {
      parsed = recoverEntries(context, document.format, xml, options.baseUrl) ?? parsed;
    }
    if (parsed === undefined) throw new NotAFeedError('unrecognised feed format');
    // Never "ok" with nothing when the document has entries: say so instead.
    if (parsed.entries.length === 0 && expected > 0) {
      throw new NotAFeedError(`malformed XML: the document has ${expected} ${document.format === 'atom' ? 'entries' : 'items'} but none could be read`);
    }
    return parsed;
  } catch (error) {
    throw toNotAFeed(error);
  }
}

function parseXml(context: Context, format: Exclude<FeedFormat, 'json'>, xml: string, baseUrl: string): ParsedFeed {
  const parseOptions = { maxItems: MAX_ENTRIES };
  switch (format) {
    case 'rss':
      return normaliseRss(context, parseRssFeed(xml, parseOptions), baseUrl);
    case 'atom':
      return normaliseAtom(context, parseAtomFeed(xml, parseOptions), baseUrl);
    case 'rdf':
      return normaliseRdf(context, parseRdfFeed(xml, parseOptions), baseUrl);
  }
}

/**
 * A second reading of a document whose entries the first one lost: tags balanced; and when the
 * parser still refuses it (a channel with no title whose items hold only elements it does not
 * know), one entry per item, told apart by the item's own bytes.
 */
function recoverEntries(context: Context, format: Exclude<FeedFormat, 'json'>, xml: string, baseUrl: string): ParsedFeed | undefined {
  let repaired: ParsedFeed | undefined;
  try {
    repaired = parseXml(context, format, balanceTags(xml), baseUrl);
  } catch (error) {
    if (!(error instanceof ParseError || error instanceof DetectError)) return undefined;
  }
  if (repaired !== undefined && repaired.entries.length > 0) return repaired;
  // Each item runs from its start tag to the next one: linear in the document, whatever is unclosed.
  const starts = [...xml.matchAll(format === 'atom' ? /<(?:[\w-]+:)?entry[\s>]/g : /<(?:[\w-]+:)?item[\s>]/g)].map((match) => match.index);
  const items = starts.slice(0, MAX_ENTRIES).map((start, index) => xml.slice(start, starts[index + 1] ?? xml.length));
  if (items.length === 0) return repaired;
  return {
    format,
    ...(repaired?.title === undefined ? {} : { title: repaired.title }),
    ...(repaired?.link === undefined ? {} : { link: repaired.link }),
    entries: items.map((item) => ({ id: stableId(context, undefined, undefined, [item]), authors: [], categories: [], enclosures: [] })),
  };
}
