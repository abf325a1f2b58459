// A refresh batch rebuilds each feed once, however many of its sources changed, and the feed it
// publishes holds every change (issue 14). Checked against one refresh at a time, which rebuilds the
// feed per changed source: the coalescing is the batch's doing.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FEED_FORMATS } from '../../src/model.js';
import { rebuildFeed } from '../../src/publish/rebuild-feed.js';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { refreshBatch } from '../../src/refresh/run-batch.js';
import { startScheduler } from '../../src/refresh/scheduler.js';
import type { SourceRecord } from '../../src/model.js';
import { PUBLIC_URL, startInstancePair, startTestApp, type InstancePair, type TestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SOURCES = 10;
const BASE = Date.parse('2026-06-01T00:00:00Z');

function rss(name: string, generation: number): string {
  const items = Array.from({ length: 3 }, (_, n) => {
    const guid = `${name}-g${generation}-${n}`;
    const date = new Date(BASE + (generation * 10 + n) * 60_000).toUTCString();
    return `<item><guid isPermaLink="false">${guid}</guid><title>${guid}</title><pubDate>${date}</pubDate></item>`;
  });
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>${name}</title><link>https://${name}.example/</link>${items.join('')}</channel></rss>`;
}

describe.each(STORES)('rebuilds of a refresh batch (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  let generation = 0;
  let sources: SourceRecord[] = [];
  let jsonPath = '';
  let requests = 0;
  /** Sources whose upstream holds its answer until released (the answer, once asked for). */
  const held = new Map<number, (() => void) | undefined>();
  const release = (index: number) => {
    const answer = held.get(index);
    held.delete(index);
    answer?.();
  };

  const merges = async () => (await t.deps.metrics.feedMerges.get()).values.reduce((total, value) => total + value.value, 0);
  const published = async () =>
    (await t.app.inject({ method: 'GET', url: jsonPath })).json().items.map((item: { title: string }) => item.title) as string[];

  beforeAll(async () => {
    upstream = await startUpstream();
    for (let index = 0; index < SOURCES; index++) {
      upstream.route(`/feed/${index}`, (_request, response) => {
        requests += 1;
        const answer = () => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(rss(`s${index}`, generation));
        if (held.has(index)) held.set(index, answer);
        else answer();
      });
    }
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const ids: string[] = [];
    for (let index = 0; index < SOURCES; index++) {
      const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`/feed/${index}`) } });
      expect(created.statusCode).toBe(201);
      ids.push(created.json().id);
    }
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Merged', sources: ids, limit: 100 } });
    expect(feed.statusCode).toBe(201);
    jsonPath = feed.json().urls.json.slice(PUBLIC_URL.length);
    sources = (await t.deps.registry.getSources(ids)) as SourceRecord[];
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('rebuilds the feed per changed source when refreshed one at a time (the control)', async () => {
    generation += 1;
    const before = await merges();
    for (const source of sources) expect((await refreshSource(t.deps, source.id, { force: true }))?.outcome).toBe('updated');
    expect((await merges()) - before).toBe(SOURCES);
    expect(await published()).toEqual(expect.arrayContaining(sources.map((_, index) => `s${index}-g${generation}-0`)));
  });

  it('rebuilds the feed once for a batch in which every source changed, and publishes every change', async () => {
    generation += 1;
    const before = await merges();
    const results = await refreshBatch(t.deps, sources, { concurrency: 4, perHost: 4 });
    expect(results.map((result) => result.outcome)).toEqual(Array.from({ length: SOURCES }, () => 'updated'));
    expect((await merges()) - before).toBe(1);
    expect(await published()).toEqual(expect.arrayContaining(sources.map((_, index) => `s${index}-g${generation}-0`)));
  });

  it('publishes before answering a user refresh that joined a batch’s refresh of the source', async () => {
    generation += 1;
    // The batch cannot end (and rebuild) while source 1's answer is held.
    held.set(0, undefined);
    held.set(1, undefined);
    const batch = refreshBatch(t.deps, sources.slice(0, 2), { concurrency: 4, perHost: 4 });
    await expect.poll(() => held.get(0) !== undefined && held.get(1) !== undefined).toBe(true);
    const before = await merges();
    const joined = refreshSource(t.deps, sources[0]!.id, { force: true, wait: true });
    release(0);
    expect((await joined)?.outcome).toBe('updated');
    expect((await merges()) - before).toBe(1);
    expect(await published()).toContain(`s0-g${generation}-0`);
    expect(await published()).not.toContain(`s1-g${generation}-0`);
    release(1);
    expect((await batch).map((result) => result.outcome)).toEqual(['updated', 'updated']);
    expect(await published()).toContain(`s1-g${generation}-0`);
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([]);
  });

  it('publishes at the scheduler’s next tick what a batch killed before its rebuild had stored', async () => {
    generation += 1;
    // The state a batch killed between the refresh and its rebuild leaves: its collector is gone.
    const result = await refreshSource(t.deps, sources[2]!.id, { force: true, rebuilds: new Set() });
    expect(result?.outcome).toBe('updated');
    expect((await t.deps.registry.getEntries(sources[2]!.id)).map((entry) => entry.title)).toContain(`s2-g${generation}-0`);
    expect(await published()).not.toContain(`s2-g${generation}-0`);
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([sources[2]!.id]);
    // A later refresh answered unchanged does not rebuild: only the pending set remembers.
    expect((await refreshSource(t.deps, sources[2]!.id, { force: true, rebuilds: new Set() }))?.outcome).toBe('unchanged');
    expect(await published()).not.toContain(`s2-g${generation}-0`);

    const fetched = requests;
    const scheduler = startScheduler(t.deps);
    await scheduler.tick();
    await scheduler.stop();
    expect(requests).toBe(fetched); // nothing was due: the tick's rebuild came from the pending set
    expect(await published()).toContain(`s2-g${generation}-0`);
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([]);
  });
});

