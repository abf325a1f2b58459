// What every format's normaliser shares: how upstream strings become our fields (plain text,
// sanitised HTML, absolute URLs without the source's secrets, people, enclosures, ids), and the
// fingerprint that lets an unchanged item skip all of it.
import type { ItunesNs, MediaNs, PodcastNs, SyNs } from 'feedsmith';
import { hash } from 'node:crypto';
import type { Enclosure, Entry, Person, Podcast, PodcastChannel } from '../model.js';
import type { SecretRedactor } from './redact-secrets.js';
import { sha256Hex } from '../vault/seal.js';
import { htmlToText, sanitizeHtml, textToHtml } from './sanitize-html.js';

/**
 * Part of every fingerprint (and of a document's digest, refresh-source.ts): bump it when parsing,
 * normalising or sanitising changes, or what a refresh makes of the cache (refresh/update-cache.ts),
 * so old entries are made again and unchanged documents parsed again.
 */
export const NORMALISER_VERSION = '8';
// Ids longer than this (or carrying a secret) are replaced by their hash.
const MAX_ID_LENGTH = 1024;
const HASH_ID_PREFIX = 'urn:feedproxy:sha256:';

/** Shared by every normaliser: how to turn upstream strings into our fields. */
export interface Context {
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
export function entryOf(context: Context, item: unknown, base: string, extra: unknown, normalise: () => Entry): Entry {
  // One-shot: a Hash object per item cost four times the digest itself (every item of every 200).
  const fingerprint = hash(
    'sha256',
    `${NORMALISER_VERSION}\0${context.sourceUrl}\0${base}\0${JSON.stringify([item, extra]) ?? ''}`,
    'base64url',
  );
  const known = context.known?.get(fingerprint);
  return known ?? { ...normalise(), fingerprint };
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

// Universal Feed Parser's test of an RSS text that declares no type (mixin.py looks_like_html): HTML
// only with a closing tag or a character reference, and every tag named an HTML element; else it is
// text ("Option<T>", "if (a <b)"). Its element list is the markup it lets through; ours is every HTML
// element. One more case is HTML here: an element's start tag with attributes, or a void element
// (`<img src=x onerror=…>`, `<br>`), which no type name looks like — read as HTML and stripped, as
// before, not kept as text that names a handler.
const CLOSING_TAG_OR_REFERENCE = /<\/\w+>|&#?\w+;/;
const TAG_NAME = /<\/?(\w+)/g;
const START_TAG = /<(\w+)(\s[^<>]*)?\/?>/g;
const VOID_ELEMENTS = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);
const HTML_ELEMENTS = new Set(
  (
    'a abbr acronym address applet area article aside audio b base basefont bdi bdo bgsound big blink blockquote body br ' +
    'button canvas caption center cite code col colgroup command content data datagrid datalist dd del details dfn dialog ' +
    'dir div dl dt em embed fieldset figcaption figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup ' +
    'hr html i iframe image img input ins isindex kbd keygen label legend li link listing main map mark marquee math menu ' +
    'menuitem meta meter multicol nav nextid nobr noembed noframes noscript object ol optgroup option output p param ' +
    'picture plaintext pre progress q rb rp rt rtc ruby s samp script search section select slot small sound source spacer ' +
    'span strike strong style sub summary sup svg table tbody td template textarea tfoot th thead time title tr track tt u ul ' +
    'var video wbr xmp'
  ).split(' '),
);

function looksLikeHtml(text: string): boolean {
  for (const [, name, attributes] of text.matchAll(START_TAG)) {
    const element = name!.toLowerCase();
    if (HTML_ELEMENTS.has(element) && (attributes !== undefined || VOID_ELEMENTS.has(element))) return true;
  }
  if (!CLOSING_TAG_OR_REFERENCE.test(text)) return false;
  for (const [, name] of text.matchAll(TAG_NAME)) if (!HTML_ELEMENTS.has(name!.toLowerCase())) return false;
  return true;
}

/**
 * An RSS text with no declared type (titles): as HTML when it looks like HTML the way Universal
 * Feed Parser decides (looksLikeHtml), else as the text it is — "Option<T>" and "if (a <b)" kept,
 * which an HTML reading would take for tags and drop.
 */
export function untypedText(context: Context, value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value);
  return looksLikeHtml(text) ? plainText(context, text) : literalText(context, text);
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

/** What an episode's iTunes tags say, as feedsmith reads them. */
type ItunesItem = Pick<Podcast, 'duration' | 'explicit' | 'episode' | 'season' | 'episodeType' | 'title' | 'subtitle'>;

// A BCP 47 tag as feeds write it (en, de-DE, zh-Hant-TW); anything else is no language to republish.
const LANGUAGE_TAG = /^[a-z]{2,8}(?:-[a-z0-9]{1,8})*$/i;
const MEDIA_TYPE = /^[\w.+-]+\/[\w.+-]+$/;

/** A language tag (xml:lang, RSS <language>, JSON Feed language), or undefined. */
export function languageOf(value: unknown): string | undefined {
  const tag = typeof value === 'string' ? value.trim() : '';
  return LANGUAGE_TAG.test(tag) ? tag : undefined;
}

function mediaTypeOf(value: unknown): string | undefined {
  const type = typeof value === 'string' ? value.trim().toLowerCase() : '';
  return MEDIA_TYPE.test(type) ? type : undefined;
}

/** A short keyword attribute (podcast:person role, transcript rel), lower-cased, or undefined. */
function keywordOf(context: Context, value: unknown): string | undefined {
  const text = plainText(context, value)?.toLowerCase();
  return text !== undefined && text.length <= 64 ? text : undefined;
}

function secondsOf(value: unknown): number | undefined {
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 && seconds < 1e9 ? seconds : undefined;
}

/**
 * What podcast apps read from an episode beside its enclosure: the iTunes tags and the Podcasting
 * 2.0 ones (https://podcastindex.org/namespace/1.0), or undefined when there are none. Text goes
 * through the text rules and URLs through absoluteUrl (the source's secrets taken out), as every
 * other field's; podcast:season and podcast:episode fill in what the iTunes tags do not say.
 */
export function podcastOf(
  context: Context,
  itunes: ItunesItem | undefined,
  podcastNs: PodcastNs.Item | undefined,
  base: string,
  durationSeconds?: number,
): Podcast | undefined {
  const podcast: Podcast = {};
  const duration = itunes?.duration ?? durationSeconds;
  if (Number.isFinite(duration) && (duration ?? 0) > 0) podcast.duration = Math.round(duration!);
  if (typeof itunes?.explicit === 'boolean') podcast.explicit = itunes.explicit;
  const episode = itunes?.episode ?? podcastNs?.episode?.number;
  if (Number.isSafeInteger(episode) && (episode ?? 0) > 0) podcast.episode = episode!;
  const season = itunes?.season ?? podcastNs?.season?.number;
  if (Number.isSafeInteger(season) && (season ?? 0) > 0) podcast.season = season!;
  const episodeType = itunes?.episodeType?.trim().toLowerCase();
  if (episodeType === 'full' || episodeType === 'trailer' || episodeType === 'bonus') podcast.episodeType = episodeType;
  const seasonName = podcast.season === undefined ? undefined : plainText(context, podcastNs?.season?.name);
  if (seasonName !== undefined) podcast.seasonName = seasonName;
  const title = plainText(context, itunes?.title);
  if (title !== undefined) podcast.title = title;
  const subtitle = plainText(context, itunes?.subtitle);
  if (subtitle !== undefined) podcast.subtitle = subtitle;
  const transcripts = (podcastNs?.transcripts ?? []).flatMap((transcript) => {
    const url = absoluteUrl(context, transcript.url, base);
    const type = mediaTypeOf(transcript.type);
    if (url === undefined || type === undefined) return [];
    const language = languageOf(transcript.language);
    const rel = keywordOf(context, transcript.rel);
    return [compact({ url, type, language, rel })];
  });
  if (transcripts.length > 0) podcast.transcripts = transcripts;
  const chaptersUrl = absoluteUrl(context, podcastNs?.chapters?.url, base);
  const chaptersType = mediaTypeOf(podcastNs?.chapters?.type);
  if (chaptersUrl !== undefined && chaptersType !== undefined) podcast.chapters = { url: chaptersUrl, type: chaptersType };
  const persons = (podcastNs?.persons ?? []).flatMap((person) => {
    const name = plainText(context, person.display);
    if (name === undefined) return [];
    return [
      compact({
        name,
        role: keywordOf(context, person.role),
        group: keywordOf(context, person.group),
        img: absoluteUrl(context, person.img, base),
        href: absoluteUrl(context, person.href, base),
      }),
    ];
  });
  if (persons.length > 0) podcast.persons = persons;
  const soundbites = (podcastNs?.soundbites ?? []).flatMap((soundbite) => {
    const start = secondsOf(soundbite.startTime);
    const length = secondsOf(soundbite.duration);
    if (start === undefined || length === undefined || length === 0) return [];
    return [compact({ start, duration: length, title: plainText(context, soundbite.display) })];
  });
  if (soundbites.length > 0) podcast.soundbites = soundbites;
  return Object.keys(podcast).length === 0 ? undefined : podcast;
}

/**
 * What podcast apps read from a channel beside its artwork and rating, or undefined when it says
 * none of it. Left out on purpose (docs/podcasts.md): itunes:new-feed-url and podcast:guid, which
 * name the upstream feed and would move an app's subscription to it, and podcast:locked, the
 * upstream owner's word about their own feed.
 */
export function podcastChannelOf(
  context: Context,
  itunes: ItunesNs.Feed | undefined,
  podcastNs: PodcastNs.Feed<string> | undefined,
  language: unknown,
  base: string,
): PodcastChannel | undefined {
  const channel: PodcastChannel = {};
  const author = plainText(context, itunes?.author);
  if (author !== undefined) channel.author = author;
  const owner = makePerson(context, itunes?.owner?.name, itunes?.owner?.email, undefined, base);
  if (owner.name !== undefined || owner.email !== undefined) channel.owner = compact({ name: owner.name, email: owner.email });
  const categories = (itunes?.categories ?? []).flatMap((category) => {
    const text = plainText(context, category.text);
    if (text === undefined) return [];
    const subcategories = uniqueStrings((category.categories ?? []).map((subcategory) => plainText(context, subcategory.text)));
    return [subcategories.length === 0 ? { text } : { text, subcategories }];
  });
  if (categories.length > 0) channel.categories = categories;
  const type = itunes?.type?.trim().toLowerCase();
  if (type === 'episodic' || type === 'serial') channel.type = type;
  const tag = languageOf(language);
  if (tag !== undefined) channel.language = tag;
  if (typeof itunes?.block === 'boolean') channel.block = itunes.block;
  if (typeof itunes?.complete === 'boolean') channel.complete = itunes.complete;
  const funding = (podcastNs?.fundings ?? []).flatMap((fund) => {
    const url = absoluteUrl(context, fund.url, base);
    return url === undefined ? [] : [compact({ url, title: plainText(context, fund.display) })];
  });
  if (funding.length > 0) channel.funding = funding;
  return Object.keys(channel).length === 0 ? undefined : channel;
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
/** Longer than any name with its addresses: a person's text past it is no "Name (e-mail)" pair (and RSS cuts it: repair-xml.ts). */
export const MAX_PERSON_LENGTH = 1024;

/** A person named by one string (dc:creator, dc:author): "Name (e-mail)" and "e-mail (Name)" are split. */
export function personOfText(context: Context, value: unknown, base: string): Person {
  // Whitespace collapsed first: in a run of it, each start of the lazy name would read the whole run
  // again (quadratic). A text longer than any name with its address is no such pair.
  const text = typeof value === 'string' ? value.replace(/\s+/g, ' ').trim() : value;
  if (typeof text === 'string' && text.length <= MAX_PERSON_LENGTH) {
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
