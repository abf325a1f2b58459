// "Podcasts stay podcasts", the channel: a private podcast (test/fixtures/feeds/podcast-members.rss,
// a tokenised upstream) published alone keeps what a podcast app reads of the show — artwork in
// every format, language, iTunes author, owner, categories, type and block, podcast:funding — and
// never what names the upstream feed (itunes:new-feed-url, which here carries the token and would
// move the app's subscription to the private upstream; podcast:guid; podcast:locked). Merged with
// another show, only what both say survives (docs/podcasts.md). Read by Universal Feed Parser, on
// both stores, through source creation and a later refresh.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PUBLIC_URL, buildTestApp, type TestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';
import { readFixture, serveBody, serveFixture, startUpstream } from '../helpers/upstream.js';
import { SYSTEM_PYTHON, hasPythonModules, isolatedEnv, run } from './tools.js';

const TOKEN = 'HarbourT0kenQ9w8e7r6t5';
const RSS_TYPE = 'application/rss+xml; charset=utf-8';
const hasFeedparser = hasPythonModules('feedparser');
// .ci/run installs python3-feedparser: in CI a missing reader is a failure, not a skip.
const skip = !hasFeedparser && !process.env.CI;

const READER = `
import feedparser, json, sys
d = feedparser.parse(open(sys.argv[1], 'rb').read())
f = d.feed
print(json.dumps({
    "bozo": bool(d.bozo),
    "keys": sorted(f.keys()),
    "image": (f.get("image") or {}).get("href"),
    "logo": f.get("logo"),
    "language": f.get("language"),
    "publisher": f.get("publisher_detail"),
    "tags": [t.get("term") for t in f.get("tags", [])],
    "itunes_type": f.get("itunes_type"),
    "itunes_block": f.get("itunes_block"),
    "podcast_funding": f.get("podcast_funding"),
}, default=str))
`;

interface ChannelReading {
  bozo: boolean;
  keys: string[];
  image?: string;
  logo?: string;
  language?: string;
  publisher?: { name?: string; email?: string };
  tags: string[];
  itunes_type?: string;
  itunes_block?: number;
  podcast_funding?: { url?: string };
}

async function readChannel(document: string): Promise<ChannelReading> {
  const dir = mkdtempSync(join(tmpdir(), 'feedproxy-podcast-channel-'));
  try {
    const path = join(dir, 'feed.xml');
    writeFileSync(path, document);
    const result = await run(SYSTEM_PYTHON, ['-c', READER, path], { env: isolatedEnv(dir) });
    expect(result.code, result.stderr).toBe(0);
    // None is no value: undefined, as JavaScript says it.
    return JSON.parse(result.stdout, (_key, value: unknown) => (value === null ? undefined : value)) as ChannelReading;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function addSource(t: TestApp, key: string, url: string): Promise<string> {
  const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url } });
  expect(created.statusCode, created.body).toBe(201);
  return (created.json() as { id: string }).id;
}

async function publish(t: TestApp, key: string, sources: string[]): Promise<{ rss: string; atom: string; json: string }> {
  const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Mine', sources } });
  expect(feed.statusCode, feed.body).toBe(201);
  return (feed.json() as { urls: { rss: string; atom: string; json: string } }).urls;
}

async function get(t: TestApp, url: string): Promise<string> {
  const response = await t.app.inject({ method: 'GET', url: url.slice(PUBLIC_URL.length) });
  expect(response.statusCode).toBe(200);
  return response.body;
}

