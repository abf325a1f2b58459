// Our own store busy during a refresh (another process — the cron CLI, a second instance — holding
// the SQLite file's write lock past the busy timeout) is no failure of the upstream: the source keeps
// its status and error count, the caller hears FP_STORE_UNAVAILABLE, and the next refresh works.
// The upstream's handler takes the lock as it answers, so the refresh's first write meets it; the lock
// is released after that write has given up and while the write that would record a failure waits.
import { describe, expect, it, vi } from 'vitest';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { refreshBatch } from '../../src/refresh/run-batch.js';
import { isStoreBusy } from '../../src/store/kv.js';
import { key } from '../../src/store/keys.js';
import { buildTestApp, PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { tickOnce } from '../helpers/scheduler.js';
import { openSecondConnection, type SecondConnection } from '../helpers/second-connection.js';
import { revokedWithSibling, signedSource } from '../helpers/signed-source.js';
import { serveBody, startUpstream, type UpstreamHandler } from '../helpers/upstream.js';

const RSS = { contentType: 'application/rss+xml' };
const BUSY_TIMEOUT_MS = 2_000;
/** Past the first write's busy timeout, well inside the next write's (a second of margin each way on a slow machine). */
const HELD_MS = 3_000;

const feedWith = (titles: string[]) =>
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Club</title><link>http://example.test/</link>' +
  titles.map((title, index) => `<item><guid>g${index}</guid><title>${title}</title></item>`).join('') +
  '</channel></rss>';

async function sourceWithLockingUpstream(context: Parameters<typeof buildTestApp>[0]) {
  let handler: UpstreamHandler = serveBody(feedWith(['One']), RSS);
  const upstream = await startUpstream({ '/feed': (request, response) => handler(request, response) });
  context.onTestFinished(() => upstream.close());
  const t: TestApp = await buildTestApp(context, { allowPrivate: [upstream.hostPort], busyTimeoutMs: BUSY_TIMEOUT_MS });
  const key = await t.createUserKey();
  const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
  expect(created.statusCode).toBe(201);
  const id = created.json().id as string;
  // Created and fetched: one entry cached.
  expect(['updated', 'unchanged']).toContain((await refreshSource(t.deps, id, { force: true }))?.outcome);
  expect((await t.deps.registry.getEntries(id)).map((entry) => entry.title)).toEqual(['One']);
  const other = openSecondConnection(t);
  context.onTestFinished(() => other.close());
  let released: Promise<void> | undefined;
  // The next fetch answers a new item while another connection holds the write lock for HELD_MS.
  handler = async (request, response) => {
    await other.exec('BEGIN IMMEDIATE');
    released = new Promise((resolve) => setTimeout(resolve, HELD_MS)).then(() => other.exec('ROLLBACK'));
    await serveBody(feedWith(['One', 'Two']), RSS)(request, response);
  };
  return { t, id, lockReleased: () => released, serveAgain: () => (handler = serveBody(feedWith(['One', 'Two']), RSS)) };
}

/**
 * Has the next call of `target[method]` (past the first `passing` calls, which run as they are) run
 * while `other` holds the write lock: the spy stages the moment, and the call itself runs against the
 * real file and meets the lock (SQLITE_BUSY after the busy timeout). `refused()` is what that call threw.
 */
function lockedForNextCall<T extends object>(target: T, method: keyof T & string, other: SecondConnection, passing = 0) {
  const original = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
  let refused: unknown;
  let calls = 0;
  const spy = vi.spyOn(target as Record<string, (...args: unknown[]) => Promise<unknown>>, method).mockImplementation(async (...args) => {
    if (calls++ !== passing) return original(...args);
    await other.exec('BEGIN IMMEDIATE');
    try {
      return await original(...args);
    } catch (error) {
      refused = error;
      throw error;
    } finally {
      await other.exec('ROLLBACK');
    }
  });
  return { spy, refused: () => refused };
}

describe('a refresh while another process holds the SQLite write lock', () => {
  it('leaves the source as it was and rejects with the busy store; the next refresh works', async (context) => {
    const { t, id, lockReleased, serveAgain } = await sourceWithLockingUpstream(context);
    const before = (await t.deps.registry.getSource(id))!;
    expect(before).toMatchObject({ status: 'ok', errorCount: 0 });

    const refreshed = refreshSource(t.deps, id, { force: true });
    await expect(refreshed).rejects.toSatisfy(isStoreBusy);
    // Positive control: the lock was taken during the fetch (the handler ran).
    expect(lockReleased()).toBeDefined();
    await lockReleased();
    const after = (await t.deps.registry.getSource(id))!;
    expect(after).toMatchObject({ status: 'ok', errorCount: 0, lastFetchedAt: before.lastFetchedAt });
    expect(after.lastErrorCode).toBeUndefined();

    serveAgain();
    // With the lock gone, the same refresh goes through and caches the new item.
    expect((await refreshSource(t.deps, id, { force: true }))?.outcome).toBe('updated');
    expect((await t.deps.registry.getEntries(id)).map((entry) => entry.title).sort()).toEqual(['One', 'Two']);
  });

  it('in a batch, reports FP_STORE_UNAVAILABLE at warn, not a crash', async (context) => {
    const { t, id, lockReleased } = await sourceWithLockingUpstream(context);
    const source = (await t.deps.registry.getSource(id))!;
    const results = await refreshBatch(t.deps, [source], { concurrency: 1, perHost: 1 });
    await lockReleased();
    expect(results.map((result) => result.error?.code)).toEqual(['FP_STORE_UNAVAILABLE']);
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'ok', errorCount: 0 });
    const lines = t.logs.map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(lines.filter((line) => line.msg === 'refresh put off: the store is busy').map((line) => line.level)).toEqual([40]);
    expect(lines.some((line) => line.msg === 'refresh crashed')).toBe(false);
  });
});

