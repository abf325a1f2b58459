// A source's edit (PATCH) is a read, a change and a write. A refresh of that source landing in
// between writes its result (validators, fetched-at, entry count, cached bytes): the edit's write
// must apply the change over that result, not put back the record it read.
import { describe, expect, it, vi } from 'vitest';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { buildTestApp } from '../helpers/app.js';
import { STORES, type StoreKind } from '../helpers/stores.js';
import { redirect, serveBody, startUpstream, status, type UpstreamHandler } from '../helpers/upstream.js';

const feedWith = (titles: string[]) =>
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Club</title><link>http://example.test/</link>' +
  titles.map((title, index) => `<item><guid>g${index}</guid><title>${title}</title></item>`).join('') +
  '</channel></rss>';

/** An app on `store` with one user and a source on `path` of an upstream serving `routes` (created, so fetched once). */
async function sourceOn(
  context: Parameters<typeof buildTestApp>[0],
  store: StoreKind,
  routes: Record<string, UpstreamHandler>,
  path = '/old',
) {
  const upstream = await startUpstream(routes);
  context.onTestFinished(() => upstream.close());
  const t = await buildTestApp(context, { store, allowPrivate: [upstream.hostPort] });
  const apiKey = await t.createUserKey();
  const created = await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(path) } });
  expect(created.statusCode, created.body).toBe(201);
  return { t, upstream, apiKey, id: created.json().id as string };
}

describe.each(STORES)('a source edit with a refresh landing between its read and its write (%s)', (store) => {
  it.for([
    ['a rename', { title: 'Renamed' }],
    ['a new interval', { refreshMinutes: 240 }],
  ] as const)("%s: keeps the refresh's result and applies the edit over it", async ([, payload], context) => {
    let body = feedWith(['One']);
    let etag = '"v1"';
    const { t, apiKey, id } = await sourceOn(
      context,
      store,
      {
        '/feed': (request, response) => serveBody(body, { contentType: 'application/rss+xml', etag })(request, response),
      },
      '/feed',
    );

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

  /** A source on `/old` of an upstream whose routes the test switches, its API key, and a PATCH whose read is followed by a refresh. */
  async function sourceOnOld(
    context: Parameters<typeof buildTestApp>[0],
    oldRoute: () => 'feed' | 'unavailable' | 'moved',
    { refreshAtRead = true } = {},
  ) {
    const rss = { contentType: 'application/rss+xml' };
    const { t, upstream, apiKey, id } = await sourceOn(context, store, {
      '/old': (request, response) => {
        const now = oldRoute();
        if (now === 'feed') return serveBody(feedWith(['One']), rss)(request, response);
        if (now === 'unavailable') return status(503, { retryAfter: '3600' })(request, response);
        return redirect(301, '/moved')(request, response);
      },
      '/moved': serveBody(feedWith(['Moved']), rss),
      '/new': serveBody(feedWith(['New']), rss),
    });
    const getOwnedSource = t.deps.registry.getOwnedSource.bind(t.deps.registry);
    const refreshed: { result?: Awaited<ReturnType<typeof refreshSource>> } = {};
    if (refreshAtRead)
      vi.spyOn(t.deps.registry, 'getOwnedSource').mockImplementationOnce(async (...args) => {
        const read = await getOwnedSource(...args);
        refreshed.result = await refreshSource(t.deps, id, { force: true });
        return read;
      });
    return { t, upstream, apiKey, id, refreshed };
  }

  it("a new URL, with the old one's refresh failing in between: the edit's reset stands (no error, no Retry-After)", async (context) => {
    let old: 'feed' | 'unavailable' = 'feed';
    const { t, upstream, apiKey, id, refreshed } = await sourceOnOld(context, () => old);
    old = 'unavailable';
    const edited = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { url: upstream.url('/new') } });
    expect(edited.statusCode, edited.body).toBe(200);
    // Positive control: the old URL's refresh recorded its 503 and Retry-After in between.
    expect(refreshed.result?.source).toMatchObject({ errorCount: 1 });
    expect(refreshed.result?.source.retryAfterUntil).toBeDefined();

    const stored = (await t.deps.registry.getSource(id))!;
    expect(stored).toMatchObject({ status: 'new', errorCount: 0 });
    expect(stored.retryAfterUntil).toBeUndefined();
    expect(stored.lastError).toBeUndefined();
    expect((await refreshSource(t.deps, id, { force: true }))?.source).toMatchObject({ status: 'ok' });
  });

  it('a new URL, with a refresh following a redirect of the old one in between: the redirect target is free to add', async (context) => {
    let old: 'feed' | 'moved' = 'feed';
    const { t, upstream, apiKey, id, refreshed } = await sourceOnOld(context, () => old);
    old = 'moved';
    const edited = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { url: upstream.url('/new') } });
    expect(edited.statusCode, edited.body).toBe(200);
    // Positive control: the refresh followed the 301 and recorded the moved URL.
    expect(refreshed.result?.source.urlMasked).toContain('/moved');

    expect((await t.deps.registry.getSource(id))!.urlMasked).toContain('/new');
    const added = await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/moved') } });
    expect(added.statusCode, added.body).toBe(201);
  });

  it('a new URL while a refresh of the old one indexes the URL it was redirected to: that URL stays free to add', async (context) => {
    let old: 'feed' | 'moved' = 'feed';
    const { t, upstream, apiKey, id } = await sourceOnOld(context, () => old, { refreshAtRead: false });
    old = 'moved';
    // The edit runs (to its end) right after the refresh indexed the redirect's target, before its record write.
    const indexSourceUrls = t.deps.registry.indexSourceUrls.bind(t.deps.registry);
    let edited: Awaited<ReturnType<typeof t.api>> | undefined;
    vi.spyOn(t.deps.registry, 'indexSourceUrls').mockImplementationOnce(async (...args) => {
      await indexSourceUrls(...args);
      edited = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { url: upstream.url('/new') } });
    });
    await refreshSource(t.deps, id, { force: true });
    expect(edited?.statusCode, edited?.body).toBe(200);
    expect((await t.deps.registry.getSource(id))!.urlMasked).toContain('/new');
    const added = await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/moved') } });
    expect(added.statusCode, added.body).toBe(201);
  });
});

