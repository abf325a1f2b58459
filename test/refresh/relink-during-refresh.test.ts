// A provider's 401 answers the token a request was signed with. The user may relink the connection (a
// new access token) while that refresh is under way: the answer about the old token must never undo
// the relink, nor leave a source unauthorized — scheduled no more — behind a connection that works.
// Each test stages the relink, through the real API and callback, at one moment of the refresh.
import { describe, expect, it, vi } from 'vitest';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { relink, revokedWithSibling, signedSource } from '../helpers/signed-source.js';
import { STORES } from '../helpers/stores.js';

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
    expect((await t.deps.registry.getSource(id))!.status).not.toBe('unauthorized');
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
});
