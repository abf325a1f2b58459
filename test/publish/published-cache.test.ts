// Issue 13: each instance answers a reader's poll from its own memory, and forgets what it kept the
// moment any process sharing the store changes it — an edit's rebuild, a revoked subscriber URL, a
// rotation, a deletion — so the very next GET through another instance is the new ETag or a 404.
// Two instances on one store (SQLite file, Redis prefix), and `feedproxy serve` / `feedproxy
// refresh` as real processes beside an instance on one SQLite file. No timing is asserted: every
// GET below follows the change's acknowledgement with no wait.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RenderedFormat } from '../../src/model.js';
import { createPublishedCache, DEFAULT_CACHE_LIMITS, entrySize, type PublishedCache } from '../../src/publish/published-cache.js';
import type { RenderedBody } from '../../src/model.js';
import { key } from '../../src/store/keys.js';
import { ADMIN_TOKEN, PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { CLI_ARGS, ROOT, freePort, runCli, waitFor, waitReady } from '../helpers/cli.js';
import { deleteRedisKeys, randomSecretKey, STORES, uniqueRedisPrefix, type StoreKind } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let upstream: Upstream;
/** What the upstream feed says now: a test changes it to make the next refresh rebuild the feed. */
let headline = 'First headline';
const feedXml = () =>
  '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title><link>http://example.test/</link>' +
  `<item><guid>${headline}</guid><title>${headline}</title><pubDate>Mon, 02 Mar 2026 07:00:00 GMT</pubDate></item></channel></rss>`;

beforeAll(async () => {
  upstream = await startUpstream({
    '/news': (_request, response) => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(feedXml()),
  });
});
afterAll(async () => upstream?.close());

const pathOf = (url: string) => url.slice(PUBLIC_URL.length);
const reads = (t: TestApp) => ({ ...t.deps.metrics.publicFeedReads });

/** A user, a source of the upstream and a feed of it, made through `t`'s API. */
async function publish(t: TestApp): Promise<{ apiKey: string; feedId: string; urls: Record<'atom' | 'rss' | 'json', string> }> {
  const apiKey = await t.createUserKey();
  const source = await t.api(apiKey, {
    method: 'POST',
    url: '/api/v1/sources',
    payload: { url: upstream.url('/news?feed_token=s3cret-of-the-source') },
  });
  expect(source.statusCode, source.body).toBe(201);
  const feed = await t.api(apiKey, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Everywhere', sources: [source.json().id] } });
  expect(feed.statusCode, feed.body).toBe(201);
  return { apiKey, feedId: feed.json().id, urls: feed.json().urls };
}

/**
 * GETs `path` on `t` until an answer comes from memory (the first loads it; on Redis, memory is
 * trusted once the tracking connection is up), and answers the ETag. Proves the cache is there
 * before a test proves it forgets.
 */
async function warm(t: TestApp, path: string): Promise<string> {
  let etag = '';
  await waitFor(async () => {
    const before = reads(t).memory;
    const response = await t.app.inject({ method: 'GET', url: path });
    expect(response.statusCode).toBe(200);
    etag = String(response.headers.etag);
    const revalidated = await t.app.inject({ method: 'GET', url: path, headers: { 'if-none-match': etag } });
    expect(revalidated.statusCode).toBe(304);
    return reads(t).memory >= before + 2;
  }, `${path} answered from memory`);
  return etag;
}

describe.each(STORES)('two instances on one %s store', (store: StoreKind) => {
  let a: TestApp;
  let b: TestApp;
  let prefix: string | undefined;

  beforeAll(async () => {
    if (store === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'feedproxy-cache-'));
      a = await startTestApp({ dir, allowPrivate: [upstream.hostPort] });
      b = await startTestApp({ dir, allowPrivate: [upstream.hostPort] });
    } else {
      prefix = uniqueRedisPrefix();
      const env = { FEEDPROXY_STORE_PREFIX: prefix, FEEDPROXY_SECRET_KEY: randomSecretKey() };
      a = await startTestApp({ store, env, allowPrivate: [upstream.hostPort] });
      b = await startTestApp({ store, env, allowPrivate: [upstream.hostPort] });
    }
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (prefix) await deleteRedisKeys(prefix);
  });

  it('answers polls from memory, and a change through A is seen by B at once: rebuild, revocation, rotation, deletion', async () => {
    const { apiKey, feedId, urls } = await publish(a);
    const subscriber = await a.api(apiKey, { method: 'POST', url: `/api/v1/feeds/${feedId}/tokens`, payload: { name: 'work' } });
    expect(subscriber.statusCode, subscriber.body).toBe(201);
    const readerUrls = subscriber.json().urls as Record<'atom' | 'rss' | 'json', string>;
    const paths = (['atom', 'rss', 'json'] as const).map((format) => ({ own: pathOf(urls[format]), reader: pathOf(readerUrls[format]) }));

    const etags = new Map<string, string>();
    for (const { own, reader } of paths) {
      etags.set(own, await warm(b, own));
      etags.set(reader, await warm(b, reader));
    }
    // A hit costs no store read: many polls, no more reads from the store.
    const before = reads(b);
    for (let n = 0; n < 20; n += 1)
      expect(
        (await b.app.inject({ method: 'GET', url: paths[0]!.own, headers: { 'if-none-match': etags.get(paths[0]!.own)! } })).statusCode,
      ).toBe(304);
    expect(reads(b).store).toBe(before.store);
    expect(reads(b).memory).toBe(before.memory + 20);

    // An edit rebuilds the feed on A: B's next answer is the new document, with its new ETag.
    expect((await a.api(apiKey, { method: 'PATCH', url: `/api/v1/feeds/${feedId}`, payload: { title: 'Renamed' } })).statusCode).toBe(200);
    for (const { own, reader } of paths) {
      for (const path of [own, reader]) {
        const stale = await b.app.inject({ method: 'GET', url: path, headers: { 'if-none-match': etags.get(path)! } });
        expect(stale.statusCode, path).toBe(200);
        expect(stale.headers.etag).not.toBe(etags.get(path));
        expect(stale.body).toContain('Renamed');
        etags.set(path, await warm(b, path));
      }
    }

    // Revoking the subscriber URL on A: a 404 on B at once; the feed's own URL still answers.
    expect((await a.api(apiKey, { method: 'DELETE', url: `/api/v1/feeds/${feedId}/tokens/${subscriber.json().id}` })).statusCode).toBe(204);
    for (const { own, reader } of paths) {
      expect((await b.app.inject({ method: 'GET', url: reader })).statusCode).toBe(404);
      expect((await b.app.inject({ method: 'GET', url: own, headers: { 'if-none-match': etags.get(own)! } })).statusCode).toBe(304);
    }

    // Rotation on A: the old URLs are 404 on B at once, the new ones answer.
    const rotated = await a.api(apiKey, { method: 'POST', url: `/api/v1/feeds/${feedId}/rotate` });
    expect(rotated.statusCode).toBe(200);
    for (const { own } of paths) expect((await b.app.inject({ method: 'GET', url: own })).statusCode).toBe(404);
    const newPath = pathOf(String(rotated.json().urls.atom));
    await warm(b, newPath);

    // Deletion on A: a 404 on B at once.
    expect((await a.api(apiKey, { method: 'DELETE', url: `/api/v1/feeds/${feedId}` })).statusCode).toBe(204);
    expect((await b.app.inject({ method: 'GET', url: newPath })).statusCode).toBe(404);
  });

  it('sends a body written by a rebuild still under way with its own ETag and no Last-Modified of the render before', async () => {
    const { feedId, urls } = await publish(a);
    const before = await a.app.inject({ method: 'GET', url: pathOf(urls.atom) });
    expect(before.headers['last-modified']).toBeTruthy();
    // A rebuild writes the bodies first, then the meta the validators come from: stop it in between.
    const stored = await a.kv.get<RenderedBody>(key.renderedBody(feedId, 'atom'));
    expect(stored?.etag).toBe(before.headers.etag);
    const next = { ...stored!, etag: '"next-render"', body: stored!.body.replace('Everywhere', 'Next render') };
    await a.kv.set(key.renderedBody(feedId, 'atom'), next);

    // B has read nothing of this feed: its first GET reads the meta, then the body of the next render.
    const during = await b.app.inject({ method: 'GET', url: pathOf(urls.atom) });
    expect(during.statusCode).toBe(200);
    expect(during.body).toContain('Next render');
    expect(during.headers.etag).toBe('"next-render"');
    expect(during.headers['last-modified']).toBeUndefined();
    // The meta still names the render before: its validators answer as they did.
    const revalidated = await b.app.inject({
      method: 'GET',
      url: pathOf(urls.atom),
      headers: { 'if-none-match': String(before.headers.etag) },
    });
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.headers['last-modified']).toBe(before.headers['last-modified']);
  });
});

