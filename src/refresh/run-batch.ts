// Runs refreshes with a global concurrency bound and a per-upstream-host bound, so one slow host
// never holds every slot and no host sees more than `perHost` of our connections at once.
import type { Deps } from '../deps.js';
import { InternalError, StoreUnavailableError } from '../errors.js';
import type { SourceRecord } from '../model.js';
import { dueAtOf, isActive } from '../model/source-policy.js';
import type { WrittenEntries } from '../publish/merge-state.js';
import { rebuildFeedsOfSources } from '../publish/rebuild-feed.js';
import { isStoreBusy } from '../store/kv.js';
import { logBackgroundFailure } from '../store-unavailable.js';
import { refreshSource, type RefreshOptions, type RefreshResult } from './refresh-source.js';

export interface BatchOptions extends RefreshOptions {
  concurrency: number;
  perHost: number;
  onResult?: (result: RefreshResult) => void;
  /** Stop starting new refreshes (shutdown); running ones finish. */
  signal?: AbortSignal;
  /** More sources once the queue runs low; an empty answer ends the batch (the due index's claims). */
  refill?: () => Promise<SourceRecord[]>;
  /** Runs after each refresh, before its slot is freed (undefined: the source no longer exists). */
  settle?: (source: SourceRecord, result: RefreshResult | undefined) => Promise<void>;
}

/** How many slots' worth of claimed sources a pass may hold waiting for their hosts. */
const MAX_QUEUED_BATCHES = 4;
/**
 * How long a batch collects feeds to rebuild before rebuilding them: each feed once per this long
 * (and once at the batch's end), however many of its sources changed, while a long pass (the
 * scheduler's, at many sources) still publishes as it goes.
 */
const REBUILD_EVERY_MS = 10_000;
/**
 * Bytes (stored JSON) of the entry lists a batch keeps for its rebuild rounds, which would read them
 * back otherwise: a bound on the memory they hold, across the round collecting and the rounds queued
 * or running (a slow round does not let each later one keep as much again); lists past it are read
 * back as before.
 */
const MAX_KEPT_WRITTEN_BYTES = 16 * 1024 * 1024;

export async function refreshBatch(deps: Deps, sources: SourceRecord[], options: BatchOptions): Promise<RefreshResult[]> {
  const queue = [...sources];
  const results: RefreshResult[] = [];
  const activeByHost = new Map<string, number>();
  let active = 0;
  let refilling = false;
  let exhausted = !options.refill;
  let finishing = false;
  // Sources whose feeds need rebuilding since the last rebuild round; one round runs at a time.
  const rebuilds = new Set<string>();
  // The lists those refreshes wrote, with their size: the round merges them without reading them back.
  let written = new Map<string, WrittenEntries & { bytes: number }>();
  let writtenBytes = 0;
  // What every kept list holds, this round's and those of rounds not yet finished.
  let heldBytes = 0;
  const keepWritten: RefreshOptions['keepWritten'] = (sourceId, list, bytes) => {
    const earlier = written.get(sourceId);
    if (earlier) {
      writtenBytes -= earlier.bytes;
      heldBytes -= earlier.bytes;
      written.delete(sourceId);
    }
    if (heldBytes + bytes > MAX_KEPT_WRITTEN_BYTES) return;
    written.set(sourceId, { ...list, bytes });
    writtenBytes += bytes;
    heldBytes += bytes;
  };
  const refreshOptions: RefreshOptions = { ...options, rebuilds, keepWritten };
  let collectingSince = Date.now();
  let rebuilding: Promise<void> = Promise.resolve();
  const rebuildCollected = () => {
    collectingSince = Date.now();
    if (rebuilds.size === 0) return rebuilding;
    const sourceIds = [...rebuilds];
    rebuilds.clear();
    const lists = written;
    const listBytes = writtenBytes;
    written = new Map();
    writtenBytes = 0;
    rebuilding = rebuilding
      .then(async () => {
        await rebuildFeedsOfSources(deps, sourceIds, lists);
      })
      // Busy: the round's sources stay marked pending (refresh-source.ts), for the next tick or run.
      .catch((error: unknown) => logBackgroundFailure(deps.logger, error, 'rebuilding feeds'))
      .finally(() => {
        heldBytes -= listBytes;
      });
    return rebuilding;
  };

  return new Promise((resolve) => {
    const pump = () => {
      if (options.signal?.aborted) {
        queue.length = 0;
        exhausted = true;
      }
      // Claim more while the queue runs low, or while free slots have nothing they may start: sources
      // waiting for a host at its per-host limit do not count, or one busy host would idle every other
      // slot. Bounded all the same: a pass holds a few batches' worth of claims at most.
      const wanted =
        !exhausted &&
        !refilling &&
        queue.length < options.concurrency * MAX_QUEUED_BATCHES &&
        (queue.length < options.concurrency || startableCount(queue, activeByHost, options.perHost) < options.concurrency - active);
      if (wanted) {
        refilling = true;
        options.refill!()
          .then((more) => {
            if (more.length === 0) exhausted = true;
            queue.push(...more);
          })
          .catch((error: unknown) => {
            exhausted = true;
            // Busy: the sources stay due, and the next tick claims them.
            logBackgroundFailure(deps.logger, error, 'claiming due sources');
          })
          .finally(() => {
            refilling = false;
            pump();
          });
      }
      for (let index = 0; index < queue.length && active < options.concurrency;) {
        const source = queue[index]!;
        if ((activeByHost.get(source.host) ?? 0) >= options.perHost) {
          index += 1;
          continue;
        }
        queue.splice(index, 1);
        active += 1;
        activeByHost.set(source.host, (activeByHost.get(source.host) ?? 0) + 1);
        refreshSource(deps, source.id, refreshOptions)
          .then(async (result) => {
            // The due index's bookkeeping failing is no failure of this refresh: the claim lapses
            // and the source is looked at again; the result stands.
            await options
              .settle?.(source, result)
              .catch((error: unknown) => logBackgroundFailure(deps.logger, error, 'settling a claim', { sourceId: source.id }));
            if (!result) return;
            results.push(result);
            options.onResult?.(result);
          })
          .catch((error: unknown) => {
            // The store failed under us: report the source as failed so `feedproxy refresh` exits 1.
            // Busy (another process holding SQLite's write lock) is the store away for a moment, not a
            // bug: the source is left as it was and is due again when its claim lapses.
            const busy = isStoreBusy(error);
            if (busy) deps.logger.warn({ sourceId: source.id, err: (error as Error).message }, 'refresh put off: the store is busy');
            else deps.logger.error({ sourceId: source.id, err: (error as Error).message }, 'refresh crashed');
            const failed: RefreshResult = {
              outcome: 'failed',
              source,
              error: busy
                ? { code: StoreUnavailableError.code, message: new StoreUnavailableError().message }
                : { code: InternalError.code, message: 'Internal error while refreshing' },
            };
            results.push(failed);
            options.onResult?.(failed);
          })
          .finally(() => {
            active -= 1;
            activeByHost.set(source.host, activeByHost.get(source.host)! - 1);
            if (Date.now() - collectingSince >= REBUILD_EVERY_MS) void rebuildCollected();
            pump();
          });
      }
      if (active === 0 && queue.length === 0 && exhausted && !refilling && !finishing) {
        finishing = true;
        void rebuildCollected().then(() => resolve(results));
      }
    };
    pump();
  });
}

