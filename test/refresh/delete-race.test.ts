// A source deleted while it is being refreshed stays deleted: the refresh neither leaves its entries
// behind nor writes its record back. The second case forces the one interleaving a timer cannot —
// the delete landing between the refresh's read of the record and its write — by running the real
// delete just before the real write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshSource } from '../../src/refresh/refresh-source.js';
import type { SourceRecord } from '../../src/model.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { STORES } from '../helpers/stores.js';
import { readFixture, serveBody, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.js';

const RSS = { contentType: 'application/rss+xml' };

describe.each(STORES)('a delete racing a refresh (%s store)', (store) => {
  let upstream: Upstream;
  let t: TestApp;
  let key: string;
  let handler: UpstreamHandler = serveBody(readFixture('feeds/podcast.rss'), RSS);

  beforeAll(async () => {
    upstream = await startUpstream({ '/feed': (request, response) => handler(request, response) });
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort] });
    key = await t.createUserKey();
  });
  afterAll(async () => {
    await t?.close();
    await upstream?.close();
  });

  async function createSource(): Promise<string> {
    handler = serveBody(readFixture('feeds/podcast.rss'), RSS);
    const created = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    expect(created.statusCode).toBe(201);
    return created.json().id;
  }

  async function expectGone(id: string) {
    expect(await t.deps.registry.getSource(id)).toBeUndefined();
    expect(await t.deps.registry.getEntries(id)).toEqual([]);
    expect(await t.deps.registry.isSourceListed(id)).toBe(false);
    expect((await t.api(key, { method: 'GET', url: `/api/v1/sources/${id}` })).statusCode).toBe(404);
  }

  it('leaves nothing behind when the delete lands during the fetch', async () => {
    const id = await createSource();
    const feed = readFixture('feeds/rdf.rdf');
    handler = async (request, response) => {
      expect((await t.api(key, { method: 'DELETE', url: `/api/v1/sources/${id}` })).statusCode).toBe(204);
      await serveBody(feed, { contentType: 'application/rdf+xml' })(request, response);
    };
    expect((await refreshSource(t.deps, id, { force: true }))?.outcome).toBe('skipped');
    await expectGone(id);
  });

  it('does not write the record back when the delete lands just before its write', async () => {
    const id = await createSource();
    const { registry } = t.deps;
    const saveRefreshedSource = registry.saveRefreshedSource.bind(registry);
    let wrote: boolean | undefined;
    registry.saveRefreshedSource = async (result: SourceRecord, fetchedFrom: SourceRecord) => {
      registry.saveRefreshedSource = saveRefreshedSource;
      await registry.deleteSource(fetchedFrom);
      return (wrote = await saveRefreshedSource(result, fetchedFrom));
    };
    try {
      expect((await refreshSource(t.deps, id, { force: true }))?.outcome).toBe('skipped');
    } finally {
      registry.saveRefreshedSource = saveRefreshedSource;
    }
    expect(wrote).toBe(false);
    await expectGone(id);
  });

  it('does not write the record back when an edit made it merge, and the delete lands between its read and its write', async () => {
    const id = await createSource();
    const { registry } = t.deps;
    // Renamed during the fetch: the refresh's one-step write refuses, so it reads, merges and writes.
    handler = async (request, response) => {
      const renamed = await t.api(key, { method: 'PATCH', url: `/api/v1/sources/${id}`, payload: { title: 'Renamed meanwhile' } });
      expect(renamed.statusCode).toBe(200);
      await serveBody(readFixture('feeds/podcast.rss'), RSS)(request, response);
    };
    const saveSource = registry.saveSource.bind(registry);
    let merged: SourceRecord | undefined;
    registry.saveSource = async (source: SourceRecord) => {
      registry.saveSource = saveSource;
      merged = source;
      await registry.deleteSource(source);
      await saveSource(source);
    };
    try {
      expect((await refreshSource(t.deps, id, { force: true }))?.outcome).toBe('skipped');
    } finally {
      registry.saveSource = saveSource;
    }
    // The merge ran (it kept the edit), and the delete still won.
    expect(merged?.title).toBe('Renamed meanwhile');
    await expectGone(id);
  });
});
