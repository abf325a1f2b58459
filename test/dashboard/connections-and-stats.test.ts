// The dashboard's connection management and its usage chart in headless Chromium: relink a
// connected provider (its sources keep the connection and sign with the new token), remove one
// through its confirm page with JavaScript off, finish an out-of-band connection with the pasted
// verifier, and a feed page whose chart and subscriber table show the requests readers made.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-oauth-provider.js';
import { serveBody, startUpstream, type Upstream } from '../helpers/upstream.js';
import { freePort, launchChromium, skipBrowserTests } from './browser.js';

const BLOG = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Team blog</title><id>urn:test:blog</id><updated>2025-06-10T00:00:00Z</updated>
<entry><id>urn:test:b1</id><title>Hello from the blog</title><link href="https://example.com/b1"/><updated>2025-06-10T08:00:00Z</updated></entry>
</feed>`;

describe.skipIf(skipBrowserTests)('dashboard connections and usage stats in a browser', () => {
  let upstream: Upstream;
  let provider: FakeProvider;
  let t: TestApp;
  let base: string;
  let apiKey: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    upstream = await startUpstream({ '/blog.atom': serveBody(BLOG) });
    provider = await startFakeProvider();
    const { id: _id, ...settings } = provider.config;
    const configFile = join(mkdtempSync(join(tmpdir(), 'feedproxy-dashboard-connections-')), 'feedproxy.yaml');
    // One provider that redirects back to us, and the same one out-of-band (the user pastes the verifier).
    writeFileSync(configFile, stringify({ providers: { netflix: settings, oobflix: { ...settings, outOfBand: true } } }));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    t = await startTestApp({
      allowPrivate: [upstream.hostPort, provider.hostPort],
      env: { FEEDPROXY_CONFIG: configFile, FEEDPROXY_PUBLIC_URL: base },
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    apiKey = await t.createUserKey('alice');

    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: base });
    page = await context.newPage();
    page.setDefaultTimeout(8000);
    await signIn(page);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await provider?.close();
    await upstream?.close();
  });

  async function signIn(target: Page) {
    await target.goto('/dashboard/sign-in');
    await target.getByLabel('API key').fill(apiKey);
    await target.getByRole('button', { name: 'Sign in' }).click();
    await target.waitForURL('**/dashboard/sources');
  }

  const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    t.api(apiKey, { method, url: `/api/v1${url}`, ...(payload ? { payload } : {}) });

  /** Connect through the dashboard's button, the provider's authorize page and back; the connection's id. */
  async function connectInBrowser(): Promise<string> {
    await page.goto('/dashboard/connections');
    await page.getByRole('button', { name: 'Connect netflix' }).click();
    await page.waitForURL(/\/dashboard\/connections\/[^/?]+\?done=connected$/);
    return decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
  }

  /** A source signed with the connection (the provider's OAuth-protected queue). */
  async function addSignedSource(connectionId: string): Promise<string> {
    const created = await api('POST', '/sources', {
      url: `${provider.baseUrl}/users/{user_id}/queues/disc`,
      connectionId,
      title: 'Signed queue',
    });
    expect(created.statusCode, created.body).toBe(201);
    return created.json().id as string;
  }

  /** The access token the provider saw last (sources are signed with it). */
  function lastAccessToken(): string {
    const token = /oauth_token="([^"]+)"/.exec(provider.stats.lastAuthorization ?? '')?.[1];
    expect(token).toBeTruthy();
    return decodeURIComponent(token!);
  }

  it('relinks a connected connection: off to the authorize page and back, still connected, its sources keep it', async () => {
    const id = await connectInBrowser();
    const sourceId = await addSignedSource(id);
    const oldToken = lastAccessToken();
    const logins = provider.stats.byPath['/oauth/login'] ?? 0;
    const exchanges = provider.stats.byPath['/oauth/access_token'] ?? 0;

    await page.goto('/dashboard/connections');
    const card = page.getByRole('listitem').filter({ has: page.locator(`form[action="/dashboard/connections/${id}/relink"]`) });
    expect(await card.locator('.badge').textContent()).toBe('connected');
    // The provider's page redirects at once, so it never commits: watch the navigation requests.
    const visited: string[] = [];
    const onRequest = (request: { isNavigationRequest(): boolean; url(): string }) => {
      if (request.isNavigationRequest()) visited.push(request.url());
    };
    page.on('request', onRequest);
    await card.getByRole('button', { name: 'Relink netflix' }).click();
    await page.waitForURL(`**/dashboard/connections/${encodeURIComponent(id)}?done=connected`);
    page.off('request', onRequest);
    expect(visited.map((url) => new URL(url).origin + new URL(url).pathname)).toEqual([
      `${base}/dashboard/connections/${id}/relink`,
      `${provider.baseUrl}/oauth/login`,
      `${base}/oauth/callback`,
      `${base}/dashboard/connections/${id}`,
    ]);
    expect(provider.stats.byPath['/oauth/login']).toBe(logins + 1);
    expect(provider.stats.byPath['/oauth/access_token']).toBe(exchanges + 1);
    expect(await page.getByRole('status').textContent()).toContain('Connected');

    const connection = (await api('GET', `/connections/${id}`)).json();
    expect(connection).toMatchObject({ id, status: 'connected', params: { user_id: provider.userId } });
    expect((await api('GET', '/connections')).json().connections.filter((entry: { id: string }) => entry.id === id)).toHaveLength(1);
    expect((await api('GET', `/sources/${sourceId}`)).json()).toMatchObject({ connectionId: id });
    // The relink stored a new access token: with the old one revoked, the source still signs its way in.
    provider.revoke(oldToken);
    const refreshed = await api('POST', `/sources/${sourceId}/refresh`);
    expect(refreshed.json()).toMatchObject({ status: 'ok', connectionId: id });
    expect(lastAccessToken()).not.toBe(oldToken);
  });

  it('removes a connection through its confirm page with JavaScript off; its sources stay, disabled, as the API says', async () => {
    const id = await connectInBrowser();
    const sourceId = await addSignedSource(id);
    const noScript = await browser.newContext({ javaScriptEnabled: false, baseURL: base });
    try {
      const plain = await noScript.newPage();
      plain.setDefaultTimeout(8000);
      await signIn(plain);
      await plain.goto('/dashboard/connections');
      await plain.locator(`a[href="/dashboard/connections/${id}/delete"]`).click();
      await plain.waitForURL(`**/dashboard/connections/${id}/delete`);
      const warning = await plain.getByRole('main').textContent();
      await plain.getByRole('button', { name: 'Remove connection' }).click();
      await plain.waitForURL('**/dashboard/connections?done=removed');
      expect(await plain.locator(`a[href="/dashboard/connections/${id}/delete"]`).count()).toBe(0);
      expect(await plain.locator(`form[action="/dashboard/connections/${id}/relink"]`).count()).toBe(0);
      const notice = await plain.getByRole('status').textContent();

      expect((await api('GET', '/connections')).json().connections.map((entry: { id: string }) => entry.id)).not.toContain(id);
      expect((await api('GET', `/connections/${id}`)).statusCode).toBe(404);
      // The API keeps the source (and its published entries) but disables it: nothing can sign for it now.
      const source = (await api('GET', `/sources/${sourceId}`)).json();
      expect(source).toMatchObject({ id: sourceId, status: 'disabled' });
      expect(source.lastError).toMatch(/connection was removed/);
      // What the dashboard said before and after matches that (not "unauthorized until you connect again":
      // a new connection is a new id, so these sources never resume on their own).
      for (const text of [warning, notice]) {
        expect(text).toMatch(/disabled/);
        expect(text).not.toMatch(/unauthorized/);
      }
      await plain.goto('/dashboard/sources');
      const row = plain.getByRole('row').filter({ has: plain.locator(`a[href="/dashboard/sources/${sourceId}"]`) });
      expect(await row.textContent()).toContain('disabled');
      expect(await row.textContent()).toContain('connection was removed');
    } finally {
      await noScript.close();
    }
  });

  it('finishes an out-of-band connection with the verifier pasted into the dashboard (a wrong one shows the error, relink starts over)', async () => {
    /** The verifier the provider's page shows the browser (callback "oob": no redirect back to us). */
    const readVerifier = async () => {
      await page.waitForURL(`${provider.baseUrl}/oauth/login?**`);
      const verifier = /verifier: (\S+)/.exec(await page.locator('body').innerText())?.[1];
      expect(verifier).toBeTruthy();
      return verifier!;
    };
    await page.goto('/dashboard/connections');
    await page.getByRole('button', { name: 'Connect oobflix' }).click();
    const firstVerifier = await readVerifier();
    const pending = (await api('GET', '/connections'))
      .json()
      .connections.find((entry: { provider: string; status: string }) => entry.provider === 'oobflix' && entry.status === 'pending');
    expect(pending).toBeDefined();
    const card = page.getByRole('listitem').filter({ has: page.locator(`form[action="/dashboard/connections/${pending.id}/relink"]`) });

    // A mistyped verifier: the API's refusal inline; the provider has spent that request token.
    await page.goto('/dashboard/connections');
    expect(await card.locator('.badge').textContent()).toBe('pending');
    await card.getByLabel(/Verifier code/).fill(`${firstVerifier}x`);
    await card.getByRole('button', { name: 'Finish connecting' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('verifier_invalid');
    expect((await api('GET', `/connections/${pending.id}`)).json().status).toBe('pending');

    await card.getByRole('button', { name: 'Relink oobflix' }).click();
    const verifier = await readVerifier();
    await page.goto('/dashboard/connections');
    await card.getByLabel(/Verifier code/).fill(` ${verifier} `);
    await card.getByRole('button', { name: 'Finish connecting' }).click();
    await page.waitForURL(`**/dashboard/connections/${pending.id}?done=verified`);
    expect(await page.getByRole('status').textContent()).toBe('Connected.');
    // On the feeds the provider lists for this account.
    expect(await page.getByRole('button', { name: /^Add as source\W+Disc Queue$/ }).count()).toBe(1);
    expect((await api('GET', `/connections/${pending.id}`)).json()).toMatchObject({
      status: 'connected',
      params: { user_id: provider.userId },
    });

    await page.goto('/dashboard/connections');
    expect(await card.locator('.badge').textContent()).toBe('connected');
    expect(await card.getByLabel(/Verifier code/).count()).toBe(0);
  });

  it("draws today's requests and 304s in the chart and counts them per subscriber URL", async () => {
    const source = await api('POST', '/sources', { url: upstream.url('/blog.atom') });
    expect(source.statusCode, source.body).toBe(201);
    const feed = (await api('POST', '/feeds', { title: 'Counted', sources: [source.json().id] })).json();
    const phone = await api('POST', `/feeds/${feed.id}/tokens`, { name: 'phone' });
    expect(phone.statusCode, phone.body).toBe(201);

    // Readers over real sockets: 3 full GETs and 2 conditional ones (304) of the default URL, 1 of the phone's.
    const full = 3;
    const conditional = 2;
    let etag = '';
    for (let index = 0; index < full; index += 1) {
      const response = await fetch(feed.urls.atom);
      expect(response.status).toBe(200);
      etag = response.headers.get('etag') ?? '';
      await response.arrayBuffer();
    }
    for (let index = 0; index < conditional; index += 1) {
      expect((await fetch(feed.urls.atom, { headers: { 'if-none-match': etag } })).status).toBe(304);
    }
    const phoneResponse = await fetch(phone.json().urls.atom);
    expect(phoneResponse.status).toBe(200);
    await phoneResponse.arrayBuffer();

    const total = full + conditional + 1;
    const today = new Date().toISOString().slice(0, 10);
    await page.goto(`/dashboard/feeds/${feed.id}`);
    const chart = page.getByRole('img', { name: /^Requests per day/ });
    expect(await chart.count()).toBe(1);
    const firstDay = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
    expect(await page.locator('#chart-title').textContent()).toBe(
      `Requests per day, ${firstDay} to ${today}: ${total} in all, at most ${total} in a day`,
    );
    const bars = page.locator('figure.chart svg g');
    expect(await bars.count()).toBe(30);
    const todayBar = bars.last();
    expect(await todayBar.locator('title').textContent()).toBe(`${today}: ${total} requests, ${conditional} not modified`);
    // Today is the peak: its bar fills the plot (140 - 18 axis), the 304 part is 2/6 of it; other days are empty.
    expect(await todayBar.locator('rect.bar').getAttribute('height')).toBe('122');
    expect(await todayBar.locator('rect.bar-cached').getAttribute('height')).toBe(String(Math.round((conditional / total) * 122)));
    expect(await bars.first().locator('rect.bar').getAttribute('height')).toBe('0');
    expect(await page.locator('figure.chart figcaption').textContent()).toContain(`(${total} in all;`);
    expect(await page.getByRole('heading', { name: 'Usage' }).locator('xpath=..').textContent()).toContain(
      `Requests: ${total}, of which ${conditional} answered 304 Not Modified`,
    );

    /** Requests and 304s in a subscriber row. */
    const countsOf = async (name: string) => {
      const row = page.locator('tbody tr').filter({ has: page.getByRole('rowheader', { name, exact: true }) });
      expect(await row.count()).toBe(1);
      return row.locator('td.number').allTextContents();
    };
    expect((await countsOf('default')).slice(0, 2)).toEqual([String(full + conditional), String(conditional)]);
    expect((await countsOf('phone')).slice(0, 2)).toEqual(['1', '0']);
  });
});
