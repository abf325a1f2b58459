// The CLI as users run it: a real process on a real store. Includes the kill -9 durability check.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CLI_ARGS, ROOT, freePort, runCli, runCliOnTerminal, waitReady } from '../helpers/cli.js';

const ADMIN = 'cli-admin-token-0123456789';
const TOKEN = 'T1SECRETu5cVd3sK9wPz7Qn2LmJfXy0Ha8Rb--';

function startServe(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [...CLI_ARGS, 'serve'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
}

describe('feedproxy CLI', () => {
  let upstream: Upstream;
  let healthy = true;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    const feed = readFileSync(new URL('../fixtures/feeds/netflix-queue.atom', import.meta.url));
    upstream = await startUpstream({
      '/queue': (_request, response) => {
        if (!healthy) return void response.writeHead(500).end();
        response.writeHead(200, { 'content-type': 'application/atom+xml' }).end(feed);
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-cli-'));
    env = {
      FEEDPROXY_STORE: `sqlite://${join(dir, 'feedproxy.sqlite')}`,
      FEEDPROXY_CONFIG: '',
      FEEDPROXY_ADMIN_TOKEN: ADMIN,
      FEEDPROXY_ALLOW_PRIVATE: upstream.hostPort,
      LOG_LEVEL: 'warn',
      // The kill -9 test fires 30 creates at once: more than the per-user heavy-request limit.
      FEEDPROXY_HEAVY_REQUESTS_PER_USER: '1000',
    };
  });
  afterAll(async () => upstream?.close());

  it('exits 2 with one line naming a bad variable', async () => {
    const run = await runCli(['serve'], { ...env, PORT: 'eighty' });
    expect(run.code).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/PORT/);
  });

  it('users create prints the API key once', async () => {
    const run = await runCli(['users', 'create', 'erin'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/fp_[A-Za-z0-9_-]{43}/);
  });

  // Five process starts: generous, since a loaded 2-core machine starts Node slowly.
  it('keeps an acknowledged write across kill -9, and refresh reports per source', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const serveEnv = { ...env, PORT: String(port) };
    let server = startServe(serveEnv);
    let key: string;
    let sourceId: string;
    let feedUrl: string;
    let burst: string[];
    try {
      await waitReady(base);
      const json = { 'content-type': 'application/json' };
      const user = await fetch(`${base}/api/v1/users`, {
        method: 'POST',
        headers: { ...json, authorization: `Bearer ${ADMIN}` },
        body: JSON.stringify({ name: 'frank' }),
      });
      expect(user.status).toBe(201);
      key = ((await user.json()) as { apiKey: string }).apiKey;
      const auth = { ...json, authorization: `Bearer ${key}` };
      const source = await fetch(`${base}/api/v1/sources`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ url: upstream.url(`/queue?feed_token=${TOKEN}`) }),
      });
      expect(source.status).toBe(201);
      sourceId = ((await source.json()) as { id: string }).id;
      const feed = await fetch(`${base}/api/v1/feeds`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ title: 'Durable', sources: [sourceId] }),
      });
      expect(feed.status).toBe(201);
      feedUrl = ((await feed.json()) as { urls: { atom: string } }).urls.atom;
      // A burst of concurrent writes, every one acknowledged before the kill.
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, index) =>
          fetch(`${base}/api/v1/feeds`, {
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ title: `Burst ${index}`, sources: [sourceId] }),
          }),
        ),
      );
      expect(answers.map((answer) => answer.status)).toEqual(Array(30).fill(201));
      burst = await Promise.all(answers.map(async (answer) => ((await answer.json()) as { id: string }).id));
    } finally {
      // No graceful shutdown: the process dies the moment the last write was acknowledged.
      server.kill('SIGKILL');
      await new Promise((resolve) => server.once('exit', resolve));
    }

    server = startServe(serveEnv);
    try {
      await waitReady(base);
      const source = await fetch(`${base}/api/v1/sources/${sourceId}`, { headers: { authorization: `Bearer ${key}` } });
      expect(source.status).toBe(200);
      expect(((await source.json()) as { status: string }).status).toBe('ok');
      const published = await fetch(feedUrl);
      expect(published.status).toBe(200);
      expect(await published.text()).toContain('Pride &amp; Prejudice');
      const feeds = (await (await fetch(`${base}/api/v1/feeds`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
        feeds: Array<{ id: string }>;
      };
      expect(feeds.feeds.map((feed) => feed.id)).toEqual(expect.arrayContaining(burst));
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }

    const ok = await runCli(['refresh', '--all'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^refreshed 0, unchanged 1, failed 0 in \d+\.\ds$/m);
    // Only on a terminal: a progress line per source, out of the sources `--all` listed.
    expect(ok.stdout).not.toMatch(/^\[1\/1\]/m);
    const onTerminal = await runCliOnTerminal(['refresh', '--all'], env);
    expect(onTerminal.code, onTerminal.stdout).toBe(0);
    expect(onTerminal.stdout).toMatch(new RegExp(`^\\[1/1\\] unchanged +${sourceId} `, 'm'));

    healthy = false;
    const failed = await runCli(['refresh', '--all'], env);
    expect(failed.code, failed.stderr).toBe(1);
    // A crash also exits 1: the summary says the run itself went through (stderr shows why if not).
    expect(failed.stdout, failed.stderr).toMatch(/^refreshed 0, unchanged 0, failed 1 in \d+\.\ds$/m);

    const one = await runCli(['refresh', '--source', sourceId!], env);
    expect(one.code).toBe(1);
    expect(one.stdout).toMatch(/^refreshed 0, unchanged 0, failed 1 in/m);
    const unknown = await runCli(['refresh', '--source', 'no-such-source'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no source with id no-such-source/);

    const due = await runCli(['refresh'], env);
    expect(due.code).toBe(0);
    expect(due.stdout).toMatch(/^refreshed 0, unchanged 0, failed 0 in/m);
  });
});
