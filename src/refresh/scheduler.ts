// The in-process scheduler of `feedproxy serve`: every tick, refresh what the due index says is
// due, within limits. A tick's reads follow the work: the due sources, the failing sources whose
// stale threshold just passed, and the status counters — never the whole registry.
import type { Deps } from '../deps.js';
import { rebuildFeedsOfSource, rebuildPendingFeeds } from '../publish/rebuild-feed.js';
import { isStoreBusy } from '../store/kv.js';
import { logBackgroundFailure } from '../store-unavailable.js';
import { dueAtOf } from '../model/source-policy.js';
import { refreshDueSources } from './run-batch.js';
import { putBackPendingSources } from '../services/connections.js';

export interface Scheduler {
  /** Stops ticking and waits for the refreshes under way. */
  stop(): Promise<void>;
  /** Runs one tick now (tests, and the first tick after start). */
  tick(): Promise<void>;
}

export function startScheduler(deps: Deps): Scheduler {
  const abort = new AbortController();
  const tickMs = deps.config.refresh.tickSeconds * 1000;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  /** Since when stale thresholds have been looked at; the first tick looks at every past one. */
  let checkedUntil = Number.NEGATIVE_INFINITY;

  const tick = async () => {
    if (running) return running; // a slow tick is not piled on
    running = (async () => {
      const now = deps.now();
      await rebuildPendingFeeds(deps);
      // Before the due sources: what a relink left of its put-back is due at once, and fetched this tick.
      await putBackPendingSources(deps);
      deps.metrics.schedulerLag.set(0);
      await refreshDueSources(deps, {
        signal: abort.signal,
        onFirstClaim: (claimed) => deps.metrics.schedulerLag.set(claimed[0] ? Math.max(0, now.getTime() - dueAtOf(claimed[0])) / 1000 : 0),
      });
      countByStatus(deps, await deps.registry.countSourcesByStatus());
      const until = now.getTime();
      await rebuildTurnedStale(deps, checkedUntil, until, abort.signal);
      checkedUntil = until;
    })()
      // Busy: what is left of the tick stays due or pending, and the stale thresholds stay unchecked
      // (checkedUntil is not moved), so the next tick does it.
      .catch((error: unknown) => logBackgroundFailure(deps.logger, error, 'scheduler tick'))
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  const schedule = (delayMs: number) => {
    if (abort.signal.aborted) return;
    timer = setTimeout(() => {
      void tick().finally(() => schedule(tickMs));
    }, delayMs);
    timer.unref();
  };
  // A random first delay: instances restarted together don't tick in step.
  schedule(Math.random() * Math.min(tickMs, 5000));

  return {
    tick,
    async stop() {
      abort.abort();
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/**
 * Rebuilds the feeds of each source whose stale threshold passed in (from, until]: see staleAtOf in model/source-policy.ts.
 * The due index keeps failing sources by when their failure began, so this reads only those.
 */
async function rebuildTurnedStale(deps: Deps, from: number, until: number, signal: AbortSignal): Promise<void> {
  const hours = deps.config.refresh.staleAfterHours * 3_600_000;
  const after = Number.isFinite(from) ? new Date(from - hours) : undefined;
  const ids = await deps.registry.sourcesFailingBetween(after, new Date(until - hours));
  for (const id of ids) {
    if (signal.aborted) return; // shutting down: the next start looks at every past threshold again
    await rebuildFeedsOfSource(deps, id).catch((error: unknown) => {
      // Busy: the rest would wait out the busy timeout one by one; the tick ends, and the next looks again.
      if (isStoreBusy(error)) throw error;
      deps.logger.warn({ sourceId: id, err: (error as Error).message }, 'rebuild for the stale marker failed');
    });
  }
}

function countByStatus(deps: Deps, counts: Record<string, number>): void {
  deps.metrics.sourcesByStatus.reset();
  for (const [status, count] of Object.entries(counts)) deps.metrics.sourcesByStatus.set({ status }, count);
}
