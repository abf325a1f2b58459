// The repairs' cheap paths: the counts and checks that run on every 200 before the parse.
import { describe, expect, it } from 'vitest';
import { countEntryTags, withRssPrefixDropped } from '../../src/parse/repair-xml.js';

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
