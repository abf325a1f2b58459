// The due index on each store: order, claims that two schedulers never share, claims of a dead
// worker that lapse, and an index that follows every write of a source (edit, delete, disable,
// Retry-After, refresh result), even while the source is claimed. Real stores, real schedulers.
import sqlite3 from 'sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startScheduler } from '../../src/refresh/scheduler.js';
import { openKeyValueStore, type KeyValueStore } from '../../src/store/kv.js';
import { createRegistry, type Registry } from '../../src/store/registry.js';
import { type SourceRecord } from '../../src/model.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { sourceRecord as testSourceRecord } from '../helpers/source-record.js';
import { deleteRedisKeys, randomSecretKey, REDIS_URL, STORES, uniqueRedisPrefix, type StoreKind } from '../helpers/stores.js';
import { serveBody, startUpstream, type Upstream } from '../helpers/upstream.js';

const MINUTE = 60_000;
const T0 = Date.parse('2026-03-02T08:00:00Z');
const at = (ms: number) => new Date(ms);
const iso = (ms: number) => new Date(ms).toISOString();
const FEED =
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Due</title><link>http://example.test/</link>' +
  '<item><guid>a</guid><title>A</title><pubDate>Mon, 02 Mar 2026 07:00:00 GMT</pubDate></item></channel></rss>';

/** A source due at `nextFetchMs`, created an hour before T0. */
function sourceRecord(id: string, nextFetchMs: number, extra: Partial<SourceRecord> = {}): SourceRecord {
  return testSourceRecord(id, {
    nextFetchAt: iso(nextFetchMs),
    createdAt: iso(T0 - 60 * MINUTE),
    updatedAt: iso(T0 - 60 * MINUTE),
    ...extra,
  });
}

