// Documents on which the reading once took time quadratic (or worse) in their size: many unclosed
// comments, instructions or CDATA sections (the entry count and the tag balancing), many
// `mode="base64"` in one tag (cubic), an RSS author of many unclosed brackets (the parser's person
// reading), HTML whose close tags never match (the sanitiser's element stack). Each is a megabyte or
// more; before the change each held the event loop for minutes (bench/diagnoses.md, section 3). No
// time is asserted: each test shows the document is read, and what the reading keeps.
import { describe, expect, it } from 'vitest';
import { parseFeed } from '../../src/parse/parse-feed.js';
import { htmlToText, sanitizeHtml } from '../../src/parse/sanitize-html.js';

const BASE = 'https://example.com/feed?feed_token=s3cret';
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const rss = (body: string) =>
  `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://example.com/</link>` +
  `<item><guid>first</guid><title>first</title></item>${body}</channel></rss>`;
const atom = (body: string) =>
  `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id><updated>2024-01-01T00:00:00Z</updated>` +
  `<entry><id>urn:first</id><title>first</title><updated>2024-01-01T00:00:00Z</updated></entry>${body}</feed>`;

describe('documents of many unclosed constructs', () => {
  it.each([
    ['<!--', rss],
    ['<![CDATA[', rss],
    ['<?x ', rss],
    ['<!-- >', atom],
    ['<x:rss ', rss],
    ['<author x', rss],
  ])('%s repeated 250,000 times: read, and the entry before them kept or the document refused as malformed', (unit, wrap) => {
    const xml = wrap(unit.repeat(250_000));
    expect(xml.length).toBeGreaterThan(1_000_000);
    let ids: string[];
    try {
      ids = parseFeed(xml, { baseUrl: BASE }).entries.map((entry) => entry.id);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('FP_NOT_A_FEED');
      return;
    }
    expect(ids.length).toBeGreaterThan(0);
  });

  it('an Atom entry with 100,000 ` mode="base64"` in its content tag is read', () => {
    const entry = `<entry><id>urn:b64</id><title>b64</title><updated>2024-01-01T00:00:00Z</updated><content${' mode="base64"'.repeat(100_000)}>aGVsbG8=</content></entry>`;
    const titles = parseFeed(atom(entry), { baseUrl: BASE }).entries.map((e) => e.title);
    expect(titles).toEqual(['first', 'b64']);
  });

  it('an element decoded from base64 still is (the repair keeps its reading)', () => {
    const entry = `<entry><id>urn:b64</id><title>b64</title><updated>2024-01-01T00:00:00Z</updated><content type="text/plain" mode="base64">aGVsbG8gd29ybGQ=</content></entry>`;
    const decoded = parseFeed(atom(entry), { baseUrl: BASE }).entries.find((e) => e.title === 'b64');
    expect(decoded?.content ?? decoded?.summary ?? '').toContain('hello world');
  });
});

describe('an RSS author of a megabyte', () => {
  it.each(['<', ' (', '['])('of %j repeated: the item is read with the author cut to its first 1,024 characters', (unit) => {
    const xml = rss(`<item><guid>long</guid><title>long</title><author>${escapeXml(`Jo ${unit.repeat(400_000)}`)}</author></item>`);
    const item = parseFeed(xml, { baseUrl: BASE }).entries.find((entry) => entry.title === 'long');
    expect(item).toBeDefined();
    const name = item!.authors.map((author) => author.name ?? '').join('');
    expect(name.startsWith('Jo')).toBe(true);
    // The parser reads each unclosed bracket as a part of the name and joins the parts with spaces:
    // at most two characters for each of the 1,024 kept.
    expect(name.length).toBeLessThanOrEqual(2 * 1024);
  });

  it('a name with its address, under the cut, is read as before', () => {
    const xml = rss('<item><guid>a</guid><title>a</title><author>jo@example.com (Jo Doe)</author></item>');
    const [, item] = parseFeed(xml, { baseUrl: BASE }).entries;
    expect(item?.authors).toEqual([expect.objectContaining({ name: 'Jo Doe', email: 'jo@example.com' })]);
  });
});

