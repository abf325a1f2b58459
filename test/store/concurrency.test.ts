// Concurrent writers never lose each other's entries in a listing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';
import { STORES } from '../helpers/stores.js';

describe.each(STORES)('store under concurrent writes (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  beforeAll(async () => {
    upstream = await startUpstream({ '/feed': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
    // 200 creates of one user at once: the per-user heavy-request limit (429 past it) is not what is tested.
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort], env: { FEEDPROXY_HEAVY_REQUESTS_PER_USER: '1000' } });
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('lists all 200 sources created at once', async () => {
    const key = await t.createUserKey();
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        t.api(key, {
          method: 'POST',
          url: '/api/v1/sources',
          payload: { url: upstream.url(`/feed?n=${index}`), title: `source ${index}` },
        }),
      ),
    );
    expect(responses.map((response) => response.statusCode)).toEqual(Array(200).fill(201));
    const listed = (await t.api(key, { method: 'GET', url: '/api/v1/sources' })).json().sources as Array<{ id: string; title: string }>;
    expect(listed).toHaveLength(200);
    expect(new Set(listed.map((source) => source.id))).toEqual(new Set(responses.map((response) => response.json().id)));
  });
});
