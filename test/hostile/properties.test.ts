// Issue 7, property tests: random and mutated documents never make parseFeed throw anything but
// FP_NOT_A_FEED, and whatever merged entries look like, every rendered format parses back.
// Seeds are fixed so a failure reproduces; fast-check prints the counterexample.
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { parseFeed } from '../../src/parse/index.js';
import { mergeEntries } from '../../src/pipeline/merge.js';
import { renderFeed, type RenderFormat } from '../../src/render/render-feed.js';

const FIXTURES = new URL('../fixtures/feeds/', import.meta.url);
const FEEDS = readdirSync(FIXTURES)
  .filter((name) => /\.(xml|rss|atom|rdf|json)$/.test(name))
  .map((name) => readFileSync(new URL(name, FIXTURES)));
const BASE = 'https://feeds.example.test/feed?feed_token=secret-token';
const RUNS = 300;
let tried = 0;

afterAll(() => console.info(`properties: ${tried} generated inputs`));

/** parseFeed's whole contract for bad input: a feed, or FP_NOT_A_FEED; never another throw. */
function parsesOrRefuses(body: Buffer | string, contentType?: string): boolean {
  tried += 1;
  try {
    parseFeed(body, { baseUrl: BASE, ...(contentType ? { contentType } : {}) });
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'FP_NOT_A_FEED';
  }
}

/** One edit of a document: a cut, a random insertion, a doubled slice, or a flipped byte. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), length: fc.nat({ max: 200 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(
      fc.string(),
      fc.constantFrom(
        '<',
        '>',
        '&',
        ']]>',
        '<![CDATA[',
        '<!DOCTYPE x [',
        '<!ENTITY a "b">',
        '&a;',
        '</item>',
        '<item>',
        '"',
        '\u0000',
        '\ud800',
        '&#0;',
        '&#x110000;',
      ),
    ),
  }),
  fc.record({ kind: fc.constant('double' as const), at: fc.nat(), length: fc.nat({ max: 500 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(document: Buffer, edits: Mutation[]): Buffer {
  let bytes = Buffer.from(document);
  for (const edit of edits) {
    const at = bytes.length === 0 ? 0 : edit.at % bytes.length;
    if (edit.kind === 'cut') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + edit.length)]);
    else if (edit.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(edit.text), bytes.subarray(at)]);
    else if (edit.kind === 'double') bytes = Buffer.concat([bytes.subarray(0, at + edit.length), bytes.subarray(at)]);
    else if (bytes.length > 0) bytes[at] = edit.byte;
  }
  return bytes;
}

describe('parseFeed properties', () => {
  it('never throws anything but FP_NOT_A_FEED on random text or bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (text) => parsesOrRefuses(text)),
      { numRuns: RUNS, seed: 7 },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.constantFrom(undefined, 'text/xml; charset=utf-16', 'application/rss+xml; charset=iso-8859-1', 'application/json'),
        (bytes, type) => parsesOrRefuses(Buffer.from(bytes), type),
      ),
      { numRuns: RUNS, seed: 7 },
    );
  });

  it('never throws anything but FP_NOT_A_FEED on mutated real feeds', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.constantFrom(...FEEDS), fc.array(mutation, { minLength: 1, maxLength: 8 }), (feed, edits) =>
        parsesOrRefuses(mutate(feed, edits)),
      ),
      { numRuns: RUNS * 3, seed: 7 },
    );
  });

  it('never throws anything but FP_NOT_A_FEED on generated feed-shaped XML', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 40 });
    const item = fc
      .tuple(text, text, text)
      .map(
        ([title, link, body]) =>
          `<item><title>${title}</title><link>${link}</link><description>${body}</description><guid>${title}</guid></item>`,
      );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 10 }), (items) =>
        parsesOrRefuses(`<rss version="2.0"><channel><title>t</title>${items.join('')}</channel></rss>`),
      ),
      { numRuns: RUNS, seed: 7 },
    );
  });
});

describe('mergeEntries → renderFeed properties', () => {
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.constantFrom(']]>', '&amp;', '<b>x</b>', '\u0000\u0008', '\ud800', 'a\r\nb', '&#0;'),
  );
  const url = fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), text);
  const date = fc.oneof(
    fc.date({ noInvalidDate: true }).map((value) => value.toISOString()),
    text,
  );
  const entry: fc.Arbitrary<CachedEntry> = fc.record(
    {
      id: text,
      sourceId: fc.constantFrom('a', 'b'),
      title: text,
      link: url,
      published: date,
      updated: date,
      summary: text,
      content: text,
      authors: fc.array(fc.record({ name: text, email: text, url }, { requiredKeys: [] }), { maxLength: 2 }),
      categories: fc.array(text, { maxLength: 3 }),
      enclosures: fc.array(fc.record({ url, type: text, length: fc.oneof(fc.integer(), fc.double()) }, { requiredKeys: ['url'] }), {
        maxLength: 2,
      }),
      image: url,
      firstSeenAt: fc
        .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
        .map((value) => value.toISOString()),
    },
    { requiredKeys: ['id', 'sourceId', 'authors', 'categories', 'enclosures', 'firstSeenAt'] },
  );

  it.each<RenderFormat>(['atom', 'rss', 'json'])('%s output always parses back, with every merged entry', (format) => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), text, (entries, title) => {
        tried += 1;
        const merged = mergeEntries({
          sources: [
            { sourceId: 'a', entries: entries.filter((e) => e.sourceId === 'a') },
            { sourceId: 'b', entries: entries.filter((e) => e.sourceId === 'b') },
          ],
          limit: 50,
        });
        const urls = { atom: 'https://proxy.example/t.atom', rss: 'https://proxy.example/t.rss', json: 'https://proxy.example/t.json' };
        const { body } = renderFeed(format, {
          id: 'urn:feedproxy:feed:p',
          title: title || 'untitled',
          selfUrl: urls[format],
          alternateUrls: urls,
          updated: new Date('2024-01-01T00:00:00Z'),
          generator: 'feedproxy test',
          entries: merged,
        });
        const parsed = parseFeed(body, { baseUrl: urls[format] });
        expect(parsed.entries).toHaveLength(merged.length);
      }),
      { numRuns: RUNS, seed: 7 },
    );
  });
});
