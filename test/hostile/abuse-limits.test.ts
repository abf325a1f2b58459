// Issue 7, abuse limits: sources and feeds per user (configurable), the API rate limit per key,
// the public feeds' rate limit per client address, and a public-token sweep that learns nothing.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL } from '../helpers/app.js';
import { serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';
import { expectSafeErrorBody, startHostileApp, type HostileApp } from './harness.js';

let upstream: Upstream;
beforeAll(async () => {
  upstream = await startUpstream({ '/feed': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
});
afterAll(async () => {
  await upstream?.close();
});

describe('per-user quotas', () => {
  let t: HostileApp;
  beforeAll(async () => {
    t = await startHostileApp(
      {},
      { allowPrivate: [upstream.hostPort], env: { FEEDPROXY_MAX_SOURCES_PER_USER: '2', FEEDPROXY_MAX_FEEDS_PER_USER: '2' } },
    );
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a source past the limit with a clear 409, before fetching anything', async () => {
    const key = await t.createUserKey('quota');
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`/feed?n=${n}`) } });
      expect(created.statusCode).toBe(201);
      ids.push(created.json().id as string);
    }
    const fetches = upstream.requests.length;
    const third = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed?n=3') } });
    expect(third.statusCode).toBe(409);
    expect(expectSafeErrorBody(third.body)).toEqual({
      error: 'FP_CONFLICT',
      message: 'source limit reached: a user may have at most 2 sources; delete one first',
    });
    expect(upstream.requests.length).toBe(fetches);

    // Another user has a quota of their own; deleting frees a slot.
    const other = await t.createUserKey('other');
    expect((await t.api(other, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed?n=4') } })).statusCode).toBe(
      201,
    );
    expect((await t.api(key, { method: 'DELETE', url: `/api/v1/sources/${ids[0]}` })).statusCode).toBe(204);
    expect((await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed?n=5') } })).statusCode).toBe(
      201,
    );
  });

  it('refuses a feed past the limit with a clear 409', async () => {
    const key = await t.createUserKey('feeds');
    for (const n of [1, 2])
      expect((await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: `F${n}`, sources: [] } })).statusCode).toBe(201);
    const third = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F3', sources: [] } });
    expect(third.statusCode).toBe(409);
    expect(expectSafeErrorBody(third.body).message).toBe('feed limit reached: a user may have at most 2 feeds; delete one first');
  });
});

