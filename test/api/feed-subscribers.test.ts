// Per-subscriber URLs, their usage statistics, feed options and the preview — through the real app
// on both stores.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TOKEN = 'SUBSCRIBERSECRETq8Zr2Lk5Vn0Xw';
const DAY = 86_400_000;
const path = (url: string) => url.slice(PUBLIC_URL.length);
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toUTCString();

/** A tokenized upstream feed with entries 1, 5 and 40 days old, full content on each. */
function upstreamFeed(): string {
  const item = (id: string, days: number, title: string) =>
    `<item><guid isPermaLink="false">${id}</guid><title>${title}</title><link>https://news.example/${id}</link>` +
    `<pubDate>${daysAgo(days)}</pubDate><content:encoded><![CDATA[<p>The <b>full</b> story of ${title}.</p>]]></content:encoded></item>`;
  return (
    '<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>' +
    '<title>Team News</title><link>https://news.example/</link><description>d</description>' +
    item('fresh', 1, 'Fresh') +
    item('week', 5, 'This week') +
    item('old', 40, 'Old news') +
    '</channel></rss>'
  );
}

describe.each(STORES)('subscriber URLs, stats and options (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  let alice: string;
  let bob: string;
  let sourceId: string;

  beforeAll(async () => {
    upstream = await startUpstream((request, response) => {
      if (new URL(request.url ?? '/', 'http://upstream').searchParams.get('feed_token') !== TOKEN)
        return void response.writeHead(401).end();
      response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(upstreamFeed());
    });
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort] });
    alice = await t.createUserKey('alice');
    bob = await t.createUserKey('bob');
    const created = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: upstream.url(`/news?feed_token=${TOKEN}`) },
    });
    expect(created.statusCode, created.body).toBe(201);
    sourceId = created.json().id;
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  async function createFeed(payload: Record<string, unknown> = {}) {
    const response = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/feeds',
      payload: { title: 'News', sources: [sourceId], ...payload },
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as { id: string; urls: Record<'atom' | 'rss' | 'json' | 'page', string>; options: Record<string, unknown> };
  }
  async function createToken(feedId: string, name: string) {
    const response = await t.api(alice, { method: 'POST', url: `/api/v1/feeds/${feedId}/tokens`, payload: { name } });
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as { id: string; name: string; urls: Record<'atom' | 'rss' | 'json' | 'page', string> };
  }
  const get = (url: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url: path(url), headers });
  const tokenOf = (url: string) =>
    path(url)
      .replace(/^\//, '')
      .replace(/\.\w+$/, '');

  it('gives each reader its own URL, carrying only its own token, and revokes one without touching the others', async () => {
    const feed = await createFeed();
    const phone = await createToken(feed.id, 'phone');
    const work = await createToken(feed.id, 'work');
    expect(new Set([tokenOf(feed.urls.atom), tokenOf(phone.urls.atom), tokenOf(work.urls.atom)]).size).toBe(3);
    expect(phone.urls.page).toBe(`${PUBLIC_URL}/f/${tokenOf(phone.urls.atom)}`);

    const listed = await t.api(alice, { method: 'GET', url: `/api/v1/feeds/${feed.id}/tokens` });
    expect(listed.json().tokens.map((token: { id: string; name: string }) => token.name)).toEqual(['default', 'phone', 'work']);
    expect(listed.json().tokens[0].urls.atom).toBe(feed.urls.atom);

    for (const format of ['atom', 'rss', 'json'] as const) {
      const [main, mine] = await Promise.all([get(feed.urls[format]), get(work.urls[format])]);
      expect(mine.statusCode).toBe(200);
      // Same document, own self link: no other reader's token in it, a validator of its own.
      expect(mine.body).toContain(tokenOf(work.urls.atom));
      expect(mine.body).not.toContain(tokenOf(feed.urls.atom));
      expect(mine.body).not.toContain(tokenOf(phone.urls.atom));
      expect(mine.body.replaceAll(tokenOf(work.urls.atom), tokenOf(feed.urls.atom))).toBe(main.body);
      expect(mine.headers.etag).not.toBe(main.headers.etag);
      const again = await get(work.urls[format], { 'if-none-match': String(mine.headers.etag) });
      expect(again.statusCode).toBe(304);
    }

    const revoked = await t.api(alice, { method: 'DELETE', url: `/api/v1/feeds/${feed.id}/tokens/${work.id}` });
    expect(revoked.statusCode).toBe(204);
    for (const format of ['atom', 'rss', 'json'] as const) {
      expect((await get(work.urls[format])).statusCode).toBe(404);
      expect((await get(phone.urls[format])).statusCode).toBe(200);
      expect((await get(feed.urls[format])).statusCode).toBe(200);
    }
    // Rotation replaces the default URL only; named readers keep theirs.
    const rotated = await t.api(alice, { method: 'POST', url: `/api/v1/feeds/${feed.id}/rotate` });
    expect((await get(feed.urls.atom)).statusCode).toBe(404);
    expect((await get(rotated.json().urls.atom)).statusCode).toBe(200);
    const phoneAfter = await get(phone.urls.atom);
    expect(phoneAfter.statusCode).toBe(200);
    expect(phoneAfter.body).toContain(tokenOf(phone.urls.atom));
    expect(phoneAfter.body).not.toContain(tokenOf(rotated.json().urls.atom));
    expect(phoneAfter.body).not.toContain(tokenOf(feed.urls.atom));
  });

  it('loses no token when subscriber URLs are created and revoked at the same time', async () => {
    const feed = await createFeed();
    const created = await Promise.all(Array.from({ length: 12 }, (_, index) => createToken(feed.id, `reader ${index}`)));
    const listed = (await t.api(alice, { method: 'GET', url: `/api/v1/feeds/${feed.id}/tokens` })).json().tokens as Array<{ id: string }>;
    expect(listed.map((token) => token.id).sort()).toEqual(['default', ...created.map((token) => token.id)].sort());

    // Half revoked while as many more are created and the feed is edited and rotated: every URL is
    // either listed and live, or gone — none live yet unlisted, where nobody could revoke it.
    const [revoking, keeping] = [created.slice(0, 6), created.slice(6)];
    const results = await Promise.all([
      ...revoking.map((token) => t.api(alice, { method: 'DELETE', url: `/api/v1/feeds/${feed.id}/tokens/${token.id}` })),
      ...Array.from({ length: 6 }, (_, index) =>
        t.api(alice, { method: 'POST', url: `/api/v1/feeds/${feed.id}/tokens`, payload: { name: `late ${index}` } }),
      ),
      t.api(alice, { method: 'PATCH', url: `/api/v1/feeds/${feed.id}`, payload: { title: 'News, edited' } }),
      t.api(alice, { method: 'POST', url: `/api/v1/feeds/${feed.id}/rotate` }),
    ]);
    for (const result of results) expect(result.statusCode, result.body).toBeLessThan(300);
    const late = results.slice(6, 12).map((result) => result.json() as { id: string; urls: Record<'atom', string> });
    const after = (await t.api(alice, { method: 'GET', url: `/api/v1/feeds/${feed.id}/tokens` })).json().tokens as Array<{ id: string }>;
    expect(after.map((token) => token.id).sort()).toEqual(
      ['default', ...keeping.map((token) => token.id), ...late.map((token) => token.id)].sort(),
    );
    for (const token of revoking) expect((await get(token.urls.atom)).statusCode).toBe(404);
    for (const token of [...keeping, ...late]) expect((await get(token.urls.atom)).statusCode).toBe(200);
    expect((await t.api(alice, { method: 'GET', url: `/api/v1/feeds/${feed.id}` })).json().title).toBe('News, edited');
  });

  it("keeps a copy of the feed's meta beside every live token, and none beside a dead one", async () => {
    const copyOf = (url: string) => t.kv.get(`public-meta:${tokenOf(url)}`);
    const feed = await createFeed();
    const meta = await t.deps.registry.getRenderedMeta(feed.id);
    expect(meta).toBeDefined();
    expect(await copyOf(feed.urls.atom)).toEqual(meta);
    // A new reader's URL gets its copy at once, though the bytes did not change.
    const phone = await createToken(feed.id, 'phone');
    expect(await copyOf(phone.urls.atom)).toEqual(meta);
    // A changed feed updates every copy.
    expect((await t.api(alice, { method: 'PATCH', url: `/api/v1/feeds/${feed.id}`, payload: { title: 'Renamed' } })).statusCode).toBe(200);
    const renamed = await t.deps.registry.getRenderedMeta(feed.id);
    expect(renamed).not.toEqual(meta);
    expect(await copyOf(feed.urls.atom)).toEqual(renamed);
    expect(await copyOf(phone.urls.atom)).toEqual(renamed);
    // Revoked and rotated-away tokens lose theirs.
    expect((await t.api(alice, { method: 'DELETE', url: `/api/v1/feeds/${feed.id}/tokens/${phone.id}` })).statusCode).toBe(204);
    expect(await copyOf(phone.urls.atom)).toBeUndefined();
    const rotated = (await t.api(alice, { method: 'POST', url: `/api/v1/feeds/${feed.id}/rotate` })).json();
    expect(await copyOf(feed.urls.atom)).toBeUndefined();
    expect(await copyOf(rotated.urls.atom)).toEqual(await t.deps.registry.getRenderedMeta(feed.id));
    // A lost copy (a render cut short) is written again by the next rebuild, even of unchanged bytes.
    await t.kv.delete(`public-meta:${tokenOf(rotated.urls.atom)}`);
    expect((await get(rotated.urls.atom)).statusCode).toBe(200);
    expect((await t.api(alice, { method: 'PATCH', url: `/api/v1/feeds/${feed.id}`, payload: { limit: 50 } })).statusCode).toBe(200);
    expect(await copyOf(rotated.urls.atom)).toEqual(await t.deps.registry.getRenderedMeta(feed.id));
  });

  it('refuses what would break the token list, with clear 4xx errors', async () => {
    const feed = await createFeed();
    await createToken(feed.id, 'Phone');
    const cases: Array<[string, string, Record<string, unknown> | undefined, number, RegExp]> = [
      ['POST', `/api/v1/feeds/${feed.id}/tokens`, { name: 'phone' }, 409, /already has a URL named/],
      ['POST', `/api/v1/feeds/${feed.id}/tokens`, { name: 'default' }, 409, /already has a URL named/],
      ['POST', `/api/v1/feeds/${feed.id}/tokens`, { name: '   ' }, 400, /name is required/],
      ['POST', `/api/v1/feeds/${feed.id}/tokens`, {}, 400, /name/],
      ['DELETE', `/api/v1/feeds/${feed.id}/tokens/default`, undefined, 400, /rotate/],
      ['DELETE', `/api/v1/feeds/${feed.id}/tokens/nope`, undefined, 404, /not found/i],
    ];
    for (const [method, url, payload, status, message] of cases) {
      const response = await t.api(alice, { method: method as 'POST', url, ...(payload ? { payload } : {}) });
      expect(response.statusCode, `${method} ${url} ${JSON.stringify(payload)}`).toBe(status);
      expect(response.json().message).toMatch(message);
    }
    // Another user's feed is as absent as a missing one, for every token route.
    for (const [method, url] of [
      ['GET', `/api/v1/feeds/${feed.id}/tokens`],
      ['POST', `/api/v1/feeds/${feed.id}/tokens`],
      ['GET', `/api/v1/feeds/${feed.id}/stats`],
    ] as const) {
      const response = await t.api(bob, { method, url, ...(method === 'POST' ? { payload: { name: 'mine' } } : {}) });
      expect(response.statusCode, `${method} ${url}`).toBe(404);
    }
  });

  it('counts requests, 304s, last seen and reader-reported subscribers per URL, keeping no IP address', async () => {
    const feed = await createFeed();
    const today = new Date().toISOString().slice(0, 10);
    const phone = await createToken(feed.id, 'phone');
    const agents = [
      'Feedly/1.0 (+http://www.feedly.com/fetcher.html; 16 subscribers; feed-id=5512)',
      'Mozilla/5.0 (compatible; Inoreader; +http://www.inoreader.com/feed-fetcher; 4 subscribers; )',
      'NewsBlur Feed Fetcher - 12 subscribers - http://www.newsblur.com/site/6/news (Mozilla/5.0)',
    ];
    const first = await get(feed.urls.atom, { 'user-agent': agents[0]! });
    await get(feed.urls.atom, { 'user-agent': agents[0]!, 'if-none-match': String(first.headers.etag) });
    await get(feed.urls.rss, { 'user-agent': agents[1]!, 'x-forwarded-for': '203.0.113.7' });
    await get(phone.urls.json, { 'user-agent': agents[2]! });
    // A person opening the Atom URL in a browser is shown the feed page: not a reader's request.
    const navigation = await get(phone.urls.atom, {
      'sec-fetch-mode': 'navigate',
      accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8',
      'user-agent': 'Mozilla/5.0',
    });
    expect(navigation.headers['content-type']).toMatch(/^text\/html/);
    await get(phone.urls.json, { 'user-agent': 'NetNewsWire (RSS Reader; https://netnewswire.com/)' });
    // A later report from the same reader replaces its earlier count.
    await get(feed.urls.atom, { 'user-agent': agents[0]!.replace('16 subscribers', '17 subscribers') });

    const response = await t.api(alice, { method: 'GET', url: `/api/v1/feeds/${feed.id}/stats` });
    expect(response.statusCode, response.body).toBe(200);
    const stats = response.json();
    const byName = Object.fromEntries(stats.tokens.map((token: { name: string }) => [token.name, token]));
    expect(byName.default).toMatchObject({ requests: 4, notModified: 1, subscribers: 21 });
    expect(byName.default.readers).toEqual([
      { reader: 'Feedly', subscribers: 17, lastSeenAt: expect.any(String) },
      { reader: 'Inoreader', subscribers: 4, lastSeenAt: expect.any(String) },
    ]);
    expect(byName.phone).toMatchObject({ requests: 2, notModified: 0, subscribers: 12 });
    expect(t.logs.join('\n')).not.toMatch(/already sent/i);
    expect(Date.now() - Date.parse(byName.phone.lastSeenAt)).toBeLessThan(60_000);
    expect(stats.totals).toEqual({ requests: 6, notModified: 1, subscribers: 33 });
    expect(stats.days).toHaveLength(30);
    // (Across midnight UTC the hits fall on two days; their sum is what matters then.)
    const recent = stats.days.filter((day: { date: string }) => day.date >= today);
    expect(recent.reduce((sum: number, day: { requests: number }) => sum + day.requests, 0)).toBe(6);
    expect(recent.reduce((sum: number, day: { notModified: number }) => sum + day.notModified, 0)).toBe(1);
    expect(stats.days[0].requests).toBe(0);

    // What the store holds about these readers: counts and reader names, never an address.
    const stored = JSON.stringify(await t.kv.readFields(`stats:${feed.id}`));
    expect(stored).toContain('Feedly');
    expect(stored).not.toContain('127.0.0.1');
    expect(stored).not.toContain('203.0.113.7');

    // A feed page view is not a reader's request, and the page's token is shortened in the logs.
    const pageToken = tokenOf(phone.urls.atom);
    expect((await t.app.inject({ method: 'GET', url: `/f/${pageToken}` })).statusCode).toBe(200);
    expect(t.logs.join('\n')).not.toContain(pageToken);

    // Readers made up by whoever holds a URL are capped per token and day, and at most 20 listed.
    for (let index = 0; index < 80; index += 1) await get(phone.urls.json, { 'user-agent': `Bogus${index}/1.0 (1 subscribers)` });
    const flooded = (await t.api(alice, { method: 'GET', url: `/api/v1/feeds/${feed.id}/stats` })).json();
    const floodedPhone = flooded.tokens.find((token: { name: string }) => token.name === 'phone');
    expect(floodedPhone.readers).toHaveLength(20);
    const readerFields = Object.keys(await t.kv.readFields(`stats:${feed.id}`)).filter((name) => name.startsWith('reader|'));
    expect(readerFields.length).toBeLessThanOrEqual(64 + 2);

    // Deleting the feed forgets its statistics.
    expect((await t.api(alice, { method: 'DELETE', url: `/api/v1/feeds/${feed.id}` })).statusCode).toBe(204);
    expect(await t.kv.readFields(`stats:${feed.id}`)).toEqual({});
  });

  it('keeps totals and per-day counts in agreement once a subscriber URL is revoked', async () => {
    const feed = await createFeed();
    const work = await createToken(feed.id, 'work');
    for (let index = 0; index < 3; index += 1) expect((await get(work.urls.atom)).statusCode).toBe(200);
    const first = await get(feed.urls.atom);
    await get(feed.urls.atom, { 'if-none-match': String(first.headers.etag) });
    expect((await t.api(alice, { method: 'DELETE', url: `/api/v1/feeds/${feed.id}/tokens/${work.id}` })).statusCode).toBe(204);

    const stats = (await t.api(alice, { method: 'GET', url: `/api/v1/feeds/${feed.id}/stats` })).json();
    expect(stats.tokens.map((token: { name: string }) => token.name)).toEqual(['default']);
    const days = (pick: (day: { requests: number; notModified: number }) => number) =>
      stats.days.reduce((sum: number, day: { requests: number; notModified: number }) => sum + pick(day), 0);
    // The revoked URL's 3 requests stay in both.
    expect(days((day) => day.requests)).toBe(5);
    expect(stats.totals).toMatchObject({ requests: 5, notModified: days((day) => day.notModified) });
    expect(stats.totals.notModified).toBe(1);
  });

  it('applies the options: maximum age, source-title prefix, summary only, source facet', async () => {
    const plain = await createFeed();
    expect(plain.options).toEqual({ prefixSourceTitle: false, summaryOnly: false, maxAgeDays: 0, sourceInfo: true });
    const plainJson = (await get(plain.urls.json)).json();
    expect(plainJson.items.map((item: { title: string }) => item.title)).toEqual(['Fresh', 'This week', 'Old news']);
    expect(plainJson.items[0].content_html).toContain('<b>full</b>');

    const options = { prefixSourceTitle: true, summaryOnly: true, maxAgeDays: 30, sourceInfo: false };
    const shaped = await createFeed({ options });
    expect(shaped.options).toEqual(options);
    const json = (await get(shaped.urls.json)).json();
    expect(json.items.map((item: { title: string }) => item.title)).toEqual(['Team News: Fresh', 'Team News: This week']);
    // Only the derived summary is left: text, no markup of the full content.
    expect(JSON.stringify(json.items)).not.toContain('<b>full</b>');
    expect(JSON.stringify(json.items[0])).toContain('The full story of Fresh.');
    const atom = (await get(shaped.urls.atom)).body;
    expect(atom).toContain('Team News: Fresh');
    expect(atom).not.toContain('Old news');

    // PATCH changes one option and keeps the others; the public URLs stay.
    const patched = await t.api(alice, { method: 'PATCH', url: `/api/v1/feeds/${shaped.id}`, payload: { options: { maxAgeDays: 3 } } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().options).toEqual({ ...options, maxAgeDays: 3 });
    expect(patched.json().urls.json).toBe(shaped.urls.json);
    expect((await get(shaped.urls.json)).json().items.map((item: { title: string }) => item.title)).toEqual(['Team News: Fresh']);

    for (const bad of [{ maxAgeDays: -1 }, { maxAgeDays: 1.5 }, { maxAgeDays: 100_000 }, { summaryOnly: 'yes' }, { unknown: true }]) {
      const response = await t.api(alice, { method: 'PATCH', url: `/api/v1/feeds/${shaped.id}`, payload: { options: bad } });
      expect(response.statusCode, JSON.stringify(bad)).toBe(400);
      expect(response.json().message).toMatch(/options/);
    }
  });

  it('previews the first entries of unsaved settings without storing a feed', async () => {
    const before = (await t.api(alice, { method: 'GET', url: '/api/v1/feeds' })).json().feeds.length;
    const response = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/feeds/preview',
      payload: { sources: [sourceId], exclude: ['week'], options: { prefixSourceTitle: true } },
    });
    expect(response.statusCode, response.body).toBe(200);
    const { entries } = response.json();
    expect(entries.map((entry: { title: string }) => entry.title)).toEqual(['Team News: Fresh', 'Team News: Old news']);
    expect(entries[0]).toMatchObject({
      link: 'https://news.example/fresh',
      source: { id: sourceId, title: 'Team News' },
      summary: 'The full story of Fresh.',
    });
    expect(Date.parse(entries[0].published)).toBeGreaterThan(Date.now() - 2 * DAY);
    expect((await t.api(alice, { method: 'GET', url: '/api/v1/feeds' })).json().feeds).toHaveLength(before);
    // Someone else's source previews like a missing one.
    const foreign = await t.api(bob, { method: 'POST', url: '/api/v1/feeds/preview', payload: { sources: [sourceId] } });
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json().message).toMatch(/no such source/);
  });
});
