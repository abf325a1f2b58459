// A real browser opens a published Atom URL: Debian's Chromium (no browser download), driven by
// playwright-core over 127.0.0.1. Chromium removed XSLT (version 155), so what it shows is the feed
// page the navigation gets; where a Chromium still runs XSLT, the stylesheet is checked as well.
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium, skipBrowserTests } from '../dashboard/browser.js';
import { PUBLIC_URL } from '../helpers/app.js';
import { HOSTILE_TITLE, publishHostileFeed, type PublishedFixture } from './browser-view-setup.js';

/** The one DOM function used, typed here: the project's TypeScript has no DOM library. */
interface StyleWindow {
  getComputedStyle(element: unknown): { marginTop: string };
}

// Like the dashboard suite: skipped with a reason locally, a failure under CI (launchChromium throws).
describe.skipIf(skipBrowserTests)(`a browser opening a feed URL (${CHROMIUM})`, () => {
  let f: PublishedFixture;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    f = await publishHostileFeed();
    await f.t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(f.t.app.server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await f?.close();
  });

  /** A page that fails the test on any dialog (a script ran) and records what the browser refused. */
  async function openPage(): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    // CSP refusals and script errors; failed loads are told apart below (the favicon may be missing).
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
    });
    page.on('response', (response) => {
      if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) problems.push(`${response.status()}: ${response.url()}`);
    });
    page.on('requestfailed', (request) => problems.push(`failed: ${request.url()}`));
    return { page, problems };
  }
  const local = (url: string): string => base + url.slice(PUBLIC_URL.length);

  it('shows the feed title, its entries and the feed URL to copy', async () => {
    const { page, problems } = await openPage();
    const response = await page.goto(local(f.urls.atom));
    expect(response?.status()).toBe(200);
    const text = await page.locator('body').innerText();
    expect(text).toContain(HOSTILE_TITLE);
    expect(text).toContain('paste one of its URLs into your reader');
    // hostile-html.rss's items and the podcast's episodes.
    expect(text).toContain('Second & safe');
    expect(text).toContain("Ep. 42: The Lighthouse Keeper's Last Watch");
    expect(await page.locator('article').count()).toBe(5);
    expect(await page.locator('input[readonly]').first().inputValue()).toBe(f.urls.atom);
    // Our style sheet loaded under the CSP every answer carries; nothing ran, nothing was refused.
    expect(await page.locator('h1').evaluate((h1) => (globalThis as unknown as StyleWindow).getComputedStyle(h1).marginTop)).toBe('8px');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('offers the feeds to the browser by <link rel="alternate">', async () => {
    const { page } = await openPage();
    await page.goto(local(`${PUBLIC_URL}/f/${f.token}`));
    const alternates = await page
      .locator('link[rel=alternate]')
      .evaluateAll((links) => links.map((link) => [link.getAttribute('type'), link.getAttribute('href')]));
    expect(alternates).toEqual([
      ['application/atom+xml', f.urls.atom],
      ['application/rss+xml', f.urls.rss],
      ['application/feed+json', f.urls.json],
    ]);
    await page.close();
  });

  // Chromium shows application/atom+xml as plain text, stylesheet or not; it runs XSLT (while it
  // still has it) on documents it displays as XML. Relabelling our exact bytes application/xml lets
  // it apply the stylesheet the way Firefox and Safari do. The browser is at the public URL (its
  // requests proxied to the app) so the document and the stylesheet share an origin, as XSLT requires.
  it.for(['atom', 'rss'] as const)('renders the XSL view of the exact %s bytes when this Chromium runs XSLT', async (format, context) => {
    const { page, problems } = await openPage();
    await page.goto(`${base}/feed.css`);
    if (!(await page.evaluate(() => typeof (globalThis as { XSLTProcessor?: unknown }).XSLTProcessor === 'function'))) {
      await page.close();
      context.skip('this Chromium has no XSLT (Chrome removed it); the navigation test above covers such browsers');
    }
    let served = '';
    await page.route(`${PUBLIC_URL}/**`, async (route) => {
      const url = route.request().url();
      // As a reader asks: these bytes are what every reader gets.
      const response = await route.fetch({ url: local(url), headers: { accept: '*/*' } });
      const body = await response.text();
      if (url === f.urls[format]) served = body;
      const type = url === f.urls[format] ? 'application/xml; charset=utf-8' : response.headers()['content-type'];
      await route.fulfill({ status: response.status(), body, headers: { ...response.headers(), 'content-type': type ?? '' } });
    });
    await page.goto(f.urls[format]);
    expect(served).toContain(`<?xml-stylesheet type="text/xsl" href="${PUBLIC_URL}/feed.xsl"?>`);
    const text = await page.locator('body').innerText();
    expect(text).toContain(HOSTILE_TITLE);
    expect(text).toContain('paste its URL into your reader');
    expect(text).toContain('Second & safe');
    expect(await page.locator('article').count()).toBe(5);
    expect(await page.locator('input[readonly]').inputValue()).toBe(f.urls[format]);
    expect(await page.locator('h1').evaluate((h1) => (globalThis as unknown as StyleWindow).getComputedStyle(h1).marginTop)).toBe('8px');
    // Not ours: COOP is ignored on the plain-http test origin, and Chromium's own XSLT deprecation
    // banner carries an inline handler that our CSP (script-src-attr 'none') blocks.
    const banner = (await page.locator('xslt-warning-banner').count()) > 0;
    const ours = problems.filter(
      (problem) =>
        !problem.includes('Cross-Origin-Opener-Policy') && !(banner && problem.includes('Executing inline event handler violates')),
    );
    expect(ours).toEqual([]);
    await page.close();
  });
});

if (skipBrowserTests) {
  describe('a browser opening a feed URL', () => {
    it.skip(`skipped: no Chromium at ${CHROMIUM} (Debian package chromium; set CHROMIUM_PATH for another)`, () => {});
  });
}
