// One clean, format-neutral view of what is to be rendered: text stripped of what XML cannot
// carry, URLs normalised, ids made unique (and valid URIs for Atom), dates resolved, podcast values
// checked.
// Every format's writer (formats/) starts from this and only decides how to spell it.
import { createHash } from 'node:crypto';
import type { CachedEntry, Podcast, PodcastChannel } from '../model.js';
import { entryDate, parseDate } from '../pipeline/merge.js';
import type { PublishedEntry, SourceFacet } from '../pipeline/feed-options.js';
import { stripXmlInvalid } from '../text.js';

/** A merged entry as pipeline/feed-options publishes it: its `source`, if any, carries no secret (the caller's job). */
export type RenderEntry = PublishedEntry;
export type EntrySource = SourceFacet;

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
  /** The channel's podcast metadata as the sources agree on it (publish/rebuild-feed.ts). */
  podcast?: PodcastChannel;
  entries: RenderEntry[];
}

export interface PreparedFeed {
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
  podcast?: PodcastChannel;
  updated: Date;
  generator: string;
  entries: PreparedEntry[];
}

export interface PreparedEntry {
  /** Atom's `<id>`: an absolute URI, unique within the feed. */
  id: string;
  /**
   * RSS's guid and JSON Feed's id: the upstream id as it is, unique within the feed. Podcast apps
   * key episodes by guid, so a feed read through the proxy keeps the ones its source gives.
   */
  guid: string;
  /** The guid is the entry's own http(s) link: RSS may mark it a permalink. */
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

export function prepareFeed(input: RenderInput): PreparedFeed {
  const usedIds: UsedIds = { atom: new Set(), guid: new Set() };
  const title = stripXmlInvalid(input.title).trim();
  return {
    id: isAtomId(stripXmlInvalid(input.id)) ? stripXmlInvalid(input.id) : derivedId(['feed', input.id]),
    title: title === '' ? 'Untitled feed' : title,
    description: optionalText(input.description),
    selfUrl: normaliseUrl(input.selfUrl),
    homeUrl: normaliseUrl(input.homeUrl),
    hubUrl: normaliseUrl(input.hubUrl),
    stylesheetUrl: normaliseUrl(input.stylesheetUrl),
    image: normaliseUrl(input.image),
    // Written as it is (rss.ts): only a boolean may reach the document.
    explicit: typeof input.explicit === 'boolean' ? input.explicit : undefined,
    podcast: preparePodcastChannel(input.podcast),
    updated: validDate(input.updated) ?? latestOf(input.entries) ?? new Date(0),
    generator: stripXmlInvalid(input.generator),
    // Ids handed out oldest first (the entries come newest first): of two entries giving one id, the one
    // readers have known longer keeps it — a newer one taking it would read as that old one, already
    // seen, and never be shown (a podcast app keys episodes by guid).
    entries: input.entries
      .toReversed()
      .map((entry) => prepareEntry(entry, usedIds))
      .reverse(),
  };
}

/** The feed's own URL as prepareFeed makes `selfUrl`: for a view of one prepared feed per format. */
export function prepareSelfUrl(url: string): string | undefined {
  return normaliseUrl(url);
}

function prepareEntry(entry: RenderEntry, usedIds: UsedIds): PreparedEntry {
  const link = normaliseUrl(entry.link);
  const id = uniqueId(entry, atomIdOf(entry), usedIds.atom);
  const guid = uniqueId(entry, guidOf(entry), usedIds.guid);
  const enclosures = new Map<string, PreparedEntry['enclosures'][number]>();
  for (const enclosure of entry.enclosures) {
    const url = normaliseUrl(enclosure.url);
    if (url === undefined || enclosures.has(url)) continue;
    // Stripped first: a quoted parameter may hold any character, and one XML cannot carry breaks the document.
    const typeText = enclosure.type === undefined ? undefined : stripXmlInvalid(enclosure.type);
    const type = typeText !== undefined && MIME_TYPE.test(typeText) ? typeText : undefined;
    const length = Number.isSafeInteger(enclosure.length) && (enclosure.length ?? 0) > 0 ? enclosure.length : undefined;
    enclosures.set(url, { url, type, length });
  }
  return {
    id,
    guid,
    idIsLink: link !== undefined && guid === link,
    title: optionalText(entry.title),
    link,
    summary: optionalText(entry.summary),
    content: optionalText(entry.content),
    updated: entryDate(entry),
    published: parseDate(entry.published),
    authors: entry.authors
      .map((author) => ({
        name: optionalText(author.name),
        email: author.email !== undefined && EMAIL.test(stripXmlInvalid(author.email)) ? stripXmlInvalid(author.email) : undefined,
        url: normaliseUrl(author.url),
      }))
      .filter((author) => author.name !== undefined || author.email !== undefined || author.url !== undefined),
    categories: [...new Set(entry.categories.map((category) => stripXmlInvalid(category).trim()).filter((category) => category !== ''))],
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
  if (podcast.episodeType === 'full' || podcast.episodeType === 'trailer' || podcast.episodeType === 'bonus')
    prepared.episodeType = podcast.episodeType;
  const seasonName = prepared.season === undefined ? undefined : optionalText(podcast.seasonName);
  if (seasonName !== undefined) prepared.seasonName = seasonName;
  const title = optionalText(podcast.title);
  if (title !== undefined) prepared.title = title;
  const subtitle = optionalText(podcast.subtitle);
  if (subtitle !== undefined) prepared.subtitle = subtitle;
  const transcripts = (podcast.transcripts ?? []).flatMap((transcript) => {
    const url = normaliseUrl(transcript.url);
    const type = mediaType(transcript.type);
    if (url === undefined || type === undefined) return [];
    return [dropUndefined({ url, type, language: optionalText(transcript.language), rel: optionalText(transcript.rel) })];
  });
  if (transcripts.length > 0) prepared.transcripts = transcripts;
  const chaptersUrl = normaliseUrl(podcast.chapters?.url);
  const chaptersType = mediaType(podcast.chapters?.type);
  if (chaptersUrl !== undefined && chaptersType !== undefined) prepared.chapters = { url: chaptersUrl, type: chaptersType };
  const persons = (podcast.persons ?? []).flatMap((person) => {
    const name = optionalText(person.name);
    if (name === undefined) return [];
    return [
      dropUndefined({
        name,
        role: optionalText(person.role),
        group: optionalText(person.group),
        img: normaliseUrl(person.img),
        href: normaliseUrl(person.href),
      }),
    ];
  });
  if (persons.length > 0) prepared.persons = persons;
  const seconds = (value: number): boolean => Number.isFinite(value) && value >= 0;
  const soundbites = (podcast.soundbites ?? []).flatMap((soundbite) =>
    seconds(soundbite.start) && seconds(soundbite.duration) && soundbite.duration > 0
      ? [dropUndefined({ start: soundbite.start, duration: soundbite.duration, title: optionalText(soundbite.title) })]
      : [],
  );
  if (soundbites.length > 0) prepared.soundbites = soundbites;
  return Object.keys(prepared).length === 0 ? undefined : prepared;
}

/** Only what the channel's tags can carry: text cleaned, URLs and addresses checked, the two types. */
function preparePodcastChannel(channel: PodcastChannel | undefined): PodcastChannel | undefined {
  if (channel === undefined) return undefined;
  const ownerName = optionalText(channel.owner?.name);
  const ownerEmail = channel.owner?.email === undefined ? undefined : stripXmlInvalid(channel.owner.email);
  const email = ownerEmail !== undefined && EMAIL.test(ownerEmail) ? ownerEmail : undefined;
  const categories = (channel.categories ?? []).flatMap((category) => {
    const text = optionalText(category.text);
    if (text === undefined) return [];
    const subcategories = (category.subcategories ?? []).flatMap((subcategory) => optionalText(subcategory) ?? []);
    return [subcategories.length === 0 ? { text } : { text, subcategories }];
  });
  const funding = (channel.funding ?? []).flatMap((fund) => {
    const url = normaliseUrl(fund.url);
    return url === undefined ? [] : [dropUndefined({ url, title: optionalText(fund.title) })];
  });
  const language = channel.language === undefined ? undefined : stripXmlInvalid(channel.language).trim();
  const prepared = dropUndefined<PodcastChannel>({
    author: optionalText(channel.author),
    owner: ownerName === undefined && email === undefined ? undefined : dropUndefined({ name: ownerName, email }),
    categories: categories.length === 0 ? undefined : categories,
    type: channel.type === 'episodic' || channel.type === 'serial' ? channel.type : undefined,
    language: language !== undefined && /^[a-z]{2,8}(?:-[a-z0-9]{1,8})*$/i.test(language) ? language : undefined,
    block: channel.block === true ? true : undefined,
    complete: channel.complete === true ? true : undefined,
    funding: funding.length === 0 ? undefined : funding,
  });
  return Object.keys(prepared).length === 0 ? undefined : prepared;
}

function mediaType(type: string | undefined): string | undefined {
  const text = type === undefined ? undefined : stripXmlInvalid(type).trim();
  return text !== undefined && MIME_TYPE.test(text) ? text : undefined;
}

function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as Array<keyof T>) if (value[key] === undefined) delete value[key];
  return value;
}