describe.each(STORES)('due index (%s store)', (kind: StoreKind) => {
  let dir: string;
  let prefix: string;
  const opened: KeyValueStore[] = [];
  const open = async (): Promise<{ store: KeyValueStore; registry: Registry }> => {
    const store = await openKeyValueStore(kind === 'sqlite' ? `sqlite://${join(dir, 'store.sqlite')}` : REDIS_URL, { prefix });
    opened.push(store);
    return { store, registry: createRegistry(store) };
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-due-'));
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    if (kind === 'redis') await deleteRedisKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-due-'));
  });
  beforeAll(() => {
    prefix = uniqueRedisPrefix();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hands out due sources most overdue first, a limit at a time; not due, disabled and Retry-After wait', async () => {
    const { registry } = await open();
    await registry.addSource(sourceRecord('c', T0 - 1 * MINUTE));
    await registry.addSource(sourceRecord('a', T0 - 30 * MINUTE));
    await registry.addSource(sourceRecord('b', T0 - 10 * MINUTE));
    await registry.addSource(sourceRecord('d', T0)); // due exactly now
    await registry.addSource(sourceRecord('later', T0 + MINUTE));
    await registry.addSource(sourceRecord('off', T0 - 60 * MINUTE, { status: 'disabled' }));
    await registry.addSource(sourceRecord('refused', T0 - 60 * MINUTE, { status: 'unauthorized' }));
    await registry.addSource(sourceRecord('throttled', T0 - 60 * MINUTE, { status: 'failing', retryAfterUntil: iso(T0 + 5 * MINUTE) }));

    expect(await registry.claimDueSources(at(T0), 2, 10 * MINUTE)).toEqual(['a', 'b']);
    expect(await registry.claimDueSources(at(T0), 10, 10 * MINUTE)).toEqual(['c', 'd']);
    expect(await registry.claimDueSources(at(T0), 10, 10 * MINUTE)).toEqual([]);
    // Retry-After holds `throttled` to its time, then it is due like any other.
    expect(await registry.claimDueSources(at(T0 + 2 * MINUTE), 10, 10 * MINUTE)).toEqual(['later']);
    expect(await registry.claimDueSources(at(T0 + 5 * MINUTE), 10, 10 * MINUTE)).toEqual(['throttled']);
    expect(await registry.countSourcesByStatus()).toEqual({ ok: 5, disabled: 1, unauthorized: 1, failing: 1 });
  });

  it("indexes a created source in the create's own atomic write", async () => {
    const { registry } = await open();
    await registry.createSource(sourceRecord('created', T0 - MINUTE), []);
    await registry.createSource(sourceRecord('created-failing', T0 - 2 * MINUTE, { status: 'failing' }), []);
    expect((await registry.claimDueSources(at(T0), 10, 10 * MINUTE)).sort()).toEqual(['created', 'created-failing']);
    expect(await registry.countSourcesByStatus()).toEqual({ ok: 1, failing: 1 });
  });

  it('schedules and rewrites a source whose title holds a lone surrogate (JSON.stringify escapes it; Redis cjson refuses the escape)', async () => {
    const { registry } = await open();
    const title = 'broken \ud800 title';
    const source = sourceRecord('lone', T0 - MINUTE, { title });
    await registry.createSource(source, []);
    // Stored with the surrogate as U+FFFD (what any UTF-8 reader would show of it).
    expect((await registry.getSource('lone'))?.title).toBe('broken \ufffd title');
    expect(await registry.claimDueSources(at(T0), 10, 10 * MINUTE)).toEqual(['lone']);
    // A refresh's compare-and-set over it writes, and reschedules it.
    const refreshed = { ...source, lastFetchedAt: iso(T0), nextFetchAt: iso(T0 + 30 * MINUTE) };
    expect(await registry.saveRefreshedSource(refreshed, source)).toBe(true);
    expect(await registry.claimDueSources(at(T0 + 31 * MINUTE), 10, 10 * MINUTE)).toEqual(['lone']);
    expect(await registry.countSourcesByStatus()).toEqual({ ok: 1 });
  });

  it('never gives a source to two claimers at once (two store connections claiming together)', async () => {
    const first = await open();
    const second = await open();
    const ids = Array.from({ length: 60 }, (_, index) => `s${String(index).padStart(2, '0')}`);
    for (const [index, id] of ids.entries()) await first.registry.addSource(sourceRecord(id, T0 - index * 1000));
    const claimAll = async (registry: Registry) => {
      const taken: string[] = [];
      for (;;) {
        const claimed = await registry.claimDueSources(at(T0), 3, MINUTE);
        if (claimed.length === 0) return taken;
        taken.push(...claimed);
      }
    };
    const shares = await Promise.all([claimAll(first.registry), claimAll(second.registry), claimAll(first.registry)]);
    const all = shares.flat();
    // Every due source claimed once, and by more than one claimer (else disjointness proves nothing).
    expect(all.toSorted()).toEqual(ids);
    expect(shares.filter((share) => share.length > 0).length).toBeGreaterThan(1);
  });

  it("frees a dead worker's claims when their lease ends, and not before", async () => {
    const worker = await open();
    await worker.registry.addSource(sourceRecord('x', T0 - MINUTE));
    await worker.registry.addSource(sourceRecord('y', T0 - MINUTE));
    expect(await worker.registry.claimDueSources(at(T0), 10, 5 * MINUTE)).toHaveLength(2);
    // The worker dies holding them: its connection goes without a word, nothing is released.
    await worker.store.close();
    opened.splice(opened.indexOf(worker.store), 1);

    const survivor = await open();
    expect(await survivor.registry.claimDueSources(at(T0 + 4 * MINUTE), 10, 5 * MINUTE)).toEqual([]);
    expect((await survivor.registry.claimDueSources(at(T0 + 5 * MINUTE), 10, 5 * MINUTE)).sort()).toEqual(['x', 'y']);
  });

  it('follows edits and deletes made while a source is claimed', async () => {
    const { registry } = await open();
    await registry.addSource(sourceRecord('edited', T0 - MINUTE));
    await registry.addSource(sourceRecord('deleted', T0 - MINUTE));
    await registry.addSource(sourceRecord('paused', T0 - MINUTE));
    expect(await registry.claimDueSources(at(T0), 10, 60 * MINUTE)).toHaveLength(3);

    // Edited while claimed: the record's new time replaces the claim (due in 10 minutes, not 60).
    await registry.saveSource(sourceRecord('edited', T0 + 10 * MINUTE, { refreshMinutes: 10 }));
    // Deleted while claimed: gone from the index and its counts.
    await registry.deleteSource(sourceRecord('deleted', T0 - MINUTE));
    // Disabled while claimed, then enabled again: due at its new time.
    await registry.saveSource(sourceRecord('paused', T0 - MINUTE, { status: 'disabled' }));
    expect(await registry.claimDueSources(at(T0 + 70 * MINUTE), 10, MINUTE)).toEqual(['edited']);
    await registry.saveSource(sourceRecord('paused', T0 + 75 * MINUTE));
    expect(await registry.claimDueSources(at(T0 + 80 * MINUTE), 10, MINUTE)).toEqual(['edited', 'paused']);
    expect(await registry.countSourcesByStatus()).toEqual({ ok: 2 });
    // A late write by the refresh of the deleted source (it re-checks and deletes again) indexes nothing.
    await registry.saveSource(sourceRecord('deleted', T0 + MINUTE));
    await registry.deleteSource(sourceRecord('deleted', T0 + MINUTE));
    expect(await registry.claimDueSources(at(T0 + 1000 * MINUTE), 10, MINUTE)).toEqual(['edited', 'paused']);
    expect(await registry.countSourcesByStatus()).toEqual({ ok: 2 });
  });

  it('is built once at start for a store written before it existed', async () => {
    // Written as an older version did: the records and the source sets, no index, no marker. (On
    // SQLite the file is written before the store first opens it: its triggers index every write.)
    if (kind === 'sqlite') {
      // sqlite3 (the driver under @keyv/sqlite), not better-sqlite3: it loads on every supported Node.
      const db = new sqlite3.Database(join(dir, 'store.sqlite'));
      const run = (sql: string, ...params: unknown[]) =>
        new Promise<void>((resolve, reject) => db.run(sql, params, (error) => (error ? reject(error) : resolve())));
      await run('CREATE TABLE keyv(key VARCHAR(255) PRIMARY KEY, value TEXT)');
      await run('CREATE TABLE fp_sets(name TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY(name, member)) WITHOUT ROWID');
      for (const id of ['old1', 'old2']) {
        await run(
          'INSERT INTO keyv(key, value) VALUES (?, ?)',
          `fp:source:${id}`,
          JSON.stringify({ value: sourceRecord(id, T0 - MINUTE) }),
        );
        await run('INSERT INTO fp_sets(name, member) VALUES (?, ?)', 'sources', id);
      }
      await new Promise<void>((resolve, reject) => db.close((error) => (error ? reject(error) : resolve())));
    }
    const { store, registry } = await open();
    if (kind === 'redis') {
      for (const id of ['old1', 'old2']) {
        await store.set(`source:${id}`, sourceRecord(id, T0 - MINUTE));
        await store.addMember('sources', id);
      }
    }
    expect((await registry.getSource('old1'))?.id).toBe('old1');
    expect(await registry.claimDueSources(at(T0), 10, MINUTE)).toEqual([]);
    expect(await registry.ensureDueIndex()).toBe(2);
    expect(await registry.ensureDueIndex()).toBe(0); // once
    expect((await registry.claimDueSources(at(T0), 10, MINUTE)).sort()).toEqual(['old1', 'old2']);
  });
});

