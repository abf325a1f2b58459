// A relink puts its connection's unauthorized sources back, and a removal disables its sources: each
// lists the sources, then writes each one. An edit or a refresh of a source landing between the list
// and the write must be kept (the write applied over it), and the source must still end as the relink
// or the removal leaves it. Each test stages the other write, through the real API or refresh, there.
import { describe, expect, it, vi } from 'vitest';
import { UpstreamHttpError } from '../../src/errors.js';
import { CONNECTION_REMOVED } from '../../src/oauth/signed-requests.js';
import { refreshSource, type RefreshOptions, type RefreshResult } from '../../src/refresh/refresh-source.js';
import type { SourceRecord } from '../../src/model.js';
import { authorizeInBrowser, relink, revokedWithSibling, signedSource, startRelink } from '../helpers/signed-source.js';
import { tickOnce } from '../helpers/scheduler.js';
import { STORES } from '../helpers/stores.js';
import { PUBLIC_URL, type TestApp } from '../helpers/app.js';
import { openSecondConnection } from '../helpers/second-connection.js';

/** What a busy SQLite store throws (SQLITE_BUSY past its busy timeout). */
function busyError(): Error {
  return Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
}

/** The provider refuses the token the connection signed with last (revoked): its next signed fetch gets a 401. */
function revokeCurrentToken(provider: Awaited<ReturnType<typeof signedSource>>['provider']): void {
  provider.revoke(decodeURIComponent(/oauth_token="([^"]+)"/.exec(provider.stats.lastAuthorization ?? '')![1]!));
}

/** `count` more sources of the connection, at the provider's `baseUrl` (created while its token signs: a create fetches). */
async function addSources(t: TestApp, apiKey: string, baseUrl: string, connectionId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 2; index < 2 + count; index++) {
    const created = await t.api(apiKey, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: `${baseUrl}/users/{user_id}/queues/disc?list=${index}`, connectionId },
    });
    expect(created.statusCode, created.body).toBe(201);
    ids.push(created.json().id as string);
  }
  return ids;
}

/**
 * A connection of five sources refused with its old token and a relink started: the five are owed
 * their put-back when the callback lands. Counts the source writes and rebuild marks tried from here.
 */
async function relinkOwingFive(context: Parameters<typeof signedSource>[0], options: Parameters<typeof signedSource>[1]) {
  const { t, provider, apiKey, connectionId, id } = await signedSource(context, options);
  const more = await addSources(t, apiKey, provider.baseUrl, connectionId, 4);
  revokeCurrentToken(provider);
  await refreshSource(t.deps, id, { force: true });
  const authorizeUrl = await startRelink(t, apiKey, connectionId);
  return { t, connectionId, sources: [id, ...more], authorizeUrl };
}

/** Spies on the source writes and rebuild marks a put-back tries (each a busy wait when refused); `refused` makes each throw busy. */
function countPutBackWrites(t: TestApp, refused: boolean): () => number {
  const writes = [vi.spyOn(t.deps.registry, 'saveEditedSource'), vi.spyOn(t.deps.registry, 'markRebuildPending')];
  if (refused) for (const write of writes) write.mockRejectedValue(busyError());
  return () => writes.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
}