describe("a signed source's 401 while another process holds the SQLite write lock", () => {
  it('leaves the source and its connection as they were, and rejects with the busy store', async (context) => {
    const { t, provider, connectionId, id } = await signedSource(context, { busyTimeoutMs: BUSY_TIMEOUT_MS });
    const before = (await t.deps.registry.getSource(id))!;
    expect(before).toMatchObject({ status: 'ok', errorCount: 0 });
    const other = openSecondConnection(t);
    context.onTestFinished(() => other.close());
    // The provider's clock moves an hour: the fetch is refused (401 timestamp_refused), and the
    // refresh learns the provider's clock and writes it on the connection. The lock is taken as the
    // refusal goes out, so that write meets it; it is released while a write that would record the
    // 401 on the source (and the connection unauthorized) waits.
    provider.setClockOffset(3600);
    let released: Promise<void> | undefined;
    provider.beforeProblem(async () => {
      if (released) return;
      await other.exec('BEGIN IMMEDIATE');
      released = new Promise((resolve) => setTimeout(resolve, HELD_MS)).then(() => other.exec('ROLLBACK'));
    });

    await expect(refreshSource(t.deps, id, { force: true })).rejects.toSatisfy(isStoreBusy);
    // Positive control: the provider refused, and the lock was taken then.
    expect(provider.stats.problems.timestamp_refused).toBeGreaterThanOrEqual(1);
    expect(released).toBeDefined();
    await released;
    const after = (await t.deps.registry.getSource(id))!;
    expect(after).toMatchObject({ status: 'ok', errorCount: 0, lastFetchedAt: before.lastFetchedAt });
    expect(after.lastErrorCode).toBeUndefined();
    expect((await t.deps.registry.getConnection(connectionId))!).toMatchObject({ status: 'connected' });

    // With the lock gone, the same refresh learns the provider's clock and fetches.
    provider.beforeProblem(undefined);
    expect((await refreshSource(t.deps, id, { force: true }))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
    expect(Math.abs((await t.deps.registry.getConnection(connectionId))!.clockOffsetSeconds! - 3600)).toBeLessThan(10);
  });
});

describe("a busy store while a signed source's request is prepared (its connection read)", () => {
  it('is no failure of the source: the refresh rejects with it and the record stays as it was', async (context) => {
    const { t, id } = await signedSource(context, { busyTimeoutMs: BUSY_TIMEOUT_MS });
    const before = (await t.deps.registry.getSource(id))!;
    // Under WAL a read does not wait for another connection's write lock, so a second connection
    // cannot stage this: a reader meets SQLITE_BUSY only while one runs in exclusive locking mode or
    // recovers the WAL of a crashed writer. The error is node-sqlite3's, refused once.
    const busy = Object.assign(new Error('SQLITE_BUSY: database is locked'), { errno: 5, code: 'SQLITE_BUSY' });
    const refused = vi.spyOn(t.deps.registry, 'getOwnedConnection').mockRejectedValueOnce(busy);

    await expect(refreshSource(t.deps, id, { force: true })).rejects.toBe(busy);
    // Positive control: the refusal was met where the request is prepared.
    expect(refused).toHaveBeenCalledTimes(1);
    const after = (await t.deps.registry.getSource(id))!;
    expect(after).toMatchObject({ status: 'ok', errorCount: 0, lastFetchedAt: before.lastFetchedAt });
    expect(after.lastErrorCode).toBeUndefined();
    const lines = t.logs.map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);

    refused.mockRestore();
    expect((await refreshSource(t.deps, id, { force: true }))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
  });
});

/** The log lines at warn or above: what an operator is told. */
function warnings(t: TestApp): Array<[level: number, msg: string]> {
  return t.logs
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((line) => line.level >= 40)
    .map((line) => [line.level, line.msg]);
}

describe('a scheduler tick while another process holds the SQLite write lock', () => {
  // The lock is held for the whole tick: every write in it waits the (short) busy timeout and fails.
  async function appWithSource(context: Parameters<typeof buildTestApp>[0]) {
    let nowMs = Date.now();
    let body = feedWith(['One']);
    const upstream = await startUpstream({ '/feed': (request, response) => serveBody(body, RSS)(request, response) });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, {
      allowPrivate: [upstream.hostPort],
      busyTimeoutMs: 200,
      overrides: { now: () => new Date(nowMs) },
    });
    const apiKey = await t.createUserKey();
    const id = (await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } })).json()
      .id as string;
    const feed = (await t.api(apiKey, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [id] } })).json();
    const published = async () => (await t.app.inject({ method: 'GET', url: String(feed.urls.rss).slice(PUBLIC_URL.length) })).body;
    const other = openSecondConnection(t);
    context.onTestFinished(() => other.close());
    return {
      t,
      id,
      other,
      published,
      serve: (titles: string[]) => (body = feedWith(titles)),
      advance: (ms: number) => (nowMs += ms),
    };
  }

  it('puts off claiming the due sources (one warning, no error), and the next tick refreshes them', async (context) => {
    const { t, id, other, published, serve, advance } = await appWithSource(context);
    serve(['One', 'Two']);
    advance(24 * 60 * 60_000); // due
    const before = (await t.deps.registry.getSource(id))!;

    await other.exec('BEGIN IMMEDIATE');
    await tickOnce(t);
    await other.exec('ROLLBACK');
    expect(warnings(t)).toEqual([[40, 'claiming due sources put off: the store is busy']]);
    expect((await t.deps.registry.getSource(id))!.lastFetchedAt).toBe(before.lastFetchedAt);

    await tickOnce(t);
    expect((await t.deps.registry.getSource(id))!.lastFetchedAt).not.toBe(before.lastFetchedAt);
    expect(await published()).toContain('<![CDATA[Two]]>');
    expect(warnings(t)).toHaveLength(1);
  });

  it('puts off rebuilding the feeds a batch left pending (one warning, no error), and the next tick rebuilds them', async (context) => {
    const { t, id, other, published, serve } = await appWithSource(context);
    // A batch's refresh: entries written and the source marked pending, its feeds not rebuilt yet.
    serve(['One', 'Two']);
    expect((await refreshSource(t.deps, id, { force: true, rebuilds: new Set() }))?.outcome).toBe('updated');
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([id]);
    expect(await published()).not.toContain('<![CDATA[Two]]>');

    await other.exec('BEGIN IMMEDIATE');
    await tickOnce(t);
    await other.exec('ROLLBACK');
    expect(warnings(t)).toEqual([[40, 'scheduler tick put off: the store is busy']]);
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([id]);
    expect(await published()).not.toContain('<![CDATA[Two]]>');

    await tickOnce(t);
    expect(await published()).toContain('<![CDATA[Two]]>');
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([]);
    expect(warnings(t)).toHaveLength(1);
  });
});

