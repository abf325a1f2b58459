// The SQLite file's write lock held by another connection (the cron CLI mid-write, a second instance)
// past the busy timeout: SELECT 1 still answers, yet the write fails with SQLITE_BUSY. That is the store
// being unavailable for a moment, not a bug: 503 with Retry-After, logged at warn, as when Redis is away.
import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { openSecondConnection, type SecondConnection } from '../helpers/second-connection.js';
import { serveBody, startUpstream } from '../helpers/upstream.js';

const RSS = { contentType: 'application/rss+xml' };
const FEED =
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Club</title><item><guid>g</guid><title>One</title></item></channel></rss>';

describe('a SQLite file locked by another connection', () => {
  it('answers 503 FP_STORE_UNAVAILABLE with Retry-After, and the write works once the lock is released', async (context) => {
    // A short busy timeout (10 s in service) keeps the wait short; the lock is held well past it.
    const t = await buildTestApp(context, { busyTimeoutMs: 200 });
    const key = await t.createUserKey();
    const create = () => t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Locked', sources: [] } });
    const other = openSecondConnection(t);
    try {
      await other.exec('BEGIN IMMEDIATE'); // the write lock, held until ROLLBACK
      const locked = await create();
      expect(locked.json()).toEqual({
        statusCode: 503,
        error: 'FP_STORE_UNAVAILABLE',
        message: 'The store is unavailable; try again shortly',
      });
      expect(locked.statusCode).toBe(503);
      expect(locked.headers['retry-after']).toBe('5');
      // Reads go on meanwhile (WAL): the same key still lists its feeds.
      expect((await t.api(key, { method: 'GET', url: '/api/v1/feeds' })).statusCode).toBe(200);
      await other.exec('ROLLBACK');
      const created = await create();
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ title: 'Locked' });
      // The refused write left nothing behind: one feed, the second request's.
      expect((await t.api(key, { method: 'GET', url: '/api/v1/feeds' })).json().feeds).toHaveLength(1);
    } finally {
      await other.close();
    }
    const lines = t.logs.map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message?: string } });
    // Logged at warn with the driver's message, never as "request failed" at error.
    expect(lines.filter((line) => line.msg === 'store unavailable').map((line) => [line.level, line.err?.message])).toEqual([
      [40, expect.stringMatching(/^SQLITE_BUSY/)],
    ]);
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
  });

  it('still answers any other failed statement with 500 FP_INTERNAL, logged at error (positive control)', async (context) => {
    const t = await buildTestApp(context, { busyTimeoutMs: 200 });
    const key = await t.createUserKey();
    const other = openSecondConnection(t);
    try {
      // SQLITE_CONSTRAINT on the feed's record: the database refuses the write, and is not busy.
      await other.exec(
        `CREATE TRIGGER test_refuse BEFORE INSERT ON keyv WHEN NEW.key LIKE 'fp:feed:%' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
      );
      const refused = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Refused', sources: [] } });
      expect(refused.statusCode).toBe(500);
      expect(refused.json()).toEqual({ statusCode: 500, error: 'FP_INTERNAL', message: 'Internal server error' });
      expect(refused.headers['retry-after']).toBeUndefined();
    } finally {
      await other.exec('DROP TRIGGER IF EXISTS test_refuse');
      await other.close();
    }
    const lines = t.logs.map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message?: string } });
    expect(lines.filter((line) => line.msg === 'request failed').map((line) => [line.level, line.err?.message])).toEqual([
      [50, expect.stringMatching(/^SQLITE_CONSTRAINT: refused by the test/)],
    ]);
    expect(lines.filter((line) => line.msg === 'store unavailable')).toEqual([]);
  });

  it("gives back the quota slot of a source create it refused, though the give-back's own write met the lock too", async (context) => {
    // The upstream's handler takes the lock as it answers the create's probe; it is held until the
    // create has answered, so every write after the probe fails: the source's and the slot's give-back.
    // The connection that takes the lock: opened once the app (and its file) exists.
    const lock: { by?: SecondConnection } = {};
    const upstream = await startUpstream({
      '/locking': async (request, response) => {
        await lock.by!.exec('BEGIN IMMEDIATE');
        await serveBody(FEED, RSS)(request, response);
      },
      '/feed': serveBody(FEED, RSS),
      '/more': serveBody(FEED, RSS),
    });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, {
      allowPrivate: [upstream.hostPort],
      busyTimeoutMs: 200,
      env: { FEEDPROXY_MAX_SOURCES_PER_USER: '1' },
    });
    const key = await t.createUserKey();
    const userId = (await t.api(key, { method: 'GET', url: '/api/v1/me' })).json().id as string;
    const create = (path: string) => t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(path) } });
    const second = (lock.by = openSecondConnection(t));
    context.onTestFinished(() => second.close());

    const locked = await create('/locking');
    await second.exec('ROLLBACK');
    expect(locked.statusCode).toBe(503);
    expect((await t.api(key, { method: 'GET', url: '/api/v1/sources' })).json().sources).toEqual([]);

    // The one source the quota allows can be added. (Another URL: the refused create's claim of its
    // URL could not be released either, and lapses with its TTL.)
    const created = await create('/feed');
    expect(created.statusCode, created.body).toBe(201);
    expect((await t.deps.registry.getUserCounts(userId))?.sources).toBe(1);
    // Positive control: the quota still holds.
    const refused = await create('/more');
    expect(refused.statusCode).toBe(409);
    expect(refused.json().message).toMatch(/^source limit reached/);
  });
});
