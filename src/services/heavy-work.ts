// Heavy requests one user may have running at once (issue 18: 3). Rate limits count requests; a
// create of a 15 MB source or a preview over ten of them is one request and seconds of work and
// hundreds of MB. Past `limits.heavyRequestsPerUser` the next one is refused at once with 429 and
// Retry-After instead of queuing: a queue would hold the memory anyway.
// Counted per process: with N web instances a user may run up to N times the limit in all.
import type { Deps } from '../deps.js';
import { RateLimitedError, withRetryAfter } from '../errors.js';

/** Seconds a refused caller is asked to wait: heavy requests take seconds, not minutes. */
const RETRY_AFTER_SECONDS = 2;

/** Running counts per user, per registry (one per app, so tests' apps do not share counts). */
const running = new WeakMap<object, Map<string, number>>();

export async function withHeavySlot<T>(deps: Pick<Deps, 'config' | 'registry'>, userId: string, work: () => Promise<T>): Promise<T> {
  let counts = running.get(deps.registry);
  if (!counts) running.set(deps.registry, (counts = new Map()));
  const max = deps.config.limits.heavyRequestsPerUser;
  const current = counts.get(userId) ?? 0;
  if (current >= max) {
    throw withRetryAfter(
      new RateLimitedError(
        `${max} heavy requests of yours (creating, changing or refreshing sources, saving or previewing feeds, importing OPML) are still running; wait for one to finish and retry in ${RETRY_AFTER_SECONDS} seconds`,
      ),
      RETRY_AFTER_SECONDS * 1000,
    );
  }
  counts.set(userId, current + 1);
  try {
    return await work();
  } finally {
    const left = (counts.get(userId) ?? 1) - 1;
    if (left > 0) counts.set(userId, left);
    else counts.delete(userId);
  }
}
