// A 200 reuses the cached entry of each item it knows by fingerprint (normalise.ts entryOf): on every
// real-world feed of the fixtures, a document read with the entries of an earlier one must be what a
// reading with nothing known gives.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ParsedFeed } from '../../src/model.js';
import { parseFeed } from '../../src/parse/index.js';

const SOURCE = 'https://feeds.example/path/feed.xml?token=SECRETabcdef123456';
const FIXTURES = join(import.meta.dirname, '../fixtures');

function documents(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return documents(path);
    return /\.(xml|rss|atom|rdf)$/.test(name) ? [path] : [];
  });
}

function parsedOrUndefined(body: Buffer): ParsedFeed | undefined {
  try {
    return parseFeed(body, { baseUrl: SOURCE });
  } catch {
    return undefined; // a fixture of a refused document: nothing known to read it with
  }
}

// The first item or entry, end tag and all: the document of one refresh before the next.
const FIRST_ITEM = /<((?:[\w-]+:)?(?:item|entry))[\s>][\s\S]*?<\/\1\s*>/;

describe('reusing known entries, on the fixtures', () => {
  const files = documents(FIXTURES);

  it('finds the fixtures', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it('reads each document as a whole parse does, all items known and with one item new', () => {
    let withReuse = 0;
    for (const file of files) {
      const body = readFileSync(file);
      const whole = parsedOrUndefined(body);
      if (whole === undefined) continue;
      const known = new Map(whole.entries.map((entry) => [entry.fingerprint!, entry]));
      expect(parseFeed(body, { baseUrl: SOURCE, known }), file).toEqual(whole);
      // The same document a refresh earlier, without its first item: that item is new now.
      const text = body.toString('latin1');
      const first = FIRST_ITEM.exec(text);
      if (!first) continue;
      const earlier = parsedOrUndefined(Buffer.from(text.slice(0, first.index) + text.slice(first.index + first[0].length), 'latin1'));
      if (earlier === undefined || earlier.entries.length === 0) continue;
      const knownEarlier = new Map(earlier.entries.map((entry) => [entry.fingerprint!, entry]));
      const next = parseFeed(body, { baseUrl: SOURCE, known: knownEarlier });
      expect(next, file).toEqual(whole);
      if (next.entries.some((entry) => knownEarlier.get(entry.fingerprint!) === entry)) withReuse += 1;
    }
    // Most real feeds have known items reused (a test of reuse, not only of equal results).
    expect(withReuse).toBeGreaterThanOrEqual(20);
  });
});
