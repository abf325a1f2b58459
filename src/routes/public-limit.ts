// The rate limit of the public feed URLs. Hosted readers (Feedly, Inoreader…) poll thousands of
// feeds from a handful of addresses, so the budget is per client address AND feed URL: one address
// reading many feeds is never refused, one client hammering one feed is. IPv6 clients usually hold
// a /64, counted as one address (the wrong-key limiter's grouping). URLs that open no feed share one
// budget per address, so making up tokens does not buy fresh budgets.
//
// Counted in memory, in fixed one-minute windows: a poll costs a Map lookup, never a store round
// trip. Each instance counts alone (N instances admit up to N budgets a minute): sharing the count
// through Redis without a round trip per poll (local counts added to the store's once a second)
// is not built yet.
import { addressKey } from './api/wrong-keys.js';

const WINDOW_MS = 60_000;
/** Budgets tracked at once; past it the oldest are forgotten (memory stays bounded). */
const MAX_KEYS = 100_000;

export interface LimitAnswer {
  /** False when the request is over the budget. */
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window ends (x-ratelimit-reset, Retry-After). */
  resetSeconds: number;
}

export interface PublicLimit {
  /** Counts one request of `address` for `feedKey` (a feed and token id; undefined when the URL opens nothing). */
  take(address: string, feedKey: string | undefined): LimitAnswer;
  close(): void;
}

interface Budget {
  /** Start of the window (ms): a budget's minute begins with its first request, as @fastify/rate-limit's did. */
  start: number;
  count: number;
}

export function createPublicLimit(maxPerMinute: number, now: () => number = Date.now): PublicLimit {
  const budgets = new Map<string, Budget>();
  // One answer object, filled per call: this runs on every poll.
  const answer: LimitAnswer = { allowed: true, limit: maxPerMinute, remaining: 0, resetSeconds: 0 };

  return {
    take(address, feedKey) {
      const at = now();
      const key = `${addressKey(address)}|${feedKey ?? ''}`;
      let budget = budgets.get(key);
      if (budget === undefined || at - budget.start >= WINDOW_MS) {
        if (budget === undefined && budgets.size >= MAX_KEYS) forgetOldest();
        // Deleted and set again, so the map stays in order of window start: the oldest is first.
        budgets.delete(key);
        budget = { start: at, count: 0 };
        budgets.set(key, budget);
      }
      answer.resetSeconds = Math.ceil((budget.start + WINDOW_MS - at) / 1000);
      if (budget.count >= maxPerMinute) {
        answer.allowed = false;
        answer.remaining = 0;
        return answer;
      }
      budget.count += 1;
      answer.allowed = true;
      answer.remaining = maxPerMinute - budget.count;
      return answer;
    },
    close() {
      budgets.clear();
    },
  };

  /**
   * The budget whose window began first: expired if any is, else the oldest live one. O(1): a full
   * map of live budgets (many addresses of one /48) must not make each new key scan them all.
   */
  function forgetOldest(): void {
    budgets.delete(budgets.keys().next().value!);
  }
}