describe("entries written by a refresh whose record's write then failed", () => {
  it('are published by the next refresh, though it finds them already cached', async (context) => {
    let body = feedWith(['One']);
    const upstream = await startUpstream({ '/feed': (request, response) => serveBody(body, RSS)(request, response) });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const id = (await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } })).json().id as string;
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [id] } });
    const path = String(feed.json().urls.rss).slice(PUBLIC_URL.length);
    const published = async () => (await t.app.inject({ method: 'GET', url: path })).body;
    expect(await published()).toContain('<![CDATA[One]]>');

    // The record's write refused (as a busy store refuses it after the entries' write went through):
    // the refresh writes its entries, then fails on the record and records no failure either.
    const other = openSecondConnection(t);
    context.onTestFinished(() => other.close());
    await other.exec(
      `CREATE TRIGGER refuse_record BEFORE UPDATE ON keyv WHEN NEW.key = 'fp:source:${id}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
    );
    body = feedWith(['One', 'Two']);
    await expect(refreshSource(t.deps, id, { force: true })).rejects.toThrow('refused by the test');
    await other.exec('DROP TRIGGER refuse_record');
    // Positive controls: the entries went in, the published feed predates them.
    expect((await t.deps.registry.getEntries(id)).map((entry) => entry.title).sort()).toEqual(['One', 'Two']);
    expect(await published()).not.toContain('<![CDATA[Two]]>');

    expect((await refreshSource(t.deps, id, { force: true }))?.outcome).toBe('unchanged');
    expect(await published()).toContain('<![CDATA[Two]]>');
  });
});

describe('an entries revision left pending by a writer killed mid-write (an older release)', () => {
  it('is written out by the next refresh, so later ones do not rebuild again', async (context) => {
    const upstream = await startUpstream({ '/feed': serveBody(feedWith(['One']), RSS) });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort] });
    const apiKey = await t.createUserKey();
    const id = (await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } })).json()
      .id as string;
    await t.kv.set(key.entriesRevision(id), 'left-by-a-crash:pending');
    expect(await t.deps.registry.getEntryRevisions([id])).toEqual([null]);

    await refreshSource(t.deps, id, { force: true });
    const [revision] = await t.deps.registry.getEntryRevisions([id]);
    expect(revision).not.toBeNull();
    expect((await t.deps.registry.getSource(id))!.documentEntriesRevision).toBe(revision);
  });
});

describe("a signed source's 401 whose writes meet the SQLite write lock", () => {
  // The connection is written first: locked there it stays connected; locked at the source's own
  // write it is already unauthorized, and the sibling is marked by the next 401 all the same.
  it.for([
    ['saveConnectionIfUnchanged', 'connected'],
    ['saveRefreshedSource', 'unauthorized'],
  ] as const)(
    'locked at %s: the source stays ok and due, and its next refresh marks it, the connection and the sibling',
    async ([method, connectionAfter], context) => {
      const { t, provider, connectionId, id, siblingId } = await revokedWithSibling(context, { busyTimeoutMs: BUSY_TIMEOUT_MS });
      const other = openSecondConnection(t);
      context.onTestFinished(() => other.close());
      // The lock is held for that one write alone.
      const { spy: locked, refused } = lockedForNextCall(t.deps.registry, method, other);

      await expect(refreshSource(t.deps, id, { force: true })).rejects.toSatisfy(isStoreBusy);
      // Positive controls: the provider refused the token, and the write met the lock.
      expect(provider.stats.problems.token_revoked).toBeGreaterThanOrEqual(1);
      expect(locked).toHaveBeenCalledTimes(1);
      expect(refused()).toSatisfy(isStoreBusy);
      // Never an unauthorized source behind a connection still called connected, which nothing would
      // refresh again: the source stays as it was, and scheduled.
      expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'ok', errorCount: 0 });
      expect((await t.deps.registry.getConnection(connectionId))!).toMatchObject({ status: connectionAfter });
      expect((await t.deps.registry.getSource(siblingId))!).toMatchObject({ status: 'ok' });

      locked.mockRestore();
      // The scheduler's refresh (not forced) meets the 401 again and records it all.
      expect((await refreshSource(t.deps, id))?.source).toMatchObject({ status: 'unauthorized' });
      expect((await t.deps.registry.getConnection(connectionId))!).toMatchObject({ status: 'unauthorized' });
      expect((await t.deps.registry.getSource(siblingId))!).toMatchObject({ status: 'unauthorized' });
    },
  );
});

describe("a signed source's 401 and the connection's other sources", () => {
  it('are left alone when a relink lands before they are marked', async (context) => {
    const { t, provider, connectionId, id, siblingId } = await revokedWithSibling(context, { busyTimeoutMs: BUSY_TIMEOUT_MS });
    // The user relinks while the refresh records its 401: staged at the source's own write, and cut
    // to what a relink does to the connection's status (connections.ts exchange()).
    const saveRefreshedSource = t.deps.registry.saveRefreshedSource.bind(t.deps.registry);
    const relinked = vi.spyOn(t.deps.registry, 'saveRefreshedSource').mockImplementationOnce(async (...args) => {
      const connection = (await t.deps.registry.getConnection(connectionId))!;
      await t.deps.registry.saveConnection({ ...connection, status: 'connected' }, connection);
      return saveRefreshedSource(...args);
    });

    expect((await refreshSource(t.deps, id, { force: true }))?.source).toMatchObject({ status: 'unauthorized' });
    // Positive controls: the provider refused the token, and the relink ran after the connection was marked.
    expect(provider.stats.problems.token_revoked).toBeGreaterThanOrEqual(1);
    expect(relinked).toHaveBeenCalledTimes(1);
    // The relinked connection stands, and its other source is not marked behind it.
    expect((await t.deps.registry.getConnection(connectionId))!).toMatchObject({ status: 'connected' });
    expect((await t.deps.registry.getSource(siblingId))!.status).not.toBe('unauthorized');
  });

  it('keep an edit of theirs that lands while they are being marked', async (context) => {
    const { t, apiKey, id, siblingId } = await revokedWithSibling(context, { busyTimeoutMs: BUSY_TIMEOUT_MS });
    const listSourcesOfConnection = t.deps.registry.listSourcesOfConnection.bind(t.deps.registry);
    // The user renames the sibling between the list the marking works from and its write.
    let edited = false;
    vi.spyOn(t.deps.registry, 'listSourcesOfConnection').mockImplementationOnce(async (...args) => {
      const listed = await listSourcesOfConnection(...args);
      const patch = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${siblingId}`, payload: { title: 'Renamed' } });
      expect(patch.statusCode, patch.body).toBe(200);
      edited = true;
      return listed;
    });

    expect((await refreshSource(t.deps, id, { force: true }))?.source).toMatchObject({ status: 'unauthorized' });
    expect(edited).toBe(true);
    // The edit stands; unmarked, the sibling meets the 401 at its own next refresh.
    expect((await t.deps.registry.getSource(siblingId))!.title).toBe('Renamed');
    expect((await refreshSource(t.deps, siblingId))?.source).toMatchObject({ status: 'unauthorized', title: 'Renamed' });
  });

  it("meeting the SQLite write lock: the refresh's result stands, a warning, and the sibling is marked by its own 401", async (context) => {
    const { t, connectionId, id, siblingId } = await revokedWithSibling(context, { busyTimeoutMs: BUSY_TIMEOUT_MS });
    const other = openSecondConnection(t);
    context.onTestFinished(() => other.close());
    // The lock is held for the sibling's write alone.
    const { spy: locked, refused } = lockedForNextCall(t.deps.registry, 'saveEditedSource', other);

    expect((await refreshSource(t.deps, id, { force: true }))?.source).toMatchObject({ status: 'unauthorized' });
    // Positive controls: the sibling's write met the lock.
    expect(locked).toHaveBeenCalledTimes(1);
    expect(locked.mock.calls[0]![0]).toMatchObject({ id: siblingId, status: 'unauthorized' });
    expect(refused()).toSatisfy(isStoreBusy);
    expect(warnings(t)).toEqual([[40, 'marking a source of a refused connection put off: the store is busy']]);
    expect((await t.deps.registry.getConnection(connectionId))!).toMatchObject({ status: 'unauthorized' });
    // Unmarked, it is still due, and its own refresh meets the 401.
    expect((await t.deps.registry.getSource(siblingId))!.status).not.toBe('unauthorized');
    expect((await refreshSource(t.deps, siblingId))?.source).toMatchObject({ status: 'unauthorized' });
  });
});

