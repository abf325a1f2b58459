// `feedproxy opml import|export` as users run them: the built CLI on a real store, no Fastify.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import type { Upstream } from '../helpers/upstream.js';
import { TOKENS, opmlFixture, startFeedUpstream } from './harness.js';

const PUBLIC_URL = 'http://feeds.test';

describe('feedproxy opml', () => {
  let upstream: Upstream;
  let dir: string;
  let env: Record<string, string>;
  let userId: string;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    upstream = await startFeedUpstream();
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-opml-cli-'));
    env = {
      FEEDPROXY_STORE: `sqlite://${join(dir, 'feedproxy.sqlite')}`,
      FEEDPROXY_CONFIG: '',
      FEEDPROXY_PUBLIC_URL: PUBLIC_URL,
      FEEDPROXY_ALLOW_PRIVATE: upstream.hostPort,
      LOG_LEVEL: 'warn',
    };
    const created = await runCli(['users', 'create', 'alice'], env);
    expect(created.code, created.stderr).toBe(0);
    userId = /\(id ([^)]+)\)/.exec(created.stdout)![1]!;
  });
  afterAll(async () => {
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('imports a file with a line per outline and a summary, then exports the public feeds', { timeout: 60_000 }, async () => {
    const host = upstream.url('').replace(/\/$/, '');
    const imported = await runCli(
      ['opml', 'import', file('feeds.opml', opmlFixture('feedly-export.opml', upstream)), '--user', userId],
      env,
    );
    expect(imported.code, imported.stderr).toBe(0);
    const lines = imported.stdout.trim().split('\n');
    expect(lines.map((line) => line.split(/\s+/)[0])).toEqual([
      ...['added', 'added', 'duplicate', 'added', 'failed', 'added', 'failed', 'duplicate', 'added'],
      ...['feed', 'feed', 'feed'],
      'added',
    ]);
    expect(lines[0]).toMatch(
      new RegExp(`^added +\\S+  GitLab – projects  ${host}/dashboard/projects\\.atom\\?feed_token=\\*\\*\\*  \\[Work / Dev\\]$`),
    );
    expect(lines[4]).toBe(
      'failed    -  Build artefacts  ftp://files.example.com/builds.rss  [Work / Ops]: Invalid URL: unsupported scheme ftp:',
    );
    expect(lines.slice(9, 12).map((line) => line.replace(/^feed +\S+ +/, ''))).toEqual(['Work / Dev', 'Work / Ops', 'News & Podcasts']);
    expect(lines.at(-1)).toBe('added 5, duplicate 2, failed 2; 3 category feeds');
    for (const token of Object.values(TOKENS)) expect(imported.stdout + imported.stderr).not.toContain(token);

    const exported = await runCli(['opml', 'export', '--user', userId], env);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<opml version="2.0">/);
    const xmlUrls = [...exported.stdout.matchAll(/xmlUrl="([^"]+)"/g)].map((match) => match[1]);
    expect(xmlUrls).toHaveLength(3);
    for (const url of xmlUrls) expect(url).toMatch(new RegExp(`^${PUBLIC_URL}/[A-Za-z0-9_-]{22,}\\.atom$`));
    for (const secret of [...Object.values(TOKENS), host]) expect(exported.stdout).not.toContain(secret);
  });

  it('exits 1 when every outline failed', { timeout: 30_000 }, async () => {
    const run = await runCli(['opml', 'import', file('dead.opml', opmlFixture('inoreader-flat.opml', upstream)), '--user', userId], env);
    expect(run.code).toBe(1);
    expect(run.stdout.trim().split('\n').at(-1)).toBe('added 0, duplicate 0, failed 2; 0 category feeds');
  });

  it('exits 2 with one clear line on usage errors, unknown users and unusable files', { timeout: 60_000 }, async () => {
    const cases: Array<[string[], RegExp]> = [
      [['opml', 'export', '--user', 'nobody'], /^feedproxy: no user with id nobody$/],
      [['opml', 'import', file('ok.opml', opmlFixture('inoreader-flat.opml', upstream))], /^usage: feedproxy opml import FILE --user ID/],
      [['opml', 'import', join(dir, 'missing.opml'), '--user', userId], /^feedproxy: cannot read .*missing\.opml: ENOENT$/],
      [
        ['opml', 'import', file('bomb.opml', opmlFixture('billion-laughs.opml', upstream)), '--user', userId],
        /bomb\.opml: OPML must not contain a DTD/,
      ],
      [['opml', 'sync', '--user', userId], /^usage: feedproxy opml/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args, env);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr.trim(), args.join(' ')).toMatch(message);
    }
  });
});
