// Builds fetchers for the fetch/ tests. Every fetcher gets a connect seam that records each approved
// target and refuses anything but loopback, so no test can send a packet off this machine.
import { afterEach } from 'vitest';
import { createFetcher, type FetcherHooks } from '../../src/fetch/index.js';
import type { Fetcher, FetcherOptions } from '../../src/fetch/types.js';

export type ConnectTarget = Parameters<NonNullable<FetcherOptions['connect']>>[0];

export interface TestFetcher {
  fetcher: Fetcher;
  /** Every target the guard approved, in order. */
  targets: ConnectTarget[];
}

const open: Fetcher[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((fetcher) => fetcher.close()));
});

export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

export function makeFetcher(allowPrivate: string[], overrides: Partial<FetcherOptions> = {}, hooks: FetcherHooks = {}): TestFetcher {
  const targets: ConnectTarget[] = [];
  const fetcher = createFetcher(
    {
      allowPrivate,
      maxBodyBytes: 1024 * 1024,
      timeoutMs: 5000,
      connectTimeoutMs: 2000,
      maxRedirects: 5,
      userAgent: 'feedproxy-test/1.0',
      connect: (target) => {
        targets.push(target);
        if (!isLoopback(target.address)) throw Object.assign(new Error('refused by the test connector'), { code: 'E_TEST_REFUSED' });
      },
      ...overrides,
    },
    { lookup: refuseLookup, ...hooks },
  );
  open.push(fetcher);
  return { fetcher, targets };
}

/** The default lookup in tests: only names that stay on this machine resolve. */
async function refuseLookup(hostname: string): Promise<Array<{ address: string; family: number }>> {
  if (hostname === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`no test DNS for ${hostname}`), { code: 'ENOTFOUND' });
}
