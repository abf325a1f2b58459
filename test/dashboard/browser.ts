// Headless Debian Chromium for the browser tests (the dashboard's, and a browser opening a feed URL),
// through playwright-core, which never downloads a browser. Without /usr/bin/chromium (or the
// CHROMIUM_PATH given) the tests skip with a reason, except under CI where the browser is part of
// the contract and its absence fails the run.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
/** Skip (locally) only; under CI a missing browser must fail. */
export const skipBrowserTests = !hasChromium && !process.env.CI;
if (skipBrowserTests) console.warn(`browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium, or set CHROMIUM_PATH)`);

export async function launchChromium(): Promise<Browser> {
  if (!hasChromium) throw new Error(`${CHROMIUM} is missing: .ci/run installs the Debian chromium package`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
}

/** A port free right now on 127.0.0.1: the app's public URL (OAuth callback, feed URLs) must name it before it listens. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core run inside the page; the serious and critical violations. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // axe's source goes in through evaluate(), which the page's CSP does not govern: the dashboard
  // refuses inline scripts, so addScriptTag({content}) would be blocked (rightly).
  await page.evaluate(axeSource);
  // A string: this runs in the page, where `document` and `axe` are (the test's tsconfig has no DOM).
  const violations = (await page.evaluate(
    "axe.run(document, { resultTypes: ['violations'] }).then((result) => result.violations)",
  )) as AxeViolation[];
  return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
}