describe.each(STORES)('adding the URL a refresh is following a redirect to (%s)', (store) => {
  it('is a duplicate from the moment the refresh indexed it, before it writes the record', async (context) => {
    let moved = false;
    const rss = { contentType: 'application/rss+xml' };
    const { t, upstream, apiKey, id } = await sourceOn(context, store, {
      '/old': (request, response) => (moved ? redirect(301, '/moved') : serveBody(feedWith(['One']), rss))(request, response),
      '/moved': serveBody(feedWith(['Moved']), rss),
    });
    moved = true;
    // Between the refresh's index of /moved and its record write (it reads the cached entries then).
    const getStoredEntries = t.deps.registry.getStoredEntries.bind(t.deps.registry);
    let added: Awaited<ReturnType<typeof t.api>> | undefined;
    vi.spyOn(t.deps.registry, 'getStoredEntries').mockImplementationOnce(async (...args) => {
      added = await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/moved') } });
      return getStoredEntries(...args);
    });

    expect((await refreshSource(t.deps, id, { force: true }))?.source.urlMasked).toContain('/moved');
    expect(added?.statusCode, added?.body).toBe(409);
  });
});

describe.each(STORES)('a refresh that follows a redirect to a page that is no feed (%s)', (store) => {
  it('leaves that URL out of the duplicate index: adding it answers what the URL is, not 409', async (context) => {
    let moved = false;
    const rss = { contentType: 'application/rss+xml' };
    const { t, upstream, apiKey, id } = await sourceOn(context, store, {
      '/old': (request, response) => (moved ? redirect(301, '/home') : serveBody(feedWith(['One']), rss))(request, response),
      '/home': serveBody('<!doctype html><html><head><title>Home</title></head><body>hi</body></html>', { contentType: 'text/html' }),
    });
    moved = true;

    const refreshed = await refreshSource(t.deps, id, { force: true });
    // Positive control: the refresh followed the redirect and failed on the page.
    expect(refreshed).toMatchObject({ outcome: 'failed', error: { code: 'FP_NOT_A_FEED' } });
    expect(refreshed?.source.urlMasked).toContain('/old');
    const added = await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/home') } });
    expect(added.json().error, added.body).toBe('FP_NOT_A_FEED');
  });
});