describe.each(STORES)('a refresh-now that waited for another process’s batch (%s store)', (store) => {
  let upstream: Upstream;
  let pair: InstancePair;
  let generation = 0;
  const held = new Map<string, (() => void) | undefined>();
  const fetches = new Map<string, number>();

  afterAll(async () => {
    for (const answer of held.values()) answer?.();
    await pair?.close();
    await upstream?.close();
  });

  it('publishes the source’s feeds before answering', async () => {
    upstream = await startUpstream();
    for (const name of ['a', 'b']) {
      upstream.route(`/${name}`, (_request, response) => {
        fetches.set(name, (fetches.get(name) ?? 0) + 1);
        const answer = () => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(rss(name, generation));
        if (held.has(name)) held.set(name, answer);
        else answer();
      });
    }
    pair = await startInstancePair(store, { allowPrivate: [upstream.hostPort] });
    const { one: server, two: cron } = pair;
    const key = await server.createUserKey();
    const ids: string[] = [];
    for (const name of ['a', 'b']) {
      const created = await server.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`/${name}`) } });
      expect(created.statusCode).toBe(201);
      ids.push(created.json().id);
    }
    const feed = await server.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'A', sources: [ids[0]] } });
    expect(feed.statusCode).toBe(201);
    const jsonPath = feed.json().urls.json.slice(PUBLIC_URL.length);
    const published = async () =>
      (await server.app.inject({ method: 'GET', url: jsonPath })).json().items.map((item: { title: string }) => item.title) as string[];
    expect(await published()).toContain('a-g0-0');

    // The other process's batch refreshes both; it cannot end (and rebuild) while b's answer is held.
    generation = 1;
    held.set('a', undefined);
    held.set('b', undefined);
    const sources = (await cron.deps.registry.getSources(ids)) as SourceRecord[];
    const batch = refreshBatch(cron.deps, sources, { concurrency: 2, perHost: 2, force: true });
    await expect.poll(() => held.get('a') !== undefined && held.get('b') !== undefined).toBe(true);
    const userRefresh = server.api(key, { method: 'POST', url: `/api/v1/sources/${ids[0]}/refresh` });
    // The user's refresh finds a's lease held by the batch and waits for it (it polls the lease every
    // 100 ms): time to get there, generous for a loaded CI machine, and the fetch count below shows that it did.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const fetchedA = fetches.get('a');
    held.get('a')!();
    held.delete('a');
    const answered = await userRefresh;
    expect(answered.statusCode).toBe(200);
    expect(answered.json().lastFetchedAt).toBe((await server.deps.registry.getSource(ids[0]!))!.lastFetchedAt);
    expect(fetches.get('a')).toBe(fetchedA); // the batch's fetch was the user's answer
    expect(await published()).toContain('a-g1-0');

    held.get('b')!();
    held.delete('b');
    expect((await batch).map((result) => result.outcome)).toEqual(['updated', 'updated']);
  });
});

describe.each(STORES)('a batch’s rebuild merges the lists the batch wrote (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  let generation = 0;

  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('reads none of them back and publishes the bytes a rebuild reading every source publishes', async () => {
    upstream = await startUpstream();
    // Each generation keeps two items, adds one and drops one: entries kept as read, new, and gone.
    const window = (name: string) => {
      const items = [generation - 2, generation - 1, generation].map((n) => {
        const date = new Date(BASE + n * 60_000).toUTCString();
        return `<item><guid isPermaLink="false">${name}-${n}</guid><title>${name} ${n}</title><description>&lt;p&gt;${name} ${n}&lt;/p&gt;</description><pubDate>${date}</pubDate></item>`;
      });
      return `<?xml version="1.0"?><rss version="2.0"><channel><title>${name}</title><link>https://${name}.example/</link>${items.join('')}</channel></rss>`;
    };
    for (let index = 0; index < 4; index++) {
      upstream.route(
        `/w/${index}`,
        (_request, response) => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(window(`w${index}`)),
      );
    }
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const ids: string[] = [];
    for (let index = 0; index < 4; index++) {
      const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`/w/${index}`) } });
      ids.push(created.json().id);
    }
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Window', sources: ids, limit: 100 } });
    expect(feed.statusCode).toBe(201);
    const feedId = feed.json().id as string;
    const sources = (await t.deps.registry.getSources(ids)) as SourceRecord[];
    const reads = vi.spyOn(t.deps.registry, 'getEntriesOf');
    for (generation = 1; generation <= 3; generation++) {
      reads.mockClear();
      const results = await refreshBatch(t.deps, sources, { concurrency: 2, perHost: 2 });
      expect(results.map((result) => result.outcome)).toEqual(['updated', 'updated', 'updated', 'updated']);
      expect(reads).not.toHaveBeenCalled();
      const meta = (await t.deps.registry.getRenderedMeta(feedId))!;
      const bodies = await Promise.all(FEED_FORMATS.map((format) => t.deps.registry.getRenderedBody(feedId, format)));
      expect(bodies[0]!.body).toContain(`w3 ${generation}`);
      // From scratch: no merge state, every source's entries read from the store.
      await t.deps.registry.saveMergeState(feedId, undefined);
      expect((await rebuildFeed(t.deps, feedId))!.formats).toEqual(meta.formats);
      expect(reads).toHaveBeenCalled();
      expect(await Promise.all(FEED_FORMATS.map((format) => t.deps.registry.getRenderedBody(feedId, format)))).toEqual(bodies);
    }
    reads.mockRestore();
  });
});
