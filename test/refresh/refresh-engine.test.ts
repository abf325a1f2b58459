// The refresh engine against upstreams that misbehave on command, with an injected clock:
// conditional GET, Retry-After, backoff and recovery, redirects, 410/401, stale content, limits.
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SourceRecord } from '../../src/model.js';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { urlMaskedForOf } from '../../src/refresh/source-request.js';
import { startScheduler } from '../../src/refresh/scheduler.js';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { hang, readFixture, redirect, serveBody, startUpstream, status, type Upstream, type UpstreamHandler } from '../helpers/upstream.js';

const MINUTE = 60_000;
const START = Date.parse('2026-03-02T08:00:00Z');
const PODCAST = readFixture('feeds/podcast.rss');
const RSS = { contentType: 'application/rss+xml' };

describe('refresh engine', () => {
  let upstream: Upstream;
  let t: TestApp;
  let key: string;
  let nowMs = START;
  const advance = (ms: number) => (nowMs += ms);

  beforeAll(async () => {
    upstream = await startUpstream();
    t = await startTestApp({ allowPrivate: [upstream.hostPort], overrides: { now: () => new Date(nowMs), fetcher: { timeoutMs: 1000 } } });
    key = await t.createUserKey();
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });
  afterEach(() => {
    nowMs = START;
  });

  let pathCounter = 0;
  /** A source on a fresh path whose handler the test can swap; created with a healthy first answer. */
  async function sourceWith(first: UpstreamHandler, extra: Record<string, unknown> = {}) {
    const path = `/feed-${++pathCounter}`;
    let handler = first;
    upstream.route(path, (request, response) => handler(request, response));
    const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(path), ...extra } });
    expect(created.statusCode, created.body).toBe(201);
    return {
      id: created.json().id as string,
      path,
      set(next: UpstreamHandler) {
        handler = next;
      },
      hits: () => upstream.requests.filter((request) => request.url.split('?')[0] === path),
    };
  }
  const refresh = (id: string) => refreshSource(t.deps, id, { force: true, wait: true });

  it('writes the entries a changed document changed, and leaves the entries kept as they were untouched in the store', async () => {
    const rss = (guids: string[]) =>
      `<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://example.test/</link><description>d</description>${guids
        .map(
          (guid, day) =>
            `<item><guid>${guid}</guid><title>${guid}</title><pubDate>${new Date(START - (10 - day) * 86_400_000).toUTCString()}</pubDate></item>`,
        )
        .join('')}</channel></rss>`;
    const source = await sourceWith(serveBody(rss(['kept-a', 'kept-b']), RSS));
    const texts = async () => new Map((await t.kv.readEntries([source.id]))[0]!.texts.map((text) => [JSON.parse(text).id as string, text]));
    // Entry kept-b as another writer would have stored it: the same entry in other JSON text (spaced).
    const spaced = JSON.stringify(JSON.parse((await texts()).get('kept-b')!), null, 1);
    await t.kv.writeEntries(source.id, {
      ids: ['kept-a', 'kept-b'],
      put: [['kept-b', spaced]],
      revision: { key: `entries-rev:${source.id}`, value: 'planted' },
    });
    // Every row the refresh writes is noted, by a trigger of the test's own on the store's table.
    expect(t.store).toBe('sqlite');
    const db = new sqlite3.Database(join(t.dir, 'feedproxy.sqlite'));
    const run = (sql: string) =>
      new Promise<unknown[]>((resolve, reject) => db.all(sql, (error, rows) => (error ? reject(error) : resolve(rows))));
    await run('CREATE TABLE test_entry_writes(entry_id TEXT)');
    for (const event of ['INSERT', 'UPDATE'])
      await run(
        `CREATE TRIGGER test_entry_${event} AFTER ${event} ON fp_entries BEGIN INSERT INTO test_entry_writes VALUES (new.entry_id); END`,
      );
    source.set(serveBody(rss(['kept-a', 'kept-b', 'new-c']), RSS));
    expect((await refresh(source.id))?.outcome).toBe('updated');
    const written = await run('SELECT entry_id FROM test_entry_writes');
    for (const event of ['INSERT', 'UPDATE']) await run(`DROP TRIGGER test_entry_${event}`);
    await new Promise((resolve) => db.close(resolve));
    expect(written).toEqual([{ entry_id: 'new-c' }]);
    const after = await texts();
    expect([...after.keys()].sort()).toEqual(['kept-a', 'kept-b', 'new-c']);
    // Neither stringified again (update-cache reuses the stored text) nor written (saveEntries puts what differs).
    expect(after.get('kept-b')).toBe(spaced);
    expect(JSON.parse(after.get('new-c')!).title).toBe('new-c');
  });

  it('sends If-None-Match and takes a 304 without parsing or re-rendering (RFC 9110 §13.1.2, §15.4.5)', async () => {
    const source = await sourceWith(serveBody(PODCAST, { ...RSS, etag: '"v1"', lastModified: 'Mon, 02 Mar 2026 07:00:00 GMT' }));
    await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'x', sources: [source.id] } });
    const renders = (await t.deps.metrics.registry.getSingleMetric('feedproxy_feed_renders_total')!.get()).values[0]!.value;
    const result = await refresh(source.id);
    expect(result?.outcome).toBe('unchanged');
    const last = source.hits().at(-1)!;
    // ETag wins: with both validators the client sends both, and the server decides on If-None-Match.
    expect(last.headers['if-none-match']).toBe('"v1"');
    expect((await t.deps.metrics.registry.getSingleMetric('feedproxy_feed_renders_total')!.get()).values[0]!.value).toBe(renders);
    expect(result?.source).toMatchObject({ status: 'ok', errorCount: 0 });
  });

  it('takes the document it parsed last, byte for byte, as a 304: no entry read, no merge, no re-render', async () => {
    // An upstream that sends no validators: every poll is a 200 with the whole document.
    const source = await sourceWith(serveBody(PODCAST, RSS));
    await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'x', sources: [source.id] } });
    const renders = async () => (await t.deps.metrics.registry.getSingleMetric('feedproxy_feed_renders_total')!.get()).values[0]!.value;
    // The first refresh after the source's creation parses (the record has no digest yet) and records one.
    advance(MINUTE);
    expect((await refresh(source.id))?.outcome).toBe('unchanged');
    const first = (await t.deps.registry.getSource(source.id))!;
    expect(first.documentDigest).toMatch(/^[\w-]{40,}$/);
    const entriesBefore = await t.deps.registry.getEntries(source.id);
    expect(entriesBefore.length).toBeGreaterThan(0);
    const rendersBefore = await renders();
    const hitsBefore = source.hits().length;

    const readEntries = vi.spyOn(t.kv, 'readEntries');
    try {
      advance(MINUTE);
      const again = await refresh(source.id);
      expect(again?.outcome).toBe('unchanged');
      expect(source.hits().length).toBe(hitsBefore + 1);
      expect(readEntries).not.toHaveBeenCalled();
      // Recorded as a good fetch, planned from it, and the entries and feeds as they were.
      expect(again?.source).toMatchObject({
        status: 'ok',
        lastFetchedAt: new Date(nowMs).toISOString(),
        documentDigest: first.documentDigest,
      });
      expect(Date.parse(again!.source.nextFetchAt)).toBeGreaterThan(nowMs);
      expect(await renders()).toBe(rendersBefore);

      // One byte more: parsed, and what it adds is cached.
      source.set(
        serveBody(PODCAST.toString().replace('</channel>', '<item><guid>one-more</guid><title>One more</title></item></channel>'), RSS),
      );
      advance(MINUTE);
      expect((await refresh(source.id))?.outcome).toBe('updated');
      expect(readEntries).toHaveBeenCalled();
      expect((await t.deps.registry.getEntries(source.id)).map((entry) => entry.id)).toContain('one-more');
      expect((await t.deps.registry.getSource(source.id))!.documentDigest).not.toBe(first.documentDigest);
    } finally {
      readEntries.mockRestore();
    }
  });

  it('parses the same document again once an entry it no longer holds is due to leave the cache', async () => {
    const item = (guid: string) => `<item><guid>${guid}</guid><title>${guid}</title></item>`;
    const rss = (guids: string[]) =>
      `<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://example.test/</link><description>d</description>${guids.map(item).join('')}</channel></rss>`;
    const source = await sourceWith(serveBody(rss(['left', 'stays']), RSS));
    source.set(serveBody(rss(['stays']), RSS));
    advance(MINUTE);
    await refresh(source.id);
    const goneAt = nowMs;
    const left = (await t.deps.registry.getEntries(source.id)).find((entry) => entry.id === 'left');
    expect(left?.goneSince).toBe(new Date(goneAt).toISOString());
    const retentionMs = t.deps.config.refresh.retentionDays * 24 * 60 * MINUTE;
    expect((await t.deps.registry.getSource(source.id))!.entriesExpireAt).toBe(new Date(goneAt + retentionMs).toISOString());

    // The same bytes within the retention: the entry stays; just past it: it leaves, bytes unchanged.
    nowMs = goneAt + retentionMs;
    expect((await refresh(source.id))?.outcome).toBe('unchanged');
    expect((await t.deps.registry.getEntries(source.id)).map((entry) => entry.id).sort()).toEqual(['left', 'stays']);
    nowMs = goneAt + retentionMs + 1;
    expect((await refresh(source.id))?.outcome).toBe('updated');
    expect((await t.deps.registry.getEntries(source.id)).map((entry) => entry.id)).toEqual(['stays']);
    const after = (await t.deps.registry.getSource(source.id))!;
    expect(after.entriesExpireAt).toBeUndefined();
    expect(after.entryCount).toBe(1);
  });

  it('keeps the document’s own <ttl> through a 304 and through the same bytes again from a backend with another ETag', async () => {
    const body = `<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://example.test/</link><description>d</description><ttl>120</ttl><item><guid>a</guid><title>a</title></item></channel></rss>`;
    const source = await sourceWith(serveBody(body.replace('<ttl>120</ttl>', ''), RSS));
    source.set(serveBody(body, { ...RSS, etag: '"e1"', cacheControl: 'max-age=300' }));
    advance(MINUTE);
    await refresh(source.id);
    expect((await t.deps.registry.getSource(source.id))!).toMatchObject({ upstreamMinMinutes: 120, documentTtlMinutes: 120 });
    // A 304 carrying max-age=300 (5 minutes): the document it stands for still asks for 120.
    advance(MINUTE);
    expect((await refresh(source.id))?.outcome).toBe('unchanged');
    expect(source.hits().at(-1)!.headers['if-none-match']).toBe('"e1"');
    expect((await t.deps.registry.getSource(source.id))!.upstreamMinMinutes).toBe(120);
    // A 304 asking for a day: a day it is.
    source.set(serveBody(body, { ...RSS, etag: '"e1"', cacheControl: 'max-age=86400' }));
    advance(MINUTE);
    expect((await refresh(source.id))?.outcome).toBe('unchanged');
    expect((await t.deps.registry.getSource(source.id))!.upstreamMinMinutes).toBe(1440);
    // The same bytes from a backend with another ETag and 5 minutes' max-age: taken as a 304, with
    // what this answer and the document ask for (120), not what the last 304 left (1440).
    source.set(serveBody(body, { ...RSS, etag: '"e2"', cacheControl: 'max-age=300' }));
    const readEntries = vi.spyOn(t.kv, 'readEntries');
    try {
      advance(MINUTE);
      expect((await refresh(source.id))?.outcome).toBe('unchanged');
      expect(readEntries).not.toHaveBeenCalled();
      expect((await t.deps.registry.getSource(source.id))!.upstreamMinMinutes).toBe(120);
      // Another max-age with the same bytes is another document as far as the digest goes: parsed.
      source.set(serveBody(body, { ...RSS, etag: '"e3"', cacheControl: 'max-age=86400' }));
      advance(MINUTE);
      await refresh(source.id);
      expect(readEntries).toHaveBeenCalledTimes(1);
      expect((await t.deps.registry.getSource(source.id))!.upstreamMinMinutes).toBe(1440);
    } finally {
      readEntries.mockRestore();
    }
  });

  it('parses the same bytes again when the entries are no longer what that parse left', async () => {
    const rss = (guids: string[]) =>
      `<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://example.test/</link><description>d</description>${guids
        .map((guid) => `<item><guid>${guid}</guid><title>${guid}</title></item>`)
        .join('')}</channel></rss>`;
    const source = await sourceWith(serveBody(rss(['a1', 'a2', 'x']), RSS));
    source.set(serveBody(rss(['a1', 'a2']), RSS));
    advance(MINUTE);
    await refresh(source.id);
    const parsedA = (await t.deps.registry.getSource(source.id))!;
    expect(parsedA.documentEntriesRevision).toBeDefined();
    // Document B arrives and its entries are written, but the record is not (the store fails once
    // between the two writes): the record still holds A's digest over B's entries.
    source.set(serveBody(rss(['a1', 'b1']), RSS));
    const refused = vi.spyOn(t.deps.registry, 'saveRefreshedSource').mockRejectedValueOnce(new Error('store hiccup'));
    advance(MINUTE);
    expect((await refresh(source.id))?.outcome).toBe('failed');
    refused.mockRestore();
    expect((await t.deps.registry.getSource(source.id))!.documentDigest).toBe(parsedA.documentDigest);
    expect((await t.deps.registry.getEntries(source.id)).find((entry) => entry.id === 'a2')?.goneSince).toBeDefined();
    // A's bytes again (a lagging backend): merged, so a2 is back in the document and b1 has left it.
    source.set(serveBody(rss(['a1', 'a2']), RSS));
    advance(MINUTE);
    await refresh(source.id);
    const entries = await t.deps.registry.getEntries(source.id);
    expect(entries.find((entry) => entry.id === 'a2')?.goneSince).toBeUndefined();
    expect(entries.find((entry) => entry.id === 'b1')?.goneSince).toBeDefined();
    expect((await t.deps.registry.getSource(source.id))!.entryCount).toBe(entries.length);
  });

  it('masks the stored URL again only when it was masked before urlMaskedFor, under other rules, or for another URL', async () => {
    const source = await sourceWith(serveBody(PODCAST, { ...RSS, etag: '"m1"' }));
    const stored = (await t.deps.registry.getSource(source.id))!;
    const mask = stored.urlMasked;
    expect(stored.urlMaskedFor).toBe(urlMaskedForOf(stored));
    const maskAfterRefreshOf = async (planted: Partial<SourceRecord>) => {
      const current = (await t.deps.registry.getSource(source.id))!;
      await t.deps.registry.saveSource({ ...current, urlMasked: 'planted', ...planted });
      expect((await refresh(source.id))?.outcome).toBe('unchanged');
      const after = (await t.deps.registry.getSource(source.id))!;
      return [after.urlMasked, after.urlMaskedFor === urlMaskedForOf(after)];
    };
    // A record from before the field, or one masked under other rules: masked again, and marked.
    expect(await maskAfterRefreshOf({ urlMaskedFor: undefined })).toEqual([mask, true]);
    expect(await maskAfterRefreshOf({ urlMaskedFor: 'other-rules' })).toEqual([mask, true]);
    // The URL sealed anew (a key rotation, an edit): its digest differs, so it is masked again.
    const current = (await t.deps.registry.getSource(source.id))!;
    const resealed = { urlSealed: t.deps.vault.seal(t.deps.vault.open(current.urlSealed)), urlMaskedFor: current.urlMaskedFor };
    expect(await maskAfterRefreshOf(resealed)).toEqual([mask, true]);
    // Masked for this very URL, secrets and rules: kept as stored, not worked out again.
    const marked = (await t.deps.registry.getSource(source.id))!;
    expect(await maskAfterRefreshOf({ urlMaskedFor: urlMaskedForOf(marked) })).toEqual(['planted', true]);
    await t.deps.registry.saveSource({ ...(await t.deps.registry.getSource(source.id))!, urlMasked: mask });
  });

  it('sends If-Modified-Since when the upstream gives only Last-Modified (§13.1.3)', async () => {
    const source = await sourceWith(serveBody(PODCAST, { ...RSS, lastModified: 'Mon, 02 Mar 2026 07:00:00 GMT' }));
    expect((await refresh(source.id))?.outcome).toBe('unchanged');
    expect(source.hits().at(-1)!.headers['if-modified-since']).toBe('Mon, 02 Mar 2026 07:00:00 GMT');
    expect(source.hits().at(-1)!.headers['if-none-match']).toBeUndefined();
  });

  it.each([
    ['429 with delta-seconds', 429, () => '120', 120_000],
    // An HTTP-date is read against the real clock, whatever the injected one says.
    ['503 with an HTTP-date', 503, () => new Date(Math.ceil(Date.now() / 1000) * 1000 + 301_000).toUTCString(), 300_000],
    ['429 asking for a week, capped at 24 h', 429, () => String(7 * 24 * 3600), 24 * 60 * MINUTE],
  ])('honours Retry-After on %s (RFC 9110 §10.2.3)', async (_name, code, retryAfterOf, expectedMs) => {
    const source = await sourceWith(serveBody(PODCAST, RSS));
    const retryAfter = retryAfterOf();
    source.set(status(code, { retryAfter }));
    const result = await refresh(source.id);
    expect(result?.outcome).toBe('failed');
    const waitMs = Date.parse(result!.source.retryAfterUntil!) - nowMs;
    expect(waitMs).toBeGreaterThanOrEqual(expectedMs - 2000);
    expect(waitMs).toBeLessThanOrEqual(expectedMs + 2000);
    expect(Date.parse(result!.source.nextFetchAt) - nowMs).toBeGreaterThanOrEqual(waitMs);
    // While it is pending, even the API's refresh leaves the upstream alone.
    const hits = source.hits().length;
    source.set(serveBody(PODCAST, RSS));
    const deferred = await t.api(key, { method: 'POST', url: `/api/v1/sources/${source.id}/refresh` });
    expect(deferred.statusCode).toBe(200);
    expect(deferred.json().nextFetchAt).toBe(result!.source.nextFetchAt);
    expect(source.hits()).toHaveLength(hits);
    advance(waitMs + 1);
    expect((await refresh(source.id))?.source.status).toBe('ok');
  });

  it('respects an RSS <ttl> stricter than the chosen interval', async () => {
    // podcast.rss says <ttl>60</ttl>; the user asked for 30 minutes.
    const source = await sourceWith(serveBody(PODCAST, RSS), { refreshMinutes: 30 });
    const created = (await t.api(key, { method: 'GET', url: `/api/v1/sources/${source.id}` })).json();
    expect(created.refreshMinutes).toBe(30);
    expect((Date.parse(created.nextFetchAt) - nowMs) / MINUTE).toBeGreaterThanOrEqual(60);
    expect((Date.parse(created.nextFetchAt) - nowMs) / MINUTE).toBeLessThan(60 * 1.06);
  });

  it('backs off exponentially on a 500 streak, keeps the items, and resets on success', async () => {
    // The interval in force is 60 minutes (the feed's <ttl>).
    const source = await sourceWith(serveBody(PODCAST, RSS), { refreshMinutes: 30 });
    source.set(status(500));
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 8; attempt += 1) {
      const result = await refresh(source.id);
      expect(result?.source.errorCount).toBe(attempt);
      expect(result?.source.lastError).toMatch(/500/);
      delays.push((Date.parse(result!.source.nextFetchAt) - nowMs) / MINUTE);
    }
    // ×2 per failure from the interval (plus ≤5% jitter), capped at 24 h.
    expect(delays[0]).toBeGreaterThanOrEqual(120);
    expect(delays[0]).toBeLessThan(120 * 1.06);
    expect(delays[1]).toBeGreaterThanOrEqual(240);
    expect(delays[2]).toBeGreaterThanOrEqual(480);
    expect(delays.at(-1)).toBeGreaterThanOrEqual(1440);
    expect(delays.at(-1)).toBeLessThanOrEqual(1440 * 1.05 + 1);
    const items = await t.api(key, { method: 'GET', url: `/api/v1/sources/${source.id}/items` });
    expect(items.json().items).toHaveLength(3);

    source.set(serveBody(PODCAST, RSS));
    const recovered = await refresh(source.id);
    expect(recovered?.source).toMatchObject({ status: 'ok', errorCount: 0, lastError: undefined });
    expect((Date.parse(recovered!.source.nextFetchAt) - nowMs) / MINUTE).toBeLessThan(60 * 1.06);
  });

  it.each([
    [301, true],
    [308, true],
    [302, false],
    [307, false],
  ] as const)('follows a %s and updates the stored URL only when permanent (RFC 9110 §15.4)', async (code, permanent) => {
    const source = await sourceWith(serveBody(PODCAST, RSS));
    const target = `/moved-${code}`;
    upstream.route(target, serveBody(PODCAST, RSS));
    source.set(redirect(code, upstream.url(target)));
    const result = await refresh(source.id);
    expect(result?.source.status).toBe('ok');
    const stored = (await t.api(key, { method: 'GET', url: `/api/v1/sources/${source.id}` })).json().url;
    expect(stored).toBe(upstream.url(permanent ? target : source.path));
  });

  it('disables a source on 410 Gone and leaves it alone after', async () => {
    const source = await sourceWith(serveBody(PODCAST, RSS));
    source.set(status(410));
    expect((await refresh(source.id))?.source.status).toBe('disabled');
    advance(48 * 60 * MINUTE);
    const hits = source.hits().length;
    await tick();
    expect(source.hits()).toHaveLength(hits);
  });

  it('marks a source unauthorized on 401/403 and stops until the user edits it', async () => {
    const source = await sourceWith(serveBody(PODCAST, RSS));
    source.set(status(403));
    expect((await refresh(source.id))?.source.status).toBe('unauthorized');
    advance(48 * 60 * MINUTE);
    const hits = source.hits().length;
    await tick();
    expect(source.hits()).toHaveLength(hits);
    source.set(serveBody(PODCAST, RSS));
    const edited = await t.api(key, { method: 'PATCH', url: `/api/v1/sources/${source.id}`, payload: { title: 'fixed token' } });
    expect(edited.json().status).toBe('new');
    await tick();
    expect(source.hits()).toHaveLength(hits + 1);
    expect((await t.api(key, { method: 'GET', url: `/api/v1/sources/${source.id}` })).json().status).toBe('ok');
  });

  it('keeps the last good items published when a valid feed turns into garbage (status stale)', async () => {
    const source = await sourceWith(serveBody(PODCAST, RSS));
    const feed = (await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Kept', sources: [source.id] } })).json();
    source.set(serveBody('<rss><channel><item><title>broken', RSS));
    const result = await refresh(source.id);
    expect(result?.source.status).toBe('stale');
    expect(result?.source.lastError).toMatch(/feed/i);
    const published = await t.app.inject({ method: 'GET', url: feed.urls.json.slice(PUBLIC_URL.length) });
    expect(published.json().items).toHaveLength(3);
  });

  it('times out a hanging upstream without holding up the others', async () => {
    const slow = await sourceWith(serveBody(PODCAST, RSS));
    const fast = await sourceWith(serveBody(PODCAST, RSS));
    slow.set(hang());
    advance(64 * MINUTE); // past the 60-minute <ttl> plus jitter
    await tick();
    const [slowNow, fastNow] = await Promise.all(
      [slow.id, fast.id].map(async (id) => (await t.api(key, { method: 'GET', url: `/api/v1/sources/${id}` })).json()),
    );
    expect(slowNow.lastError).toMatch(/timed out/i);
    expect(fastNow.status).toBe('ok');
    expect(Date.parse(fastNow.lastFetchedAt)).toBe(nowMs);
  });

  it('keeps an edit or a delete made while a refresh was fetching', async () => {
    let release: () => void = () => undefined;
    const source = await sourceWith(serveBody(PODCAST, RSS));
    source.set((request, response) => {
      release = () => serveBody(PODCAST, RSS)(request, response);
    });
    const running = refresh(source.id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const edited = await t.api(key, {
      method: 'PATCH',
      url: `/api/v1/sources/${source.id}`,
      payload: { title: 'Renamed meanwhile', refreshMinutes: 120 },
    });
    expect(edited.statusCode).toBe(200);
    release();
    expect((await running)?.source).toMatchObject({ status: 'ok', title: 'Renamed meanwhile', refreshMinutes: 120 });
    expect((await t.api(key, { method: 'GET', url: `/api/v1/sources/${source.id}` })).json()).toMatchObject({
      title: 'Renamed meanwhile',
      refreshMinutes: 120,
    });

    source.set((request, response) => {
      release = () => serveBody(PODCAST, RSS)(request, response);
    });
    const again = refresh(source.id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await t.api(key, { method: 'DELETE', url: `/api/v1/sources/${source.id}` })).statusCode).toBe(204);
    release();
    await again;
    expect((await t.api(key, { method: 'GET', url: `/api/v1/sources/${source.id}` })).statusCode).toBe(404);
    expect(await t.deps.registry.getSource(source.id)).toBeUndefined();
    expect(await t.deps.registry.getEntries(source.id)).toEqual([]);
  });

  it('never refreshes a source twice at once (API refresh racing the scheduler)', async () => {
    let release: () => void = () => undefined;
    const source = await sourceWith(serveBody(PODCAST, RSS));
    source.set((request, response) => {
      release = () => serveBody(PODCAST, RSS)(request, response);
    });
    advance(64 * MINUTE); // past the 60-minute <ttl> plus jitter
    const before = source.hits().length;
    const api = t.api(key, { method: 'POST', url: `/api/v1/sources/${source.id}/refresh` });
    const scheduled = tick();
    const direct = refresh(source.id);
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await Promise.all([api, scheduled, direct]);
    expect(source.hits().length - before).toBe(1);
  });

  async function tick() {
    const scheduler = startScheduler(t.deps);
    try {
      await scheduler.tick();
    } finally {
      await scheduler.stop();
    }
  }

  it('looks through the cached entries for secrets again whenever the digest of the secrets they were scrubbed for differs', async () => {
    const TOKEN = 'cachedtoken9f8e7d6c';
    const source = await sourceWith(serveBody(PODCAST, RSS), {});
    // The source's URL carries the token: created through the API, then given a query token by an edit.
    await t.api(key, {
      method: 'PATCH',
      url: `/api/v1/sources/${source.id}`,
      payload: { url: upstream.url(`${source.path}?token=${TOKEN}`) },
    });
    expect((await refresh(source.id))?.outcome).not.toBe('failed');
    const scrubbedFor = (await t.deps.registry.getSource(source.id))!.entriesScrubbedFor;
    expect(scrubbedFor).toMatch(/^[\w-]{20,}$/);
    expect(scrubbedFor).not.toContain(TOKEN);
    // An entry an older release cached before its rules knew the token (planted as it would be stored).
    const plant = async () => {
      const [first, ...rest] = await t.deps.registry.getEntries(source.id);
      await t.deps.registry.saveEntries(source.id, [{ ...first!, title: `Leaked ${TOKEN}` }, ...rest]);
    };
    const cachedText = async () => JSON.stringify(await t.deps.registry.getEntries(source.id));

    // The digest matches: the refresh trusts it and does not look (this is the work it spares).
    await plant();
    await refresh(source.id);
    expect(await cachedText()).toContain(TOKEN);
    // Another digest (other secrets, other rules, another vault key): it looks, and scrubs.
    const current = (await t.deps.registry.getSource(source.id))!;
    await t.deps.registry.saveSource({ ...current, entriesScrubbedFor: 'scrubbed-for-something-else' });
    await refresh(source.id);
    expect(await cachedText()).not.toContain(TOKEN);
    expect(await cachedText()).toContain('Leaked REDACTED');
    expect((await t.deps.registry.getSource(source.id))!.entriesScrubbedFor).toBe(scrubbedFor);
    // No digest (a record from before the field): it looks too.
    await plant();
    await t.deps.registry.saveSource({ ...(await t.deps.registry.getSource(source.id))!, entriesScrubbedFor: undefined });
    await refresh(source.id);
    expect(await cachedText()).not.toContain(TOKEN);
  });
});
