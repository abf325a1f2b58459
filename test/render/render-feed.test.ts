// Golden files for the renderer, checked by the W3C feed validator when it is at hand.
// UPDATE_GOLDEN=1 npx vitest run test/render rewrites the goldens from the current output.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { renderFeed, renderFeeds, type RenderFormat } from '../../src/render/render-feed.js';
import { stripXmlInvalid } from '../../src/text.js';
import { ENTRIES, FEED_URLS, fixtureInput } from './fixture.js';

const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const FORMATS: RenderFormat[] = ['atom', 'rss', 'json'];
const goldenPath = (format: RenderFormat): string => join(GOLDEN_DIR, `merged.${format}`);
const golden = (format: RenderFormat): string => readFileSync(goldenPath(format), 'utf8');

const FEEDVALIDATOR = process.env.FEEDVALIDATOR ?? '/tmp/fv';
// The validator also needs Debian's python3-html5lib; without it demo.py dies on import.
const hasValidator =
  existsSync(join(FEEDVALIDATOR, 'src/demo.py')) &&
  existsSync('/usr/bin/python3') &&
  spawnSync('/usr/bin/python3', ['-c', 'import html5lib'], { timeout: 30_000 }).status === 0;

const scratch = mkdtempSync(join(tmpdir(), 'feedproxy-render-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('renderFeed golden files', () => {
  it.each(FORMATS)('%s matches its golden file', (format) => {
    const { body } = renderFeed(format, fixtureInput(format));
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(goldenPath(format), body);
    expect(body).toBe(golden(format));
  });

  it.each(FORMATS)('%s is byte-for-byte the same on every render', (format) => {
    const first = renderFeed(format, fixtureInput(format)).body;
    const second = renderFeed(format, structuredClone(fixtureInput(format))).body;
    expect(second).toBe(first);
  });

  it('renders every format at once (renderFeeds, what a rebuild calls) byte for byte as one at a time', () => {
    const { selfUrl: _selfUrl, ...input } = fixtureInput('atom');
    const all = renderFeeds(FORMATS, input);
    for (const format of FORMATS) {
      expect(all[format]).toEqual(renderFeed(format, fixtureInput(format)));
      expect(all[format].body).toBe(golden(format));
    }
  });

  it('answers with the content type of each format', () => {
    expect(renderFeed('atom', fixtureInput('atom')).contentType).toBe('application/atom+xml; charset=utf-8');
    expect(renderFeed('rss', fixtureInput('rss')).contentType).toBe('application/rss+xml; charset=utf-8');
    expect(renderFeed('json', fixtureInput('json')).contentType).toBe('application/feed+json; charset=utf-8');
  });
});

describe.skipIf(!hasValidator)(`W3C feed validator (${FEEDVALIDATOR}/src/demo.py)`, () => {
  const validate = (file: string) =>
    spawnSync('/usr/bin/python3', ['demo.py', file, 'A'], { cwd: join(FEEDVALIDATOR, 'src'), encoding: 'utf8', timeout: 60_000 });

  it.each(['atom', 'rss'] as const)('finds no error in the %s golden', (format) => {
    const result = validate(goldenPath(format));
    expect(result.stdout).toContain('No errors or warnings');
    expect(result.status).toBe(0);
  });

  it.each(['atom', 'rss'] as const)('finds no error in an empty %s feed', (format) => {
    const file = join(scratch, `empty.${format}`);
    writeFileSync(file, renderFeed(format, fixtureInput(format, [])).body);
    const result = validate(file);
    expect(result.stdout).toContain('No errors or warnings');
    expect(result.status).toBe(0);
  });

  it('does report errors, so the checks above can fail', () => {
    const file = join(scratch, 'broken.atom');
    const broken = renderFeed('atom', fixtureInput('atom')).body.replace('<id>tag:example.org,2024:post-1</id>', '<id>12345</id>');
    writeFileSync(file, broken);
    expect(validate(file).status).toBe(1);
  });
});
if (!hasValidator) {
  describe('W3C feed validator', () => {
    it.skip(`skipped: clone github:w3c/feedvalidator to ${FEEDVALIDATOR} (and apt-get install python3-html5lib) to run it`, () => {});
  });
}

