// Heavy requests one user may have running at once (issue 18: 3). Rate limits count requests; a
// create of a 15 MB source or a preview over ten of them is one request and seconds of work and
// hundreds of MB. Past `limits.heavyRequestsPerUser` the next ones wait, in order, for a slot: a
// request that has not started holds only its small JSON body, and a client creating sources in
// parallel (the contract's 201) should be slowed, not refused. A request still waiting after
// `limits.heavyRequestWaitSeconds`, or past MAX_WAITING in line, gets 429 with Retry-After.
// Counted per process: with N web instances a user may run up to N times the limit in all.
import type { Deps } from '../deps.js';
import { RateLimitedError, withRetryAfter } from '../errors.js';

/** Seconds a refused caller is asked to wait: heavy requests take seconds, not minutes. */
const RETRY_AFTER_SECONDS = 2;
/** Requests of one user that may wait in line; more are refused at once. */
const MAX_WAITING = 32;

interface UserSlots {
  running: number;
  /** Callbacks of the waiting requests, oldest first: each takes the slot it is handed. */
  waiting: Array<() => void>;
}

/** Slots per user, per registry (one per app, so tests' apps do not share counts). */
const slotsByRegistry = new WeakMap<object, Map<string, UserSlots>>();

export async function withHeavySlot<T>(deps: Pick<Deps, 'config' | 'registry'>, userId: string, work: () => Promise<T>): Promise<T> {
  let users = slotsByRegistry.get(deps.registry);
  if (!users) slotsByRegistry.set(deps.registry, (users = new Map()));
  let slots = users.get(userId);
  if (!slots) users.set(userId, (slots = { running: 0, waiting: [] }));
  const { heavyRequestsPerUser: max, heavyRequestWaitSeconds: waitSeconds } = deps.config.limits;
  if (slots.running < max) slots.running += 1;
  else await waitForSlot(slots, max, waitSeconds);
  try {
    return await work();
  } finally {
    const next = slots.waiting.shift();
    // The slot passes straight to the oldest waiter, so `running` stays as it is.
    if (next) next();
    else if (--slots.running === 0) users.delete(userId);
  }
}

function waitForSlot(slots: UserSlots, max: number, waitSeconds: number): Promise<void> {
  const refusal = () =>
    withRetryAfter(
      new RateLimitedError(
        `${max} heavy requests of yours (creating, changing or refreshing sources, saving or previewing feeds, importing OPML) are still running; wait for one to finish and retry in ${RETRY_AFTER_SECONDS} seconds`,
      ),
      RETRY_AFTER_SECONDS * 1000,
    );
  if (waitSeconds === 0 || slots.waiting.length >= MAX_WAITING) return Promise.reject(refusal());
  return new Promise<void>((resolve, reject) => {
    const take = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      const index = slots.waiting.indexOf(take);
      if (index >= 0) slots.waiting.splice(index, 1);
      reject(refusal());
    }, waitSeconds * 1000);
    slots.waiting.push(take);
  });
}
