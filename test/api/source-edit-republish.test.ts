// What a published feed shows of a source's status is its stale marker (publish/rebuild-feed.ts): it
// stands while every source of the feed is failing, and lists each source's status and error code.
// An edit that brings a failing source back — any edit of an unauthorized or disabled source, a new
// URL of any failing one — resets it to `new`, so the marker must come down with the edit, not wait
// for a later refresh; an edit that leaves the status as it is changes nothing there.
import { describe, expect, it, vi } from 'vitest';
import { CONNECTION_REMOVED } from '../../src/oauth/signed-requests.js';
import { rebuildPendingFeeds } from '../../src/publish/rebuild-feed.js';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { buildTestApp, PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { signedSource } from '../helpers/signed-source.js';
import { STORES, type StoreKind } from '../helpers/stores.js';
import { serveBody, startUpstream, status, type UpstreamHandler } from '../helpers/upstream.js';

const HOUR = 3_600_000;
const FEED =
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Club</title><link>http://example.test/</link>' +
  '<item><guid>g1</guid><title>One</title></item></channel></rss>';

/** A source of `/feed` (answered as `answer()` says at each request) in a feed of its own; `/other` serves FEED. */
async function sourceInFeed(
  context: Parameters<typeof buildTestApp>[0],
  store: StoreKind,
  answer: () => UpstreamHandler,
  now?: () => Date,
) {
  const upstream = await startUpstream({
    '/feed': (request, response) => answer()(request, response),
    '/other': serveBody(FEED, { contentType: 'application/rss+xml' }),
  });
  context.onTestFinished(() => upstream.close());
  const t = await buildTestApp(context, { store, allowPrivate: [upstream.hostPort], ...(now ? { overrides: { now } } : {}) });
  const apiKey = await t.createUserKey();
  const created = await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
  expect(created.statusCode, created.body).toBe(201);
  const id = created.json().id as string;
  const feed = await t.api(apiKey, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Club feed', sources: [id] } });
  expect(feed.statusCode, feed.body).toBe(201);
  const path = (feed.json().urls.json as string).slice(PUBLIC_URL.length);
  const published = async () => (await t.app.inject({ method: 'GET', url: path })).body;
  return { t, upstream, apiKey, id, published };
}

/**
 * A source of `/feed` in a feed of its own, refused a day and more after its creation with `refusal`
 * (so every source of the feed fails past refresh.staleAfterHours, 24 h by default): the marker is up.
 */
async function refusedSourceInFeed(context: Parameters<typeof buildTestApp>[0], store: StoreKind, refusal: UpstreamHandler) {
  let answer: UpstreamHandler = serveBody(FEED, { contentType: 'application/rss+xml' });
  let nowMs = Date.now();
  const { t, upstream, apiKey, id, published } = await sourceInFeed(
    context,
    store,
    () => answer,
    () => new Date(nowMs),
  );
  const titles = async () => (JSON.parse(await published()) as { items: Array<{ title: string }> }).items.map((item) => item.title);

  nowMs += 25 * HOUR;
  answer = refusal;
  await refreshSource(t.deps, id, { force: true });
  // Positive control: the refusal raised the marker.
  expect((await titles())[0]).toMatch(/^feedproxy:stale/);
  return { t, upstream, apiKey, id, titles };
}

function edit(t: TestApp, apiKey: string, id: string, payload: Record<string, unknown>) {
  return t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload });
}

