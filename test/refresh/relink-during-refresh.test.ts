// A provider's 401 answers the token a request was signed with. The user may relink the connection (a
// new access token) while that refresh is under way: the answer about the old token must never undo
// the relink, nor leave a source unauthorized — scheduled no more — behind a connection that works.
// Each test stages the relink, through the real API and callback, at one moment of the refresh.
import { describe, expect, it, vi } from 'vitest';
import { CONNECTION_REMOVED } from '../../src/oauth/signed-requests.js';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { authorizeInBrowser, relink, revokedWithSibling, signedSource, startRelink } from '../helpers/signed-source.js';
import { STORES } from '../helpers/stores.js';
import { startUpstream } from '../helpers/upstream.js';

describe.each(STORES)("a signed source's 401 while the user relinks its connection (%s)", (store) => {
  it('landing during the fetch: the relinked connection stands, the source is not marked, and its next refresh works', async (context) => {
    const { t, provider, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    const before = (await t.deps.registry.getConnection(connectionId))!;
    const fetchFeed = t.deps.fetcher.fetchFeed.bind(t.deps.fetcher);
    const relinked = vi.spyOn(t.deps.fetcher, 'fetchFeed').mockImplementationOnce(async (request) => {
      try {
        return await fetchFeed(request);
      } finally {
        await relink(t, apiKey, connectionId);
      }
    });

    const result = await refreshSource(t.deps, id, { force: true });
    // Positive controls: the provider refused the old token, and the relink ran before it was recorded.
    expect(provider.stats.problems.token_revoked).toBeGreaterThanOrEqual(1);
    expect(relinked).toHaveBeenCalledTimes(1);
    const after = (await t.deps.registry.getConnection(connectionId))!;
    expect(after.accessTokenSealed).not.toBe(before.accessTokenSealed);

    expect(after.status).toBe('connected');
    expect(result?.source.status).not.toBe('unauthorized');
    expect((await t.deps.registry.getSource(id))!.status).not.toBe('unauthorized');
    expect((await t.deps.registry.getSource(siblingId))!.status).not.toBe('unauthorized');
    expect((await refreshSource(t.deps, id, { force: true }))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
  });

  it("landing between the connection's read and its write: the relink is not written over", async (context) => {
    const { t, apiKey, connectionId, id } = await revokedWithSibling(context, { store });
    const getConnection = t.deps.registry.getConnection.bind(t.deps.registry);
    // The refresh's first read of the connection is the one its 401 marking works from.
    let relinked = false;
    vi.spyOn(t.deps.registry, 'getConnection').mockImplementationOnce(async (connection) => {
      const read = await getConnection(connection);
      await relink(t, apiKey, connectionId);
      relinked = true;
      return read;
    });

    await refreshSource(t.deps, id, { force: true });
    // Positive control: the relink ran after the read the 401's marking began with.
    expect(relinked).toBe(true);
    const after = (await t.deps.registry.getConnection(connectionId))!;
    expect(after.status).toBe('connected');
    expect((await t.deps.registry.getSource(id))!.status).not.toBe('unauthorized');
    // The relinked token signs: the source's next refresh works.
    expect((await refreshSource(t.deps, id, { force: true }))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
    expect((await t.deps.registry.getConnection(connectionId))!.status).toBe('connected');
  });

  it("landing between the connection's mark and the source's own write: the source is put back, as the relink put the others", async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    const saveRefreshedSource = t.deps.registry.saveRefreshedSource.bind(t.deps.registry);
    let connectionAtWrite: string | undefined;
    const relinked = vi.spyOn(t.deps.registry, 'saveRefreshedSource').mockImplementationOnce(async (...args) => {
      connectionAtWrite = (await t.deps.registry.getConnection(connectionId))!.status;
      await relink(t, apiKey, connectionId);
      return saveRefreshedSource(...args);
    });

    await refreshSource(t.deps, id, { force: true });
    // Positive controls: the connection was marked before the source's write, and the relink ran there.
    expect(connectionAtWrite).toBe('unauthorized');
    expect(relinked.mock.calls[0]![0]).toMatchObject({ id, status: 'unauthorized' });

    expect((await t.deps.registry.getConnection(connectionId))!.status).toBe('connected');
    const source = (await t.deps.registry.getSource(id))!;
    expect(source.status).not.toBe('unauthorized');
    // Due now, as the relink makes its unauthorized sources.
    expect(Date.parse(source.nextFetchAt)).toBeLessThanOrEqual(t.deps.now().getTime());
    expect((await t.deps.registry.getSource(siblingId))!.status).not.toBe('unauthorized');
    expect((await refreshSource(t.deps, id))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
  });

  it("landing while the provider's clock is learnt: the learnt offset is not written over the relink", async (context) => {
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store });
    const before = (await t.deps.registry.getConnection(connectionId))!;
    provider.setClockOffset(3600);
    context.onTestFinished(() => provider.setClockOffset(0));
    // The correction's signed request (the fetcher's raw request) is answered, then the user relinks.
    const request = t.deps.fetcher.request.bind(t.deps.fetcher);
    let relinked = false;
    vi.spyOn(t.deps.fetcher, 'request').mockImplementationOnce(async (...args) => {
      const answer = await request(...args);
      await relink(t, apiKey, connectionId);
      relinked = true;
      return answer;
    });

    await refreshSource(t.deps, id, { force: true });
    // Positive controls: the provider refused our clock, and the relink ran during the correction.
    expect(provider.stats.problems.timestamp_refused).toBeGreaterThanOrEqual(1);
    expect(relinked).toBe(true);
    const after = (await t.deps.registry.getConnection(connectionId))!;
    expect(after.accessTokenSealed).not.toBe(before.accessTokenSealed);
    expect(after.status).toBe('connected');
    // The offset learnt for the old link is not written with it either.
    expect(after.clockOffsetSeconds ?? 0).toBe(0);
    expect((await t.deps.registry.getSource(id))!.status).not.toBe('unauthorized');
  });

  it('landing while the other sources are marked: those marked are put back, as the relink put the others', async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    const listSourcesOfConnection = t.deps.registry.listSourcesOfConnection.bind(t.deps.registry);
    // The relink finishes after the marking listed the sources (the sibling still ok, so the relink
    // leaves it alone) and before the sibling's write.
    let relinked = false;
    vi.spyOn(t.deps.registry, 'listSourcesOfConnection').mockImplementationOnce(async (...args) => {
      const listed = await listSourcesOfConnection(...args);
      await relink(t, apiKey, connectionId);
      relinked = true;
      return listed;
    });
    const saveEditedSource = vi.spyOn(t.deps.registry, 'saveEditedSource');

    await refreshSource(t.deps, id, { force: true });
    // Positive controls: the relink landed there, and the sibling was written unauthorized after it.
    expect(relinked).toBe(true);
    expect(saveEditedSource.mock.calls.some(([written]) => written.id === siblingId && written.status === 'unauthorized')).toBe(true);

    expect((await t.deps.registry.getConnection(connectionId))!.status).toBe('connected');
    expect((await t.deps.registry.getSource(siblingId))!.status).not.toBe('unauthorized');
    expect((await t.deps.registry.getSource(id))!.status).not.toBe('unauthorized');
    expect((await refreshSource(t.deps, siblingId))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
  });

  it("landing before a marked sibling's refresh with the new token: the put-back leaves that refresh's result", async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    const saveEditedSource = t.deps.registry.saveEditedSource.bind(t.deps.registry);
    const sibling: { refresh?: Awaited<ReturnType<typeof refreshSource>> } = {};
    // Once the sibling is marked, the user relinks (putting it back) and it refreshes with the new token.
    vi.spyOn(t.deps.registry, 'saveEditedSource').mockImplementation(async (written, read) => {
      const saved = await saveEditedSource(written, read);
      if (sibling.refresh === undefined && saved && written.id === siblingId && written.status === 'unauthorized') {
        await relink(t, apiKey, connectionId);
        sibling.refresh = await refreshSource(t.deps, siblingId, { force: true });
      }
      return saved;
    });

    await refreshSource(t.deps, id, { force: true });
    // Positive control: the sibling was marked, then refreshed fine with the new token.
    expect(sibling.refresh?.source).toMatchObject({ status: 'ok' });
    expect((await t.deps.registry.getSource(siblingId))!).toMatchObject({
      status: 'ok',
      lastFetchedAt: sibling.refresh!.source.lastFetchedAt,
    });
  });

  it('with an edit of a sibling read before its mark and written after it: the sibling is not left unauthorized', async (context) => {
    const { t, apiKey, connectionId, id, siblingId } = await revokedWithSibling(context, { store });
    const listSourcesOfConnection = t.deps.registry.listSourcesOfConnection.bind(t.deps.registry);
    // The relink lands once the marking has listed the sources (the sibling ok, so left alone by it).
    vi.spyOn(t.deps.registry, 'listSourcesOfConnection').mockImplementationOnce(async (...args) => {
      const listed = await listSourcesOfConnection(...args);
      await relink(t, apiKey, connectionId);
      return listed;
    });
    // Right after the sibling's mark, a rename of it that read it before the mark writes.
    const saveEditedSource = t.deps.registry.saveEditedSource.bind(t.deps.registry);
    let renamed: Awaited<ReturnType<typeof t.api>> | undefined;
    let renaming = false;
    vi.spyOn(t.deps.registry, 'saveEditedSource').mockImplementation(async (written, read) => {
      const saved = await saveEditedSource(written, read);
      if (!renaming && saved && written.id === siblingId && written.status === 'unauthorized') {
        renaming = true;
        vi.spyOn(t.deps.registry, 'getOwnedSource').mockResolvedValueOnce(read);
        renamed = await t.api(apiKey, { method: 'PATCH', url: `/api/v1/sources/${siblingId}`, payload: { title: 'Renamed' } });
      }
      return saved;
    });

    await refreshSource(t.deps, id, { force: true });
    // Positive control: the rename ran after the mark.
    expect(renamed?.statusCode, renamed?.body).toBe(200);
    expect((await t.deps.registry.getConnection(connectionId))!.status).toBe('connected');
    expect((await t.deps.registry.getSource(siblingId))!).toMatchObject({ title: 'Renamed' });
    expect((await t.deps.registry.getSource(siblingId))!.status).not.toBe('unauthorized');
  });

  it("begun between the connection's read and its write: the relink's pending request survives, and its callback links", async (context) => {
    const { t, apiKey, connectionId, id } = await revokedWithSibling(context, { store });
    const getConnection = t.deps.registry.getConnection.bind(t.deps.registry);
    let authorizeUrl: string | undefined;
    vi.spyOn(t.deps.registry, 'getConnection').mockImplementationOnce(async (connection) => {
      const read = await getConnection(connection);
      authorizeUrl = await startRelink(t, apiKey, connectionId);
      return read;
    });

    await refreshSource(t.deps, id, { force: true });
    // Positive control: the relink began after the read the marking started from.
    expect(authorizeUrl).toBeDefined();
    // The old token is revoked, so the connection is marked; the relink's request token is kept.
    expect((await t.deps.registry.getConnection(connectionId))!.requestTokenHash).toBeDefined();
    await authorizeInBrowser(t, authorizeUrl!);
    expect((await t.deps.registry.getConnection(connectionId))!.status).toBe('connected');
    expect((await refreshSource(t.deps, id))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
  });

  it("removed between the connection's mark and the source's own write: the source is disabled, as the removal disables the others", async (context) => {
    const { t, apiKey, connectionId, id } = await revokedWithSibling(context, { store });
    const saveRefreshedSource = t.deps.registry.saveRefreshedSource.bind(t.deps.registry);
    vi.spyOn(t.deps.registry, 'saveRefreshedSource').mockImplementationOnce(async (...args) => {
      const removed = await t.api(apiKey, { method: 'DELETE', url: `/api/v1/connections/${connectionId}` });
      expect(removed.statusCode, removed.body).toBe(204);
      return saveRefreshedSource(...args);
    });

    await refreshSource(t.deps, id, { force: true });
    expect(await t.deps.registry.getConnection(connectionId)).toBeUndefined();
    expect((await t.deps.registry.getSource(id))!).toMatchObject({ status: 'disabled', lastError: CONNECTION_REMOVED });
  });
});

describe.each(STORES)("a signed source's 403 (%s)", (store) => {
  it('marks that source alone: the token is good, so the connection and its other sources carry on', async (context) => {
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store });
    const sibling = await t.api(apiKey, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: `${provider.baseUrl}/users/{user_id}/queues/disc?list=2`, connectionId },
    });
    expect(sibling.statusCode, sibling.body).toBe(201);
    const siblingId = sibling.json().id as string;
    // The provider withdraws the first source's resource from this account, not the account's token.
    provider.forbid((url) => !url.searchParams.has('list'));

    const refused = await refreshSource(t.deps, id, { force: true });
    // Positive control: the provider answered 403 to that source.
    expect(provider.stats.problems.permission_denied).toBe(1);
    expect(refused?.source).toMatchObject({ status: 'unauthorized' });
    expect(refused?.source.lastError).toContain('403');

    expect((await t.deps.registry.getConnection(connectionId))!.status).toBe('connected');
    expect((await t.deps.registry.getSource(siblingId))!.status).not.toBe('unauthorized');
    expect((await refreshSource(t.deps, siblingId, { force: true }))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
  });

  it('to the old token, answered after a relink: the source is not marked behind the new link', async (context) => {
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store });
    provider.forbid((url) => !url.searchParams.has('list'));
    const fetchFeed = t.deps.fetcher.fetchFeed.bind(t.deps.fetcher);
    vi.spyOn(t.deps.fetcher, 'fetchFeed').mockImplementationOnce(async (request) => {
      try {
        return await fetchFeed(request);
      } finally {
        provider.forbid(undefined);
        await relink(t, apiKey, connectionId);
      }
    });

    await refreshSource(t.deps, id, { force: true });
    expect(provider.stats.problems.permission_denied).toBe(1);
    expect((await t.deps.registry.getSource(id))!.status).not.toBe('unauthorized');
    expect((await refreshSource(t.deps, id, { force: true }))?.source).toMatchObject({ status: 'ok', errorCount: 0 });
  });
});

