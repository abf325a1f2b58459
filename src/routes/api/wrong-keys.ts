// Wrong API keys, counted per client address. The rate limiter buckets API requests by key, so a
// client making up a new key for every request would get a fresh bucket each time; its failures are
// counted here instead, and an address past the budget is refused for the rest of its minute —
// before any key lookup — whatever key it sends next.

const WINDOW_MS = 60_000;
/** Addresses tracked at once; past it the oldest windows are forgotten (memory stays bounded). */
const MAX_ADDRESSES = 10_000;

export interface WrongKeyLimit {
  /** Seconds until the address may try again, or 0. */
  blockedFor(address: string): number;
  recordFailure(address: string): void;
}

export function createWrongKeyLimit(maxPerMinute: number, now: () => number = Date.now): WrongKeyLimit {
  const windows = new Map<string, { start: number; failures: number }>();
  const current = (address: string) => {
    const window = windows.get(address);
    return window && now() - window.start < WINDOW_MS ? window : undefined;
  };
  return {
    blockedFor(address) {
      const window = current(address);
      return window && window.failures >= maxPerMinute ? Math.ceil((window.start + WINDOW_MS - now()) / 1000) : 0;
    },
    recordFailure(address) {
      const window = current(address);
      if (window) return void (window.failures += 1);
      windows.delete(address);
      if (windows.size >= MAX_ADDRESSES) windows.delete(windows.keys().next().value!);
      windows.set(address, { start: now(), failures: 1 });
    },
  };
}
