// The browser view through the real app: GET /feed.xsl and /feed.css, the /f/<token> page, and the
// page a browser navigation to an Atom or RSS URL gets while every reader keeps the same bytes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PUBLIC_URL } from '../helpers/app.js';
import { findOnPath } from '../interop/tools.js';
import { CHROMIUM_NAVIGATION, HOSTILE_TITLE, pathOf, publishHostileFeed, type PublishedFixture } from './browser-view-setup.js';

const xsltproc = findOnPath('xsltproc');
const FORMATS = ['atom', 'rss', 'json'] as const;

let f: PublishedFixture;
let scratch: string;
beforeAll(async () => {
  f = await publishHostileFeed();
  scratch = mkdtempSync(join(tmpdir(), 'feedproxy-browser-view-'));
});
afterAll(async () => {
  await f?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const get = (url: string, headers: Record<string, string> = {}) => f.t.app.inject({ method: 'GET', url, headers });

/** The markup a page must never carry, whatever the feed held. */
function expectNoActiveContent(html: string): void {
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/javascript:/i);
  expect(html).not.toMatch(/\son[a-z]+\s*=/i);
  expect(html).not.toMatch(/<(img|iframe|object|embed|b)\b/i);
}

describe('GET /feed.xsl and /feed.css', () => {
  it.each([
    ['/feed.xsl', /^text\/xsl; charset=utf-8$/],
    ['/feed.css', /^text\/css; charset=utf-8$/],
  ])('%s is served with its type, a long cache and a validator', async (path, type) => {
    const response = await get(path);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(type);
    expect(response.headers['cache-control']).toBe('public, max-age=86400');
    const etag = String(response.headers.etag);
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await get(path, { 'if-none-match': `"other", W/${etag}` });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('is a well-formed XSLT 1.0 stylesheet that never turns off output escaping', async () => {
    const xsl = (await get('/feed.xsl')).body;
    expect(XMLValidator.validate(xsl)).toBe(true);
    expect(xsl).toContain('<xsl:stylesheet version="1.0"');
    expect(xsl).not.toContain('disable-output-escaping');
    expect(xsl).not.toMatch(/<script/i);
  });
});

describe('the xml-stylesheet instruction in published feeds', () => {
  it.each(['atom', 'rss'] as const)('%s names our stylesheet right after the XML declaration', async (format) => {
    const body = (await get(pathOf(f.urls[format]))).body;
    expect(
      body.startsWith(`<?xml version="1.0" encoding="utf-8"?>\n<?xml-stylesheet type="text/xsl" href="${PUBLIC_URL}/feed.xsl"?>\n`),
    ).toBe(true);
  });

  it('leaves JSON Feed plain JSON', async () => {
    const body = (await get(pathOf(f.urls.json))).body;
    expect(body).not.toContain('feed.xsl');
    expect(JSON.parse(body).version).toBe('https://jsonfeed.org/version/1.1');
  });
});

describe.skipIf(!xsltproc)('the stylesheet applied by libxslt (xsltproc, Debian package xsltproc)', () => {
  it.each(['atom', 'rss'] as const)(
    'shows the %s feed title, help, URL to copy, other formats and entries — all as text',
    async (format) => {
      const xslFile = join(scratch, 'feed.xsl');
      writeFileSync(xslFile, (await get('/feed.xsl')).body);
      const feedFile = join(scratch, `feed.${format}`);
      writeFileSync(feedFile, (await get(pathOf(f.urls[format]))).body);
      const html = execFileSync(xsltproc!, ['--nonet', '--nowrite', xslFile, feedFile], { encoding: 'utf8', timeout: 30_000 });

      expect(html).toContain('&lt;/title&gt;&lt;script&gt;alert("t")&lt;/script&gt; Tom &amp; \'Jerry\' &lt;b&gt;news&lt;/b&gt;');
      expect(html).toContain('paste its URL into your reader');
      expect(html).toContain(`<input type="text" readonly value="${f.urls[format]}">`);
      const others = FORMATS.filter((other) => other !== format);
      for (const other of others) expect(html).toContain(`href="${f.urls[other]}"`);
      // hostile-html.rss's items (sanitised when parsed, escaped here) and the podcast's episodes.
      expect(html).toContain('>Second &amp; safe</a>');
      expect(html).toContain('<h2>Hello world</h2>');
      expect(html.match(/<article>/g)?.length).toBe(5);
      expectNoActiveContent(html);
    },
  );
});

describe('GET /f/:token, the discovery page', () => {
  it('links the three formats for readers given the bare URL, and shows title, help, URLs and entries', async () => {
    const response = await get(`/f/${f.token}`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    const html = response.body;
    expect(html).toContain(`<link rel="alternate" type="application/atom+xml" title="`);
    for (const [format, type] of [
      ['atom', 'application/atom+xml'],
      ['rss', 'application/rss+xml'],
      ['json', 'application/feed+json'],
    ] as const) {
      expect(html).toMatch(new RegExp(`<link rel="alternate" type="${type.replace('+', '\\+')}" title="[^"]*" href="${f.urls[format]}">`));
      expect(html).toContain(`<input type="text" readonly value="${f.urls[format]}">`);
    }
    expect(html).toContain('<link rel="stylesheet" href="../feed.css">');
    expect(html).toContain('paste one of its URLs into your reader');
    expect(html.match(/<article>/g)?.length).toBe(5);
    expect(html).toContain('from <span class="source">');
  });

  it('escapes a hostile feed title, entry titles and summaries: text only, no markup from feeds', async () => {
    const html = (await get(`/f/${f.token}`)).body;
    const escaped = '&lt;/title&gt;&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; Tom &amp; &#39;Jerry&#39; &lt;b&gt;news&lt;/b&gt;';
    expect(html).toContain(`<h1>${escaped}</h1>`);
    expect(html).toContain(`<title>${escaped} (feed)</title>`);
    expect(html).not.toContain(HOSTILE_TITLE);
    expectNoActiveContent(html);
  });

  it.each([
    ['an unknown token', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a malformed token', '..%2Fsecret'],
    ['a token with an extension', 'AAAAAAAAAAAAAAAAAAAAAA.atom'],
  ])('answers 404 to %s', async (_case, token) => {
    const response = await get(`/f/${token}`);
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ statusCode: 404, error: 'FP_NOT_FOUND' });
  });

  it('shortens the token of a 404 in the logs, as for other public paths', async () => {
    const token = 'Lg9Qw3Zr7Tk2Vn5Xm8Pb4Hs6';
    for (const path of [`/f/${token}`, `/f/${token}.atom`, `/f/${token}/`, `/f/${token}/x.json`]) {
      expect((await get(path)).statusCode, path).toBe(404);
    }
    const logs = f.t.logs.join('\n');
    expect(logs).toContain('"url":"/f/Lg9Qw3…"');
    expect(logs).not.toContain(token.slice(0, 12));
  });

  it('is made once a document: a second request reads no stored document, and an edit of the feed shows at once', async () => {
    const other = await f.t.api(f.apiKey, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Made once', sources: [] } });
    expect(other.statusCode, other.body).toBe(201);
    const token = /\/([\w-]+)\.atom$/.exec(other.json().urls.atom)?.[1];
    const bodyReads = vi.spyOn(f.t.deps.registry, 'getRenderedBody');
    try {
      const first = await get(`/f/${token}`);
      expect(first.body).toContain('Made once');
      // Positive control: the first page read the document.
      expect(bodyReads).toHaveBeenCalled();
      bodyReads.mockClear();
      const second = await get(`/f/${token}`);
      expect(second.body).toBe(first.body);
      expect(bodyReads).not.toHaveBeenCalled();

      const renamed = await f.t.api(f.apiKey, {
        method: 'PATCH',
        url: `/api/v1/feeds/${other.json().id}`,
        payload: { title: 'Renamed once' },
      });
      expect(renamed.statusCode, renamed.body).toBe(200);
      const third = await get(`/f/${token}`);
      expect(third.body).toContain('Renamed once');
      expect(third.body).not.toContain('Made once');
    } finally {
      bodyReads.mockRestore();
    }
  });

  it('answers 404 once the feed URLs are rotated', async () => {
    const other = await f.t.api(f.apiKey, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Rotated', sources: [] } });
    expect(other.statusCode, other.body).toBe(201);
    const token = /\/([\w-]+)\.atom$/.exec(other.json().urls.atom)?.[1];
    expect((await get(`/f/${token}`)).statusCode).toBe(200);
    expect((await get(`/f/${token}`)).body).toContain('No entries yet.');
    const rotated = await f.t.api(f.apiKey, { method: 'POST', url: `/api/v1/feeds/${other.json().id}/rotate` });
    expect(rotated.statusCode).toBe(200);
    expect((await get(`/f/${token}`)).statusCode).toBe(404);
  });
});

describe('a browser navigating to a feed URL', () => {
  it.each(['atom', 'rss'] as const)('gets the feed page at the %s URL, never stored, with Vary', async (format) => {
    const response = await get(pathOf(f.urls[format]), CHROMIUM_NAVIGATION);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('private, no-store');
    expect(String(response.headers.vary)).toMatch(/Accept, Sec-Fetch-Mode/);
    expect(response.headers.etag).toBeUndefined();
    expect(response.body).toContain('<link rel="stylesheet" href="feed.css">');
    expect(response.body).toContain(`<input type="text" readonly value="${f.urls[format]}">`);
    expectNoActiveContent(response.body);
  });

  it('gets plain JSON at the JSON Feed URL', async () => {
    const plain = await get(pathOf(f.urls.json));
    const navigated = await get(pathOf(f.urls.json), CHROMIUM_NAVIGATION);
    expect(navigated.headers['content-type']).toBe('application/feed+json; charset=utf-8');
    expect(navigated.body).toBe(plain.body);
  });

  // Readers must get the same bytes whatever they send: only a browser's own navigation differs.
  const READERS: Array<[string, Record<string, string>]> = [
    ['no headers', {}],
    ['a feed Accept', { accept: 'application/atom+xml, application/rss+xml;q=0.9, */*;q=0.1' }],
    [
      'a browser-like Accept without Fetch Metadata',
      { accept: CHROMIUM_NAVIGATION.accept, 'user-agent': CHROMIUM_NAVIGATION['user-agent'] },
    ],
    ["a web reader's fetch()", { accept: '*/*', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }],
    ['a navigation asking for a feed type', { ...CHROMIUM_NAVIGATION, accept: 'text/html, application/atom+xml, application/rss+xml' }],
    ['a navigation preferring XML', { ...CHROMIUM_NAVIGATION, accept: 'application/xml, text/html' }],
    ['Feedly', { 'user-agent': 'Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; like FeedFetcher-Google)' }],
  ];
  it.each(['atom', 'rss'] as const)('leaves every reader the same %s bytes and type', async (format) => {
    const reference = await get(pathOf(f.urls[format]));
    expect(reference.headers['content-type']).toMatch(/^application\/(atom|rss)\+xml; charset=utf-8$/);
    expect(String(reference.headers.vary)).toContain('Sec-Fetch-Mode');
    for (const [reader, headers] of READERS) {
      const response = await get(pathOf(f.urls[format]), headers);
      expect(response.statusCode, reader).toBe(200);
      expect(response.headers['content-type'], reader).toBe(reference.headers['content-type']);
      expect(response.headers.etag, reader).toBe(reference.headers.etag);
      expect(response.body, reader).toBe(reference.body);
    }
  });
});
