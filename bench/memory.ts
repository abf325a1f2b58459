// Bench 5 — memory: the RSS of one instance (its own process, no other load) whose store holds
// N sources × 50 cached entries and N/10 published feeds (10 sources each), and the store's size
// on disk. The store is filled through the registry directly. RSS is sampled after start, after
// every feed was served once in each format, and after every source record and entry list was read
// (what a scheduler tick and a refresh pass touch). The same instance gives the scaling bench its
// serving and rebuild figures at N.
import { startChild } from './lib/child.js';
import { benchResult, median, mib, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { addCachedSource, addFeed, addUser, openInstance, storeBytes } from './lib/instance.js';
import type { MemorySample } from './serve-target.js';
import { UNLIMITED, loadOnce } from './serving.js';

export interface SizeFigures {
  sources: number;
  feeds: number;
  fillSeconds: number;
  storeMiB: number;
  startRssMiB: number;
  servedRssMiB: number;
  touchedRssMiB: number;
  peakRssMiB: number;
  heapUsedMiB: number;
  servingRps: number;
  servingP99Ms: number;
  rebuildMs: number;
}

export async function measureMemoryAt(sources: number, quick: boolean): Promise<SizeFigures> {
  const started = Date.now();
  const instance = await openInstance();
  const userId = await addUser(instance.deps);
  const sourceIds: string[] = [];
  for (let index = 0; index < sources; index++) sourceIds.push((await addCachedSource(instance.deps, userId, index, 50, 600)).id);
  const feeds: Array<{ id: string; token: string }> = [];
  for (let start = 0; start < sourceIds.length; start += 10) {
    const feed = await addFeed(instance.deps, userId, sourceIds.slice(start, start + 10));
    feeds.push({ id: feed.id, token: feed.publicToken });
  }
  await instance.close({ keep: true });
  const fillSeconds = (Date.now() - started) / 1000;
  const storeMiB = mib(storeBytes(instance.dir));

  const { child, ready } = await startChild<{ port: number; memory: MemorySample }>(
    'serve-target.ts',
    { BENCH_SERVE_MODE: 'feedproxy', BENCH_STORE_DIR: instance.dir, LOG_LEVEL: 'warn', ...UNLIMITED },
    [],
  );
  try {
    const base = `http://127.0.0.1:${ready.port}`;
    let next = 0;
    const worker = async () => {
      while (next < feeds.length) {
        const feed = feeds[next++]!;
        for (const format of ['atom', 'rss', 'json']) {
          const response = await fetch(`${base}/${feed.token}.${format}`);
          await response.arrayBuffer();
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const served = await child.ask<MemorySample>({ memory: true });
    const touched = await child.ask<{ memory: MemorySample }>({ touchAll: true });
    const rebuilds: number[] = [];
    for (let round = 0; round < (quick ? 3 : 10); round++) {
      rebuilds.push((await child.ask<{ ms: number }>({ rebuildFeedId: feeds[round % feeds.length]!.id, round })).ms);
    }
    const url = `${base}/${feeds[0]!.token}.atom`;
    await loadOnce(url, {}, 1, 32);
    const load = await loadOnce(url, {}, quick ? 2 : 5, 32);
    const after = await child.ask<MemorySample>({ memory: true });
    return {
      sources,
      feeds: feeds.length,
      fillSeconds,
      storeMiB,
      startRssMiB: ready.memory.rssMiB,
      servedRssMiB: served.rssMiB,
      touchedRssMiB: touched.memory.rssMiB,
      peakRssMiB: after.maxRssMiB,
      heapUsedMiB: after.heapUsedMiB,
      servingRps: load.requestsPerSecond,
      servingP99Ms: load.p99Ms,
      rebuildMs: median(rebuilds),
    };
  } finally {
    await child.stop();
    const { rmSync } = await import('node:fs');
    rmSync(instance.dir, { recursive: true, force: true });
  }
}

export function memorySizes(quick: boolean): number[] {
  return quick ? [100, 500] : [1000, 10_000];
}

export async function runMemoryBench(options: RunOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const sizes: SizeFigures[] = [];
  for (const count of memorySizes(options.quick)) sizes.push(await measureMemoryAt(count, options.quick));
  const table: Table = {
    title: 'Memory of one instance (RSS, MiB) and store size — N sources × 50 cached entries, N/10 feeds of 10 sources',
    columns: [
      'sources',
      'feeds',
      'store on disk MiB',
      'RSS at start',
      'after serving every feed ×3 formats',
      'after reading every source + cache',
      'peak RSS',
      'heap used',
    ],
    rows: sizes.map((size) => [
      size.sources,
      size.feeds,
      size.storeMiB,
      size.startRssMiB,
      size.servedRssMiB,
      size.touchedRssMiB,
      size.peakRssMiB,
      size.heapUsedMiB,
    ]),
    notes: [
      "target: < 400 MiB at 10,000 sources × 50 items and 1,000 feeds; the instance is feedproxy's app (no scheduler), measured after a forced GC",
      `filling the store through the registry took ${sizes.map((size) => `${size.fillSeconds.toFixed(0)} s (${size.sources})`).join(', ')}`,
    ],
  };
  printTable(table);
  const figures: Record<string, number> = {};
  for (const size of sizes) {
    for (const [key, value] of Object.entries(size)) figures[`${size.sources}|${key}`] = value;
  }
  return benchResult('memory', options, startedAt, [table], figures);
}