describe('JSON Feed 1.1', () => {
  type JsonFeed = Record<string, unknown> & { items: Record<string, unknown>[] };
  const parsedGolden = (): JsonFeed => JSON.parse(golden('json')) as JsonFeed;

  it('carries the 1.1 version and feed fields', () => {
    const feed = parsedGolden();
    expect(feed.version).toBe('https://jsonfeed.org/version/1.1');
    expect(feed.title).toBe('Merged & filtered');
    expect(feed.feed_url).toBe(FEED_URLS.json);
    expect(feed.home_page_url).toBe('https://example.org/');
    expect(feed.hubs).toEqual([{ type: 'WebSub', url: 'https://hub.example.org/websub?a=1&b=2' }]);
    expect(feed).not.toHaveProperty('author');
  });

  it('gives every item an id, a content and dates in RFC 3339', () => {
    const feed = parsedGolden();
    expect(feed.items).toHaveLength(ENTRIES.length);
    for (const item of feed.items) {
      expect(typeof item.id).toBe('string');
      expect(typeof item.content_html).toBe('string');
      expect(item.date_modified).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(item.date_published).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(item).not.toHaveProperty('author');
    }
  });

  it('writes authors as arrays, categories as tags, enclosures as attachments, summary as plain text', () => {
    const [first, , podcast] = parsedGolden().items;
    expect(first).toMatchObject({
      id: 'tag:example.org,2024:post-1',
      url: 'https://example.org/posts/1?a=1&b=2',
      title: 'Ünïcode — 日本語 🎉 & <not a tag>',
      summary: 'Fish & chips',
      date_published: '2024-03-01T10:00:00.000Z',
      date_modified: '2024-03-02T07:30:00.000Z',
      authors: [{ name: 'Ada Lovelace', url: 'https://example.org/ada' }, { name: 'Tom & Jerry' }],
      tags: ['news', 'C&C', 'Literal &amp; entity'],
    });
    expect(first?.content_html).toContain('x ]]> y ]]> z &amp; done');
    expect(podcast?.attachments).toEqual([
      { url: 'https://cdn.example.net/ep7.mp3?sig=a&exp=1', mime_type: 'audio/mpeg', size_in_bytes: 12345678 },
      { url: 'https://cdn.example.net/ep7-transcript', mime_type: 'application/octet-stream' },
    ]);
  });

  it('dates an entry that carries no date by when it was first seen', () => {
    const undated = parsedGolden().items.find((item) => item.title === 'Only first seen');
    expect(undated).toMatchObject({ date_published: '2024-02-25T00:00:00.000Z', date_modified: '2024-02-25T00:00:00.000Z' });
  });
});

/** The text of XML content made of CDATA sections, as an XML parser reads it. */
function cdataText(xml: string): string {
  return xml.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1');
}

