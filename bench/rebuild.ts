// Bench 4 — merge + render: a feed of 100 sources × 100 cached entries; how long rebuildFeed()
// takes after one source gets a new entry (what refreshSource() triggers), where that time goes,
// and whether it grows with what changed or with the size of the feed.
import { entryDate, mergeEntries } from '../src/pipeline/merge.js';
import { rebuildFeed } from '../src/publish/rebuild-feed.js';
import { renderFeed } from '../src/render/render-feed.js';
import { benchResult, median, milliseconds, percentile, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { generateCachedEntries } from './lib/corpus.js';
import { addCachedSource, addFeed, addUser, openInstance, type BenchInstance } from './lib/instance.js';

async function buildFeedOf(
  instance: BenchInstance,
  userId: string,
  sources: number,
  entries: number,
): Promise<{ feedId: string; sourceIds: string[] }> {
  const sourceIds: string[] = [];
  for (let index = 0; index < sources; index++) sourceIds.push((await addCachedSource(instance.deps, userId, index, entries, 600)).id);
  const feed = await addFeed(instance.deps, userId, sourceIds, { limit: 50 });
  return { feedId: feed.id, sourceIds };
}

let round = 0;
/**
 * `changed` sources get one new entry each, then the feed is rebuilt; the rebuild alone is timed.
 * `full` drops the merge state the last rebuild kept first, so every source is read and merged again.
 */
async function rebuildAfterChange(
  instance: BenchInstance,
  feedId: string,
  sourceIds: string[],
  changed: number,
  full = false,
): Promise<number> {
  const { registry } = instance.deps;
  round += 1;
  for (const sourceId of sourceIds.slice(0, changed)) {
    const cached = await registry.getEntries(sourceId);
    const fresh = generateCachedEntries(sourceId, 1, 600, 1_000_000 + round)[0]!;
    await registry.saveEntries(sourceId, [fresh, ...cached.slice(0, cached.length - 1)]);
  }
  if (full) await registry.saveMergeState(feedId, undefined);
  const started = process.hrtime.bigint();
  await rebuildFeed(instance.deps, feedId);
  return milliseconds(started);
}

/** The steps of a full rebuild (no merge state kept), timed one by one. */
async function breakdown(instance: BenchInstance, feedId: string): Promise<Record<string, number>> {
  const { registry, config } = instance.deps;
  let started = process.hrtime.bigint();
  const feed = (await registry.getFeed(feedId))!;
  const sources = await Promise.all(feed.sourceIds.map((id) => registry.getSource(id)));
  const entriesBySource = await registry.getEntriesOf(feed.sourceIds);
  const readMs = milliseconds(started);
  started = process.hrtime.bigint();
  const entries = mergeEntries({
    sources: sources.map((source) => ({
      sourceId: source!.id,
      sourceTitle: source!.title,
      entries: entriesBySource.get(source!.id) ?? [],
    })),
    include: feed.include,
    exclude: feed.exclude,
    limit: feed.limit,
  });
  const mergeMs = milliseconds(started);
  started = process.hrtime.bigint();
  const updated = entries.map(entryDate).reduce((a, b) => (b > a ? b : a), new Date(0));
  const urls = { atom: `${config.publicUrl}/t.atom`, rss: `${config.publicUrl}/t.rss`, json: `${config.publicUrl}/t.json` };
  for (const format of ['atom', 'rss', 'json'] as const) {
    renderFeed(format, {
      id: `urn:feedproxy:feed:${feed.id}`,
      title: feed.title,
      selfUrl: urls[format],
      alternateUrls: urls,
      updated,
      generator: 'bench',
      entries,
    });
  }
  const renderMs = milliseconds(started);
  return { readMs, mergeMs, renderMs };
}

export async function measureRebuild(instance: BenchInstance, userId: string, sources: number, entries: number, rounds: number) {
  const { feedId, sourceIds } = await buildFeedOf(instance, userId, sources, entries);
  for (let i = 0; i < 3; i++) await rebuildAfterChange(instance, feedId, sourceIds, 1); // warm-up
  const one: number[] = [];
  const oneFull: number[] = [];
  const all: number[] = [];
  // Interleaved, so both kinds see the same machine state.
  for (let i = 0; i < rounds; i++) {
    one.push(await rebuildAfterChange(instance, feedId, sourceIds, 1));
    if (i % 2 === 0) oneFull.push(await rebuildAfterChange(instance, feedId, sourceIds, 1, true));
  }
  for (let i = 0; i < Math.max(3, Math.floor(rounds / 3)); i++)
    all.push(await rebuildAfterChange(instance, feedId, sourceIds, sourceIds.length));
  const parts: Array<Record<string, number>> = [];
  for (let i = 0; i < Math.max(3, Math.floor(rounds / 3)); i++) parts.push(await breakdown(instance, feedId));
  const part = (name: string) => median(parts.map((sample) => sample[name]!));
  return {
    oneMedianMs: median(one),
    oneP90Ms: percentile(one, 90),
    oneFullMs: median(oneFull),
    allMedianMs: median(all),
    readMs: part('readMs'),
    mergeMs: part('mergeMs'),
    renderMs: part('renderMs'),
  };
}

export async function runRebuildBench(options: RunOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const rounds = options.quick ? 5 : 40;
  const shapes: Array<[number, number]> = options.quick
    ? [
        [10, 100],
        [100, 100],
      ]
    : [
        [10, 100],
        [100, 100],
        [300, 100],
      ];
  const instance = await openInstance();
  const rows: Array<Array<string | number>> = [];
  const figures: Record<string, number> = {};
  try {
    const userId = await addUser(instance.deps);
    for (const [sources, entries] of shapes) {
      const result = await measureRebuild(instance, userId, sources, entries, rounds);
      rows.push([
        `${sources} × ${entries}`,
        result.oneMedianMs,
        result.oneP90Ms,
        result.oneFullMs,
        result.allMedianMs,
        result.readMs,
        result.mergeMs,
        result.renderMs,
      ]);
      figures[`${sources}x${entries}|oneMs`] = result.oneMedianMs;
      figures[`${sources}x${entries}|oneFullMs`] = result.oneFullMs;
      figures[`${sources}x${entries}|allMs`] = result.allMedianMs;
      figures[`${sources}x${entries}|readMs`] = result.readMs;
      figures[`${sources}x${entries}|mergeMs`] = result.mergeMs;
      figures[`${sources}x${entries}|renderMs`] = result.renderMs;
    }
  } finally {
    await instance.close();
  }
  const table: Table = {
    title: `Rebuilding a published feed (limit 50, three formats) — median of ${rounds} rebuilds`,
    columns: [
      'sources × entries',
      '1 source changed: ms',
      'p90 ms',
      'same, full merge: ms',
      'all changed: ms',
      'full merge: store reads',
      'merge',
      'render ×3',
    ],
    rows,
    notes: [
      'target: 100 × 100 well under 50 ms, and proportional to what changed',
      '"1 source changed" merges that source with the state the last rebuild kept (publish/merge-state.ts); "full merge" drops the state first and reads every source, as every rebuild did before',
      "the last three columns time a full rebuild's steps one by one; all changed: more than half the sources changed, which merges everything",
    ],
  };
  printTable(table);
  return benchResult('rebuild', options, startedAt, [table], figures);
}