describe('feedproxy serve and the CLI on one SQLite file', () => {
  let dir: string;
  let t: TestApp;
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-cache-cli-'));
    t = await startTestApp({ dir, allowPrivate: [upstream.hostPort] });
  });
  afterAll(async () => {
    server?.kill('SIGKILL');
    await t?.close();
  });

  const cliEnv = () => ({
    FEEDPROXY_STORE: `sqlite://${join(dir, 'feedproxy.sqlite')}`,
    FEEDPROXY_PUBLIC_URL: PUBLIC_URL,
    FEEDPROXY_ADMIN_TOKEN: ADMIN_TOKEN,
    FEEDPROXY_ALLOW_PRIVATE: upstream.hostPort,
    FEEDPROXY_CONFIG: '',
    LOG_LEVEL: 'warn',
  });

  it('a rebuild by `feedproxy refresh` (cron) is served by the running instance at once', { timeout: 60_000 }, async () => {
    headline = 'First headline';
    const { urls } = await publish(t);
    const path = pathOf(urls.atom);
    const etag = await warm(t, path);

    headline = 'Second headline';
    const run = await runCli(['refresh', '--all'], cliEnv());
    expect(run.code, run.stderr).toBe(0);
    const after = await t.app.inject({ method: 'GET', url: path, headers: { 'if-none-match': etag } });
    expect(after.statusCode).toBe(200);
    expect(after.headers.etag).not.toBe(etag);
    expect(after.body).toContain('Second headline');
  });

  it(
    'a rotation and a deletion made by another process are a 404 on a running `feedproxy serve` at once',
    { timeout: 60_000 },
    async () => {
      const { apiKey, feedId, urls } = await publish(t);
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      server = spawn(process.execPath, [...CLI_ARGS, 'serve', '--role', 'web'], {
        cwd: ROOT,
        env: { ...process.env, ...cliEnv(), PORT: String(port) },
        stdio: 'ignore',
      });
      await waitReady(base);
      const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });
      const memoryReads = async () =>
        Number(/feedproxy_public_feed_reads_total\{from="memory"\} (\d+)/.exec(await (await fetch(`${base}/metrics`)).text())?.[1] ?? 0);

      const path = pathOf(urls.atom);
      const first = await get(path);
      expect(first.status).toBe(200);
      const etag = String(first.headers.get('etag'));
      const before = await memoryReads();
      expect((await get(path, { 'if-none-match': etag })).status).toBe(304);
      expect(await memoryReads()).toBe(before + 1);

      const rotated = await t.api(apiKey, { method: 'POST', url: `/api/v1/feeds/${feedId}/rotate` });
      expect(rotated.statusCode).toBe(200);
      expect((await get(path, { 'if-none-match': etag })).status).toBe(404);
      const newPath = pathOf(String(rotated.json().urls.atom));
      expect((await get(newPath)).status).toBe(200);
      expect((await get(newPath)).status).toBe(200);

      expect((await t.api(apiKey, { method: 'DELETE', url: `/api/v1/feeds/${feedId}` })).statusCode).toBe(204);
      expect((await get(newPath)).status).toBe(404);
    },
  );
});