describe("a refresh outside a batch whose feeds' rebuild meets the SQLite write lock", () => {
  async function appWithFeed(context: Parameters<typeof buildTestApp>[0]) {
    let body = feedWith(['One']);
    const upstream = await startUpstream({ '/feed': (request, response) => serveBody(body, RSS)(request, response) });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort], busyTimeoutMs: BUSY_TIMEOUT_MS });
    const apiKey = await t.createUserKey();
    const id = (await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } })).json()
      .id as string;
    const feed = (await t.api(apiKey, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [id] } })).json();
    const published = async () => (await t.app.inject({ method: 'GET', url: String(feed.urls.rss).slice(PUBLIC_URL.length) })).body;
    expect(await published()).toContain('<![CDATA[One]]>');
    const other = openSecondConnection(t);
    context.onTestFinished(() => other.close());
    body = feedWith(['One', 'Two']);
    return { t, id, other, published };
  }

  /** Takes the lock as the rebuild starts: a spy on our registry stages the moment (its read goes through under WAL). */
  function lockFromRebuild(t: TestApp, other: SecondConnection, onLocked: () => void = () => undefined) {
    const feedIdsOfSource = t.deps.registry.feedIdsOfSource.bind(t.deps.registry);
    return vi.spyOn(t.deps.registry, 'feedIdsOfSource').mockImplementationOnce(async (...args) => {
      await other.exec('BEGIN IMMEDIATE');
      onLocked();
      return feedIdsOfSource(...args);
    });
  }

  it('marks them pending (a warning, no error), and the next scheduler tick publishes them', async (context) => {
    const { t, id, other, published } = await appWithFeed(context);
    // Held past the rebuild's first write's busy timeout, released while the pending mark waits.
    let released: Promise<void> | undefined;
    const locked = lockFromRebuild(t, other, () => {
      released = new Promise((resolve) => setTimeout(resolve, HELD_MS)).then(() => other.exec('ROLLBACK'));
    });

    expect((await refreshSource(t.deps, id, { force: true }))?.outcome).toBe('updated');
    await released;
    // Positive controls: the rebuild ran into the lock, and left the published feed behind.
    expect(locked).toHaveBeenCalledTimes(1);
    expect(await published()).not.toContain('<![CDATA[Two]]>');
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([id]);
    expect(warnings(t)).toEqual([[40, 'rebuilding feeds put off: the store is busy']]);

    await tickOnce(t);
    expect(await published()).toContain('<![CDATA[Two]]>');
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([]);
  });

  it('logs at warn, not error, when the pending mark meets the lock too', async (context) => {
    const { t, id, other, published } = await appWithFeed(context);
    const locked = lockFromRebuild(t, other);
    // Released once the mark has met the lock.
    const markRebuildPending = t.deps.registry.markRebuildPending.bind(t.deps.registry);
    const marked = vi.spyOn(t.deps.registry, 'markRebuildPending').mockImplementationOnce(async (...args) => {
      try {
        return await markRebuildPending(...args);
      } finally {
        await other.exec('ROLLBACK');
      }
    });

    expect((await refreshSource(t.deps, id, { force: true }))?.outcome).toBe('updated');
    expect(locked).toHaveBeenCalledTimes(1);
    expect(marked).toHaveBeenCalledTimes(1);
    expect(await published()).not.toContain('<![CDATA[Two]]>');
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([]);
    expect(warnings(t)).toEqual([[40, 'marking feeds for a later rebuild put off: the store is busy']]);
  });
});

