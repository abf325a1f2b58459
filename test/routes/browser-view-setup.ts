// A published feed for the browser-view tests: a hostile title over two real-world sources (one of
// them hostile-html.rss), served by the real app.
import { expect } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';

export const HOSTILE_TITLE = `</title><script>alert("t")</script> Tom & 'Jerry' <b>news</b>`;

export interface PublishedFixture {
  t: TestApp;
  upstream: Upstream;
  apiKey: string;
  feedId: string;
  token: string;
  urls: { atom: string; rss: string; json: string };
  close(): Promise<void>;
}

export async function publishHostileFeed(): Promise<PublishedFixture> {
  const upstream = await startUpstream({
    '/hostile.rss': serveFixture('feeds/hostile-html.rss', { contentType: 'application/rss+xml' }),
    '/podcast.rss': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }),
  });
  const t = await startTestApp({ allowPrivate: [upstream.hostPort] });
  const apiKey = await t.createUserKey('alice');
  const sources: string[] = [];
  for (const path of ['/hostile.rss', '/podcast.rss']) {
    const created = await t.api(apiKey, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(path) } });
    expect(created.statusCode, created.body).toBe(201);
    sources.push(created.json().id);
  }
  const feed = await t.api(apiKey, { method: 'POST', url: '/api/v1/feeds', payload: { title: HOSTILE_TITLE, sources } });
  expect(feed.statusCode, feed.body).toBe(201);
  const urls = feed.json().urls as PublishedFixture['urls'];
  const token = /\/([A-Za-z0-9_-]+)\.atom$/.exec(urls.atom)?.[1] ?? '';
  return {
    t,
    upstream,
    apiKey,
    feedId: feed.json().id,
    token,
    urls,
    async close() {
      await t.close();
      await upstream.close();
    },
  };
}

/** The path of a public URL, for app.inject. */
export const pathOf = (url: string): string => url.slice(PUBLIC_URL.length);

/** What Chromium 156 sends when it navigates to a URL typed in the address bar. */
export const CHROMIUM_NAVIGATION = {
  accept:
    'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
};