function prepareSource(source: EntrySource | undefined): EntrySource | undefined {
  const title = source && optionalText(source.title)?.trim();
  if (!source || title === undefined) return undefined;
  const url = normaliseUrl(source.url);
  return url === undefined ? { title } : { title, url };
}

function optionalText(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const cleaned = stripXmlInvalid(text);
  return cleaned.trim() === '' ? undefined : cleaned;
}

/** An absolute http(s) URL in its serialised form (non-ASCII and `<>"` percent-encoded), or undefined. */
function normaliseUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const parsed = new URL(stripXmlInvalid(url).trim());
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
const MIME_TYPE =
  /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+(\s*;\s*[!#$%&'*+.^_`|~0-9a-z-]+=("[^"]*"|[!#$%&'*+.^_`|~0-9a-z-]+))*$/i;
const EMAIL = /^[^\s@<>()",;:[\]\\]+@[^\s@<>()",;:[\]\\]+\.[^\s@<>()",;:[\]\\]+$/;

// Atom ids are IRIs compared character by character (RFC 4287 §4.2.6); feed validators accept
// ASCII URIs, and for tag: and urn: only the RFC 4151 and RFC 8141 forms.
const ASCII_URI = /^[a-z][a-z0-9+.-]*:(\/\/)?[0-9a-z;/?:@&=+$.\-_!~*'()%,#]+$/i;
const TAG_URI =
  /^tag:([a-z0-9\-._]+?@)?[a-z0-9.-]+?,\d{4}(-\d{2}(-\d{2})?)?:[0-9a-z;/?:@&=+$.\-_!~*'()%,]*(#[0-9a-z;/?:@&=+$.\-_!~*'()%,]*)?$/i;
const URN = /^urn:[a-z0-9][a-z0-9-]{1,31}:([a-z0-9()+,.:=@;$_!*'-]|%[0-9a-f]{2})+$/i;
const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isAtomId(id: string): boolean {
  if (!ASCII_URI.test(id)) return false;
  const scheme = id.slice(0, id.indexOf(':')).toLowerCase();
  if (scheme === 'tag') return TAG_URI.test(id);
  if (scheme === 'urn') return id.toLowerCase().startsWith('urn:uuid:') ? UUID_URN.test(id) : URN.test(id);
  return true;
}

interface UsedIds {
  atom: Set<string>;
  guid: Set<string>;
}

const BARE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Atom's id: the upstream id when it is a usable URI, a bare UUID as its `urn:uuid:` (RFC 9562 §4),
 * else undefined (uniqueId derives one).
 */
function atomIdOf(entry: CachedEntry): string | undefined {
  const upstream = stripXmlInvalid(entry.id);
  if (isAtomId(upstream)) return upstream;
  return BARE_UUID.test(upstream) ? `urn:uuid:${upstream.toLowerCase()}` : undefined;
}

/** RSS's guid and JSON Feed's id: any upstream id (ids with a secret were hashed by parse/). */
function guidOf(entry: CachedEntry): string | undefined {
  const upstream = stripXmlInvalid(entry.id).trim();
  return upstream === '' ? undefined : upstream;
}

/**
 * `preferred` when given and not taken yet; otherwise a name-based UUID of the source and upstream
 * id, so the same entry keeps the same id across renders. Two sources can give the same id (a
 * number, a UUID copied between feeds): the entry prepared first — the older (prepareFeed) — keeps
 * it, the other gets a derived one.
 */
function uniqueId(entry: CachedEntry, preferred: string | undefined, usedIds: Set<string>): string {
  let id = preferred !== undefined && !usedIds.has(preferred) ? preferred : derivedId([entry.sourceId, entry.id]);
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
