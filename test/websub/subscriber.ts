// A WebSub subscriber for the tests: a real node:http callback on 127.0.0.1, port 0. It answers the
// hub's verification GET as told (echo the challenge, echo something else, refuse) and records and
// answers each content delivery POST as told.
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { expect } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { PUBLIC_URL } from '../helpers/app.js';
import { startUpstream, type RecordedRequest, type Upstream } from '../helpers/upstream.js';

export interface Delivery {
  /** Path and query of the callback it was sent to. */
  url: string;
  body: string;
  headers: IncomingHttpHeaders;
}

export interface Subscriber {
  server: Upstream;
  /** Callback URL; `path` may carry a query of the subscriber's own. */
  callback(path?: string): string;
  /** How the next verifications are answered. */
  verification: 'echo' | 'wrong' | 'refuse';
  /** Status of the next delivery answers (one per delivery, then `deliveryStatus`). */
  deliveryStatuses: number[];
  deliveryStatus: number;
  /** Milliseconds a delivery answer is held back (to make two hubs race). */
  deliveryDelayMs: number;
  verifications(): RecordedRequest[];
  deliveries(): Delivery[];
  close(): Promise<void>;
}

export async function startSubscriber(): Promise<Subscriber> {
  const server = await startUpstream();
  const subscriber: Subscriber = {
    server,
    callback: (path = '/callback') => server.url(path),
    verification: 'echo',
    deliveryStatuses: [],
    deliveryStatus: 204,
    deliveryDelayMs: 0,
    verifications: () => server.requests.filter((request) => request.method === 'GET'),
    deliveries: () =>
      server.requests.filter((request) => request.method === 'POST').map(({ url, body, headers }) => ({ url, body, headers })),
    close: () => server.close(),
  };
  server.route('/callback', async (request, response) => {
    if (request.method === 'GET') {
      const challenge = new URL(request.url ?? '/', 'http://subscriber').searchParams.get('hub.challenge') ?? '';
      if (subscriber.verification === 'refuse') return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'text/plain' }).end(subscriber.verification === 'echo' ? challenge : `${challenge}x`);
      return;
    }
    if (subscriber.deliveryDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, subscriber.deliveryDelayMs));
    response.writeHead(subscriber.deliveryStatuses.shift() ?? subscriber.deliveryStatus).end();
  });
  return subscriber;
}

/** POST /websub, form-encoded, as a subscriber sends it. */
export function hubRequest(t: TestApp, fields: Record<string, string>) {
  return t.app.inject({
    method: 'POST',
    url: '/websub',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(fields).toString(),
  });
}

/** WebSub §8: X-Hub-Signature is sha256=<hex HMAC-SHA256 of the body with the secret>. */
export function expectSignedBy(delivery: Delivery, secret: string): void {
  const expected = `sha256=${createHmac('sha256', secret).update(delivery.body, 'utf8').digest('hex')}`;
  expect(delivery.headers['x-hub-signature']).toBe(expected);
}

/** Waits until `check` holds (verification runs after the 202). */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Verifications the app counted with this outcome. */
export async function verificationCount(t: TestApp, outcome: string): Promise<number> {
  const metric = await t.deps.metrics.websubVerifications.get();
  return metric.values.filter((value) => value.labels.outcome === outcome).reduce((sum, value) => sum + value.value, 0);
}

export function pathOf(url: string): string {
  return url.slice(PUBLIC_URL.length);
}

/** An upstream RSS feed whose items the test adds to. */
export function rssOf(titles: string[]): string {
  const items = titles.map(
    (title, index) =>
      `<item><guid isPermaLink="false">item-${index}</guid><title>${title}</title><pubDate>${new Date(Date.UTC(2026, 2, 2) + index * 3_600_000).toUTCString()}</pubDate></item>`,
  );
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>Upstream</title><link>https://news.example/</link><description>d</description>${items.join('')}</channel></rss>`;
}
