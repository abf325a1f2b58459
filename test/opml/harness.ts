// The upstream behind test/fixtures/opml/feedly-export.opml: tokenized feeds that answer only with
// the right token (as GitLab, GitHub and Pinboard do), plain feeds, and an HTML page naming no feed.
import { readFileSync } from 'node:fs';
import { readFixture, startUpstream, type Upstream } from '../helpers/upstream.js';

export const TOKENS = {
  gitlab: 'glft-Zq8uY4tP2mW9xK7vB3nR',
  github: 'GHPRIV0a1b2c3d4e5f6a7b8c9d',
  pinboard: 'PINSECRETa9f8e7d6c5b4',
};

const FEEDS: Record<string, { fixture: string; type: string; token?: [string, string] }> = {
  '/dashboard/projects.atom': { fixture: 'feeds/netflix-queue.atom', type: 'application/atom+xml', token: ['feed_token', TOKENS.gitlab] },
  '/alice.private.atom': { fixture: 'feeds/relative-links.atom', type: 'application/atom+xml', token: ['token', TOKENS.github] },
  '/status.rss': { fixture: 'feeds/no-dates.rss', type: 'application/rss+xml' },
  '/podcast.rss': { fixture: 'feeds/podcast.rss', type: 'application/rss+xml' },
  [`/rss/secret:${TOKENS.pinboard}/u:alice/`]: { fixture: 'feeds/rss-0.91.xml', type: 'application/rss+xml' },
  '/blog/': { fixture: 'feeds/not-a-feed.html', type: 'text/html; charset=utf-8' },
};

export function startFeedUpstream(): Promise<Upstream> {
  return startUpstream((request, response) => {
    const url = new URL(request.url ?? '/', 'http://upstream');
    const feed = FEEDS[url.pathname];
    if (!feed || (feed.token && url.searchParams.get(feed.token[0]) !== feed.token[1])) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': feed.type }).end(readFixture(feed.fixture));
  });
}

/** An OPML fixture with its `http://UPSTREAM` placeholder pointed at `upstream`. */
export function opmlFixture(name: string, upstream: Upstream): string {
  return readFileSync(new URL(`../fixtures/opml/${name}`, import.meta.url), 'utf8').replaceAll(
    'http://UPSTREAM',
    upstream.url('').replace(/\/$/, ''),
  );
}
