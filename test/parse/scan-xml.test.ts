// The linear scans of parse/scan-xml.ts read what the regular expressions they replace read, token
// for token, on many generated documents full of unclosed comments, CDATA sections, instructions,
// quotes and tags (the inputs on which those expressions took quadratic time).
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countStartTagsOutsideComments, replaceCdataSections, unclosedTagScanLength, xmlTokens } from '../../src/parse/scan-xml.js';

// The patterns the scans replace, as they were written in repair-xml.ts.
const XML_TOKEN =
  /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<![^>]*>|<\/\s*([\w.:-]+)\s*>|<([\w.:-]+)(?:\s(?:[^>"']|"[^"]*"|'[^']*')*)?>/g;
const ITEM_TAG_OR_SKIPPED = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<(?:[\w-]+:)?item[\s>]/g;
const CDATA_SECTION = /<!\[CDATA\[([\s\S]*?)\]\]>/g;

const FRAGMENTS = [
  '<!--',
  '-->',
  '--',
  '<![CDATA[',
  ']]>',
  ']]',
  '<?',
  '?>',
  '<?x ',
  '<!',
  '<!DOCTYPE x>',
  '<',
  '>',
  '/>',
  '</',
  '</a>',
  '</ a >',
  '<a',
  '<a>',
  '<a ',
  '<a x="',
  '"',
  "'",
  "<a x='1'>",
  '<a x="1>2">',
  '<item>',
  '<item ',
  '<x:item>',
  '</item>',
  '<items>',
  'text',
  ' ',
  '\n',
  '=',
  'x',
  '<b:c.d-e f>',
  '<!-- c -->',
  '<![CDATA[ d ]]>',
];

/** A small deterministic generator, so a failure names a document that can be rebuilt. */
function documents(count: number, seed: number): string[] {
  let state = seed;
  const next = () => {
    // 32-bit arithmetic (a float product past 2^53 would lose the low bits and cycle early).
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state >>> 12; // the low bits of this generator repeat in short cycles
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + (next() % 40) }, () => FRAGMENTS[next() % FRAGMENTS.length]).join(''),
  );
}

const CASES = documents(4000, 7);

it('generates 4,000 different documents', () => {
  expect(new Set(CASES).size).toBeGreaterThan(3_900);
});

describe('xmlTokens', () => {
  it('yields what the regular expression matched, on 4,000 generated documents', () => {
    let tokens = 0;
    for (const xml of CASES) {
      const expected = [...xml.matchAll(XML_TOKEN)].map((m) => ({ index: m.index, token: m[0], closing: m[1], opening: m[2] }));
      const actual = [...xmlTokens(xml)].map((t) => ({ index: t.index, token: t.token, closing: t.closing, opening: t.opening }));
      expect(actual, xml).toEqual(expected);
      tokens += expected.length;
    }
    // The generated documents hold tokens of every kind, not just text.
    expect(tokens).toBeGreaterThan(20_000);
  });

  it('reads a document of 200,000 unclosed constructs of each kind', () => {
    for (const unit of ['<!--', '<![CDATA[', '<?x ', '<a x="', "<a x='", '<a x', '<!x ']) {
      const xml = `<rss>${unit.repeat(200_000)}<item>x</item></rss>`;
      const tokens = [...xmlTokens(xml)];
      // Each reading ends where the expression's would: its last token is the document's close tag.
      expect(tokens.at(-1)?.closing, unit).toBe('rss');
    }
  });
});

describe('countStartTagsOutsideComments', () => {
  it('counts what the regular expression counted, on 4,000 generated documents', () => {
    let counted = 0;
    for (const xml of CASES) {
      const expected = [...xml.matchAll(ITEM_TAG_OR_SKIPPED)].filter((m) => !m[0].startsWith('<!')).length;
      expect(countStartTagsOutsideComments(xml, /<!--|<!\[CDATA\[|<(?:[\w-]+:)?item[\s>]/g), xml).toBe(expected);
      counted += expected;
    }
    expect(counted).toBeGreaterThan(1_000);
  });
});

describe('replaceCdataSections', () => {
  it('replaces what the regular expression replaced, on 4,000 generated documents', () => {
    let replaced = 0;
    for (const xml of CASES) {
      const expected = xml.replace(CDATA_SECTION, (_whole, content: string) => `[${content.length}]`);
      expect(
        replaceCdataSections(xml, (content) => `[${content.length}]`),
        xml,
      ).toBe(expected);
      if (expected !== xml) replaced += 1;
    }
    expect(replaced).toBeGreaterThan(500);
  });
});

describe('unclosedTagScanLength', () => {
  /** What fast-xml-parser reads in vain, by its own rule: from each `<` read as a tag, the characters up to the end when no `>` outside quotes follows. */
  function readInVain(xml: string): number {
    let wasted = 0;
    for (let at = xml.indexOf('<'); at !== -1; at = xml.indexOf('<', at + 1)) {
      if (/^<(?:\/|\?|!--|!\[)/.test(xml.slice(at, at + 4))) continue;
      let quote = '';
      let closed = false;
      for (let index = at + 1; index < xml.length && !closed; index += 1) {
        const character = xml[index]!;
        if (quote !== '') quote = character === quote ? '' : quote;
        else if (character === '"' || character === "'") quote = character;
        else closed = character === '>';
      }
      if (!closed) wasted += xml.length - at;
    }
    return wasted;
  }

  it.each([
    ['a whole document', '<rss><channel><title a="x">T</title><item><title>It\'s "here"</title></item></channel></rss>'],
    ['comments, instructions, CDATA and close tags', '<!-- <x --><?p <y ?><![CDATA[ <z " ]]></w'],
    ['a run cut off', '<t>' + '<'.repeat(50)],
    ['a run before one quote', '<t>' + '<a '.repeat(20) + '"</t><u>x</u>'],
    ["a run before one '", '<t>' + '<'.repeat(20) + "'</t>"],
    ['quotes that close', '<t>< "a>b" > < \'c>\' >'],
    ['`<!` that opens nothing of its own', '<t><!x <!-x</t'],
    // Longer than one chunk of the scan, with the run across the chunk boundary.
    ['a long document', '<r>' + 'x'.repeat(40_000) + '<'.repeat(10) + '"' + 'y'.repeat(30_000) + '</r>'],
  ])('%s: the characters the parser would read in vain', (_, xml) => {
    expect(unclosedTagScanLength(xml)).toBe(readInVain(xml));
  });

  it('is 0 for every fixture feed', () => {
    for (const xml of fixtureFeeds()) expect(unclosedTagScanLength(xml)).toBe(0);
  });
});

/** The XML feeds under test/fixtures/feeds and test/fixtures/fidelity, as text. */
function fixtureFeeds(): string[] {
  const root = join(import.meta.dirname, '../fixtures');
  return ['feeds', 'fidelity'].flatMap((folder) =>
    readdirSync(join(root, folder))
      .filter((name) => /\.(?:rss|atom|xml|rdf)$/.test(name))
      .map((name) => readFileSync(join(root, folder, name), 'latin1')),
  );
}
