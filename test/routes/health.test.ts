// Operations endpoints: liveness, readiness, Prometheus metrics, OpenAPI and its docs page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { serveFixture, startUpstream } from '../helpers/upstream.js';

describe('operations routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  it('answers /healthz and /readyz', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });

  it('reports 503 on /readyz when the store is gone', async () => {
    const other = await startTestApp();
    await other.deps.registry.close();
    const ready = await other.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    await other.app.close();
  });

  it('serves Prometheus metrics', async () => {
    await t.app.inject({ method: 'GET', url: '/healthz' });
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/^feedproxy_http_requests_total\{route="\/healthz",method="GET",status="200"\} \d+$/m);
    for (const name of [
      'feedproxy_refreshes_total',
      'feedproxy_fetch_duration_seconds',
      'feedproxy_scheduler_lag_seconds',
      'feedproxy_process_resident_memory_bytes',
    ]) {
      expect(metrics.body).toContain(`# TYPE ${name}`);
    }
    // Every request is counted once, between scrapes as across them.
    const healthz = (body: string) =>
      Number(/^feedproxy_http_requests_total\{route="\/healthz",method="GET",status="200"\} (\d+)$/m.exec(body)![1]);
    const before = healthz(metrics.body);
    for (let n = 0; n < 3; n += 1) await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(healthz((await t.app.inject({ method: 'GET', url: '/metrics' })).body)).toBe(before + 3);
    expect(healthz((await t.app.inject({ method: 'GET', url: '/metrics' })).body)).toBe(before + 3);
  });

  it('reports the event loop lag as numbers, even on a scrape before the next sample', async () => {
    // prom-client resets its event-loop histogram on every scrape: the second of two scrapes in one
    // tick has no sample yet.
    for (const { body } of await Promise.all([t.deps.metrics.render(), t.deps.metrics.render()])) {
      const lags = [...body.matchAll(/^feedproxy_nodejs_eventloop_lag_(\w+) (\S+)$/gm)].map(
        ([, name, value]) => [name, Number(value)] as const,
      );
      expect(lags.map(([name]) => name)).toContain('mean_seconds');
      // Finite and below an hour: not prom-client's "Nan", nor an empty histogram's 2^63 ns minimum.
      for (const [name, value] of lags) expect(value >= 0 && value < 3600, `${name} ${value}`).toBe(true);
    }
  });

  it("counts the fetch a source is created with, as it counts a refresh's", async () => {
    const upstream = await startUpstream({ '/podcast.rss': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
    const app = await startTestApp({ allowPrivate: [upstream.hostPort] });
    try {
      const fetches = async () => {
        const body = (await app.app.inject({ method: 'GET', url: '/metrics' })).body;
        return {
          ok: Number(/^feedproxy_fetch_duration_seconds_count\{outcome="ok"\} (\d+)$/m.exec(body)?.[1] ?? 0),
          bytes: Number(/^feedproxy_fetched_bytes_total (\d+)$/m.exec(body)?.[1]),
        };
      };
      expect(await fetches()).toEqual({ ok: 0, bytes: 0 });
      const key = await app.createUserKey('alice');
      const created = await app.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/podcast.rss') } });
      expect(created.statusCode, created.body).toBe(201);
      const size = readFileSync(new URL('../fixtures/feeds/podcast.rss', import.meta.url)).length;
      expect(await fetches()).toEqual({ ok: 1, bytes: size });
    } finally {
      await app.close();
      await upstream.close();
    }
  });

  it('publishes an OpenAPI document generated from the route schemas, and a docs page', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(spec.openapi).toMatch(/^3\./);
    for (const path of [
      '/api/v1/sources',
      '/api/v1/sources/{id}',
      '/api/v1/sources/{id}/refresh',
      '/api/v1/feeds',
      '/api/v1/feeds/{id}/rotate',
      '/api/v1/users',
      '/api/v1/connections',
      '/api/v1/connections/{id}/feeds',
    ]) {
      expect(spec.paths, path).toHaveProperty([path]);
    }
    expect(spec.paths['/api/v1/sources'].post.requestBody.content['application/json'].schema.required).toEqual(['url']);
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
  });

  it('answers unknown routes with a coded 404', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/nope/nothing?x=secret-value' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: 'FP_NOT_FOUND' });
    expect(response.body).not.toContain('secret-value');
  });
});

describe('/metrics with FEEDPROXY_METRICS_TOKEN', () => {
  const TOKEN = 'metrics-token-4f9Qx2LmP7s';
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { FEEDPROXY_METRICS_TOKEN: TOKEN } });
  });
  afterAll(async () => t?.close());

  it('asks for the token as a bearer, and serves the metrics with it', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
      const refused = await t.app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} });
      expect(refused.statusCode, authorization).toBe(401);
      expect(refused.json()).toEqual({
        statusCode: 401,
        error: 'FP_UNAUTHORIZED',
        message: 'GET /metrics needs Authorization: Bearer <FEEDPROXY_METRICS_TOKEN>',
      });
      expect(refused.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(refused.body).not.toContain('feedproxy_');
    }
    const served = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(served.statusCode).toBe(200);
    expect(served.body).toContain('# TYPE feedproxy_http_requests_total');
    // Health probes stay open: orchestrators probe without credentials.
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect(t.logs.join('')).not.toContain(TOKEN);
  });
});
