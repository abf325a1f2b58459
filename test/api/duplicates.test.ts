// Issue 17: a URL the user already has answers 409 naming it (API and OPML agree), found through a
// keyed index rather than a scan; quotas are reservations on a counter, so concurrent creates
// never get past them. Real app, real stores, real upstream sockets.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { readRedisKeys, STORES } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TOKEN = 'DupT0kenSECRETu5cVd3sK9wPz7Qn2LmJf';
const fixture = (name: string) => readFileSync(new URL(`../fixtures/feeds/${name}`, import.meta.url));

describe.each(STORES)('duplicate sources and quotas (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  let alice: string;

  let moved = false;
  let movedOntoQueue = false;
  beforeAll(async () => {
    upstream = await startUpstream({
      '/queue': (_request, response) =>
        void response.writeHead(200, { 'content-type': 'application/atom+xml' }).end(fixture('netflix-queue.atom')),
      '/podcast': (_request, response) =>
        void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss')),
      '/page': (_request, response) =>
        void response
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end('<!doctype html><html><head><link rel="alternate" type="application/rss+xml" href="podcast"></head><body>Hi</body></html>'),
      // Answers the feed until `moved` is set, then moves it for good (301) to /moved.
      '/moving': (_request, response) =>
        void (moved
          ? response.writeHead(301, { location: '/moved' }).end()
          : response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss'))),
      // Answers the feed until `movedOntoQueue` is set, then moves it for good onto /queue.
      '/moving-onto-queue': (_request, response) =>
        void (movedOntoQueue
          ? response.writeHead(301, { location: '/queue' }).end()
          : response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss'))),
      '/moved': (_request, response) => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss')),
      // Slow enough that concurrent creates overlap between the quota check and the write.
      '/slow': (_request, response) =>
        void setTimeout(() => response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss')), 150),
    });
    t = await startTestApp({
      store,
      allowPrivate: [upstream.hostPort],
      env: { FEEDPROXY_MAX_SOURCES_PER_USER: '4', FEEDPROXY_HEAVY_REQUESTS_PER_USER: '1000' },
    });
    alice = await t.createUserKey('alice');
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  const create = (key: string, url: string) => t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url } });
  const count = async (key: string) => (await t.api(key, { method: 'GET', url: '/api/v1/sources' })).json().sources.length as number;

  it('answers 409 for the new location of a source an upstream moved for good (301), once a refresh followed it', async () => {
    const key = await t.createUserKey('carol-moved');
    const source = await create(key, upstream.url('/moving'));
    expect(source.statusCode, source.body).toBe(201);
    moved = true;
    const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${source.json().id}/refresh` });
    expect(refreshed.json().url).toBe(upstream.url('/moved'));
    const again = await create(key, upstream.url('/moved'));
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json()).toMatchObject({ error: 'FP_CONFLICT', id: source.json().id });
  });

  it('keeps the index naming the source a user had for a URL another source of theirs was moved onto (301)', async () => {
    const key = await t.createUserKey('dave-moved-onto');
    const queue = await create(key, upstream.url('/queue'));
    const moving = await create(key, upstream.url('/moving-onto-queue'));
    expect([queue.statusCode, moving.statusCode], moving.body).toEqual([201, 201]);
    movedOntoQueue = true;
    const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${moving.json().id}/refresh` });
    expect(refreshed.json().url).toBe(upstream.url('/queue'));
    const again = await create(key, upstream.url('/queue'));
    expect(again.json()).toMatchObject({ error: 'FP_CONFLICT', id: queue.json().id });
    // The moved source's delete takes only its own entries: /queue is still known as the first source.
    expect((await t.api(key, { method: 'DELETE', url: `/api/v1/sources/${moving.json().id}` })).statusCode).toBe(204);
    const afterDelete = await create(key, upstream.url('/queue'));
    expect(afterDelete.statusCode, afterDelete.body).toBe(409);
    expect(afterDelete.json()).toMatchObject({ id: queue.json().id });
    expect(await count(key)).toBe(1);
  });

  it('indexes the new location of a moved source once a create that held it fails, waiting out its claim', async () => {
    const key = await t.createUserKey('erin-moved-contested');
    let movedOntoContested = false;
    upstream.route(
      '/moving-onto-contested',
      (_request, response) =>
        void (movedOntoContested
          ? response.writeHead(301, { location: '/contested' }).end()
          : response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss'))),
    );
    // The first fetch of /contested (the create's probe) is held until the refresh has fetched it
    // too and is waiting for the create's claim of the URL, then fails; later fetches get the feed.
    let releaseProbe: () => void = () => undefined;
    const probeHeld = new Promise<void>((resolve) => (releaseProbe = resolve));
    let contestedFetches = 0;
    upstream.route('/contested', async (_request, response) => {
      contestedFetches += 1;
      if (contestedFetches === 1) {
        await probeHeld;
        response.writeHead(500).end();
      } else response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss'));
    });
    const moving = await create(key, upstream.url('/moving-onto-contested'));
    expect(moving.statusCode, moving.body).toBe(201);
    movedOntoContested = true;

    const contestedCreate = create(key, upstream.url('/contested'));
    while (contestedFetches < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    const refresh = t.api(key, { method: 'POST', url: `/api/v1/sources/${moving.json().id}/refresh` });
    while (contestedFetches < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    // The refresh has its document and now waits for the create's claim on /contested.
    await new Promise((resolve) => setTimeout(resolve, 300));
    releaseProbe();
    expect((await contestedCreate).statusCode).not.toBe(201);
    const refreshed = await refresh;
    expect(refreshed.json().url, refreshed.body).toBe(upstream.url('/contested'));
    // The moved source's new URL is indexed: adding it again names that source.
    const again = await create(key, upstream.url('/contested'));
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json()).toMatchObject({ id: moving.json().id });
  });

  it('answers 409 {error, message, id} for the same URL, its scheme/host case and localhost, and stores nothing', async () => {
    const url = upstream.url(`/queue?feed_token=${TOKEN}`);
    const first = await create(alice, url);
    expect(first.statusCode).toBe(201);
    const id = first.json().id as string;
    const fetches = upstream.requests.length;
    const variants = [url, url.replace('http://127.0.0.1', 'HTTP://127.0.0.1'), url.replace('127.0.0.1', 'localhost'), `${url}#top`];
    for (const variant of variants) {
      const again = await create(alice, variant);
      expect(again.statusCode, variant).toBe(409);
      expect(again.json()).toMatchObject({ error: 'FP_CONFLICT', id });
      expect(again.json().message).toContain(id);
      expect(again.body).not.toContain(TOKEN);
    }
    // Recognised before any fetch, and nothing new stored.
    expect(upstream.requests.length).toBe(fetches);
    expect(await count(alice)).toBe(1);
    // Another user may have the same feed.
    const bob = await t.createUserKey('bob-dup');
    expect((await create(bob, url)).statusCode).toBe(201);
  });

  it('answers 409 for an HTML page whose <link rel=alternate> names a feed the user has', async () => {
    const key = await t.createUserKey('carol');
    const feed = await create(key, upstream.url('/podcast'));
    expect(feed.statusCode).toBe(201);
    const page = await create(key, upstream.url('/page'));
    expect(page.statusCode).toBe(409);
    expect(page.json().id).toBe(feed.json().id);
    expect(await count(key)).toBe(1);
  });

  it('agrees with OPML import both ways, and a deleted source can be added again', async () => {
    const key = await t.createUserKey('dave');
    const viaApi = await create(key, upstream.url('/podcast'));
    const opml = `<?xml version="1.0"?><opml version="2.0"><body>
      <outline text="Pod" xmlUrl="${upstream.url('/podcast')}"/>
      <outline text="Queue" xmlUrl="${upstream.url(`/queue?feed_token=${TOKEN}`)}"/>
      <outline text="Page" xmlUrl="${upstream.url('/page')}"/></body></opml>`;
    const report = (
      await t.api(key, { method: 'POST', url: '/api/v1/opml', headers: { 'content-type': 'text/x-opml' }, payload: opml })
    ).json();
    expect(report.outlines.map((outline: { result: string }) => outline.result)).toEqual(['duplicate', 'added', 'duplicate']);
    expect(report.outlines[0].sourceId).toBe(viaApi.json().id);
    expect(report.outlines[2].sourceId).toBe(viaApi.json().id);
    const queueId = report.outlines[1].sourceId as string;
    const again = await create(key, upstream.url(`/queue?feed_token=${TOKEN}`));
    expect(again.statusCode).toBe(409);
    expect(again.json().id).toBe(queueId);

    expect((await t.api(key, { method: 'DELETE', url: `/api/v1/sources/${queueId}` })).statusCode).toBe(204);
    expect((await create(key, upstream.url(`/queue?feed_token=${TOKEN}`))).statusCode).toBe(201);
  });

  it('keeps the index keyed: no URL or token in clear in the store', async () => {
    const bytes =
      store === 'sqlite'
        ? readFileSync(join(t.dir, 'feedproxy.sqlite')).toString('latin1') + safeRead(join(t.dir, 'feedproxy.sqlite-wal'))
        : [...(await readRedisKeys(t.redisPrefix!)).entries()].flat().join('\n');
    expect(bytes).not.toContain(TOKEN);
  });

  it('enforces the source quota under concurrent creates (a reservation, not a count then a write)', async () => {
    const key = await t.createUserKey('erin');
    const answers = await Promise.all(Array.from({ length: 8 }, (_, index) => create(key, upstream.url(`/slow?n=${index}`))));
    const codes = answers.map((answer) => answer.statusCode).sort();
    expect(codes.filter((code) => code === 201)).toHaveLength(4);
    expect(codes.filter((code) => code === 409)).toHaveLength(4);
    expect(answers.find((answer) => answer.statusCode === 409)!.json().message).toContain('at most 4 sources');
    expect(await count(key)).toBe(4);
    // A failed create gives its slot back; a delete frees one.
    const [firstId] = answers.filter((answer) => answer.statusCode === 201).map((answer) => answer.json().id as string);
    expect((await t.api(key, { method: 'DELETE', url: `/api/v1/sources/${firstId}` })).statusCode).toBe(204);
    expect((await create(key, upstream.url('/missing'))).statusCode).toBe(422);
    expect((await create(key, upstream.url('/slow?n=again'))).statusCode).toBe(201);
    expect((await create(key, upstream.url('/slow?n=over'))).statusCode).toBe(409);
  });

  it('counts the records of a user created before the counters existed, once', async () => {
    const key = await t.createUserKey('frank');
    const created = await create(key, upstream.url('/podcast'));
    const userId = (await t.api(key, { method: 'GET', url: '/api/v1/me' })).json().id as string;
    // As a store written by an older version: no counters, no index.
    const record = (await t.deps.registry.getSource(created.json().id))!;
    await t.deps.registry.unindexSourceUrls(userId, record.id, record.urlDigests!);
    await t.deps.registry.saveSource({ ...record, urlDigests: undefined });
    await t.kv.deleteFields(`user-counts:${userId}`);
    const again = await create(key, upstream.url('/podcast'));
    expect(again.statusCode).toBe(409);
    expect(again.json().id).toBe(created.json().id);
    expect(await t.deps.registry.getUserCounts(userId)).toEqual({ sources: 1, feeds: 0, cachedBytes: record.cachedBytes });
  });
});

function safeRead(path: string): string {
  try {
    return readFileSync(path).toString('latin1');
  } catch {
    return '';
  }
}
