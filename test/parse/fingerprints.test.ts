// Unchanged upstream items are taken from the last parse instead of normalised again; anything
// that could change the output (the item, its base, the source URL and its secrets) makes them anew.
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/model.js';
import { parseFeed } from '../../src/parse/index.js';

const SOURCE = 'https://news.example/feed.xml?token=SECRETabcdef123456';
const rss = (items: string) =>
  `<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://news.example/</link><description>d</description>${items}</channel></rss>`;
const item = (id: string, body: string) =>
  `<item><guid isPermaLink="false">${id}</guid><title>${id}</title><description><![CDATA[<p>${body} <a href="/x?token=SECRETabcdef123456">l</a><script>x()</script></p>]]></description></item>`;
const known = (entries: Entry[]) => new Map(entries.map((entry) => [entry.fingerprint!, entry]));

describe('entry fingerprints', () => {
  it('reuses the entries of unchanged items and makes changed ones anew', () => {
    const first = parseFeed(rss(item('a', 'one') + item('b', 'two')), { baseUrl: SOURCE });
    expect(first.entries.every((entry) => typeof entry.fingerprint === 'string' && entry.fingerprint.length > 20)).toBe(true);
    // The fingerprint is a keyed hash: it does not carry the token.
    expect(JSON.stringify(first.entries)).not.toContain('SECRETabcdef123456');

    const second = parseFeed(rss(item('a', 'one') + item('b', 'two, edited') + item('c', 'three')), {
      baseUrl: SOURCE,
      known: known(first.entries),
    });
    expect(second.entries[0]).toBe(first.entries[0]);
    expect(second.entries[1]).not.toBe(first.entries[1]);
    expect(second.entries[1]!.summary).toContain('two, edited');
    expect(second.entries[1]!.fingerprint).not.toBe(first.entries[1]!.fingerprint);
    // Made anew, cleaned like the first time: no script, the token out of the link.
    expect(second.entries[2]!.summary).not.toContain('<script');
    expect(second.entries[2]!.summary).not.toContain('SECRETabcdef123456');
  });

  it('makes everything anew for another source URL or another base', () => {
    const first = parseFeed(rss(item('a', 'one')), { baseUrl: SOURCE });
    const rotated = parseFeed(rss(item('a', 'one')), {
      baseUrl: SOURCE.replace('SECRETabcdef123456', 'NEWSECRETzyx9876543'),
      known: known(first.entries),
    });
    expect(rotated.entries[0]).not.toBe(first.entries[0]);
    expect(rotated.entries[0]!.fingerprint).not.toBe(first.entries[0]!.fingerprint);
    const rebased = parseFeed(
      rss(item('a', 'one')).replace('<rss version="2.0">', '<rss version="2.0" xml:base="https://other.example/">'),
      { baseUrl: SOURCE, known: known(first.entries) },
    );
    expect(rebased.entries[0]).not.toBe(first.entries[0]);
  });

  it('gives the same entries with and without the known ones', () => {
    const document = rss(item('a', 'one') + item('b', 'two'));
    const fresh = parseFeed(document, { baseUrl: SOURCE });
    const reused = parseFeed(document, { baseUrl: SOURCE, known: known(parseFeed(document, { baseUrl: SOURCE }).entries) });
    expect(reused.entries).toEqual(fresh.entries);
  });
});

