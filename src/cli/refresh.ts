// `feedproxy refresh`: the cron entry point. Refreshes the due sources once (or every source, or the
// named ones) through the one refresh path and exits; it never starts Fastify.
import { parseArgs } from 'node:util';
import { describeConfigSource, type Config } from '../config.js';
import { rebuildPendingFeeds } from '../publish/rebuild-feed.js';
import { refreshBatch, refreshDueSources } from '../refresh/run-batch.js';
import { putBackPendingSources } from '../services/connections.js';
import type { RefreshResult } from '../refresh/refresh-source.js';
import type { SourceRecord } from '../model.js';
import { isStoreBusy } from '../store/kv.js';
import type { SourcePage } from '../store/sources.js';
import { logBackgroundFailure } from '../store-unavailable.js';
import { openDeps } from './open-deps.js';

export async function refresh(config: Readonly<Config>, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { all: { type: 'boolean', default: false }, source: { type: 'string', multiple: true } } });
  const deps = await openDeps(config);
  const started = Date.now();
  try {
    const explicit = values.all || Boolean(values.source?.length);
    // Named sources are read by id, and only `--all` lists the registry; the default (cron) run
    // claims what the due index says is due, like the server's scheduler beside it.
    let picked: SourceRecord[] = [];
    // `--all` reads the registry a page at a time as the batch asks for more (run-batch.ts's refill).
    let allPages: AsyncIterator<SourcePage> | undefined;
    let total = 0;
    if (values.source?.length) {
      const found = await deps.registry.getSources(values.source);
      const missing = values.source.filter((_, index) => found[index] === undefined);
      if (missing.length > 0) {
        console.error('feedproxy: no source with id ' + missing.join(', '));
        return 2;
      }
      picked = found as SourceRecord[];
      total = picked.length;
    } else if (values.all) {
      const listed = await deps.registry.sourcePages(Math.max(100, config.refresh.concurrency * 4));
      allPages = listed.pages[Symbol.asyncIterator]();
      total = listed.total;
    }
    // On a terminal, a progress line per source (`[3/40] updated  id  title`); in cron, only the summary.
    const tty = Boolean(process.stdout.isTTY);
    let done = 0;
    const counts = { updated: 0, unchanged: 0, failed: 0, skipped: 0 };
    const onResult = (result: RefreshResult) => {
      if (result.outcome === 'updated') counts.updated += 1;
      else if (result.outcome === 'unchanged') counts.unchanged += 1;
      else if (result.outcome === 'failed') counts.failed += 1;
      else counts.skipped += 1;
      done += 1;
      if (tty) {
        const detail = result.outcome === 'failed' ? `: ${result.error?.message ?? result.source.lastError ?? ''}` : '';
        const of = explicit ? `/${total}` : '';
        console.log(`[${done}${of}] ${result.outcome.padEnd(9)} ${result.source.id}  ${result.source.title}${detail}`);
      }
    };
    // What an earlier run killed mid-batch (a cron timeout) stored and never published. The store busy
    // (the server mid-write) leaves it pending for the next run or the server's tick; this run goes on.
    await rebuildPendingFeeds(deps).catch((error: unknown) => {
      if (!isStoreBusy(error)) throw error;
      logBackgroundFailure(deps.logger, error, 'rebuilding feeds');
    });
    // What a relink left of its put-back (a busy store), as the server's tick does: due, then fetched below.
    await putBackPendingSources(deps).catch((error: unknown) => {
      if (!isStoreBusy(error)) throw error;
      logBackgroundFailure(deps.logger, error, 'putting back the sources of a relinked connection');
    });
    // A page of `--all` that cannot be read ends the batch; the run then fails, never passes short.
    let pageError: unknown;
    if (explicit) {
      const pages = allPages;
      await refreshBatch(deps, picked, {
        concurrency: config.refresh.concurrency,
        perHost: config.refresh.perHostConcurrency,
        force: true,
        // `--all` is every source that may be refreshed: one disabled since its page was read (its
        // connection removed meanwhile, even during its fetch) is skipped, as a disabled one listed is.
        skipDisabled: pages !== undefined,
        onResult,
        refill: pages
          ? async () => {
              // A disabled source stays disabled: `--all` is every source that may be refreshed.
              for (;;) {
                let next: IteratorResult<SourcePage>;
                try {
                  next = await pages.next();
                } catch (error) {
                  pageError = error;
                  return [];
                }
                if (next.done) return [];
                const page = next.value.sources.filter((source) => source.status !== 'disabled');
                // The progress line's total: every listed id that is not refreshed (deleted since, or disabled).
                total -= next.value.listed - page.length;
                if (page.length > 0) return page;
              }
            }
          : undefined,
      });
    } else {
      await refreshDueSources(deps, { onResult });
    }
    // Cron runs with almost no environment: say what this run actually used.
    console.log(`configuration: ${describeConfigSource(config)}`);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const skipped = counts.skipped ? `, skipped ${counts.skipped}` : '';
    console.log(`refreshed ${counts.updated}, unchanged ${counts.unchanged}, failed ${counts.failed}${skipped} in ${seconds}s`);
    if (pageError !== undefined) {
      console.error(`feedproxy: reading the sources stopped after ${done} of ${total}: ${(pageError as Error).message}`);
      return 1;
    }
    return counts.failed > 0 ? 1 : 0;
  } finally {
    await deps.close();
  }
}