describe.each(STORES)("a signed source's 401 from a host its redirect left the provider for (%s)", (store) => {
  it('is no refusal of the token: the source is marked alone, unsigned', async (context) => {
    const elsewhere = await startUpstream({
      '/moved': (_request, response) => {
        response.writeHead(401).end('no');
      },
    });
    context.onTestFinished(() => elsewhere.close());
    const { t, provider, apiKey, connectionId, id } = await signedSource(context, { store, allowPrivate: [elsewhere.hostPort] });
    const sibling = await t.api(apiKey, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: `${provider.baseUrl}/users/{user_id}/queues/disc?list=2`, connectionId },
    });
    expect(sibling.statusCode, sibling.body).toBe(201);
    provider.redirect((url) => (url.searchParams.has('list') ? undefined : elsewhere.url('/moved')));

    const refused = await refreshSource(t.deps, id, { force: true });
    // Positive controls: the request went there, without our signature.
    expect(elsewhere.requests.map((request) => request.headers.authorization)).toEqual([undefined]);
    expect(refused?.source).toMatchObject({ status: 'unauthorized' });

    expect((await t.deps.registry.getConnection(connectionId))!.status).toBe('connected');
    expect((await t.deps.registry.getSource(sibling.json().id))!.status).not.toBe('unauthorized');
  });
});
