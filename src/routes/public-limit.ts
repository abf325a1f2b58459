// The rate limit of the public feed URLs. Hosted readers (Feedly, Inoreader…) poll thousands of
// feeds from a handful of addresses, so the budget is per client address AND feed URL: one address
// reading many feeds is never refused, one client hammering one feed is. IPv6 clients usually hold
// a /64, counted as one address (the wrong-key limiter's grouping). URLs that open no feed share one
// budget per address, so making up tokens does not buy fresh budgets.
//
// Counted in memory, in one-minute windows: a poll costs a Map lookup, never a store round trip.
// With a shared store (Redis: N instances) each instance also adds its counts to the store's, in
// batches (every SYNC_MS, and at once when a budget's window opens), and learns the others' total
// from the answer: N instances enforce one budget, give or take what the others admitted since
// their last batch. What that allows: a client spreading its requests over N instances gets its
// budget, plus at most what each other instance admits in about one SYNC_MS before it has heard;
// a client on one instance is held exactly. Windows are then aligned to the clock's minutes, so
// every instance counts the same window.
import { addressKey } from './client-address.js';

const WINDOW_MS = 60_000;
/** Budgets tracked at once; past it the oldest are forgotten (memory stays bounded). */
const MAX_KEYS = 100_000;
/** How often an instance adds its counts to the shared ones (and hears the others'). */
export const SYNC_MS = 1000;

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
  /** Sends the counts not yet shared now (tests, shutdown); resolves once the store has answered. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Counts every instance adds to, per window (the window's start in ms) and budget key. */
export interface SharedCounts {
  /** Adds `by` to the shared count and answers the total of every instance. */
  add(windowStart: number, key: string, by: number): Promise<number>;
  /** Forgets a past window's counts. */
  drop(windowStart: number): Promise<void>;
}

interface Budget {
  key: string;
  /** Start of the window (ms): a budget's minute begins with its first request, or on the clock's minute when shared. */
  start: number;
  /** Requests admitted here in this window. */
  count: number;
  /** Of `count`, those not yet added to the shared count. */
  unsent: number;
  /** Of `count`, those sent (the shared total minus `sent` is the other instances'). */
  sent: number;
  /** What the other instances admitted in this window, as last heard. */
  others: number;
}

export function createPublicLimit(maxPerMinute: number, now: () => number = Date.now, shared?: SharedCounts): PublicLimit {
  const budgets = new Map<string, Budget>();
  const dirty = new Set<Budget>();
  let timer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Immediate | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let droppedBefore = 0;
  // One answer object, filled per call: this runs on every poll.
  const answer: LimitAnswer = { allowed: true, limit: maxPerMinute, remaining: 0, resetSeconds: 0 };
  // The last address's key: a keep-alive connection polls from one address, so most calls reuse it.
  let lastAddress = '';
  let lastAddressKey = '';
  // The last call's budget, by its address and feed key: a reader polling one feed on a keep-alive
  // connection skips making the budget's key and looking it up (forgotten with the budget).
  let lastBudget: Budget | undefined;
  let lastBudgetAddress = '';
  let lastBudgetFeedKey: string | undefined;

  function scheduleFlush(now: boolean): void {
    if (now) soon ??= setImmediate(() => void flush());
    else if (timer === undefined) timer = setTimeout(() => void flush(), SYNC_MS).unref();
  }

  function flush(): Promise<void> {
    if (timer !== undefined) clearTimeout(timer);
    if (soon !== undefined) clearImmediate(soon);
    timer = soon = undefined;
    if (!shared || dirty.size === 0) return flushing;
    const batch = [...dirty];
    dirty.clear();
    const sends: Array<Promise<void>> = [];
    for (const budget of batch) {
      const by = budget.unsent;
      budget.unsent = 0;
      budget.sent += by;
      const sentAfter = budget.sent;
      const start = budget.start;
      sends.push(
        shared.add(start, budget.key, by).then(
          (total) => {
            // The store answers one connection's commands in order: this total includes every batch
            // of ours up to this one, and whatever the others added.
            if (budget.start === start) budget.others = Math.max(budget.others, total - sentAfter);
          },
          () => {
            // The store is away: this instance goes on counting alone (as @fastify/rate-limit's skipOnError).
          },
        ),
      );
    }
    const window = alignedStart(now());
    if (window - WINDOW_MS > droppedBefore) {
      droppedBefore = window - WINDOW_MS;
      sends.push(shared.drop(window - 2 * WINDOW_MS).catch(() => undefined));
    }
    flushing = Promise.all(sends).then(() => undefined);
    return flushing;
  }

  return {
    take(address, feedKey) {
      const at = now();
      let budget: Budget | undefined;
      if (lastBudget !== undefined && address === lastBudgetAddress && feedKey === lastBudgetFeedKey) budget = lastBudget;
      else {
        if (address !== lastAddress) {
          lastAddressKey = addressKey(address);
          lastAddress = address;
        }
        budget = budgets.get(`${lastAddressKey}|${feedKey ?? ''}`);
      }
      const start = shared ? alignedStart(at) : budget === undefined || at - budget.start >= WINDOW_MS ? at : budget.start;
      if (budget === undefined || budget.start !== start) {
        if (budget === undefined && budgets.size >= MAX_KEYS) forgetOldest();
        const key = budget?.key ?? `${addressKey(address)}|${feedKey ?? ''}`;
        // Deleted and set again, so the map stays in order of window start: the oldest is first.
        budgets.delete(key);
        budget = { key, start, count: 0, unsent: 0, sent: 0, others: 0 };
        budgets.set(key, budget);
        // A new window: hear what the other instances admitted in it without waiting for the timer.
        if (shared) scheduleFlush(true);
      }
      lastBudget = budget;
      lastBudgetAddress = address;
      lastBudgetFeedKey = feedKey;
      answer.resetSeconds = Math.ceil((budget.start + WINDOW_MS - at) / 1000);
      if (budget.count + budget.others >= maxPerMinute) {
        answer.allowed = false;
        answer.remaining = 0;
        return answer;
      }
      budget.count += 1;
      // A budget with unsent counts is already in the next batch, and that batch's timer is set:
      // only the first poll of a batch queues it (the rest of a poll's work is the same on both stores).
      if (shared && budget.unsent++ === 0) {
        dirty.add(budget);
        scheduleFlush(false);
      }
      answer.allowed = true;
      answer.remaining = maxPerMinute - budget.count - budget.others;
      return answer;
    },
    flush,
    async close() {
      await flush();
      budgets.clear();
      lastBudget = undefined;
    },
  };

  /**
   * The budget whose window began first: expired if any is, else the oldest live one. O(1): a full
   * map of live budgets (many addresses of one /48) must not make each new key scan them all.
   */
  function forgetOldest(): void {
    const oldest = budgets.keys().next().value!;
    const budget = budgets.get(oldest)!;
    dirty.delete(budget);
    budgets.delete(oldest);
    if (budget === lastBudget) lastBudget = undefined;
  }
}

function alignedStart(at: number): number {
  return at - (at % WINDOW_MS);
}