describe.each(STORES)('marking a secret on a source with a refresh landing before the edit writes (%s)', (store) => {
  const SECRET = 'hush-SECRETVALUE42';
  const feedLinking = (link: string, titles: string[]) =>
    `<?xml version="1.0"?><rss version="2.0"><channel><title>Club</title><link>${link}</link>` +
    titles.map((title, index) => `<item><guid>g${index}</guid><title>${title}</title></item>`).join('') +
    '</channel></rss>';

  async function markedWithRefreshBetween(
    context: Parameters<typeof buildTestApp>[0],
    serve: () => { status?: number; link: string; titles: string[] },
  ) {
    const { t, apiKey, id } = await sourceOn(
      context,
      store,
      {
        '/feed': (request, response) => {
          const now = serve();
          if (now.status !== undefined) return status(now.status)(request, response);
          return serveBody(feedLinking(now.link, now.titles), { contentType: 'application/rss+xml' })(request, response);
        },
      },
      '/feed',
    );
    const mark = async (secret: string) => {
      // The refresh runs between the edit's scrub of the cache and its write of the record.
      const saveEditedSource = t.deps.registry.saveEditedSource.bind(t.deps.registry);
      const between: { refreshed?: Awaited<ReturnType<typeof refreshSource>> } = {};
      vi.spyOn(t.deps.registry, 'saveEditedSource').mockImplementationOnce(async (...args) => {
        between.refreshed = await refreshSource(t.deps, id, { force: true });
        return saveEditedSource(...args);
      });
      const edited = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { secrets: [secret] } });
      expect(edited.statusCode, edited.body).toBe(200);
      return between.refreshed;
    };
    return { t, id, mark };
  }

  it("keeps the refresh's own fields (no stale error, its home page)", async (context) => {
    let serving: { status?: number; link: string; titles: string[] } = { link: 'http://one.test/', titles: ['A'] };
    const { t, id, mark } = await markedWithRefreshBetween(context, () => serving);
    serving = { status: 500, link: '', titles: [] };
    expect((await refreshSource(t.deps, id, { force: true }))?.source.lastError).toBeDefined();
    serving = { link: 'http://two.test/', titles: ['A'] };
    const refreshed = await mark('unrelated-value-99');
    // Positive control: the refresh in between succeeded with the new home page.
    expect(refreshed?.source).toMatchObject({ status: 'ok', siteUrl: 'http://two.test/' });
    const stored = (await t.deps.registry.getSource(id))!;
    expect(stored).toMatchObject({ status: 'ok', siteUrl: 'http://two.test/' });
    expect(stored.lastError).toBeUndefined();
  });

  it('scrubs the entries that refresh cached too', async (context) => {
    let titles = ['A'];
    const { t, id, mark } = await markedWithRefreshBetween(context, () => ({ link: 'http://one.test/', titles }));
    titles = ['A', `B ${SECRET}`];
    const refreshed = await mark(SECRET);
    // Positive control: the refresh in between cached the new item, secret and all.
    expect(refreshed?.outcome).toBe('updated');
    expect(JSON.stringify(await t.deps.registry.getEntries(id))).not.toContain(SECRET);
  });
});
