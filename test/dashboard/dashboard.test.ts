// The dashboard end to end in headless Chromium: sign in, add a tokenized source (token masked),
// build a merged feed with its preview, open its Atom URL, subscriber URLs, rotate, connect an OAuth
// provider, refuse CSRF-less posts, show hostile titles as text, pass axe, sign out. Screenshots of
// the main pages go to test-results/screenshots/ (untracked: `npm test` rewrites no tracked file);
// `npm run screenshots` points FEEDPROXY_SCREENSHOTS at docs/screenshots/ to refresh the ones docs/dashboard.md shows.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-oauth-provider.js';
import { serveBody, startUpstream, type Upstream } from '../helpers/upstream.js';
import { freePort, launchChromium, seriousViolations, skipBrowserTests } from './browser.js';

const FEED_TOKEN = 'tok3nS3cretValue9q8w7e6r';
const XSS = `<img src=x onerror="alert('xss')"><script>alert('xss')</script>`;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCREENSHOTS = resolve(ROOT, process.env.FEEDPROXY_SCREENSHOTS ?? 'test-results/screenshots');

function atomFeed(title: string, entries: { id: string; title: string; day: number }[]): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>${title}</title><id>urn:test:${title}</id><updated>2025-06-10T00:00:00Z</updated>
${entries.map((entry) => `<entry><id>urn:test:${entry.id}</id><title>${entry.title}</title><link href="https://example.com/${entry.id}"/><updated>2025-06-${String(entry.day).padStart(2, '0')}T08:00:00Z</updated><summary>About ${entry.title}.</summary></entry>`).join('\n')}
</feed>`;
}

describe.skipIf(skipBrowserTests)('dashboard in a browser', () => {
  let upstream: Upstream;
  let provider: FakeProvider;
  let t: TestApp;
  let base: string;
  let apiKey: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  const cspViolations: string[] = [];

  beforeAll(async () => {
    upstream = await startUpstream({
      // A private feed: only the right token opens it.
      '/private.atom': (request, response) => {
        const token = new URL(request.url ?? '/', 'http://upstream').searchParams.get('token');
        if (token !== FEED_TOKEN) return void response.writeHead(401).end();
        return serveBody(
          atomFeed('Private news', [
            { id: 'p1', title: 'Quarterly numbers are in', day: 9 },
            { id: 'p2', title: 'Release notes 2.0', day: 8 },
            { id: 'p3', title: 'Team offsite recap', day: 7 },
          ]),
        )(request, response);
      },
      '/blog.atom': serveBody(
        atomFeed('Team blog', [
          { id: 'b1', title: 'Hello from the blog', day: 10 },
          { id: 'b2', title: 'A sponsored post', day: 6 },
        ]),
      ),
    });
    provider = await startFakeProvider();
    const { id: _id, ...settings } = provider.config;
    const dir = mkdtempSync(join(tmpdir(), 'feedproxy-dashboard-'));
    const configFile = join(dir, 'feedproxy.yaml');
    writeFileSync(configFile, stringify({ providers: { netflix: settings } }));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    t = await startTestApp({
      allowPrivate: [upstream.hostPort, provider.hostPort],
      env: { FEEDPROXY_CONFIG: configFile, FEEDPROXY_PUBLIC_URL: base },
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    apiKey = await t.createUserKey('alice');
    mkdirSync(SCREENSHOTS, { recursive: true });

    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: base });
    page = await context.newPage();
    // Fail a step with its own message well before the test's timeout.
    page.setDefaultTimeout(8000);
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await provider?.close();
    await upstream?.close();
  });

  async function expectAccessible(name: string) {
    const violations = await seriousViolations(page);
    expect(
      violations.map(
        (violation) =>
          `${name}: ${violation.id} (${violation.impact}) ${violation.help} at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
      ),
    ).toEqual([]);
  }

  it('signs in with an API key (a wrong key shows the API error) and adds a tokenized source, shown masked', async () => {
    await page.goto('/');
    await expect.poll(() => new URL(page.url()).pathname).toBe('/dashboard/sign-in');
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-in.png') });
    await expectAccessible('sign-in');

    await page.getByLabel('API key').fill('fp_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Missing or invalid API key');

    await page.getByLabel('API key').fill(apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/dashboard/sources');
    const cookies = await context.cookies();
    const session = cookies.find((cookie) => cookie.name === 'fp_dashboard');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/dashboard' });
    expect(session?.value).not.toContain(apiKey.slice(3, 20));

    // An upstream error is shown as the API gives it.
    await page.getByLabel('Feed or page URL').fill(upstream.url('/private.atom?token=wrong'));
    await page.getByRole('button', { name: 'Add source' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/401/);

    await page.getByLabel('Feed or page URL').fill(upstream.url(`/private.atom?token=${FEED_TOKEN}`));
    await page.getByLabel(/^Title/).fill('');
    await page.getByRole('button', { name: 'Add source' }).click();
    await page.waitForURL('**/dashboard/sources?done=added');
    const row = page.getByRole('row', { name: /Private news/ });
    await expect.poll(() => row.textContent()).toContain('ok');
    expect(await row.textContent()).toContain('token=***');
    expect(await page.content()).not.toContain(FEED_TOKEN);

    await page.getByLabel('Feed or page URL').fill(upstream.url('/blog.atom'));
    await page.getByRole('button', { name: 'Add source' }).click();
    await page.waitForURL('**/dashboard/sources?done=added');
    await page.screenshot({ path: join(SCREENSHOTS, 'sources.png'), fullPage: true });
    await expectAccessible('sources');

    // Recent items of a source.
    await page.getByRole('link', { name: 'Private news', exact: true }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Recent items' }).isVisible()).toBe(true);
    expect(await page.getByRole('link', { name: 'Quarterly numbers are in' }).count()).toBe(1);
    expect(await page.content()).not.toContain(FEED_TOKEN);
  });

  it('refuses a form post without the CSRF token, or with a wrong one (403), and changes nothing', async () => {
    const before = (await t.api(apiKey, { method: 'GET', url: '/api/v1/sources' })).json().sources.length;
    const missing = await page.request.post('/dashboard/sources', { form: { url: upstream.url('/blog.atom') }, maxRedirects: 0 });
    expect(missing.status()).toBe(403);
    const wrong = await page.request.post('/dashboard/sources', {
      form: { url: upstream.url('/blog.atom'), _csrf: 'forged' },
      maxRedirects: 0,
    });
    expect(wrong.status()).toBe(403);
    const signOut = await page.request.post('/dashboard/sign-out', { form: {}, maxRedirects: 0 });
    expect(signOut.status()).toBe(403);
    expect((await t.api(apiKey, { method: 'GET', url: '/api/v1/sources' })).json().sources.length).toBe(before);
  });

  it('builds a merged feed with a live preview, opens its Atom URL, adds a subscriber URL and rotates', async () => {
    await page.goto('/dashboard/feeds');
    await page.getByRole('link', { name: 'New merged feed' }).click();
    await page.getByLabel('Title', { exact: true }).fill('Morning digest');
    await page.getByLabel(/Private news/).check();
    await page.getByLabel(/Team blog/).check();
    await page.getByLabel('Exclude entries matching').fill('sponsored');
    // The live preview (plain JS fetch) shows the first entries, without the excluded one.
    const preview = page.locator('#preview');
    await expect.poll(() => preview.textContent(), { timeout: 5000 }).toContain('Hello from the blog');
    expect(await preview.textContent()).toContain('Quarterly numbers are in');
    expect(await preview.textContent()).not.toContain('A sponsored post');
    await page.getByLabel('Prefix titles with the source').check();
    await expect.poll(() => preview.textContent(), { timeout: 5000 }).toContain('Team blog: Hello from the blog');
    await page.screenshot({ path: join(SCREENSHOTS, 'feed-editor.png'), fullPage: true });
    await expectAccessible('feed editor');

    await page.getByRole('button', { name: 'Create feed' }).click();
    await page.waitForURL(/\/dashboard\/feeds\/[^/]+\?done=created/);
    const atomUrl = await page.getByLabel('Atom', { exact: true }).inputValue();
    expect(atomUrl).toMatch(new RegExp(`^${base}/[A-Za-z0-9_-]+\\.atom$`));
    // Copy buttons appear with the script; the URL boxes are read-only either way.
    expect(await page.getByRole('button', { name: 'Copy Atom', exact: true }).isVisible()).toBe(true);
    expect(await page.getByLabel('Atom', { exact: true }).getAttribute('readonly')).not.toBeNull();

    const atom = await page.request.get(atomUrl);
    expect(atom.status()).toBe(200);
    const atomText = await atom.text();
    expect(atomText).toContain('Private news: Quarterly numbers are in');
    expect(atomText).not.toContain('A sponsored post');
    expect(atomText).not.toContain(FEED_TOKEN);

    await page.getByLabel('New subscriber URL, named').fill('phone');
    await page.getByRole('button', { name: 'Create URL' }).click();
    await page.waitForURL(/done=token-created/);
    const phoneUrl = await page.getByLabel('Atom URL of phone').inputValue();
    expect((await page.request.get(phoneUrl)).status()).toBe(200);
    await expect.poll(() => page.locator('figure.chart svg').count()).toBe(1);
    await page.screenshot({ path: join(SCREENSHOTS, 'feed.png'), fullPage: true });
    await expectAccessible('feed');

    await page.getByRole('button', { name: 'Rotate URLs' }).click();
    await page.waitForURL(/done=rotated/);
    const rotatedUrl = await page.getByLabel('Atom', { exact: true }).inputValue();
    expect(rotatedUrl).not.toBe(atomUrl);
    expect((await page.request.get(atomUrl)).status()).toBe(404);
    expect((await page.request.get(rotatedUrl)).status()).toBe(200);
    expect((await page.request.get(phoneUrl)).status()).toBe(200);

    await page.getByRole('button', { name: 'Revoke phone' }).click();
    await page.waitForURL(/done=token-revoked/);
    expect((await page.request.get(phoneUrl)).status()).toBe(404);
  });

  it('shows an XSS payload in a source and a feed title as text: no dialog, the text visible', async () => {
    await page.goto('/dashboard/sources');
    // Another URL than the blog added above: the same one again is a duplicate (409).
    await page.getByLabel('Feed or page URL').fill(upstream.url('/blog.atom?copy=xss'));
    await page.getByLabel(/^Title/).fill(XSS);
    await page.getByRole('button', { name: 'Add source' }).click();
    await page.waitForURL('**/dashboard/sources?done=added');
    expect(await page.getByRole('link', { name: XSS, exact: true }).isVisible()).toBe(true);

    await page.goto('/dashboard/feeds/new');
    await page.getByLabel('Title', { exact: true }).fill(XSS);
    await page.getByRole('button', { name: 'Create feed' }).click();
    await page.waitForURL(/done=created/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(XSS);
    await page.goto('/dashboard/feeds');
    expect(await page.getByRole('link', { name: XSS, exact: true }).isVisible()).toBe(true);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('connects a provider through its authorize page and back, then adds one of its feeds in one click', async () => {
    await page.goto('/dashboard/connections');
    await page.screenshot({ path: join(SCREENSHOTS, 'connections.png'), fullPage: true });
    await page.getByRole('button', { name: 'Connect netflix' }).click();
    // Dashboard → provider's authorize page → /oauth/callback → back to the dashboard.
    await page.waitForURL(/\/dashboard\/connections\/[^/?]+\?done=connected/);
    const feeds = page.getByRole('listitem').filter({ has: page.getByRole('button', { name: /Add as source/ }) });
    await expect.poll(() => feeds.count()).toBeGreaterThanOrEqual(3);
    expect(await page.content()).not.toContain(provider.feedToken);
    await page.getByRole('button', { name: /^Add as source\W+Disc Queue$/ }).click();
    await page.waitForURL('**/dashboard/sources?done=added');
    expect(await page.getByRole('row', { name: /Disc Queue/ }).textContent()).toContain('ok');
    expect(await page.content()).not.toContain(provider.feedToken);

    await page.goto('/dashboard/connections');
    expect(await page.getByRole('listitem').filter({ hasText: 'connected' }).count()).toBe(1);
    await page.screenshot({ path: join(SCREENSHOTS, 'connections.png'), fullPage: true });
    await expectAccessible('connections');
  });

  it('works without JavaScript: Preview button, source edit, delete through the confirm page', async () => {
    const noScript = await browser.newContext({ javaScriptEnabled: false, baseURL: base });
    try {
      const plain = await noScript.newPage();
      plain.setDefaultTimeout(8000);
      await plain.goto('/dashboard/sign-in');
      await plain.getByLabel('API key').fill(apiKey);
      await plain.getByRole('button', { name: 'Sign in' }).click();
      await plain.waitForURL('**/dashboard/sources');

      await plain.goto('/dashboard/feeds/new');
      await plain
        .getByLabel(/Team blog/)
        .first()
        .check();
      await plain.getByRole('button', { name: 'Preview' }).click();
      await plain.waitForURL('**/dashboard/feeds');
      expect(await plain.locator('#preview').textContent()).toContain('Hello from the blog');
      // The copy buttons need the script; without it they stay hidden and the URL boxes are enough.
      expect(await plain.locator('button[data-copy]').count()).toBe(0);

      await plain.goto('/dashboard/sources');
      await plain.getByRole('link', { name: 'Team blog', exact: true }).first().click();
      await plain.getByLabel('Title').fill('Team blog (renamed)');
      await plain.getByLabel('Refresh every (minutes)').fill('45');
      await plain.getByRole('button', { name: 'Save' }).click();
      await plain.waitForURL(/done=saved/);
      expect(await plain.getByRole('heading', { level: 1 }).textContent()).toBe('Team blog (renamed)');
      await plain.getByRole('button', { name: 'Refresh now' }).click();
      await plain.waitForURL(/done=refreshed/);

      await plain.getByRole('link', { name: 'Delete…' }).click();
      await plain.waitForURL(/\/delete$/);
      await plain.getByRole('button', { name: 'Delete source' }).click();
      await plain.waitForURL(/done=deleted/);
      expect(await plain.getByRole('link', { name: 'Team blog (renamed)', exact: true }).count()).toBe(0);
    } finally {
      await noScript.close();
    }
  });

  it('fits a phone-width screen', async () => {
    await page.setViewportSize({ width: 360, height: 780 });
    await page.goto('/dashboard/sources');
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'sources-phone.png'), fullPage: true });
    await expectAccessible('sources (phone)');
    // The check itself can fail: a field without a label is a critical violation.
    await page.evaluate(`document.querySelector('main').insertAdjacentHTML('beforeend', '<input type="text">')`);
    expect((await seriousViolations(page)).map((violation) => violation.id)).toContain('label');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('signs out: the session cookie is cleared and the pages ask to sign in again', async () => {
    await page.goto('/dashboard/sources');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/dashboard/sign-in?out');
    expect(
      (await context.cookies()).find((cookie) => cookie.name === 'fp_dashboard' && cookie.value.length > 0 && cookie.value.includes('.'))
        ?.value,
    ).toBeDefined();
    await page.goto('/dashboard/sources');
    await expect.poll(() => new URL(page.url()).pathname).toBe('/dashboard/sign-in');
    expect(cspViolations).toEqual([]);
    // Neither the API key (cookie, form, in-process API calls) nor the feed token reached the logs.
    const logs = t.logs.join('');
    expect(logs).toContain('/dashboard/sign-in');
    expect(logs).not.toContain(apiKey);
    expect(logs).not.toContain(FEED_TOKEN);
  });
});