// Items told apart by their own bytes: a guid long enough to find in them (see normalise.ts itemBytes).
describe('entry fingerprints from the items’ bytes', () => {
  const longItem = (id: string, body: string, spacing = '') =>
    `<item>${spacing}<guid isPermaLink="false">item-${id}-0000</guid><title>Title ${id}</title><description><![CDATA[<p>${body} <a href="/x?token=SECRETabcdef123456">l</a><script>x()</script></p>]]></description></item>\n`;
  const doc = (items: string, channel = '', rssAttributes = '') =>
    `<?xml version="1.0"?><rss version="2.0"${rssAttributes}><channel><title>T</title><link>https://news.example/</link><description>d</description>${channel}${items}</channel></rss>`;

  it('reuses unchanged items, also when the channel around them changed or one became the last', () => {
    const first = parseFeed(
      doc(
        longItem('a', 'one') + longItem('b', 'two') + longItem('c', 'three'),
        '<lastBuildDate>Mon, 01 Jan 2024 00:00:00 GMT</lastBuildDate>',
      ),
      {
        baseUrl: SOURCE,
      },
    );
    const second = parseFeed(
      doc(
        longItem('n', 'new') + longItem('a', 'one') + longItem('b', 'two'),
        '<lastBuildDate>Tue, 02 Jan 2024 00:00:00 GMT</lastBuildDate>',
      ),
      {
        baseUrl: SOURCE,
        known: known(first.entries),
      },
    );
    expect(second.entries.map((entry) => entry.id)).toEqual(['item-n-0000', 'item-a-0000', 'item-b-0000']);
    expect(second.entries[1]).toBe(first.entries[0]);
    expect(second.entries[2]).toBe(first.entries[1]);
    expect(second.entries[0]!.summary).not.toContain('<script');
    expect(second.entries[0]!.summary).not.toContain('SECRETabcdef123456');
  });

  it('makes an item anew when its bytes change, even where the parse reads them the same', () => {
    const first = parseFeed(doc(longItem('a', 'one')), { baseUrl: SOURCE });
    // Whitespace between the item's elements: the same parsed item, other bytes.
    const respaced = parseFeed(doc(longItem('a', 'one', '\n  ')), { baseUrl: SOURCE, known: known(first.entries) });
    expect(respaced.entries[0]).not.toBe(first.entries[0]);
    expect(respaced.entries[0]).toEqual({ ...first.entries[0], fingerprint: respaced.entries[0]!.fingerprint });
    // Short ids cannot be looked for in the bytes: the parsed item keys those, and whitespace is no change.
    const short = parseFeed(rss(item('a', 'one')), { baseUrl: SOURCE });
    const shortRespaced = parseFeed(rss(item('a', 'one').replace('<title>', '\n  <title>')), {
      baseUrl: SOURCE,
      known: known(short.entries),
    });
    expect(shortRespaced.entries[0]).toBe(short.entries[0]);
  });

  it('makes items anew when a namespace declared around them changes (what their prefixes mean)', () => {
    const withCreator = (namespace: string) =>
      doc(longItem('a', 'one').replace('</item>', '<dc:creator>Ann Author</dc:creator></item>'), '', ` xmlns:dc="${namespace}"`);
    const first = parseFeed(withCreator('http://purl.org/dc/elements/1.1/'), { baseUrl: SOURCE });
    expect(first.entries[0]!.authors).toEqual([{ name: 'Ann Author' }]);
    const rebound = parseFeed(withCreator('https://other.example/ns'), { baseUrl: SOURCE, known: known(first.entries) });
    expect(rebound.entries[0]).not.toBe(first.entries[0]);
  });

  it('gives the same entries with and without the known ones, items nested in items included', () => {
    const nested = longItem('b', 'two').replace('</item>', '<x:item xmlns:x="https://x.example/">inner</x:item></item>');
    for (const document of [doc(longItem('a', 'one') + longItem('b', 'two')), doc(longItem('a', 'one') + nested)]) {
      const fresh = parseFeed(document, { baseUrl: SOURCE });
      const reused = parseFeed(document, { baseUrl: SOURCE, known: known(parseFeed(document, { baseUrl: SOURCE }).entries) });
      expect(reused.entries).toEqual(fresh.entries);
      expect(
        reused.entries.every(
          (entry, index) => entry === parseFeed(document, { baseUrl: SOURCE, known: known(reused.entries) }).entries[index],
        ),
      ).toBe(true);
    }
    // A nested start tag counts as an item the parse does not make: the parsed items key themselves,
    // so a change to the item around it is still seen.
    const first = parseFeed(doc(longItem('a', 'one') + nested), { baseUrl: SOURCE });
    const edited = parseFeed(doc(longItem('a', 'one') + nested.replace('two', 'two, edited')), {
      baseUrl: SOURCE,
      known: known(first.entries),
    });
    expect(edited.entries[0]).toBe(first.entries[0]);
    expect(edited.entries[1]!.summary).toContain('two, edited');
  });
});
