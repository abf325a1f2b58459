// The scaled-out topology without Docker: real `feedproxy serve` processes on two ports sharing
// the local Redis, as docker-compose.scale.yml runs them behind nginx. What one instance writes the
// other serves; a SIGKILLed instance's sources are taken over once its leases lapse; the roles
// split HTTP from refreshing, and `feedproxy refresh` from cron joins the same leases.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp } from '../helpers/app.js';
import { deleteRedisKeys, randomSecretKey, REDIS_SKIP_REASON, REDIS_URL, redisAvailable, uniqueRedisPrefix } from '../helpers/stores.js';
import { serveBody, startUpstream, type Upstream } from '../helpers/upstream.js';
import { errorLines, freePort, sleep, waitFor } from '../helpers/cli.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const MINUTE = 60_000;
const SOURCES = 12;
const LEASE_SECONDS = 1;
const TICK_SECONDS = 0.2;
const FEED =
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Processes</title><link>http://example.test/</link>' +
  '<item><guid>a</guid><title>A</title><pubDate>Mon, 02 Mar 2026 07:00:00 GMT</pubDate></item></channel></rss>';

interface Instance {
  name: string;
  base: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

describe.skipIf(!redisAvailable)(`feedproxy processes on one Redis${REDIS_SKIP_REASON ? ` (${REDIS_SKIP_REASON})` : ''}`, () => {
  const secretKey = randomSecretKey();
  const prefixes: string[] = [];
  const instances: Instance[] = [];
  let upstream: Upstream;
  let dir: string;
  /** Fetches per path and which instance (User-Agent) made them. */
  const fetches: Array<{ path: string; agent: string }> = [];
  /** Answers held back, by agent, while `hold(agent)` says so. */
  let hold: (agent: string) => boolean = () => false;
  const held: Array<{ agent: string; path: string; release: () => void }> = [];

  beforeAll(async () => {
    const serve = serveBody(FEED, { contentType: 'application/rss+xml' });
    upstream = await startUpstream((request: IncomingMessage, response: ServerResponse) => {
      const agent = String(request.headers['user-agent']);
      const path = request.url ?? '/';
      if (agent.startsWith('instance-')) fetches.push({ path, agent });
      if (hold(agent)) return void held.push({ agent, path, release: () => serve(request, response) });
      return serve(request, response);
    });
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-scale-'));
  });
  afterAll(async () => {
    hold = () => false;
    for (const request of held.splice(0)) request.release();
    for (const instance of instances) instance.child.kill('SIGKILL');
    await Promise.all(instances.map((instance) => instance.exited));
    await upstream?.close();
    for (const prefix of prefixes) await deleteRedisKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  /** A user and `SOURCES` one-minute sources under `path`, created ten minutes ago: all due. */
  async function prepare(path: string): Promise<{ prefix: string; apiKey: string; paths: string[] }> {
    const prefix = uniqueRedisPrefix();
    prefixes.push(prefix);
    const prep = await startTestApp({
      store: 'redis',
      env: { FEEDPROXY_STORE_PREFIX: prefix, FEEDPROXY_SECRET_KEY: secretKey },
      allowPrivate: [upstream.hostPort],
      overrides: { now: () => new Date(Date.now() - 10 * MINUTE) },
    });
    try {
      const apiKey = await prep.createUserKey();
      const paths: string[] = [];
      for (let index = 0; index < SOURCES; index += 1) {
        const created = await prep.api(apiKey, {
          method: 'POST',
          url: '/api/v1/sources',
          payload: { url: upstream.url(`${path}-${index}`), refreshMinutes: 1 },
        });
        expect(created.statusCode, created.body).toBe(201);
        paths.push(`${path}-${index}`);
      }
      return { prefix, apiKey, paths };
    } finally {
      await prep.close();
    }
  }

  function environment(name: string, prefix: string, port: number): Record<string, string> {
    const configFile = join(dir, `${name}.yaml`);
    writeFileSync(
      configFile,
      `refresh:\n  tickSeconds: ${TICK_SECONDS}\n  leaseSeconds: ${LEASE_SECONDS}\nfetch:\n  userAgent: instance-${name}\n`,
    );
    return {
      FEEDPROXY_STORE: REDIS_URL,
      FEEDPROXY_STORE_PREFIX: prefix,
      FEEDPROXY_SECRET_KEY: secretKey,
      FEEDPROXY_CONFIG: configFile,
      FEEDPROXY_ALLOW_PRIVATE: upstream.hostPort,
      FEEDPROXY_PUBLIC_URL: PUBLIC_URL,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };
  }

  async function start(name: string, prefix: string, args: string[] = []): Promise<Instance> {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...environment(name, prefix, port) },
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const instance = {
      name,
      base: `http://127.0.0.1:${port}`,
      child,
      output: () => output,
      exited: new Promise<number | null>((resolve) => child.once('exit', resolve)),
    };
    instances.push(instance);
    await waitFor(async () => (await fetch(`${instance.base}/readyz`).catch(() => undefined))?.ok === true, `${name} to be ready`);
    return instance;
  }

  function runRefresh(name: string, prefix: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'refresh'], {
        cwd: ROOT,
        env: { ...process.env, ...environment(name, prefix, 0) },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  const fetchedBy = (agent: string, paths: string[]) =>
    new Set(fetches.filter((fetch) => fetch.agent === agent && paths.includes(fetch.path)).map((fetch) => fetch.path));

  it('serves on B what A wrote, and takes a SIGKILLed instance’s sources over once its leases lapse', { timeout: 120_000 }, async () => {
    const { prefix, apiKey, paths } = await prepare('/kill');
    const auth = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    // A's fetches never answer: A holds the leases of what it is fetching when it dies.
    hold = (agent) => agent === 'instance-A';
    const a = await start('A', prefix);
    await waitFor(() => held.filter((request) => request.agent === 'instance-A').length >= 2, 'A to be mid-refresh');
    const b = await start('B', prefix);

    // Create on A, read on B: same bytes, same ETag; rotate on A, 404 on B.
    const sourceIds = (
      (await (await fetch(`${a.base}/api/v1/sources`, { headers: auth })).json()) as { sources: Array<{ id: string }> }
    ).sources.map((source) => source.id);
    const created = await fetch(`${a.base}/api/v1/feeds`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ title: 'Both', sources: sourceIds }),
    });
    expect(created.status).toBe(201);
    const feed = (await created.json()) as { id: string; urls: Record<string, string> };
    const path = feed.urls.json!.slice(PUBLIC_URL.length);
    const [fromA, fromB] = await Promise.all([fetch(a.base + path), fetch(b.base + path)]);
    expect(fromB.status).toBe(200);
    expect(fromB.headers.get('etag')).toBe(fromA.headers.get('etag'));
    expect(Buffer.from(await fromB.arrayBuffer()).equals(Buffer.from(await fromA.arrayBuffer()))).toBe(true);
    expect(
      (await fetch(`${a.base}/api/v1/feeds/${feed.id}/rotate`, { method: 'POST', headers: { authorization: auth.authorization } })).status,
    ).toBe(200);
    expect((await fetch(b.base + path)).status).toBe(404);

    // B refreshes everything A does not hold, and — while A lives and renews — nothing A holds.
    const heldByA = held.filter((request) => request.agent === 'instance-A').map((request) => request.path);
    const others = paths.filter((candidate) => !heldByA.includes(candidate));
    await waitFor(() => fetchedBy('instance-B', others).size === others.length, 'B to refresh the sources A does not hold');
    await sleep(LEASE_SECONDS * 2000);
    expect([...fetchedBy('instance-B', heldByA)]).toEqual([]);

    a.child.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();
    await waitFor(() => fetchedBy('instance-B', heldByA).size === heldByA.length, 'B to take over the sources A held');
    const takeoverMs = Date.now() - killedAt;
    console.info(
      `SIGKILL takeover: ${heldByA.length} sources held by A refreshed by B ${takeoverMs} ms after the kill (lease ${LEASE_SECONDS} s, tick ${TICK_SECONDS} s)`,
    );
    // Bounded by the heartbeat lease, not by the fetch-timeout lease of 90 s a dead holder would otherwise keep.
    expect(takeoverMs).toBeLessThan(30_000);

    // No source starves: B answers with every source refreshed since A died or before. The
    // upstream sees B's fetch before B has saved its outcome, so wait for the saved records.
    type Listed = { status: string; lastFetchedAt: string; nextFetchAt: string };
    let sources: Listed[] = [];
    await waitFor(async () => {
      sources = ((await (await fetch(`${b.base}/api/v1/sources`, { headers: auth })).json()) as { sources: Listed[] }).sources;
      return sources.every((source) => Date.now() - Date.parse(source.lastFetchedAt) < MINUTE);
    }, 'B to save the refreshes it took over');
    expect(sources).toHaveLength(SOURCES);
    for (const source of sources) {
      expect(source.status).toBe('ok');
      expect(Date.now() - Date.parse(source.lastFetchedAt)).toBeLessThan(MINUTE);
      expect(Date.parse(source.nextFetchAt) - Date.parse(source.lastFetchedAt)).toBeGreaterThanOrEqual(MINUTE);
    }
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    expect(errorLines(b.output())).toEqual([]);
  });

  it(
    'splits roles: web never refreshes, worker serves only probes, and cron shares the worker’s leases',
    { timeout: 120_000 },
    async () => {
      const { prefix, apiKey, paths } = await prepare('/roles');
      hold = () => false;
      for (const request of held.splice(0)) request.release();
      const web = await start('web', prefix, ['--role', 'web']);
      const listed = await fetch(`${web.base}/api/v1/sources`, { headers: { authorization: `Bearer ${apiKey}` } });
      expect(((await listed.json()) as { sources: unknown[] }).sources).toHaveLength(SOURCES);
      await sleep(1500); // many ticks' worth: a scheduler in the web role would have fetched by now
      expect(fetchedBy('instance-web', paths).size).toBe(0);

      // A cron run, then the worker; every answer is held until each has its two per-host fetches
      // open. Cron first: its one pass claims every due source once, and the worker takes over the
      // claims it cannot start as they lapse (a worker started first re-claims them every tick, and
      // cron could find none due).
      hold = () => true;
      const cron = runRefresh('cron', prefix);
      await waitFor(() => held.filter((request) => request.agent === 'instance-cron').length >= 2, 'cron to be mid-refresh');
      const worker = await start('worker', prefix, ['--role', 'worker']);
      for (const probe of ['/healthz', '/readyz', '/metrics']) expect((await fetch(worker.base + probe)).status, probe).toBe(200);
      expect(await (await fetch(`${worker.base}/metrics`)).text()).toContain('feedproxy_refreshes_total');
      expect((await fetch(`${worker.base}/api/v1/sources`, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(404);
      await waitFor(() => held.length >= 4, 'the worker and cron to be mid-refresh');
      await sleep(300);
      expect(held).toHaveLength(4);
      expect(new Set(held.map((request) => request.path)).size).toBe(4);
      hold = () => false;
      for (const request of held.splice(0)) request.release();

      const run = await cron;
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^refreshed \d+, unchanged \d+, failed 0(, skipped \d+)? in /m);
      await waitFor(
        () => new Set(fetches.filter((fetch) => paths.includes(fetch.path)).map((fetch) => fetch.path)).size === SOURCES,
        'every source refreshed',
      );
      await sleep(500);
      // One fetch per source in all, between the worker and cron, within one interval.
      const perPath = new Map<string, number>();
      for (const fetch of fetches) if (paths.includes(fetch.path)) perPath.set(fetch.path, (perPath.get(fetch.path) ?? 0) + 1);
      expect(Object.fromEntries(perPath)).toEqual(Object.fromEntries(paths.map((candidate) => [candidate, 1])));
      expect(fetchedBy('instance-cron', paths).size).toBeGreaterThanOrEqual(2);
      expect(fetchedBy('instance-worker', paths).size).toBeGreaterThanOrEqual(2);

      for (const instance of [web, worker]) instance.child.kill('SIGTERM');
      expect(await web.exited).toBe(0);
      expect(await worker.exited).toBe(0);
      expect(errorLines(web.output() + worker.output())).toEqual([]);
    },
  );
});
