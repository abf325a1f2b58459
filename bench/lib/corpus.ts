// Realistic feed documents and cached entries, generated deterministically: HTML with links,
// images, relative URLs and the odd script (so the sanitiser has work), authors, categories,
// enclosures, the dates real feeds carry. Sizes go from a few KB to megabytes.
import type { CachedEntry } from '../../src/model.js';

export type CorpusFormat = 'rss' | 'atom' | 'rdf' | 'json';

export interface FeedSpec {
  format: CorpusFormat;
  /** Number of entries in the document. */
  entries: number;
  /** Approximate HTML bytes per entry body. */
  bodyBytes: number;
  /** Names the feed (and its entry ids). */
  name: string;
  /** Index of the newest entry: a window that moves by one is "one new entry". */
  offset?: number;
}

const WORDS =
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur'.split(
    ' ',
  );
const BASE_TIME = Date.parse('2025-06-01T12:00:00Z');

function words(seed: number, count: number): string {
  let text = '';
  for (let i = 0; i < count; i++) text += (i === 0 ? '' : ' ') + WORDS[(seed * 7 + i * 13) % WORDS.length];
  return text;
}

/** An entry body: paragraphs with links, an image, a relative link, and one hostile bit in ten. */
export function entryHtml(seed: number, bytes: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let paragraph = 0; size < bytes; paragraph++) {
    const text = words(seed + paragraph, 40);
    const html =
      paragraph % 3 === 0
        ? `<p>${text} <a href="https://example.com/articles/${seed}-${paragraph}?utm_source=feed">read more</a> &amp; <em>more</em>.</p>`
        : paragraph % 3 === 1
          ? `<p><img src="/images/${seed}-${paragraph}.jpg" alt="figure ${paragraph}" width="640" height="480"> ${text}</p>`
          : `<blockquote><p>${text}</p></blockquote><ul><li>${words(seed, 5)}</li><li><code>${words(seed + 1, 3)}</code></li></ul>`;
    parts.push(html);
    size += html.length;
  }
  if (seed % 10 === 0) parts.push('<script>alert(1)</script><p onclick="steal()">tracked</p>');
  return parts.join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[char]!);
}

function entryDateOf(index: number): Date {
  return new Date(BASE_TIME + index * 3_600_000);
}

