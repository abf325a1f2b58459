// The one XML reader for documents that are not feeds: what it refuses, and the tree it gives.
import { describe, expect, it } from 'vitest';
import { attribute, buildXml, children, createXmlTreeParser, first, textOf, XmlError } from '../../src/xml/xml-tree.js';

const LAUGHS = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><a>&lol2;</a>';
const EXTERNAL = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>';

describe('createXmlTreeParser', () => {
  const parse = createXmlTreeParser({ lowerCaseNames: true, maxDepth: 8 });

  it.each([
    ['an entity bomb', LAUGHS, 'dtd'],
    ['an external entity', EXTERNAL, 'dtd'],
    ['a lone ENTITY declaration', '<a><!ENTITY x "y"></a>', 'dtd'],
    ['text that is not XML', 'hello, world', 'malformed'],
    ['an unclosed element', '<a><b></a>', 'malformed'],
    ['nesting past the bound', `${'<x>'.repeat(20)}${'</x>'.repeat(20)}`, 'too-deep'],
  ])('refuses %s', (_name, text, reason) => {
    expect(() => parse(text)).toThrow(XmlError);
    try {
      parse(text);
    } catch (error) {
      expect((error as XmlError).reason).toBe(reason);
    }
  });

  it('decodes predefined entities and character references, lower-cases names, keeps children as arrays', () => {
    const tree = parse('\uFEFF<?xml version="1.0"?><Root XmlUrl="a?b=1&amp;c=2"><Item>x &lt; y &#233;</Item><Item/></Root>');
    const root = first(tree, 'root')!;
    expect(attribute(root, 'xmlurl')).toBe('a?b=1&c=2');
    expect(children(root, 'item')).toHaveLength(2);
    expect(textOf(first(root, 'item'))).toBe('x < y é');
  });

  it('reads local names when asked (atom:link is link)', () => {
    const tree = createXmlTreeParser({ localNames: true })('<feed xmlns:atom="http://www.w3.org/2005/Atom"><atom:link href="u"/></feed>');
    expect(attribute(first(first(tree, 'feed'), 'link')!, 'href')).toBe('u');
  });
});

describe('buildXml', () => {
  it('escapes what it writes and round-trips through the parser', () => {
    const text = buildXml({ doc: { '@_title': 'a "quoted" <b> & c', item: [{ '#text': '1 < 2' }] } });
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const doc = first(createXmlTreeParser()(text), 'doc')!;
    expect(attribute(doc, 'title')).toBe('a "quoted" <b> & c');
    expect(textOf(first(doc, 'item'))).toBe('1 < 2');
  });
});
