// Atom 1.0 (RFC 4287), one line an element, four spaces an indent. Text goes through escapeText,
// attribute values through escapeAttribute and HTML into CDATA sections (text.ts). The layout is
// the one the `feed` library wrote before this writer replaced it (the same bytes for the same
// feed, so published ETags did not change), with the entry's links and atom:source where we had
// spliced them into its output.
import { cdataSection, escapeAttribute, escapeText, escapeXml } from '../../text.js';
import type { PreparedEntry, PreparedFeed } from '../prepare-feed.js';
import { xmlPrologue } from './xml-prologue.js';

export function renderAtom(feed: PreparedFeed): string {
  const lines = [
    xmlPrologue(feed.stylesheetUrl),
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    `    <id>${escapeText(feed.id)}</id>`,
    `    <title>${escapeText(feed.title)}</title>`,
    `    <updated>${feed.updated.toISOString()}</updated>`,
    // An empty generator is written as an empty-element tag, as `feed` wrote it.
    feed.generator === '' ? '    <generator/>' : `    <generator>${escapeText(feed.generator)}</generator>`,
    // RFC 4287 §4.1.1: a feed whose entries lack an author needs one of its own.
    '    <author>',
    `        <name>${escapeText(feed.title)}</name>`,
    '    </author>',
  ];
  if (feed.homeUrl !== undefined) lines.push(`    <link rel="alternate" href="${escapeAttribute(feed.homeUrl)}"/>`);
  if (feed.selfUrl !== undefined) lines.push(`    <link rel="self" href="${escapeAttribute(feed.selfUrl)}"/>`);
  if (feed.hubUrl !== undefined) lines.push(`    <link rel="hub" href="${escapeAttribute(feed.hubUrl)}"/>`);
  if (feed.description !== undefined) lines.push(`    <subtitle>${escapeText(feed.description)}</subtitle>`);
  // RFC 4287 §4.2.8: the feed's image, which readers show (RSS carries it as itunes:image).
  if (feed.image !== undefined) lines.push(`    <logo>${escapeText(feed.image)}</logo>`);
  for (const entry of feed.entries) writeEntry(entry, lines);
  lines.push('</feed>');
  return lines.join('\n');
}

function writeEntry(entry: PreparedEntry, lines: string[]): void {
  // §4.1.2: an entry with no alternate link must carry content: its summary, else its title
  // (never its id, which is ours and says nothing to a reader).
  const content = entry.content ?? (entry.link === undefined ? (entry.summary ?? (escapeText(entry.title ?? '') || ' ')) : undefined);
  const summary = entry.content === undefined && entry.link === undefined ? undefined : entry.summary;
  lines.push(
    '    <entry>',
    `        <title type="html">${cdataSection(escapeText(entry.title ?? ''))}</title>`,
    `        <id>${escapeText(entry.id)}</id>`,
  );
  if (entry.link !== undefined) lines.push(`        <link rel="alternate" href="${escapeAttribute(entry.link)}"/>`);
  for (const enclosure of entry.enclosures) {
    const type = enclosure.type === undefined ? '' : ` type="${escapeAttribute(enclosure.type)}"`;
    const length = enclosure.length === undefined ? '' : ` length="${enclosure.length}"`;
    lines.push(`        <link rel="enclosure" href="${escapeAttribute(enclosure.url)}"${type}${length}/>`);
  }
  if (entry.source !== undefined) lines.push(`        ${atomSource(entry.source)}`);
  lines.push(`        <updated>${entry.updated.toISOString()}</updated>`);
  if (summary !== undefined) lines.push(`        <summary type="html">${cdataSection(summary)}</summary>`);
  if (content !== undefined) lines.push(`        <content type="html">${cdataSection(content)}</content>`);
  for (const author of entry.authors) {
    // §3.2.1: a person needs a name; one known only by e-mail is named by it.
    const name = author.name ?? author.email;
    if (name === undefined) continue;
    lines.push('        <author>', `            <name>${escapeText(name)}</name>`);
    if (author.email !== undefined) lines.push(`            <email>${escapeText(author.email)}</email>`);
    if (author.url !== undefined) lines.push(`            <uri>${escapeText(author.url)}</uri>`);
    lines.push('        </author>');
  }
  for (const category of entry.categories) lines.push(`        <category term="${escapeAttribute(category)}"/>`);
  if (entry.published !== undefined) lines.push(`        <published>${entry.published.toISOString()}</published>`);
  lines.push('    </entry>');
}

/**
 * RFC 4287 §4.2.11: the feed an entry was copied from. We know its title and home page, not its
 * atom:id or atom:updated, which the spec only recommends: the W3C validator finds no error. Its
 * title has its quotes escaped too (escapeXml), as it always had.
 */
function atomSource(source: NonNullable<PreparedEntry['source']>): string {
  const link = source.url === undefined ? '' : `<link rel="alternate" href="${escapeAttribute(source.url)}"/>`;
  return `<source><title>${escapeXml(source.title)}</title>${link}</source>`;
}