/** Queued sources that could start now: each host's count capped by its free per-host slots. */
function startableCount(queue: SourceRecord[], activeByHost: Map<string, number>, perHost: number): number {
  const room = new Map<string, number>();
  let startable = 0;
  for (const source of queue) {
    const left = room.get(source.host) ?? perHost - (activeByHost.get(source.host) ?? 0);
    if (left > 0) startable += 1;
    room.set(source.host, left - 1);
  }
  return startable;
}

export interface DueRefreshOptions extends Pick<BatchOptions, 'onResult' | 'signal'> {
  /** How long a claim keeps a source from other schedulers; a dead worker's claims lapse after it. */
  claimMs?: number;
  /** Sources claimed at a time. */
  claimBatch?: number;
  /** Called with the most overdue source's due time of the pass's first claim (the lag metric). */
  onFirstClaim?: (sources: SourceRecord[]) => void;
}

/**
 * Refreshes what the due index says is due, claiming it batch by batch as slots free: the records
 * read are the due ones plus a claim per batch, never the whole registry. A claim that ends without
 * a write (skipped, deferred, gone) is re-derived from the record, unless the source is still due
 * and another process holds its lease — then that process's write settles it, or the claim lapses.
 */
export async function refreshDueSources(deps: Deps, options: DueRefreshOptions = {}): Promise<RefreshResult[]> {
  const { concurrency, perHostConcurrency } = deps.config.refresh;
  // As long as a lease outlives a dead holder (refresh.leaseSeconds): a killed worker's sources are
  // taken over on the same bound. A live worker's claim lapsing while a source waits in its queue
  // is harmless: the refresh lease and the due check under it still allow one fetch.
  const claimMs = options.claimMs ?? deps.config.refresh.leaseSeconds * 1000;
  // A slot's worth at a time: a worker holds little more than it can start, and others take the rest.
  const claimBatch = options.claimBatch ?? concurrency;
  let first = true;
  return refreshBatch(deps, [], {
    concurrency,
    perHost: perHostConcurrency,
    onlyIfDue: true,
    signal: options.signal,
    onResult: options.onResult,
    async refill() {
      for (;;) {
        const ids = await deps.registry.claimDueSources(deps.now(), claimBatch, claimMs);
        if (ids.length === 0) return [];
        const records = await deps.registry.getSources(ids);
        const gone = ids.filter((_, index) => records[index] === undefined);
        if (gone.length > 0) await deps.registry.syncDueIndex(gone);
        const found = records.filter((record): record is SourceRecord => record !== undefined).sort((a, b) => dueAtOf(a) - dueAtOf(b));
        // Every claimed id was gone (deleted mid-claim): claim again rather than end the pass.
        if (found.length === 0) continue;
        if (first) options.onFirstClaim?.(found);
        first = false;
        return found;
      }
    },
    async settle(source, result) {
      if (result && result.outcome !== 'skipped' && result.outcome !== 'deferred') return; // written, so synced
      const current = result?.source;
      if (current && isActive(current) && dueAtOf(current) <= deps.now().getTime()) return; // leased elsewhere
      await deps.registry.syncDueIndex([source.id]);
    },
  });
}
