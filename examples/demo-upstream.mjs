#!/usr/bin/env node
// A stand-in for two private feeds, for trying feedproxy on one machine:
//   node examples/demo-upstream.mjs      → http://127.0.0.1:8081/queue?feed_token=… and /podcast?token=…
// Each answers 401 without its token, like GitLab's or Netflix's per-user feeds.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8081);
const fixture = (name) => readFileSync(new URL(`../test/fixtures/feeds/${name}`, import.meta.url), 'utf8');
// The queue repeats its own tokenized URL in its entries, as Netflix's did: served with the demo's
// token there, so feedproxy's published copy shows it redacted.
const queue = fixture('netflix-queue.atom').replaceAll('T1SECRETu5cVd3sK9wPz7Qn2LmJfXy0Ha8Rb--', 'demo-queue-token-4f9a2c');
const feeds = {
  '/queue': { token: ['feed_token', 'demo-queue-token-4f9a2c'], type: 'application/atom+xml', body: queue },
  '/podcast': { token: ['token', 'demo-podcast-token-7b1e5d'], type: 'application/rss+xml', body: fixture('podcast.rss') },
};

createServer((request, response) => {
  const url = new URL(request.url ?? '/', `http://127.0.0.1:${port}`);
  const feed = feeds[url.pathname];
  if (!feed) return response.writeHead(404).end('not found\n');
  const [name, value] = feed.token;
  if (url.searchParams.get(name) !== value) return response.writeHead(401).end('bad token\n');
  response.writeHead(200, { 'content-type': feed.type }).end(feed.body);
})
  // Started twice (or the port is taken): say so, instead of Node's raw "Unhandled 'error' event".
  .on('error', (error) => {
    const reason =
      error.code === 'EADDRINUSE' ? `port ${port} is already in use (is the demo already running?); PORT=… picks another` : error.message;
    console.error(`demo-upstream: ${reason}`);
    process.exit(1);
  })
  .listen(port, '127.0.0.1', () => {
    for (const [path, { token }] of Object.entries(feeds)) console.log(`http://127.0.0.1:${port}${path}?${token[0]}=${token[1]}`);
  });
