// The repairs' cheap paths: the counts and checks that run on every 200 before the parse.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  countEntryTags,
  withItemBodies,
  withItemFieldsRepaired,
  withPersonMarkupAsText,
  withRssPrefixDropped,
} from '../../src/parse/repair-xml.js';

describe('countEntryTags', () => {
  it.each([
    ['rss', '<rss><channel><item>a</item><x:item>b</x:item><items/></channel></rss>', 2],
    ['rss', '<rss><channel><item>a</item><!-- <item>old</item> --><item><![CDATA[<item>]]></item></channel></rss>', 2],
    // An unclosed comment hides nothing: the parser reads on, so the count does too.
    ['atom', '<feed><entry>a</entry><!-- <entry>b</entry><entry>c</entry></feed>', 3],
    ['atom', '<feed><![CDATA[ <!-- ]]><entry>a</entry> --></feed>', 1],
    ['atom', '<feed><entry>a</entry></feed>', 1],
    ['rss', '<feed><entry>a</entry></feed>', 0],
    ['rdf', '', 0],
  ] as const)('%s %s → %i', (format, xml, count) => {
    expect(countEntryTags(xml, format)).toBe(count);
    // Twice in a row: the shared pattern starts over each time.
    expect(countEntryTags(xml, format)).toBe(count);
  });
});

describe('withRssPrefixDropped', () => {
  it('drops the prefix of RSS in the UserLand namespace, and leaves a document without `:rss` as it is', () => {
    const prefixed = '<r:rss xmlns:r="http://backend.userland.com/rss2"><r:channel><r:item/></r:channel></r:rss>';
    expect(withRssPrefixDropped(prefixed)).toBe('<rss xmlns:r="http://backend.userland.com/rss2"><channel><item/></channel></rss>');
    const plain = '<rss><channel><item/></channel></rss>';
    expect(withRssPrefixDropped(plain)).toBe(plain);
  });
});

describe('withItemFieldsRepaired', () => {
  const bothRepairs = (xml: string) => withPersonMarkupAsText(withItemBodies(xml));
  const channel = (fields: string) => `<rss><channel><title>t</title>${fields}<item><title>i</title></item></channel></rss>`;
  const item = (fields: string) => channel(`<item><title>i</title>${fields}</item>`);

  // Its one scan must find what either repair finds: a start tag of each name, in any case, prefixed or not.
  it.each([
    ['<body>', item('<body><p>Full <b>text</b></p></body>')],
    ['<Body> in capitals', item('<Body><p>Full text</p></Body>')],
    ['a prefixed XHTML <body>', item('<x:body xmlns:x="http://www.w3.org/1999/xhtml"><x:p>Full</x:p></x:body>')],
    ['<fullitem>', item('<fullitem>&lt;p&gt;Full&lt;/p&gt;</fullitem>')],
    ['<FullItem> with an attribute', item('<FullItem lang="en">&lt;p&gt;Full&lt;/p&gt;</FullItem>')],
    ['<author> holding HTML', item('<author><b>Jo</b> (jo@example.com)</author>')],
    ['<Author> holding escaped HTML', item('<Author>&lt;p&gt;Jo&lt;/p&gt;</Author>')],
    ['<managingEditor> in CDATA', channel('<managingEditor><![CDATA[<i>Ed</i>]]></managingEditor>')],
    ['<WEBMASTER> with attributes', channel('<WEBMASTER x="1"><em>Wm</em></WEBMASTER>')],
    ['a person field past the longest name', item(`<author>${'a (b '.repeat(300)}</author>`)],
  ])('%s: repaired as by both repairs', (_, xml) => {
    expect(bothRepairs(xml)).not.toBe(xml);
    expect(withItemFieldsRepaired(xml)).toBe(bothRepairs(xml));
  });

  it('every fixture feed reads as after both repairs', () => {
    const root = join(import.meta.dirname, '../fixtures');
    const feeds = ['feeds', 'fidelity'].flatMap((folder) =>
      readdirSync(join(root, folder))
        .filter((name) => /\.(?:rss|atom|xml|rdf)$/.test(name))
        .map((name) => readFileSync(join(root, folder, name), 'utf8')),
    );
    expect(feeds.length).toBeGreaterThan(20);
    for (const xml of feeds) expect(withItemFieldsRepaired(xml)).toBe(bothRepairs(xml));
  });
});
