// A source's create is one atomic write (store/sources.ts createSource): when any of its writes fails
// — refused here by a trigger, the way a store error would, or the file locked by another process —
// nothing of it is left (no listed source, no orphan record or entries, no duplicate-index entry), the
// user's counter equals what is listed, and the same URL then creates once (201) and is a 409 after.
import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { openSecondConnection } from '../helpers/second-connection.js';
import { serveBody, startUpstream, type UpstreamHandler } from '../helpers/upstream.js';

const RSS = { contentType: 'application/rss+xml' };
const FEED =
  '<?xml version="1.0"?><rss version="2.0"><channel><title>Club</title><item><guid>g</guid><title>One</title></item></channel></rss>';

/** Each write of a create, in the order the unfixed code made them, and a trigger that refuses it. */
const STAGES: Array<[stage: string, trigger: string]> = [
  ['the entries', 'BEFORE INSERT ON fp_entries'],
  ['the source record', "BEFORE INSERT ON keyv WHEN NEW.key LIKE 'fp:source:%'"],
  ["the user's and every-source lists", "BEFORE INSERT ON fp_sets WHEN NEW.name LIKE 'sources%'"],
  ['the cachedBytes counter', "BEFORE UPDATE ON fp_fields WHEN NEW.field = 'cachedBytes'"],
  ['the duplicate-URL index', "BEFORE INSERT ON keyv WHEN NEW.key LIKE 'fp:source-url:%'"],
];

/** What a create writes, counted as another process reads the file. */
const FOOTPRINT = `SELECT
  (SELECT count(*) FROM fp_entries) AS entries,
  (SELECT count(*) FROM keyv WHERE key LIKE 'fp:source:%') AS records,
  (SELECT count(*) FROM keyv WHERE key LIKE 'fp:entries-rev:%') AS revisions,
  (SELECT count(*) FROM keyv WHERE key LIKE 'fp:source-url:%') AS urlIndex,
  (SELECT count(*) FROM fp_sets WHERE name LIKE 'sources%') AS listed,
  (SELECT count(*) FROM fp_due) AS due,
  (SELECT sum(value) FROM fp_fields WHERE field = 'cachedBytes') AS cachedBytes`;

describe('a source create that fails part-way', () => {
  it.for(STAGES)('refused at %s: leaves nothing, the counter matches, and the retry is 201 then 409', async ([, trigger], context) => {
    const upstream = await startUpstream({ '/feed': serveBody(FEED, RSS), '/first': serveBody(FEED, RSS) });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort] });
    const key = await t.createUserKey();
    const create = (path: string) => t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(path) } });
    const userId = (await t.api(key, { method: 'GET', url: '/api/v1/me' })).json().id as string;
    const listed = async () => (await t.api(key, { method: 'GET', url: '/api/v1/sources' })).json().sources as Array<{ id: string }>;
    // A source before: the user is counted, and every table the create writes has a row already.
    expect((await create('/first')).statusCode).toBe(201);
    const other = openSecondConnection(t);
    context.onTestFinished(() => other.close());
    const before = await other.rows(FOOTPRINT);

    await other.exec(`CREATE TRIGGER test_refuse ${trigger} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    const refused = await create('/feed');
    await other.exec('DROP TRIGGER test_refuse');
    expect(refused.statusCode).toBe(500);
    expect(await other.rows(FOOTPRINT)).toEqual(before);
    expect(await listed()).toHaveLength(1);
    expect(await t.deps.registry.getUserCounts(userId)).toMatchObject({ sources: 1 });

    const retried = await create('/feed');
    expect(retried.statusCode).toBe(201);
    const again = await create('/feed');
    expect(again.statusCode).toBe(409);
    expect(again.json().message).toContain(`source ${retried.json().id as string}`);
    expect(await listed()).toHaveLength(2);
    expect(await t.deps.registry.getUserCounts(userId)).toMatchObject({ sources: 2 });
  });

  it('with the file locked by another process: 503, nothing left, and the retry is 201 at once, then 409', async (context) => {
    let handler: UpstreamHandler = serveBody(FEED, RSS);
    const upstream = await startUpstream({ '/feed': (request, response) => handler(request, response) });
    context.onTestFinished(() => upstream.close());
    const t = await buildTestApp(context, { allowPrivate: [upstream.hostPort], busyTimeoutMs: 200 });
    const key = await t.createUserKey();
    const create = () => t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const userId = (await t.api(key, { method: 'GET', url: '/api/v1/me' })).json().id as string;
    const other = openSecondConnection(t);
    context.onTestFinished(() => other.close());
    // The lock is taken while the create probes the URL, and held past the busy timeout: the URL
    // claim's release fails too, and must not keep the URL claimed for its TTL.
    handler = async (request, response) => {
      await other.exec('BEGIN IMMEDIATE');
      await serveBody(FEED, RSS)(request, response);
    };
    const locked = await create();
    await other.exec('ROLLBACK');
    handler = serveBody(FEED, RSS);
    expect(locked.statusCode).toBe(503);
    expect((await t.api(key, { method: 'GET', url: '/api/v1/sources' })).json().sources).toEqual([]);

    const started = Date.now();
    const retried = await create();
    expect(retried.statusCode).toBe(201);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await create()).statusCode).toBe(409);
    expect((await t.api(key, { method: 'GET', url: '/api/v1/sources' })).json().sources).toHaveLength(1);
    expect(await t.deps.registry.getUserCounts(userId)).toMatchObject({ sources: 1 });
  });
});