describe('rate limits', () => {
  const API_LIMIT = 20;
  const PUBLIC_LIMIT = 40;
  let t: HostileApp;
  beforeAll(async () => {
    t = await startHostileApp(
      {},
      {
        allowPrivate: [upstream.hostPort],
        env: { FEEDPROXY_API_RATE_LIMIT: String(API_LIMIT), FEEDPROXY_PUBLIC_RATE_LIMIT: String(PUBLIC_LIMIT) },
      },
    );
  });
  afterAll(async () => {
    await t?.close();
  });

  it('limits the API per key: the next request is a coded 429 with Retry-After, other keys go on', async () => {
    const [first, second] = [await t.createUserKey('a'), await t.createUserKey('b')];
    const statuses: number[] = [];
    for (let n = 0; n <= API_LIMIT; n += 1) statuses.push((await t.api(first, { method: 'GET', url: '/api/v1/sources' })).statusCode);
    expect(statuses.slice(0, API_LIMIT).every((status) => status === 200)).toBe(true);
    const limited = await t.api(first, { method: 'GET', url: '/api/v1/feeds' });
    expect(limited.statusCode).toBe(429);
    expect(expectSafeErrorBody(limited.body).error).toBe('FP_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.body).not.toContain(first);
    expect((await t.api(second, { method: 'GET', url: '/api/v1/sources' })).statusCode).toBe(200);
    // Health and metrics are never limited: an orchestrator must always see the process.
    for (let n = 0; n <= API_LIMIT + PUBLIC_LIMIT; n += 1)
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers an address that keeps sending wrong keys with 429, while valid keys from it still work', async () => {
    const key = await t.createUserKey('victim-neighbour');
    const guesser = '203.0.113.44';
    const wrong = () => ({ authorization: `Bearer fp_${randomBytes(24).toString('base64url')}` });
    const budget = t.deps.config.limits.wrongApiKeysPerMinute;
    // Requests with no key at all guess nothing and are not counted.
    for (let n = 0; n < budget + 5; n += 1)
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/sources', remoteAddress: guesser })).statusCode).toBe(401);
    const statuses: number[] = [];
    // A fresh made-up key each time: the per-key limiter alone would give each its own bucket.
    for (let n = 0; n < budget; n += 1)
      statuses.push((await t.app.inject({ method: 'GET', url: '/api/v1/sources', remoteAddress: guesser, headers: wrong() })).statusCode);
    expect(new Set(statuses)).toEqual(new Set([401]));
    const limited = await t.app.inject({ method: 'GET', url: '/api/v1/sources', remoteAddress: guesser, headers: wrong() });
    expect(limited.statusCode).toBe(429);
    expect(expectSafeErrorBody(limited.body).error).toBe('FP_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Someone else behind the same address (a proxy, a NAT) is not locked out with a valid key.
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/sources', remoteAddress: guesser, headers: { authorization: `Bearer ${key}` } }))
        .statusCode,
    ).toBe(200);
    // Admin-token guesses count on the same budget; another address starts afresh.
    const admin = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      remoteAddress: guesser,
      headers: wrong(),
      payload: { name: 'x' },
    });
    expect(admin.statusCode).toBe(429);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/sources', remoteAddress: '198.51.100.8', headers: wrong() })).statusCode,
    ).toBe(401);
    // IPv6: one /64 is one client, however it varies the rest of its address.
    for (let n = 0; n < budget; n += 1) {
      await t.app.inject({
        method: 'GET',
        url: '/api/v1/sources',
        remoteAddress: `2001:db8:1:2::${(n + 1).toString(16)}`,
        headers: wrong(),
      });
    }
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/sources', remoteAddress: '2001:db8:1:2:ffff::9', headers: wrong() })).statusCode,
    ).toBe(429);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/sources', remoteAddress: '2001:db8:1:3::1', headers: wrong() })).statusCode,
    ).toBe(401);
  });

  it('makes a public-token sweep cheap for us and useless for the attacker, then limits it', async () => {
    const key = await t.createUserKey('publisher');
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Real', sources: [source.json().id] } });
    const realPath = (feed.json().urls.atom as string).slice(PUBLIC_URL.length);

    const attacker = '203.0.113.9';
    const answers = new Set<string>();
    let statusOfSweep = 0;
    for (let n = 0; n < PUBLIC_LIMIT; n += 1) {
      const response = await t.app.inject({
        method: 'GET',
        url: `/${randomBytes(18).toString('base64url')}.atom`,
        remoteAddress: attacker,
      });
      statusOfSweep = Math.max(statusOfSweep, response.statusCode);
      // Every miss is the same small answer: no oracle in status, body or headers.
      answers.add(`${response.statusCode} ${response.body} ${response.headers['content-length']}`);
    }
    expect(statusOfSweep).toBe(404);
    expect([...answers]).toEqual(['404 {"statusCode":404,"error":"FP_NOT_FOUND","message":"Feed not found"} 68']);
    // URLs that open nothing share one budget per address: making up tokens buys no fresh budget.
    const limited = await t.app.inject({ method: 'GET', url: `/${randomBytes(18).toString('base64url')}.atom`, remoteAddress: attacker });
    expect(limited.statusCode).toBe(429);
    expect(expectSafeErrorBody(limited.body).error).toBe('FP_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // A real feed keeps its own budget per address (a hosted reader behind that address polls it),
    // and readers elsewhere are not affected.
    expect((await t.app.inject({ method: 'GET', url: realPath, remoteAddress: attacker })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: realPath, remoteAddress: '198.51.100.7' })).statusCode).toBe(200);
  });

  it('lets one address poll many feeds (a hosted reader), and refuses one client hammering one feed', async () => {
    const key = await t.createUserKey('aggregated');
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed?agg') } });
    const paths: string[] = [];
    for (let n = 0; n < 3; n += 1) {
      const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: `Feed ${n}`, sources: [source.json().id] } });
      paths.push(String(feed.json().urls.atom).slice(PUBLIC_URL.length));
    }
    // Three feeds polled PUBLIC_LIMIT times each from one address: more than PUBLIC_LIMIT in all, never refused.
    // (A feed's three formats share its budget: one token, one reader.)
    const aggregator = '192.0.2.50';
    for (let round = 0; round < PUBLIC_LIMIT; round += 1) {
      for (const path of paths) expect((await t.app.inject({ method: 'GET', url: path, remoteAddress: aggregator })).statusCode).toBe(200);
    }
    // The next poll of one of them is over that feed's budget for the address.
    const hammered = await t.app.inject({ method: 'GET', url: paths[0]!, remoteAddress: aggregator });
    expect(hammered.statusCode).toBe(429);
    expect(hammered.headers['x-ratelimit-remaining']).toBe('0');
    expect(expectSafeErrorBody(hammered.body).error).toBe('FP_RATE_LIMITED');
    // An IPv6 client holds its /64: another address in it shares the budget; another /64 does not.
    for (let n = 0; n < PUBLIC_LIMIT; n += 1)
      expect((await t.app.inject({ method: 'GET', url: paths[1]!, remoteAddress: `2001:db8:5:6::${n + 1}` })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: paths[1]!, remoteAddress: '2001:db8:5:6:abcd::1' })).statusCode).toBe(429);
    expect((await t.app.inject({ method: 'GET', url: paths[1]!, remoteAddress: '2001:db8:5:7::1' })).statusCode).toBe(200);
  });

  it('limits the browser view of a token like the feeds: it renders a page per request', async () => {
    const looper = '203.0.113.77';
    for (let n = 0; n < PUBLIC_LIMIT; n += 1) {
      expect(
        (await t.app.inject({ method: 'GET', url: `/f/${randomBytes(18).toString('base64url')}`, remoteAddress: looper })).statusCode,
      ).toBe(404);
    }
    const limited = await t.app.inject({ method: 'GET', url: `/f/${randomBytes(18).toString('base64url')}`, remoteAddress: looper });
    expect(limited.statusCode).toBe(429);
    expect(expectSafeErrorBody(limited.body).error).toBe('FP_RATE_LIMITED');
  });

  it('counts an IPv6 /64 as one client there too: a new address in it buys no fresh budget', async () => {
    const page = () => `/f/${randomBytes(18).toString('base64url')}`;
    for (let n = 0; n < PUBLIC_LIMIT; n += 1)
      expect((await t.app.inject({ method: 'GET', url: page(), remoteAddress: `2001:db8:7:8::${(n + 1).toString(16)}` })).statusCode).toBe(
        404,
      );
    expect((await t.app.inject({ method: 'GET', url: page(), remoteAddress: '2001:db8:7:8:ffff::1' })).statusCode).toBe(429);
    expect((await t.app.inject({ method: 'GET', url: page(), remoteAddress: '2001:db8:7:9::1' })).statusCode).toBe(404);
  });
});
