// /api/v1/sources through the real app, a real SQLite file and real upstream sockets.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { STORES } from '../helpers/stores.js';
import { freePort } from '../helpers/cli.js';

const TOKEN = 'T1SECRETu5cVd3sK9wPz7Qn2LmJfXy0Ha8Rb--';
const fixture = (name: string) => readFileSync(new URL(`../fixtures/feeds/${name}`, import.meta.url));

describe.each(STORES)('sources API (%s store)', (store) => {
  let upstream: Upstream;
  let closedPort: number;
  let t: TestApp;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    upstream = await startUpstream((request, response) => {
      const url = new URL(request.url ?? '/', 'http://upstream');
      const routes: Record<string, () => void> = {
        '/queue': () => {
          if (url.searchParams.get('feed_token') !== TOKEN) return void response.writeHead(401).end();
          response.writeHead(200, { 'content-type': 'application/atom+xml' }).end(fixture('netflix-queue.atom'));
        },
        '/podcast': () => response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss')),
        '/page': () =>
          response
            .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
            .end(
              '<!doctype html><html><head><title>Show</title><link rel="alternate" type="application/rss+xml" title="Episodes" href="podcast"></head><body>Hi</body></html>',
            ),
        '/plain-page': () => response.writeHead(200, { 'content-type': 'text/html' }).end(fixture('not-a-feed.html')),
        '/missing': () => response.writeHead(404).end('gone'),
        '/broken': () => response.writeHead(500).end('oops'),
        '/hang': () => undefined,
      };
      (routes[url.pathname] ?? (() => response.writeHead(404).end()))();
    });
    closedPort = await freePort();
    t = await startTestApp({
      store,
      allowPrivate: [upstream.hostPort, `127.0.0.1:${closedPort}`],
      overrides: { fetcher: { timeoutMs: 1500 } },
    });
    alice = await t.createUserKey('alice');
    bob = await t.createUserKey('bob');
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('creates a source from a tokenized feed, fetching once, and never shows the token', async () => {
    const url = upstream.url(`/queue?feed_token=${TOKEN}&output=atom`);
    const created = await t.api(alice, { method: 'POST', url: '/api/v1/sources', payload: { url } });
    expect(created.statusCode).toBe(201);
    const source = created.json();
    expect(source).toMatchObject({ title: "Netflix: Jane Doe's Disc Queue", status: 'ok', errorCount: 0, refreshMinutes: 30 });
    expect(source.url).toContain('feed_token=');
    expect(created.body).not.toContain(TOKEN);
    for (const field of ['lastFetchedAt', 'nextFetchAt', 'createdAt']) expect(new Date(source[field]).toISOString()).toBe(source[field]);

    const items = await t.api(alice, { method: 'GET', url: `/api/v1/sources/${source.id}/items` });
    expect(items.statusCode).toBe(200);
    expect(items.json().items).toHaveLength(4);
    expect(items.body).not.toContain(TOKEN);
    // Bookkeeping stays in the cache: each stored entry remembers its item's fingerprint, the API shows none.
    expect((await t.deps.registry.getEntries(source.id)).every((entry) => typeof entry.fingerprint === 'string')).toBe(true);
    expect(items.body).not.toContain('fingerprint');

    const one = await t.api(alice, { method: 'GET', url: `/api/v1/sources/${source.id}` });
    expect(one.json()).toEqual(source);
  });

  it('follows an HTML page to the feed it names (<link rel="alternate">)', async () => {
    const created = await t.api(alice, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/page') } });
    expect(created.statusCode).toBe(201);
    expect(created.json().url).toBe(upstream.url('/podcast'));
    expect(created.json().entryCount).toBe(3);
  });

  it.each([
    ['no scheme', 'example.org/feed', 400, 'FP_INVALID_URL'],
    ['file URL', 'file:///etc/passwd', 400, 'FP_INVALID_URL'],
    ['credentials in the URL', 'http://user:pw@example.org/feed', 400, 'FP_INVALID_URL'],
    ['loopback not in the allow list', 'http://127.0.0.1:1/feed', 400, 'FP_FORBIDDEN_ADDRESS'],
  ])('refuses %s with 400 and stores nothing', async (_name, url, status, code) => {
    const before = (await t.api(alice, { method: 'GET', url: '/api/v1/sources' })).json().sources.length;
    const response = await t.api(alice, { method: 'POST', url: '/api/v1/sources', payload: { url } });
    expect(response.statusCode).toBe(status);
    expect(response.json()).toMatchObject({ error: code });
    expect(response.json().message).toEqual(expect.any(String));
    expect((await t.api(alice, { method: 'GET', url: '/api/v1/sources' })).json().sources).toHaveLength(before);
  });

  it.each([
    ['upstream 404', '/missing', 'FP_UPSTREAM_HTTP', /404/],
    ['upstream 500', '/broken', 'FP_UPSTREAM_HTTP', /500/],
    ['a token the upstream refuses', '/queue?feed_token=wrong-token-value', 'FP_UPSTREAM_HTTP', /401/],
    ['an HTML page naming no feed', '/plain-page', 'FP_NOT_A_FEED', /feed/i],
    ['a hanging upstream', '/hang', 'FP_UPSTREAM_TIMEOUT', /timed out/i],
  ])('answers 422 for %s and stores nothing', async (_name, path, code, message) => {
    const before = (await t.api(alice, { method: 'GET', url: '/api/v1/sources' })).json().sources.length;
    const response = await t.api(alice, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(path) } });
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ error: code });
    expect(response.json().message).toMatch(message);
    expect(response.body).not.toContain('wrong-token-value');
    expect((await t.api(alice, { method: 'GET', url: '/api/v1/sources' })).json().sources).toHaveLength(before);
  });

  it('answers 422 when nothing listens', async () => {
    const response = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: `http://127.0.0.1:${closedPort}/feed` },
    });
    expect(response.statusCode).toBe(422);
    expect(response.json().error).toBe('FP_UPSTREAM_UNREACHABLE');
  });

  it.each([
    ['a missing url', {}],
    ['an unknown field', { url: 'http://example.org/', colour: 'red' }],
    ['refreshMinutes out of range', { url: 'http://example.org/', refreshMinutes: 0 }],
    ['refreshMinutes above a day', { url: 'http://example.org/', refreshMinutes: 1441 }],
  ])('answers 400 for %s', async (_name, payload) => {
    const response = await t.api(alice, { method: 'POST', url: '/api/v1/sources', payload });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe('FP_BAD_REQUEST');
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: '{nope',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.statusCode).toBe(400);
  });

  it('needs a valid API key', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/sources' })).statusCode).toBe(401);
    const wrong = await t.api('fp_not-a-real-key', { method: 'GET', url: '/api/v1/sources' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error).toBe('FP_UNAUTHORIZED');
  });

  it("answers 404 for another user's source exactly as for a missing one", async () => {
    const created = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: upstream.url('/podcast?copy=404-check') },
    });
    const id = created.json().id;
    const missing = await t.api(bob, { method: 'GET', url: '/api/v1/sources/no-such-id' });
    for (const [method, path] of [
      ['GET', `/api/v1/sources/${id}`],
      ['PATCH', `/api/v1/sources/${id}`],
      ['DELETE', `/api/v1/sources/${id}`],
      ['GET', `/api/v1/sources/${id}/items`],
      ['POST', `/api/v1/sources/${id}/refresh`],
    ] as const) {
      const response = await t.api(bob, { method, url: path, ...(method === 'PATCH' ? { payload: { title: 'x' } } : {}) });
      expect(response.statusCode, `${method} ${path}`).toBe(404);
      expect(response.json()).toEqual(missing.json());
    }
    expect((await t.api(bob, { method: 'GET', url: '/api/v1/sources' })).json().sources).toEqual([]);
  });

  it('edits, refreshes and deletes a source', async () => {
    const id = (
      await t.api(alice, {
        method: 'POST',
        url: '/api/v1/sources',
        payload: { url: upstream.url('/podcast?copy=edit'), refreshMinutes: 60 },
      })
    ).json().id;
    const patched = await t.api(alice, {
      method: 'PATCH',
      url: `/api/v1/sources/${id}`,
      payload: { title: 'My podcast', refreshMinutes: 120 },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ title: 'My podcast', refreshMinutes: 120 });

    const requestsBefore = upstream.requests.length;
    const refreshed = await t.api(alice, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json()).toMatchObject({ id, status: 'ok', title: 'My podcast' });
    expect(upstream.requests.length).toBe(requestsBefore + 1);

    expect((await t.api(alice, { method: 'DELETE', url: `/api/v1/sources/${id}` })).statusCode).toBe(204);
    expect((await t.api(alice, { method: 'GET', url: `/api/v1/sources/${id}` })).statusCode).toBe(404);
  });

  it('a new interval replans a fetched source from its last fetch, and leaves one still new due at once', async () => {
    const create = async (copy: string) => {
      const created = await t.api(alice, {
        method: 'POST',
        url: '/api/v1/sources',
        payload: { url: upstream.url(`/podcast?copy=${copy}`) },
      });
      expect(created.statusCode, created.body).toBe(201);
      return created.json().id as string;
    };
    const patch = async (id: string, payload: object) => {
      const patched = await t.api(alice, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload });
      expect(patched.statusCode, patched.body).toBe(200);
      return patched.json();
    };
    // A new URL leaves the source new, due at once, with the last fetch of its old URL on record.
    const waiting = await create('interval-new');
    const moved = await patch(waiting, { url: upstream.url('/podcast?copy=interval-new-2') });
    expect(moved).toMatchObject({ status: 'new' });
    expect(moved.lastFetchedAt).not.toBeNull();
    expect(Date.parse(moved.nextFetchAt)).toBeLessThanOrEqual(Date.now());
    const fetched = await create('interval-fetched');
    // Its last fetch two hours ago, so "from its last fetch" and "from now" differ by two hours.
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000).toISOString();
    await t.deps.registry.saveSource({ ...(await t.deps.registry.getSource(fetched))!, lastFetchedAt: twoHoursAgo });

    const stillNew = await patch(waiting, { refreshMinutes: 240 });
    expect(stillNew).toMatchObject({ status: 'new', refreshMinutes: 240 });
    expect(Date.parse(stillNew.nextFetchAt), `still due at once, not ${stillNew.nextFetchAt}`).toBeLessThanOrEqual(Date.now());
    const replanned = await patch(fetched, { refreshMinutes: 240 });
    expect(replanned).toMatchObject({ status: 'ok', refreshMinutes: 240 });
    // From its last fetch, with the interval's jitter (5% at most).
    expect(replanned.lastFetchedAt).toBe(twoHoursAgo);
    expect(Date.parse(replanned.nextFetchAt) - Date.parse(twoHoursAgo)).toBeGreaterThanOrEqual(0.95 * 240 * 60_000);
    expect(Date.parse(replanned.nextFetchAt) - Date.parse(twoHoursAgo)).toBeLessThanOrEqual(1.05 * 240 * 60_000);
  });

  it('lists all sources, or fewer with ?limit=', async () => {
    const all = (await t.api(alice, { method: 'GET', url: '/api/v1/sources' })).json().sources;
    expect(all.length).toBeGreaterThan(1);
    const limited = (await t.api(alice, { method: 'GET', url: '/api/v1/sources?limit=1' })).json().sources;
    expect(limited).toEqual(all.slice(0, 1));
  });
});