/** A test app (busy timeout 200 ms) with one source fetched once ('One'); `serve` changes what its upstream answers next. */
async function sourceServing(context: Parameters<typeof buildTestApp>[0]) {
  let body = feedWith(['One']);
  const upstream = await startUpstream({ '/feed': (request, response) => serveBody(body, RSS)(request, response) });
  context.onTestFinished(() => upstream.close());
  const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort], busyTimeoutMs: 200 });
  const apiKey = await t.createUserKey();
  const id = (await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } })).json().id as string;
  return { t, id, apiKey, url: upstream.url('/feed'), serve: (titles: string[]) => (body = feedWith(titles)) };
}

describe("a refresh whose count of the user's cached bytes meets the SQLite write lock", () => {
  it.for(['refresh', 'source create'] as const)('stands, and the counter is right again after the next %s', async (next, context) => {
    const { t, id, apiKey, url, serve } = await sourceServing(context);
    const { userId } = (await t.deps.registry.getSource(id))!;
    const counted = async () => (await t.deps.registry.getUserCounts(userId))!.cachedBytes!;
    const held = async () => (await t.deps.registry.listSources(userId)).reduce((sum, source) => sum + (source.cachedBytes ?? 0), 0);
    expect(await counted()).toBe(await held());
    const other = openSecondConnection(t);
    context.onTestFinished(() => other.close());
    // The lock is held for the counter's write alone.
    const { spy: locked } = lockedForNextCall(t.deps.registry, 'addToUserCount', other);
    serve(['One', 'Two']);

    // The entries and the record were written: the refresh's result stands.
    await expect(refreshSource(t.deps, id, { force: true })).resolves.toMatchObject({ outcome: 'updated' });
    // Positive controls: the counter's write met the lock, for the bytes the new entry added.
    expect(locked).toHaveBeenCalledTimes(1);
    expect(locked.mock.calls[0]!.slice(0, 2)).toEqual([userId, 'cachedBytes']);
    expect(await held()).toBeGreaterThan(await counted());

    if (next === 'refresh') {
      // Nothing changed upstream: the next refresh has no bytes of its own to count, only the owed ones.
      expect((await refreshSource(t.deps, id))?.outcome).toBe('unchanged');
    } else {
      // A create checks the counter against the cap: what is owed is settled before it is read.
      const created = await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: `${url}?copy=1` } });
      expect(created.statusCode, created.body).toBe(201);
    }
    expect(await counted()).toBe(await held());
  });
});

