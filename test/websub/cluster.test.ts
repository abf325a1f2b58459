// Two instances sharing one Redis prefix: a subscription made through A is known to B, and when
// both run their delivery loops each new version reaches the subscriber exactly once in total.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeliveryLoop, type DeliveryLoop } from '../../src/websub/delivery-loop.js';
import { subscriptionIdsOfFeed } from '../../src/websub/subscriptions.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { deleteRedisKeys, randomSecretKey, REDIS_SKIP_REASON, redisAvailable, uniqueRedisPrefix } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { expectSignedBy, hubRequest, rssOf, startSubscriber, until, type Subscriber } from './subscriber.js';

const SECRET = 'cluster-SECRET-p3Wm';

describe.skipIf(!redisAvailable)(`WebSub on two instances sharing Redis${REDIS_SKIP_REASON ? ` (${REDIS_SKIP_REASON})` : ''}`, () => {
  const prefix = uniqueRedisPrefix();
  const env = { FEEDPROXY_STORE_PREFIX: prefix, FEEDPROXY_SECRET_KEY: randomSecretKey() };
  const titles = ['One'];
  let upstream: Upstream;
  let subscriber: Subscriber;
  let a: TestApp;
  let b: TestApp;
  let loops: DeliveryLoop[] = [];

  beforeAll(async () => {
    upstream = await startUpstream(
      (_request, response) => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(rssOf(titles)),
    );
    subscriber = await startSubscriber();
    const options = { store: 'redis' as const, env, allowPrivate: [upstream.hostPort, subscriber.server.hostPort] };
    [a, b] = await Promise.all([startTestApp(options), startTestApp(options)]);
    loops = [startDeliveryLoop(a.deps, { timer: false }), startDeliveryLoop(b.deps, { timer: false })];
  });
  afterAll(async () => {
    await Promise.all(loops.map((loop) => loop.stop()));
    await a?.close();
    await b?.close();
    await subscriber?.close();
    await upstream?.close();
    await deleteRedisKeys(prefix);
  });

  it('delivers each version once across both delivery loops', async () => {
    const key = await a.createUserKey();
    const source = await a.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const feed = await a.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Clustered', sources: [source.json().id] } });
    const feedId = feed.json().id as string;
    const answer = await hubRequest(a, {
      'hub.mode': 'subscribe',
      'hub.topic': feed.json().urls.rss,
      'hub.callback': subscriber.callback(),
      'hub.secret': SECRET,
    });
    expect(answer.statusCode).toBe(202);
    // Subscribed through A, visible to B.
    await until(async () => (await subscriptionIdsOfFeed(b.deps, feedId)).length === 1, 'the subscription, seen from B');

    // Slow answers keep a delivery in flight while the other loop looks at the same due set.
    subscriber.deliveryDelayMs = 150;
    for (const [round, title] of ['Two', 'Three', 'Four'].entries()) {
      titles.push(title);
      // Refreshed through B this time, through A the next.
      const refreshed = await (round % 2 ? a : b).api(key, { method: 'POST', url: `/api/v1/sources/${source.json().id}/refresh` });
      expect(refreshed.json().status).toBe('ok');
      for (let tick = 0; tick < 3; tick += 1) await Promise.all(loops.map((loop) => loop.tick()));
      expect(subscriber.deliveries(), `after publishing ${title}`).toHaveLength(round + 1);
      expect(subscriber.deliveries()[round]!.body).toContain(title);
      expectSignedBy(subscriber.deliveries()[round]!, SECRET);
    }
    // Both instances really ran deliveries: one delivered, the other found it busy or already sent.
    const outcomes = async (t: TestApp) =>
      (await t.deps.metrics.websubDeliveries.get()).values
        .filter((value) => value.labels.outcome === 'delivered')
        .reduce((sum, value) => sum + value.value, 0);
    expect((await outcomes(a)) + (await outcomes(b))).toBe(3);
  });
});
