// The scheduler over time and under load, with an injected clock: per-host and global limits on
// simultaneous upstream connections, a simulated day of polling, spreading of due times, retention.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { tickOnce } from '../helpers/scheduler.js';
import { serveBody, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const START = Date.parse('2026-03-02T08:00:00Z');
const RSS = { contentType: 'application/rss+xml' };

interface Item {
  guid: string;
  title: string;
  pubDate?: string;
}

function rssOf(items: Item[], title = 'Scheduling test feed'): string {
  const xml = items
    .map(
      (item) =>
        `<item><guid isPermaLink="false">${item.guid}</guid><title>${item.title}</title>${item.pubDate ? `<pubDate>${item.pubDate}</pubDate>` : ''}</item>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>${title}</title><link>http://example.test/</link>${xml}</channel></rss>`;
}

const FEED = rssOf([
  { guid: 'one', title: 'One', pubDate: 'Mon, 02 Mar 2026 06:00:00 GMT' },
  { guid: 'two', title: 'Two', pubDate: 'Mon, 02 Mar 2026 07:00:00 GMT' },
]);

async function createSource(t: TestApp, key: string, url: string, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url, ...extra } });
  expect(created.statusCode, created.body).toBe(201);
  return created.json().id as string;
}

/** Polls `condition` until it holds; a deadline turns a hang into a failure that says what it waited for. */
async function waitFor(condition: () => boolean, what: string, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Answers immediately while open; once `hold()` is called, keeps every response open until the test
 * releases it, and counts simultaneous requests per Host header and in all.
 */
function createGate() {
  const held: Array<{ host: string; release: () => void }> = [];
  const inFlight = new Map<string, number>();
  const maxByHost = new Map<string, number>();
  let total = 0;
  let maxTotal = 0;
  let holding = false;
  return {
    held,
    maxByHost,
    get maxTotal() {
      return maxTotal;
    },
    hold() {
      holding = true;
    },
    /** Stops holding and answers every held request. */
    open() {
      holding = false;
      for (const request of held.splice(0)) request.release();
    },
    handler(body: string): UpstreamHandler {
      const serve = serveBody(body, RSS);
      return (request: IncomingMessage, response: ServerResponse) => {
        if (!holding) return serve(request, response);
        const host = request.headers.host ?? '';
        inFlight.set(host, (inFlight.get(host) ?? 0) + 1);
        total += 1;
        maxByHost.set(host, Math.max(maxByHost.get(host) ?? 0, inFlight.get(host)!));
        maxTotal = Math.max(maxTotal, total);
        held.push({
          host,
          release() {
            // Counted down before the answer leaves: the client cannot start its next request earlier.
            inFlight.set(host, inFlight.get(host)! - 1);
            total -= 1;
            serve(request, response);
          },
        });
      };
    },
  };
}

describe('concurrency limits of one scheduler tick', () => {
  const SOURCES_PER_HOST = 6;
  let upstreams: Upstream[] = [];
  let configDir: string;

  beforeAll(async () => {
    configDir = mkdtempSync(join(tmpdir(), 'feedproxy-sched-config-'));
  });
  afterAll(() => rmSync(configDir, { recursive: true, force: true }));
  afterEach(async () => {
    await Promise.all(upstreams.map((upstream) => upstream.close()));
    upstreams = [];
  });

  /**
   * Two upstreams on two ports (two hosts for the per-host limit), six due sources each, one tick.
   * The gate releases one held response at a time, only once as many requests are in flight as the
   * limits allow (so a limit that is reached is seen reached), after a pause in which a request
   * beyond the limits would show up.
   */
  async function runTick(limits: { concurrency: number; perHost: number }, env: Record<string, string> = {}) {
    const gate = createGate();
    upstreams = await Promise.all([startUpstream(gate.handler(FEED)), startUpstream(gate.handler(FEED))]);
    let nowMs = START;
    const t = await startTestApp({
      env,
      allowPrivate: upstreams.map((upstream) => upstream.hostPort),
      overrides: { now: () => new Date(nowMs) },
    });
    try {
      expect(t.deps.config.refresh).toMatchObject({ concurrency: limits.concurrency, perHostConcurrency: limits.perHost });
      const key = await t.createUserKey();
      for (const upstream of upstreams) {
        for (let index = 0; index < SOURCES_PER_HOST; index += 1) await createSource(t, key, upstream.url(`/feed-${index}`));
        // The second host's sources fall due a minute later: every claim of the first host's comes
        // first, so a scheduler that lets waiting first-host sources fill its queue idles free slots.
        nowMs += MINUTE;
      }
      nowMs += 60 * MINUTE; // every source is due (30-minute default interval)
      gate.hold();
      const tick = tickOnce(t);
      const released = new Map<string, number>(upstreams.map((upstream) => [upstream.hostPort, 0]));
      for (let count = 0; count < SOURCES_PER_HOST * upstreams.length; count += 1) {
        const possible = Math.min(
          limits.concurrency,
          [...released.values()].reduce((sum, done) => sum + Math.min(limits.perHost, SOURCES_PER_HOST - done), 0),
        );
        await waitFor(() => gate.held.length >= possible, `${possible} simultaneous requests`);
        await new Promise((resolve) => setTimeout(resolve, 25));
        const next = gate.held.shift()!;
        released.set(next.host, released.get(next.host)! + 1);
        next.release();
      }
      await tick;
      expect(gate.held).toHaveLength(0);
      const perHost = upstreams.map((upstream) => upstream.requests.length - SOURCES_PER_HOST);
      expect(perHost).toEqual([SOURCES_PER_HOST, SOURCES_PER_HOST]); // each due source fetched once
      return { maxByHost: [...gate.maxByHost.values()], maxTotal: gate.maxTotal };
    } finally {
      // On a failure, answer what is still held so closing the app does not wait on it forever.
      gate.open();
      await t.close();
    }
  }

  it('never opens more than perHostConcurrency (2) connections to one host (defaults 8 / 2)', async () => {
    const { maxByHost, maxTotal } = await runTick({ concurrency: 8, perHost: 2 });
    expect(maxByHost).toEqual([2, 2]);
    // Two hosts at two each: the global bound of 8 is not what limits here.
    expect(maxTotal).toBe(4);
  });

  it('never runs more than `concurrency` refreshes at once across hosts (config 3 / 2)', async () => {
    const file = join(configDir, 'feedproxy.yaml');
    writeFileSync(file, 'refresh:\n  concurrency: 3\n  perHostConcurrency: 2\n');
    const { maxByHost, maxTotal } = await runTick({ concurrency: 3, perHost: 2 }, { FEEDPROXY_CONFIG: file });
    expect(maxTotal).toBe(3);
    for (const max of maxByHost) expect(max).toBeLessThanOrEqual(2);
  });
});

describe('a simulated day of polling', () => {
  const SOURCES = 30;
  let upstream: Upstream;
  let t: TestApp;
  let nowMs = START;
  /** Injected time of every upstream request, by path. */
  const fetchTimes = new Map<string, number[]>();

  beforeAll(async () => {
    const serve = serveBody(FEED, { ...RSS, etag: '"day-v1"' });
    upstream = await startUpstream((request, response) => {
      const path = request.url!.split('?')[0]!;
      fetchTimes.set(path, [...(fetchTimes.get(path) ?? []), nowMs]);
      return serve(request, response);
    });
    t = await startTestApp({ allowPrivate: [upstream.hostPort], overrides: { now: () => new Date(nowMs) } });
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('fetches each of 30 sources once per 30-minute interval over 24 h, with 304s', { timeout: 180_000 }, async () => {
    const key = await t.createUserKey();
    for (let index = 0; index < SOURCES; index += 1) {
      const id = await createSource(t, key, upstream.url(`/day-${index}`), { refreshMinutes: 30 });
      // Creation schedules one interval ahead plus the same ≤5% jitter as a refresh.
      const due = Date.parse((await t.deps.registry.getSource(id))!.nextFetchAt);
      expect(due).toBeGreaterThanOrEqual(START + 30 * MINUTE);
      expect(due).toBeLessThan(START + 31.5 * MINUTE);
    }
    const created = upstream.requests.length;
    expect(created).toBe(SOURCES);

    for (let minute = 1; minute <= 24 * 60; minute += 1) {
      nowMs = START + minute * MINUTE;
      await tickOnce(t);
    }

    // Bounds. A refresh at tick time t sets nextFetchAt = t + round(30 min × (1 + U × 0.05)), U in
    // [0, 1): a due time in [t + 30 min, t + 31.5 min). Ticks fall on whole minutes, so the next fetch
    // is at t + 30 (only when the jitter rounds to 0 ms), t + 31 or t + 32 min. The first scheduled
    // fetch is at START + 30, 31 or 32 min (creation jitters the same way). Over the ticks of
    // (START, START + 24 h]: at most 1 + (1440 − 30) / 30 = 48 fetches (every gap 30), at least
    // 1 + ⌊(1440 − 32) / 32⌋ = 45 (every gap 32). The creation request at START is counted apart.
    const scheduled = upstream.requests.slice(created);
    const counts: number[] = [];
    for (let index = 0; index < SOURCES; index += 1) {
      const times = fetchTimes.get(`/day-${index}`)!;
      expect(times[0]).toBe(START); // the create
      const later = times.slice(1);
      counts.push(later.length);
      expect(later.length).toBeGreaterThanOrEqual(45);
      expect(later.length).toBeLessThanOrEqual(48);
      expect(later[0]).toBeGreaterThanOrEqual(START + 30 * MINUTE);
      expect(later[0]).toBeLessThanOrEqual(START + 32 * MINUTE);
      for (let at = 1; at < times.length; at += 1) {
        const gap = times[at]! - times[at - 1]!;
        expect(gap).toBeGreaterThanOrEqual(30 * MINUTE); // never twice within one interval
        expect(gap).toBeLessThanOrEqual(32 * MINUTE); // and never an interval skipped
      }
    }
    // Conditional GET all day: every scheduled request carried the validator, every answer was a 304.
    expect(scheduled.every((request) => request.headers['if-none-match'] === '"day-v1"')).toBe(true);
    const total = scheduled.length;
    console.log(
      `simulated day: ${SOURCES} sources × 30 min, ${total} scheduled upstream requests in 24 h ` +
        `(+${created} at creation), per source min ${Math.min(...counts)} max ${Math.max(...counts)} ` +
        `mean ${(total / SOURCES).toFixed(2)}`,
    );
  });
});

describe('spreading of due times (thundering herd)', () => {
  const SOURCES = 50;
  let upstream: Upstream;
  let t: TestApp;
  let nowMs = START;
  let key: string;
  const ids: string[] = [];

  beforeAll(async () => {
    upstream = await startUpstream(serveBody(FEED, RSS));
    t = await startTestApp({ allowPrivate: [upstream.hostPort], overrides: { now: () => new Date(nowMs) } });
    key = await t.createUserKey();
    for (let index = 0; index < SOURCES; index += 1) ids.push(await createSource(t, key, upstream.url(`/herd-${index}`)));
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  const nextFetchTimes = async () => Promise.all(ids.map(async (id) => Date.parse((await t.deps.registry.getSource(id))!.nextFetchAt)));

  /** Spread within [from + 30 min, from + 31.5 min], the 5% jitter window of the 30-minute default. */
  function expectSpread(times: number[], from: number) {
    for (const time of times) {
      expect(time).toBeGreaterThanOrEqual(from + 30 * MINUTE);
      expect(time).toBeLessThanOrEqual(from + 31.5 * MINUTE);
    }
    expect(new Set(times).size).toBeGreaterThanOrEqual(40);
    // Fifty uniform draws over 90 s all within 30 s of each other: odds about 1e-22.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(30_000);
  }

  // Sources created together (an OPML import, a script) must not all come due in the same tick.
  it('gives 50 sources created at the same instant different first due times', async () => {
    expectSpread(await nextFetchTimes(), START);
  });

  it('spreads them once their first scheduled refresh has run', async () => {
    nowMs = START + 32 * MINUTE;
    await tickOnce(t);
    const first = await nextFetchTimes();
    expectSpread(first, nowMs);
    expect(upstream.requests).toHaveLength(2 * SOURCES);
  });
});

describe('retention of cached entries', () => {
  let upstream: Upstream;
  let t: TestApp;
  let nowMs = START;
  let items: Item[];

  beforeAll(async () => {
    upstream = await startUpstream({ '/kept': (request, response) => serveBody(rssOf(items), RSS)(request, response) });
    t = await startTestApp({ allowPrivate: [upstream.hostPort], overrides: { now: () => new Date(nowMs) } });
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('keeps a dropped entry retentionDays (30) after it was last seen, then drops it; first-seen times survive', async () => {
    expect(t.deps.config.refresh.retentionDays).toBe(30);
    const key = await t.createUserKey();
    items = [
      { guid: 'dated', title: 'Dated entry', pubDate: 'Mon, 02 Mar 2026 07:00:00 GMT' },
      { guid: 'undated', title: 'Undated entry' },
      { guid: 'edited', title: 'Edited entry, first version' },
    ];
    const id = await createSource(t, key, upstream.url('/kept'));
    const itemsNow = async () =>
      (await t.api(key, { method: 'GET', url: `/api/v1/sources/${id}/items` })).json().items as Array<{
        id: string;
        title: string;
        firstSeenAt: string;
      }>;
    const refresh = async () => {
      const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${id}/refresh` });
      expect(refreshed.statusCode).toBe(200);
      expect(refreshed.json().status).toBe('ok');
      return refreshed.json();
    };
    const firstSeen = new Date(START).toISOString();
    expect((await itemsNow()).map((item) => item.firstSeenAt)).toEqual([firstSeen, firstSeen, firstSeen]);

    // An hour later the upstream drops one entry and edits another; a new one appears.
    nowMs = START + 60 * MINUTE;
    items = [
      { guid: 'undated', title: 'Undated entry' },
      { guid: 'edited', title: 'Edited entry, second version' },
      { guid: 'fresh', title: 'Fresh entry' },
    ];
    await refresh();
    const afterEdit = await itemsNow();
    expect(afterEdit.map((item) => item.id).sort()).toEqual(['dated', 'edited', 'fresh', 'undated']);
    expect(afterEdit.find((item) => item.id === 'edited')).toMatchObject({ title: 'Edited entry, second version', firstSeenAt: firstSeen });
    expect(afterEdit.find((item) => item.id === 'undated')).toMatchObject({ firstSeenAt: firstSeen });
    expect(afterEdit.find((item) => item.id === 'fresh')).toMatchObject({ firstSeenAt: new Date(nowMs).toISOString() });

    // 30 days after the dropped entry was last seen (at creation), it is still kept…
    nowMs = START + 30 * DAY;
    expect((await refresh()).entryCount).toBe(4);
    expect((await itemsNow()).map((item) => item.id)).toContain('dated');

    // …and a day later it is gone; the others keep their first-seen times.
    nowMs = START + 31 * DAY;
    expect((await refresh()).entryCount).toBe(3);
    const last = await itemsNow();
    expect(last.map((item) => item.id).sort()).toEqual(['edited', 'fresh', 'undated']);
    expect(last.find((item) => item.id === 'undated')).toMatchObject({ firstSeenAt: firstSeen });
    expect(last.find((item) => item.id === 'edited')).toMatchObject({ firstSeenAt: firstSeen, title: 'Edited entry, second version' });
    // 4 fetches: the create and three refreshes.
    expect(upstream.requests).toHaveLength(4);
  });
});