function elementsOf(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}(?: [^>]*)?>([\\s\\S]*?)</${name}>`, 'g'))].map((match) => match[1] ?? '');
}

describe('Atom', () => {
  it('keeps URI ids and replaces the others with stable, distinct urn:uuid ids', () => {
    const atom = golden('atom');
    const ids = elementsOf(atom, 'id');
    expect(ids[0]).toBe('urn:feedproxy:feed:f1');
    expect(ids).toContain('tag:example.org,2024:post-1');
    expect(ids).toContain('https://podcast.example.net/episodes/7');
    const derived = ids.filter((id) => id.startsWith('urn:uuid:'));
    // "12345" twice (two sources) and the id with spaces.
    expect(derived).toHaveLength(3);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of derived) expect(id).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('keeps an entry its derived id when the other entries change', () => {
    const atom = golden('atom');
    const alone = renderFeed('atom', fixtureInput('atom', [ENTRIES[1] as CachedEntry])).body;
    expect(elementsOf(alone, 'id')[1]).toBe(elementsOf(atom, 'id')[2]);
  });

  it('round-trips content holding ]]> and & through CDATA', () => {
    const atom = golden('atom');
    expect(cdataText(elementsOf(atom, 'content')[0] ?? '')).toBe(ENTRIES[0]?.content);
  });

  it('escapes &, < and " in attribute values that are not URLs, and reads them back', () => {
    const [category, type] = ['a < b > c "d" & &amp; e', 'audio/mpeg; x="<&>"'];
    const entry: CachedEntry = {
      ...(ENTRIES[2] as CachedEntry),
      categories: [category],
      enclosures: [{ url: 'https://cdn.example.net/x', type }],
    };
    const body = renderFeed('atom', fixtureInput('atom', [entry])).body;
    expect(body).toContain('<category term="a &lt; b > c &quot;d&quot; &amp; &amp;amp; e"/>');
    expect(body).toContain('<link rel="enclosure" href="https://cdn.example.net/x" type="audio/mpeg; x=&quot;&lt;&amp;>&quot;"/>');
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' }).parse(body).feed.entry;
    expect(parsed.category['@term']).toBe(category);
    expect(parsed.link.find((link: Record<string, string>) => link['@rel'] === 'enclosure')['@type']).toBe(type);
  });

  it('writes enclosures with their own type and length, escaped', () => {
    const atom = golden('atom');
    expect(atom).toContain(
      '<link rel="enclosure" href="https://cdn.example.net/ep7.mp3?sig=a&amp;exp=1" type="audio/mpeg" length="12345678"/>',
    );
    expect(atom).toContain('<link rel="enclosure" href="https://cdn.example.net/ep7-transcript"/>');
    expect(atom).not.toContain('\u0001');
  });
});

describe('RSS', () => {
  const rss = (): string => golden('rss');

  it('links to itself with atom:link rel="self"', () => {
    expect(rss()).toContain(`<atom:link href="${FEED_URLS.rss}" rel="self" type="application/rss+xml"/>`);
    expect(rss()).toMatch(/<rss [^>]*xmlns:atom="http:\/\/www.w3.org\/2005\/Atom"/);
  });

  it('marks a guid as a permalink only when it is the entry link', () => {
    expect(rss()).toContain('<guid isPermaLink="true">https://podcast.example.net/episodes/7</guid>');
    expect(rss()).toContain('<guid isPermaLink="false">tag:example.org,2024:post-1</guid>');
    expect(rss().match(/isPermaLink="true"/g)).toHaveLength(1);
  });

  it('writes RFC 822 dates', () => {
    for (const date of [...elementsOf(rss(), 'pubDate'), ...elementsOf(rss(), 'lastBuildDate')]) {
      expect(date).toMatch(
        /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/,
      );
    }
  });

  it('round-trips a plain-text title holding ]]> twice (rssText: a `>` is no markup)', () => {
    expect(cdataText(elementsOf(rss(), 'title')[2] ?? '')).toBe(ENTRIES[1]?.title);
  });

  it("escapes an enclosure's type like every attribute value (feed wrote `&` and `<` raw: not well-formed XML)", () => {
    const type = 'audio/x&y; q="<"';
    const entry: CachedEntry = { ...(ENTRIES[2] as CachedEntry), enclosures: [{ url: 'https://cdn.example.net/x', type }] };
    const body = renderFeed('rss', fixtureInput('rss', [entry])).body;
    expect(body).toContain('<enclosure length="0" type="audio/x&amp;y; q=&quot;&lt;&quot;" url="https://cdn.example.net/x"/>');
    expect(new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' }).parse(body).rss.channel.item.enclosure['@type']).toBe(type);
  });

  it("keeps characters XML cannot carry out of an enclosure's type (a quoted parameter may hold any)", () => {
    for (const type of ['audio/mpeg; x="\u0001"', 'audio/mpeg; x="\uffff"']) {
      const entry: CachedEntry = { ...(ENTRIES[2] as CachedEntry), enclosures: [{ url: 'https://cdn.example.net/x', type }] };
      for (const format of FORMATS) {
        const { body } = renderFeed(format, fixtureInput(format, [entry]));
        expect(body, `${format}, ${JSON.stringify(type)}`).toContain('audio/mpeg; x=');
        expect(stripXmlInvalid(body), `${format}, ${JSON.stringify(type)}`).toBe(body);
      }
    }
  });

  it("writes the channel's itunes:explicit only for a boolean", () => {
    const input = fixtureInput('rss');
    expect(renderFeed('rss', { ...input, explicit: false }).body).toContain('<itunes:explicit>false</itunes:explicit>');
    const body = renderFeed('rss', { ...input, explicit: 'yes & <no>' as unknown as boolean }).body;
    expect(body).not.toContain('itunes:explicit');
  });

  it('names authors in dc:creator and declares the prefix even without content:encoded', () => {
    const entry = { ...(ENTRIES[0] as CachedEntry), content: undefined };
    const body = renderFeed('rss', fixtureInput('rss', [entry])).body;
    expect(body).not.toContain('content:encoded');
    expect(body).toContain('<dc:creator>Ada Lovelace</dc:creator>');
    expect(body).toMatch(/<rss [^>]*xmlns:dc="http:\/\/purl.org\/dc\/elements\/1.1\/"/);
  });
});

describe('text that XML cannot carry', () => {
  it.each(FORMATS)('is stripped from the %s output', (format) => {
    const entry: CachedEntry = {
      id: 'urn:x-test:1',
      sourceId: 's',
      title: 'bell\u0007 form\u000c feed\uffff',
      content: '<p>nul\u0000 lone\ud800 surrogate, kept 😀</p>',
      authors: [],
      categories: [],
      enclosures: [],
      firstSeenAt: '2024-01-01T00:00:00Z',
    };
    const { body } = renderFeed(format, fixtureInput(format, [entry]));
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    expect(body).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/);
    expect(body).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    expect(body).toContain('😀');
    expect(body).toContain('bell form feed');
  });
});
