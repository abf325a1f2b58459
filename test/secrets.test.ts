// The secret in a source URL never reaches an API response, a log line, a published feed or the
// store file — checked on every surface after a full create → publish → fail → refresh cycle.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from './helpers/app.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { readRedisKeys, STORES } from './helpers/stores.js';

// The fixture repeats this token in its self link and in an entry's HTML.
const TOKEN = 'T1SECRETu5cVd3sK9wPz7Qn2LmJfXy0Ha8Rb--';
const SECOND = 'second-secret-value-9f8e7d6c';

describe.each(STORES)('secrets (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  const bodies: string[] = [];
  let failing = false;

  beforeAll(async () => {
    const feed = readFileSync(new URL('./fixtures/feeds/netflix-queue.atom', import.meta.url), 'utf8');
    upstream = await startUpstream({
      '/queue': (_request, response) => {
        if (failing) return void response.writeHead(503, { 'retry-after': '120' }).end(`no luck for ${TOKEN}`);
        void response.writeHead(200, { 'content-type': 'application/atom+xml' }).end(feed.replaceAll('trkid=134852', `trkid=${SECOND}`));
      },
      '/moved': (_request, response) => void response.writeHead(302, { location: `/queue?feed_token=${TOKEN}&sig=${SECOND}` }).end(),
    });
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort] });
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('keeps the token out of responses, logs, feeds and the store file', async () => {
    const key = await t.createUserKey();
    const record = async (response: { body: string }) => {
      bodies.push(response.body);
      return response;
    };
    const source = (await record(
      await t.api(key, {
        method: 'POST',
        url: '/api/v1/sources',
        payload: { url: upstream.url(`/queue?feed_token=${TOKEN}&sig=${SECOND}&output=atom`) },
      }),
    )) as Awaited<ReturnType<TestApp['api']>>;
    expect(source.statusCode).toBe(201);
    const id = source.json().id;
    const viaRedirect = await record(
      await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/moved') } }),
    );
    expect((viaRedirect as Awaited<ReturnType<TestApp['api']>>).statusCode).toBe(201);

    const feed = (await record(
      await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [id] } }),
    )) as Awaited<ReturnType<TestApp['api']>>;
    const urls = feed.json().urls as Record<string, string>;
    for (const url of Object.values(urls)) await record(await t.app.inject({ method: 'GET', url: url.slice(PUBLIC_URL.length) }));
    for (const path of ['/api/v1/sources', `/api/v1/sources/${id}`, `/api/v1/sources/${id}/items`, '/api/v1/feeds']) {
      await record(await t.api(key, { method: 'GET', url: path }));
    }

    failing = true;
    const refreshed = (await record(await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` }))) as Awaited<
      ReturnType<TestApp['api']>
    >;
    expect(refreshed.json().status).toBe('stale');
    expect(refreshed.json().lastError).toMatch(/503/);
    await record(await t.api(key, { method: 'GET', url: `/api/v1/sources/${id}` }));
    await record(await t.app.inject({ method: 'GET', url: '/metrics' }));

    // The entries still carry the rest of the upstream's content.
    expect(bodies.join('\n')).toContain('Pride &amp; Prejudice');
    // On Redis, every key of the run's prefix and what it holds, read back from the server.
    const redisValues = t.redisPrefix ? await readRedisKeys(t.redisPrefix) : new Map<string, string>();
    if (store === 'redis') expect(redisValues.size).toBeGreaterThan(10);
    for (const secret of [TOKEN, SECOND, encodeURIComponent(TOKEN)]) {
      bodies.forEach((body, index) => expect(body.includes(secret), `response ${index}`).toBe(false));
      expect(t.logs.length).toBeGreaterThan(0);
      t.logs.forEach((line) => expect(line.includes(secret), line).toBe(false));
      for (const file of readdirSync(t.dir).filter((name) => name.startsWith('feedproxy.sqlite'))) {
        expect(readFileSync(join(t.dir, file)).includes(Buffer.from(secret)), `${file} holds ${secret}`).toBe(false);
      }
      for (const [redisKey, value] of redisValues)
        expect(`${redisKey} ${value}`.includes(secret), `${redisKey} holds ${secret}`).toBe(false);
    }
  });
});
