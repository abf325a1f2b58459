// Merged feeds: create, publish, HTTP caching, edit, rotate — through the real app.
import { readFileSync } from 'node:fs';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { STORES } from '../helpers/stores.js';

const TOKEN = 'T1SECRETu5cVd3sK9wPz7Qn2LmJfXy0Ha8Rb--';
const fixture = (name: string) => readFileSync(new URL(`../fixtures/feeds/${name}`, import.meta.url));
const path = (url: string) => url.slice(PUBLIC_URL.length);

describe.each(STORES)('feeds API and public feeds (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  let alice: string;
  let sourceIds: string[];

  beforeAll(async () => {
    upstream = await startUpstream((request, response) => {
      const url = new URL(request.url ?? '/', 'http://upstream');
      if (url.pathname === '/queue' && url.searchParams.get('feed_token') === TOKEN) {
        return void response.writeHead(200, { 'content-type': 'application/atom+xml' }).end(fixture('netflix-queue.atom'));
      }
      if (url.pathname === '/podcast')
        return void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss'));
      response.writeHead(404).end();
    });
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort] });
    alice = await t.createUserKey('alice');
    sourceIds = [];
    for (const url of [upstream.url(`/queue?feed_token=${TOKEN}&output=atom`), upstream.url('/podcast')]) {
      const created = await t.api(alice, { method: 'POST', url: '/api/v1/sources', payload: { url } });
      expect(created.statusCode).toBe(201);
      sourceIds.push(created.json().id);
    }
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  async function createFeed(payload: Record<string, unknown>) {
    const response = await t.api(alice, { method: 'POST', url: '/api/v1/feeds', payload });
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as { id: string; urls: { atom: string; rss: string; json: string } };
  }

  it('publishes one merged feed in three formats at unguessable public URLs', async () => {
    const feed = await createFeed({ title: 'Everything', sources: sourceIds });
    for (const [format, type] of [
      ['atom', 'application/atom+xml; charset=utf-8'],
      ['rss', 'application/rss+xml; charset=utf-8'],
      ['json', 'application/feed+json; charset=utf-8'],
    ] as const) {
      const url = feed.urls[format];
      // ≥128 bits of token: 22+ base64url characters.
      expect(url).toMatch(new RegExp(`^${PUBLIC_URL}/[A-Za-z0-9_-]{22,}\\.${format}$`));
      const response = await t.app.inject({ method: 'GET', url: path(url) });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe(type);
      expect(response.headers['cache-control']).toMatch(/^public, max-age=\d+$/);
      expect(response.headers.etag).toMatch(/^"[^"]+"$/);
      expect(response.headers['last-modified']).toEqual(expect.any(String));
      expect(response.body).not.toContain(TOKEN);
      // The sources' own URLs never appear (entry links to the upstream's pages may, as content).
      expect(response.body).not.toContain(upstream.url('/queue'));
      expect(response.body).not.toContain(upstream.url('/podcast'));
      expect(response.body).toContain(url); // rel="self" / feed_url is the public URL
    }
    const json = (await t.app.inject({ method: 'GET', url: path(feed.urls.json) })).json();
    expect(json.version).toBe('https://jsonfeed.org/version/1.1');
    expect(json.items).toHaveLength(7); // 4 queue entries + 3 episodes
    const dates = json.items.map((item: { date_modified?: string; date_published?: string }) => item.date_modified ?? item.date_published);
    expect([...dates].sort().reverse()).toEqual(dates);
  });

  it('answers conditional requests with 304 (RFC 9110 §13.1)', async () => {
    const feed = await createFeed({ title: 'Cached', sources: sourceIds });
    const first = await t.app.inject({ method: 'GET', url: path(feed.urls.atom) });
    const { etag, 'last-modified': lastModified } = first.headers as Record<string, string>;
    const cases: Array<[string, Record<string, string>, number]> = [
      ['matching If-None-Match', { 'if-none-match': etag! }, 304],
      ['If-None-Match list containing it', { 'if-none-match': `"other", ${etag}` }, 304],
      ['weak form of the same tag (weak comparison, §13.1.2)', { 'if-none-match': `W/${etag}` }, 304],
      ['other If-None-Match', { 'if-none-match': '"nope"' }, 200],
      ['If-Modified-Since equal to Last-Modified', { 'if-modified-since': lastModified! }, 304],
      ['If-Modified-Since before Last-Modified', { 'if-modified-since': new Date(Date.parse(lastModified!) - 60_000).toUTCString() }, 200],
      ['If-None-Match wins over If-Modified-Since (§13.2.2)', { 'if-none-match': '"nope"', 'if-modified-since': lastModified! }, 200],
      ['unparseable If-Modified-Since', { 'if-modified-since': 'yesterday' }, 200],
    ];
    for (const [name, headers, status] of cases) {
      const response = await t.app.inject({ method: 'GET', url: path(feed.urls.atom), headers });
      expect(response.statusCode, name).toBe(status);
      if (status === 304) {
        expect(response.body, name).toBe('');
        expect(response.headers.etag, name).toBe(etag);
      }
    }
  });

  it('answers HEAD without a body and compresses for readers that ask', async () => {
    const feed = await createFeed({ title: 'Heads', sources: sourceIds });
    const head = await t.app.inject({ method: 'HEAD', url: path(feed.urls.rss) });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers.etag).toEqual(expect.any(String));

    const plain = await t.app.inject({ method: 'GET', url: path(feed.urls.rss) });
    const gzipped = await t.app.inject({ method: 'GET', url: path(feed.urls.rss), headers: { 'accept-encoding': 'gzip' } });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gzipped.rawPayload).toString('utf8')).toBe(plain.body);
    // RFC 9110 §12.5.3: q-values decide; a coding we do not make gets the identity bytes.
    const cases: Array<[string | undefined, string | undefined]> = [
      [undefined, undefined],
      ['br', 'br'],
      ['gzip, deflate, br', 'br'],
      ['br;q=0.2, gzip', 'gzip'],
      ['deflate', undefined],
      ['identity', undefined],
    ];
    for (const [accept, coding] of cases) {
      const headers = accept === undefined ? {} : { 'accept-encoding': accept };
      const got = await t.app.inject({ method: 'GET', url: path(feed.urls.rss), headers });
      expect(got.headers['content-encoding'], String(accept)).toBe(coding);
      const bytes =
        coding === 'br' ? brotliDecompressSync(got.rawPayload) : coding === 'gzip' ? gunzipSync(got.rawPayload) : got.rawPayload;
      expect(bytes.toString('utf8')).toBe(plain.body);
      expect(String(got.headers.vary)).toMatch(/Accept-Encoding/);
      // HEAD describes the same representation as the GET.
      const sameHead = await t.app.inject({ method: 'HEAD', url: path(feed.urls.rss), headers });
      expect([sameHead.headers['content-length'], sameHead.headers['content-encoding']]).toEqual([
        got.headers['content-length'],
        got.headers['content-encoding'],
      ]);
    }
    const revalidated = await t.app.inject({
      method: 'GET',
      url: path(feed.urls.rss),
      headers: { 'accept-encoding': 'gzip', 'if-none-match': String(plain.headers.etag) },
    });
    expect(revalidated.statusCode).toBe(304);
    expect(String(revalidated.headers.vary)).toMatch(/Accept-Encoding/);
  });

  it('keeps the public URLs across edits, and rotation retires them', async () => {
    const feed = await createFeed({ title: 'Rotating', sources: sourceIds });
    const edited = await t.api(alice, { method: 'PATCH', url: `/api/v1/feeds/${feed.id}`, payload: { title: 'Renamed', limit: 2 } });
    expect(edited.statusCode).toBe(200);
    expect(edited.json().urls).toEqual(feed.urls);
    const json = (await t.app.inject({ method: 'GET', url: path(feed.urls.json) })).json();
    expect(json.title).toBe('Renamed');
    expect(json.items).toHaveLength(2);

    const rotated = await t.api(alice, { method: 'POST', url: `/api/v1/feeds/${feed.id}/rotate` });
    expect(rotated.statusCode).toBe(200);
    for (const format of ['atom', 'rss', 'json'] as const) {
      expect(rotated.json().urls[format]).not.toBe(feed.urls[format]);
      expect((await t.app.inject({ method: 'GET', url: path(feed.urls[format]) })).statusCode).toBe(404);
      expect((await t.app.inject({ method: 'GET', url: path(rotated.json().urls[format]) })).statusCode).toBe(200);
    }
  });

  it('filters with include and exclude rules', async () => {
    const feed = await createFeed({ title: 'Filtered', sources: sourceIds, include: ['/^\\d- /'], exclude: ['wire'] });
    const titles = (await t.app.inject({ method: 'GET', url: path(feed.urls.json) }))
      .json()
      .items.map((item: { title: string }) => item.title);
    expect(titles.length).toBeGreaterThan(0);
    for (const title of titles) {
      expect(title).toMatch(/^\d- /);
      expect(title.toLowerCase()).not.toContain('wire');
    }
  });

  it.each([
    ['no title', { sources: [] }],
    ['a limit over 500', { title: 'x', sources: [], limit: 501 }],
    ['an invalid regex', { title: 'x', sources: [], include: ['/(unclosed/'] }],
    ['an unknown source', { title: 'x', sources: ['nope'] }],
  ])('refuses a feed with %s (400)', async (_name, payload) => {
    const response = await t.api(alice, { method: 'POST', url: '/api/v1/feeds', payload });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toEqual(expect.any(String));
  });

  it("hides another user's feeds and sources behind 404", async () => {
    const bob = await t.createUserKey('bob');
    const feed = await createFeed({ title: 'Private', sources: sourceIds });
    expect((await t.api(bob, { method: 'GET', url: `/api/v1/feeds/${feed.id}` })).statusCode).toBe(404);
    expect((await t.api(bob, { method: 'POST', url: `/api/v1/feeds/${feed.id}/rotate` })).statusCode).toBe(404);
    const stolen = await t.api(bob, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Mine now', sources: sourceIds } });
    expect(stolen.statusCode).toBe(400);
  });

  it('deletes a feed and its public URLs', async () => {
    const feed = await createFeed({ title: 'Short-lived', sources: sourceIds });
    expect((await t.api(alice, { method: 'DELETE', url: `/api/v1/feeds/${feed.id}` })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: path(feed.urls.atom) })).statusCode).toBe(404);
    expect((await t.api(alice, { method: 'GET', url: `/api/v1/feeds/${feed.id}` })).statusCode).toBe(404);
  });

  it('answers 404 for unknown public tokens and odd file names', async () => {
    for (const url of ['/AAAAAAAAAAAAAAAAAAAAAAAA.atom', '/AAAAAAAAAAAAAAAAAAAAAAAA.html', '/short.rss', '/%2e%2e.atom']) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBe(404);
    }
  });
});