export function generateFeed(spec: FeedSpec): string {
  const offset = spec.offset ?? 0;
  const indexes = Array.from({ length: spec.entries }, (_, i) => offset + spec.entries - 1 - i);
  const site = `https://${spec.name}.example.com`;
  switch (spec.format) {
    case 'rss':
      return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">',
        `<channel><title>${spec.name} news</title><link>${site}/</link><description>Everything about ${spec.name}</description><ttl>30</ttl>`,
        `<atom:link rel="self" href="${site}/feed.rss"/>`,
        ...indexes.map(
          (i) =>
            `<item><title>${escapeXml(words(i, 8))} #${i}</title><link>${site}/posts/${i}</link><guid isPermaLink="false">${spec.name}-${i}</guid>` +
            `<pubDate>${entryDateOf(i).toUTCString()}</pubDate><dc:creator>Author ${i % 7}</dc:creator><category>topic-${i % 5}</category><category>tag-${i % 11}</category>` +
            (i % 4 === 0 ? `<enclosure url="${site}/media/${i}.mp3" type="audio/mpeg" length="${1_000_000 + i}"/>` : '') +
            `<description>${escapeXml(words(i, 30))}</description>` +
            `<content:encoded><![CDATA[${entryHtml(i, spec.bodyBytes)}]]></content:encoded></item>`,
        ),
        '</channel></rss>',
      ].join('\n');
    case 'atom':
      return [
        '<?xml version="1.0" encoding="utf-8"?>',
        `<feed xmlns="http://www.w3.org/2005/Atom" xml:base="${site}/"><title>${spec.name} news</title><id>urn:${spec.name}</id>`,
        `<link rel="alternate" href="${site}/"/><link rel="self" href="${site}/feed.atom"/><updated>${entryDateOf(offset + spec.entries).toISOString()}</updated>`,
        `<author><name>${spec.name} team</name></author>`,
        ...indexes.map(
          (i) =>
            `<entry><title type="text">${escapeXml(words(i, 8))} #${i}</title><id>urn:${spec.name}:${i}</id><link rel="alternate" type="text/html" href="posts/${i}"/>` +
            `<published>${entryDateOf(i).toISOString()}</published><updated>${entryDateOf(i).toISOString()}</updated>` +
            `<author><name>Author ${i % 7}</name><email>author${i % 7}@example.com</email></author><category term="topic-${i % 5}"/>` +
            `<summary type="text">${escapeXml(words(i, 30))}</summary><content type="html">${escapeXml(entryHtml(i, spec.bodyBytes))}</content></entry>`,
        ),
        '</feed>',
      ].join('\n');
    case 'rdf':
      return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        `<channel rdf:about="${site}/"><title>${spec.name} news</title><link>${site}/</link><description>Everything about ${spec.name}</description>`,
        `<items><rdf:Seq>${indexes.map((i) => `<rdf:li rdf:resource="${site}/posts/${i}"/>`).join('')}</rdf:Seq></items></channel>`,
        ...indexes.map(
          (i) =>
            `<item rdf:about="${site}/posts/${i}"><title>${escapeXml(words(i, 8))} #${i}</title><link>${site}/posts/${i}</link>` +
            `<dc:date>${entryDateOf(i).toISOString()}</dc:date><dc:creator>Author ${i % 7}</dc:creator><dc:subject>topic-${i % 5}</dc:subject>` +
            `<description>${escapeXml(entryHtml(i, spec.bodyBytes))}</description></item>`,
        ),
        '</rdf:RDF>',
      ].join('\n');
    case 'json':
      return JSON.stringify({
        version: 'https://jsonfeed.org/version/1.1',
        title: `${spec.name} news`,
        home_page_url: `${site}/`,
        feed_url: `${site}/feed.json`,
        authors: [{ name: `${spec.name} team` }],
        items: indexes.map((i) => ({
          id: `${spec.name}-${i}`,
          url: `${site}/posts/${i}`,
          title: `${words(i, 8)} #${i}`,
          content_html: entryHtml(i, spec.bodyBytes),
          summary: words(i, 30),
          date_published: entryDateOf(i).toISOString(),
          authors: [{ name: `Author ${i % 7}` }],
          tags: [`topic-${i % 5}`, `tag-${i % 11}`],
          ...(i % 4 === 0
            ? { attachments: [{ url: `${site}/media/${i}.mp3`, mime_type: 'audio/mpeg', size_in_bytes: 1_000_000 + i }] }
            : {}),
        })),
      });
  }
}

/** Cached entries as refresh/ stores them (already sanitised), newest first. */
export function generateCachedEntries(sourceId: string, count: number, bodyBytes: number, offset = 0): CachedEntry[] {
  const entries: CachedEntry[] = [];
  for (let n = 0; n < count; n++) {
    const i = offset + count - 1 - n;
    const date = entryDateOf(i).toISOString();
    entries.push({
      id: `urn:${sourceId}:${i}`,
      sourceId,
      title: `${words(i, 8)} #${i}`,
      link: `https://${sourceId.toLowerCase()}.example.com/posts/${i}`,
      published: date,
      updated: date,
      authors: [{ name: `Author ${i % 7}` }],
      summary: `<p>${words(i, 30)}</p>`,
      content: bodyBytes > 0 ? entryHtml(i, bodyBytes).replace(/<script>.*?<\/script>| onclick="[^"]*"/g, '') : undefined,
      categories: [`topic-${i % 5}`],
      enclosures: i % 4 === 0 ? [{ url: `https://cdn.example.com/${sourceId}/${i}.mp3`, type: 'audio/mpeg', length: 1_000_000 + i }] : [],
      firstSeenAt: date,
    });
  }
  return entries;
}
