// The whole OAuth 1.0a flow through the public API against a fake Netflix-style provider that
// verifies every signature with its own code: connect → authorize → callback → discover → add
// sources (tokenized and signed) → one merged public feed.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-oauth-provider.js';
import { STORES } from '../helpers/stores.js';
import { startUpstream } from '../helpers/upstream.js';

describe.each(STORES)('OAuth connections (%s store)', (store) => {
  let provider: FakeProvider;
  let t: TestApp;
  let alice: string;

  beforeAll(async () => {
    provider = await startFakeProvider();
    const { id: _id, ...settings } = provider.config;
    const dir = mkdtempSync(join(tmpdir(), 'feedproxy-oauth-'));
    const file = join(dir, 'feedproxy.yaml');
    writeFileSync(
      file,
      stringify({
        providers: {
          netflix: { ...settings, feedsUrl: `${provider.baseUrl}/users/{user_id}/feeds`, extraParams: { output: 'atom' } },
          oobflix: { ...settings, outOfBand: true },
        },
      }),
    );
    t = await startTestApp({ store, allowPrivate: [provider.hostPort], env: { FEEDPROXY_CONFIG: file } });
    alice = await t.createUserKey('alice');
  });
  afterAll(async () => {
    await t?.close();
    await provider?.close();
  });

  /** What the user's browser does: open authorizeUrl, follow the provider's redirect to our callback. */
  async function authorizeInBrowser(authorizeUrl: string) {
    const login = await fetch(authorizeUrl, { redirect: 'manual' });
    expect(login.status).toBe(302);
    const callback = new URL(login.headers.get('location')!);
    expect(callback.origin + callback.pathname).toBe(`${PUBLIC_URL}/oauth/callback`);
    return t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
  }

  async function connect(): Promise<string> {
    const started = await t.api(alice, { method: 'POST', url: '/api/v1/connections', payload: { provider: 'netflix' } });
    expect(started.statusCode).toBe(201);
    const { id, status, authorizeUrl } = started.json();
    expect(status).toBe('pending');
    const authorize = new URL(authorizeUrl);
    expect(authorize.searchParams.get('application_name')).toBe('Feed Proxy Test');
    expect(authorize.searchParams.get('oauth_consumer_key')).toBe(provider.config.consumerKey);
    const page = await authorizeInBrowser(authorizeUrl);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toMatch(/connected/i);
    // Whoever finishes the flow in a browser sees which feedproxy account got the connection.
    expect(page.body).toContain('the feedproxy account “alice”');
    return id;
  }

  /** A fresh connection and a source behind it (the signed queue resource). */
  async function connectWithSignedSource() {
    const id = await connect();
    const source = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: `${provider.baseUrl}/users/{user_id}/queues/disc`, connectionId: id },
    });
    expect(source.statusCode).toBe(201);
    return { id, source };
  }

  it('disables the sources of a removed connection, and a forced refresh keeps them disabled', async () => {
    const { id, source } = await connectWithSignedSource();
    const sourceId = source.json().id as string;
    expect((await t.api(alice, { method: 'DELETE', url: `/api/v1/connections/${id}` })).statusCode).toBe(204);
    const removed = (await t.api(alice, { method: 'GET', url: `/api/v1/sources/${sourceId}` })).json();
    expect(removed).toMatchObject({ status: 'disabled', lastError: expect.stringMatching(/connection was removed/) });
    // "Refresh now" on it: nothing can sign any more, so it stays disabled instead of backing off and retrying.
    const refreshed = (await t.api(alice, { method: 'POST', url: `/api/v1/sources/${sourceId}/refresh` })).json();
    expect(refreshed).toMatchObject({ status: 'disabled', lastError: expect.stringMatching(/connection was removed/) });
    expect(refreshed.entryCount).toBe(removed.entryCount);
  });

  it('connects, discovers the feeds and publishes signed and tokenized sources merged', async () => {
    const id = await connect();
    const connection = (await t.api(alice, { method: 'GET', url: `/api/v1/connections/${id}` })).json();
    expect(connection).toMatchObject({ id, provider: 'netflix', status: 'connected', params: { user_id: provider.userId } });

    const discovered = await t.api(alice, { method: 'GET', url: `/api/v1/connections/${id}/feeds` });
    expect(discovered.statusCode).toBe(200);
    const feeds = discovered.json().feeds as Array<{ title: string; rel: string; url: string }>;
    expect(feeds.map((feed) => feed.title)).toContain('Disc Queue');
    // The owner sees the tokenized URLs as they are: that is how they add them.
    const queue = feeds.find((feed) => feed.title === 'Disc Queue')!;
    expect(queue.url).toContain(`feed_token=${provider.feedToken}`);

    const tokenized = await t.api(alice, { method: 'POST', url: '/api/v1/sources', payload: { url: queue.url } });
    expect(tokenized.statusCode).toBe(201);
    expect(tokenized.body).not.toContain(provider.feedToken);

    const signedBefore = provider.stats.byPath[`/users/${provider.userId}/queues/disc`] ?? 0;
    const signed = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: `${provider.baseUrl}/users/{user_id}/queues/disc`, connectionId: id, title: 'Signed queue' },
    });
    expect(signed.statusCode, signed.body).toBe(201);
    expect(signed.json()).toMatchObject({ status: 'ok', connectionId: id, entryCount: 2 });
    expect(provider.stats.byPath[`/users/${provider.userId}/queues/disc`]).toBe(signedBefore + 1);

    // Every later fetch is signed afresh (new nonce: the provider refuses replays).
    const refreshed = await t.api(alice, { method: 'POST', url: `/api/v1/sources/${signed.json().id}/refresh` });
    expect(refreshed.json()).toMatchObject({ status: 'ok', errorCount: 0 });
    expect(provider.stats.problems).toEqual({});

    const feed = await t.api(alice, {
      method: 'POST',
      url: '/api/v1/feeds',
      payload: { title: 'Netflix', sources: [tokenized.json().id, signed.json().id] },
    });
    expect(feed.statusCode).toBe(201);
    const atom = await t.app.inject({ method: 'GET', url: feed.json().urls.atom.slice(PUBLIC_URL.length) });
    expect(atom.statusCode).toBe(200);
    expect(atom.body).toContain('The Big Lebowski');
    expect(atom.body).not.toContain(provider.feedToken);
  });

  it('marks the connection and its sources unauthorized when the provider revokes the token, and relinks', async () => {
    const { id, source } = await connectWithSignedSource();
    const token = (provider.stats.lastAuthorization ?? '').match(/oauth_token="([^"]+)"/)?.[1];
    expect(token).toBeTruthy();
    provider.revoke(decodeURIComponent(token!));

    const refreshed = await t.api(alice, { method: 'POST', url: `/api/v1/sources/${source.json().id}/refresh` });
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json()).toMatchObject({ status: 'unauthorized' });
    expect((await t.api(alice, { method: 'GET', url: `/api/v1/connections/${id}` })).json().status).toBe('unauthorized');

    const relink = await t.api(alice, { method: 'POST', url: `/api/v1/connections/${id}/relink` });
    expect(relink.statusCode).toBe(200);
    expect((await authorizeInBrowser(relink.json().authorizeUrl)).statusCode).toBe(200);
    expect((await t.api(alice, { method: 'GET', url: `/api/v1/connections/${id}` })).json().status).toBe('connected');
    const again = await t.api(alice, { method: 'POST', url: `/api/v1/sources/${source.json().id}/refresh` });
    expect(again.json()).toMatchObject({ status: 'ok' });
  });

  it('forgets a pending Retry-After when a relink brings an unauthorized source back (as an edit does)', async () => {
    const { id, source } = await connectWithSignedSource();
    const sourceId = source.json().id as string;
    const token = (provider.stats.lastAuthorization ?? '').match(/oauth_token="([^"]+)"/)?.[1];
    provider.revoke(decodeURIComponent(token!));
    expect((await t.api(alice, { method: 'POST', url: `/api/v1/sources/${sourceId}/refresh` })).json()).toMatchObject({
      status: 'unauthorized',
    });
    // A sibling of a refused source is marked unauthorized as it is: a Retry-After it had been given stays on it.
    const pendingUntil = new Date(t.deps.now().getTime() + 3_600_000).toISOString();
    await t.deps.registry.saveSource({ ...(await t.deps.registry.getSource(sourceId))!, retryAfterUntil: pendingUntil });
    expect((await t.deps.registry.getSource(sourceId))!.retryAfterUntil).toBe(pendingUntil);

    const relink = await t.api(alice, { method: 'POST', url: `/api/v1/connections/${id}/relink` });
    expect((await authorizeInBrowser(relink.json().authorizeUrl)).statusCode).toBe(200);
    const reset = (await t.deps.registry.getSource(sourceId))!;
    expect(reset).toMatchObject({ status: 'new', errorCount: 0 });
    expect(reset.retryAfterUntil).toBeUndefined();
    // Fetched at once, not deferred for the hour the old Retry-After said.
    expect((await t.api(alice, { method: 'POST', url: `/api/v1/sources/${sourceId}/refresh` })).json()).toMatchObject({ status: 'ok' });
  });

  it("learns the provider's clock from a timestamp_refused and signs with it", async () => {
    const { id, source } = await connectWithSignedSource();
    provider.setClockOffset(3600);
    try {
      const refreshed = await t.api(alice, { method: 'POST', url: `/api/v1/sources/${source.json().id}/refresh` });
      expect(refreshed.json()).toMatchObject({ status: 'ok', errorCount: 0 });
      expect(provider.stats.problems.timestamp_refused).toBeGreaterThanOrEqual(1);
      const offset = (await t.deps.registry.getConnection(id))!.clockOffsetSeconds!;
      expect(Math.abs(offset - 3600)).toBeLessThan(10);
      // The next fetch is signed with the learnt offset straight away.
      const refused = provider.stats.problems.timestamp_refused;
      expect((await t.api(alice, { method: 'POST', url: `/api/v1/sources/${source.json().id}/refresh` })).json().status).toBe('ok');
      expect(provider.stats.problems.timestamp_refused).toBe(refused);
    } finally {
      provider.setClockOffset(0);
    }
  });

  it('refuses a replayed, unknown or missing callback with a 400 page and changes nothing', async () => {
    const started = (await t.api(alice, { method: 'POST', url: '/api/v1/connections', payload: { provider: 'netflix' } })).json();
    const login = await fetch(started.authorizeUrl, { redirect: 'manual' });
    const callback = new URL(login.headers.get('location')!);
    expect((await t.app.inject({ method: 'GET', url: callback.pathname + callback.search })).statusCode).toBe(200);
    const replay = await t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
    expect(replay.statusCode).toBe(400);
    expect(replay.body).toMatch(/already used|unknown/);
    const unknown = await t.app.inject({ method: 'GET', url: '/oauth/callback?oauth_token=nope&oauth_verifier=x' });
    expect(unknown.statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/oauth/callback' })).statusCode).toBe(400);
    expect((await t.api(alice, { method: 'GET', url: `/api/v1/connections/${started.id}` })).json().status).toBe('connected');
  });

  it('expires request tokens', async () => {
    const started = (await t.api(alice, { method: 'POST', url: '/api/v1/connections', payload: { provider: 'netflix' } })).json();
    const connection = (await t.deps.registry.getConnection(started.id))!;
    await t.deps.registry.saveConnection({ ...connection, requestExpiresAt: new Date(Date.now() - 1000).toISOString() }, connection);
    const login = await fetch(started.authorizeUrl, { redirect: 'manual' });
    const callback = new URL(login.headers.get('location')!);
    const page = await t.app.inject({ method: 'GET', url: callback.pathname + callback.search });
    expect(page.statusCode).toBe(400);
    expect(page.body).toMatch(/expired/);
    expect((await t.api(alice, { method: 'GET', url: `/api/v1/connections/${started.id}` })).json().status).toBe('pending');
  });

  it('finishes an out-of-band authorization with the pasted verifier', async () => {
    const started = await t.api(alice, { method: 'POST', url: '/api/v1/connections', payload: { provider: 'oobflix' } });
    expect(started.statusCode).toBe(201);
    const shown = await (await fetch(started.json().authorizeUrl)).text();
    const verifier = /verifier: (\S+)/.exec(shown)?.[1];
    expect(verifier).toBeTruthy();
    const verified = await t.api(alice, { method: 'POST', url: `/api/v1/connections/${started.json().id}/verify`, payload: { verifier } });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({ status: 'connected', params: { user_id: provider.userId } });
  });

  it("answers 404 for another user's connection, 400 for an unknown provider", async () => {
    const id = (await t.api(alice, { method: 'POST', url: '/api/v1/connections', payload: { provider: 'netflix' } })).json().id;
    const bob = await t.createUserKey('bob');
    for (const [method, url] of [
      ['GET', `/api/v1/connections/${id}`],
      ['GET', `/api/v1/connections/${id}/feeds`],
      ['DELETE', `/api/v1/connections/${id}`],
      ['POST', `/api/v1/connections/${id}/relink`],
    ] as const) {
      expect((await t.api(bob, { method, url })).statusCode, `${method} ${url}`).toBe(404);
    }
    // Signatures only go to the provider: a connection cannot sign a request to a host the user picks.
    const canary = await startUpstream(() => undefined);
    try {
      const connectedId = await connect();
      const elsewhere = await t.api(alice, {
        method: 'POST',
        url: '/api/v1/sources',
        payload: { url: canary.url('/steal'), connectionId: connectedId },
      });
      expect(elsewhere.statusCode).toBe(400);
      expect(elsewhere.json().message).toMatch(/must be on/);
      expect(canary.requests).toHaveLength(0);
    } finally {
      await canary.close();
    }
    const signedWithForeign = await t.api(bob, {
      method: 'POST',
      url: '/api/v1/sources',
      payload: { url: `${provider.baseUrl}/x`, connectionId: id },
    });
    expect(signedWithForeign.statusCode).toBe(404);
    const unknown = await t.api(alice, { method: 'POST', url: '/api/v1/connections', payload: { provider: 'myspace' } });
    expect(unknown.statusCode).toBe(400);
  });

  it('keeps tokens and secrets out of responses, logs and the store', async () => {
    // Its own connection, a signed source and a tokenized one, so the store surely holds them now.
    const issuedBefore = provider.issued.length;
    const { id } = await connectWithSignedSource();
    const queue = (
      (await t.api(alice, { method: 'GET', url: `/api/v1/connections/${id}/feeds` })).json().feeds as Array<{ title: string; url: string }>
    ).find((feed) => feed.title === 'Disc Queue')!;
    // Positive control: a title is stored in clear, so a secret stored in clear would be found the same way.
    const marker = `Queue title in clear ${store} ${Date.now()}`;
    expect(
      (
        await t.api(alice, {
          method: 'POST',
          url: '/api/v1/sources',
          payload: { url: `${queue.url}${queue.url.includes('?') ? '&' : '?'}copy=${Date.now()}`, title: marker },
        })
      ).statusCode,
    ).toBe(201);
    // This connection's request-token secret, access token and access-token secret.
    const issued = provider.issued.slice(issuedBefore);
    expect(issued).toHaveLength(3);
    const secrets = [provider.config.consumerSecret, provider.feedToken, ...issued];

    const stored = await t.readStore();
    expect(stored.length).toBeGreaterThan(4096);
    expect(stored.includes(Buffer.from(marker)), 'the positive control is in the store').toBe(true);
    for (const secret of secrets) expect(stored.includes(Buffer.from(secret)), `the store holds ${secret} in clear`).toBe(false);

    expect(t.logs.length).toBeGreaterThan(0);
    for (const line of t.logs) for (const secret of secrets) expect(line.includes(secret), line).toBe(false);
    const answers = [
      await t.api(alice, { method: 'GET', url: '/api/v1/connections' }),
      await t.api(alice, { method: 'GET', url: `/api/v1/connections/${id}` }),
      await t.api(alice, { method: 'GET', url: '/api/v1/sources' }),
    ];
    expect(answers[0]!.body).toContain(id);
    for (const answer of answers) {
      for (const secret of secrets) expect(answer.body.includes(secret), answer.body).toBe(false);
      expect(answer.body).not.toMatch(/oauth_token_secret|accessSecret|accessToken/);
    }
  });
});
