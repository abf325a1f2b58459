// What every format's normaliser shares: how upstream strings become our fields (plain text,
// sanitised HTML, absolute URLs without the source's secrets, people, enclosures, ids), and the
// fingerprint that lets an unchanged item skip all of it.
import type { MediaNs, SyNs } from 'feedsmith';
import { hash } from 'node:crypto';
import type { Enclosure, Entry, Person, Podcast } from '../model.js';
import type { SecretRedactor } from './redact-secrets.js';
import { sha256Hex } from '../vault/seal.js';
import { htmlToText, sanitizeHtml, textToHtml } from './sanitize-html.js';

/** Part of every fingerprint: bump it when normalising or sanitising changes, so old entries are made again. */
const NORMALISER_VERSION = '3';
// Ids longer than this (or carrying a secret) are replaced by their hash.
const MAX_ID_LENGTH = 1024;
const HASH_ID_PREFIX = 'urn:feedproxy:sha256:';

/** Shared by every normaliser: how to turn upstream strings into our fields. */
export interface Context {
  redactor: SecretRedactor;
  /** The source URL (its secrets are redacted from the output): part of every fingerprint. */
  sourceUrl: string;
  known?: ReadonlyMap<string, Entry>;
  /** Where each item of an XML document is (itemSpansOf): an item's own bytes key its fingerprint. */
  itemSpans?: ItemSpans;
}

export interface ItemSpans {
  /** The document as parsed (after repairs). */
  xml: string;
  /** Each item's (or entry's) bytes, in document order: `closed` when its end tag was found. */
  spans: Array<{ start: number; end: number; closed: boolean }>;
  /** What around the items decides what they say: namespaces, xml:base and (Atom) the feed's authors. */
  scope: string;
}

/** Where an item sits among the parsed ones: its bytes are found by it (see itemBytes). */
export interface ItemPosition {
  index: number;
  of: number;
  /**
   * The entry depends on nothing but the item and its scope (an RSS item without a guid does: items
   * that share its link change its id), so the item can be known by its bytes before any parse.
   */
  alone: boolean;
}

/**
 * The entry for one upstream item: the known one when the item, its base and the source are what
 * they were (a keyed hash — the source URL, secrets included, is part of it — so the stored value
 * says nothing about them), else `normalise()`'s, stamped with the fingerprint. The item is its own
 * bytes in the document where they can be told apart (itemBytes), else feedsmith's object as JSON.
 */
export function entryOf(
  context: Context,
  item: unknown,
  base: string,
  extra: unknown,
  normalise: () => Entry,
  position?: ItemPosition,
): Entry {
  const bytes = position === undefined ? undefined : itemBytes(context.itemSpans, position, item);
  // One-shot: a Hash object per item cost four times the digest itself (every item of every 200).
  // The bytes forms hash what the document says of the item as it is, where stringifying the parsed
  // item cost more than the digest; "item" and "bytes" are no URL, so no two forms hash the same input.
  const fingerprint =
    bytes === undefined
      ? hash('sha256', `${NORMALISER_VERSION}\0${context.sourceUrl}\0${base}\0${JSON.stringify([item, extra]) ?? ''}`, 'base64url')
      : position!.alone
        ? itemKey(context.sourceUrl, context.itemSpans!.scope, bytes)
        : hash(
            'sha256',
            `${NORMALISER_VERSION}\0bytes\0${context.sourceUrl}\0${base}\0${context.itemSpans!.scope}\0${JSON.stringify(extra) ?? ''}\0${bytes}`,
            'base64url',
          );
  const known = context.known?.get(fingerprint);
  return known ?? { ...normalise(), fingerprint };
}

/**
 * The fingerprint of an item whose entry depends on nothing but its bytes, their scope and the
 * source: what parse-feed.ts looks up before parsing, to leave known items out of the parse.
 */
export function itemKey(sourceUrl: string, scope: string, bytes: string): string {
  return hash('sha256', `${NORMALISER_VERSION}\0item\0${sourceUrl}\0${scope}\0${bytes}`, 'base64url');
}

