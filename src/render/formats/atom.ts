// Atom 1.0 (RFC 4287), written by `feed`. Each entry's links (and its atom:source) are written
// here and spliced in where a placeholder link stood: `feed` guesses Atom enclosure types from the
// URL's extension as `image/…` and gives an entry without a link an empty `<link/>`.
import { escapeText, escapeXml } from '../../text.js';
import { cdataText, newFeed, withStylesheet, xmlAttribute, xmlText, type Author, type FeedOptions, type Item } from '../feed-writer.js';
import type { PreparedEntry, PreparedFeed } from '../prepare-feed.js';

/**
 * Stands in for an entry's links while `feed` writes the document. It holds U+0001, which
 * stripXmlInvalid (prepare-feed.ts) removed from every other string, so nothing else in the document can look like it.
 */
const LINK_MARK = '\u0001';
const linkPlaceholder = (index: number): string => `https://feedproxy.invalid/${LINK_MARK}${index}${LINK_MARK}`;
const LINK_PLACEHOLDER_LINE = new RegExp(`^([ \\t]*)<link href="https://feedproxy\\.invalid/${LINK_MARK}(\\d+)${LINK_MARK}"/>\\n?`, 'gm');

export function renderAtom(feed: PreparedFeed): string {
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
    const content = entry.content ?? (entry.link === undefined ? (entry.summary ?? (escapeText(entry.title ?? '') || ' ')) : undefined);
    const summary = entry.content === undefined && entry.link === undefined ? undefined : entry.summary;
    return {
      id: entry.id,
      title: cdataText(escapeText(entry.title ?? '')),
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