describe.skipIf(skip).each(STORES)('a podcast channel republished by feedproxy (%s store)', (store) => {
  it('alone: the show as its app knows it, never the upstream feed’s own identity', async (context) => {
    let document = readFixture('feeds/podcast-members.rss').toString('utf8');
    const upstream = await startUpstream({
      '/members/harbour.rss': (request, response) => serveBody(document, { contentType: RSS_TYPE })(request, response),
    });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort], store });
    const key = await t.createUserKey('listener');
    const id = await addSource(t, key, upstream.url(`/members/harbour.rss?auth=${TOKEN}`));
    const urls = await publish(t, key, [id]);

    // The original has every field checked below, kept and left out (a test of "X survives" first proves X was there).
    const original = await readChannel(document);
    expect(original.keys).toEqual(expect.arrayContaining(['itunes_new-feed-url', 'podcast_guid', 'podcast_locked']));
    const rss = await get(t, urls.rss);
    for (const reading of [original, await readChannel(rss)]) {
      expect(reading.bozo).toBe(false);
      expect(reading.language).toBe('en-GB');
      expect(reading.publisher).toEqual({ name: 'Ann Keeper', email: 'ann@harbour.example' });
      expect(reading.tags).toEqual(['History', 'Society & Culture', 'Documentary']);
      expect(reading.itunes_type).toBe('serial');
      expect(reading.itunes_block).toBe(1);
      expect(reading.podcast_funding).toEqual({ url: 'https://harbour.example/support' });
    }
    expect(rss).toContain('<itunes:author>Harbour Lights Media</itunes:author>');
    expect(rss).toContain('<podcast:funding url="https://harbour.example/support">Support the show</podcast:funding>');
    const ours = await readChannel(rss);
    expect(ours.keys).not.toContain('itunes_new-feed-url');
    expect(ours.keys).not.toContain('podcast_guid');
    expect(ours.keys).not.toContain('podcast_locked');
    expect(ours.image).toBe('https://harbour.example/art/show.jpg');
    // The artwork in Atom (<logo>) and JSON Feed (icon) too, with the language.
    const atom = await get(t, urls.atom);
    expect((await readChannel(atom)).logo).toBe('https://harbour.example/art/show.jpg');
    const json = JSON.parse(await get(t, urls.json)) as { icon?: string; language?: string };
    expect(json).toMatchObject({ icon: 'https://harbour.example/art/show.jpg', language: 'en-GB' });
    for (const body of [rss, atom, JSON.stringify(json)]) {
      expect(body).not.toContain(TOKEN);
      expect(body).not.toContain('members.harbour.example');
    }

    // A refresh that finds the channel changed republishes what it says now.
    document = document.replace('<itunes:author>Harbour Lights Media</itunes:author>', '<itunes:author>Harbour Lights</itunes:author>');
    const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(await get(t, urls.rss)).toContain('<itunes:author>Harbour Lights</itunes:author>');
  }, 60_000);

  it('merged with another show: only what every source says, and blocked when one source is', async (context) => {
    const upstream = await startUpstream({
      '/members/harbour.rss': serveFixture('feeds/podcast-members.rss', { contentType: RSS_TYPE }),
      '/private/nightshift.xml': serveFixture('feeds/podcast.rss', { contentType: RSS_TYPE }),
    });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort], store });
    const key = await t.createUserKey('listener');
    const ids = [
      await addSource(t, key, upstream.url(`/members/harbour.rss?auth=${TOKEN}`)),
      await addSource(t, key, upstream.url(`/private/nightshift.xml?auth=${TOKEN}`)),
    ];
    const nightshift = await readChannel(readFixture('feeds/podcast.rss').toString('utf8'));
    expect(nightshift).toMatchObject({ language: 'en-us', itunes_type: 'episodic', tags: ['Society & Culture', 'Documentary'] });
    const ours = await readChannel(await get(t, (await publish(t, key, ids)).rss));
    expect(ours.bozo).toBe(false);
    expect(ours.language).toBeUndefined();
    expect(ours.publisher).toBeUndefined();
    expect(ours.itunes_type).toBeUndefined();
    expect(ours.podcast_funding).toBeUndefined();
    expect(ours.tags).toEqual(['Society & Culture', 'Documentary']);
    expect(ours.itunes_block).toBe(1);
  }, 60_000);
});
