// Issues 13 and 17: on Redis, the public feeds' rate limit is one budget per address and feed for
// every instance, not one per process. Polls are counted in memory and the counts shared in
// batches (routes/public-limit.ts), so an instance admits what it has not yet heard of: the bounds
// below allow that, and still fail with per-process limits. Two real apps on one Redis prefix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { redisKeyTtlMs } from '../helpers/redis-keys.js';
import { REDIS_URL, deleteRedisKeys, randomSecretKey, redisAvailable, uniqueRedisPrefix } from '../helpers/stores.js';
import { serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';

const LIMIT = 6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(redisAvailable)('the public rate limit shared between instances on Redis', () => {
  const prefix = uniqueRedisPrefix();
  let upstream: Upstream;
  let a: TestApp;
  let b: TestApp;
  let path: string;

  beforeAll(async () => {
    upstream = await startUpstream({ '/feed': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
    const env = { FEEDPROXY_STORE_PREFIX: prefix, FEEDPROXY_SECRET_KEY: randomSecretKey(), FEEDPROXY_PUBLIC_RATE_LIMIT: String(LIMIT) };
    a = await startTestApp({ store: 'redis', env, allowPrivate: [upstream.hostPort] });
    b = await startTestApp({ store: 'redis', env, allowPrivate: [upstream.hostPort] });
    const key = await a.createUserKey('publisher');
    const source = await a.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const feed = await a.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Shared', sources: [source.json().id] } });
    path = String(feed.json().urls.atom).slice(PUBLIC_URL.length);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await deleteRedisKeys(prefix);
  });

  const get = (t: TestApp, remoteAddress: string) => t.app.inject({ method: 'GET', url: path, remoteAddress });
  /** What every instance has added to the shared count of this minute, all budgets together. */
  const sharedTotal = async (windowStart: number) =>
    Object.values(await a.kv.readFields(`public-limit:${windowStart}`)).reduce((sum, value) => sum + Number(value), 0);

  it('counts one client polling one feed through both instances as one budget', async () => {
    // Budgets are windows of the clock's minute on every instance: start well inside one.
    if (Date.now() % 60_000 > 40_000) await sleep(60_000 - (Date.now() % 60_000) + 50);
    const windowStart = Date.now() - (Date.now() % 60_000);
    const client = '198.51.100.20';

    const onA: number[] = [];
    for (let n = 0; n < 4; n += 1) onA.push((await get(a, client)).statusCode);
    expect(onA).toEqual([200, 200, 200, 200]);
    // A's counts reach the store in a batch (at once for a new window, then about every second).
    for (let tries = 0; (await sharedTotal(windowStart)) < 4; tries += 1) {
      expect(tries, 'A never shared its count').toBeLessThan(200);
      await sleep(25);
    }

    // The window's counts lapse by themselves (reviewed: a flood from many addresses, then silence,
    // left one hash per quiet minute in Redis when only a later flush deleted old windows).
    const ttl = await redisKeyTtlMs(REDIS_URL, `${prefix}h:public-limit:${windowStart}`);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(3 * 60_000);

    // B has not heard of this budget: its first poll is admitted and makes it ask. Per-process
    // limits would admit LIMIT (6) here; shared, B admits what is left (2) and at most one more
    // poll made before the store answered.
    const onB: number[] = [];
    for (let n = 0; n < LIMIT; n += 1) {
      const answer = await get(b, client);
      onB.push(answer.statusCode);
      if (answer.statusCode === 429) {
        expect(answer.headers['x-ratelimit-remaining']).toBe('0');
        expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
        break;
      }
      await sleep(50);
    }
    const admittedOnB = onB.filter((status) => status === 200).length;
    expect(onB.at(-1), JSON.stringify(onB)).toBe(429);
    expect(admittedOnB, JSON.stringify(onB)).toBeGreaterThanOrEqual(LIMIT - 4);
    expect(admittedOnB, JSON.stringify(onB)).toBeLessThanOrEqual(LIMIT - 4 + 1);

    // The budget is per address and feed: another client of the same feed, on B, has all of its own.
    const other: number[] = [];
    for (let n = 0; n < LIMIT; n += 1) other.push((await get(b, '203.0.113.77')).statusCode);
    expect(other).toEqual(Array(LIMIT).fill(200));
  });
});
