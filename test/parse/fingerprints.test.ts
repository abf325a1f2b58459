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
