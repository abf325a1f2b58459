// Unchanged upstream items are taken from the last parse instead of normalised again; anything
// that could change the output (the item, its base, the source URL and its secrets) makes them anew.
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/model.js';
import { parseFeed } from '../../src/parse/index.js';
import { itemKey, itemSpansOf } from '../../src/parse/normalise.js';
import { entryTagStarts } from '../../src/parse/repair-xml.js';

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

// Known items left out of the parse (parse-feed.ts parseNewItems): the entries must be what a whole
// parse gives, item for item.
describe('parsing only the new items', () => {
  const rssItem = (id: string, body: string, extra = '') =>
    `<item><guid isPermaLink="false">story-${id}-0000</guid><title>Story ${id}</title>${extra}<description><![CDATA[<p>${body} <a href="rel/${id}">l</a></p>]]></description></item>\n`;
  const rssDoc = (items: string, built: string) =>
    `<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title><link>https://news.example/</link><description>d</description><lastBuildDate>${built}</lastBuildDate>\n${items}</channel></rss>`;
  const atomEntry = (id: string, author = '') =>
    `<entry><id>urn:example:entry-${id}</id><title>Entry ${id}</title><updated>2024-01-0${id.length}T00:00:00Z</updated>${author}<link href="e/${id}"/><content type="html">&lt;p&gt;${id}&lt;/p&gt;</content></entry>\n`;
  const atomDoc = (entries: string, updated: string, feedAuthor = 'Feed Author', base = 'https://news.example/base/') =>
    `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="${base}"><title>A</title><id>urn:example:feed</id><updated>${updated}</updated><author><name>${feedAuthor}</name></author>\n${entries}</feed>`;
  const rdfDoc = (items: string) =>
    `<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://news.example/"><title>R</title><link>https://news.example/</link><description>d</description></channel>\n${items}</rdf:RDF>`;
  const rdfItem = (id: string) =>
    `<item rdf:about="https://news.example/r/${id}-0000"><title>Item ${id}</title><link>https://news.example/r/${id}-0000</link><description>text ${id}</description></item>\n`;

  /** Parses `before`, then `after` with what it knew; `after` must read as a whole parse reads it. */
  const again = (before: string, after: string) => {
    const first = parseFeed(before, { baseUrl: SOURCE });
    const second = parseFeed(after, { baseUrl: SOURCE, known: known(first.entries) });
    expect(second).toEqual(parseFeed(after, { baseUrl: SOURCE }));
    return { first, second };
  };

  it('reads as a whole parse does: RSS, Atom, RDF, the channel changed, an item new and one gone', () => {
    const rss = again(
      rssDoc(rssItem('a', 'one') + rssItem('b', 'two') + rssItem('c', 'three'), 'Mon, 01 Jan 2024 00:00:00 GMT'),
      rssDoc(rssItem('n', 'new') + rssItem('a', 'one') + rssItem('b', 'two'), 'Tue, 02 Jan 2024 00:00:00 GMT').replace(
        '<title>T</title>',
        '<title>T2</title>',
      ),
    );
    expect(rss.second.title).toBe('T2');
    expect(rss.second.entries[1]).toBe(rss.first.entries[0]);
    expect(rss.second.entries[2]).toBe(rss.first.entries[1]);
    const atom = again(
      atomDoc(atomEntry('a') + atomEntry('bb'), '2024-01-01T00:00:00Z'),
      atomDoc(atomEntry('ccc') + atomEntry('a') + atomEntry('bb'), '2024-01-03T00:00:00Z'),
    );
    expect(atom.second.entries[1]).toBe(atom.first.entries[0]);
    expect(atom.second.entries[0]!.authors).toEqual([{ name: 'Feed Author' }]);
    expect(atom.second.entries[0]!.link).toBe('https://news.example/base/e/ccc');
    const rdf = again(rdfDoc(rdfItem('a') + rdfItem('b')), rdfDoc(rdfItem('n') + rdfItem('a')));
    expect(rdf.second.entries[1]).toBe(rdf.first.entries[0]);
    // Every item known: the channel alone is parsed, and its new title read.
    const all = again(rssDoc(rssItem('a', 'one'), 'x'), rssDoc(rssItem('a', 'one'), 'y').replace('<title>T</title>', '<title>T3</title>'));
    expect(all.second.entries[0]).toBe(all.first.entries[0]);
    expect(all.second.title).toBe('T3');
  });

  it('makes known items anew when what they take from around them changed: base, the feed’s author, a namespace', () => {
    const rebased = again(
      rssDoc(rssItem('a', 'one'), 'x'),
      rssDoc(rssItem('a', 'one'), 'x').replace('<rss ', '<rss xml:base="https://other.example/" '),
    );
    expect(rebased.second.entries[0]).not.toBe(rebased.first.entries[0]);
    expect(rebased.second.entries[0]!.summary).toContain('https://other.example/rel/a');
    const reauthored = again(atomDoc(atomEntry('a'), 'u'), atomDoc(atomEntry('a'), 'u', 'New Author'));
    expect(reauthored.second.entries[0]!.authors).toEqual([{ name: 'New Author' }]);
    // The feed's whole author element counts, also after an empty element in it.
    const withUri = (name: string) =>
      atomDoc(atomEntry('a'), 'u', name).replace(`<author><name>${name}</name>`, `<author><uri/><name>${name}</name>`);
    const renamedAfterUri = again(withUri('One'), withUri('Two'));
    expect(renamedAfterUri.second.entries[0]!.authors).toEqual([{ name: 'Two' }]);
    const ownAuthor = atomEntry('b', '<author><name>Own</name></author>');
    const keptOwn = again(atomDoc(ownAuthor, 'u'), atomDoc(ownAuthor, 'u', 'New Author', 'https://news.example/other/'));
    expect(keptOwn.second.entries[0]!.authors).toEqual([{ name: 'Own' }]);
    const creator = rssItem('a', 'one', '<dc:creator>Ann</dc:creator>');
    const renamed = again(
      rssDoc(creator, 'x'),
      rssDoc(creator, 'x').replace('xmlns:dc="http://purl.org/dc/elements/1.1/"', 'xmlns:dc="https://other.example/dc"'),
    );
    expect(renamed.second.entries[0]).not.toBe(renamed.first.entries[0]);
  });

  it('reads items without a guid as a whole parse does: a new one sharing a known one’s link changes both ids', () => {
    const plain = (title: string) =>
      `<item><title>${title}</title><link>https://news.example/shared-page</link><description>about ${title}</description></item>\n`;
    const shared = again(
      rssDoc(plain('First title') + rssItem('a', 'one'), 'x'),
      rssDoc(plain('Second title') + plain('First title') + rssItem('a', 'one'), 'y'),
    );
    expect(new Set(shared.second.entries.map((entry) => entry.id)).size).toBe(3);
    expect(shared.first.entries[0]!.id).toBe('https://news.example/shared-page');
    expect(shared.second.entries[1]!.id).not.toBe(shared.first.entries[0]!.id);
    expect(shared.second.entries[2]).toBe(shared.first.entries[1]);
  });

  it('takes a known item by its bytes without parsing it', () => {
    // An entry made from these bytes before: a stand-in, so only a lookup by bytes can return it.
    const item = `<item><guid isPermaLink="false">a</guid><title>Tom &amp; Jerry</title><description>d</description></item>\n`;
    const document = rssDoc(item + rssItem('n', 'new'), 'x');
    const xml = document.replace(/^\uFEFF/, '');
    const spans = itemSpansOf(xml, entryTagStarts(xml, 'rss'), false);
    const standIn: Entry = { id: 'stand-in', authors: [], categories: [], enclosures: [], fingerprint: 'f' };
    const bytes = xml.slice(spans.spans[0]!.start, spans.spans[0]!.end);
    const parsed = parseFeed(document, { baseUrl: SOURCE, known: new Map([[itemKey(SOURCE, spans.scope, bytes), standIn]]) });
    expect(parsed.entries[0]).toBe(standIn);
    expect(parsed.entries[1]!.id).toBe('story-n-0000');
    // A whole parse would have made it anew: its guid is too short to find in its bytes.
    expect(parseFeed(document, { baseUrl: SOURCE }).entries[0]!.id).toBe('a');
  });
});
