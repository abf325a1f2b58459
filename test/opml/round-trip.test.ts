// OPML round trip through the real app, on every store: a Feedly-shaped export (two category
// levels, duplicates, an ftp:// URL, an HTML page naming no feed, tokenized URLs) → sources and
// category feeds → an export that lists only public URLs.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOpml } from '../../src/opml/opml-xml.js';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { readRedisKeys, STORES } from '../helpers/stores.js';
import type { Upstream } from '../helpers/upstream.js';
import { TOKENS, opmlFixture, startFeedUpstream } from './harness.js';

interface Report {
  outlines: Array<{
    title: string;
    url: string;
    category: string | null;
    result: string;
    sourceId?: string;
    error?: { error: string; message: string };
  }>;
  feeds: Array<{ id: string; title: string; urls: Record<string, string> }>;
  feedErrors: unknown[];
  summary: { added: number; duplicate: number; failed: number };
}

describe.each(STORES)('OPML import and export (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  let alice: string;
  let host: string;
  let opml: string;
  let podcastId: string;
  let newsFeedId: string;
  let report: Report;

  beforeAll(async () => {
    upstream = await startFeedUpstream();
    host = upstream.url('').replace(/\/$/, '');
    opml = opmlFixture('feedly-export.opml', upstream);
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort] });
    alice = await t.createUserKey('alice');
    // Already there before the import: a source (the file names it with a #fragment) and a feed
    // whose title is one of the file's categories.
    const podcast = await t.api(alice, { method: 'POST', url: '/api/v1/sources', payload: { url: `${host}/podcast.rss` } });
    expect(podcast.statusCode, podcast.body).toBe(201);
    podcastId = podcast.json().id;
    const news = await t.api(alice, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'News & Podcasts', sources: [podcastId] } });
    expect(news.statusCode, news.body).toBe(201);
    newsFeedId = news.json().id;

    const response = await t.api(alice, { method: 'POST', url: '/api/v1/opml', headers: { 'content-type': 'text/x-opml' }, payload: opml });
    expect(response.statusCode, response.body).toBe(200);
    report = response.json();
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('reports every subscription outline in document order', () => {
    const [gitlab, github, , status, , , , , pinboard] = report.outlines.map((outline) => outline.sourceId);
    const gitlabUrl = `${host}/dashboard/projects.atom?feed_token=***`;
    expect(report.outlines).toEqual([
      { title: 'GitLab – projects', url: gitlabUrl, category: 'Work / Dev', result: 'added', sourceId: gitlab },
      {
        title: 'GitHub private feed',
        url: `${host}/alice.private.atom?token=***`,
        category: 'Work / Dev',
        result: 'added',
        sourceId: github,
      },
      // The same URL again in the file: the first copy's source.
      { title: 'GitLab (again)', url: gitlabUrl, category: 'Work / Dev', result: 'duplicate', sourceId: gitlab },
      { title: 'Status board', url: `${host}/status.rss`, category: 'Work / Ops', result: 'added', sourceId: status },
      {
        title: 'Build artefacts',
        url: 'ftp://files.example.com/builds.rss',
        category: 'Work / Ops',
        result: 'failed',
        error: { error: 'FP_INVALID_URL', message: 'Invalid URL: unsupported scheme ftp:' },
      },
      // Already a source of the user: the fragment does not make it another URL.
      { title: 'The Podcast', url: `${host}/podcast.rss#***`, category: 'News & Podcasts', result: 'duplicate', sourceId: podcastId },
      {
        title: 'Company blog',
        url: `${host}/blog/`,
        category: 'News & Podcasts',
        result: 'failed',
        error: { error: 'FP_NOT_A_FEED', message: 'Not a feed: the page is HTML and names no feed (<link rel="alternate">)' },
      },
      { title: 'Status board', url: `${host}/status.rss`, category: 'News & Podcasts', result: 'duplicate', sourceId: status },
      { title: 'Pinboard: alice', url: `${host}/rss/secret:***/u:alice/`, category: null, result: 'added', sourceId: pinboard },
    ]);
    for (const id of [gitlab, github, status, pinboard]) expect(id).toMatch(/^[A-Za-z0-9_-]{8,}$/);
    expect(new Set([gitlab, github, status, pinboard, podcastId]).size).toBe(5);
    expect(report.summary).toEqual({ added: 4, duplicate: 3, failed: 2 });
    expect(report.feedErrors).toEqual([]);
  });

  it('creates the sources, fetched once each, under the outline titles', async () => {
    const sources = (await t.api(alice, { method: 'GET', url: '/api/v1/sources' })).json().sources as Array<{
      id: string;
      title: string;
      status: string;
      entryCount: number;
    }>;
    // The podcast was there before: it keeps the title its own feed gave it.
    expect(sources.map((source) => source.title).sort()).toEqual([
      'GitHub private feed',
      'GitLab – projects',
      'Night Shift Radio',
      'Pinboard: alice',
      'Status board',
    ]);
    for (const source of sources) {
      expect(source.status, source.title).toBe('ok');
      expect(source.entryCount, source.title).toBeGreaterThan(0);
    }
    // One fetch per distinct URL: the in-file copy and the existing podcast were not fetched again.
    const fetched = upstream.requests.map((request) => new URL(request.url, 'http://upstream').pathname);
    expect(fetched.filter((path) => path === '/dashboard/projects.atom')).toHaveLength(1);
    expect(fetched.filter((path) => path === '/status.rss')).toHaveLength(1);
    expect(fetched.filter((path) => path === '/podcast.rss')).toHaveLength(1); // the create before the import
  });

  it('makes one merged feed per category, extending the feed that already had that title', async () => {
    const [gitlab, github, , status] = report.outlines.map((outline) => outline.sourceId);
    expect(report.feeds.map((feed) => feed.title)).toEqual(['Work / Dev', 'Work / Ops', 'News & Podcasts']);
    expect(report.feeds[2]!.id).toBe(newsFeedId);
    const expected: Record<string, Array<string | undefined>> = {
      'Work / Dev': [gitlab, github],
      'Work / Ops': [status],
      'News & Podcasts': [podcastId, status],
    };
    for (const feed of report.feeds) {
      const stored = (await t.api(alice, { method: 'GET', url: `/api/v1/feeds/${feed.id}` })).json();
      expect(stored.sources, feed.title).toEqual(expected[feed.title]);
      expect(feed.urls).toMatchObject(stored.urls);
    }
    const all = (await t.api(alice, { method: 'GET', url: '/api/v1/feeds' })).json().feeds;
    expect(all).toHaveLength(3); // "Work" and "Archive" hold no subscription of their own: no feed
  });

  it('exports the feeds at their public URLs, with no upstream URL or token', async () => {
    const response = await t.api(alice, { method: 'GET', url: '/api/v1/opml' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/x-opml; charset=utf-8');
    expect(response.headers['content-disposition']).toBe('attachment; filename="feedproxy.opml"');
    const exported = response.body;
    expect(exported).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<opml version="2.0">/);
    for (const secret of [...Object.values(TOKENS), host, upstream.hostPort, '/dashboard/projects', 'private.atom', 'secret:']) {
      expect(exported).not.toContain(secret);
    }
    expect(exported).toContain('text="News &amp; Podcasts"');

    const feeds = (await t.api(alice, { method: 'GET', url: '/api/v1/feeds' })).json().feeds as Array<{
      title: string;
      urls: { atom: string };
    }>;
    const outlines = parseOpml(exported).outlines;
    expect(outlines).toEqual(
      feeds.map((feed) => {
        const token = feed.urls.atom.slice(`${PUBLIC_URL}/`.length, -'.atom'.length);
        return { text: feed.title, title: feed.title, xmlUrl: feed.urls.atom, htmlUrl: `${PUBLIC_URL}/f/${token}`, children: [] };
      }),
    );
    expect(exported.match(/type="rss"/g)).toHaveLength(3);
    // What the export names is what a reader gets.
    for (const outline of outlines) {
      const feed = await t.app.inject({ method: 'GET', url: outline.xmlUrl!.slice(PUBLIC_URL.length) });
      expect(feed.statusCode).toBe(200);
      expect(feed.headers['content-type']).toMatch(/^application\/atom\+xml/);
    }
  });

  it('keeps tokens out of the import answer, the logs and the store', async () => {
    const answer = JSON.stringify(report);
    const logs = t.logs.join('');
    // What the store holds at rest: the SQLite file (and its WAL), or every key of the run's Redis prefix.
    const files = readdirSync(t.dir).filter((name) => name.startsWith('feedproxy.sqlite'));
    const redis = t.redisPrefix ? [...(await readRedisKeys(t.redisPrefix))].map(([key, value]) => `${key} ${value}`) : [];
    const atRest = [...files.map((file) => readFileSync(join(t.dir, file)).toString('latin1')), ...redis];
    expect(store === 'redis' ? redis.length : files.length).toBeGreaterThan(0);
    for (const token of Object.values(TOKENS)) {
      expect(answer).not.toContain(token);
      expect(logs).not.toContain(token);
      atRest.forEach((held) => expect(held.includes(token), `the ${store} store holds ${token}`).toBe(false));
    }
  });

  it('imports the same file again as duplicates only, reusing the category feeds', async () => {
    const again = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/opml',
      headers: { 'content-type': 'application/xml' },
      payload: opml,
    });
    expect(again.statusCode, again.body).toBe(200);
    const second: Report = again.json();
    expect(second.summary).toEqual({ added: 0, duplicate: 7, failed: 2 });
    expect(second.outlines.map((outline) => outline.sourceId)).toEqual(report.outlines.map((outline) => outline.sourceId));
    expect(second.feeds.map((feed) => feed.id)).toEqual(report.feeds.map((feed) => feed.id));
    expect((await t.api(alice, { method: 'GET', url: '/api/v1/sources' })).json().sources).toHaveLength(5);
    expect((await t.api(alice, { method: 'GET', url: '/api/v1/feeds' })).json().feeds).toHaveLength(3);
  });

  it('takes JSON {opml} too, and sees only the calling user’s sources as duplicates', async () => {
    const bob = await t.createUserKey('bob');
    const response = await t.api(bob, {
      method: 'POST',
      url: '/api/v1/opml',
      payload: { opml: opmlFixture('inoreader-flat.opml', upstream).replace('gone.atom', 'status.rss') },
    });
    expect(response.statusCode, response.body).toBe(200);
    const { outlines, summary, feeds } = response.json() as Report;
    expect(outlines).toEqual([
      { title: 'Unreachable', url: `${host}/status.rss`, category: null, result: 'added', sourceId: expect.any(String) },
      {
        title: 'Not a URL',
        url: '***',
        category: null,
        result: 'failed',
        error: { error: 'FP_INVALID_URL', message: 'Invalid URL: not an absolute URL' },
      },
    ]);
    expect(outlines[0]!.sourceId).not.toBe(report.outlines[3]!.sourceId); // alice's status source is not bob's
    expect(summary).toEqual({ added: 1, duplicate: 0, failed: 1 });
    expect(feeds).toEqual([]);
    // Alice's export does not list bob's feeds and bob's lists nothing.
    const bobExport = (await t.api(bob, { method: 'GET', url: '/api/v1/opml' })).body;
    expect(parseOpml(bobExport).outlines).toEqual([]);
  });
});
