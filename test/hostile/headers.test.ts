// Issue 7, headers: security headers on the HTML pages (docs, OAuth callback), CORS `*` on the
// public feeds (GET/HEAD, preflight included) and never on the API, whatever Origin asks; issue 13:
// each public feed answer carries what it needs (a 304 its validators, a 200 a document's security headers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feedSecurityHeaders } from '../../src/http-security.js';
import { PUBLIC_URL } from '../helpers/app.js';
import { serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';
import { startHostileApp, type HostileApp } from './harness.js';

const ORIGIN = 'https://evil.example';

describe('security headers and CORS', () => {
  let upstream: Upstream;
  let t: HostileApp;
  let key: string;
  let feedPath = '';

  beforeAll(async () => {
    upstream = await startUpstream({ '/feed': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
    t = await startHostileApp({}, { allowPrivate: [upstream.hostPort] });
    key = await t.createUserKey();
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [source.json().id] } });
    feedPath = (feed.json().urls.rss as string).slice(PUBLIC_URL.length);
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it.each(['/docs/', '/oauth/callback', '/oauth/callback?oauth_token=forged'])('%s is an HTML page with security headers', async (url) => {
    const response = await t.app.inject({ method: 'GET', url });
    expect(String(response.headers['content-type'])).toMatch(/^text\/html/);
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("frame-ancestors 'self'");
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(response.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'cross-origin-opener-policy': 'same-origin',
      'referrer-policy': 'no-referrer',
    });
    expect(response.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it.each(['GET', 'HEAD'] as const)('offers the public feed to any origin on %s', async (method) => {
    const response = await t.app.inject({ method, url: feedPath, headers: { origin: ORIGIN } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    expect(response.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  // What each public answer carries (SECURITY.md, "Headers"; docs/subscribing.md). The feed route
  // sets them itself, from memory, so they are checked here against what helmet sends elsewhere.
  /** helmet's headers that mean something on a feed document: same values as on /docs. */
  const FEED_DOCUMENT_HEADERS = [
    'content-security-policy',
    'cross-origin-opener-policy',
    'referrer-policy',
    'x-content-type-options',
    'x-frame-options',
  ];
  /** helmet's headers for HTML pages or for browsers nobody runs, and HSTS on a plain-http URL. */
  const LEFT_OFF_FEEDS = [
    'origin-agent-cluster',
    'x-dns-prefetch-control',
    'x-download-options',
    'x-permitted-cross-domain-policies',
    'x-xss-protection',
    'strict-transport-security',
  ];
  /** RFC 9110 §15.4.5: what a 304 repeats of its 200 (Date comes from Node), plus Last-Modified and CORS. */
  const NOT_MODIFIED_HEADERS = ['etag', 'last-modified', 'cache-control', 'vary', 'access-control-allow-origin'];

  it('sends feed answers (200, HEAD, 404) the security headers of a document, as helmet sends them elsewhere', async () => {
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    // Positive control: /docs carries every one of them, so their absence below is a choice, not a miss.
    for (const name of [...FEED_DOCUMENT_HEADERS, ...LEFT_OFF_FEEDS]) expect(docs.headers[name], name).toBeDefined();
    const ok = await t.app.inject({ method: 'GET', url: feedPath });
    const head = await t.app.inject({ method: 'HEAD', url: feedPath });
    const missing = await t.app.inject({ method: 'GET', url: '/AAAAAAAAAAAAAAAAAAAAAAAA.atom' });
    expect([ok.statusCode, head.statusCode, missing.statusCode]).toEqual([200, 200, 404]);
    for (const response of [ok, head, missing]) {
      for (const name of FEED_DOCUMENT_HEADERS) expect(response.headers[name], name).toBe(docs.headers[name]);
      for (const name of LEFT_OFF_FEEDS) expect(response.headers[name], name).toBeUndefined();
      expect(response.headers['cross-origin-resource-policy']).toBe('cross-origin');
      expect(response.headers['access-control-allow-origin']).toBe('*');
      // The budget's figures are for a refused client (the 429), not for every answer.
      expect(response.headers['x-ratelimit-remaining']).toBeUndefined();
    }
    // HEAD says what GET would send, without the body.
    for (const name of [...NOT_MODIFIED_HEADERS, 'content-type', 'content-length']) expect(head.headers[name], name).toBe(ok.headers[name]);
    expect(head.body).toBe('');
    // ACAO is `*` for every origin: no answer varies with Origin.
    expect(String(ok.headers.vary)).toBe('Sec-Fetch-Mode, Accept-Encoding');
  });

  it('gives the feed page a browser navigation gets, and a path that is no feed URL, the headers of an HTML page', async () => {
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    const page = await t.app.inject({ method: 'GET', url: feedPath, headers: { 'sec-fetch-mode': 'navigate', accept: 'text/html' } });
    const robots = await t.app.inject({ method: 'GET', url: '/robots.txt', headers: { origin: ORIGIN } });
    expect(String(page.headers['content-type'])).toMatch(/^text\/html/);
    expect(robots.statusCode).toBe(404);
    for (const response of [page, robots]) {
      for (const name of [...FEED_DOCUMENT_HEADERS, ...LEFT_OFF_FEEDS]) expect(response.headers[name], name).toBe(docs.headers[name]);
    }
    // Nothing but a feed URL is shared cross-origin.
    expect(robots.headers['access-control-allow-origin']).toBeUndefined();
  });

  it("sends a 304 the headers RFC 9110 asks of it and leaves the security headers to the stored 200's", async () => {
    const ok = await t.app.inject({ method: 'GET', url: feedPath });
    for (const withValidator of [
      { 'if-none-match': String(ok.headers.etag) },
      { 'if-modified-since': String(ok.headers['last-modified']) },
    ]) {
      const notModified = await t.app.inject({ method: 'GET', url: feedPath, headers: { origin: ORIGIN, ...withValidator } });
      expect(notModified.statusCode).toBe(304);
      for (const name of NOT_MODIFIED_HEADERS) expect(notModified.headers[name], name).toBe(ok.headers[name]);
      expect(notModified.headers.date).toBeDefined();
      const extra = Object.keys(notModified.headers).filter(
        (name) => !NOT_MODIFIED_HEADERS.includes(name) && !['date', 'connection', 'keep-alive'].includes(name),
      );
      expect(extra).toEqual([]);
      expect(notModified.body).toBe('');
    }
  });

  it('sends HSTS on feed answers only when the public URL is https', () => {
    expect(feedSecurityHeaders('https://feeds.example')['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(feedSecurityHeaders('http://feeds.example')['strict-transport-security']).toBeUndefined();
    expect(Object.keys(feedSecurityHeaders('https://feeds.example')).sort()).toEqual(
      [...FEED_DOCUMENT_HEADERS, 'cross-origin-resource-policy', 'strict-transport-security'].sort(),
    );
  });

  it('answers a public feed preflight for GET and HEAD only', async () => {
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url: feedPath,
      headers: { origin: ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'if-none-match' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, HEAD');
  });

  it.each([
    ['GET', '/api/v1/sources'],
    ['POST', '/api/v1/feeds'],
    ['GET', '/api/v1/feeds/nope'],
    ['GET', '/openapi.json'],
    ['GET', '/healthz'],
  ] as const)('never offers %s %s to another origin', async (method, url) => {
    const response = await t.api(key, {
      method,
      url,
      headers: { origin: ORIGIN },
      ...(method === 'POST' ? { payload: { title: 'x', sources: [] } } : {}),
    });
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url,
      headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.statusCode).toBe(404);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    // The 404 is a page like any other: the site's security headers (one-segment paths reach it
    // through the feed scope's preflight route).
    expect(preflight.headers['x-content-type-options']).toBe('nosniff');
    expect(preflight.headers['content-security-policy']).toBeDefined();
  });
});
