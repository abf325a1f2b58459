// fetchFeed against real local upstreams: conditional GET, status mapping, redirects, signing.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FeedRequest } from '../../src/fetch/types.js';
import { readFixture, redirect, serveBody, serveFixture, startUpstream, status, type Upstream } from '../helpers/upstream.js';
import { makeFetcher } from './harness.js';

const FEED = 'feeds/netflix-queue.atom';
const ETAG = '"v2"';
const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';
const EARLIER = 'Tue, 20 Oct 2015 07:28:00 GMT';

let upstream: Upstream;
beforeEach(async () => {
  upstream = await startUpstream();
});
afterEach(async () => {
  await upstream.close();
});

describe('conditional GET', () => {
  // What feedproxy does, with an upstream whose answer is fixed per row (it never looks at the
  // request's validators), so every assertion is about our side: RFC 9110 §13.1.1/§13.1.3, the
  // stored validators go out verbatim (a weak ETag keeps its W/, §8.8.3), both when both are stored
  // (the server decides which wins, §13.2.2); a 304 is "not modified" and keeps the stored ones
  // unless it sends new ones (RFC 9111 §4.3.4); a 200 is read in full whatever we sent, and its own
  // validators, or none, replace the stored ones: an old ETag kept beside a new body would make the
  // next 304 stand for a document we never stored.
  const NEW_ETAG = '"v3"';
  const NEWER = 'Thu, 22 Oct 2015 07:28:00 GMT';
  type Answer = { status: 200 | 304; etag?: string; lastModified?: string };
  const cases: Array<{
    name: string;
    stored: { etag?: string; lastModified?: string };
    answer: Answer;
    kind: 'ok' | 'not-modified';
    next: { etag?: string; lastModified?: string };
  }> = [
    {
      name: 'nothing stored: no conditional headers, the 200 gives the validators',
      stored: {},
      answer: { status: 200, etag: ETAG, lastModified: LAST_MODIFIED },
      kind: 'ok',
      next: { etag: ETAG, lastModified: LAST_MODIFIED },
    },
    {
      name: 'stored ETag: If-None-Match alone, a 304 keeps it',
      stored: { etag: ETAG },
      answer: { status: 304, etag: ETAG },
      kind: 'not-modified',
      next: { etag: ETAG },
    },
    {
      name: 'stored weak ETag goes out as stored, W/ and all',
      stored: { etag: `W/${ETAG}` },
      answer: { status: 304 },
      kind: 'not-modified',
      next: { etag: `W/${ETAG}` },
    },
    {
      name: 'stored date only: If-Modified-Since alone',
      stored: { lastModified: LAST_MODIFIED },
      answer: { status: 304 },
      kind: 'not-modified',
      next: { lastModified: LAST_MODIFIED },
    },
    {
      name: 'both stored: both sent, a bare 304 keeps both',
      stored: { etag: ETAG, lastModified: LAST_MODIFIED },
      answer: { status: 304 },
      kind: 'not-modified',
      next: { etag: ETAG, lastModified: LAST_MODIFIED },
    },
    {
      name: 'both stored, the upstream answers 200 anyway: read in full, its validators replace ours',
      stored: { etag: ETAG, lastModified: EARLIER },
      answer: { status: 200, etag: NEW_ETAG, lastModified: NEWER },
      kind: 'ok',
      next: { etag: NEW_ETAG, lastModified: NEWER },
    },
    {
      name: 'a 200 without validators drops the stored ones',
      stored: { etag: ETAG, lastModified: LAST_MODIFIED },
      answer: { status: 200 },
      kind: 'ok',
      next: {},
    },
  ];
  it.each(cases)('$name', async ({ stored, answer, kind, next }) => {
    upstream.route('/feed', (_request, response) => {
      const headers: Record<string, string> = { 'cache-control': 'public, max-age=600' };
      if (answer.etag !== undefined) headers.etag = answer.etag;
      if (answer.lastModified !== undefined) headers['last-modified'] = answer.lastModified;
      if (answer.status === 304) return void response.writeHead(304, headers).end();
      const body = readFixture(FEED);
      response
        .writeHead(200, { ...headers, 'content-type': 'application/atom+xml; charset=utf-8', 'content-length': String(body.length) })
        .end(body);
    });
    const { fetcher } = makeFetcher([upstream.hostPort]);

    const response = await fetcher.fetchFeed({ url: upstream.url('/feed'), ...stored });

    expect(upstream.requests).toHaveLength(1);
    const [sent] = upstream.requests;
    expect(sent?.headers['if-none-match']).toBe(stored.etag);
    expect(sent?.headers['if-modified-since']).toBe(stored.lastModified);
    expect(response.kind).toBe(kind);
    // The validators to store for next time, and the freshness the upstream asked for (RFC 9111 §5.2.2.1).
    expect({ etag: response.etag, lastModified: response.lastModified }).toEqual(next);
    expect(response).toMatchObject({ maxAgeSeconds: 600, finalUrl: upstream.url('/feed') });
    if (response.kind === 'ok') {
      expect(response.status).toBe(200);
      expect(response.body.equals(readFixture(FEED))).toBe(true);
      expect(response.contentType).toBe('application/atom+xml; charset=utf-8');
    }
  });

  it('keeps the previous validators when a 304 carries none (RFC 9111 §4.3.4)', async () => {
    upstream.route('/feed', (_request, response) => void response.writeHead(304).end());
    const { fetcher } = makeFetcher([upstream.hostPort]);

    const response = await fetcher.fetchFeed({ url: upstream.url('/feed'), etag: '"old"', lastModified: EARLIER });

    expect(response).toMatchObject({ kind: 'not-modified', etag: '"old"', lastModified: EARLIER });
  });

  it('takes the new validators a 304 sends', async () => {
    upstream.route('/feed', (_request, response) => void response.writeHead(304, { etag: '"new"' }).end());
    const { fetcher } = makeFetcher([upstream.hostPort]);

    const response = await fetcher.fetchFeed({ url: upstream.url('/feed'), etag: '"old"', lastModified: EARLIER });

    expect(response).toMatchObject({ kind: 'not-modified', etag: '"new"', lastModified: EARLIER });
  });

  it('sends our User-Agent, a feed Accept and the codings it decodes', async () => {
    upstream.route('/feed', serveFixture(FEED));
    const { fetcher } = makeFetcher([upstream.hostPort]);

    await fetcher.fetchFeed({ url: upstream.url('/feed'), headers: { 'X-Extra': 'yes' } });

    const headers = upstream.requests[0]?.headers;
    expect(headers?.['user-agent']).toBe('feedproxy-test/1.0');
    expect(headers?.accept).toMatch(/^application\/atom\+xml, application\/rss\+xml/);
    expect(headers?.['accept-encoding']).toBe('gzip, deflate, br');
    expect(headers?.['x-extra']).toBe('yes');
  });
});

