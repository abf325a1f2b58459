// "Podcasts stay podcasts", episode by episode: a private podcast (a tokenised upstream using the
// iTunes and Podcasting 2.0 tags, test/fixtures/feeds/podcast-members.rss) and a JSON Feed podcast,
// each added to the real app and published alone, read back by Universal Feed Parser as a podcast
// app's reader would: each episode's artwork, the audio it plays, its transcripts, chapters, people,
// season and episode, soundbites and iTunes title and subtitle; and a JSON attachment's duration.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PUBLIC_URL, buildTestApp, type TestApp } from '../helpers/app.js';
import { readFixture, serveBody, serveFixture, startUpstream } from '../helpers/upstream.js';
import { SYSTEM_PYTHON, hasPythonModules, isolatedEnv, run } from './tools.js';

const TOKEN = 'HarbourT0kenQ9w8e7r6t5';
const RSS_TYPE = 'application/rss+xml; charset=utf-8';
const hasFeedparser = hasPythonModules('feedparser');
// .ci/run installs python3-feedparser: in CI a missing reader is a failure, not a skip.
const skip = !hasFeedparser && !process.env.CI;

// feedparser keeps a Podcasting 2.0 element it does not know as `podcast_<name>`: its attributes,
// the last one of a name winning; the element's text is lost. Episodes keyed by title.
const READER = `
import feedparser, json, sys
d = feedparser.parse(open(sys.argv[1], 'rb').read())
out = {"bozo": bool(d.bozo), "feed": {k: v for k, v in d.feed.items() if not k.endswith('_detail')}, "entries": {}}
for e in d.entries:
    out["entries"][e.get("title", "")] = {
        "image": (e.get("image") or {}).get("href"),
        "enclosures": [l.get("href") for l in e.get("links", []) if l.get("rel") == "enclosure"],
        "itunes_duration": e.get("itunes_duration"),
        "itunes_title": e.get("itunes_title"),
        "subtitle": e.get("subtitle"),
        "itunes_season": e.get("itunes_season"),
        "itunes_episode": e.get("itunes_episode"),
        "podcast": {k: v for k, v in e.items() if k.startswith("podcast_")},
    }
print(json.dumps(out, default=str))
`;

interface Reading {
  bozo: boolean;
  feed: Record<string, unknown>;
  entries: Record<
    string,
    {
      image?: string;
      enclosures: string[];
      itunes_duration?: string;
      itunes_title?: string;
      subtitle?: string;
      itunes_season?: string;
      itunes_episode?: string;
      podcast: Record<string, Record<string, string> | string>;
    }
  >;
}

/** What Universal Feed Parser reads from a published document. */
async function readWithFeedparser(document: string): Promise<Reading> {
  const dir = mkdtempSync(join(tmpdir(), 'feedproxy-podcast-episodes-'));
  try {
    const path = join(dir, 'published.rss');
    writeFileSync(path, document);
    const result = await run(SYSTEM_PYTHON, ['-c', READER, path], { env: isolatedEnv(dir) });
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Reading;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Adds the upstream URL as a source and publishes it alone: the feed's URLs. */
async function publishAlone(t: TestApp, key: string, url: string): Promise<{ rss: string; atom: string; json: string }> {
  const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url } });
  expect(created.statusCode, created.body).toBe(201);
  const id = (created.json() as { id: string }).id;
  const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Mine', sources: [id] } });
  expect(feed.statusCode, feed.body).toBe(201);
  return (feed.json() as { urls: { rss: string; atom: string; json: string } }).urls;
}

async function get(t: TestApp, url: string): Promise<string> {
  const response = await t.app.inject({ method: 'GET', url: url.slice(PUBLIC_URL.length) });
  expect(response.statusCode).toBe(200);
  return response.body;
}