describe("a refresh whose lease's release meets the SQLite write lock", () => {
  it('stands: the result is returned, the lease is left to lapse (another holder refused meanwhile), and this process refreshes again at once', async (context) => {
    const { t, id, serve } = await sourceServing(context);
    const other = openSecondConnection(t);
    context.onTestFinished(() => other.close());
    // The lock is held for the release alone.
    const { spy: locked, refused } = lockedForNextCall(t.kv, 'releaseLease', other);
    serve(['One', 'Two']);

    // The entries and the record were written before the release: the refresh's result stands.
    await expect(refreshSource(t.deps, id, { force: true })).resolves.toMatchObject({ outcome: 'updated' });
    // Positive controls: the release met the lock, and the lease is still in the store (another
    // holder is refused until it lapses).
    expect(locked).toHaveBeenCalledTimes(1);
    expect(refused()).toSatisfy(isStoreBusy);
    expect(await t.kv.acquireLease(`refresh:${id}`, 'another-instance', 1_000)).toBe(false);
    expect((await t.deps.registry.getEntries(id)).map((entry) => entry.title).sort()).toEqual(['One', 'Two']);
    // This process holds it under its own name, so its next refresh takes it again at once.
    expect((await refreshSource(t.deps, id, { force: true }))?.outcome).toBe('unchanged');
  });
});
