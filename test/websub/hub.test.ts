// The WebSub hub end to end, on both stores: a real subscriber (node:http on port 0) subscribes to a
// public feed, confirms the challenge, and receives each new version of the feed, signed, once,
// after a source changes upstream and is refreshed through the API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeliveryLoop, sweepSubscriptions, type DeliveryLoop } from '../../src/websub/delivery-loop.js';
import { getSubscriptions, subscriptionIdsOfFeed } from '../../src/websub/subscriptions.js';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { readRedisKeys, STORES } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { expectSignedBy, hubRequest, pathOf, rssOf, startSubscriber, until, verificationCount, type Subscriber } from './subscriber.js';

const SECRET = 'subscriber-SECRET-q7Kd93mZ';
const FEED_TOKEN = 'UPSTREAMTOKENz8Kq1Lw';
const UNENCODED = /^hub\.topic must not hold .* unencoded \(RFC 3986\): send the feed URL as published here, or percent-encode them$/;

/** The feed URL with a segment put before its file and taken out again by a dot-segment. */
const withDotSegment = (feedUrl: string, segment: string): string => feedUrl.replace(/\/([^/]+)$/, `/${segment}/../$1`);

describe.each(STORES)('WebSub hub (%s store)', (store) => {
  let upstream: Upstream;
  let subscriber: Subscriber;
  let t: TestApp;
  let key: string;
  let loop: DeliveryLoop;
  const titles = ['First story'];

  beforeAll(async () => {
    upstream = await startUpstream(
      (_request, response) => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(rssOf(titles)),
    );
    subscriber = await startSubscriber();
    t = await startTestApp({ store, allowPrivate: [upstream.hostPort, subscriber.server.hostPort] });
    key = await t.createUserKey();
    loop = startDeliveryLoop(t.deps, { timer: false });
  });
  afterAll(async () => {
    await loop?.stop();
    await t?.close();
    await subscriber?.close();
    await upstream?.close();
  });

  let feedsMade = 0;
  async function createFeed() {
    // A URL of its own each time: the same URL twice is a duplicate (409).
    feedsMade += 1;
    const source = await t.api(key, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: upstream.url(`/feed?feed_token=${FEED_TOKEN}&n=${feedsMade}`) },
    });
    expect(source.statusCode, source.body).toBe(201);
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Pushed', sources: [source.json().id] } });
    expect(feed.statusCode, feed.body).toBe(201);
    return {
      sourceId: source.json().id as string,
      feedId: feed.json().id as string,
      urls: feed.json().urls as Record<'atom' | 'rss' | 'json', string>,
    };
  }
  const subscriptionsOf = async (feedId: string) => getSubscriptions(t.deps, await subscriptionIdsOfFeed(t.deps, feedId));
  async function publishNewStory(sourceId: string, title: string) {
    titles.push(title);
    const refreshed = await t.api(key, { method: 'POST', url: `/api/v1/sources/${sourceId}/refresh` });
    expect(refreshed.json().status).toBe('ok');
  }

  it('verifies the subscriber, then POSTs each new version of the feed once, signed, with hub and self links', async () => {
    const { sourceId, feedId, urls } = await createFeed();
    const callback = subscriber.callback('/callback?subscriber=own-query-VALUE');
    const before = subscriber.verifications().length;
    const answer = await hubRequest(t, {
      'hub.mode': 'subscribe',
      'hub.topic': urls.atom,
      'hub.callback': callback,
      'hub.secret': SECRET,
      'hub.lease_seconds': '7200',
    });
    expect(answer.statusCode, answer.body).toBe(202);
    await until(async () => (await subscriptionsOf(feedId)).length === 1, 'the subscription');

    // §5.3: the challenge GET keeps the callback's own query and names mode, topic and lease.
    const query = new URL(subscriber.verifications()[before]!.url, 'http://x').searchParams;
    expect(query.get('subscriber')).toBe('own-query-VALUE');
    expect(query.get('hub.mode')).toBe('subscribe');
    expect(query.get('hub.topic')).toBe(urls.atom);
    expect(query.get('hub.lease_seconds')).toBe('7200');
    expect(query.get('hub.challenge')).toMatch(/^[A-Za-z0-9_-]{24,}$/);

    // Nothing changed yet: nothing to deliver.
    await loop.tick();
    expect(subscriber.deliveries()).toHaveLength(0);

    await publishNewStory(sourceId, 'Second story');
    await loop.tick();
    const [delivery] = subscriber.deliveries();
    expect(subscriber.deliveries()).toHaveLength(1);
    const published = await t.app.inject({ method: 'GET', url: pathOf(urls.atom) });
    expect(delivery!.body).toBe(published.body);
    expect(delivery!.body).toContain('Second story');
    expect(delivery!.headers['content-type']).toBe(published.headers['content-type']);
    expect(delivery!.headers.link).toBe(`<${PUBLIC_URL}/websub>; rel="hub", <${urls.atom}>; rel="self"`);
    expectSignedBy(delivery!, SECRET);

    // The same version is never sent twice in a row, however often the loop runs or the feed is rebuilt.
    await loop.tick();
    await t.deps.registry.subscriptions.markDue((await subscriptionIdsOfFeed(t.deps, feedId))[0]!);
    await loop.tick();
    await t.api(key, { method: 'POST', url: `/api/v1/sources/${sourceId}/refresh` });
    await loop.tick();
    expect(subscriber.deliveries()).toHaveLength(1);

    await publishNewStory(sourceId, 'Third story');
    await loop.tick();
    expect(subscriber.deliveries()).toHaveLength(2);
    expect(subscriber.deliveries()[1]!.body).toContain('Third story');
    expectSignedBy(subscriber.deliveries()[1]!, SECRET);

    // Neither the secret nor the callback's query reaches a log line or the store in clear.
    const logs = t.logs.join('');
    expect(logs).toContain('websub');
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain('own-query-VALUE');
    if (t.redisPrefix) {
      const stored = [...(await readRedisKeys(t.redisPrefix)).values()].join('\n');
      expect(stored).toContain('websub');
      expect(stored).not.toContain(SECRET);
      expect(stored).not.toContain('own-query-VALUE');
    }
  });

  it('stores nothing when the callback echoes a wrong challenge or refuses', async () => {
    const { feedId, urls } = await createFeed();
    for (const verification of ['wrong', 'refuse'] as const) {
      subscriber.verification = verification;
      const refusedBefore = await verificationCount(t, 'refused');
      expect(
        (await hubRequest(t, { 'hub.mode': 'subscribe', 'hub.topic': urls.rss, 'hub.callback': subscriber.callback() })).statusCode,
      ).toBe(202);
      await until(async () => (await verificationCount(t, 'refused')) === refusedBefore + 1, 'the refused verification');
      expect(await subscriptionsOf(feedId)).toEqual([]);
    }
    subscriber.verification = 'echo';
  });

  it('stops deliveries after a verified unsubscribe', async () => {
    const { sourceId, feedId, urls } = await createFeed();
    const fields = { 'hub.topic': urls.json, 'hub.callback': subscriber.callback('/callback?who=unsub') };
    expect((await hubRequest(t, { ...fields, 'hub.mode': 'subscribe' })).statusCode).toBe(202);
    await until(async () => (await subscriptionsOf(feedId)).length === 1, 'the subscription');
    await publishNewStory(sourceId, 'Before unsubscribing');
    await loop.tick();
    const delivered = subscriber.deliveries().length;
    expect(subscriber.deliveries().at(-1)!.body).toContain('Before unsubscribing');
    expect(subscriber.deliveries().at(-1)!.headers['content-type']).toMatch(/^application\/feed\+json/);
    expect(subscriber.deliveries().at(-1)!.headers['x-hub-signature']).toBeUndefined();

    expect((await hubRequest(t, { ...fields, 'hub.mode': 'unsubscribe' })).statusCode).toBe(202);
    await until(async () => (await subscriptionsOf(feedId)).length === 0, 'the unsubscription');
    expect(new URL(subscriber.verifications().at(-1)!.url, 'http://x').searchParams.get('hub.mode')).toBe('unsubscribe');
    await publishNewStory(sourceId, 'After unsubscribing');
    await loop.tick();
    expect(subscriber.deliveries()).toHaveLength(delivered);
  });

  it('answers 4xx with a message for requests it cannot honour', async () => {
    const { urls } = await createFeed();
    const valid = { 'hub.mode': 'subscribe', 'hub.topic': urls.atom, 'hub.callback': subscriber.callback() };
    const cases: Array<[Record<string, string>, number, RegExp]> = [
      [{ ...valid, 'hub.mode': 'publish' }, 400, /hub\.mode/],
      [{ ...valid, 'hub.callback': 'ftp://subscriber.example/cb' }, 400, /hub\.callback/],
      [{ ...valid, 'hub.callback': 'not a url' }, 400, /hub\.callback/],
      [{ ...valid, 'hub.callback': 'http://user:pw@subscriber.example/cb' }, 400, /hub\.callback/],
      // A private address literal is refused before any verification.
      [{ ...valid, 'hub.callback': 'http://10.0.0.1/cb' }, 400, /Refused to connect to 10\.0\.0\.1/],
      [{ ...valid, 'hub.topic': 'https://elsewhere.example/feed.atom' }, 400, /hub\.topic/],
      [{ ...valid, 'hub.topic': `${urls.atom}?x=1` }, 400, /hub\.topic/],
      // A URL parser drops tabs and line breaks, trims spaces and maps a full-width host to ASCII:
      // these name the feed, but the string echoed back and sent in every delivery's Link header is
      // not its URL (and a line break or a full-width letter makes that header refused).
      [{ ...valid, 'hub.topic': `${urls.atom.slice(0, -5)}\t.atom` }, 400, /^hub\.topic must be written in printable ASCII/],
      [{ ...valid, 'hub.topic': `${urls.atom}\r\n` }, 400, /^hub\.topic must be written in printable ASCII/],
      [{ ...valid, 'hub.topic': ` ${urls.atom}` }, 400, /^hub\.topic must be written in printable ASCII/],
      [{ ...valid, 'hub.topic': urls.atom.replace('feeds', 'ｆｅｅｄｓ') }, 400, /^hub\.topic must be written in printable ASCII/],
      // RFC 3986 has these only percent-encoded. A parser encodes them, and a dot-segment then drops
      // the segment holding them, so the topic names the feed; but the string kept is each
      // delivery's self link, and its `>` would end that link and add links of its own.
      [{ ...valid, 'hub.topic': withDotSegment(urls.atom, 'x>;rel="alternate",<https:evil.example>;rel="x') }, 400, UNENCODED],
      ...['"', '\\', '^', '`', '{', '|', '}'].map((char): [Record<string, string>, number, RegExp] => [
        { ...valid, 'hub.topic': withDotSegment(urls.atom, `x${char}`) },
        400,
        UNENCODED,
      ]),
      [{ ...valid, 'hub.topic': `${PUBLIC_URL}/NoSuchTokenAtAll0123456.atom` }, 404, /^Feed at hub\.topic not found$/],
      [{ ...valid, 'hub.secret': 's'.repeat(200) }, 400, /hub\.secret/],
      [{ ...valid, 'hub.lease_seconds': 'soon' }, 400, /lease_seconds/],
      [{ 'hub.mode': 'subscribe', 'hub.topic': urls.atom }, 400, /hub\.callback/],
    ];
    const verificationsBefore = subscriber.verifications().length;
    for (const [fields, status, message] of cases) {
      const answer = await hubRequest(t, fields);
      expect(answer.statusCode, JSON.stringify(fields)).toBe(status);
      expect(answer.json().message).toMatch(message);
    }
    expect(subscriber.verifications()).toHaveLength(verificationsBefore);
    // The hub is public: no API key asked, and it is documented in the OpenAPI description.
    expect((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json().paths['/websub'].post.security).toEqual([]);
  });

  it('takes a topic percent-encoded as RFC 3986 writes it, and sends it back as given', async () => {
    const { sourceId, feedId, urls } = await createFeed();
    // The refused topic above, percent-encoded: it names the feed, and inside `<…>` it is inert.
    const topic = withDotSegment(urls.atom, 'x%3E;rel=%22alternate%22,%3Chttps:evil.example%3E;rel=%22x');
    const answer = await hubRequest(t, {
      'hub.mode': 'subscribe',
      'hub.topic': topic,
      'hub.callback': subscriber.callback('/callback?who=encoded'),
    });
    expect(answer.statusCode, answer.body).toBe(202);
    await until(async () => (await subscriptionsOf(feedId)).length === 1, 'the subscription');
    expect(new URL(subscriber.verifications().at(-1)!.url, 'http://x').searchParams.get('hub.topic')).toBe(topic);

    await publishNewStory(sourceId, 'To an encoded topic');
    await loop.tick();
    const delivery = subscriber.deliveries().find((sent) => sent.url === '/callback?who=encoded');
    expect(delivery!.body).toContain('To an encoded topic');
    expect(delivery!.headers.link).toBe(`<${PUBLIC_URL}/websub>; rel="hub", <${topic}>; rel="self"`);
  });

  it('refuses a callback whose name resolves to a private address, before connecting, and stores nothing', async () => {
    const { feedId, urls } = await createFeed();
    const unlisted = await startUpstream((_request, response) => void response.writeHead(200).end());
    try {
      const refusedBefore = await verificationCount(t, 'refused');
      const answer = await hubRequest(t, {
        'hub.mode': 'subscribe',
        'hub.topic': urls.atom,
        'hub.callback': `http://localhost:${unlisted.port}/cb`,
      });
      expect(answer.statusCode).toBe(202);
      await until(async () => (await verificationCount(t, 'refused')) === refusedBefore + 1, 'the refused verification');
      expect(unlisted.requests).toEqual([]);
      expect(await subscriptionsOf(feedId)).toEqual([]);
      expect(t.logs.join('')).toContain('FP_FORBIDDEN_ADDRESS');
    } finally {
      await unlisted.close();
    }
  });

  it("delivers a named subscriber URL's own document, and ends its subscriptions when that URL is revoked", async () => {
    const { sourceId, feedId, urls } = await createFeed();
    const token = await t.api(key, { method: 'POST', url: `/api/v1/feeds/${feedId}/tokens`, payload: { name: 'hub reader' } });
    expect(token.statusCode, token.body).toBe(201);
    const topic = token.json().urls.atom as string;
    expect(
      (await hubRequest(t, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': subscriber.callback('/callback?who=named') }))
        .statusCode,
    ).toBe(202);
    await until(async () => (await subscriptionsOf(feedId)).length === 1, 'the subscription');

    await publishNewStory(sourceId, 'For the named reader');
    await loop.tick();
    const delivery = subscriber.deliveries().at(-1)!;
    expect(delivery.url).toBe('/callback?who=named');
    expect(delivery.body).toBe((await t.app.inject({ method: 'GET', url: pathOf(topic) })).body);
    // Its own self link, never the feed's default URL.
    expect(delivery.body).toContain(topic);
    // …nor the default token anywhere (the .rss and .json alternate links included).
    expect(delivery.body).not.toContain(urls.atom.slice(`${PUBLIC_URL}/`.length, -'.atom'.length));
    expect(delivery.headers.link).toContain(`<${topic}>; rel="self"`);

    // Revoking the URL changes no published bytes; the loop's sweep ends the subscription.
    expect((await t.api(key, { method: 'DELETE', url: `/api/v1/feeds/${feedId}/tokens/${token.json().id}` })).statusCode).toBe(204);
    await sweepSubscriptions(t.deps, Date.now());
    expect(await subscriptionsOf(feedId)).toEqual([]);
    const resubscribe = await hubRequest(t, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': subscriber.callback() });
    expect(resubscribe.statusCode).toBe(404);
  });

  it('clamps the asked lease into the configured bounds', async () => {
    const { feedId, urls } = await createFeed();
    const leases: number[] = [];
    for (const [asked, callbackPath] of [
      ['5', '/callback?l=short'],
      ['99999999', '/callback?l=long'],
      [undefined, '/callback?l=none'],
    ] as const) {
      const fields: Record<string, string> = {
        'hub.mode': 'subscribe',
        'hub.topic': urls.atom,
        'hub.callback': subscriber.callback(callbackPath),
      };
      if (asked !== undefined) fields['hub.lease_seconds'] = asked;
      expect((await hubRequest(t, fields)).statusCode).toBe(202);
      await until(async () => (await subscriptionsOf(feedId)).length === leases.length + 1, 'the subscription');
      leases.push(Number(new URL(subscriber.verifications().at(-1)!.url, 'http://x').searchParams.get('hub.lease_seconds')));
    }
    expect(leases).toEqual([3600, 30 * 86_400, 10 * 86_400]);
    expect((await subscriptionsOf(feedId)).map((subscription) => subscription.leaseSeconds).sort((a, b) => a - b)).toEqual([
      3600,
      10 * 86_400,
      30 * 86_400,
    ]);
  });
});
