// The links every published feed carries (rel=self, the WebSub hub, the browser's stylesheet) and the
// source facet of merged entries, format by format. The goldens hold all of them at once; these
// tables say which bytes each format must (and must not) write, and read them back with a real parser.
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { renderFeed, type RenderEntry, type RenderFormat, type RenderInput } from '../../src/render/render-feed.js';
import { ENTRIES, FEED_URLS, fixtureInput, STYLESHEET_URL } from './fixture.js';

const DECLARATION = '<?xml version="1.0" encoding="utf-8"?>';
const STYLESHEET_PI = '<?xml-stylesheet type="text/xsl" href="http://127.0.0.1:8080/feed.xsl?v=1&amp;x=%22y%22"?>';

const render = (format: RenderFormat, changes: Partial<RenderInput> = {}): string =>
  renderFeed(format, { ...fixtureInput(format), ...changes }).body;
const entry = (source: RenderEntry['source']): RenderEntry => ({ ...(ENTRIES[1] as RenderEntry), source });
const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, trimValues: false });

describe('self and hub links', () => {
  it.each([
    ['atom', `<link rel="self" href="${FEED_URLS.atom}"/>`, '<link rel="hub" href="https://hub.example.org/websub?a=1&amp;b=2"/>'],
    [
      'rss',
      `<atom:link href="${FEED_URLS.rss}" rel="self" type="application/rss+xml"/>`,
      '<atom:link href="https://hub.example.org/websub?a=1&amp;b=2" rel="hub"/>',
    ],
    [
      'json',
      `"feed_url": "${FEED_URLS.json}"`,
      '"hubs": [\n    {\n      "type": "WebSub",\n      "url": "https://hub.example.org/websub?a=1&b=2"\n    }\n  ]',
    ],
  ] as const)('%s names itself and the hub', (format, self, hub) => {
    const body = render(format);
    expect(body).toContain(self);
    expect(body).toContain(hub);
  });

  it.each(['atom', 'rss', 'json'] as const)('%s names no hub when none is given, or one that is not http(s)', (format) => {
    for (const hubUrl of [undefined, 'javascript:alert(1)']) {
      const body = render(format, { hubUrl });
      expect(body).not.toMatch(/rel="hub"|"hubs"/);
      expect(body).not.toContain('javascript:');
    }
  });
});

describe('the xml-stylesheet instruction', () => {
  it.each(['atom', 'rss'] as const)('%s starts with it, right after the XML declaration', (format) => {
    expect(render(format).startsWith(`${DECLARATION}\n${STYLESHEET_PI}\n<`)).toBe(true);
    expect(render(format).split('xml-stylesheet')).toHaveLength(2);
  });

  it.each(['atom', 'rss'] as const)('%s has none without a stylesheet URL, or with one that is not http(s)', (format) => {
    for (const stylesheetUrl of [undefined, 'javascript:alert(1)', 'not a url']) {
      const body = render(format, { stylesheetUrl });
      expect(body.startsWith(`${DECLARATION}\n<`)).toBe(true);
      expect(body).not.toContain('xml-stylesheet');
    }
  });

  it('stays out of JSON Feed', () => {
    expect(render('json')).not.toContain('feed.xsl');
    expect(render('json')).toBe(render('json', { stylesheetUrl: undefined }));
  });

  it('keeps its href inside the instruction whatever the URL holds', () => {
    const body = render('atom', { stylesheetUrl: 'http://x.test/a?b=?>"<c>&d' });
    expect(body).toContain('<?xml-stylesheet type="text/xsl" href="http://x.test/a?b=?%3E%22%3Cc%3E&amp;d"?>');
  });

  it('is the only difference it makes', () => {
    expect(render('atom').replace(`${STYLESHEET_PI}\n`, '')).toBe(render('atom', { stylesheetUrl: undefined }));
    expect(render('rss').replace(`${STYLESHEET_PI}\n`, '')).toBe(render('rss', { stylesheetUrl: undefined }));
    expect(STYLESHEET_URL).toContain('feed.xsl');
  });
});

describe('the source facet', () => {
  const HOSTILE = { title: 'A & B <script>alert(1)</script> ]]> "q"', url: 'https://news.example/?a=1&b="2"' };

  it('Atom: an atom:source with the title as text and the home page as alternate link', () => {
    const body = render('atom', { entries: [entry(HOSTILE)] });
    expect(body).toContain(
      '<source><title>A &amp; B &lt;script&gt;alert(1)&lt;/script&gt; ]]&gt; &quot;q&quot;</title><link rel="alternate" href="https://news.example/?a=1&amp;b=%222%22"/></source>',
    );
    const parsed = xml.parse(body).feed.entry;
    expect(parsed.source.title).toBe(HOSTILE.title);
    expect(parsed.source.link['@href']).toBe('https://news.example/?a=1&b=%222%22');
  });

  it('RSS: <source url> when the source has a home page, nothing without one (url is required)', () => {
    const named = render('rss', { entries: [entry(HOSTILE)] });
    const item = xml.parse(named).rss.channel.item;
    // A name in RSS has its markup escaped (render-feed.ts rssName): no tag forms in a reader rendering HTML.
    expect(item.source['#text']).toBe('A & B &lt;script&gt;alert(1)&lt;/script&gt; ]]&gt; "q"');
    expect(item.source['@url']).toBe('https://news.example/?a=1&b=%222%22');
    expect(render('rss', { entries: [entry({ title: 'No home' })] })).not.toContain('<source');
  });

  it('JSON Feed: the _feedproxy.source extension, url only when there is one', () => {
    const items = (body: string) => (JSON.parse(body) as { items: Array<Record<string, unknown>> }).items;
    expect(items(render('json', { entries: [entry(HOSTILE)] }))[0]?._feedproxy).toEqual({
      source: { title: HOSTILE.title, url: 'https://news.example/?a=1&b=%222%22' },
    });
    expect(items(render('json', { entries: [entry({ title: 'No home' })] }))[0]?._feedproxy).toEqual({ source: { title: 'No home' } });
  });

  it.each(['atom', 'rss', 'json'] as const)('%s: no facet without a source, with an empty title, or for a non-http(s) url', (format) => {
    const plain = render(format, { entries: [entry(undefined)] });
    expect(plain).not.toMatch(/<source|_feedproxy/);
    expect(render(format, { entries: [entry({ title: ' \u0007 ', url: 'https://x.example/' })] })).toBe(plain);
    const scriptUrl = render(format, { entries: [entry({ title: 'T', url: 'javascript:alert(1)' })] });
    expect(scriptUrl).not.toContain('javascript:');
    if (format === 'rss') expect(scriptUrl).toBe(plain);
  });
});
