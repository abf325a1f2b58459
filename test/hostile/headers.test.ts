// Issue 7, headers: security headers on the HTML pages (docs, OAuth callback), CORS `*` on the
// public feeds (GET/HEAD, preflight included) and never on the API, whatever Origin asks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('sends the public feeds, their 304s and 404s the same security headers helmet sends elsewhere', async () => {
    // The feed route skips helmet's hook and sets the headers it computed once: they must not drift.
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    const helmetNames = Object.keys(docs.headers).filter((name) =>
      /^(content-security-policy|cross-origin-opener-policy|origin-agent-cluster|referrer-policy|strict-transport-security|x-)/.test(name),
    );
    expect(helmetNames.length).toBeGreaterThanOrEqual(10);
    const ok = await t.app.inject({ method: 'GET', url: feedPath });
    const notModified = await t.app.inject({ method: 'GET', url: feedPath, headers: { 'if-none-match': String(ok.headers.etag) } });
    const missing = await t.app.inject({ method: 'GET', url: '/AAAAAAAAAAAAAAAAAAAAAAAA.atom' });
    expect([ok.statusCode, notModified.statusCode, missing.statusCode]).toEqual([200, 304, 404]);
    for (const response of [ok, notModified, missing]) {
      for (const name of helmetNames) expect(response.headers[name], name).toBe(docs.headers[name]);
    }
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
  });
});