describe.skipIf(skip)('a private podcast published alone keeps what podcast apps read of each episode', () => {
  it('RSS: artwork, the audio, transcripts, chapters, people, season, episode, soundbites, iTunes title', async (context) => {
    const upstream = await startUpstream({ '/members/harbour.rss': serveFixture('feeds/podcast-members.rss', { contentType: RSS_TYPE }) });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey('listener');
    const urls = await publishAlone(t, key, upstream.url(`/members/harbour.rss?auth=${TOKEN}`));
    const rss = await get(t, urls.rss);
    expect(rss).not.toContain(TOKEN);

    // The original has what is checked below (a test of "X survives" first proves X was there).
    const original = await readWithFeedparser(readFixture('feeds/podcast-members.rss').toString('utf8'));
    const ours = await readWithFeedparser(rss);
    expect(ours.bozo).toBe(false);
    const log = "S1E3: The Keeper's Log";
    for (const reading of [original, ours]) {
      // An episode whose only iTunes tag is its artwork still shows it.
      expect(reading.entries['S1E1: Artwork only']?.image).toBe('https://harbour.example/art/s1e1.jpg');
      expect(reading.entries[log]?.itunes_title).toBe("The Keeper's Log");
      expect(reading.entries[log]?.subtitle).toBe('What the log book says & what it leaves out');
      expect(reading.entries[log]?.podcast.podcast_chapters).toEqual({
        url: 'https://cdn.harbour.example/s1e3.chapters.json',
        type: 'application/json+chapters',
      });
      expect(reading.entries[log]?.podcast.podcast_season).toEqual({ name: 'The Lighthouse' });
      expect(reading.entries[log]?.podcast.podcast_episode).toBe('3');
      expect(reading.entries[log]?.podcast.podcast_soundbite).toEqual({ starttime: '73.5', duration: '42' });
    }
    // The one enclosure RSS has room for is the episode's audio, not the cover listed before it.
    expect(original.entries['S1E2: Cover first']?.enclosures).toContain('https://cdn.harbour.example/s1e2.mp3');
    expect(ours.entries['S1E2: Cover first']?.enclosures).toEqual(['https://cdn.harbour.example/s1e2.mp3']);
    // A relative URL made absolute against the document's; the token the host repeated in a URL
    // taken out, as everywhere.
    expect(ours.entries[log]?.podcast.podcast_transcript).toEqual({ url: upstream.url('/transcripts/s1e3.html'), type: 'text/html' });
    const transcripts = [...rss.matchAll(/<podcast:transcript [^>]*>/g)].map((match) => match[0]);
    expect(transcripts).toHaveLength(2);
    expect(transcripts[0]).toBe(
      '<podcast:transcript url="https://cdn.harbour.example/s1e3.vtt" type="text/vtt" language="en-GB" rel="captions"/>',
    );
    // Each person, with their text (feedparser keeps only the last one's attributes).
    expect(rss).toContain(
      '<podcast:person role="host" img="https://harbour.example/people/ann.jpg" href="https://harbour.example/ann">Ann Keeper</podcast:person>',
    );
    expect(rss).toContain('<podcast:person role="guest" group="cast">Tom &amp; Jerry</podcast:person>');
    expect(rss).toContain('<podcast:season name="The Lighthouse">1</podcast:season>');
    expect(rss).toContain('<podcast:soundbite startTime="73.5" duration="42">The storm of 1893</podcast:soundbite>');
    expect(ours.entries[log]?.itunes_duration).toBe('0:45:25');
    // podcast:season and podcast:episode are what the iTunes tags say for apps that read only those.
    expect(ours.entries[log]?.itunes_season).toBe('1');
    expect(ours.entries[log]?.itunes_episode).toBe('3');
  }, 60_000);

  it("JSON Feed: an attachment's duration_in_seconds survives, and RSS carries it as itunes:duration", async (context) => {
    const document = JSON.stringify({
      version: 'https://jsonfeed.org/version/1.1',
      title: 'Harbour Lights (JSON)',
      home_page_url: 'https://harbour.example/',
      items: [
        {
          id: 'harbour-json-1',
          title: 'Episode in JSON',
          url: 'https://harbour.example/json-1',
          content_text: 'Notes',
          date_published: '2026-12-01T10:00:00Z',
          attachments: [
            { url: 'https://cdn.harbour.example/json-1.mp3', mime_type: 'audio/mpeg', size_in_bytes: 1234, duration_in_seconds: 3723 },
          ],
        },
      ],
    });
    const upstream = await startUpstream({ '/members/harbour.json': serveBody(document, { contentType: 'application/feed+json' }) });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey('listener');
    const urls = await publishAlone(t, key, upstream.url(`/members/harbour.json?auth=${TOKEN}`));
    const json = JSON.parse(await get(t, urls.json)) as { items: Array<{ attachments?: Array<Record<string, unknown>> }> };
    expect(json.items[0]?.attachments).toEqual([
      { url: 'https://cdn.harbour.example/json-1.mp3', mime_type: 'audio/mpeg', size_in_bytes: 1234, duration_in_seconds: 3723 },
    ]);
    const ours = await readWithFeedparser(await get(t, urls.rss));
    expect(ours.entries['Episode in JSON']?.itunes_duration).toBe('1:02:03');
  }, 60_000);
});