// Issue 14: what the cache keeps is bounded in bytes, not in entries (an entry is ~3 KB of heap).
describe('the entries kept, bounded in bytes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ allowPrivate: [upstream.hostPort] });
  });
  afterAll(async () => t?.close());

  it('after a commit that changes nothing kept, answers from memory once the check has read the change log', async () => {
    const { urls } = await publish(t);
    const file = urls.atom.slice(urls.atom.lastIndexOf('/') + 1);
    const token = file.slice(0, file.lastIndexOf('.'));
    const cache = await createPublishedCache(t.deps, DEFAULT_CACHE_LIMITS);
    try {
      const kept = await cache.load(file, token, 'atom');
      expect(kept).toBeDefined();
      await new Promise((resolve) => setImmediate(resolve));
      expect(cache.get(file)).toBe(kept);
      // A write of something else (a new user): the store moved, so memory is not trusted until the
      // change log has been read — and then the entry kept is the answer, not a read of the store.
      await t.createUserKey();
      await new Promise((resolve) => setImmediate(resolve));
      expect(cache.get(file)).toBeUndefined();
      expect(await cache.load(file, token, 'atom')).toBe(kept);
    } finally {
      await cache.close();
    }
  });

  it('keeps every entry within its budget, and past it forgets the oldest first', async () => {
    const files: Array<{ file: string; token: string; format: RenderedFormat }> = [];
    for (let feed = 0; feed < 2; feed++) {
      const { urls } = await publish(t);
      for (const format of ['atom', 'rss', 'json'] as const) {
        const file = urls[format].slice(urls[format].lastIndexOf('/') + 1);
        files.push({ file, token: file.slice(0, file.lastIndexOf('.')), format });
      }
    }
    const loadAll = async (cache: PublishedCache) => {
      const sizes: number[] = [];
      for (const { file, token, format } of files) sizes.push(entrySize((await cache.load(file, token, format))!));
      return sizes;
    };

    // The control: a budget for all six, and all six are kept.
    const roomy = await createPublishedCache(t.deps, { ...DEFAULT_CACHE_LIMITS, entryBytes: 1024 * 1024 });
    const sizes = await loadAll(roomy);
    expect(files.every(({ file }) => roomy.get(file) !== undefined)).toBe(true);
    await roomy.close();

    // Room for about three: the first ones loaded go, the last ones stay, and what stays fits.
    const budget = Math.floor(3.5 * Math.max(...sizes));
    const tight = await createPublishedCache(t.deps, { ...DEFAULT_CACHE_LIMITS, entryBytes: budget });
    await loadAll(tight);
    const kept = files.map(({ file }, index) => (tight.get(file) ? index : -1)).filter((index) => index >= 0);
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(kept.length).toBeLessThan(files.length);
    expect(kept).toEqual(files.map((_, index) => index).slice(files.length - kept.length));
    expect(kept.reduce((total, index) => total + sizes[index]!, 0)).toBeLessThanOrEqual(budget);
    await tight.close();
  });
});
