import { describe, expect, it } from 'vitest';
import { buildOpml } from '../src/opml/opml-xml.js';
import { renderFeed } from '../src/render/render-feed.js';
import { escapeAttribute, escapeHtml, escapeText, escapeXml, stripXmlInvalid } from '../src/text.js';

// XML 1.0 §2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
const LONE_HIGH = '\ud83c';
const LONE_LOW = '\udf89';
const PAIR = '\ud83c\udf89'; // 🎉

describe('stripXmlInvalid', () => {
  it.each([
    ['C0 controls but tab, LF and CR', 'a\u0000b\u0008c\u000bd\u000ce\u001ff', 'abcdef'],
    ['tab, LF and CR kept', 'a\tb\nc\rd', 'a\tb\nc\rd'],
    ['U+FFFE and U+FFFF', 'a\ufffeb\uffffc', 'abc'],
    ['a lone high surrogate', `a${LONE_HIGH}b`, 'ab'],
    ['a lone low surrogate', `a${LONE_LOW}b`, 'ab'],
    ['a high surrogate at the end', `ab${LONE_HIGH}`, 'ab'],
    ['two high surrogates then a low: the first is lone', `${LONE_HIGH}${PAIR}`, PAIR],
    ['a pair kept', `a${PAIR}b`, `a${PAIR}b`],
    ['U+FFFD and astral text kept', '\ufffd 日本語 𝄞', '\ufffd 日本語 𝄞'],
  ])('%s', (_name, input, expected) => {
    expect(stripXmlInvalid(input)).toBe(expected);
  });
});

// The OPML writer and the feed renderer used two copies of this rule, and only the renderer's
// dropped lone surrogates (the OPML export wrote them, and UTF-8 encoding turned them into U+FFFD).
describe('every XML writer drops what XML cannot carry, the same way', () => {
  const title = `Fish ${LONE_HIGH}and${LONE_LOW} chips\u0001 ${PAIR}`;
  const expected = `Fish and chips ${PAIR}`;

  it('the OPML export', () => {
    const opml = buildOpml({
      title,
      dateCreated: new Date(0),
      outlines: [{ title, xmlUrl: 'https://example.org/feed', htmlUrl: 'https://example.org/' }],
    });
    expect(opml).toContain(`<title>${expected}</title>`);
    expect(opml).toContain(`text="${expected}"`);
    expect(/[\ud800-\udfff]/.test(opml.replaceAll(PAIR, ''))).toBe(false);
  });

  it.each(['atom', 'rss'] as const)('the %s renderer', (format) => {
    const { body } = renderFeed(format, {
      id: 'urn:uuid:5f0b1f2e-8c4a-4d7e-9b1a-6c3d2e4f5a60',
      title,
      selfUrl: `https://proxy.example/f/x.${format}`,
      alternateUrls: {
        atom: 'https://proxy.example/f/x.atom',
        rss: 'https://proxy.example/f/x.rss',
        json: 'https://proxy.example/f/x.json',
      },
      updated: new Date(0),
      generator: 'test',
      entries: [],
    });
    expect(body).toContain(expected);
    expect(/[\ud800-\udfff]/.test(body.replaceAll(PAIR, ''))).toBe(false);
  });
});

describe('escaping', () => {
  const text = `Tom & "Jerry" <b>'s</b>`;
  it.each([
    ['escapeText: element text, quotes left', escapeText, 'Tom &amp; "Jerry" &lt;b&gt;\'s&lt;/b&gt;'],
    ['escapeXml: text or a double-quoted attribute', escapeXml, "Tom &amp; &quot;Jerry&quot; &lt;b&gt;'s&lt;/b&gt;"],
    ['escapeAttribute: a double-quoted XML attribute, > left', escapeAttribute, "Tom &amp; &quot;Jerry&quot; &lt;b>'s&lt;/b>"],
    ['escapeHtml: text or an attribute in either quotes', escapeHtml, 'Tom &amp; &quot;Jerry&quot; &lt;b&gt;&#39;s&lt;/b&gt;'],
  ])('%s', (_name, escape, expected) => {
    expect(escape(text)).toBe(expected);
  });
});