describe('upstream statuses', () => {
  // HTTP-dates have whole seconds: rounding down keeps the wait at or under an hour.
  const inAnHour = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000).toUTCString();
  // RFC 9110 §15: anything but 2xx/304 fails with the status; §10.2.3 and RFC 6585 §4: Retry-After
  // (delay-seconds or HTTP-date) is read on 429 and 503 only.
  const cases: Array<{ code: number; retryAfter?: string; expectRetry: (ms: number | undefined) => boolean }> = [
    { code: 404, expectRetry: (ms) => ms === undefined },
    { code: 410, expectRetry: (ms) => ms === undefined },
    { code: 500, expectRetry: (ms) => ms === undefined },
    { code: 500, retryAfter: '60', expectRetry: (ms) => ms === undefined },
    { code: 401, expectRetry: (ms) => ms === undefined },
    { code: 204, expectRetry: (ms) => ms === undefined },
    { code: 429, retryAfter: '120', expectRetry: (ms) => ms === 120_000 },
    { code: 503, retryAfter: '7', expectRetry: (ms) => ms === 7000 },
    { code: 503, retryAfter: inAnHour, expectRetry: (ms) => ms !== undefined && ms > 3_500_000 && ms <= 3_600_000 },
    { code: 429, retryAfter: 'later', expectRetry: (ms) => ms === undefined },
    { code: 503, expectRetry: (ms) => ms === undefined },
  ];
  it.each(cases)('HTTP $code with Retry-After $retryAfter', async ({ code, retryAfter, expectRetry }) => {
    upstream.route('/feed', status(code, { retryAfter, body: 'nope' }));
    const { fetcher } = makeFetcher([upstream.hostPort]);

    const error = await fetcher.fetchFeed({ url: upstream.url('/feed?feed_token=s3cr3t') }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'FP_UPSTREAM_HTTP', upstreamStatus: code, statusCode: 422 });
    expect(expectRetry((error as { retryAfterMs?: number }).retryAfterMs)).toBe(true);
    expect((error as Error).message).toBe(`Upstream answered HTTP ${code} from ${upstream.hostPort}`);
  });
});

