// The three-legged flow, discovery and signed fetches against the fake Netflix-like provider,
// which verifies every signature with its own code.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestSigner } from '../../src/fetch/types.js';
import {
  buildAuthorizeUrl,
  createSigner,
  discoverFeeds,
  getAccessToken,
  getRequestToken,
  parseTimestampRefused,
  requestSigned,
  withExtraParams,
  type AccessToken,
} from '../../src/oauth/client.js';
import type { OAuthProviderConfig } from '../../src/oauth/provider.js';
import { createTestFetcher, startFakeProvider, type FakeProvider, type TestFetcher } from '../helpers/fake-oauth-provider.js';

/** Where the provider sends the user's browser back to; records what arrived. */
async function startCallbackServer(): Promise<{ url: string; server: Server; hits: URL[] }> {
  const hits: URL[] = [];
  const server = createServer((req, res) => {
    hits.push(new URL(req.url ?? '/', 'http://callback.invalid'));
    res.writeHead(200, { 'content-type': 'text/plain' }).end('connected');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/oauth/callback?state=abc`, server, hits };
}

let fetcher: TestFetcher;
let provider: FakeProvider;
let callback: Awaited<ReturnType<typeof startCallbackServer>>;

/** Runs the whole browser dance and returns the access token. */
async function connect(config: OAuthProviderConfig = provider.config): Promise<AccessToken> {
  const requestToken = await getRequestToken(config, fetcher, callback.url);
  const landed = await fetcher.request({ method: 'GET', url: buildAuthorizeUrl(config, requestToken) });
  const verifier = new URL(landed.finalUrl).searchParams.get('oauth_verifier') ?? undefined;
  return getAccessToken(config, fetcher, requestToken, verifier);
}

const queueUrl = () => withExtraParams(`${provider.baseUrl}/users/${provider.userId}/queues/disc`, provider.config);

beforeAll(async () => {
  provider = await startFakeProvider();
  callback = await startCallbackServer();
  fetcher = createTestFetcher([provider.hostPort, new URL(callback.url).host]);
});

afterAll(async () => {
  await fetcher.close();
  await provider.close();
  await new Promise((resolve) => callback.server.close(resolve));
});

describe('three-legged flow with Netflix quirks', () => {
  it('goes request token → authorize → access token → discovery → signed fetch', async () => {
    const requestToken = await getRequestToken(provider.config, fetcher, callback.url);
    expect(requestToken.callbackConfirmed).toBe(true);
    expect(requestToken.fields).toEqual({
      application_name: 'Feed Proxy Test',
      login_url: expect.stringContaining('/oauth/login'),
    });

    const authorizeUrl = new URL(buildAuthorizeUrl(provider.config, requestToken));
    expect(Object.fromEntries(authorizeUrl.searchParams)).toEqual({
      oauth_token: requestToken.token,
      oauth_consumer_key: provider.config.consumerKey,
      application_name: 'Feed Proxy Test',
    });

    // Netflix's login page refuses to show without its two extra parameters.
    for (const name of ['application_name', 'oauth_consumer_key']) {
      const bare = new URL(authorizeUrl);
      bare.searchParams.delete(name);
      expect((await fetcher.request({ method: 'GET', url: bare.href })).status).toBe(400);
    }

    // A plain GET of the authorize URL "logs in" and lands on our callback.
    const landed = await fetcher.request({ method: 'GET', url: authorizeUrl.href });
    expect(landed.status).toBe(200);
    const arrived = callback.hits.at(-1) as URL;
    expect(arrived.pathname).toBe('/oauth/callback');
    expect(arrived.searchParams.get('state')).toBe('abc');
    expect(arrived.searchParams.get('oauth_token')).toBe(requestToken.token);
    const verifier = arrived.searchParams.get('oauth_verifier') as string;
    expect(verifier).toMatch(/^[0-9a-f]+$/);

    const access = await getAccessToken(provider.config, fetcher, requestToken, verifier);
    expect(access.params).toEqual({ user_id: provider.userId });
    expect(access.token).not.toBe(requestToken.token);

    const feeds = await discoverFeeds(provider.config, fetcher, access, access.params);
    expect(feeds.map((feed) => [feed.title, feed.rel])).toEqual([
      ['Disc Queue', 'http://schemas.netflix.com/feed.queues.disc'],
      ['Titles at Home', 'http://schemas.netflix.com/feed.at_home'],
      ['Recommendations & more', 'http://schemas.netflix.com/feed.recommendations'],
    ]);
    for (const feed of feeds) {
      expect(new URL(feed.url).searchParams.get('feed_token')).toBe(provider.feedToken);
      // The tokenized feeds need no signature.
      const response = await fetcher.fetchFeed({ url: feed.url });
      expect(response.kind === 'ok' && response.body.toString('utf8')).toContain('<feed xmlns="http://www.w3.org/2005/Atom">');
    }

    const resource = queueUrl();
    expect(resource).toBe(`${provider.baseUrl}/users/${provider.userId}/queues/disc?output=atom`);
    const signed = await fetcher.fetchFeed({ url: resource, sign: createSigner(provider.config, access) });
    expect(signed.kind === 'ok' && signed.body.toString('utf8')).toContain('<title>Disc Queue</title>');
    expect(provider.stats.lastAuthorization).toMatch(/^OAuth .*oauth_token="/);
  });

  it('refuses a request token twice and a wrong verifier, with messages free of secrets', async () => {
    const requestToken = await getRequestToken(provider.config, fetcher, callback.url);
    await fetcher.request({ method: 'GET', url: buildAuthorizeUrl(provider.config, requestToken) });
    const attempt = getAccessToken(provider.config, fetcher, requestToken, 'wrong-verifier-123');
    await expect(attempt).rejects.toMatchObject({
      code: 'FP_OAUTH',
      message: 'OAuth: access token refused: HTTP 401 (verifier_invalid)',
      upstreamStatus: 401,
    });
    const error = (await attempt.catch((caught: unknown) => caught)) as Error;
    for (const secret of [requestToken.token, requestToken.secret, 'wrong-verifier-123', provider.config.consumerSecret]) {
      expect(error.message).not.toContain(secret);
    }
  });

  it('supports OAuth 1.0 providers: no callback confirmation, callback on the authorize URL, no verifier', async () => {
    const old = await startFakeProvider({ oauth10: true });
    const fetcher = createTestFetcher([old.hostPort, new URL(callback.url).host]);
    try {
      const requestToken = await getRequestToken(old.config, fetcher, callback.url);
      expect(requestToken.callbackConfirmed).toBe(false);
      const authorizeUrl = new URL(buildAuthorizeUrl(old.config, requestToken));
      expect(authorizeUrl.searchParams.get('oauth_callback')).toBe(callback.url);
      const landed = await fetcher.request({ method: 'GET', url: authorizeUrl.href });
      expect(new URL(landed.finalUrl).searchParams.has('oauth_verifier')).toBe(false);
      const access = await getAccessToken(old.config, fetcher, requestToken);
      expect(access.params.user_id).toBe(old.userId);
    } finally {
      await fetcher.close();
      await old.close();
    }
  });
});

describe('signed resource calls', () => {
  let access: AccessToken;
  beforeAll(async () => {
    access = await connect();
  });

  it('fails with 401 when the signature is tampered with or the URL differs from what was signed', async () => {
    const signer = createSigner(provider.config, access);
    const tampered: RequestSigner = (request) => {
      const headers = signer(request);
      return { Authorization: (headers.Authorization as string).replace(/oauth_signature="[^"]+"/, 'oauth_signature="AAAA%3D"') };
    };
    const before = provider.stats.problems.signature_invalid ?? 0;
    const bad = await fetcher.request({ method: 'GET', url: queueUrl(), sign: tampered });
    expect(bad.status).toBe(401);

    // Signed without the extra parameter, sent with it.
    const unsigned = `${provider.baseUrl}/users/${provider.userId}/queues/disc`;
    const mismatch = await fetcher.request({ method: 'GET', url: queueUrl(), sign: () => signer({ method: 'GET', url: unsigned }) });
    expect(mismatch.status).toBe(401);
    expect(provider.stats.problems.signature_invalid).toBe(before + 2);
    await expect(fetcher.fetchFeed({ url: queueUrl(), sign: tampered })).rejects.toMatchObject({ upstreamStatus: 401 });
  });

  it('signs awkward query strings exactly as they are sent', async () => {
    const base = `${provider.baseUrl}/users/${provider.userId}/queues/disc`;
    for (const query of ["q=!*'()", 'q=a b&q=a+b&q=a%20b', 'e=&f&e=x', 'u=日本語&v=%C3%A9', 'k%40=1&k=2', 'a=b=c&output=atom']) {
      const url = withExtraParams(`${base}?${query}`, provider.config);
      const response = await fetcher.request({ method: 'GET', url, sign: createSigner(provider.config, access) });
      expect([query, response.status]).toEqual([query, 200]);
    }
  });

  it('refuses a replayed nonce', async () => {
    const signer = createSigner(provider.config, access);
    const url = queueUrl();
    const headers = signer({ method: 'GET', url });
    const replay: RequestSigner = () => headers;
    expect((await fetcher.request({ method: 'GET', url, sign: replay })).status).toBe(200);
    const again = await fetcher.request({ method: 'GET', url, sign: replay });
    expect(again.status).toBe(401);
    expect(again.headers['www-authenticate']).toContain('oauth_problem="nonce_used"');
  });

  it('retries once with the clock offset a timestamp_refused answer asks for', async () => {
    provider.setClockOffset(3600);
    try {
      const refused = await fetcher.request({ method: 'GET', url: queueUrl(), sign: createSigner(provider.config, access) });
      expect(refused.status).toBe(401);
      const offset = parseTimestampRefused(refused.status, refused.headers, refused.body);
      expect(offset).toBeDefined();
      // The provider's window is centred on its clock, one hour ahead of ours.
      expect(Math.abs((offset as number) - 3600)).toBeLessThan(120);

      const retried = await fetcher.request({
        method: 'GET',
        url: queueUrl(),
        sign: createSigner(provider.config, access, { clockOffsetSeconds: offset as number }),
      });
      expect(retried.status).toBe(200);

      // requestSigned and the token endpoints do the same on their own.
      const { response, clockOffsetSeconds } = await requestSigned(provider.config, fetcher, access, { url: queueUrl() });
      expect(response.status).toBe(200);
      expect(Math.abs(clockOffsetSeconds - 3600)).toBeLessThan(120);
      await expect(discoverFeeds(provider.config, fetcher, access, access.params)).resolves.toHaveLength(3);
      await expect(getRequestToken(provider.config, fetcher, callback.url)).resolves.toMatchObject({ callbackConfirmed: true });
    } finally {
      provider.setClockOffset(0);
    }
  });

  it('answers 401 once the access token is revoked', async () => {
    const revoked = await connect();
    expect((await fetcher.request({ method: 'GET', url: queueUrl(), sign: createSigner(provider.config, revoked) })).status).toBe(200);
    provider.revoke(revoked.token);
    await expect(fetcher.fetchFeed({ url: queueUrl(), sign: createSigner(provider.config, revoked) })).rejects.toMatchObject({
      upstreamStatus: 401,
    });
    const discovery = discoverFeeds(provider.config, fetcher, revoked, revoked.params);
    await expect(discovery).rejects.toMatchObject({
      message: 'OAuth: feed discovery refused: HTTP 401 (token_revoked)',
      upstreamStatus: 401,
    });
    // Other connections are unaffected.
    expect((await fetcher.request({ method: 'GET', url: queueUrl(), sign: createSigner(provider.config, access) })).status).toBe(200);
  });
});

describe('parseTimestampRefused', () => {
  it.each([
    [
      'WWW-Authenticate',
      401,
      { 'www-authenticate': 'OAuth realm="x", oauth_problem="timestamp_refused", oauth_acceptable_timestamps="1000-1600"' },
      '',
      100,
      1200,
    ],
    [
      'capitalised header name',
      401,
      { 'WWW-Authenticate': 'OAuth oauth_problem=timestamp_refused, oauth_acceptable_timestamps=1000-1600' },
      '',
      1300,
      0,
    ],
    ['the body', 401, {}, 'oauth_problem=timestamp_refused&oauth_acceptable_timestamps=1000-1600', 2000, -700],
    ['a reversed range', 400, {}, 'oauth_problem=timestamp_refused&oauth_acceptable_timestamps=1600-1000', 1000, 300],
    ['another problem', 401, {}, 'oauth_problem=signature_invalid', 0, undefined],
    ['no range', 401, {}, 'oauth_problem=timestamp_refused', 0, undefined],
    ['a success', 200, {}, 'oauth_problem=timestamp_refused&oauth_acceptable_timestamps=1-2', 0, undefined],
  ])('reads %s', (_name, status, headers, body, now, expected) => {
    expect(parseTimestampRefused(status, headers, Buffer.from(body), now)).toBe(expected);
  });
});

describe('withExtraParams', () => {
  const config = { extraParams: { output: 'atom', v: '2.0 beta' } };
  it.each([
    ['http://h/p', 'http://h/p?output=atom&v=2.0%20beta'],
    ['http://h/p?a=1&b=%2A', 'http://h/p?a=1&b=%2A&output=atom&v=2.0%20beta'],
    ['http://h/p?output=rss', 'http://h/p?output=rss&v=2.0%20beta'],
    ['http://h/p?x=1#frag', 'http://h/p?x=1&output=atom&v=2.0%20beta#frag'],
  ])('%s', (url, expected) => {
    expect(withExtraParams(url, config)).toBe(expected);
  });

  it('leaves the URL alone without extra parameters', () => {
    expect(withExtraParams('http://h/p?q=a b', {})).toBe('http://h/p?q=a b');
  });
});

describe('network boundary', () => {
  it('never contacts a non-loopback provider from tests: the connector records and refuses', async () => {
    const remote = { ...provider.config, requestTokenUrl: 'http://api.netflix.com/oauth/request_token' };
    await expect(getRequestToken(remote, fetcher, callback.url)).rejects.toMatchObject({ code: 'FP_UPSTREAM_UNREACHABLE' });
    expect(fetcher.refused).toContain('api.netflix.com');

    // An address literal skips resolution; the connect step refuses it.
    const literal = { ...provider.config, accessTokenUrl: 'http://93.184.216.34/oauth/access_token' };
    await expect(getAccessToken(literal, fetcher, { token: 't', secret: 's' }, 'v')).rejects.toMatchObject({
      code: 'FP_UPSTREAM_UNREACHABLE',
    });
    expect(fetcher.refused).toContain('93.184.216.34');
  });
});
