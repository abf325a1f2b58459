// `feedproxy keys rotate`: every sealed secret re-sealed under a new key; the old key no longer
// opens the store, the new one does, and FEEDPROXY_PREVIOUS_SECRET_KEY bridges a rolling change.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { buildTestApp, startTestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';
import { serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';

const TOKEN = 'rotate-me-token-5d2c9a7e';

describe('feedproxy keys rotate', () => {
  let upstream: Upstream;
  beforeAll(async () => {
    upstream = await startUpstream({ '/feed': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
  });
  afterAll(async () => upstream?.close());

  it('re-seals every secret with a new embedded key and keeps the service working', { timeout: 60_000 }, async (context) => {
    // The apps below come and go on one data directory, as restarts do; it goes when the test ends.
    const dir = mkdtempSync(join(tmpdir(), 'feedproxy-rotate-'));
    context.onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const first = await buildTestApp(context, { dir, allowPrivate: [upstream.hostPort] });
    const key = await first.createUserKey();
    const created = await first.api(key, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: upstream.url(`/feed?feed_token=${TOKEN}`) },
    });
    expect(created.statusCode).toBe(201);
    const sourceId = created.json().id as string;
    await first.close();
    const oldKey = readFileSync(join(dir, 'secret.key'), 'utf8').trim();

    const env = { FEEDPROXY_STORE: `sqlite://${join(dir, 'feedproxy.sqlite')}`, FEEDPROXY_CONFIG: '', LOG_LEVEL: 'warn' };
    const run = await runCli(['keys', 'rotate'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/re-sealed 1 sources, 0 connections and 0 WebSub subscriptions/);
    const newKey = readFileSync(join(dir, 'secret.key'), 'utf8').trim();
    expect(newKey).not.toBe(oldKey);
    expect(readFileSync(join(dir, 'secret.key.old'), 'utf8').trim()).toBe(oldKey);
    expect(existsSync(join(dir, 'secret.key.new'))).toBe(false);

    // The new key opens the sealed URL: a refresh reaches the upstream with the token.
    const after = await buildTestApp(context, { dir, allowPrivate: [upstream.hostPort] });
    const before = upstream.requests.length;
    const refreshed = await after.api(key, { method: 'POST', url: `/api/v1/sources/${sourceId}/refresh` });
    expect(refreshed.json().status).toBe('ok');
    expect(upstream.requests.slice(before).map((request) => request.url)).toEqual([`/feed?feed_token=${TOKEN}`]);
    await after.close();

    // The old key alone is refused at start; with the new key, the old one may still be named as previous.
    await expect(startTestApp({ dir, env: { FEEDPROXY_SECRET_KEY: oldKey } })).rejects.toBeInstanceOf(ConfigError);
    const bridged = await buildTestApp(context, { dir, env: { FEEDPROXY_SECRET_KEY: newKey, FEEDPROXY_PREVIOUS_SECRET_KEY: oldKey } });
    // The store file as the rotation left it: it is there, it holds the source (positive control: a
    // value stored in clear is found), and the token is not in it in clear, under either key.
    const stored = await bridged.readStore();
    await bridged.close();
    expect(existsSync(join(dir, 'feedproxy.sqlite'))).toBe(true);
    expect(stored.length).toBeGreaterThan(4096);
    expect(stored.includes(Buffer.from(sourceId)), 'the source record is in the store file').toBe(true);
    expect(stored.includes(Buffer.from(upstream.hostPort)), 'the source host is in the store file').toBe(true);
    expect(stored.includes(Buffer.from(TOKEN)), 'the token is in the store file in clear').toBe(false);
  });

  it('needs --new-key-file when the key comes from the environment', async () => {
    const run = await runCli(['keys', 'rotate'], {
      FEEDPROXY_STORE: 'sqlite:///tmp/never-opened/feedproxy.sqlite',
      FEEDPROXY_SECRET_KEY: 'ab'.repeat(32),
      FEEDPROXY_CONFIG: '',
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--new-key-file/);
  });
});
