// The hostile suite's app: the real app on a temp store, whose fetcher can never send a packet off
// this machine. Every connect the guard approves goes through a seam that records it and refuses
// anything but loopback; names resolve from a table, never from real DNS.
import type { ConnectTarget } from '../fetch/harness.js';
import { startTestApp, type TestApp, type TestAppOptions } from '../helpers/app.js';

export type Resolver = string[] | (() => string[]);

export interface HostileApp extends TestApp {
  /** Every address the guard approved and handed to the connect step, in order. */
  targets: ConnectTarget[];
  /** Every name looked up, in order. */
  lookups: string[];
}

export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

export async function startHostileApp(dns: Record<string, Resolver> = {}, options: TestAppOptions = {}): Promise<HostileApp> {
  const targets: ConnectTarget[] = [];
  const lookups: string[] = [];
  const t = await startTestApp({
    ...options,
    overrides: {
      ...options.overrides,
      fetcher: {
        connect: (target) => {
          targets.push(target);
          if (!isLoopback(target.address)) throw Object.assign(new Error('refused by the test connector'), { code: 'E_TEST_REFUSED' });
        },
      },
      fetcherHooks: {
        lookup: async (hostname) => {
          lookups.push(hostname);
          const entry = hostname === 'localhost' ? ['127.0.0.1'] : dns[hostname];
          if (entry === undefined) throw Object.assign(new Error(`no test DNS for ${hostname}`), { code: 'ENOTFOUND' });
          return (typeof entry === 'function' ? entry() : entry).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
        },
      },
    },
  });
  return Object.assign(t, { targets, lookups });
}

/** An error answer must be a small coded JSON object, never a stack or a path of ours. */
export function expectSafeErrorBody(body: string): { error: string; message: string } {
  const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
  if (typeof parsed.error !== 'string' || typeof parsed.message !== 'string')
    throw new Error(`not {error, message}: ${body.slice(0, 200)}`);
  if (/\n\s+at |node_modules|\/src\/|\.ts:\d+/.test(body)) throw new Error(`stack or path in an answer: ${body.slice(0, 200)}`);
  return { error: parsed.error, message: parsed.message };
}
