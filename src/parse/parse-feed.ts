// The only import of feedsmith: upstream bytes → ParsedFeed. Everything that leaves is plain data
// of our own types: text is plain, HTML is sanitised, URLs are absolute http(s) with the source's
// secrets taken out, dates are ISO 8601.
import {
  DetectError,
  MalformedError,
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
import type { Enclosure, Entry, FeedFormat, ParsedFeed, Person } from '../model.js';
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
const NORMALISER_VERSION = '1';

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
  if (localName === 'html') throw new NotAFeedError('an HTML page');
  if (root === undefined) throw new NotAFeedError('no root element');
  throw new NotAFeedError(`unexpected root element <${root.slice(0, 40)}>`);
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

function normaliseRssItem(context: Context, item: RssFeed.Item<string>, feedBase: string): Entry {
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
  return compact({
    id: stableId(context, guid, link, [item.title, item.pubDate ?? item.dc?.dates?.[0], item.description]),
    title: plainText(context, item.title ?? item.dc?.titles?.[0] ?? item.itunes?.title),
    link,
    published: parseDate(item.pubDate) ?? parseDate(item.dc?.dates?.[0]) ?? parseDate(item.atom?.published),
    updated: parseDate(item.atom?.updated) ?? parseDate(item.dcterms?.modified?.[0]),
    authors: uniquePeople([
      ...(item.authors ?? []).map((author) => makePerson(context, author.name, author.email, author.link, base)),
      ...(item.dc?.creators ?? []).map((creator) => makePerson(context, creator, undefined, undefined, base)),
      makePerson(context, item.itunes?.author, undefined, undefined, base),
    ]),
    summary: cleanHtml(context, item.description, base),
    content: cleanHtml(context, item.content?.encoded, base),
    categories: uniqueStrings([
      ...(item.categories ?? []).map((category) => plainText(context, category.name)),
      ...(item.dc?.subjects ?? []).map((subject) => plainText(context, subject)),
    ]),
    enclosures,
    image: absoluteUrl(context, item.itunes?.image ?? mediaImage(item.media) ?? imageEnclosure, base),
  });
}

function normaliseRss(context: Context, feed: RssFeed.Feed<string>, baseUrl: string): ParsedFeed {
  const base = resolveBase(feed.xml?.base, baseUrl);
  const atomAlternate = feed.atom?.links?.find((link) => link.rel === undefined || link.rel === 'alternate')?.href;
  return compact({
    format: 'rss' as const,
    title: plainText(context, feed.title),
    link: absoluteUrl(context, feed.link, base) ?? absoluteUrl(context, atomAlternate, base),
    description: plainText(context, feed.description),
    ttlMinutes: readTtlMinutes(feed.ttl, feed.sy),
    entries: (feed.items ?? []).map((item) => entryOf(context, item, base, undefined, () => normaliseRssItem(context, item, base))),
  });
}

// ---------------------------------------------------------------------------------------------
// Atom 0.3 / 1.0 (feedsmith maps 0.3's issued/modified/tagline onto 1.0's names)

const HTML_TEXT_TYPES = new Set(['html', 'xhtml', 'text/html', 'application/xhtml+xml']);

function atomHtml(context: Context, text: AtomFeed.Text | AtomFeed.Content | undefined, base: string): string | undefined {
  if (text?.value === undefined) return undefined;
  const textBase = resolveBase(text.xml?.base, base);
  const type = text.type?.trim().toLowerCase();
  // RFC 4287 §3.1.1: no type means text.
  if (type === undefined || !HTML_TEXT_TYPES.has(type)) return textAsHtml(context, text.value, textBase);
  return cleanHtml(context, text.value, textBase);
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
    title: plainText(context, entry.title?.value),
    link,
    published: parseDate(entry.published) ?? parseDate(entry.dc?.dates?.[0]),
    updated: parseDate(entry.updated),
    // RFC 4287 §4.2.1: an entry without authors has its source's, else its feed's.
    authors: authors.length > 0 ? authors : sourceAuthors.length > 0 ? sourceAuthors : feedAuthors,
    summary: atomHtml(context, entry.summary, base),
    content: atomHtml(context, entry.content, base),
    categories: uniqueStrings((entry.categories ?? []).map((category) => plainText(context, category.label ?? category.term))),
    enclosures,
    image: absoluteUrl(context, entry.itunes?.image ?? mediaImage(entry.media), base),
  });
}

function normaliseAtom(context: Context, feed: AtomFeed.Feed<string>, baseUrl: string): ParsedFeed {
  const base = resolveBase(feed.xml?.base, baseUrl);
  const feedAuthors = atomPeople(context, feed.authors, base);
  return compact({
    format: 'atom' as const,
    title: plainText(context, feed.title?.value),
    link: atomAlternate(context, feed.links, base),
    description: plainText(context, feed.subtitle?.value),
    ttlMinutes: readTtlMinutes(undefined, feed.sy),
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
    const parseOptions = { maxItems: MAX_ENTRIES };
    if (document.kind === 'json') return normaliseJson(context, parseJsonFeed(document.value, parseOptions), options.baseUrl);
    switch (document.format) {
      case 'rss':
        return normaliseRss(context, parseRssFeed(document.xml, parseOptions), options.baseUrl);
      case 'atom':
        return normaliseAtom(context, parseAtomFeed(document.xml, parseOptions), options.baseUrl);
      case 'rdf':
        return normaliseRdf(context, parseRdfFeed(document.xml, parseOptions), options.baseUrl);
    }
  } catch (error) {
    throw toNotAFeed(error);
  }
}