describe.each(STORES)('an edit that brings a failing source back, in the feeds that publish it (%s)', (store) => {
  it.for([
    ['unauthorized (a 401)', 401, 'unauthorized'],
    ['disabled (a 410)', 410, 'disabled'],
  ] as const)('%s, given a new interval: the stale marker comes down with the edit', async ([, code, refused], context) => {
    const { t, apiKey, id, titles } = await refusedSourceInFeed(context, store, status(code));
    expect((await t.deps.registry.getSource(id))!.status).toBe(refused);

    const edited = await edit(t, apiKey, id, { refreshMinutes: 120 });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json().status).toBe('new');

    expect((await titles()).join()).not.toContain('feedproxy:stale');
    // Published by the edit itself: nothing left for the scheduler.
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([]);
  });

  it('failing (a 500), given a new URL: the stale marker comes down with the edit', async (context) => {
    const { t, upstream, apiKey, id, titles } = await refusedSourceInFeed(context, store, status(500));
    expect((await t.deps.registry.getSource(id))!.status).toBe('failing');

    const edited = await edit(t, apiKey, id, { url: upstream.url('/other') });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json().status).toBe('new');

    expect((await titles()).join()).not.toContain('feedproxy:stale');
  });

  it('failing (a 500), given a new interval: still failing, so the marker stands and no rebuild is marked', async (context) => {
    const { t, apiKey, id, titles } = await refusedSourceInFeed(context, store, status(500));
    const marks = vi.spyOn(t.deps.registry, 'markRebuildPending');

    const edited = await edit(t, apiKey, id, { refreshMinutes: 120 });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json().status).toBe('failing');

    expect((await titles())[0]).toMatch(/^feedproxy:stale/);
    expect(marks).not.toHaveBeenCalled();
  });

  it("an unauthorized source's edit whose rebuild fails (not busy): answered 200 all the same, and the pending pass publishes it", async (context) => {
    const { t, apiKey, id, titles } = await refusedSourceInFeed(context, store, status(401));
    const feedIdsOfSources = vi.spyOn(t.deps.registry, 'feedIdsOfSources').mockRejectedValueOnce(new Error('connection reset'));

    const edited = await edit(t, apiKey, id, { refreshMinutes: 120 });
    // Positive control: the edit's rebuild was the one refused.
    expect(feedIdsOfSources).toHaveBeenCalledTimes(1);
    expect(edited.statusCode, edited.body).toBe(200);
    expect((await t.deps.registry.getSource(id))!.status).toBe('new');
    // Marked before the edit's write, so the scheduler's pending pass (its tick's first step) has it.
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([id]);

    await rebuildPendingFeeds(t.deps);
    expect((await titles()).join()).not.toContain('feedproxy:stale');
  });
});

