// Issue 17 (and the serving brief's point 3): two simultaneous creates of one URL by one user —
// each to a different instance of the app on one store — end as exactly one 201 and one
// 409 {error, message, id} naming the stored source, and one source is stored. The duplicate check
// and the write are made atomic by a claim on the URL's index key (services/source-index.ts
// claimSourceUrls). Real sockets, a real SQLite file shared by two apps, a real Redis prefix.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInstancePair, type InstancePair, type TestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/feeds/${name}`, import.meta.url));
/** Long enough that both creates are past their duplicate check before either stores its source. */
const UPSTREAM_DELAY_MS = 200;

describe.each(STORES)('concurrent creates of one URL (%s store, two instances)', (store) => {
  let upstream: Upstream;
  let one: TestApp;
  let pair: InstancePair;
  const bases: string[] = [];
  let fetches = 0;

  beforeAll(async () => {
    const slowly = (type: string, body: Buffer | string) => (_request: unknown, response: import('node:http').ServerResponse) => {
      fetches += 1;
      setTimeout(() => response.writeHead(200, { 'content-type': type }).end(body), UPSTREAM_DELAY_MS);
    };
    upstream = await startUpstream({
      '/podcast': slowly('application/rss+xml', fixture('podcast.rss')),
      '/queue': slowly('application/atom+xml', fixture('netflix-queue.atom')),
      // At once, so the create naming the page reaches the feed while the other is still fetching it.
      '/page': (_request, response) =>
        void response
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end('<!doctype html><html><head><link rel="alternate" type="application/atom+xml" href="queue"></head><body>Hi</body></html>'),
      '/missing': (_request, response) => void setTimeout(() => response.writeHead(404).end(), UPSTREAM_DELAY_MS),
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

  const create = async (base: string, key: string, url: string) => {
    const response = await fetch(`${base}/api/v1/sources`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url }),
    });
    return { status: response.status, body: (await response.json()) as { id?: string; error?: string; message?: string } };
  };
  const sourceIds = async (key: string) =>
    (await one.api(key, { method: 'GET', url: '/api/v1/sources' })).json().sources.map((source: { id: string }) => source.id) as string[];

  /** The two answers as [the 201, the 409]; fails unless there is exactly one of each. */
  function oneCreatedOneConflict(answers: Array<Awaited<ReturnType<typeof create>>>) {
    expect(answers.map((answer) => answer.status).sort(), JSON.stringify(answers)).toEqual([201, 409]);
    const created = answers.find((answer) => answer.status === 201)!;
    const conflict = answers.find((answer) => answer.status === 409)!;
    expect(conflict.body).toMatchObject({ error: 'FP_CONFLICT', id: created.body.id });
    expect(conflict.body.message).toContain(created.body.id);
    return created;
  }

  it('stores one source: one 201, one 409 naming it', async () => {
    const key = await one.createUserKey('alice');
    const url = upstream.url('/podcast');
    const before = fetches;
    const created = oneCreatedOneConflict(await Promise.all([create(bases[0]!, key, url), create(bases[1]!, key, url)]));
    expect(await sourceIds(key)).toEqual([created.body.id]);
    // The second create waited for the first and was recognised before it fetched anything.
    expect(fetches - before).toBe(1);
    // Both requests were in flight together: each instance answers a third create with a 409 at once.
    for (const base of bases) expect((await create(base, key, url)).status).toBe(409);
  });

  it('stores one source when one create names an HTML page and the other the feed it resolves to', async () => {
    const key = await one.createUserKey('bob');
    const created = oneCreatedOneConflict(
      await Promise.all([create(bases[0]!, key, upstream.url('/page')), create(bases[1]!, key, upstream.url('/queue'))]),
    );
    expect(await sourceIds(key)).toEqual([created.body.id]);
  });

  it('lets the waiting create through when the first one fails, and releases every claim', async () => {
    const key = await one.createUserKey('carol');
    const url = upstream.url('/missing');
    const answers = await Promise.all([create(bases[0]!, key, url), create(bases[1]!, key, url)]);
    // Both fetched (the second after the first let go) and both failed: nothing stored, no 409.
    expect(answers.map((answer) => answer.status)).toEqual([422, 422]);
    expect(await sourceIds(key)).toEqual([]);
    // Distinct users are never held up by one another's claims, and a URL is free again after a failure.
    const other = await one.createUserKey('dave');
    const both = await Promise.all([create(bases[0]!, key, upstream.url('/podcast')), create(bases[1]!, other, upstream.url('/podcast'))]);
    expect(both.map((answer) => answer.status)).toEqual([201, 201]);
  });
});
