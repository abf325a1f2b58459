// A value marked secret while a refresh is fetching: the edit scrubs what is cached and wins the
// record, but the refresh writes the entries it fetched, scrubbed for the secrets it started with,
// behind the edit's back. Those entries must be scrubbed again for the marked value before anything
// publishes them. The upstream's handler makes the edit during the fetch, so the interleaving is exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';
import { serveBody, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.js';

const RSS = { contentType: 'application/rss+xml' };
const MARKED = 'private-room-7f3a9c';

const feedWith = (items: string[]) =>
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Club</title><link>http://example.test/</link>' +
  items.map((item, index) => `<item><guid>g${index}</guid><title>${item}</title><description>${item}</description></item>`).join('') +
  '</channel></rss>';

describe.each(STORES)('a value marked secret during a refresh (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  let key: string;
  let handler: UpstreamHandler = serveBody(feedWith(['Welcome']), RSS);

  beforeAll(async () => {
    upstream = await startUpstream({ '/feed': (request, response) => handler(request, response) });
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort] });
    key = await t.createUserKey();
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  it('is scrubbed from the entries the refresh wrote and from the published feed', async () => {
    handler = serveBody(feedWith(['Welcome']), RSS);
    const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'F', sources: [id] } });
    const path = String(feed.json().urls.rss).slice(PUBLIC_URL.length);

    // The upstream now names the value in a new item; the user marks it secret while it is fetched.
    const withValue = feedWith(['Welcome', `Meet in ${MARKED} tonight`]);
    handler = async (request, response) => {
      const marked = await t.api(key, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { secrets: [MARKED] } });
      expect(marked.statusCode).toBe(200);
      await serveBody(withValue, RSS)(request, response);
    };
    const result = await refreshSource(t.deps, id, { force: true });
    expect(result?.outcome).toBe('updated');

    // The item arrived (its text is there, the value masked), and the value is nowhere.
    const entries = JSON.stringify(await t.deps.registry.getEntries(id));
    expect(entries).toContain('Meet in');
    expect(entries).not.toContain(MARKED);
    const published = await t.app.inject({ method: 'GET', url: path });
    expect(published.statusCode).toBe(200);
    expect(published.body).toContain('Meet in');
    expect(published.body).not.toContain(MARKED);
  });

  it('in a batch, leaves the source marked for a rebuild when the edit lands during a fetch that changed no entry', async () => {
    handler = serveBody(feedWith(['Welcome']), RSS);
    const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const id = created.json().id as string;
    const before = (await t.deps.registry.getSource(id))!;
    // Other bytes (not the same document again), the same entries: nothing of the refresh's own to rebuild.
    handler = async (request, response) => {
      const marked = await t.api(key, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { secrets: [MARKED] } });
      expect(marked.statusCode).toBe(200);
      await serveBody(`${feedWith(['Welcome'])}<!-- again -->`, RSS)(request, response);
    };
    const rebuilds = new Set<string>();
    const result = await refreshSource(t.deps, id, { force: true, rebuilds });
    expect(result?.outcome).toBe('unchanged');
    // Positive control: the edit landed during the fetch (a new sealed URL), so the batch rebuilds.
    expect((await t.deps.registry.getSource(id))!.urlSealed).not.toBe(before.urlSealed);
    expect([...rebuilds]).toEqual([id]);
    // And the rebuild is owed past a crash before the batch's end: the source is marked.
    try {
      expect(await t.deps.registry.pendingRebuildSourceIds()).toContain(id);
    } finally {
      await t.deps.registry.unmarkRebuildPending([id]);
    }
  });

  it('records a failure, and throws nothing, when the earlier secrets no longer open', async () => {
    handler = serveBody(feedWith(['Welcome']), RSS);
    const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const id = created.json().id as string;
    const record = (await t.deps.registry.getSource(id))!;
    // Sealed under a key this vault does not hold (a store half-way through a botched rotation).
    await t.deps.registry.saveSource({ ...record, secretsSealed: t.deps.vault.seal('[]').replace(/.{8}$/, 'AAAAAAAA') });
    handler = serveBody(feedWith(['Welcome', 'Second']), RSS);

    const result = await refreshSource(t.deps, id, { force: true });
    expect(result?.outcome).toBe('failed');
    const stored = await t.deps.registry.getSource(id);
    expect(stored?.errorCount).toBe(1);
    expect(stored?.lastErrorCode).toBeDefined();
  });
});
