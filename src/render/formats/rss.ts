// RSS 2.0 (https://www.rssboard.org/rss-specification), written by `feed`, with the Dublin Core
// and iTunes tags podcast apps and readers look for.
import { escapeText } from '../../text.js';
import { cdataText, newFeed, withStylesheet, xmlAttribute, xmlText, type Extension, type FeedOptions, type Item } from '../feed-writer.js';
import type { PreparedEntry, PreparedFeed } from '../prepare-feed.js';

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
  return escapeText(text);
}

/**
 * Names (`<source>`, `<category>`, `dc:creator`) that readers commonly show as plain text
 * (Universal Feed Parser does): the markup characters are escaped, so no tag can form however a
 * reader takes them, and `&` is left as it is, so "Tom & Jerry" reads right either way.
 */
function rssName(text: string): string {
  return text.replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function renderRss(feed: PreparedFeed): string {
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
      extensions.push({
        name: 'dc:creator',
        objects: names.map((name) => ({ _text: xmlText(rssName(name)) })) as unknown as Record<string, unknown>,
      });
    }
    // RSS 2.0 <source> requires its url attribute: a source without a home page is not named.
    if (entry.source?.url !== undefined) {
      extensions.push({
        name: 'source',
        objects: { _attributes: { url: xmlAttribute(entry.source.url) }, _text: xmlText(rssName(entry.source.title)) },
      });
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
      enclosure: enclosure && {
        url: xmlAttribute(enclosure.url),
        type: enclosure.type ?? 'application/octet-stream',
        length: enclosure.length ?? 0,
      },
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