// A new title or a value marked secret changes what the feeds publish too: their rebuild failing is
// no reason to answer the edit with an error after writing it (a retry would find the title set, or
// the value marked, and rebuild nothing), so it is left to the pending pass as a status edit's is.
describe.each(STORES)("an edit whose feeds' rebuild fails (%s)", (store) => {
  const SECRET = 'hush-SECRETVALUE42';

  /** The next read of which feeds publish the source fails (either read a rebuild may start with). */
  function failNextRebuild(t: TestApp) {
    const one = vi.spyOn(t.deps.registry, 'feedIdsOfSource').mockRejectedValueOnce(new Error('connection reset'));
    const many = vi.spyOn(t.deps.registry, 'feedIdsOfSources').mockRejectedValueOnce(new Error('connection reset'));
    return () => one.mock.calls.length + many.mock.calls.length;
  }

  const healthySourceInFeed = (context: Parameters<typeof buildTestApp>[0], body: string) =>
    sourceInFeed(context, store, () => serveBody(body, { contentType: 'application/rss+xml' }));

  it('a new title: answered 200, marked pending, and the pending pass publishes it', async (context) => {
    const { t, apiKey, id, published } = await healthySourceInFeed(context, FEED);
    expect(await published()).toContain('"Club"');
    const rebuildReads = failNextRebuild(t);

    const edited = await edit(t, apiKey, id, { title: 'Renamed club' });
    // Positive control: the edit's rebuild was the one refused.
    expect(rebuildReads()).toBe(1);
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json().title).toBe('Renamed club');
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([id]);

    await rebuildPendingFeeds(t.deps);
    expect(await published()).toContain('Renamed club');
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([]);
  });

  it('a value marked secret: answered 200, marked pending, and the pending pass takes it out of the feed', async (context) => {
    const { t, apiKey, id, published } = await healthySourceInFeed(
      context,
      FEED.replace('<title>One</title>', `<title>One ${SECRET}</title>`),
    );
    // Positive control: the value is published before it is marked.
    expect(await published()).toContain(SECRET);
    const rebuildReads = failNextRebuild(t);

    const edited = await edit(t, apiKey, id, { secrets: [SECRET] });
    expect(rebuildReads()).toBe(1);
    expect(edited.statusCode, edited.body).toBe(200);
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([id]);

    await rebuildPendingFeeds(t.deps);
    expect(await published()).not.toContain(SECRET);
  });

  it("a new title, when the scheduler's pending pass takes the edit's mark down before the edit's write and the edit's own rebuild fails: marked again, and the next tick publishes it", async (context) => {
    const { t, apiKey, id, published } = await healthySourceInFeed(context, FEED);
    const mark = t.deps.registry.markRebuildPending.bind(t.deps.registry);
    let tickRan = false;
    vi.spyOn(t.deps.registry, 'markRebuildPending').mockImplementationOnce(async (sourceId) => {
      await mark(sourceId);
      // The scheduler's tick lands here: its pending pass rebuilds from the record before the edit, and unmarks.
      await rebuildPendingFeeds(t.deps);
      tickRan = true;
    });
    const feedIdsOfSources = t.deps.registry.feedIdsOfSources.bind(t.deps.registry);
    let reads = 0;
    vi.spyOn(t.deps.registry, 'feedIdsOfSources').mockImplementation(async (ids) => {
      reads += 1;
      // The pending pass's read, then the edit's own rebuild's, which fails.
      if (reads === 2) throw new Error('connection reset');
      return feedIdsOfSources(ids);
    });

    const edited = await edit(t, apiKey, id, { title: 'Renamed club' });
    // Positive controls: the tick ran between the mark and the write, and the edit's rebuild failed.
    expect(tickRan).toBe(true);
    expect(reads).toBe(2);
    expect(edited.statusCode, edited.body).toBe(200);
    vi.restoreAllMocks();
    expect(await published()).not.toContain('Renamed club');
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([id]);

    await rebuildPendingFeeds(t.deps);
    expect(await published()).toContain('Renamed club');
  });

  it('a value marked secret with a new URL in the same edit: taken out of the cached entries and of the feed at once', async (context) => {
    const { t, upstream, apiKey, id, published } = await healthySourceInFeed(
      context,
      FEED.replace('<title>One</title>', `<title>One ${SECRET}</title>`),
    );
    // Positive control: the value is published, and cached, before it is marked.
    expect(await published()).toContain(SECRET);
    expect(JSON.stringify(await t.deps.registry.getEntries(id))).toContain(SECRET);

    const edited = await edit(t, apiKey, id, { url: upstream.url('/other'), secrets: [SECRET] });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(JSON.stringify(await t.deps.registry.getEntries(id))).not.toContain(SECRET);
    expect(await published()).not.toContain(SECRET);
  });
});

// A removed connection's sources are disabled for good: nothing signs their requests any more. An
// edit that reset one to `new` only had its next refresh disable it again, its feeds' stale marker
// coming down with the edit and going back up with that refresh.
describe.each(STORES)('an edit of a source whose OAuth connection was removed (%s)', (store) => {
  it('keeps it disabled, saying what to do; a new URL is refused with the same words', async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
    expect(removed.statusCode, removed.body).toBe(204);
    // Positive control: the removal disabled it.
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });

    const renamed = await edit(t, apiKey, id, { title: 'Old queue', refreshMinutes: 120 });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ title: 'Old queue', status: 'disabled', lastError: CONNECTION_REMOVED });
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ title: 'Old queue', status: 'disabled' });

    const moved = await edit(t, apiKey, id, { url: 'https://example.test/other.rss' });
    expect(moved.statusCode, moved.body).toBe(409);
    expect(moved.json().message).toBe(CONNECTION_REMOVED);

    // Its own URL sent back with an edit, as the API shows it or as stored, moves nothing: the edit is taken.
    const record = (await t.deps.registry.getSource(id))!;
    for (const url of [renamed.json().url as string, t.deps.vault.open(record.urlSealed)]) {
      const same = await edit(t, apiKey, id, { url, title: `Queue at ${url.length}` });
      expect(same.statusCode, same.body).toBe(200);
      expect(same.json()).toMatchObject({
        title: `Queue at ${url.length}`,
        url: renamed.json().url,
        status: 'disabled',
        lastError: CONNECTION_REMOVED,
      });
    }
  });
});
