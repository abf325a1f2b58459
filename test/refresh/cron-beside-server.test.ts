// `feedproxy refresh` from cron while `feedproxy serve` runs its own scheduler on the same SQLite
// store: real processes, a real store, the real clock. Claims on the due index divide the due
// sources between the processes; leases and the due check under the lease keep every source to
// one fetch per interval, however the processes interleave.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { serveBody, startUpstream, type Upstream } from '../helpers/upstream.js';
import { CLI_ARGS, ROOT, errorLines, freePort, runCli, waitFor } from '../helpers/cli.js';

const MINUTE = 60_000;
const SOURCES_PER_HOST = 12;
const SOURCES = 2 * SOURCES_PER_HOST;
const CRON_RUNS = 3;
const FEED =
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Cron beside server</title><link>http://example.test/</link>' +
  '<item><guid>a</guid><title>A</title><pubDate>Mon, 02 Mar 2026 07:00:00 GMT</pubDate></item></channel></rss>';

describe('feedproxy refresh beside feedproxy serve', () => {
  let upstreams: Upstream[] = [];
  let dir: string;
  /** prep: answer (creation); hold: record and hold every answer; open: record and answer. */
  let phase: 'prep' | 'hold' | 'open' = 'prep';
  const held: Array<{ path: string; release: () => void }> = [];
  /** Requests per path once the race starts. */
  const raced = new Map<string, number>();

  beforeAll(async () => {
    const serve = serveBody(FEED, { contentType: 'application/rss+xml' });
    const handler = (request: IncomingMessage, response: ServerResponse) => {
      if (phase === 'prep') return serve(request, response);
      const path = `${request.headers.host}${request.url}`;
      raced.set(path, (raced.get(path) ?? 0) + 1);
      if (phase === 'open') return serve(request, response);
      held.push({ path, release: () => serve(request, response) });
    };
    upstreams = await Promise.all([startUpstream(handler), startUpstream(handler)]);
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-cron-'));
  });
  afterAll(async () => {
    await Promise.all(upstreams.map((upstream) => upstream.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('fetches each due source once between the server scheduler and concurrent cron runs', { timeout: 60_000 }, async (context) => {
    const allowPrivate = upstreams.map((upstream) => upstream.hostPort);
    // Sources created ten minutes ago with a 1-minute interval: all due before any process starts.
    const prep = await buildTestApp(context, { dir, allowPrivate, overrides: { now: () => new Date(Date.now() - 10 * MINUTE) } });
    const key = await prep.createUserKey();
    const paths: string[] = [];
    for (const upstream of upstreams) {
      for (let index = 0; index < SOURCES_PER_HOST; index += 1) {
        const created = await prep.api(key, {
          method: 'POST',
          url: '/api/v1/sources',
          payload: { url: upstream.url(`/cron-${index}`), refreshMinutes: 1 },
        });
        expect(created.statusCode, created.body).toBe(201);
        paths.push(`${upstream.hostPort}/cron-${index}`);
      }
    }
    await prep.close();

    const configFile = join(dir, 'feedproxy.yaml');
    writeFileSync(configFile, 'refresh:\n  tickSeconds: 1\n');
    const port = await freePort();
    const env = {
      FEEDPROXY_STORE: `sqlite://${join(dir, 'feedproxy.sqlite')}`,
      FEEDPROXY_CONFIG: configFile,
      FEEDPROXY_ALLOW_PRIVATE: allowPrivate.join(','),
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };

    // Every upstream answer is held until every source has been asked for: the processes claimed
    // disjoint shares of the 24 due sources, and none fetched one twice meanwhile.
    phase = 'hold';
    const raceStart = Date.now();
    const server: ChildProcess = spawn(process.execPath, [...CLI_ARGS, 'serve'], { cwd: ROOT, env: { ...process.env, ...env } });
    let serverOutput = '';
    server.stdout!.on('data', (chunk) => (serverOutput += chunk));
    server.stderr!.on('data', (chunk) => (serverOutput += chunk));
    const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
    try {
      const cronRuns = Array.from({ length: CRON_RUNS }, () => runCli(['refresh'], env));
      // Answers are held a moment and released in waves, so the processes' passes overlap.
      const release = setInterval(() => {
        for (const request of held.splice(0)) request.release();
      }, 20);
      await waitFor(() => paths.every((path) => raced.has(path)), 'every source fetched');
      clearInterval(release);
      phase = 'open';
      for (const request of held.splice(0)) request.release();
      const runs = await Promise.all(cronRuns);
      let fetchedByCron = 0;
      for (const run of runs) {
        expect(run.code, run.stderr).toBe(0);
        const summary = /^refreshed (\d+), unchanged (\d+), failed 0(?:, skipped (\d+))? in \d+\.\ds$/m.exec(run.stdout);
        expect(summary, run.stdout).not.toBeNull();
        fetchedByCron += Number(summary![1]) + Number(summary![2]);
        expect(errorLines(run.stdout)).toEqual([]);
      }
      // The cron runs fetched a share, never more than there was; the server took the rest.
      expect(fetchedByCron).toBeLessThanOrEqual(SOURCES);

      // Cron again: nothing is due any more, and nothing is fetched.
      const requestsBefore = [...raced.values()].reduce((sum, count) => sum + count, 0);
      for (const run of await Promise.all([runCli(['refresh'], env), runCli(['refresh'], env)])) {
        expect(run.code, run.stderr).toBe(0);
        expect(run.stdout).toMatch(/^refreshed 0, unchanged 0, failed 0 in \d+\.\ds$/m);
      }
      expect([...raced.values()].reduce((sum, count) => sum + count, 0)).toBe(requestsBefore);

      // One fetch per source in all, well within its 1-minute interval of the first.
      expect(Date.now() - raceStart).toBeLessThan(MINUTE);
      expect(Object.fromEntries(raced)).toEqual(Object.fromEntries(paths.map((path) => [path, 1])));

      // The store is whole: the running server lists every source, each refreshed and ok.
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok === true, 'the server to be ready');
      const listed = await fetch(`${base}/api/v1/sources`, { headers: { authorization: `Bearer ${key}` } });
      expect(listed.status).toBe(200);
      const sources = ((await listed.json()) as { sources: Array<{ status: string; lastFetchedAt: string; nextFetchAt: string }> }).sources;
      expect(sources).toHaveLength(SOURCES);
      for (const source of sources) {
        expect(source.status).toBe('ok');
        expect(Date.parse(source.lastFetchedAt)).toBeGreaterThanOrEqual(raceStart - 1000);
        expect(Date.parse(source.nextFetchAt) - Date.parse(source.lastFetchedAt)).toBeGreaterThanOrEqual(MINUTE);
      }
    } finally {
      phase = 'open';
      for (const request of held.splice(0)) request.release();
      server.kill('SIGTERM');
      await exited;
    }
    expect(errorLines(serverOutput)).toEqual([]);
  });
});
