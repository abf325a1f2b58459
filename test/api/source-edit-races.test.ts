// A source's edit (PATCH) is a read, a change and a write. A refresh of that source landing in
// between writes its result (validators, fetched-at, entry count, cached bytes): the edit's write
// must apply the change over that result, not put back the record it read.
import { describe, expect, it, vi } from 'vitest';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { buildTestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';
import { serveBody, startUpstream } from '../helpers/upstream.js';

const feedWith = (titles: string[]) =>
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Club</title><link>http://example.test/</link>' +
  titles.map((title, index) => `<item><guid>g${index}</guid><title>${title}</title></item>`).join('') +
  '</channel></rss>';

describe.each(STORES)('a source edit with a refresh landing between its read and its write (%s)', (store) => {
  it.for([
    ['a rename', { title: 'Renamed' }],
    ['a new interval', { refreshMinutes: 240 }],
  ] as const)("%s: keeps the refresh's result and applies the edit over it", async ([, payload], context) => {
    let body = feedWith(['One']);
    let etag = '"v1"';
    const upstream = await startUpstream({
      '/feed': (request, response) => serveBody(body, { contentType: 'application/rss+xml', etag })(request, response),
    });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { store, allowPrivate: [upstream.hostPort] });
    const apiKey = await t.createUserKey();
    const created = await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;

    body = feedWith(['One', 'Two']);
    etag = '"v2"';
    const getOwnedSource = t.deps.registry.getOwnedSource.bind(t.deps.registry);
    let refreshed: Awaited<ReturnType<typeof refreshSource>>;
    vi.spyOn(t.deps.registry, 'getOwnedSource').mockImplementationOnce(async (...args) => {
      const read = await getOwnedSource(...args);
      refreshed = await refreshSource(t.deps, id, { force: true });
      return read;
    });

    const edited = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload });
    expect(edited.statusCode, edited.body).toBe(200);
    // Positive control: the refresh ran in between and wrote a new document's result.
    expect(refreshed!).toMatchObject({ outcome: 'updated', source: { etag: '"v2"', entryCount: 2 } });

    const stored = (await t.deps.registry.getSource(id))!;
    expect(stored).toMatchObject({ ...payload, etag: '"v2"', entryCount: 2, lastFetchedAt: refreshed!.source.lastFetchedAt });
    expect(stored.cachedBytes).toBe(refreshed!.source.cachedBytes);
    expect(edited.json()).toMatchObject({ ...payload, entryCount: 2 });
    // A new interval plans the next fetch from the refresh's fetch (5% jitter at most).
    if ('refreshMinutes' in payload)
      expect(Date.parse(stored.nextFetchAt) - Date.parse(stored.lastFetchedAt!)).toBeGreaterThanOrEqual(0.95 * 240 * 60_000);
  });
});
