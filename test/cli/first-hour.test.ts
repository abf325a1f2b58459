// Issue 17, the operator's first hour, through the real binary (dist/cli.js): account recovery
// (users list / reset-key, /api/v1/me), configuration mistakes that exit 2 naming the variable,
// warnings for misspelt names, PORT=0, the start-up banner on a terminal, and the cron line run
// with `env -i` as docs/operations.md shows it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ARGS, ROOT, runCli, waitFor } from '../helpers/cli.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const CLI = join(ROOT, CLI_ARGS[0]!);

describe('feedproxy CLI: the first hour', () => {
  let upstream: Upstream;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    const feed = readFileSync(new URL('../fixtures/feeds/podcast.rss', import.meta.url));
    upstream = await startUpstream({
      '/podcast': (_request, response) => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(feed),
    });
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-first-hour-'));
    env = {
      FEEDPROXY_STORE: `sqlite://${join(dir, 'feedproxy.sqlite')}`,
      FEEDPROXY_CONFIG: '',
      FEEDPROXY_ALLOW_PRIVATE: upstream.hostPort,
      LOG_LEVEL: 'warn',
    };
  });
  afterAll(async () => upstream?.close());

  it('exits 2 with one line naming the variable and what it accepts', { timeout: 120_000 }, async () => {
    const cases: Array<[Record<string, string>, string[], RegExp]> = [
      [{ LOG_LEVEL: 'verbose' }, ['users', 'list'], /LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent/],
      [{ FEEDPROXY_ROLE: 'workr' }, ['users', 'list'], /FEEDPROXY_ROLE: must be one of all, web, worker/],
      [{ FEEDPROXY_ALLOW_PRIVATE: '127.0.0.1' }, ['users', 'list'], /FEEDPROXY_ALLOW_PRIVATE: accepts a comma list of host:port/],
      [{ FEEDPROXY_TRUST_PROXY: 'yes' }, ['users', 'list'], /FEEDPROXY_TRUST_PROXY: accepts true, false, or a comma list/],
      [{ HOST: 'localhst.invalid', PORT: '0' }, ['serve'], /HOST: cannot listen on "localhst.invalid"/],
    ];
    for (const [bad, args, expected] of cases) {
      const run = await runCli(args, { ...env, ...bad });
      expect(run.code, JSON.stringify(bad)).toBe(2);
      const lines = run.stderr.trim().split('\n');
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(expected);
      expect(lines[0]).not.toMatch(/\^|\\d|constant/); // no regular expression, no "equal to constant"
    }
  });

  it('warns about a misspelt FEEDPROXY_* variable or YAML key, naming the nearest known one', { timeout: 60_000 }, async () => {
    const yaml = join(dir, 'misspelt.yaml');
    writeFileSync(yaml, 'refresh:\n  tickSecond: 5\n');
    const run = await runCli(['users', 'list'], { ...env, FEEDPROXY_ALLOW_PRIVAT: '127.0.0.1:1', FEEDPROXY_CONFIG: yaml });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('unknown variable FEEDPROXY_ALLOW_PRIVAT is ignored; did you mean FEEDPROXY_ALLOW_PRIVATE?');
    expect(run.stderr).toContain(`unknown key refresh.tickSecond in ${yaml} is ignored; did you mean refresh.tickSeconds?`);
  });

  it('exits 2 on a usage error (refresh --al), not 1 like an upstream failure', { timeout: 60_000 }, async () => {
    const run = await runCli(['refresh', '--al'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--al/);
    expect((await runCli(['users', 'frobnicate'], env)).code).toBe(2);
  });

  it(
    'lists users, resets a key (the old one stops working), and /api/v1/me says who a key is; PORT=0 links name the real port',
    { timeout: 60_000 },
    async () => {
      const created = await runCli(['users', 'create', 'grace'], env);
      expect(created.code).toBe(0);
      const id = /user id: (\S+)/.exec(created.stdout)![1]!;
      const oldKey = /API key.*: (fp_\S+)/.exec(created.stdout)![1]!;

      const server = spawn(process.execPath, [CLI, 'serve'], { cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'info', PORT: '0' } });
      try {
        const publicUrl = await readyUrl(server);
        expect(publicUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(publicUrl).not.toMatch(/:0$/);
        const me = await fetch(`${publicUrl}/api/v1/me`, { headers: { authorization: `Bearer ${oldKey}` } });
        expect(me.status).toBe(200);
        expect(await me.json()).toEqual({ id, name: 'grace' });
        const source = await fetch(`${publicUrl}/api/v1/sources`, {
          method: 'POST',
          headers: { authorization: `Bearer ${oldKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ url: upstream.url('/podcast') }),
        });
        expect(source.status).toBe(201);

        const list = await runCli(['users', 'list'], env);
        expect(list.code).toBe(0);
        const row = list.stdout.split('\n').find((line) => line.startsWith(id))!;
        expect(row.split(/\s+/)).toEqual([id, 'grace', expect.stringMatching(/^\d{4}-\d\d-\d\dT/), '1', '0']);
        expect(list.stdout).toMatch(/^ID\s+NAME\s+CREATED\s+SOURCES\s+FEEDS/);

        const reset = await runCli(['users', 'reset-key', 'grace'], env);
        expect(reset.code).toBe(0);
        const newKey = /API key.*: (fp_\S+)/.exec(reset.stdout)![1]!;
        expect(newKey).not.toBe(oldKey);
        expect((await fetch(`${publicUrl}/api/v1/me`, { headers: { authorization: `Bearer ${oldKey}` } })).status).toBe(401);
        expect((await fetch(`${publicUrl}/api/v1/me`, { headers: { authorization: `Bearer ${newKey}` } })).status).toBe(200);
        const byId = await runCli(['users', 'reset-key', id], env);
        expect(byId.code).toBe(0);
        expect((await fetch(`${publicUrl}/api/v1/me`, { headers: { authorization: `Bearer ${newKey}` } })).status).toBe(401);
        const nobody = await runCli(['users', 'reset-key', 'nobody-by-that-name'], env);
        expect(nobody.code).toBe(2);
        expect(nobody.stderr).toMatch(/users list/);
      } finally {
        server.kill('SIGTERM');
        await new Promise((resolve) => server.once('exit', resolve));
      }
    },
  );

  it('prints a banner on a terminal: URL, dashboard, store, and the new secret.key to back up', { timeout: 60_000 }, async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'feedproxy-banner-'));
    // script(1) gives the process a pseudo-terminal, as a person's shell would.
    const command = `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} serve`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: ROOT,
      env: { ...process.env, ...env, FEEDPROXY_STORE: `sqlite://${join(fresh, 'data', 'feedproxy.sqlite')}`, PORT: '0' },
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    try {
      await waitFor(() => output.includes('Back it up'), 'the banner', 30_000, 50);
      expect(output).toMatch(/URL: +http:\/\/127\.0\.0\.1:[1-9]\d*/);
      expect(output).toMatch(/Dashboard: +http:\/\/127\.0\.0\.1:\d+\/dashboard/);
      expect(output).toContain(`Store:      sqlite ${join(fresh, 'data', 'feedproxy.sqlite')}`);
      expect(output).toContain(`Created ${join(fresh, 'data', 'secret.key')}`);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });

  it(
    'runs the cron line of docs/operations.md under `env -i`: the config file carries what the job needs, and refresh says what it used',
    { timeout: 60_000 },
    async () => {
      const site = mkdtempSync(join(tmpdir(), 'feedproxy-cron-'));
      mkdirSync(join(site, 'config'));
      writeFileSync(
        join(site, 'config', 'feedproxy.yaml'),
        `store: sqlite://data/feedproxy.sqlite\nallowPrivate:\n  - ${upstream.hostPort}\nlogLevel: warn\n`,
      );
      const inSite = (args: string[]) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [CLI, ...args], { cwd: site, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (chunk) => (stdout += chunk));
          child.stderr.on('data', (chunk) => (stderr += chunk));
          child.on('close', (code) => resolve({ code, stdout, stderr }));
        });
      const user = await inSite(['users', 'create', 'cron']);
      const userId = /user id: (\S+)/.exec(user.stdout)![1]!;
      const opml = join(site, 'subs.opml');
      writeFileSync(opml, `<opml version="2.0"><body><outline text="Pod" xmlUrl="${upstream.url('/podcast')}"/></body></opml>`);
      expect((await inSite(['opml', 'import', opml, '--user', userId])).code).toBe(0);

      // The crontab line of docs/operations.md, with cron's empty environment.
      const nodeDir = dirname(process.execPath);
      const cron = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn('env', [
          '-i',
          `PATH=${nodeDir}:/usr/bin:/bin`,
          'sh',
          '-c',
          `cd ${JSON.stringify(site)} && node ${JSON.stringify(CLI)} refresh --all`,
        ]);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      expect(cron.code, cron.stdout + cron.stderr).toBe(0);
      expect(cron.stdout).toMatch(/^refreshed \d+, unchanged \d+, failed 0 in/m);
      expect(cron.stdout).toContain(
        `configuration: config file config/feedproxy.yaml + environment; store sqlite data/feedproxy.sqlite; allow-private ${upstream.hostPort}`,
      );
    },
  );
});

/** The publicUrl of the process's "feedproxy ready" JSON line. */
async function readyUrl(child: ChildProcess): Promise<string> {
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  await waitFor(() => output.includes('feedproxy ready'), 'feedproxy ready', 30_000, 50);
  const line = output.split('\n').find((text) => text.includes('feedproxy ready'))!;
  return (JSON.parse(line) as { publicUrl: string }).publicUrl;
}

describe('the demo upstream', () => {
  it('started twice says the port is in use instead of a raw unhandled error event', { timeout: 60_000 }, async () => {
    const busy = await startUpstream({});
    try {
      const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(ROOT, 'examples', 'demo-upstream.mjs')], {
          env: { ...process.env, PORT: String(busy.port) },
        });
        let stderr = '';
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(run.code).toBe(1);
      expect(run.stderr.trim()).toBe(
        `demo-upstream: port ${busy.port} is already in use (is the demo already running?); PORT=… picks another`,
      );
    } finally {
      await busy.close();
    }
  });
});
