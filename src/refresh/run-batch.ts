// Runs refreshes with a global concurrency bound and a per-upstream-host bound, so one slow host
// never holds every slot and no host sees more than `perHost` of our connections at once.
import type { Deps } from '../deps.js';
import { InternalError } from '../errors.js';
import type { SourceRecord } from '../store/registry.js';
import { refreshSource, type RefreshOptions, type RefreshResult } from './refresh-source.js';

export interface BatchOptions extends RefreshOptions {
  concurrency: number;
  perHost: number;
  onResult?: (result: RefreshResult) => void;
  /** Stop starting new refreshes (shutdown); running ones finish. */
  signal?: AbortSignal;
}

export async function refreshBatch(deps: Deps, sources: SourceRecord[], options: BatchOptions): Promise<RefreshResult[]> {
  const queue = [...sources];
  const results: RefreshResult[] = [];
  const activeByHost = new Map<string, number>();
  let active = 0;

  return new Promise((resolve) => {
    const pump = () => {
      if (options.signal?.aborted) queue.length = 0;
      for (let index = 0; index < queue.length && active < options.concurrency; ) {
        const source = queue[index]!;
        if ((activeByHost.get(source.host) ?? 0) >= options.perHost) {
          index += 1;
          continue;
        }
        queue.splice(index, 1);
        active += 1;
        activeByHost.set(source.host, (activeByHost.get(source.host) ?? 0) + 1);
        refreshSource(deps, source.id, options)
          .then((result) => {
            if (!result) return;
            results.push(result);
            options.onResult?.(result);
          })
          .catch((error: unknown) => {
            // The store failed under us: report the source as failed so `feedproxy refresh` exits 1.
            deps.logger.error({ sourceId: source.id, err: (error as Error).message }, 'refresh crashed');
            const failed: RefreshResult = { outcome: 'failed', source, error: { code: InternalError.code, message: 'Internal error while refreshing' } };
            results.push(failed);
            options.onResult?.(failed);
          })
          .finally(() => {
            active -= 1;
            activeByHost.set(source.host, activeByHost.get(source.host)! - 1);
            pump();
          });
      }
      if (active === 0 && queue.length === 0) resolve(results);
    };
    pump();
  });
}

/** Sources whose time has come, most overdue first. Disabled and unauthorized ones wait for the user. */
export function dueSources(sources: SourceRecord[], now: Date): SourceRecord[] {
  const nowMs = now.getTime();
  return sources
    .filter((source) => source.status !== 'disabled' && source.status !== 'unauthorized' && Date.parse(source.nextFetchAt) <= nowMs)
    .sort((a, b) => Date.parse(a.nextFetchAt) - Date.parse(b.nextFetchAt));
}
