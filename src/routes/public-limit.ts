// The rate limit of the public feed URLs. Hosted readers (Feedly, Inoreader…) poll thousands of
// feeds from a handful of addresses, so the budget is per client address AND feed URL: one address
// reading many feeds is never refused, one client hammering one feed is. IPv6 clients usually hold
// a /64, counted as one address (the wrong-key limiter's grouping). URLs that open no feed share one
// budget per address, so making up tokens does not buy fresh budgets.
//
// Counted in memory, in fixed one-minute windows: a poll costs a Map lookup, never a store round
// trip. With a shared store (Redis), each instance adds its counts to the store's once a second and
// reads back what the others counted (`share`), so the budget holds across instances to within
// what they admit in one second between two exchanges.
import { createHash } from 'node:crypto';
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

/** Adds counts to the shared store and answers the totals there (all instances', ours included). */
export type ShareCounts = (window: number, counts: Array<[key: string, count: number]>) => Promise<number[]>;

export interface PublicLimit {
  /** Counts one request of `address` for `feedKey` (a feed and token id; undefined when the URL opens nothing). */
  take(address: string, feedKey: string | undefined): LimitAnswer;
  close(): void;
}

interface Budget {
  window: number;
  /** Counted here since the last exchange with the store. */
  unsent: number;
  /** Counted here in this window, in all. */
  own: number;
  /** Counted by other instances in this window, as of the last exchange. */
  others: number;
}

export function createPublicLimit(maxPerMinute: number, options: { share?: ShareCounts; shareEveryMs?: number; now?: () => number } = {}): PublicLimit {
  const now = options.now ?? Date.now;
  const budgets = new Map<string, Budget>();
  const answer: LimitAnswer = { allowed: true, limit: maxPerMinute, remaining: 0, resetSeconds: 0 };
  let timer: NodeJS.Timeout | undefined;
  let sharing = false;

  async function exchange(share: ShareCounts): Promise<void> {
    if (sharing) return;
    sharing = true;
    try {
      const window = Math.floor(now() / WINDOW_MS);
      const sent: Array<[string, Budget, number]> = [];
      for (const [key, budget] of budgets) {
        if (budget.window === window && budget.unsent > 0) sent.push([key, budget, budget.unsent]);
      }
      if (sent.length === 0) return;
      for (const [, budget, count] of sent) budget.unsent -= count;
      const totals = await share(
        window,
        sent.map(([key, , count]) => [key, count]),
      ).catch(() => undefined);
      for (const [index, [, budget, count]] of sent.entries()) {
        if (totals === undefined) budget.unsent += count; // the store is away: send again next time
        else if (budget.window === window) budget.others = Math.max(0, totals[index]! - (budget.own - budget.unsent));
      }
    } finally {
      sharing = false;
    }
  }
  if (options.share) {
    const share = options.share;
    timer = setInterval(() => void exchange(share), options.shareEveryMs ?? 1000);
    timer.unref();
  }

  return {
    take(address, feedKey) {
      const at = now();
      const window = Math.floor(at / WINDOW_MS);
      const key = `${addressKey(address)}|${feedKey ?? ''}`;
      let budget = budgets.get(key);
      if (budget === undefined || budget.window !== window) {
        if (budget === undefined && budgets.size >= MAX_KEYS) forgetOne(window);
        budget = { window, unsent: 0, own: 0, others: 0 };
        budgets.set(key, budget);
      }
      const used = budget.own + budget.others;
      answer.resetSeconds = Math.ceil(((window + 1) * WINDOW_MS - at) / 1000);
      if (used >= maxPerMinute) {
        answer.allowed = false;
        answer.remaining = 0;
        return answer;
      }
      budget.own += 1;
      budget.unsent += 1;
      answer.allowed = true;
      answer.remaining = maxPerMinute - used - 1;
      return answer;
    },
    close() {
      if (timer) clearInterval(timer);
    },
  };

  /** An expired budget if there is one, else the oldest. */
  function forgetOne(window: number): void {
    for (const [key, budget] of budgets) {
      if (budget.window !== window) return void budgets.delete(key);
    }
    budgets.delete(budgets.keys().next().value!);
  }
}

/** The key a budget is shared under in the store: hashed, so no address or feed id is stored in clear. */
export function sharedLimitKey(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 22);
}
