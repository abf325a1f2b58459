// The in-process scheduler of `feedproxy serve`: every tick, refresh what is due, within limits.
import type { Deps } from '../deps.js';
import { rebuildFeedsOfSource, staleAtOf } from '../publish/rebuild-feed.js';
import type { SourceRecord } from '../store/registry.js';
import { dueSources, refreshBatch } from './run-batch.js';

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
      const sources = await deps.registry.listAllSources();
      const now = deps.now();
      countByStatus(deps, sources);
      const due = dueSources(sources, now);
      deps.metrics.schedulerLag.set(due[0] ? (now.getTime() - Date.parse(due[0].nextFetchAt)) / 1000 : 0);
      await refreshBatch(deps, due, {
        concurrency: deps.config.refresh.concurrency,
        perHost: deps.config.refresh.perHostConcurrency,
        onlyIfDue: true,
        signal: abort.signal,
      });
      const until = now.getTime();
      await rebuildTurnedStale(deps, sources, checkedUntil, until, abort.signal);
      checkedUntil = until;
    })()
      .catch((error: unknown) => deps.logger.error({ err: (error as Error).message }, 'scheduler tick failed'))
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

/** Rebuilds the feeds of each source whose stale threshold passed in (from, until]: see staleAtOf. */
async function rebuildTurnedStale(deps: Deps, sources: SourceRecord[], from: number, until: number, signal: AbortSignal): Promise<void> {
  for (const source of sources) {
    if (signal.aborted) return; // shutting down: the next start looks at every past threshold again
    const staleAt = staleAtOf(source, deps.config.refresh.staleAfterHours);
    if (staleAt === undefined || staleAt <= from || staleAt > until) continue;
    await rebuildFeedsOfSource(deps, source.id).catch((error: unknown) =>
      deps.logger.warn({ sourceId: source.id, err: (error as Error).message }, 'rebuild for the stale marker failed'),
    );
  }
}

function countByStatus(deps: Deps, sources: { status: string }[]): void {
  const counts = new Map<string, number>();
  for (const source of sources) counts.set(source.status, (counts.get(source.status) ?? 0) + 1);
  deps.metrics.sourcesByStatus.reset();
  for (const [status, count] of counts) deps.metrics.sourcesByStatus.set({ status }, count);
}