// Declarations and xml:base around the items decide what their prefixes and relative links mean.
const SCOPE_ATTRIBUTE = /\s(?:xmlns(?::[\w.-]+)?|xml:base)\s*=\s*(?:"[^"]*"|'[^']*')/g;
// Atom entries without an author take the feed's.
const ATOM_AUTHOR = /<(?:[\w-]+:)?author(?:\s[^<>]*)?\/>|<(?:[\w-]+:)?author[\s>][\s\S]*?<\/(?:[\w-]+:)?author\s*>/g;
// Characters the document may have written as a reference, so the parsed text is not its bytes.
const ESCAPABLE = /[&<>"']/;
const MIN_PROBE_LENGTH = 8;

/**
 * Each item's bytes: from its start tag (entryTagStarts) to the last end tag of its name before the
 * next item (or the document's end), so an item that becomes the last keeps its bytes. Its scope is
 * what the document says outside the items that an item's entry depends on; `scope` is given for a
 * document cut from another (parse-feed.ts), whose scope it keeps.
 */
export function itemSpansOf(xml: string, starts: number[], atom: boolean, scope?: string): ItemSpans {
  const spans = starts.map((start, index) => {
    const limit = starts[index + 1] ?? xml.length;
    let nameEnd = start + 1;
    while (nameEnd < limit && !/[\s>/]/.test(xml[nameEnd]!)) nameEnd += 1;
    const closeTag = `</${xml.slice(start + 1, nameEnd)}`;
    let close = xml.lastIndexOf(closeTag, limit - 1);
    // `</item` of `</items>` is no end tag of the item.
    while (close > start && !/[\s>]/.test(xml[close + closeTag.length] ?? '')) close = xml.lastIndexOf(closeTag, close - 1);
    const end = close > start ? xml.indexOf('>', close) : -1;
    return end === -1 || end >= limit ? { start, end: limit, closed: false } : { start, end: end + 1, closed: true };
  });
  if (scope === undefined) {
    let outside = '';
    let copied = 0;
    for (const span of spans) {
      outside += xml.slice(copied, span.start);
      copied = span.end;
    }
    outside += xml.slice(copied);
    scope = [...(outside.match(SCOPE_ATTRIBUTE) ?? []), ...(atom ? (outside.match(ATOM_AUTHOR) ?? []) : [])].join('\0');
  }
  return { xml, spans, scope };
}

/**
 * The item's bytes (itemSpansOf), when they can be paired with the parsed item: the parse found as
 * many items as the document has start tags, the item's end tag was found, and its id, link or title
 * (a text that cannot have been written as a reference) is in those bytes — a parse that dropped an
 * item and a nested start tag counted as one would otherwise pair an item with its neighbour's bytes.
 */
function itemBytes(itemSpans: ItemSpans | undefined, { index, of }: ItemPosition, item: unknown): string | undefined {
  if (itemSpans === undefined || itemSpans.spans.length !== of) return undefined;
  const span = itemSpans.spans[index]!;
  if (!span.closed) return undefined;
  const bytes = itemSpans.xml.slice(span.start, span.end);
  const probe = probeOf(item);
  return probe !== undefined && bytes.includes(probe) ? bytes : undefined;
}

/** The first of the item's guid, id, link and title that is long enough and has nothing a reference could stand for. */
function probeOf(item: unknown): string | undefined {
  if (item === null || typeof item !== 'object') return undefined;
  const fields = item as Record<string, unknown>;
  for (const field of [(fields.guid as { value?: unknown } | undefined)?.value, fields.id, fields.link, fields.title]) {
    if (typeof field !== 'string') continue;
    const text = field.trim();
    if (text.length >= MIN_PROBE_LENGTH && !ESCAPABLE.test(text)) return text;
  }
  return undefined;
}

export function resolveBase(xmlBase: string | undefined, parent: string): string {
  if (xmlBase === undefined) return parent;
  try {
    return new URL(xmlBase.trim(), parent).href;
  } catch {
    return parent;
  }
}

export function absoluteUrl(context: Context, value: unknown, base: string): string | undefined {
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

export function plainText(context: Context, value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = context.redactor.redactText(htmlToText(String(value)));
  return text === '' ? undefined : text;
}

/** Text that is text already (Atom type="text"): `<blink>` in it is shown, not stripped. */
export function literalText(context: Context, value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = context.redactor.redactText(String(value).replace(/\s+/g, ' ').trim());
  return text === '' ? undefined : text;
}

/**
 * Plain text that may hold HTML character references (JSON Feed titles: plain text by the spec,
 * but feeds write `&amp;` and `&#8217;` in them, which readers decode): references decoded,
 * `<i>` in it kept as the text it is.
 */
export function textWithReferences(context: Context, value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  return plainText(context, String(value).replace(/</g, '&lt;').replace(/>/g, '&gt;'));
}

export function cleanHtml(context: Context, value: unknown, base: string): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const html = sanitizeHtml(value, base, { rewriteUrl: (url) => context.redactor.redactUrl(url) });
  const redacted = context.redactor.redactText(html);
  return redacted === '' ? undefined : redacted;
}

export function textAsHtml(context: Context, value: unknown, base: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  return cleanHtml(context, textToHtml(value), base);
}

// Markup or an entity: fields with no declared type (itunes:summary, dc:description) hold either.
const LOOKS_LIKE_HTML = /<\/?[a-z][\w-]*[\s/>]|&(?:#\d+|#x[0-9a-f]+|[a-z]+);/i;

/** A field that may be plain text or HTML, as HTML. */
export function maybeHtml(context: Context, value: unknown, base: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  return LOOKS_LIKE_HTML.test(value) ? cleanHtml(context, value, base) : textAsHtml(context, value, base);
}

/** media:description (Media RSS: plain unless type="html"), of the item or of its first group that has one. */
export function mediaDescription(context: Context, media: MediaNs.ItemOrFeed | undefined, base: string): string | undefined {
  const description = media?.description ?? media?.groups?.find((group) => group.description?.value)?.description;
  if (description?.value === undefined) return undefined;
  return description.type === 'html' ? cleanHtml(context, description.value, base) : textAsHtml(context, description.value, base);
}

/** media:title of the item or its first group: the title of entries that have no other. */
export function mediaTitle(media: MediaNs.ItemOrFeed | undefined): string | undefined {
  return media?.title?.value ?? media?.groups?.find((group) => group.title?.value)?.title?.value;
}

/** The iTunes tags of an episode that podcast apps read, or undefined when there are none. */
export function podcastOf(
  itunes: { duration?: number; explicit?: boolean; episode?: number; season?: number; episodeType?: string } | undefined,
): Podcast | undefined {
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
export function stableId(context: Context, upstreamId: unknown, link: string | undefined, fallback: unknown[]): string {
  const raw = typeof upstreamId === 'number' ? String(upstreamId) : typeof upstreamId === 'string' ? upstreamId.trim() : '';
  if (raw !== '') {
    return raw.length > MAX_ID_LENGTH || context.redactor.containsSecret(raw) ? HASH_ID_PREFIX + sha256Hex(raw) : raw;
  }
  if (link !== undefined) return link;
  // Raw upstream strings, not our cleaned ones, so a change in the sanitiser keeps ids stable.
  const parts = fallback.map((part) => (typeof part === 'string' || typeof part === 'number' ? String(part) : ''));
  return HASH_ID_PREFIX + sha256Hex(JSON.stringify(parts));
}

export function uniqueStrings(values: Array<string | undefined>): string[] {
  return [...new Set(values.filter((value): value is string => value !== undefined && value !== ''))];
}

export function uniquePeople(people: Person[]): Person[] {
  const seen = new Set<string>();
  return people.filter((person) => {
    const key = `${person.name ?? ''}\u0000${person.email ?? ''}`;
    if ((person.name === undefined && person.email === undefined && person.url === undefined) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function makePerson(context: Context, name: unknown, email: unknown, url: unknown, base: string): Person {
  const person: Person = {};
  const cleanName = plainText(context, name);
  const cleanEmail = plainText(context, email);
  const cleanUrl = absoluteUrl(context, url, base);
  if (cleanName !== undefined) person.name = cleanName;
  if (cleanEmail !== undefined && cleanEmail.includes('@')) person.email = cleanEmail;
  if (cleanUrl !== undefined) person.url = cleanUrl;
  return person;
}

// "Name (e-mail)" and "e-mail (Name)": how RSS <author> and Dublin Core creators name a person.
const NAME_THEN_EMAIL = /^(.+?)\s*\(\s*([^\s()@]+@[^\s()@]+)\s*\)$/;
const EMAIL_THEN_NAME = /^([^\s()@]+@[^\s()@]+)\s*\(\s*(.+?)\s*\)$/;

/** A person named by one string (dc:creator, dc:author): "Name (e-mail)" and "e-mail (Name)" are split. */
export function personOfText(context: Context, value: unknown, base: string): Person {
  const text = typeof value === 'string' ? value.trim() : value;
  if (typeof text === 'string') {
    const nameFirst = NAME_THEN_EMAIL.exec(text);
    if (nameFirst) return makePerson(context, nameFirst[1], nameFirst[2], undefined, base);
    const emailFirst = EMAIL_THEN_NAME.exec(text);
    if (emailFirst) return makePerson(context, emailFirst[2], emailFirst[1], undefined, base);
  }
  return makePerson(context, text, undefined, undefined, base);
}

export function makeEnclosure(context: Context, url: unknown, type: unknown, length: unknown, base: string): Enclosure | undefined {
  const absolute = absoluteUrl(context, url, base);
  if (absolute === undefined) return undefined;
  const enclosure: Enclosure = { url: absolute };
  if (typeof type === 'string' && /^[\w.+-]+\/[\w.+-]+$/.test(type.trim())) enclosure.type = type.trim().toLowerCase();
  const size = Number(length);
  if (Number.isSafeInteger(size) && size > 0) enclosure.length = size;
  return enclosure;
}

export function uniqueEnclosures(enclosures: Array<Enclosure | undefined>): Enclosure[] {
  const seen = new Set<string>();
  return enclosures.filter((enclosure): enclosure is Enclosure => {
    if (enclosure === undefined || seen.has(enclosure.url)) return false;
    seen.add(enclosure.url);
    return true;
  });
}

export function mediaImage(media: MediaNs.ItemOrFeed | undefined): string | undefined {
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
export function readTtlMinutes(ttl: unknown, sy: SyNs.Feed<string> | undefined): number | undefined {
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
export function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as Array<keyof T>) {
    if (value[key] === undefined) delete value[key];
  }
  return value;
}