describe("HTML that would take the sanitiser's parser deep", () => {
  // Each opens elements the parser keeps open: close tags that match none of them (<a></b>), names
  // the parser reads whole (<a.b> is not <a>), a `<` inside a quoted attribute, `/>` outside SVG
  // and MathML (in HTML `<div/>` opens a div), and inside their text integration points.
  it.each([
    ['<a></b>', '<a></b>'.repeat(150_000)],
    ['<a.b></a>', '<a.b></a>'.repeat(150_000)],
    ['<b x="<">', '<b x="<">'.repeat(150_000)],
    ['<div/>', '<div/>'.repeat(150_000)],
    ['<math><mi> then <a/>', `<math><mi>${'<a/>'.repeat(150_000)}`],
    ['<svg></title> then <div/>', `<svg></title>${'<div/>'.repeat(150_000)}`],
    ['<svg> then <svg/>', `<svg>${'<svg/>'.repeat(150_000)}`],
  ])('%s: the fragment, text and all, is dropped whole', (_name, markup) => {
    const html = `<p>text before</p>${markup}<p>text after</p>`;
    expect(sanitizeHtml(html, BASE)).toBe('');
    expect(htmlToText(html)).toBe('');
  });

  it('close tags that close the elements above them keep the fragment', () => {
    // `</b>` closes the <i> inside it too: the parser's stack stays shallow, so nothing is dropped.
    const html = '<b><i>x</b>'.repeat(10_000);
    expect(sanitizeHtml(html, BASE)).toContain('<b><i>x</i></b>');
    // Paragraphs and list items left open close each other: a long old-style page is kept.
    expect(htmlToText(`${'<p>para'.repeat(5_000)}${'<li>item'.repeat(5_000)}`)).toContain('para para');
    // <hr> and <input> close what they imply, though they hold nothing themselves.
    expect(htmlToText('<p>x<hr><span>y</span>'.repeat(5_000))).toContain('x y');
    expect(htmlToText('<button>b<input>'.repeat(5_000))).toBe('b'.repeat(5_000));
    // A genuinely deep fragment within the budget is kept.
    expect(htmlToText(`${'<div>'.repeat(2_000)}deep${'</div>'.repeat(2_000)}`)).toBe('deep');
  });
});

// Whether a malformed document was cut off is read from its tail: the reading of comments and
// instructions after the root once had exponentially many ways to fail (each `<?a?>` doubled it: 30
// of them, seconds; 34, minutes). No time is asserted: before the change this test timed out.
describe('a malformed document whose root is followed by many instructions or comments, then text', () => {
  it.each(['<?a?>', '<!---->'])('%s × 34: refused as malformed', (unit) => {
    const xml =
      '<rss version="2.0"><channel><title>t</title><item><title>x</titl e><title>a</title></item></channel></rss>' + unit.repeat(34) + 'x';
    expect(() => parseFeed(xml, { baseUrl: BASE })).toThrow(/malformed XML/);
  });
});

// The parser scans from each `<` to the end of the document for its `>`: a document cut off after
// many of them took time quadratic in their number (64 KB, 4 s). No time is asserted: before the
// change each of these held the event loop for minutes, past the test's timeout.
describe('a document cut off in a text element after many `<` and no `>`', () => {
  it.each([
    ['an RSS title', '<rss version="2.0"><channel><title>t</title><item><title>', '<'],
    ['an RSS description', '<rss version="2.0"><channel><title>t</title><item><description>', '<abc '],
    ['an Atom title', '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><title>', '<'],
  ])('%s: refused as malformed', (_, head, unit) => {
    const xml = head + unit.repeat(300_000);
    expect(() => parseFeed(xml, { baseUrl: BASE })).toThrow(/malformed XML/);
  });

  it.each(['"', "'"])('an RSS title of `<` × 300,000 then one %s, the document whole after it: refused as malformed', (quote) => {
    // The quote puts every later `>` inside it for the parser's reading of each `<`: no cut-off, the
    // same quadratic reading (128 K of them, 15 s), and the feed used to be read with its entry.
    const xml = `<rss version="2.0"><channel><title>t</title><item><guid>g</guid><title>${'<'.repeat(300_000)}${quote}</title></item></channel></rss>`;
    expect(() => parseFeed(xml, { baseUrl: BASE })).toThrow(/malformed XML: tags that never close/);
  });

  it('a large feed whose CDATA holds many `<` then an apostrophe is read: the parser skips CDATA, and so does the count', () => {
    const item = (body: string) => `<item><title>t</title><link>https://example.com/x</link><description>${body}</description></item>`;
    const xml =
      '<rss version="2.0"><channel><title>x</title><link>https://example.com/</link><description>d</description>' +
      item(`<![CDATA[${'a<b '.repeat(50)}isn't it]]>`) +
      Array.from({ length: 2000 }, (_, index) => item(`plain text ${index} `.repeat(20))).join('') +
      '</channel></rss>';
    expect(parseFeed(xml, { baseUrl: BASE }).entries).toHaveLength(2001);
  });

  it('a whole document whose title holds many escaped `<` is still read', () => {
    const xml = rss(`<item><guid>lt</guid><title>${'&lt;'.repeat(100_000)}</title></item>`);
    const item = parseFeed(xml, { baseUrl: BASE }).entries.find((entry) => entry.id === 'lt');
    expect(item?.title?.startsWith('<<<')).toBe(true);
  });
});
