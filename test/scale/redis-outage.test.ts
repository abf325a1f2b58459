// Redis going away and coming back: /readyz and the API answer 503 meanwhile, the public feeds
// too, and everything works again when it returns — without restarting feedproxy.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { findOnPath } from '../interop/tools.js';
import { freePort, waitFor } from '../helpers/cli.js';
import { serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';

const redisServer = findOnPath('redis-server');

function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(redisServer!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    setTimeout(() => resolve(child), 300);
  });
}

describe.skipIf(!redisServer)(`a Redis outage${redisServer ? '' : ' (needs redis-server on PATH)'}`, () => {
  let redis: ChildProcess | undefined;
  let upstream: Upstream;
  let t: TestApp | undefined;
  afterAll(async () => {
    await t?.app.close().catch(() => undefined);
    await t?.deps.close().catch(() => undefined);
    redis?.kill('SIGKILL');
    await upstream?.close();
  });

  it('answers 503 while Redis is away and recovers on its own', { timeout: 60_000 }, async () => {
    const port = await freePort();
    redis = await startRedis(port);
    upstream = await startUpstream({ '/feed': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
    t = await startTestApp({
      allowPrivate: [upstream.hostPort],
      env: {
        FEEDPROXY_STORE: `redis://127.0.0.1:${port}`,
        FEEDPROXY_SECRET_KEY: randomBytes(32).toString('base64'),
        FEEDPROXY_STORE_PREFIX: 'outage:',
      },
    });
    const key = await t.createUserKey();
    const source = (await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } })).json();
    const feed = (await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Outage', sources: [source.id] } })).json();
    const atom = feed.urls.atom.slice(PUBLIC_URL.length);

    redis.kill('SIGKILL');
    await waitFor(async () => (await t!.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 503, '/readyz to fail');
    const api = await t.api(key, { method: 'GET', url: '/api/v1/sources' });
    expect(api.statusCode).toBe(503);
    expect(api.json()).toMatchObject({ error: 'FP_STORE_UNAVAILABLE' });
    expect(api.headers['retry-after']).toBe('5');
    expect((await t.app.inject({ method: 'GET', url: atom })).statusCode).toBe(503);

    // Same port, empty Redis (no persistence here): the service reconnects; data written before is
    // gone with that Redis, so the API answers 401 for the old key — served, not failing.
    redis = await startRedis(port);
    await waitFor(
      async () => (await t!.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200,
      '/readyz to recover',
      30_000,
      100,
    );
    expect((await t.api(key, { method: 'GET', url: '/api/v1/sources' })).statusCode).toBe(401);
    const again = await t.createUserKey();
    expect((await t.api(again, { method: 'GET', url: '/api/v1/sources' })).statusCode).toBe(200);
  });
});
