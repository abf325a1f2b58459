// A feed's rebuild merges again only the sources whose entries changed since its last rebuild, and
// publishes the same bytes a merge of every source would: checked on both stores against a full
// rebuild, through refreshes, entries written with no rebuild after them, pruned caches and deletes.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CachedEntry } from '../../src/model.js';
import { rebuildFeed } from '../../src/publish/rebuild-feed.js';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SOURCES = 6;
const DAY = 86_400_000;
const BASE = Date.parse('2026-06-01T00:00:00Z');

interface Item {
  guid: string;
  day: number;
}

function rss(name: string, items: Item[]): string {
  const entries = items.map(
    (item) =>
      `<item><guid isPermaLink="false">${item.guid}</guid><title>${name} ${item.guid}</title><link>https://${name}.example/${item.guid}</link>` +
      `<pubDate>${new Date(BASE + item.day * DAY).toUTCString()}</pubDate><description>about ${item.guid}</description></item>`,
  );
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>${name}</title><link>https://${name}.example/</link>${entries.join('')}</channel></rss>`;
}

describe.each(STORES)('incremental rebuild (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  let key: string;
  const documents: Item[][] = [];
  let sourceIds: string[] = [];
  let feedId = '';
  let jsonPath = '';

  const merges = async (kind: 'incremental' | 'full') =>
    (await t.deps.metrics.feedMerges.get()).values.find((value) => value.labels.merge === kind)?.value ?? 0;
  const published = async () =>
    (await t.app.inject({ method: 'GET', url: jsonPath })).json().items.map((item: { title: string }) => item.title) as string[];
  /** The feed's bytes from a merge of every source, for comparison: the kept state is dropped first. */
  const fullRebuildEtags = async () => {
    await t.deps.registry.saveMergeState(feedId, undefined);
    return (await rebuildFeed(t.deps, feedId))!.formats;
  };
  const currentEtags = async () => (await t.deps.registry.getRenderedMeta(feedId))!.formats;

  beforeAll(async () => {
    upstream = await startUpstream();
    for (let index = 0; index < SOURCES; index++) {
      // Interleaved days, so every source has entries near the top of the merged feed.
      documents.push(Array.from({ length: 5 }, (_, n) => ({ guid: `s${index}-${n}`, day: n * SOURCES + index })));
      upstream.route(
        `/feed/${index}`,
        (_request, response) =>
          void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(rss(`src${index}`, documents[index]!)),
      );
    }
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort] });
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  beforeEach(async () => {
    key = await t.createUserKey();
    sourceIds = [];
    for (let index = 0; index < SOURCES; index++) {
      const created = await t.api(key, {
        method: 'POST',
        url: '/api/v1/sources',
        payload: { url: upstream.url(`/feed/${index}?feed_token=tok${index}`) },
      });
      expect(created.statusCode).toBe(201);
      sourceIds.push(created.json().id);
    }
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Merged', sources: sourceIds, limit: 8 } });
    expect(feed.statusCode).toBe(201);
    feedId = feed.json().id;
    jsonPath = feed.json().urls.json.slice(PUBLIC_URL.length);
  });

  it('re-merges the refreshed source alone and publishes what a merge of everything publishes', async () => {
    const before = await published();
    expect(before).toHaveLength(8);
    documents[2]!.push({ guid: 's2-new', day: 100 });
    const incremental = await merges('incremental');
    expect((await refreshSource(t.deps, sourceIds[2]!, { force: true }))?.outcome).toBe('updated');
    expect(await merges('incremental')).toBe(incremental + 1);
    const after = await published();
    expect(after).toEqual(['src2 s2-new', ...before.slice(0, 7)]);

    const etags = await currentEtags();
    const full = await merges('full');
    expect(await fullRebuildEtags()).toEqual(etags);
    expect(await merges('full')).toBe(full + 1);
  });

  it('picks up entries written with no rebuild after them at the next rebuild of any source', async () => {
    // As a process killed between saving a source's entries and rebuilding its feeds leaves it.
    const cached = await t.deps.registry.getEntries(sourceIds[1]!);
    const orphan: CachedEntry = {
      ...cached[0]!,
      id: 'orphan',
      title: 'written, never rebuilt',
      updated: new Date(BASE + 200 * DAY).toISOString(),
    };
    delete orphan.fingerprint;
    await t.deps.registry.saveEntries(sourceIds[1]!, [orphan, ...cached]);

    documents[4]!.push({ guid: 's4-new', day: 150 });
    await refreshSource(t.deps, sourceIds[4]!, { force: true });
    expect((await published()).slice(0, 2)).toEqual(['written, never rebuilt', 'src4 s4-new']);
    const etags = await currentEtags();
    expect(await fullRebuildEtags()).toEqual(etags);
  });

  it('reads a source again while its last write never settled (a writer killed mid-way)', async () => {
    // The store as an earlier release's saveEntries (a whole list, written in three steps) left it
    // when its process died between marking the revision pending and settling it: a rebuild in
    // between must not take the pending mark for a revision.
    const store = t.kv;
    const sourceId = sourceIds[0]!;
    await store.set(`entries-rev:${sourceId}`, 'killed:pending');
    await rebuildFeed(t.deps, feedId);
    const cached = await t.deps.registry.getEntries(sourceId);
    const late: CachedEntry = {
      ...cached[0]!,
      id: 'late',
      title: 'written by the killed writer',
      updated: new Date(BASE + 250 * DAY).toISOString(),
    };
    delete late.fingerprint;
    await store.deleteEntries(sourceId);
    await store.set(`entries:${sourceId}`, [late, ...cached]);

    documents[5]!.push({ guid: 's5-new', day: 240 });
    await refreshSource(t.deps, sourceIds[5]!, { force: true });
    expect((await published()).slice(0, 2)).toEqual(['written by the killed writer', 'src5 s5-new']);
    const etags = await currentEtags();
    expect(await fullRebuildEtags()).toEqual(etags);
  });

  it('merges everything again when a source lost entries the limit needed', async () => {
    const before = await published();
    // The newest source's cache pruned to its oldest entry: entries below the old cut now belong.
    const newest = sourceIds[SOURCES - 1]!;
    const cached = await t.deps.registry.getEntries(newest);
    const oldest = cached.reduce((kept, entry) => (entry.published! < kept.published! ? entry : kept));
    expect(before.filter((title) => title.startsWith(`src${SOURCES - 1} `)).length).toBeGreaterThan(0);
    await t.deps.registry.saveEntries(newest, [oldest]);
    const full = await merges('full');
    await rebuildFeed(t.deps, feedId);
    expect(await merges('full')).toBe(full + 1);
    const after = await published();
    expect(after).toHaveLength(8);
    expect(after).not.toEqual(before);
    expect(after.filter((title) => title.startsWith(`src${SOURCES - 1} `))).toEqual([]);
    const etags = await currentEtags();
    expect(await fullRebuildEtags()).toEqual(etags);
  });

  it('drops a deleted source’s entries and keeps the rest', async () => {
    const deleted = await t.api(key, { method: 'DELETE', url: `/api/v1/sources/${sourceIds[3]}` });
    expect(deleted.statusCode).toBe(204);
    const after = await published();
    expect(after).toHaveLength(8);
    expect(after.some((title) => title.startsWith('src3 '))).toBe(false);
    const etags = await currentEtags();
    expect(await fullRebuildEtags()).toEqual(etags);
  });

  it('joins rebuilds asked for while one is waiting to start, and covers every write before them', async () => {
    const titles: string[] = [];
    for (const [index, sourceId] of sourceIds.slice(0, 3).entries()) {
      const cached = await t.deps.registry.getEntries(sourceId);
      const title = `batch ${index}`;
      titles.push(title);
      const fresh: CachedEntry = {
        ...cached[0]!,
        id: `batch-${index}`,
        title,
        updated: new Date(BASE + (300 - index) * DAY).toISOString(),
      };
      delete fresh.fingerprint;
      await t.deps.registry.saveEntries(sourceId, [fresh, ...cached]);
    }
    const before = (await merges('incremental')) + (await merges('full'));
    const results = await Promise.all(Array.from({ length: 10 }, () => rebuildFeed(t.deps, feedId)));
    expect((await merges('incremental')) + (await merges('full'))).toBe(before + 1);
    expect(new Set(results).size).toBe(1);
    expect((await published()).slice(0, 3)).toEqual(titles);
  });

  it('keeps no state for a feed once it is deleted', async () => {
    expect(await t.deps.registry.getMergeState(feedId)).toBeDefined();
    expect((await t.api(key, { method: 'DELETE', url: `/api/v1/feeds/${feedId}` })).statusCode).toBe(204);
    expect(await t.deps.registry.getMergeState(feedId)).toBeUndefined();
  });
});
