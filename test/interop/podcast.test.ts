// Issue 15, "podcasts stay podcasts": two private podcast feeds (tokenised upstreams) merged into one
// feed through the real app; the published RSS still carries what podcast apps play and show — each
// enclosure's url, length and type, and the iTunes tags of the channel and of every episode — and
// the W3C validator finds no error in it (FEEDVALIDATOR names its checkout; skipped when absent).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PUBLIC_URL, buildTestApp } from '../helpers/app.js';
import { readFixture, serveFixture, startUpstream } from '../helpers/upstream.js';
import { validateAll } from './differential.js';
import { hasPythonModules } from './tools.js';

const FEED_VALIDATOR = process.env.FEEDVALIDATOR ?? '/tmp/fv';
const hasValidator = existsSync(join(FEED_VALIDATOR, 'src', 'demo.py')) && hasPythonModules('html5lib');
const TOKEN = 'PodT0kenZ8qLm3Xc9Rp4Ws7Vd2';
const RSS_TYPE = 'application/rss+xml; charset=utf-8';

/** The <item> of the published RSS whose title contains `title`. */
function itemOf(rss: string, title: string): string {
  const item = [...rss.matchAll(/<item>[\s\S]*?<\/item>/g)].map((match) => match[0]).find((candidate) => candidate.includes(title));
  expect(item, `no item titled ${title}`).toBeDefined();
  return item!;
}

describe('a merged feed of private podcasts still plays in a podcast app', () => {
  it('carries enclosures and the iTunes tags of channel and episodes from both sources, and validates', async (context) => {
    const upstream = await startUpstream({
      '/members/supporters.rss': serveFixture('fidelity/podcast-itunes.rss', { contentType: RSS_TYPE }),
      '/private/nightshift.xml': serveFixture('feeds/podcast.rss', { contentType: RSS_TYPE }),
    });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey('podcaster');
    const ids: string[] = [];
    for (const path of ['/members/supporters.rss', '/private/nightshift.xml']) {
      const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`${path}?auth=${TOKEN}`) } });
      expect(created.statusCode, created.body).toBe(201);
      ids.push((created.json() as { id: string }).id);
    }
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'My podcasts', sources: ids } });
    expect(feed.statusCode, feed.body).toBe(201);
    const rssUrl = (feed.json() as { urls: { rss: string } }).urls.rss;
    const response = await t.app.inject({ method: 'GET', url: rssUrl.slice(PUBLIC_URL.length) });
    expect(response.statusCode).toBe(200);
    const rss = response.body;
    expect(rss).not.toContain(TOKEN);

    // The sources had what is checked below (a test of "X survives" first proves X was there).
    for (const fixture of ['fidelity/podcast-itunes.rss', 'feeds/podcast.rss']) {
      const original = readFixture(fixture).toString('utf8');
      expect(original).toMatch(/<itunes:duration>[\s\S]*<itunes:episode>[\s\S]*<itunes:episodeType>/);
    }

    // Channel: the first source's artwork, and explicit since one source says so.
    expect(rss).toMatch(/<rss [^>]*xmlns:itunes="http:\/\/www\.itunes\.com\/dtds\/podcast-1\.0\.dtd"/);
    const channel = rss.replace(/<item>[\s\S]*<\/item>/, '');
    expect(channel).toContain('<itunes:image href="https://podcast.example/art/show.jpg"/>');
    expect(channel).toContain('<itunes:explicit>true</itunes:explicit>');

    const episodes: Array<{ title: string; enclosure: string[]; tags: string[] }> = [
      {
        title: 'Episode 12: Trailer for season three',
        enclosure: ['url="https://cdn.podcast.example/ep12.mp3"', 'length="1234567"', 'type="audio/mpeg"'],
        tags: [
          '<itunes:duration>0:04:10</itunes:duration>',
          '<itunes:image href="https://podcast.example/art/ep12.jpg"/>',
          '<itunes:explicit>false</itunes:explicit>',
          '<itunes:episode>12</itunes:episode>',
          '<itunes:season>3</itunes:season>',
          '<itunes:episodeType>trailer</itunes:episodeType>',
        ],
      },
      {
        title: 'Episode 11: Members',
        enclosure: ['url="https://cdn.podcast.example/ep11.m4a"', 'length="45678901"', 'type="audio/x-m4a"'],
        tags: [
          '<itunes:duration>1:02:05</itunes:duration>',
          '<itunes:explicit>true</itunes:explicit>',
          '<itunes:episode>11</itunes:episode>',
          '<itunes:season>2</itunes:season>',
          '<itunes:episodeType>full</itunes:episodeType>',
        ],
      },
      {
        title: 'Ep. 42: The Lighthouse Keeper',
        enclosure: ['url="https://cdn.nightshift.example.org/audio/ep042.mp3"', 'length="48211932"', 'type="audio/mpeg"'],
        tags: [
          '<itunes:duration>0:50:13</itunes:duration>',
          '<itunes:image href="https://nightshift.example.org/art/ep042.jpg"/>',
          '<itunes:episode>42</itunes:episode>',
          '<itunes:season>3</itunes:season>',
          '<itunes:episodeType>full</itunes:episodeType>',
        ],
      },
      {
        title: 'Trailer: Season 3',
        enclosure: ['url="https://cdn.nightshift.example.org/audio/trailer-s3.m4a"', 'length="2284113"', 'type="audio/x-m4a"'],
        tags: ['<itunes:episodeType>trailer</itunes:episodeType>'],
      },
    ];
    for (const { title, enclosure, tags } of episodes) {
      const item = itemOf(rss, title);
      const tag = /<enclosure [^>]*>/.exec(item)?.[0] ?? '';
      for (const attribute of enclosure) expect(tag, title).toContain(attribute);
      for (const expected of tags) expect(item, title).toContain(expected);
    }

    if (!hasValidator) return;
    const dir = mkdtempSync(join(tmpdir(), 'feedproxy-podcast-'));
    try {
      const path = join(dir, 'merged.rss');
      writeFileSync(path, rss);
      expect(await validateAll(FEED_VALIDATOR, [path])).toEqual([[]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
