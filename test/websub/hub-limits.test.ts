// Issue 18, finding 1: what strangers can make the hub hold. Callbacks that answer 200 with
// megabytes and then stall used to pin each answer in memory for the whole fetch timeout (60 of
// them held ~1 GB), and an unsubscribe of a made-up topic was verified all the same. Measured here
// as bytes held (external memory after a full GC while the callbacks stall), not as time.
import type { ServerResponse } from 'node:http';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { countZlibStreams, gzipLayers } from '../helpers/content-codings.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { hubRequest, rssOf, until, verificationCount } from './subscriber.js';

const STALLED = 8;
const ANSWER_BYTES = 2 * 1024 * 1024;
const MiB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** External memory (Buffers) the process holds once garbage is collected. */
function heldBytes(): number {
  gc();
  gc();
  const { external, arrayBuffers } = process.memoryUsage();
  return Math.max(external, arrayBuffers);
}

describe('WebSub hub: what strangers can make it hold', () => {
  let upstream: Upstream;
  /** The attacker's callback: 200, a large answer, then never the end of it. */
  let attacker: Upstream;
  const stalled = new Set<ServerResponse>();
  let t: TestApp;
  let topic: string;

  beforeAll(async () => {
    upstream = await startUpstream(
      (_request, response) => void response.writeHead(200, { 'content-type': 'application/rss+xml' }).end(rssOf(['One'])),
    );
    attacker = await startUpstream((_request, response) => {
      stalled.add(response);
      response.on('close', () => stalled.delete(response));
      response.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'a');
      for (let sent = 0; sent < ANSWER_BYTES; sent += chunk.length) response.write(chunk);
    });
    t = await startTestApp({ allowPrivate: [upstream.hostPort, attacker.hostPort] });
    const key = await t.createUserKey();
    const source = await t.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
    const feed = await t.api(key, { method: 'POST', url: '/api/v1/feeds', payload: { title: 'Hub', sources: [source.json().id] } });
    topic = feed.json().urls.atom as string;
  });
  afterAll(async () => {
    // The attacker goes first: its stalled answers end, and so do the verifications waiting on them.
    await attacker?.close();
    await t?.close();
    await upstream?.close();
  });

  /** Waits until every callback connection ended or the hub had time to read what was sent. */
  async function settle(expectedRequests: number): Promise<void> {
    await until(() => attacker.requests.length >= expectedRequests, 'the callback requests');
    await until(() => stalled.size === 0, 'the hub to cut the callbacks off', 3000).catch(() => undefined);
  }

  it('answers 404 to an unsubscribe of a subscription it does not hold, and calls no callback', async () => {
    const before = heldBytes();
    const requestsBefore = attacker.requests.length;
    const answers = [];
    for (let n = 0; n < STALLED; n += 1) {
      answers.push(
        await hubRequest(t, {
          'hub.mode': 'unsubscribe',
          'hub.topic': `${PUBLIC_URL}/MadeUpTopicToken${n}0123456.atom`,
          'hub.callback': attacker.url(`/cb?n=${n}`),
        }),
      );
    }
    answers.push(
      await hubRequest(t, { 'hub.mode': 'unsubscribe', 'hub.topic': topic, 'hub.callback': attacker.url('/cb?never-subscribed') }),
    );
    await settle(requestsBefore);
    const held = heldBytes() - before;
    expect(held, `${(held / MiB).toFixed(1)} MiB held by ${STALLED} stalled unsubscribe verifications`).toBeLessThan(MiB);
    for (const answer of answers) {
      expect(answer.statusCode).toBe(404);
      expect(answer.json().message).toBe('This hub.callback has no subscription to this hub.topic: nothing to unsubscribe');
    }
    expect(attacker.requests.length).toBe(requestsBefore);
  });

  it('reads a few KiB of a verification answer, not megabytes', async () => {
    const before = heldBytes();
    const requestsBefore = attacker.requests.length;
    for (let n = 0; n < STALLED; n += 1) {
      const answer = await hubRequest(t, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': attacker.url(`/cb?s=${n}`) });
      expect(answer.statusCode).toBe(202);
    }
    await settle(requestsBefore + STALLED);
    const held = heldBytes() - before;
    // Each callback did send its 2 MiB: the hub read 4 KiB of it and hung up.
    expect(held, `${(held / MiB).toFixed(1)} MiB held by ${STALLED} stalled subscribe verifications`).toBeLessThan(MiB);
    expect(stalled.size).toBe(0);
  });

  it.each([
    ['gzipped once', 1],
    ['stacking 300 gzip layers', 300],
  ])('refuses a verification answer %s although identity was asked, and builds no decoder', async (_, layers) => {
    // The challenge compressed, each layer listed: the hub used to decode it — a zlib stream a layer
    // (a 16 KB header lists 3,200), each holding more than the verification budget charges — and verified.
    const zlibStreams = countZlibStreams();
    try {
      const asked: Array<string | undefined> = [];
      attacker.route(`/compressed-${layers}`, (request, response) => {
        asked.push(request.headers['accept-encoding']);
        const challenge = new URL(request.url ?? '/', 'http://callback').searchParams.get('hub.challenge') ?? '';
        const stacked = zlibStreams.uncounted(() => gzipLayers(challenge, layers));
        response.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': stacked.contentEncoding }).end(stacked.body);
      });
      const outcomes = async () => ({ verified: await verificationCount(t, 'verified'), refused: await verificationCount(t, 'refused') });
      const before = await outcomes();
      const answer = await hubRequest(t, {
        'hub.mode': 'subscribe',
        'hub.topic': topic,
        'hub.callback': attacker.url(`/compressed-${layers}`),
      });
      expect(answer.statusCode).toBe(202);
      await until(async () => {
        const now = await outcomes();
        return now.verified + now.refused > before.verified + before.refused;
      }, 'the verification');

      expect(asked).toEqual(['identity']);
      expect({ ...(await outcomes()), zlibStreams: zlibStreams.created() }).toEqual({
        ...before,
        refused: before.refused + 1,
        zlibStreams: 0,
      });
    } finally {
      zlibStreams.stop();
    }
  });

  it('bounds the verifications one address (an IPv6 /64) has pending, and leaves other addresses theirs', async () => {
    // This callback answers nothing at all: each verification stays pending until the attacker closes.
    const hanging = await startUpstream(() => undefined);
    const hangingApp = await startTestApp({ allowPrivate: [upstream.hostPort, hanging.hostPort] });
    try {
      const key = await hangingApp.createUserKey();
      const source = await hangingApp.api(key, { method: 'POST', url: '/api/v1/sources', payload: { url: upstream.url('/feed') } });
      const feed = await hangingApp.api(key, {
        method: 'POST',
        url: '/api/v1/feeds',
        payload: { title: 'Hub', sources: [source.json().id] },
      });
      const hangingTopic = feed.json().urls.atom as string;
      const post = (n: number, remoteAddress: string) =>
        hangingApp.app.inject({
          method: 'POST',
          url: '/websub',
          remoteAddress,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({
            'hub.mode': 'subscribe',
            'hub.topic': hangingTopic,
            'hub.callback': hanging.url(`/cb?n=${n}`),
          }).toString(),
        });
      const statuses: number[] = [];
      // Every request from another address of the same /64.
      for (let n = 0; n < 30; n += 1) statuses.push((await post(n, `2001:db8:7:7::${(n + 1).toString(16)}`)).statusCode);
      const accepted = statuses.filter((status) => status === 202).length;
      expect(accepted, statuses.join(' ')).toBeGreaterThan(0);
      expect(accepted).toBeLessThanOrEqual(12);
      const refused = await post(99, '2001:db8:7:7:ffff::1');
      expect(refused.statusCode).toBe(429);
      expect(refused.json().message).toBe('Too many requests: subscription requests from this address are being verified; retry shortly');
      expect(refused.headers['retry-after']).toBeDefined();
      // Another address still gets its verification.
      expect((await post(100, '2001:db8:8::1')).statusCode).toBe(202);
      expect((await post(101, '198.51.100.7')).statusCode).toBe(202);
    } finally {
      await hanging.close();
      await hangingApp.close();
    }
  });

  it('counts an IPv6 /64 as one address in the hub rate limit', async () => {
    const limit = t.deps.config.websub.requestsPerMinute;
    const statuses: number[] = [];
    // Plainly bad requests (400) cost no verification but still count against the limit.
    for (let n = 0; n <= limit; n += 1) {
      const answer = await t.app.inject({
        method: 'POST',
        url: '/websub',
        remoteAddress: `2001:db8:99:1:${(n + 1).toString(16)}::1`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'hub.mode=publish&hub.topic=x&hub.callback=x',
      });
      statuses.push(answer.statusCode);
    }
    expect(statuses.slice(0, limit).every((status) => status === 400)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });
});
