// The public feed route answers a hit by writing its ready header block and bytes itself
// (reply.hijack + writeHead + end): over a real socket, every answer (200 in each coding, 304, HEAD,
// 404) still arrives whole and is still counted — in /metrics by its scope's onResponse hook, and in
// the feed's usage stats. The route lives outside the site's scope (app.ts), so what the site's
// hooks did for it is checked here: the rate limit by the address Fastify's trustProxy gives, error
// headers on a 5xx.
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { tracingChannel } from 'node:diagnostics_channel';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feedSecurityHeaders } from '../../src/http-security.js';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';

describe('public feed route, answered from memory', () => {
  let upstream: Upstream;
  let t: TestApp;
  let key: string;
  let feedId: string;
  let path: string;
  let base: string;

  beforeAll(async () => {
    upstream = await startUpstream({ '/feed': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
    t = await startTestApp({ allowPrivate: [upstream.hostPort] });
    key = await t.createUserKey();
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [source.json().id] } });
    feedId = feed.json().id;
    path = String(feed.json().urls.atom).slice(PUBLIC_URL.length);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  const countOf = async (status: number, method = 'GET') => {
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    const line = new RegExp(`^feedproxy_http_requests_total\\{route="/:file",method="${method}",status="${status}"\\} (\\d+)$`, 'm');
    return Number(line.exec(metrics.body)?.[1] ?? 0);
  };

  it('sends whole answers over a socket, the same bytes in every coding, and from memory the second time', async () => {
    const first = await fetch(`${base}${path}`, { headers: { 'accept-encoding': 'identity' } });
    const identity = Buffer.from(await first.arrayBuffer());
    expect(first.status).toBe(200);
    expect(Number(first.headers.get('content-length'))).toBe(identity.length);
    expect(identity.toString('utf8')).toContain('<feed');
    for (let round = 0; round < 2; round += 1) {
      for (const [coding, decode] of [
        ['gzip', gunzipSync],
        ['br', brotliDecompressSync],
        ['identity', (bytes: Buffer) => bytes],
      ] as const) {
        const response = await getRaw(`${base}${path}`, coding);
        expect(response.status, coding).toBe(200);
        expect(response.headers['content-encoding'], coding).toBe(coding === 'identity' ? undefined : coding);
        expect(Number(response.headers['content-length']), coding).toBe(response.body.length);
        expect(decode(response.body).equals(identity), coding).toBe(true);
      }
    }
    expect(t.deps.metrics.publicFeedReads.memory).toBeGreaterThan(0);
  });

  it('answers a hit in its fast lane, before Fastify, with the status, headers and bytes the route gives', async () => {
    // Fastify publishes every request it routes on this channel; the fast lane's never reach it.
    const routed: string[] = [];
    const channel = tracingChannel('fastify.request.handler');
    const onStart = (message: unknown) => routed.push(String((message as { request?: { url?: string } }).request?.url));
    channel.start.subscribe(onStart);
    try {
      const viaRoute = await t.app.inject({ method: 'GET', url: path, headers: { 'accept-encoding': 'gzip' } });
      expect(viaRoute.statusCode).toBe(200);
      expect(routed).toEqual([path]);
      routed.length = 0;

      const viaLane = await getRaw(`${base}${path}`, 'gzip');
      const etag = String(viaLane.headers.etag);
      const notModified = await getRaw(`${base}${path}`, 'gzip', { 'if-none-match': etag });
      expect(notModified.status).toBe(304);
      expect(routed, 'a 200 and a 304 from memory never reach Fastify').toEqual([]);
      const routedNotModified = await t.app.inject({ method: 'GET', url: path, headers: { 'if-none-match': etag } });
      expect(routedNotModified.statusCode).toBe(304);
      const { date: _d304, connection: _c304, 'keep-alive': _k304, ...lane304 } = notModified.headers;
      const { date: _rd304, connection: _rc304, ...route304 } = routedNotModified.headers;
      expect(lane304).toEqual(route304);
      routed.length = 0;

      expect(viaLane.status).toBe(200);
      expect(viaLane.body.equals(viaRoute.rawPayload)).toBe(true);
      const { date: _laneDate, connection: _c, 'keep-alive': _k, ...laneHeaders } = viaLane.headers;
      const { date: _routeDate, connection: _rc, ...routeHeaders } = viaRoute.headers;
      expect(laneHeaders).toEqual(routeHeaders);

      // What the lane leaves to the route: a query string, a browser navigation.
      await (await fetch(`${base}${path}?reload=1`)).arrayBuffer();
      // (fetch() sends Sec-Fetch-Mode: cors whatever it is told: a browser's navigation goes by node:http.)
      const page = await getRaw(`${base}${path}`, 'identity', { 'sec-fetch-mode': 'navigate', accept: 'text/html,application/xhtml+xml' });
      expect(page.headers['content-type']).toMatch(/text\/html/);
      expect(routed).toEqual([`${path}?reload=1`, path]);
    } finally {
      channel.start.unsubscribe(onStart);
    }
  });

  it('counts every answer in /metrics and in the feed stats, as Fastify answers were', async () => {
    const etag = (await fetch(`${base}${path}`).then(async (response) => (await response.arrayBuffer(), response))).headers.get('etag')!;
    const before = {
      ok: await countOf(200),
      notModified: await countOf(304),
      head: await countOf(200, 'HEAD'),
      missing: await countOf(404),
    };
    await t.deps.stats.flush();
    const statsBefore = await t.deps.stats.read(feedId, new Date());
    const tokenBefore = [...statsBefore.tokens.values()][0] ?? { requests: 0, notModified: 0 };

    for (let n = 0; n < 3; n += 1) await (await fetch(`${base}${path}`)).arrayBuffer();
    for (let n = 0; n < 2; n += 1) {
      const notModified = await fetch(`${base}${path}`, { headers: { 'if-none-match': etag } });
      expect(notModified.status).toBe(304);
      expect(await notModified.text()).toBe('');
    }
    const head = await fetch(`${base}${path}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await head.text()).toBe('');
    expect((await fetch(`${base}/AAAAAAAAAAAAAAAAAAAAAAAA.atom`)).status).toBe(404);

    expect(await countOf(200)).toBe(before.ok + 3);
    expect(await countOf(304)).toBe(before.notModified + 2);
    expect(await countOf(200, 'HEAD')).toBe(before.head + 1);
    expect(await countOf(404)).toBe(before.missing + 1);
    await t.deps.stats.flush();
    const token = [...(await t.deps.stats.read(feedId, new Date())).tokens.values()][0]!;
    // GET 200 ×3, 304 ×2, HEAD ×1 are the token's requests; 404s open no token.
    expect(token.requests - tokenBefore.requests).toBe(6);
    expect(token.notModified - tokenBefore.notModified).toBe(2);
  });
});

/** A listening test app with one feed of the podcast fixture; `path` is its Atom URL's path. */
async function startFeedApp(upstream: Upstream, env: Record<string, string> = {}): Promise<{ t: TestApp; path: string; base: string }> {
  const t = await startTestApp({ allowPrivate: [upstream.hostPort], env });
  const key = await t.createUserKey();
  const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
  const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [source.json().id] } });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  return {
    t,
    path: String(feed.json().urls.atom).slice(PUBLIC_URL.length),
    base: `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`,
  };
}

describe("public feed route, outside the site's hooks", () => {
  let upstream: Upstream;
  beforeAll(async () => {
    upstream = await startUpstream({ '/feed': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it("limits polls by the address Fastify's trustProxy gives: behind a trusted proxy, the forwarded one", async () => {
    // `hops`: proxies between the client and the one that connects to us, appended as they would.
    const limited = async (trustProxy: string, hops = '') => {
      const { t, path, base } = await startFeedApp(upstream, { FEEDPROXY_TRUST_PROXY: trustProxy, FEEDPROXY_PUBLIC_RATE_LIMIT: '2' });
      try {
        const poll = async (address: string) => {
          const response = await fetch(`${base}${path}`, { headers: { 'x-forwarded-for': address + hops } });
          await response.arrayBuffer();
          return response.status;
        };
        // From memory from the first poll on (the limit is the hit's, not a miss's); this warm-up
        // comes from an address of its own.
        await t.app.inject({ method: 'GET', url: path, remoteAddress: '192.0.2.9' });
        return [await poll('203.0.113.1'), await poll('203.0.113.1'), await poll('203.0.113.1'), await poll('203.0.113.2')];
      } finally {
        await t.close();
      }
    };
    // Trusted: each forwarded address has its own budget of 2 for the feed.
    expect(await limited('true')).toEqual([200, 200, 429, 200]);
    // Not trusted (the positive control): the header is ignored, all four count against 127.0.0.1.
    expect(await limited('false')).toEqual([200, 200, 429, 429]);
    // An address list: the connecting proxy (127.0.0.1) is on it, so the forwarded address counts…
    expect(await limited('127.0.0.1')).toEqual([200, 200, 429, 200]);
    // …through a chain of trusted proxies too (the rightmost untrusted address is the client)…
    expect(await limited('127.0.0.1,10.0.0.0/8', ', 10.1.2.3')).toEqual([200, 200, 429, 200]);
    // …but an untrusted hop in the chain is the client: all four count against 192.0.2.77.
    expect(await limited('127.0.0.1', ', 192.0.2.77')).toEqual([200, 200, 429, 429]);
    // A list the connecting address is not on: the header is ignored.
    expect(await limited('10.0.0.0/8,192.0.2.0/24')).toEqual([200, 200, 429, 429]);
  });

  it('gives a 5xx of the route the error headers of its 404s and 429s', async () => {
    const { t, path, base } = await startFeedApp(upstream);
    try {
      const expected = { ...feedSecurityHeaders(PUBLIC_URL), 'access-control-allow-origin': '*' };
      const missing = await fetch(`${base}/${'A'.repeat(24)}.atom`);
      expect(missing.status).toBe(404);
      for (const [name, value] of Object.entries(expected)) expect(missing.headers.get(name), `404 ${name}`).toBe(value);
      // The store goes away: a URL memory does not hold needs it, and the answer is a 503.
      await t.kv.close();
      const failed = await fetch(`${base}${path.replace(/\.atom$/, '.rss')}`);
      expect(failed.status).toBe(503);
      expect(await failed.json()).toMatchObject({ error: 'FP_STORE_UNAVAILABLE' });
      for (const [name, value] of Object.entries(expected)) expect(failed.headers.get(name), `503 ${name}`).toBe(value);
    } finally {
      await t.close().catch(() => undefined);
    }
  });
});

/** A GET whose body is the bytes sent (fetch would decode them). */
function getRaw(
  url: string,
  acceptEncoding: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { 'accept-encoding': acceptEncoding, ...headers } }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => resolve({ status: answer.statusCode!, headers: answer.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}