describe('redirects', () => {
  // RFC 9110 §15.4: 301 and 308 are permanent (the stored URL should change), 302/303/307 are not.
  const chains: Array<{ name: string; codes: Array<301 | 302 | 303 | 307 | 308>; permanent: boolean }> = [
    { name: 'no redirect', codes: [], permanent: false },
    { name: '301', codes: [301], permanent: true },
    { name: '301 → 308', codes: [301, 308], permanent: true },
    { name: '308 → 302', codes: [308, 302], permanent: false },
    { name: '307', codes: [307], permanent: false },
    { name: '303 → 301', codes: [303, 301], permanent: false },
  ];
  it.each(chains)('$name', async ({ codes, permanent }) => {
    codes.forEach((code, index) =>
      upstream.route(`/hop${index}`, redirect(code, index === codes.length - 1 ? '/feed' : `/hop${index + 1}`)),
    );
    upstream.route('/feed', serveFixture(FEED));
    const { fetcher } = makeFetcher([upstream.hostPort]);

    const response = await fetcher.fetchFeed({ url: upstream.url(codes.length > 0 ? '/hop0' : '/feed') });

    expect(response).toMatchObject({ kind: 'ok', finalUrl: upstream.url('/feed') });
    expect(response.permanentUrl).toBe(permanent ? upstream.url('/feed') : undefined);
    expect(upstream.requests).toHaveLength(codes.length + 1);
  });

  it('resolves a relative Location against the hop it came from', async () => {
    upstream.route('/a/b/old', redirect(301, '../feed?x=1'));
    upstream.route('/a/feed', serveFixture(FEED));
    const { fetcher } = makeFetcher([upstream.hostPort]);

    const response = await fetcher.fetchFeed({ url: upstream.url('/a/b/old') });

    expect(response.finalUrl).toBe(upstream.url('/a/feed?x=1'));
  });

  // PRODUCT.md fetching limits: 5 redirects by default.
  const lengths: Array<[number, number, 'ok' | 'FP_TOO_MANY_REDIRECTS']> = [
    [5, 5, 'ok'],
    [6, 5, 'FP_TOO_MANY_REDIRECTS'],
    [1, 0, 'FP_TOO_MANY_REDIRECTS'],
  ];
  it.each(lengths)('%i redirects with maxRedirects %i → %s', async (hops, maxRedirects, outcome) => {
    upstream.route('/feed', serveFixture(FEED));
    for (let index = 1; index <= hops; index += 1) upstream.route(`/r${index}`, redirect(302, index === 1 ? '/feed' : `/r${index - 1}`));
    const { fetcher } = makeFetcher([upstream.hostPort], { maxRedirects });

    const result = await fetcher.fetchFeed({ url: upstream.url(`/r${hops}`) }).then(
      (response) => response.kind,
      (error: { code: string }) => error.code,
    );

    expect(result).toBe(outcome);
    expect(upstream.requests).toHaveLength(Math.min(hops, maxRedirects) + 1);
  });

  it('refuses a redirect to a non-http scheme', async () => {
    upstream.route('/feed', redirect(302, 'file:///etc/passwd'));
    const { fetcher } = makeFetcher([upstream.hostPort]);

    await expect(fetcher.fetchFeed({ url: upstream.url('/feed') })).rejects.toMatchObject({ code: 'FP_INVALID_URL' });
  });

  it('calls sign() once per hop with that hop’s URL and sends its headers there', async () => {
    upstream.route('/a', redirect(301, '/b?page=2'));
    upstream.route('/b', redirect(307, '/feed'));
    upstream.route('/feed', serveFixture(FEED));
    const { fetcher } = makeFetcher([upstream.hostPort]);
    const signed: string[] = [];
    const request: FeedRequest = {
      url: upstream.url('/a'),
      sign: ({ method, url }) => {
        signed.push(`${method} ${url}`);
        return { Authorization: `OAuth oauth_nonce="${signed.length}"` };
      },
    };

    await fetcher.fetchFeed(request);

    expect(signed).toEqual([`GET ${upstream.url('/a')}`, `GET ${upstream.url('/b?page=2')}`, `GET ${upstream.url('/feed')}`]);
    expect(upstream.requests.map((sent) => sent.headers.authorization)).toEqual([
      'OAuth oauth_nonce="1"',
      'OAuth oauth_nonce="2"',
      'OAuth oauth_nonce="3"',
    ]);
  });

  it('drops the caller’s Authorization and Cookie headers on a redirect to another origin', async () => {
    const other = await startUpstream({ '/feed': serveFixture(FEED) });
    try {
      upstream.route('/feed', redirect(302, other.url('/feed')));
      const { fetcher } = makeFetcher([upstream.hostPort, other.hostPort]);

      await fetcher.fetchFeed({ url: upstream.url('/feed'), headers: { Authorization: 'Bearer t0ken', Cookie: 'a=b', 'X-Kept': '1' } });

      expect(upstream.requests[0]?.headers).toMatchObject({ authorization: 'Bearer t0ken', cookie: 'a=b' });
      expect(other.requests[0]?.headers.authorization).toBeUndefined();
      expect(other.requests[0]?.headers.cookie).toBeUndefined();
      expect(other.requests[0]?.headers['x-kept']).toBe('1');
    } finally {
      await other.close();
    }
  });

  it('signs each same-origin hop but never carries a signature to another origin', async () => {
    const other = await startUpstream({ '/feed': serveFixture(FEED) });
    try {
      upstream.route('/feed', redirect(302, other.url('/feed')));
      const { fetcher } = makeFetcher([upstream.hostPort, other.hostPort]);
      const signed: string[] = [];
      const sign = ({ url }: { url: string }) => {
        signed.push(url);
        return { authorization: 'OAuth oauth_token="t0ken"' };
      };

      await fetcher.fetchFeed({ url: upstream.url('/feed'), sign });

      expect(signed).toEqual([upstream.url('/feed')]);
      expect(upstream.requests[0]?.headers.authorization).toBe('OAuth oauth_token="t0ken"');
      expect(other.requests[0]?.headers.authorization).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});

describe('request()', () => {
  it('resolves any status with the decoded body and does not follow a POST’s redirect', async () => {
    upstream.route('/token', (request, response) => {
      const code = request.method === 'POST' ? 302 : 200;
      response.writeHead(code, { location: '/elsewhere', 'content-type': 'text/plain' }).end('oauth_token=abc');
    });
    upstream.route('/denied', serveBody('oauth_problem=signature_invalid', { contentType: 'text/plain', encoding: 'gzip', headers: {} }));
    const { fetcher } = makeFetcher([upstream.hostPort]);
    const sign = ({ method, url }: { method: string; url: string }) => ({ authorization: `OAuth ${method} ${new URL(url).pathname}` });

    const posted = await fetcher.request({
      method: 'POST',
      url: upstream.url('/token'),
      body: 'a=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      sign,
    });
    const fetched = await fetcher.request({ method: 'GET', url: upstream.url('/denied'), sign });

    expect(posted).toMatchObject({ status: 302, finalUrl: upstream.url('/token') });
    expect(posted.body.toString()).toBe('oauth_token=abc');
    expect(upstream.requests[0]).toMatchObject({ method: 'POST', body: 'a=1', headers: { authorization: 'OAuth POST /token' } });
    expect(fetched.status).toBe(200);
    expect(fetched.body.toString()).toBe('oauth_problem=signature_invalid');
    // The body was decoded, so the coding no longer describes it.
    expect(fetched.headers['content-encoding']).toBeUndefined();
    expect(fetched.headers['content-type']).toBe('text/plain');
  });

  it('follows a GET’s redirects and resolves a 4xx', async () => {
    upstream.route('/feeds', redirect(302, '/users/42/feeds'));
    upstream.route('/users/42/feeds', status(401, { body: 'expired' }));
    const { fetcher } = makeFetcher([upstream.hostPort]);

    const response = await fetcher.request({ method: 'GET', url: upstream.url('/feeds') });

    expect(response).toMatchObject({ status: 401, finalUrl: upstream.url('/users/42/feeds') });
    expect(response.body.toString()).toBe('expired');
  });
});
