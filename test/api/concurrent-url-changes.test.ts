// Issue 17, the URL-change path: two simultaneous PATCHes by one user, each moving a different
// source to the same URL and each sent to a different instance of the app on one store, end as
// exactly one 200 and one 409 {error, message, id} naming the source that moved; the other source
// keeps its URL. updateSource claims the new URL (services/source-index.ts claimSourceUrls) before
// its duplicate check, as createSource does. Real sockets, a real SQLite file shared by two apps,
// a real Redis prefix.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInstancePair, type InstancePair, type TestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/feeds/${name}`, import.meta.url));
/** Long enough that both PATCHes are past their duplicate check before either stores its change. */
const UPSTREAM_DELAY_MS = 200;

describe.each(STORES)('concurrent URL changes to one URL (%s store, two instances)', (store) => {
  let upstream: Upstream;
  let one: TestApp;
  let pair: InstancePair;
  const bases: string[] = [];
  let targetFetches = 0;

  beforeAll(async () => {
    const atOnce = (type: string, body: Buffer) => (_request: unknown, response: import('node:http').ServerResponse) =>
      void response.writeHead(200, { 'content-type': type }).end(body);
    upstream = await startUpstream({
      '/first': atOnce('application/atom+xml', fixture('netflix-queue.atom')),
      '/second': atOnce('application/atom+xml', fixture('relative-links.atom')),
      '/target': (_request, response) => {
        targetFetches += 1;
        setTimeout(() => response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(fixture('podcast.rss')), UPSTREAM_DELAY_MS);
      },
    });
    // One store for both apps: the same SQLite file, or the same Redis prefix and key.
    pair = await startInstancePair(store, { allowPrivate: [upstream.hostPort], env: { FEEDPROXY_HEAVY_REQUESTS_PER_USER: '1000' } });
    one = pair.one;
    bases.push(...pair.bases);
  });
  afterAll(async () => {
    await pair?.close();
    await upstream?.close();
  });

  const send = async (base: string, key: string, method: string, path: string, payload: object) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    return { status: response.status, body: (await response.json()) as { id?: string; url?: string; error?: string; message?: string } };
  };

  it('moves one source: one 200, one 409 naming it; the other keeps its URL', async () => {
    const key = await one.createUserKey('alice');
    const a = await send(bases[0]!, key, 'POST', '/api/v1/sources', { url: upstream.url('/first') });
    const b = await send(bases[0]!, key, 'POST', '/api/v1/sources', { url: upstream.url('/second') });
    expect([a.status, b.status]).toEqual([201, 201]);
    const target = upstream.url('/target');
    const before = targetFetches;
    const answers = await Promise.all([
      send(bases[0]!, key, 'PATCH', `/api/v1/sources/${a.body.id}`, { url: target }),
      send(bases[1]!, key, 'PATCH', `/api/v1/sources/${b.body.id}`, { url: target }),
    ]);
    expect(answers.map((answer) => answer.status).sort(), JSON.stringify(answers)).toEqual([200, 409]);
    const moved = answers.find((answer) => answer.status === 200)!;
    const conflict = answers.find((answer) => answer.status === 409)!;
    expect(conflict.body).toMatchObject({ error: 'FP_CONFLICT', id: moved.body.id });
    expect(conflict.body.message).toContain(moved.body.id);
    // The second PATCH waited for the first and was recognised before it fetched anything.
    expect(targetFetches - before).toBe(1);
    const sources = (await one.api(key, { method: 'GET', url: '/api/v1/sources' })).json().sources as Array<{ id: string; url: string }>;
    const urls = Object.fromEntries(sources.map((source) => [source.id, source.url]));
    const stayed = moved.body.id === a.body.id ? b : a;
    expect(urls).toEqual({ [moved.body.id!]: target, [stayed.body.id!]: stayed.body.url });
    // Each instance now answers a create of the target with a 409 naming the moved source.
    for (const base of bases) expect((await send(base, key, 'POST', '/api/v1/sources', { url: target })).body.id).toBe(moved.body.id);
  });

  it('lets a source be PATCHed to its own URL and releases the claim', async () => {
    const key = await one.createUserKey('bob');
    const a = await send(bases[0]!, key, 'POST', '/api/v1/sources', { url: upstream.url('/first') });
    expect(a.status).toBe(201);
    expect((await send(bases[1]!, key, 'PATCH', `/api/v1/sources/${a.body.id}`, { url: upstream.url('/first') })).status).toBe(200);
    // A second PATCH of the same URL is not held up by a claim the first left behind.
    expect((await send(bases[0]!, key, 'PATCH', `/api/v1/sources/${a.body.id}`, { url: upstream.url('/first') })).status).toBe(200);
  });
});
