// Two feedproxy instances in one process sharing the local Redis under one prefix: nothing a
// request needs lives in an instance, and the schedulers of both refresh each source once per
// interval in total, with a clock the test moves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScheduler } from '../../src/refresh/scheduler.js';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { deleteRedisKeys, randomSecretKey, REDIS_SKIP_REASON, redisAvailable, uniqueRedisPrefix } from '../helpers/stores.js';
import { serveBody, serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';

const MINUTE = 60_000;
const SOURCES = 30;
const INTERVALS = 4;
const FEED =
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Scaled</title><link>http://example.test/</link>' +
  '<item><guid>a</guid><title>A</title><pubDate>Mon, 02 Mar 2026 07:00:00 GMT</pubDate></item></channel></rss>';

/** Refreshes an instance has counted, by outcome. */
function refreshCount(t: TestApp): Promise<number> {
  return t.deps.metrics.refreshes.get().then((metric) => metric.values.reduce((sum, value) => sum + value.value, 0));
}

describe.skipIf(!redisAvailable)(`two instances on one Redis${REDIS_SKIP_REASON ? ` (${REDIS_SKIP_REASON})` : ''}`, () => {
  const prefix = uniqueRedisPrefix();
  // One user creates every source at once here: the per-user heavy-request limit is not what is tested.
  const env = { FEEDPROXY_STORE_PREFIX: prefix, FEEDPROXY_SECRET_KEY: randomSecretKey(), FEEDPROXY_HEAVY_REQUESTS_PER_USER: '1000' };
  let clock = Date.parse('2026-03-02T08:00:00Z');
  let upstream: Upstream;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    upstream = await startUpstream({
      '/queue': serveFixture('feeds/netflix-queue.atom'),
      '/tick': serveBody(FEED, { contentType: 'application/rss+xml' }),
    });
    const options = { store: 'redis' as const, env, allowPrivate: [upstream.hostPort], overrides: { now: () => new Date(clock) } };
    [a, b] = await Promise.all([startTestApp(options), startTestApp(options)]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await deleteRedisKeys(prefix);
  });

  it('serves a feed created on A from B, same bytes and ETag; a rotation on A is a 404 on B at once', async () => {
    const key = await a.createUserKey();
    const source = await a.api(key, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: upstream.url('/queue?feed_token=T0KEN-of-the-queue') },
    });
    expect(source.statusCode, source.body).toBe(201);
    // The user, its key and the source live in Redis: B knows them.
    expect((await b.api(key, { method: 'GET', url: `/api/v1/sources/${source.json().id}` })).json()).toEqual(source.json());

    const feed = await a.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Everywhere', sources: [source.json().id] } });
    expect(feed.statusCode).toBe(201);
    const { atom, rss, json } = feed.json().urls as Record<string, string>;
    const paths = [atom!, rss!, json!].map((url) => url.slice(PUBLIC_URL.length));
    for (const path of paths) {
      const [fromA, fromB] = [await a.app.inject({ method: 'GET', url: path }), await b.app.inject({ method: 'GET', url: path })];
      expect(fromB.statusCode).toBe(200);
      expect(fromB.headers.etag).toBe(fromA.headers.etag);
      expect(fromB.headers['last-modified']).toBe(fromA.headers['last-modified']);
      expect(fromB.rawPayload.equals(fromA.rawPayload)).toBe(true);
      const revalidated = await b.app.inject({ method: 'GET', url: path, headers: { 'if-none-match': String(fromA.headers.etag) } });
      expect(revalidated.statusCode).toBe(304);
    }

    // An edit on A: B serves the new bytes at once (its body cache is keyed by ETag, so it cannot go stale).
    const before = await b.app.inject({ method: 'GET', url: paths[0]! });
    expect((await a.api(key, { method: 'PATCH', url: `/api/v1/feeds/${feed.json().id}`, payload: { title: 'Renamed' } })).statusCode).toBe(
      200,
    );
    const after = await b.app.inject({ method: 'GET', url: paths[0]! });
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(after.body).toContain('Renamed');

    const rotated = await a.api(key, { method: 'POST', url: `/api/v1/feeds/${feed.json().id}/rotate` });
    expect(rotated.statusCode).toBe(200);
    for (const path of paths) expect((await b.app.inject({ method: 'GET', url: path })).statusCode).toBe(404);
    const newPath = String(rotated.json().urls.atom).slice(PUBLIC_URL.length);
    expect((await b.app.inject({ method: 'GET', url: newPath })).statusCode).toBe(200);

    expect((await a.api(key, { method: 'DELETE', url: `/api/v1/feeds/${feed.json().id}` })).statusCode).toBe(204);
    expect((await b.app.inject({ method: 'GET', url: newPath })).statusCode).toBe(404);
  });

  it(
    `fetches each of ${SOURCES} one-minute sources once per interval across both schedulers, over ${INTERVALS} intervals`,
    { timeout: 60_000 },
    async () => {
      const key = await a.createUserKey('bob');
      const created = await Promise.all(
        Array.from({ length: SOURCES }, (_, index) =>
          (index % 2 ? a : b).api(key, {
            method: 'POST',
            url: '/api/v1/sources',
            payload: { url: upstream.url(`/tick?n=${index}`), refreshMinutes: 1 },
          }),
        ),
      );
      expect(created.map((response) => response.statusCode)).toEqual(Array(SOURCES).fill(201));
      const schedulers = [startScheduler(a.deps), startScheduler(b.deps)];
      const fetchesOf = () => {
        const counts = new Map<string, number>();
        for (const request of upstream.requests)
          if (request.url.startsWith('/tick')) counts.set(request.url, (counts.get(request.url) ?? 0) + 1);
        return counts;
      };
      try {
        const shares: Array<[number, number]> = [];
        for (let interval = 1; interval <= INTERVALS; interval += 1) {
          const startA = await refreshCount(a);
          const startB = await refreshCount(b);
          // One interval plus the 5% jitter: every source is due again, once.
          clock += MINUTE + 4_000;
          // Several ticks of both instances at once within the interval, as their timers would run them.
          for (let round = 0; round < 3; round += 1) await Promise.all(schedulers.map((scheduler) => scheduler.tick()));
          clock += 10_000;
          await Promise.all(schedulers.map((scheduler) => scheduler.tick()));

          const counts = fetchesOf();
          expect(
            [...counts.values()].every((count) => count === interval + 1),
            `interval ${interval}: ${JSON.stringify(Object.fromEntries(counts))}`,
          ).toBe(true);
          expect(counts.size).toBe(SOURCES);
          shares.push([(await refreshCount(a)) - startA, (await refreshCount(b)) - startB]);
        }
        // Both instances did part of the work; together exactly one refresh per source and interval.
        for (const [fromA, fromB] of shares) expect(fromA + fromB).toBe(SOURCES);
        expect(shares.reduce((sum, [fromA]) => sum + fromA, 0)).toBeGreaterThan(0);
        expect(shares.reduce((sum, [, fromB]) => sum + fromB, 0)).toBeGreaterThan(0);
        console.info(`two instances, ${SOURCES} sources × ${INTERVALS} intervals: refreshes by A/B per interval ${JSON.stringify(shares)}`);
      } finally {
        await Promise.all(schedulers.map((scheduler) => scheduler.stop()));
      }
    },
  );
});
