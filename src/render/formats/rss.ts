// RSS 2.0 (https://www.rssboard.org/rss-specification), with the Dublin Core and iTunes tags podcast
// apps and readers look for; one line an element, four spaces an indent. Text goes through
// escapeText, attribute values through escapeAttribute and HTML into CDATA sections (text.ts). The
// layout is the one the `feed` library wrote before this writer replaced it (the same bytes for the
// same feed, so published ETags did not change): the iTunes namespace declared only when used, Dublin
// Core's with content:encoded (used or not) or when an item names an author, the channel's iTunes tags
// after its items.
import { cdataSection, escapeAttribute, escapeText } from '../../text.js';
import type { PreparedEntry, PreparedFeed } from '../prepare-feed.js';
import { xmlPrologue } from './xml-prologue.js';

const NAMESPACES = {
  dc: ' xmlns:dc="http://purl.org/dc/elements/1.1/"',
  content: ' xmlns:content="http://purl.org/rss/1.0/modules/content/"',
  atom: ' xmlns:atom="http://www.w3.org/2005/Atom"',
  itunes: ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
  podcast: ' xmlns:podcast="https://podcastindex.org/namespace/1.0"',
};

/** itunes:duration as H:MM:SS (the validator's and Apple's form). */
function itunesDuration(seconds: number): string {
  const pad = (value: number): string => String(value).padStart(2, '0');
  return `${Math.floor(seconds / 3600)}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}

/**
 * RSS text elements carry no type: Universal Feed Parser takes one for HTML only when it looks like
 * HTML (a tag or a character reference), newsboat shows it as it is, aggregator pages render it as
 * HTML. Our titles are plain text, so only what an HTML parser would read as markup is escaped: a
 * `<` that opens a tag, comment or declaration (a letter, `!`, `/` or `?` after it: HTML's tag open
 * state) and an `&` that starts a character reference (`&#…`, `&name;`). "AT&T" and
 * "x < y && y > z" go out as they are and read right as text and as HTML; `<img onerror=…>` goes
 * out as `&lt;img onerror=…>`, text in every reader. (HTML also decodes a few legacy names without
 * their `;`, `&copy` among them: such text reads as the character in an HTML-rendering reader.)
 */
function rssText(text: string): string {
  return text.replace(/&(?=#|[a-z][a-z0-9]*;)/gi, '&amp;').replace(/<(?=[a-z!/?])/gi, '&lt;');
}

/**
 * Names (`<source>`, `<category>`, `dc:creator`) that readers commonly show as plain text
 * (Universal Feed Parser does): the markup characters are escaped, so no tag can form however a
 * reader takes them, and `&` is left as it is, so "Tom & Jerry" reads right either way.
 */
function rssName(text: string): string {
  return text.replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The channel's podcast metadata (publish/rebuild-feed.ts keeps what the sources agree on), before
 * the items: the validator warns of channel elements after them.
 */
function writePodcastChannel(feed: PreparedFeed, lines: string[], uses: Uses): void {
  const channel = feed.podcast;
  if (channel === undefined) return;
  if (channel.language !== undefined) lines.push(`        <language>${escapeText(channel.language)}</language>`);
  const before = lines.length;
  if (channel.author !== undefined) lines.push(`        <itunes:author>${escapeText(rssName(channel.author))}</itunes:author>`);
  if (channel.owner !== undefined) {
    lines.push('        <itunes:owner>');
    if (channel.owner.name !== undefined) lines.push(`            <itunes:name>${escapeText(rssName(channel.owner.name))}</itunes:name>`);
    if (channel.owner.email !== undefined)
      lines.push(`            <itunes:email>${escapeText(rssName(channel.owner.email))}</itunes:email>`);
    lines.push('        </itunes:owner>');
  }
  for (const category of channel.categories ?? []) {
    const open = `        <itunes:category text="${escapeAttribute(category.text)}"`;
    if (category.subcategories === undefined) lines.push(`${open}/>`);
    else {
      lines.push(`${open}>`);
      for (const subcategory of category.subcategories) lines.push(`            <itunes:category text="${escapeAttribute(subcategory)}"/>`);
      lines.push('        </itunes:category>');
    }
  }
  if (channel.type !== undefined) lines.push(`        <itunes:type>${channel.type}</itunes:type>`);
  if (channel.block === true) lines.push('        <itunes:block>Yes</itunes:block>');
  if (channel.complete === true) lines.push('        <itunes:complete>Yes</itunes:complete>');
  if (lines.length > before) uses.itunes = true;
  for (const fund of channel.funding ?? []) {
    uses.podcast = true;
    lines.push(
      `        <podcast:funding url="${escapeAttribute(fund.url)}">${escapeText(rssText(fund.title ?? fund.url))}</podcast:funding>`,
    );
  }
}

/** What the items need declared on the root element. */
interface Uses {
  content: boolean;
  authors: boolean;
  itunes: boolean;
  podcast: boolean;
}

export function renderRss(feed: PreparedFeed): string {
  const uses: Uses = { content: false, authors: false, podcast: false, itunes: feed.image !== undefined || feed.explicit !== undefined };
  const lines = [
    '    <channel>',
    `        <title>${escapeText(rssText(feed.title))}</title>`,
    `        <link>${escapeText(feed.homeUrl ?? feed.selfUrl ?? '')}</link>`,
    `        <description>${escapeText(rssText(feed.description ?? feed.title))}</description>`,
    `        <lastBuildDate>${feed.updated.toUTCString()}</lastBuildDate>`,
    '        <docs>https://validator.w3.org/feed/docs/rss2.html</docs>',
    `        <generator>${escapeText(feed.generator)}</generator>`,
  ];
  if (feed.selfUrl !== undefined)
    lines.push(`        <atom:link href="${escapeAttribute(feed.selfUrl)}" rel="self" type="application/rss+xml"/>`);
  if (feed.hubUrl !== undefined) lines.push(`        <atom:link href="${escapeAttribute(feed.hubUrl)}" rel="hub"/>`);
  writePodcastChannel(feed, lines, uses);
  for (const entry of feed.entries) writeItem(entry, lines, uses);
  // Channel artwork and rating for podcast apps (no Google Play tags or owner details: we have none).
  if (feed.image !== undefined) lines.push(`        <itunes:image href="${escapeAttribute(feed.image)}"/>`);
  if (feed.explicit !== undefined) lines.push(`        <itunes:explicit>${feed.explicit}</itunes:explicit>`);
  lines.push('    </channel>', '</rss>');
  const namespaces = [
    // In `feed`'s order: content:encoded brings both dc: and content:, dc: whether used or not.
    uses.content ? NAMESPACES.dc + NAMESPACES.content : '',
    feed.selfUrl !== undefined || feed.hubUrl !== undefined ? NAMESPACES.atom : '',
    uses.authors && !uses.content ? NAMESPACES.dc : '',
    uses.itunes ? NAMESPACES.itunes : '',
    uses.podcast ? NAMESPACES.podcast : '',
  ].join('');
  return `${xmlPrologue(feed.stylesheetUrl)}\n<rss version="2.0"${namespaces}>\n${lines.join('\n')}`;
}

function writeItem(entry: PreparedEntry, lines: string[], uses: Uses): void {
  const description = entry.summary ?? entry.content;
  // An item needs a title or a description.
  const title = entry.title ?? (description === undefined ? 'Untitled' : '');
  lines.push('        <item>');
  if (title !== '') lines.push(`            <title>${cdataSection(rssText(title))}</title>`);
  if (entry.link !== undefined) lines.push(`            <link>${escapeText(entry.link)}</link>`);
  lines.push(
    `            <guid isPermaLink="${entry.idIsLink ? 'true' : 'false'}">${escapeText(entry.guid)}</guid>`,
    `            <pubDate>${(entry.published ?? entry.updated).toUTCString()}</pubDate>`,
  );
  if (description !== undefined) lines.push(`            <description>${cdataSection(description)}</description>`);
  if (entry.summary !== undefined && entry.content !== undefined) {
    uses.content = true;
    lines.push(`            <content:encoded>${cdataSection(entry.content)}</content:encoded>`);
  }
  for (const category of entry.categories) lines.push(`            <category>${escapeText(rssName(category))}</category>`);
  // RSS has room for one enclosure per item, with a type and a length (0 when unknown).
  const enclosure = rssEnclosureOf(entry);
  if (enclosure !== undefined) {
    const type = enclosure.type ?? 'application/octet-stream';
    lines.push(
      `            <enclosure length="${enclosure.length ?? 0}" type="${escapeAttribute(type)}" url="${escapeAttribute(enclosure.url)}"/>`,
    );
  }
  writeItunesTags(entry, lines, uses);
  const emails = entry.authors.flatMap((author) => (author.name === undefined && author.email !== undefined ? [author.email] : []));
  // <author> must be an e-mail address: the first author known only by e-mail goes there (RSS allows
  // one); names, and any other addresses, go in dc:creator, one element per author.
  if (emails[0] !== undefined) lines.push(`            <author>${escapeText(emails[0])}</author>`);
  const names = [...entry.authors.flatMap((author) => (author.name === undefined ? [] : [author.name])), ...emails.slice(1)];
  if (names.length > 0) uses.authors = true;
  for (const name of names) lines.push(`            <dc:creator>${escapeText(rssName(name))}</dc:creator>`);
  // RSS 2.0 <source> requires its url attribute: a source without a home page is not named.
  if (entry.source?.url !== undefined) {
    lines.push(`            <source url="${escapeAttribute(entry.source.url)}">${escapeText(rssName(entry.source.title))}</source>`);
  }
  lines.push('        </item>');
}

/**
 * The one enclosure RSS carries: the episode's audio or video, where the item has one, since that is
 * what a podcast app plays (a cover JPEG listed first would leave the episode without it); else the first.
 */
function rssEnclosureOf(entry: PreparedEntry): PreparedEntry['enclosures'][number] | undefined {
  return entry.enclosures.find((enclosure) => /^(?:audio|video)\//i.test(enclosure.type ?? '')) ?? entry.enclosures[0];
}

/**
 * The iTunes and Podcasting 2.0 tags podcast apps read from an episode; only what the source gave.
 * The artwork is written whenever the entry has one, podcast tags or not (an episode that says
 * nothing else still shows its own image).
 */
function writeItunesTags(entry: PreparedEntry, lines: string[], uses: Uses): void {
  const podcast = entry.podcast ?? {};
  const before = lines.length;
  if (podcast.duration !== undefined) lines.push(`            <itunes:duration>${itunesDuration(podcast.duration)}</itunes:duration>`);
  if (entry.image !== undefined) lines.push(`            <itunes:image href="${escapeAttribute(entry.image)}"/>`);
  if (podcast.explicit !== undefined) lines.push(`            <itunes:explicit>${podcast.explicit}</itunes:explicit>`);
  if (podcast.episode !== undefined) lines.push(`            <itunes:episode>${podcast.episode}</itunes:episode>`);
  if (podcast.season !== undefined) lines.push(`            <itunes:season>${podcast.season}</itunes:season>`);
  if (podcast.episodeType !== undefined) lines.push(`            <itunes:episodeType>${podcast.episodeType}</itunes:episodeType>`);
  if (podcast.title !== undefined) lines.push(`            <itunes:title>${escapeText(rssText(podcast.title))}</itunes:title>`);
  if (podcast.subtitle !== undefined) lines.push(`            <itunes:subtitle>${escapeText(rssText(podcast.subtitle))}</itunes:subtitle>`);
  if (lines.length > before) uses.itunes = true;
  writePodcastTags(podcast, lines, uses);
}

/** The Podcasting 2.0 tags of an episode (https://podcastindex.org/namespace/1.0). */
function writePodcastTags(podcast: NonNullable<PreparedEntry['podcast']>, lines: string[], uses: Uses): void {
  const before = lines.length;
  const attributes = (values: Record<string, string | number | undefined>): string =>
    Object.entries(values)
      .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
      .map(([name, value]) => ` ${name}="${escapeAttribute(String(value))}"`)
      .join('');
  for (const transcript of podcast.transcripts ?? []) {
    const { url, type, language, rel } = transcript;
    lines.push(`            <podcast:transcript${attributes({ url, type, language, rel })}/>`);
  }
  if (podcast.chapters !== undefined) lines.push(`            <podcast:chapters${attributes(podcast.chapters)}/>`);
  for (const person of podcast.persons ?? []) {
    const { role, group, img, href } = person;
    lines.push(`            <podcast:person${attributes({ role, group, img, href })}>${escapeText(rssName(person.name))}</podcast:person>`);
  }
  if (podcast.season !== undefined)
    lines.push(`            <podcast:season${attributes({ name: podcast.seasonName })}>${podcast.season}</podcast:season>`);
  if (podcast.episode !== undefined) lines.push(`            <podcast:episode>${podcast.episode}</podcast:episode>`);
  for (const soundbite of podcast.soundbites ?? []) {
    const open = `            <podcast:soundbite${attributes({ startTime: soundbite.start, duration: soundbite.duration })}`;
    lines.push(soundbite.title === undefined ? `${open}/>` : `${open}>${escapeText(rssText(soundbite.title))}</podcast:soundbite>`);
  }
  if (lines.length > before) uses.podcast = true;
}
