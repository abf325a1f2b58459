// Wrong API keys (and admin tokens), counted per client address. The rate limiter buckets API
// requests by key, so a client making up a new key for every request would get a fresh bucket each
// time; its failures are counted here instead, and past the budget its wrong keys get 429 for the
// rest of its minute. A valid key from the same address still works: behind a proxy or a NAT many
// people share one address, and one of them guessing must not lock the others out.
import { RateLimitedError, withRetryAfter } from '../../errors.js';
import type { KeyValueStore } from '../../store/kv.js';
import { addressKey } from '../client-address.js';

const WINDOW_MS = 60_000;
/** Addresses tracked at once; past it the oldest windows are forgotten (memory stays bounded). */
const MAX_ADDRESSES = 10_000;

export interface WrongKeyLimit {
  /** Seconds until the address may try again, or 0. */
  blockedFor(address: string): number;
  recordFailure(address: string): void;
  /** Counts a wrong key from `address` and throws: 429 past the budget, else `refusal`. */
  refuse(address: string, refusal: Error): Promise<never>;
}

/**
 * With a shared store (Redis), the count is the store's, so N instances behind a balancer allow
 * one budget between them rather than N; else it is this process's memory.
 */
export function createWrongKeyLimit(
  maxPerMinute: number,
  now: () => number = Date.now,
  shared?: Pick<KeyValueStore, 'hitWindow'>,
): WrongKeyLimit {
  const limit = createLocalWrongKeyLimit(maxPerMinute, now);
  const hitWindow = shared?.hitWindow;
  if (!hitWindow) return limit;
  return {
    ...limit,
    async refuse(address, refusal) {
      const { count, remainingMs } = await hitWindow(`wrong-keys:${addressKey(address)}`, WINDOW_MS);
      if (count > maxPerMinute) {
        const blockedFor = Math.max(1, Math.ceil(remainingMs / 1000));
        throw withRetryAfter(
          new RateLimitedError(`more than ${maxPerMinute} wrong keys a minute from this address; retry in ${blockedFor} seconds`),
          blockedFor * 1000,
        );
      }
      throw refusal;
    },
  };
}

function createLocalWrongKeyLimit(maxPerMinute: number, now: () => number): WrongKeyLimit {
  const windows = new Map<string, { start: number; failures: number }>();
  const current = (address: string) => {
    const window = windows.get(address);
    return window && now() - window.start < WINDOW_MS ? window : undefined;
  };
  const limit: WrongKeyLimit = {
    blockedFor(address) {
      const window = current(address);
      return window && window.failures >= maxPerMinute ? Math.ceil((window.start + WINDOW_MS - now()) / 1000) : 0;
    },
    recordFailure(address) {
      const key = addressKey(address);
      const window = current(key);
      if (window) return void (window.failures += 1);
      windows.delete(key);
      if (windows.size >= MAX_ADDRESSES) forgetOne();
      windows.set(key, { start: now(), failures: 1 });
    },
    async refuse(address, refusal) {
      const blockedFor = limit.blockedFor(addressKey(address));
      if (blockedFor > 0) {
        throw withRetryAfter(
          new RateLimitedError(`more than ${maxPerMinute} wrong keys a minute from this address; retry in ${blockedFor} seconds`),
          blockedFor * 1000,
        );
      }
      limit.recordFailure(address);
      throw refusal;
    },
  };
  /** An expired window if there is one, else the oldest; never a live block while an expired one remains. */
  function forgetOne(): void {
    for (const [key, window] of windows) {
      if (now() - window.start >= WINDOW_MS) return void windows.delete(key);
    }
    windows.delete(windows.keys().next().value!);
  }
  return limit;
}
