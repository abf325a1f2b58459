// `feedproxy keys rotate`: every sealed secret re-sealed under a new key; the old key no longer
// opens the store, the new one does, and FEEDPROXY_PREVIOUS_SECRET_KEY bridges a rolling change.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { startTestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';
import { serveFixture, startUpstream, type Upstream } from '../helpers/upstream.js';

const TOKEN = 'rotate-me-token-5d2c9a7e';

describe('feedproxy keys rotate', () => {
  let upstream: Upstream;
  beforeAll(async () => {
    upstream = await startUpstream({ '/feed': serveFixture('feeds/podcast.rss', { contentType: 'application/rss+xml' }) });
  });
  afterAll(async () => upstream?.close());

  it('re-seals every secret with a new embedded key and keeps the service working', { timeout: 60_000 }, async () => {
    const first = await startTestApp({ allowPrivate: [upstream.hostPort] });
    const { dir } = first;
    const key = await first.createUserKey();
    const created = await first.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`/feed?feed_token=${TOKEN}`) } });
    expect(created.statusCode).toBe(201);
    const sourceId = created.json().id as string;
    await first.app.close();
    await first.deps.close();
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
    const after = await startTestApp({ dir, allowPrivate: [upstream.hostPort] });
    try {
      const before = upstream.requests.length;
      const refreshed = await after.api(key, { method: 'POST', url: `/api/v1/sources/${sourceId}/refresh` });
      expect(refreshed.json().status).toBe('ok');
      expect(upstream.requests.slice(before).map((request) => request.url)).toEqual([`/feed?feed_token=${TOKEN}`]);
    } finally {
      await after.app.close();
      await after.deps.close();
    }

    // The old key alone is refused at start; with the new key, the old one may still be named as previous.
    await expect(startTestApp({ dir, env: { FEEDPROXY_SECRET_KEY: oldKey } })).rejects.toBeInstanceOf(ConfigError);
    const bridged = await startTestApp({ dir, env: { FEEDPROXY_SECRET_KEY: newKey, FEEDPROXY_PREVIOUS_SECRET_KEY: oldKey } });
    await bridged.app.close();
    await bridged.deps.close();
    for (const file of ['feedproxy.sqlite', 'feedproxy.sqlite-wal']) {
      if (existsSync(join(dir, file))) expect(readFileSync(join(dir, file)).includes(Buffer.from(TOKEN))).toBe(false);
    }
  });

  it('needs --new-key-file when the key comes from the environment', async () => {
    const run = await runCli(['keys', 'rotate'], { FEEDPROXY_STORE: 'sqlite:///tmp/never-opened/feedproxy.sqlite', FEEDPROXY_SECRET_KEY: 'ab'.repeat(32), FEEDPROXY_CONFIG: '' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--new-key-file/);
  });
});