describe.each(STORES)('two schedulers on one %s store', (kind: StoreKind) => {
  let upstream: Upstream;
  let a: TestApp;
  let b: TestApp;
  let clock = T0;
  const prefix = uniqueRedisPrefix();

  beforeAll(async () => {
    upstream = await startUpstream({ '/due': serveBody(FEED, { contentType: 'application/rss+xml' }) });
    const dir = mkdtempSync(join(tmpdir(), 'feedproxy-due-apps-'));
    const options = {
      store: kind,
      dir,
      allowPrivate: [upstream.hostPort],
      overrides: { now: () => new Date(clock) },
      env: (kind === 'redis' ? { FEEDPROXY_STORE_PREFIX: prefix, FEEDPROXY_SECRET_KEY: randomSecretKey() } : {}) as Record<string, string>,
    };
    a = await startTestApp(options);
    b = await startTestApp(options);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    if (kind === 'redis') await deleteRedisKeys(prefix);
  });

  it('fetch each due source once between them', async () => {
    const key = await a.createUserKey();
    const ids: string[] = [];
    for (let index = 0; index < 24; index += 1) {
      const created = await a.api(key, {
        method: 'POST',
        url: '/api/v1/sources',
        payload: { url: upstream.url(`/due?n=${index}`), refreshMinutes: 30 },
      });
      expect(created.statusCode, created.body).toBe(201);
      ids.push(created.json().id as string);
    }
    const before = upstream.requests.length;
    const refreshed = async (t: TestApp) => (await t.deps.metrics.refreshes.get()).values.reduce((sum, value) => sum + value.value, 0);
    const counted = (await refreshed(a)) + (await refreshed(b));
    clock += 32 * MINUTE; // past every source's interval and its jitter: all 24 due
    const [sa, sb] = [startScheduler(a.deps), startScheduler(b.deps)];
    try {
      await Promise.all([sa.tick(), sb.tick()]);
    } finally {
      await Promise.all([sa.stop(), sb.stop()]);
    }
    const fetched = upstream.requests.slice(before).map((request) => request.url);
    expect(fetched.toSorted()).toEqual(Array.from({ length: 24 }, (_, index) => `/due?n=${index}`).toSorted());
    // One refresh per source between them, and each source's next time is in the future.
    expect((await refreshed(a)) + (await refreshed(b)) - counted).toBe(24);
    expect(await a.deps.registry.claimDueSources(new Date(clock), 100, MINUTE)).toEqual([]);
  });
});
