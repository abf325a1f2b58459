// Delivery policy with a clock the test moves: exponential backoff then drop, 410 drops at once,
// lapsed leases and revoked topics end subscriptions, and subscriptions survive a restart.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeliveryLoop } from '../../src/websub/delivery-loop.js';
import { getSubscriptions, putSubscriptionRecord, subscriptionIdsOfFeed, type Subscription } from '../../src/websub/subscriptions.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { repeatBody, startUpstream, type StreamStats, type Upstream } from '../helpers/upstream.js';
import { expectSignedBy, hubRequest, rssOf, startSubscriber, until, type Subscriber } from './subscriber.js';

const MINUTE = 60_000;
const SECRET = 'restart-SECRET-Zx81';

describe('WebSub delivery policy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'feedproxy-websub-'));
  const configFile = join(dir, 'feedproxy.yaml');
  let clock = Date.parse('2026-03-02T08:00:00Z');
  let upstream: Upstream;
  let subscriber: Subscriber;
  let t: TestApp;
  let key: string;
  const titles = ['First'];

  const start = () =>
    startTestApp({
      dir,
      env: { FEEDPROXY_CONFIG: configFile },
      allowPrivate: [upstream.hostPort, subscriber.server.hostPort],
      overrides: { now: () => new Date(clock) },
    });

  beforeAll(async () => {
    // Small bounds, so the whole backoff schedule runs in a few ticks: 1 min, 2, 4, then drop.
    writeFileSync(
      configFile,
      'websub:\n  retryBaseSeconds: 60\n  retryMaxSeconds: 180\n  maxAttempts: 4\n  requestsPerMinute: 12\n  maxSubscriptionsPerFeed: 1\n',
    );
    upstream = await startUpstream(
      (_request, response) => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(rssOf(titles)),
    );
    subscriber = await startSubscriber();
    t = await start();
    key = await t.createUserKey();
  });
  afterAll(async () => {
    await t?.close();
    await subscriber?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function subscribedFeed(callbackPath: string, extra: Record<string, string> = {}) {
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url(`/feed?n=${callbackPath}`) } });
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Policy', sources: [source.json().id] } });
    const feedId = feed.json().id as string;
    const answer = await hubRequest(t, {
      'hub.mode': 'subscribe',
      'hub.topic': feed.json().urls.atom,
      'hub.callback': subscriber.callback(callbackPath),
      ...extra,
    });
    expect(answer.statusCode, answer.body).toBe(202);
    await until(async () => (await subscriptionsOf(feedId)).length === 1, 'the subscription');
    return { sourceId: source.json().id as string, feedId, urls: feed.json().urls as Record<'atom' | 'rss' | 'json', string> };
  }
  const subscriptionsOf = async (feedId: string): Promise<Subscription[]> =>
    getSubscriptions(t.deps, await subscriptionIdsOfFeed(t.deps, feedId));
  async function publish(sourceId: string, title: string) {
    titles.push(title);
    expect((await t.api(key, { method: 'POST', url: `/api/v1/sources/${sourceId}/refresh` })).json().status).toBe('ok');
  }
  /** Deliveries the subscriber saw to one callback path. */
  const attemptsAt = (path: string) => subscriber.deliveries().filter((delivery) => delivery.url === path).length;

  it('retries a failing callback after 1, 2 and 3 (capped) minutes, then drops the subscription', async () => {
    const { sourceId, feedId } = await subscribedFeed('/callback?who=failing');
    const loop = startDeliveryLoop(t.deps, { timer: false });
    try {
      subscriber.deliveryStatus = 503;
      await publish(sourceId, 'Will fail');
      await loop.tick();
      expect(attemptsAt('/callback?who=failing')).toBe(1);
      // Waits: 1 min after the 1st failure, 2 after the 2nd, 3 (the cap) after the 3rd.
      for (const [waitMinutes, attempts] of [
        [1, 2],
        [2, 3],
        [3, 4],
      ] as const) {
        clock += waitMinutes * MINUTE - 1000;
        await loop.tick();
        expect(attemptsAt('/callback?who=failing'), `not before ${waitMinutes} min`).toBe(attempts - 1);
        clock += 1000;
        await loop.tick();
        expect(attemptsAt('/callback?who=failing'), `after ${waitMinutes} min`).toBe(attempts);
        if (attempts < 4) expect((await subscriptionsOf(feedId))[0]!.failures).toBe(attempts);
      }
      // The 4th failure was the last allowed: the subscription is gone, and nothing more is sent.
      expect(await subscriptionsOf(feedId)).toEqual([]);
      clock += 60 * MINUTE;
      await publish(sourceId, 'After the drop');
      await loop.tick();
      expect(attemptsAt('/callback?who=failing')).toBe(4);
    } finally {
      subscriber.deliveryStatus = 204;
      await loop.stop();
    }
  });

  it('recovers after a failure: the next attempt delivers the newest version and resets the count', async () => {
    const { sourceId, feedId } = await subscribedFeed('/callback?who=flaky');
    const loop = startDeliveryLoop(t.deps, { timer: false });
    try {
      subscriber.deliveryStatuses.push(500);
      await publish(sourceId, 'Flaky one');
      await loop.tick();
      expect((await subscriptionsOf(feedId))[0]!.failures).toBe(1);
      await publish(sourceId, 'Flaky two');
      clock += MINUTE;
      await loop.tick();
      const deliveries = subscriber.deliveries().filter((delivery) => delivery.url === '/callback?who=flaky');
      expect(deliveries).toHaveLength(2);
      expect(deliveries[1]!.body).toContain('Flaky two');
      expect((await subscriptionsOf(feedId))[0]).toMatchObject({ failures: 0 });
      expect((await subscriptionsOf(feedId))[0]!.retryAt).toBeUndefined();
    } finally {
      await loop.stop();
    }
  });

  it('judges a delivery by its status alone: a 200 with 64 MiB after it is delivered, and not read', async () => {
    // The answer's body is nobody's business: it used to be read (and decoded) up to the 16 MiB
    // fetch cap, and past it the delivery failed, to be retried 8 times.
    const answer: StreamStats = { bytesSent: 0, finished: false };
    let answerClosed = false;
    subscriber.server.route('/chatty', (request, response) => {
      if (request.method === 'GET') {
        const challenge = new URL(request.url ?? '/', 'http://subscriber').searchParams.get('hub.challenge') ?? '';
        return void response.writeHead(200, { 'content-type': 'text/plain' }).end(challenge);
      }
      response.on('close', () => (answerClosed = true));
      return repeatBody(Buffer.alloc(64 * 1024, 'a'), 1024, { 'content-type': 'text/plain' }, answer)(request, response);
    });
    const { sourceId, feedId } = await subscribedFeed('/chatty');
    const loop = startDeliveryLoop(t.deps, { timer: false });
    try {
      await publish(sourceId, 'To a chatty callback');
      await loop.tick();
      await until(() => answerClosed, 'the hub to hang up');

      const [subscription] = await subscriptionsOf(feedId);
      expect(subscription).toMatchObject({ failures: 0 });
      expect(subscription!.deliveredEtag).toBeDefined();
      expect(answer.finished).toBe(false);
      // What the callback got into the socket before the hub hung up: buffers, not the 16 MiB cap.
      expect(answer.bytesSent).toBeLessThan(16 * 1024 * 1024);
      // Neither the verification nor the delivery asks for a compressed answer.
      const sent = subscriber.server.requests.filter((request) => request.url === '/chatty' || request.url.startsWith('/chatty?'));
      expect(sent.map((request) => [request.method, request.headers['accept-encoding']])).toEqual([
        ['GET', 'identity'],
        ['POST', 'identity'],
      ]);
    } finally {
      await loop.stop();
    }
  });

  it('drops a subscription at once when the callback answers 410 Gone', async () => {
    const { sourceId, feedId } = await subscribedFeed('/callback?who=gone');
    const loop = startDeliveryLoop(t.deps, { timer: false });
    try {
      subscriber.deliveryStatuses.push(410);
      await publish(sourceId, 'Gone');
      await loop.tick();
      expect(attemptsAt('/callback?who=gone')).toBe(1);
      expect(await subscriptionsOf(feedId)).toEqual([]);
    } finally {
      await loop.stop();
    }
  });

  it('ends a subscription when its lease lapses or its topic token is revoked', async () => {
    const leased = await subscribedFeed('/callback?who=leased', { 'hub.lease_seconds': '3600' });
    const revoked = await subscribedFeed('/callback?who=revoked');
    const loop = startDeliveryLoop(t.deps, { timer: false });
    try {
      // Revoking the topic's token (a rotation) ends the subscription at the next delivery.
      expect((await t.api(key, { method: 'POST', url: `/api/v1/feeds/${revoked.feedId}/rotate` })).statusCode).toBe(200);
      await loop.tick();
      expect(await subscriptionsOf(revoked.feedId)).toEqual([]);
      expect(attemptsAt('/callback?who=revoked')).toBe(0);

      // The lease lapses an hour on: the sweep drops it though nothing was published.
      expect(await subscriptionsOf(leased.feedId)).toHaveLength(1);
      clock += 3600_000;
      await loop.tick();
      expect(await subscriptionsOf(leased.feedId)).toEqual([]);
      await publish(leased.sourceId, 'After the lease');
      await loop.tick();
      expect(attemptsAt('/callback?who=leased')).toBe(0);
    } finally {
      await loop.stop();
    }
  });

  it('drops a subscription whose stored topic the topic rules now refuse, before any attempt', async () => {
    // Accepted before the rules (the URL parser drops the line break, so it named one of our feeds):
    // sent as is in each delivery's Link header, which refuses it, so every attempt failed.
    const { sourceId, feedId, urls } = await subscribedFeed('/callback?who=old-topic');
    const [stored] = await subscriptionsOf(feedId);
    const topic = urls.atom.replace(/\/([^/]+)$/, '/\n$1');
    await putSubscriptionRecord(t.deps, { ...stored!, topic });
    // Positive control: the record holds that topic, and it still names the feed.
    expect((await subscriptionsOf(feedId))[0]!.topic).toBe(topic);
    expect(new URL(topic).href).toBe(urls.atom);
    const loop = startDeliveryLoop(t.deps, { timer: false });
    try {
      await publish(sourceId, 'For the old topic');
      await loop.tick();
      expect(await subscriptionsOf(feedId)).toEqual([]);
      expect(attemptsAt('/callback?who=old-topic')).toBe(0);
    } finally {
      await loop.stop();
    }
  });

  it('bounds the subscribers of one feed; a renewal of an existing one still passes', async () => {
    const { feedId, urls } = await subscribedFeed('/callback?who=first', { 'hub.lease_seconds': '3600' });
    const another = await hubRequest(t, {
      'hub.mode': 'subscribe',
      'hub.topic': urls.atom,
      'hub.callback': subscriber.callback('/callback?who=second'),
    });
    expect(another.statusCode).toBe(429);
    expect(another.json().message).toMatch(/subscribers/);
    const renewal = await hubRequest(t, {
      'hub.mode': 'subscribe',
      'hub.topic': urls.atom,
      'hub.callback': subscriber.callback('/callback?who=first'),
      'hub.lease_seconds': '7200',
    });
    expect(renewal.statusCode).toBe(202);
    await until(async () => (await subscriptionsOf(feedId))[0]?.leaseSeconds === 7200, 'the renewed lease');
    expect(await subscriptionsOf(feedId)).toHaveLength(1);
  });

  it('keeps subscriptions, their secrets and pending deliveries across a restart', async () => {
    const { sourceId, feedId } = await subscribedFeed('/callback?who=restart', { 'hub.secret': SECRET });
    // Published while no delivery loop runs (a cron refresh, say): the delivery is owed durably.
    await publish(sourceId, 'Published before the restart');
    await t.close();
    t = await start();
    expect(await subscriptionsOf(feedId)).toHaveLength(1);
    const loop = startDeliveryLoop(t.deps, { timer: false });
    try {
      await loop.tick();
      const deliveries = subscriber.deliveries().filter((delivery) => delivery.url === '/callback?who=restart');
      expect(deliveries).toHaveLength(1);
      expect(deliveries[0]!.body).toContain('Published before the restart');
      expectSignedBy(deliveries[0]!, SECRET);
    } finally {
      await loop.stop();
    }
  });

  // Last: it uses up this client's hub requests for the minute (the restart above reset the count).
  it('rate-limits hub requests per client address', async () => {
    const answers = [];
    for (let request = 0; request < 13; request += 1) answers.push(await hubRequest(t, { 'hub.mode': 'publish' }));
    expect(answers.map((answer) => answer.statusCode)).toEqual([...Array(12).fill(400), 429]);
    expect(answers.at(-1)!.json().error).toBe('FP_RATE_LIMITED');
  });
});