/** The callback lands with every put-back refused: one write tried by it and one by the next tick, not one a source. */
async function expectOneTryEach(t: TestApp, authorizeUrl: string, tried: () => number): Promise<void> {
  const callback = new URL((await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location')!);
  const answered = await t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
  expect(answered.statusCode, answered.body).toBe(200);
  // Positive control: five sources were owed their put-back, and none got it.
  expect(answered.body).toContain('5 of its sources could not resume yet');
  expect(tried()).toBe(1);
  await tickOnce(t);
  expect(tried()).toBe(2);
}

/**
 * A forced refresh of `sourceId` run right after the provider answers our next request (a relink's
 * token call), `before` first; answers what that refresh answered, once it has run.
 */
function refreshAfterNextProviderAnswer(t: TestApp, sourceId: string, before?: () => void): { result?: RefreshResult } {
  const request = t.deps.fetcher.request.bind(t.deps.fetcher);
  const seen: { result?: RefreshResult } = {};
  vi.spyOn(t.deps.fetcher, 'request').mockImplementationOnce(async (...args) => {
    try {
      return await request(...args);
    } finally {
      before?.();
      seen.result = await refreshSource(t.deps, sourceId, { force: true });
    }
  });
  return seen;
}

/** Runs `between` once, right after the next listing of a connection's sources; answers what that listing read. */
function betweenListAndWrite(t: TestApp, between: () => Promise<void>): { listed?: SourceRecord[] } {
  const listSourcesOfConnection = t.deps.registry.listSourcesOfConnection.bind(t.deps.registry);
  const seen: { listed?: SourceRecord[] } = {};
  vi.spyOn(t.deps.registry, 'listSourcesOfConnection').mockImplementationOnce(async (...args) => {
    seen.listed = await listSourcesOfConnection(...args);
    await between();
    return seen.listed;
  });
  return seen;
}

/** Removes the connection as the next fetch's answer comes back (its request signed before); `then` runs after the removal. */
function removeConnectionDuringNextFetch(
  t: TestApp,
  apiKey: string,
  connectionId: string,
  then?: () => void,
): { removed?: Awaited<ReturnType<TestApp['api']>> } {
  const fetchFeed = t.deps.fetcher.fetchFeed.bind(t.deps.fetcher);
  const seen: { removed?: Awaited<ReturnType<TestApp['api']>> } = {};
  vi.spyOn(t.deps.fetcher, 'fetchFeed').mockImplementationOnce(async (request) => {
    try {
      return await fetchFeed(request);
    } finally {
      seen.removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
      then?.();
    }
  });
  return seen;
}

describe.each(STORES)("a relink's reset of its unauthorized sources, with a write of one landing after the list (%s)", (store) => {
  /** Both sources of a revoked connection marked unauthorized by a refresh's 401. */
  async function markedByA401(context: Parameters<typeof revokedWithSibling>[0]) {
    const signed = await revokedWithSibling(context, { store });
    await refreshSource(signed.t.deps, signed.id, { force: true });
    // Positive control: the 401 marked the sibling too, so the relink has it to put back.
    expect((await signed.t.deps.registry.getSource(signed.siblingId))!.status).toBe('unauthorized');
    return signed;
  }

  it('a rename: kept, and the source is reset', async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await markedByA401(context);
    let renamed: Awaited<ReturnType<typeof t.api>> | undefined;
    const seen = betweenListAndWrite(t, async () => {
      renamed = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${siblingId}`, payload: { title: 'Renamed' } });
    });

    await relink(t, apiKey, connectionId);
    // Positive controls: the relink listed the sibling unauthorized, and the rename ran after.
    expect(seen.listed?.find((source) => source.id === siblingId)?.status).toBe('unauthorized');
    expect(renamed?.statusCode, renamed?.body).toBe(200);

    expect((await t.deps.registry.getConnection(connectionId))!.status).toBe('connected');
    expect((await t.deps.registry.getSource(siblingId))!).toMatchObject({ title: 'Renamed', status: 'new', errorCount: 0 });
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'new', errorCount: 0 });
    // Every source put back: nothing left owed for the scheduler.
    expect(await t.deps.registry.pendingPutBackConnectionIds()).toEqual([]);
  });

  it('a refresh with the new token: its result is kept, not reset to new over the record listed', async (context) => {
    const { t, apiKey, connectionId, siblingId } = await markedByA401(context);
    const between: { refreshed?: RefreshResult } = {};
    betweenListAndWrite(t, async () => {
      between.refreshed = await refreshSource(t.deps, siblingId, { force: true });
    });

    await relink(t, apiKey, connectionId);
    // Positive control: the connection was connected when listed, so the refresh signed with the new token.
    expect(between.refreshed?.source).toMatchObject({ status: 'ok', errorCount: 0 });

    expect((await t.deps.registry.getSource(siblingId))!).toMatchObject({
      status: 'ok',
      errorCount: 0,
      lastFetchedAt: between.refreshed?.source.lastFetchedAt,
    });
  });

  it('a refresh that leaves it unauthorized (a 403): reset over that result, which is kept', async (context) => {
    const { t, provider, apiKey, connectionId, siblingId } = await markedByA401(context);
    const between: { refreshed?: RefreshResult } = {};
    betweenListAndWrite(t, async () => {
      provider.forbid((url) => url.searchParams.has('list'));
      between.refreshed = await refreshSource(t.deps, siblingId, { force: true });
      provider.forbid(undefined);
    });

    await relink(t, apiKey, connectionId);
    // Positive control: the refresh in between was refused, and recorded so.
    expect(provider.stats.problems.permission_denied).toBe(1);
    expect(between.refreshed?.source).toMatchObject({ status: 'unauthorized' });

    // Still unauthorized when written over: the relink retries it, and the refresh's fetch stands.
    expect((await t.deps.registry.getSource(siblingId))!).toMatchObject({
      status: 'new',
      errorCount: 0,
      lastFetchedAt: between.refreshed?.source.lastFetchedAt,
    });
    expect((await refreshSource(t.deps, siblingId))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
  });
});

describe.each(STORES)("a relink's put-back with the store busy for one source's write (%s)", (store) => {
  it('those before it are put back, the callback says it is connected, and the next tick puts that one back and fetches it', async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    await refreshSource(t.deps, id, { force: true });
    const authorizeUrl = await startRelink(t, apiKey, connectionId);
    // The put-back's second write (the last source listed) is refused by a busy store.
    const save = t.deps.registry.saveEditedSource.bind(t.deps.registry);
    const saveEditedSource = vi.spyOn(t.deps.registry, 'saveEditedSource').mockImplementationOnce(save).mockRejectedValueOnce(busyError());

    const callback = new URL((await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location')!);
    const answered = await t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
    expect(answered.statusCode, answered.body).toBe(200);
    // Positive controls: the connection is linked, and one of the two put-back writes was refused.
    expect(await t.deps.registry.getConnection(connectionId)).toMatchObject({ status: 'connected' });
    expect(saveEditedSource).toHaveBeenCalledTimes(2);
    expect(answered.body).toContain('<h1>Connected</h1>');
    expect(answered.body).toContain('1 of its sources could not resume yet');
    const statuses = async () =>
      [(await t.deps.registry.getSource(id))!.status, (await t.deps.registry.getSource(siblingId))!.status].sort();
    expect(await statuses()).toEqual(['new', 'unauthorized']);

    await tickOnce(t);
    expect(await statuses()).toEqual(['ok', 'ok']);
    expect(await t.deps.registry.pendingPutBackConnectionIds()).toEqual([]);
  });

  it('the connection removed before the next tick: the tick drops what was owed, and the sources stay disabled', async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    await refreshSource(t.deps, id, { force: true });
    const authorizeUrl = await startRelink(t, apiKey, connectionId);
    vi.spyOn(t.deps.registry, 'saveEditedSource').mockRejectedValueOnce(
      Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }),
    );
    const callback = new URL((await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location')!);
    expect((await t.app.inject({ method: 'GET', url: callback.pathname + callback.search })).statusCode).toBe(200);
    // Positive control: one source is left owed.
    expect(await t.deps.registry.pendingPutBackConnectionIds()).toEqual([connectionId]);

    const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
    expect(removed.statusCode, removed.body).toBe(204);
    await tickOnce(t);

    expect(await t.deps.registry.pendingPutBackConnectionIds()).toEqual([]);
    for (const source of [id, siblingId]) expect((await t.deps.registry.getSource(source))!).toMatchObject({ status: 'disabled' });
  });

  it('a tick while the callback exchanges the token keeps what is owed: the busy source is put back by a later tick', async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    await refreshSource(t.deps, id, { force: true });
    const authorizeUrl = await startRelink(t, apiKey, connectionId);
    // A tick (of this instance or another) lands between the relink's mark and its link's write,
    // while the connection is not yet connected; every later mark is refused by a busy store.
    const markPutBackPending = t.deps.registry.markPutBackPending.bind(t.deps.registry);
    const during: { status?: string; owed?: string[] } = {};
    vi.spyOn(t.deps.registry, 'markPutBackPending')
      .mockImplementationOnce(async (connection) => {
        await markPutBackPending(connection);
        during.status = (await t.deps.registry.getConnection(connection))?.status;
        await tickOnce(t);
        during.owed = await t.deps.registry.pendingPutBackConnectionIds();
      })
      .mockRejectedValue(busyError());
    vi.spyOn(t.deps.registry, 'saveEditedSource').mockRejectedValueOnce(busyError());

    const callback = new URL((await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location')!);
    const answered = await t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
    vi.restoreAllMocks();
    expect(answered.statusCode, answered.body).toBe(200);
    // Positive controls: the tick saw the connection not yet linked, and a source was left.
    expect(during.status).not.toBe('connected');
    expect(answered.body).toMatch(/\d of its sources could not resume yet/);

    expect(during.owed).toEqual([connectionId]);
    await tickOnce(t);
    for (const source of [id, siblingId]) expect((await t.deps.registry.getSource(source))!.status).toBe('ok');
    expect(await t.deps.registry.pendingPutBackConnectionIds()).toEqual([]);
  });

  it('a busy store refusing every write: the callback and the tick each stop at the first refusal, not one wait a source', async (context) => {
    const { t, connectionId, sources, authorizeUrl } = await relinkOwingFive(context, { store });
    // Every source write and rebuild mark is refused, as each would be after waiting out the busy timeout.
    await expectOneTryEach(t, authorizeUrl, countPutBackWrites(t, true));
    vi.restoreAllMocks();
    expect(await t.deps.registry.pendingPutBackConnectionIds()).toEqual([connectionId]);
    await tickOnce(t);
    for (const source of sources) expect((await t.deps.registry.getSource(source))!.status).toBe('ok');
  });
});

describe.each(STORES)("a source's status as a relink or a removal changes it, in the feeds that publish it (%s)", (store) => {
  const HOUR = 3_600_000;

  /** A feed of the connection's sources, and the titles of what it publishes (read as a reader does). */
  async function feedOf(t: TestApp, apiKey: string, sources: string[]) {
    const feed = await t.api(apiKey, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Queues', sources } });
    expect(feed.statusCode, feed.body).toBe(201);
    const url = (feed.json().urls.json as string).slice(PUBLIC_URL.length);
    return async () => {
      const published = (await t.app.inject({ method: 'GET', url })).json() as { items: Array<{ title: string; content_html?: string }> };
      return published.items;
    };
  }

  it("a relink's put-back takes down the stale marker its unauthorized sources raised", async (context) => {
    let nowMs = Date.now();
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, {
      store,
      overrides: { now: () => new Date(nowMs) },
    });
    const items = await feedOf(t, apiKey, [id, siblingId]);
    // A day and more later, the provider's 401 marks both (default staleAfterHours: 24).
    nowMs += 25 * HOUR;
    await refreshSource(t.deps, id, { force: true });
    // Positive control: the refusal raised the marker.
    expect((await items())[0]!.title).toMatch(/^feedproxy:stale/);

    await relink(t, apiKey, connectionId);
    expect((await t.deps.registry.getSource(siblingId))!.status).toBe('new');

    expect((await items()).map((item) => item.title).join()).not.toContain('feedproxy:stale');
  });

  it("a removal's disabling raises the stale marker of sources whose last good fetch is a day old", async (context) => {
    let nowMs = Date.now();
    const { t, apiKey, connectionId, id } = await signedSource(context, { store, overrides: { now: () => new Date(nowMs) } });
    const items = await feedOf(t, apiKey, [id]);
    nowMs += 25 * HOUR;
    // Positive control: an ok source's old fetch raises no marker.
    expect((await items()).map((item) => item.title).join()).not.toContain('feedproxy:stale');

    const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
    expect(removed.statusCode, removed.body).toBe(204);

    const marker = (await items())[0]!;
    expect(marker.title).toMatch(/^feedproxy:stale/);
    expect(marker.content_html).toContain('disabled (FP_NOT_FOUND)');
  });

  it("a removal whose rebuild fails (not busy): answered 204 all the same, and the next tick publishes the sources' status", async (context) => {
    let nowMs = Date.now();
    const { t, apiKey, connectionId, id } = await signedSource(context, { store, overrides: { now: () => new Date(nowMs) } });
    const items = await feedOf(t, apiKey, [id]);
    nowMs += 25 * HOUR;
    const feedIdsOfSources = vi.spyOn(t.deps.registry, 'feedIdsOfSources').mockRejectedValueOnce(new Error('connection reset'));

    const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
    // Positive control: the removal's rebuild was the one refused.
    expect(feedIdsOfSources).toHaveBeenCalledTimes(1);
    expect(removed.statusCode, removed.body).toBe(204);
    expect(await t.deps.registry.getConnection(connectionId)).toBeUndefined();
    expect((await t.deps.registry.getSource(id))!.status).toBe('disabled');
    expect(await t.deps.registry.pendingRebuildSourceIds()).toEqual([id]);

    await tickOnce(t);
    expect((await items())[0]!.title).toMatch(/^feedproxy:stale/);
  });

  it('a refresh signed before the removal and written after it: its good fetch, disabled over, is republished', async (context) => {
    let nowMs = Date.now();
    const { t, apiKey, connectionId, id } = await signedSource(context, { store, overrides: { now: () => new Date(nowMs) } });
    const items = await feedOf(t, apiKey, [id]);
    // Refreshed once, so the next fetch finds the same document and keeps the snapshot (no rebuild of its own).
    expect((await refreshSource(t.deps, id, { force: true }))?.outcome).toBe('unchanged');
    nowMs += 25 * HOUR;
    const during = removeConnectionDuringNextFetch(t, apiKey, connectionId);
    let published: Awaited<ReturnType<typeof items>> | undefined;
    const saveRefreshedSource = t.deps.registry.saveRefreshedSource.bind(t.deps.registry);
    vi.spyOn(t.deps.registry, 'saveRefreshedSource').mockImplementationOnce(async (...args) => {
      published = await items();
      return saveRefreshedSource(...args);
    });

    const refreshed = await refreshSource(t.deps, id, { force: true });
    // Positive controls: the removal landed during the fetch and republished the day-old source as stale.
    expect(during.removed?.statusCode, during.removed?.body).toBe(204);
    expect(published?.[0]?.title).toMatch(/^feedproxy:stale/);

    // Its last good fetch is now: disabled since this moment, it is not stale yet.
    expect(refreshed?.source).toMatchObject({ status: 'disabled', lastSuccessAt: new Date(nowMs).toISOString() });
    expect((await items()).map((item) => item.title).join()).not.toContain('feedproxy:stale');
  });
});

describe.each(STORES)("a connection's removal, with a write of one of its sources landing after the list (%s)", (store) => {
  it('a rename: kept, and the source is disabled', async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    let renamed: Awaited<ReturnType<typeof t.api>> | undefined;
    const seen = betweenListAndWrite(t, async () => {
      renamed = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { title: 'Renamed' } });
    });

    const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
    expect(removed.statusCode, removed.body).toBe(204);
    // Positive controls: the removal listed the source, and the rename ran after.
    expect(seen.listed?.map((source) => source.id)).toEqual([id]);
    expect(renamed?.statusCode, renamed?.body).toBe(200);

    expect((await t.deps.registry.getSource(id))!).toMatchObject({ title: 'Renamed', status: 'disabled', lastError: CONNECTION_REMOVED });
  });

  it('a refresh: its result is kept, and the source is disabled', async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    const between: { refreshed?: RefreshResult } = {};
    betweenListAndWrite(t, async () => {
      between.refreshed = await refreshSource(t.deps, id, { force: true });
    });

    const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
    expect(removed.statusCode, removed.body).toBe(204);
    // Positive control: the refresh ran in between and recorded a fetch.
    expect(between.refreshed?.source.lastFetchedAt).toBeDefined();

    expect((await t.deps.registry.getSource(id))!).toMatchObject({
      status: 'disabled',
      lastError: CONNECTION_REMOVED,
      lastFetchedAt: between.refreshed?.source.lastFetchedAt,
    });
  });

  it('a refresh signed before the removal and written after it: the source still ends disabled', async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    const during = removeConnectionDuringNextFetch(t, apiKey, connectionId);

    const refreshed = await refreshSource(t.deps, id, { force: true });
    // Positive controls: the removal ran during the fetch, which the provider answered.
    expect(during.removed?.statusCode, during.removed?.body).toBe(204);
    expect(await t.deps.registry.getConnection(connectionId)).toBeUndefined();

    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });
    expect(refreshed?.source).toMatchObject({ status: 'disabled' });
  });

  it('a refresh signed before the removal and written after it: answered as a refresh of the disabled source is, not with its fetch', async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    const during = removeConnectionDuringNextFetch(t, apiKey, connectionId);

    const refreshed = await refreshSource(t.deps, id, { force: true });
    // Positive control: the removal ran during the fetch, which the provider answered.
    expect(during.removed?.statusCode, during.removed?.body).toBe(204);
    // What a refresh of the source the removal disabled answers (the user's refresh, the CLI's --all).
    const ofDisabled = await refreshSource(t.deps, id, { force: true });
    expect(ofDisabled).toMatchObject({ outcome: 'failed', error: { code: 'FP_NOT_FOUND', message: CONNECTION_REMOVED } });

    expect(refreshed).toMatchObject({ outcome: 'failed', error: ofDisabled!.error });
    expect(refreshed?.source).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED, lastErrorCode: 'FP_NOT_FOUND' });
  });

  it('a refresh signed before the removal that fails (an upstream 500): answered as a refresh of the disabled source is, not with its error', async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    let removed: Awaited<ReturnType<TestApp['api']>> | undefined;
    vi.spyOn(t.deps.fetcher, 'fetchFeed').mockImplementationOnce(async () => {
      removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
      throw new UpstreamHttpError(500, 'provider');
    });

    const refreshed = await refreshSource(t.deps, id, { force: true });
    // Positive control: the removal ran during the fetch.
    expect(removed?.statusCode, removed?.body).toBe(204);

    expect(refreshed).toMatchObject({ outcome: 'failed', error: { code: 'FP_NOT_FOUND', message: CONNECTION_REMOVED } });
    expect(refreshed?.source).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED, lastErrorCode: 'FP_NOT_FOUND' });
  });

  it('a refresh signed before the removal that the provider refuses (its 401 to the removed token): answered as a refresh of the disabled source is, not skipped', async (context) => {
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store });
    revokeCurrentToken(provider);
    const during = removeConnectionDuringNextFetch(t, apiKey, connectionId);

    const refreshed = await refreshSource(t.deps, id, { force: true });
    // Positive controls: the provider refused the token, and the removal ran during the fetch.
    expect(provider.stats.problems.token_revoked).toBe(1);
    expect(during.removed?.statusCode, during.removed?.body).toBe(204);

    expect(refreshed).toMatchObject({ outcome: 'failed', error: { code: 'FP_NOT_FOUND', message: CONNECTION_REMOVED } });
    expect(refreshed?.source).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED, lastErrorCode: 'FP_NOT_FOUND' });
  });

  it("a 401 to the removed token answered between the removal's delete and its disabling: the refresh disables the source itself, and answers so", async (context) => {
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store });
    revokeCurrentToken(provider);
    // The removal, begun as the provider answers, deletes the connection and lists the source; its
    // disabling waits until the refresh has answered.
    let answered!: () => void;
    let listed!: () => void;
    const refreshAnswered = new Promise<void>((resolve) => (answered = resolve));
    const removalListed = new Promise<void>((resolve) => (listed = resolve));
    const seen = betweenListAndWrite(t, async () => {
      listed();
      await refreshAnswered;
    });
    const fetchFeed = t.deps.fetcher.fetchFeed.bind(t.deps.fetcher);
    let removal: ReturnType<TestApp['api']> | undefined;
    vi.spyOn(t.deps.fetcher, 'fetchFeed').mockImplementationOnce(async (request) => {
      try {
        return await fetchFeed(request);
      } finally {
        removal = t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
        await removalListed;
      }
    });

    const refreshed = await refreshSource(t.deps, id, { force: true });
    answered();
    const removed = await removal!;
    // Positive controls: the provider refused the token, and the removal listed the source before its disabling.
    expect(provider.stats.problems.token_revoked).toBe(1);
    expect(seen.listed?.find((source) => source.id === id)?.status).toBe('ok');
    expect(removed.statusCode, removed.body).toBe(204);

    expect(refreshed).toMatchObject({ outcome: 'failed', error: { code: 'FP_NOT_FOUND', message: CONNECTION_REMOVED } });
    expect(refreshed?.source).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });
  });

  it("a removal landing after a refresh's 401 wrote the source unauthorized, before the refresh settles the connection: answered as a refresh of the disabled source is", async (context) => {
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store });
    revokeCurrentToken(provider);
    // The rebuild that follows the source's write (unauthorized now) is where the removal lands.
    const feedIdsOfSource = t.deps.registry.feedIdsOfSource.bind(t.deps.registry);
    let removed: Awaited<ReturnType<TestApp['api']>> | undefined;
    vi.spyOn(t.deps.registry, 'feedIdsOfSource').mockImplementationOnce(async (...args) => {
      removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
      return feedIdsOfSource(...args);
    });

    const refreshed = await refreshSource(t.deps, id, { force: true });
    // Positive controls: the provider refused the token (its clock probed too, the connection still
    // there), and the removal ran after the source's write.
    expect(provider.stats.problems.token_revoked).toBeGreaterThan(0);
    expect(removed?.statusCode, removed?.body).toBe(204);

    expect(refreshed).toMatchObject({ outcome: 'failed', error: { code: 'FP_NOT_FOUND', message: CONNECTION_REMOVED } });
    expect(refreshed?.source).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });
  });

  const notFailedBy: Array<[string, RefreshOptions]> = [
    ['the scheduler or the cron run (not forced)', {}],
    ['`feedproxy refresh --all` (forced, disabled sources skipped)', { force: true, skipDisabled: true }],
  ];
  for (const [caller, options] of notFailedBy)
    it(`a refresh signed before the removal and written after it, from ${caller}: skipped, as a disabled source is`, async (context) => {
      const { t, apiKey, connectionId, id } = await signedSource(context, { store });
      const during = removeConnectionDuringNextFetch(t, apiKey, connectionId);

      const refreshed = await refreshSource(t.deps, id, { ...options });
      // Positive controls: the removal ran during the fetch, and the source ended disabled.
      expect(during.removed?.statusCode, during.removed?.body).toBe(204);
      expect((await t.deps.registry.getSource(id))!.status).toBe('disabled');
      // What the same caller's refresh of the disabled source answers.
      expect((await refreshSource(t.deps, id, { ...options }))?.outcome).toBe('skipped');

      expect(refreshed).toMatchObject({ outcome: 'skipped', source: { status: 'disabled' } });
    });

  for (const [caller, options] of notFailedBy)
    it(`a refresh signed before the removal that the provider refuses (a 401), from ${caller}: skipped, the source disabled`, async (context) => {
      const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store });
      revokeCurrentToken(provider);
      const during = removeConnectionDuringNextFetch(t, apiKey, connectionId);

      const refreshed = await refreshSource(t.deps, id, { ...options });
      // Positive controls: the provider refused the token, and the removal ran during the fetch.
      expect(provider.stats.problems.token_revoked).toBe(1);
      expect(during.removed?.statusCode, during.removed?.body).toBe(204);

      expect(refreshed).toMatchObject({ outcome: 'skipped', source: { status: 'disabled' } });
    });

  for (const [caller, options] of notFailedBy)
    it(`a refresh between the removal's delete of the connection and its disabling, from ${caller}: skipped too`, async (context) => {
      const { t, apiKey, connectionId, id } = await signedSource(context, { store });
      let refreshed: RefreshResult | undefined;
      const seen = betweenListAndWrite(t, async () => {
        refreshed = await refreshSource(t.deps, id, { ...options });
      });

      const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
      // Positive controls: the removal listed the source, and the refresh ran after, finding no connection.
      expect(removed.statusCode, removed.body).toBe(204);
      expect(seen.listed?.map((source) => source.id)).toEqual([id]);
      expect(refreshed?.source).toMatchObject({ status: 'disabled', lastErrorCode: 'FP_NOT_FOUND' });

      expect(refreshed?.outcome).toBe('skipped');
    });

  it("a source deleted after the refresh's write (its connection removed meanwhile): the user's byte count stays whole", async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    const userId = (await t.deps.registry.getSource(id))!.userId;
    const during = removeConnectionDuringNextFetch(t, apiKey, connectionId);
    // The user deletes the source between the refresh's write and its look at the connection.
    const saveRefreshedSource = t.deps.registry.saveRefreshedSource.bind(t.deps.registry);
    let deleted: Awaited<ReturnType<typeof t.api>> | undefined;
    vi.spyOn(t.deps.registry, 'saveRefreshedSource').mockImplementationOnce(async (...args) => {
      const written = await saveRefreshedSource(...args);
      deleted = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/sources/${id}` });
      return written;
    });

    const refreshed = await refreshSource(t.deps, id, { force: true });
    // Positive controls: the delete ran after the write, and the source had bytes cached to count.
    expect(during.removed?.statusCode, during.removed?.body).toBe(204);
    expect(deleted?.statusCode, deleted?.body).toBe(204);
    expect(refreshed?.source.cachedBytes).toBeGreaterThan(0);

    expect(refreshed?.outcome).not.toBe('skipped');
    expect((await t.deps.registry.getUserCounts(userId))?.cachedBytes ?? 0).toBe(0);
  });

  it('the disabling after such a refresh refused by a busy store: the result stands, and the next refresh disables it', async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    // The removal done, the refresh's own disabling write is the next one: refused.
    const during = removeConnectionDuringNextFetch(t, apiKey, connectionId, () =>
      vi
        .spyOn(t.deps.registry, 'saveEditedSource')
        .mockRejectedValueOnce(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })),
    );

    const refreshed = await refreshSource(t.deps, id, { force: true });
    expect(during.removed?.statusCode, during.removed?.body).toBe(204);
    // Answered, not thrown: the fetch's result is written and stands until the next refresh.
    expect(refreshed?.source.status).toBe('ok');
    expect((await t.deps.registry.getSource(id))!.status).toBe('ok');
    await refreshSource(t.deps, id, { force: true });
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });
  });
});

describe.each(STORES)('a source that keeps changing under each write of it: what gave up says which write it was (%s)', (store) => {
  /** Before each write of the source tried from now on, another write of it lands (its update time moved on). */
  function keepChanging(t: TestApp, sourceId: string) {
    const saveEditedSource = t.deps.registry.saveEditedSource.bind(t.deps.registry);
    return vi.spyOn(t.deps.registry, 'saveEditedSource').mockImplementation(async (next, read) => {
      if (next.id === sourceId) {
        const current = (await t.deps.registry.getSource(sourceId))!;
        await t.deps.registry.saveSource({ ...current, updatedAt: new Date(Date.parse(current.updatedAt) + 1).toISOString() });
      }
      return saveEditedSource(next, read);
    });
  }

  /** The warnings logged for a write of a source left to its next one, and the error each gave up with. */
  function leftUndone(t: TestApp): Array<{ msg: string; err?: string }> {
    return t.logs
      .map((line) => JSON.parse(line) as { msg: string; err?: string })
      .filter((line) => line.msg.endsWith('left undone: the source kept changing'));
  }

  it("a removal's disabling", async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    const writes = keepChanging(t, id);

    const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
    // Positive control: the removal tried its write of the source, and gave up on it.
    expect(removed.statusCode, removed.body).toBe(204);
    expect(writes.mock.calls.length).toBeGreaterThan(1);

    expect(leftUndone(t)).toMatchObject([{ err: "the source kept changing while its connection's removal disabled it" }]);
  });

  it("a relink's put-back", async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    await refreshSource(t.deps, id, { force: true });
    const authorizeUrl = await startRelink(t, apiKey, connectionId);
    keepChanging(t, siblingId);

    const callback = new URL((await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location')!);
    const answered = await t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
    // Positive control: the sibling was left owed.
    expect(answered.body).toContain('1 of its sources could not resume yet');

    expect(leftUndone(t)).toMatchObject([{ err: "the source kept changing while its connection's relink put it back" }]);
  });

  it("a refresh's disabling of a source whose connection was removed during its fetch", async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    // The removal's own disabling lands; every write of the source after it is overtaken.
    const during = removeConnectionDuringNextFetch(t, apiKey, connectionId, () => keepChanging(t, id));

    await refreshSource(t.deps, id, { force: true });
    expect(during.removed?.statusCode, during.removed?.body).toBe(204);

    expect(leftUndone(t)).toMatchObject([{ err: 'the source kept changing while a refresh disabled it (its connection removed)' }]);
  });

  it('an edit: the 409 asks the user to try again', async (context) => {
    const { t, apiKey, id } = await signedSource(context, { store });
    keepChanging(t, id);

    const edited = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { title: 'Renamed' } });

    expect(edited.statusCode, edited.body).toBe(409);
    expect(edited.json().message).toBe('the source kept changing while it was edited; try again');
  });
});

describe.each(STORES)("a write landing while a relink's callback exchanges the token (%s)", (store) => {
  it('a removal: the connection stays removed, and the callback says so', async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    const authorizeUrl = await startRelink(t, apiKey, connectionId);
    const request = t.deps.fetcher.request.bind(t.deps.fetcher);
    let removed: Awaited<ReturnType<typeof t.api>> | undefined;
    vi.spyOn(t.deps.fetcher, 'request').mockImplementationOnce(async (...args) => {
      try {
        return await request(...args);
      } finally {
        removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
      }
    });

    const callback = new URL((await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location')!);
    const answered = await t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
    // Positive control: the removal landed during the token exchange.
    expect(removed?.statusCode, removed?.body).toBe(204);

    expect(answered.statusCode).toBe(400);
    expect(answered.body).toContain('removed or started again while it was being authorized');
    expect(await t.deps.registry.getConnection(connectionId)).toBeUndefined();
    expect((await t.api(apiKey, { method: 'GET', url: '/api/v1/connections' })).body).not.toContain(connectionId);
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });
  });
  it("a refresh's 401 with the old token: not in the way, the relink lands and puts the source back", async (context) => {
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store });
    const oldToken = decodeURIComponent(/oauth_token="([^"]+)"/.exec(provider.stats.lastAuthorization ?? '')![1]!);
    const authorizeUrl = await startRelink(t, apiKey, connectionId);
    // The provider drops the old grant; the next refresh meets it during the exchange.
    provider.revoke(oldToken);
    const between = refreshAfterNextProviderAnswer(t, id);

    const callback = new URL((await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location')!);
    const answered = await t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
    // Positive control: the refresh ran during the exchange and marked the source for the old token's 401.
    expect(between.result?.source.status).toBe('unauthorized');

    expect(answered.statusCode, answered.body).toBe(200);
    const relinked = (await t.deps.registry.getConnection(connectionId))!;
    expect(relinked.status).toBe('connected');
    expect(relinked.requestTokenHash).toBeUndefined();
    expect((await t.deps.registry.getSource(id))!.status).toBe('new');
  });
  it('a clock offset learnt for the old token: kept with the new one, which signs with it at once', async (context) => {
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store });
    const authorizeUrl = await startRelink(t, apiKey, connectionId);
    // The provider's clock moves an hour; a refresh with the old token meets it and learns the offset.
    const between = refreshAfterNextProviderAnswer(t, id, () => provider.setClockOffset(3600));

    const callback = new URL((await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location')!);
    const answered = await t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
    expect(answered.statusCode, answered.body).toBe(200);
    // Positive controls: the refresh during the exchange was refused for our clock, and learnt it.
    const refused = provider.stats.problems.timestamp_refused;
    expect(refused).toBeGreaterThan(0);
    expect(between.result?.source.status).toBe('ok');

    const relinked = (await t.deps.registry.getConnection(connectionId))!;
    expect(relinked.status).toBe('connected');
    // The provider's hour, give or take the second its answer and our clock read fell in.
    expect(Math.abs((relinked.clockOffsetSeconds ?? 0) - 3600)).toBeLessThanOrEqual(2);
    // Signed with the provider's time from the first request: no second refusal, no relearning.
    expect((await refreshSource(t.deps, id, { force: true }))?.source.status).toBe('ok');
    expect(provider.stats.problems.timestamp_refused).toBe(refused);
  });
  it("a refresh's 401 while a relink starts (the provider giving its request token): the connection stays unauthorized until the callback, which puts the sources back", async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    const between = refreshAfterNextProviderAnswer(t, id);

    const authorizeUrl = await startRelink(t, apiKey, connectionId);
    // Positive control: the refresh during the start met the provider's 401 and marked the connection.
    expect(between.result?.source.status).toBe('unauthorized');

    const started = (await t.deps.registry.getConnection(connectionId))!;
    expect(started.status).toBe('pending');
    expect(started.requestTokenHash).toBeDefined();
    await authorizeInBrowser(t, authorizeUrl);
    expect((await t.deps.registry.getConnection(connectionId))!.status).toBe('connected');
    for (const source of [id, siblingId]) expect((await t.deps.registry.getSource(source))!.status).toBe('new');
  });
  it('a removal while a relink starts (the provider giving its request token): the connection stays removed, and the relink says so', async (context) => {
    const { t, apiKey, connectionId, id } = await signedSource(context, { store });
    const request = t.deps.fetcher.request.bind(t.deps.fetcher);
    let removed: Awaited<ReturnType<TestApp['api']>> | undefined;
    vi.spyOn(t.deps.fetcher, 'request').mockImplementationOnce(async (...args) => {
      try {
        return await request(...args);
      } finally {
        removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
      }
    });

    const started = await t.api(apiKey, { method: 'POST', url: `/api/v1/connections/${connectionId}/relink` });
    // Positive control: the removal landed while the provider answered the request-token call.
    expect(removed?.statusCode, removed?.body).toBe(204);

    expect(started.statusCode, started.body).toBe(409);
    expect(await t.deps.registry.getConnection(connectionId)).toBeUndefined();
    expect((await t.api(apiKey, { method: 'GET', url: '/api/v1/connections' })).body).not.toContain(connectionId);
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });
  });
});

describe("a relink's put-back and a removal's rebuild with another process holding SQLite's write lock (sqlite)", () => {
  /** Takes the write lock from a second connection (another process) the next time `method` has answered. */
  function lockAfter(
    t: TestApp,
    method: 'listSourcesOfConnection' | 'feedIdsOfSources',
    context: { onTestFinished(fn: () => unknown): void },
    locked?: () => void,
  ) {
    const other = openSecondConnection(t);
    context.onTestFinished(async () => {
      await other.exec('ROLLBACK').catch(() => undefined);
      await other.close();
    });
    const original = (t.deps.registry[method] as (...args: never[]) => Promise<unknown>).bind(t.deps.registry);
    vi.spyOn(t.deps.registry, method).mockImplementationOnce((async (...args: never[]) => {
      const answer = await original(...args);
      await other.exec('BEGIN IMMEDIATE');
      locked?.();
      return answer;
    }) as never);
    return other;
  }

  it('the put-back tries one write, and the tick one, not one a source (each waits out the busy timeout)', async (context) => {
    const { t, sources, authorizeUrl } = await relinkOwingFive(context, { store: 'sqlite', busyTimeoutMs: 100 });
    const tried = countPutBackWrites(t, false);
    // The lock, taken once the put-back has listed the sources, refuses the put-back of all five.
    const other = lockAfter(t, 'listSourcesOfConnection', context);
    await expectOneTryEach(t, authorizeUrl, tried);

    await other.exec('ROLLBACK');
    await tickOnce(t);
    for (const source of sources) expect((await t.deps.registry.getSource(source))!.status).toBe('ok');
  });

  it("the removal's rebuild refused: the sources were marked before their writes, so nothing more waits", async (context) => {
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store: 'sqlite', busyTimeoutMs: 100 });
    const [siblingId] = await addSources(t, apiKey, provider.baseUrl, connectionId, 1);
    const feed = await t.api(apiKey, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Queues', sources: [id, siblingId] } });
    expect(feed.statusCode, feed.body).toBe(201);
    const marks = vi.spyOn(t.deps.registry, 'markRebuildPending');
    let markedBefore: number | undefined;
    const other = lockAfter(t, 'feedIdsOfSources', context, () => (markedBefore = marks.mock.calls.length));

    const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
    await other.exec('ROLLBACK');
    expect(removed.statusCode, removed.body).toBe(204);
    // Positive control: the lock was taken at the removal's rebuild.
    expect(markedBefore).toBeDefined();
    // Each marked before its write; no mark tried (each a busy wait) after the refused rebuild.
    expect(marks.mock.calls.length - markedBefore!).toBe(0);
    expect((await t.deps.registry.pendingRebuildSourceIds()).sort()).toEqual([id, siblingId].sort());
  });
});
