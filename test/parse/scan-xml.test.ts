// The linear scans of parse/scan-xml.ts read what the regular expressions they replace read, token
// for token, on many generated documents full of unclosed comments, CDATA sections, instructions,
// quotes and tags (the inputs on which those expressions took quadratic time).
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countStartTagsOutsideComments, replaceCdataSections, vainTagScanExceeds, xmlTokens } from '../../src/parse/scan-xml.js';

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

describe('vainTagScanExceeds', () => {
  /**
   * What fast-xml-parser reads in vain, by its own walk through a raw element (readStopNodeData): a
   * comment, CDATA section, instruction or close tag jumped over (one never ended stops the parse), a
   * tag read up to its `>` outside quotes and jumped over, or — with none — the rest of the document
   * read for nothing and the walk moved on by one character.
   */
  function readInVain(xml: string): number {
    let wasted = 0;
    for (let at = xml.indexOf('<'); at !== -1;) {
      let end: number;
      if (xml.startsWith('<!--', at)) end = xml.indexOf('-->', at + 3);
      else if (xml.startsWith('<![', at)) end = xml.indexOf(']]>', at);
      else if (xml.startsWith('<?', at)) end = xml.indexOf('?>', at + 1);
      else if (xml.startsWith('</', at)) end = xml.indexOf('>', at);
      else {
        end = -1;
        let quote = '';
        for (let index = at + 1; index < xml.length && end === -1; index += 1) {
          const character = xml[index]!;
          if (quote !== '') quote = character === quote ? '' : quote;
          else if (character === '"' || character === "'") quote = character;
          else if (character === '>') end = index;
        }
        if (end === -1) {
          wasted += xml.length - at;
          at = xml.indexOf('<', at + 1);
          continue;
        }
      }
      if (end === -1) break;
      at = xml.indexOf('<', end + 1);
    }
    return wasted;
  }

  it.each([
    ['a whole document', '<rss><channel><title a="x">T</title><item><title>It\'s "here"</title></item></channel></rss>'],
    ['comments, instructions, CDATA and close tags', '<t><!-- <x --><?p <y ?><![CDATA[ <z " ]]></t><u a="1"/>'],
    [
      '`<` in CDATA, comments and attribute values, and prose with apostrophes',
      '<t><![CDATA[<img alt="x<y"> a<b it\'s]]><!-- <c \' --><a title="p<q">x</a></t>',
    ],
    ['a run cut off', '<t>' + '<'.repeat(50)],
    ['a run before one quote', '<t>' + '<a '.repeat(20) + '"</t><u>x</u>'],
    ["a run before one '", '<t>' + '<'.repeat(20) + "'</t>"],
    ['quotes that close', '<t>< "a>b" > < \'c>\' >'],
    ['`<!` that opens nothing of its own', '<t><!x <!-x</t'],
    ['a CDATA section that never ends, after a run', '<t>' + '<'.repeat(30) + '"<![CDATA[ x'],
    // Longer than one chunk of the scan from the end, with the run across the chunk boundary.
    ['a long document', '<r>' + 'x'.repeat(40_000) + '<'.repeat(10) + '"' + 'y'.repeat(30_000) + '</r>'],
  ])('%s: exceeds exactly what the parser would read in vain', (_, xml) => {
    const wasted = readInVain(xml);
    expect(vainTagScanExceeds(xml, wasted)).toBe(false);
    if (wasted > 0) expect(vainTagScanExceeds(xml, wasted - 1)).toBe(true);
  });

  it('a large feed whose CDATA holds many `<` and an apostrophe is under any limit: the parser skips CDATA', () => {
    // The bound from the end counts those `<` (39 M here, past the 20 M limit parse-feed.ts sets); the
    // parser's walk does not read them at all.
    const item = (body: string) => `<item><title>t</title><description>${body}</description></item>`;
    const xml =
      '<rss version="2.0"><channel><title>x</title>' +
      item(`<![CDATA[${'a<b '.repeat(50)}isn't it]]>`) +
      Array.from({ length: 2000 }, (_, index) => item(`plain text ${index} `.repeat(20))).join('') +
      '</channel></rss>';
    expect(vainTagScanExceeds(xml, 0)).toBe(false);
  });

  it('no fixture feed exceeds 0', () => {
    for (const xml of fixtureFeeds()) expect(vainTagScanExceeds(xml, 0)).toBe(false);
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
