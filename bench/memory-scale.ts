// Bench 5b — the real service on a large SQLite store (issue 14): N sources × 20 cached entries and
// N/10 merged feeds of 10 sources, all of one user. `npm run bench -- memory-scale` (N = 100,000;
// BENCH_MEMORY_SOURCES sets it; --quick: 2,000), side by side with the same run at 100 sources.
//
// Filling: the user, the first source and its entries go through the registry; the other sources,
// their entries (a row each) and revisions, the sets and the user's counters are written in one SQLite
// transaction in the store's own row formats (checked against the first source's rows), the due index
// derived by the store's own triggers; the feeds are saved and rendered by the registry and
// rebuildFeed, as createFeed does. Then `feedproxy serve` starts on it (bench/service-child.mjs, as built in dist/: app,
// scheduler ticking every second, delivery loop) and, while its RSS is read from /proc every
// 250 ms: the scheduler refreshes the due share (5%, against the loopback upstream, which rebuilds
// their feeds) while 8 clients read 1,000 feeds in three formats; once that work and the feeds'
// rebuilds behind it are over (the service's event loop quiet), the instance idles 30 s (settled RSS). Both stores are kept running, and 100 sources are created through the API (POST
// /api/v1/sources, each probing the upstream) on each, one at a time, alternating between the two
// services — what the 100,000th source costs against the 100th, side by side. Store size on disk is compared with the bytes of what it holds (every key and JSON
// value, set member and counter field).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { CachedEntry, FeedRecord, SourceRecord } from '../src/model.js';
import { rebuildFeed } from '../src/publish/rebuild-feed.js';
import { urlDigestsOf } from '../src/services/source-index.js';
import { hashApiKey, randomToken } from '../src/vault/seal.js';
import { openBulkSqlite } from './lib/bulk-sqlite.js';
import { SERVICE_NODE_FLAGS, startChild, type Child } from './lib/child.js';
import { benchResult, median, mib, percentile, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { generateCachedEntries } from './lib/corpus.js';
import { openInstance, storeBytes } from './lib/instance.js';
import { startBenchUpstream, type Upstream } from './refresh.js';

const ENTRIES_PER_SOURCE = 20;
const ENTRY_BODY_BYTES = 200; // ≈ 1 KB of JSON an entry
const SOURCES_PER_FEED = 10;
/** Sources due when the service starts: refreshed by its scheduler against the upstream. */
const DUE_EVERY = 20; // 5%
const SERVED_FEEDS = 1000;
const CREATES = 100;
const CREATE_INDEX_BASE = 1_000_000;
const SETTLE_SECONDS = 30;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface ScaleFigures {
  sources: number;
  feeds: number;
  entries: number;
  fillSeconds: number;
  feedSeconds: number;
  heldMiB: number;
  storeMiB: number;
  storeAfterMiB: number;
  heldAfterMiB: number;
  startRssMiB: number;
  workPeakRssMiB: number;
  settledRssMiB: number;
  createPeakRssMiB: number;
  peakRssMiB: number;
  refreshed: number;
  refreshSeconds: number;
  /** From the last fetch until the service went idle (the feeds' rebuilds), seconds. */
  workTailSeconds: number;
  served: number;
  createMsMedian: number;
  createMsP90: number;
  createMsMean: number;
  loadAverage: number;
  /** Where the memory was (MiB) at the refresh + serve phase's highest sampled RSS, and when settled. */
  workPeakBreakdown: MemoryBreakdown;
  settledBreakdown: MemoryBreakdown;
  /** RSS by kind (/proc/<pid>/status) 5 s after start, at the work's highest sample, settled. */
  rssKinds: { start: string; workPeak: string; settled: string };
}

/** The service's own account of its memory (bench/service-child.mjs), in MiB. */
export interface MemoryBreakdown {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  heapLimit: number;
  malloced: number;
  /** V8's new space (both semi-spaces) and new large-object space, committed. */
  youngGeneration: number;
}

function breakdownOf(answer: Record<string, number>): MemoryBreakdown {
  const inMiB = Object.fromEntries(Object.entries(answer).map(([name, bytes]) => [name, bytes / 1024 ** 2]));
  return inMiB as unknown as MemoryBreakdown;
}

/** `heap used / total · external · limit`, for a table's note. */
function describeBreakdown(breakdown: MemoryBreakdown): string {
  const { rss, heapUsed, heapTotal, external, heapLimit, youngGeneration } = breakdown;
  return `RSS ${rss.toFixed(0)} = V8 heap ${heapUsed.toFixed(0)} used of ${heapTotal.toFixed(0)} (young generation ${youngGeneration.toFixed(0)}; limit ${heapLimit.toFixed(0)}) + external ${external.toFixed(0)} + the rest ${(rss - heapTotal - external).toFixed(0)}`;
}

interface Fill {
  dir: string;
  apiKey: string;
  userId: string;
  feeds: Array<{ id: string; token: string }>;
  due: number;
  fillSeconds: number;
  feedSeconds: number;
}

function urlOf(upstream: Upstream, index: number): string {
  const hostPort = upstream.ready.hostPorts[index % upstream.ready.hostPorts.length]!;
  return `http://${hostPort}/f/${index}?feed_token=bench-secret-${index.toString(36).padStart(6, '0')}`;
}

function allowPrivate(upstream: Upstream): Record<string, string> {
  return { FEEDPROXY_ALLOW_PRIVATE: upstream.ready.hostPorts.join(',') };
}

async function fillStore(upstream: Upstream, count: number): Promise<Fill> {
  const started = Date.now();
  const instance = await openInstance({ env: allowPrivate(upstream) });
  const { deps } = instance;
  const now = deps.now().getTime();
  const apiKey = `fp_bench_${randomBytes(16).toString('hex')}`;
  const userId = randomToken(9);
  await deps.registry.createUser({ id: userId, name: 'bench', apiKeyHash: hashApiKey(apiKey), createdAt: new Date(now).toISOString() });
  // A user may hold 100,000 sources at most (limits.maxSourcesPerUser): in a store that large the
  // last CREATES sources (and their feeds) are another user's, so the creates take the first user
  // from 99,900 to 100,000 sources while the store holds 100,000 and more.
  const others = count >= 100_000 ? CREATES : 0;
  const otherId = randomToken(9);
  if (others > 0)
    await deps.registry.createUser({
      id: otherId,
      name: 'other',
      apiKeyHash: hashApiKey(`${apiKey}-other`),
      createdAt: new Date(now).toISOString(),
    });
  const ownerOf = (index: number) => (index >= count - others ? otherId : userId);

  const sourceAt = (index: number): { source: SourceRecord; entries: CachedEntry[] } => {
    const id = randomToken(9);
    const url = urlOf(upstream, index);
    const entries = generateCachedEntries(id, ENTRIES_PER_SOURCE, ENTRY_BODY_BYTES);
    const at = new Date(now).toISOString();
    const source: SourceRecord = {
      id,
      userId: ownerOf(index),
      title: `Source ${index}`,
      urlSealed: deps.vault.seal(url),
      urlMasked: url.replace(/feed_token=[^&]*/, 'feed_token=***'),
      host: new URL(url).host,
      refreshMinutes: 30,
      status: 'ok',
      errorCount: 0,
      lastFetchedAt: at,
      lastSuccessAt: at,
      // 5% due a minute ago; the rest from an hour on, spread over a day (none falls due in the run).
      nextFetchAt: new Date(index % DUE_EVERY === 0 ? now - 60_000 : now + HOUR + (index / count) * DAY).toISOString(),
      urlDigests: urlDigestsOf(deps, [url]),
      entryCount: entries.length,
      cachedBytes: entries.reduce((total, entry) => total + Buffer.byteLength(JSON.stringify(entry)), 0),
      createdAt: at,
      updatedAt: at,
    };
    return { source, entries };
  };

  // The first source through the registry, as createSource stores it; its row is the template.
  const first = sourceAt(0);
  await deps.registry.saveEntries(first.source.id, first.entries);
  await deps.registry.addSource(first.source);
  await deps.registry.indexSourceUrls(userId, first.source.id, first.source.urlDigests!);
  const sourceIds = [first.source.id];
  let cachedBytes = first.source.cachedBytes!;
  let otherCachedBytes = 0;
  await instance.close({ keep: true });

  const db = openBulkSqlite(instance.storePath);
  const row = db.prepare('SELECT value FROM keyv WHERE key = ?');
  const stored = row.get(`fp:source:${first.source.id}`) as { value: string };
  if (stored.value !== JSON.stringify({ value: first.source }))
    throw new Error(`keyv stores records differently now: ${stored.value.slice(0, 80)}`);
  const storedEntries = db
    .prepare('SELECT entry_id AS id, body FROM fp_entries WHERE source_id = ? ORDER BY entry_id')
    .all(first.source.id);
  const expectedEntries = first.entries
    .map((entry) => ({ id: entry.id, body: JSON.stringify(entry) }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  if (JSON.stringify(storedEntries) !== JSON.stringify(expectedEntries)) throw new Error('the store keeps cached entries differently now');
  const entryRow = db.prepare('INSERT INTO fp_entries(source_id, entry_id, body) VALUES (?, ?, ?)');
  const record = db.prepare('INSERT INTO keyv(key, value) VALUES (?, ?)');
  const member = db.prepare('INSERT OR IGNORE INTO fp_sets(name, member) VALUES (?, ?)');
  const field = db.prepare(
    'INSERT INTO fp_fields(key, field, value) VALUES (?, ?, ?) ON CONFLICT(key, field) DO UPDATE SET value = excluded.value',
  );
  const put = (key: string, value: unknown) => record.run(`fp:${key}`, JSON.stringify({ value }));
  // In transactions of 5,000 sources: one for the lot holds every row's pages in the WAL at once.
  for (let start = 1; start < count; start += 5000) {
    db.transaction(() => {
      for (let index = start; index < Math.min(count, start + 5000); index += 1) {
        const { source, entries } = sourceAt(index);
        for (const entry of entries) entryRow.run(source.id, entry.id, JSON.stringify(entry));
        put(`entries-rev:${source.id}`, randomBytes(6).toString('base64url'));
        put(`source:${source.id}`, source); // the store's triggers derive its due-index entry
        for (const digest of source.urlDigests!) put(`source-url:${source.userId}:${digest}`, source.id);
        member.run(`sources:${source.userId}`, source.id);
        member.run('sources', source.id);
        sourceIds.push(source.id);
        if (source.userId === userId) cachedBytes += source.cachedBytes!;
        else otherCachedBytes += source.cachedBytes!;
      }
    });
  }
  db.transaction(() => {
    for (const [owner, sources, bytes] of [
      [userId, count - others, cachedBytes],
      [otherId, others, otherCachedBytes],
    ] as const) {
      const counts = { sources, feeds: Math.ceil(sources / SOURCES_PER_FEED), cachedBytes: bytes, counted: 1, bytesCounted: 1 };
      if (sources > 0) for (const [name, value] of Object.entries(counts)) field.run(`user-counts:${owner}`, name, String(value));
    }
  });
  const indexed = (db.prepare('SELECT count(*) AS n FROM fp_due').get() as { n: number }).n;
  if (Number(indexed) !== count) throw new Error(`due index holds ${indexed} of ${count} sources`);
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  const fillSeconds = (Date.now() - started) / 1000;

  // The feeds through the registry and rebuildFeed, as createFeed saves and renders them, 8 at a time.
  const feedsStarted = Date.now();
  const reopened = await openInstance({ dir: instance.dir, env: allowPrivate(upstream) });
  const feeds: Array<{ id: string; token: string }> = [];
  let next = 0;
  const at = reopened.deps.now().toISOString();
  const worker = async () => {
    while (next * SOURCES_PER_FEED < sourceIds.length) {
      const start = next++ * SOURCES_PER_FEED;
      const feed: FeedRecord = {
        id: randomToken(9),
        userId: ownerOf(start),
        title: `Bench feed ${start / SOURCES_PER_FEED}`,
        sourceIds: sourceIds.slice(start, start + SOURCES_PER_FEED),
        include: [],
        exclude: [],
        limit: 50,
        publicToken: randomToken(18),
        createdAt: at,
        updatedAt: at,
      };
      await reopened.deps.registry.saveFeed(feed);
      await rebuildFeed(reopened.deps, feed.id);
      feeds.push({ id: feed.id, token: feed.publicToken });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await reopened.close({ keep: true });
  const bulk = openBulkSqlite(instance.storePath);
  bulk.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  bulk.close();
  return {
    dir: instance.dir,
    apiKey,
    userId,
    feeds,
    due: Math.ceil(count / DUE_EVERY),
    fillSeconds,
    feedSeconds: (Date.now() - feedsStarted) / 1000,
  };
}

/** Bytes of what the store holds: every record's key and JSON value, cached entry (its keys and JSON), set member and counter field. */
function heldBytes(storePath: string): number {
  const db = openBulkSqlite(storePath);
  const sum = (sql: string) => Number((db.prepare(sql).get() as { n: number | null }).n ?? 0);
  // keyv's wrapper `{"value":…}` is the store's, not the data's: 10 bytes a record left out.
  const bytes =
    sum("SELECT sum(length(CAST(key AS BLOB)) - 3 + length(CAST(value AS BLOB)) - 10) AS n FROM keyv WHERE key LIKE 'fp:%'") +
    sum('SELECT sum(length(CAST(source_id AS BLOB)) + length(CAST(entry_id AS BLOB)) + length(CAST(body AS BLOB))) AS n FROM fp_entries') +
    sum('SELECT sum(length(CAST(name AS BLOB)) + length(CAST(member AS BLOB))) AS n FROM fp_sets') +
    sum('SELECT sum(length(CAST(key AS BLOB)) + length(CAST(field AS BLOB)) + length(CAST(value AS BLOB))) AS n FROM fp_fields');
  db.close();
  return bytes;
}

/** RSS, its high-water mark and its kinds (anonymous, file-backed, shared memory) of a process, from /proc (MiB). */
function procMemory(pid: number): { rss: number; hwm: number; anon: number; file: number; shmem: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return {
    rss: kib('VmRSS') / 1024,
    hwm: kib('VmHWM') / 1024,
    anon: kib('RssAnon') / 1024,
    file: kib('RssFile') / 1024,
    shmem: kib('RssShmem') / 1024,
  };
}

/** `anonymous a + file f + shmem s`: the SQLite file, its -shm or a mapped library show as file or shmem. */
function describeKinds(memory: ReturnType<typeof procMemory>): string {
  return `anonymous ${memory.anon.toFixed(0)} + file ${memory.file.toFixed(0)} + shmem ${memory.shmem.toFixed(0)}`;
}

/** dist/ from the current sources: the service runs as `npm start` runs it (as test/global-setup.ts builds it). */
function buildDist(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  cpSync('src/routes/dashboard/assets', 'dist/routes/dashboard/assets', { recursive: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  // A graceful stop, or SIGKILL after a minute.
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 60_000);
  await child.stop().finally(() => clearTimeout(timer));
}

interface RunningScale {
  /** Creates source `n` through the API and answers its time in ms. */
  create(n: number): Promise<number>;
  /** Stops the service and answers every figure. */
  finish(createMs: number[]): Promise<ScaleFigures>;
  /** Stops the service and removes the store (after a failure). */
  abort(): Promise<void>;
}

/** Fills a store of `count` sources, starts the service on it and runs it up to the creates. */
export async function startScaleAt(upstream: Upstream, count: number): Promise<RunningScale> {
  await upstream.child.ask({ generation: 0 });
  const fill = await fillStore(upstream, count);
  const storePath = join(fill.dir, 'feedproxy.sqlite');
  const storeFilled = storeBytes(fill.dir);
  const held = heldBytes(storePath);
  const configFile = join(fill.dir, 'bench.yaml');
  writeFileSync(
    configFile,
    [
      'refresh:',
      '  tickSeconds: 1',
      'limits:',
      '  maxSourcesPerUser: 100000',
      '  maxFeedsPerUser: 10000',
      '  apiRequestsPerMinute: 1000000',
      '  publicRequestsPerMinute: 1000000',
      `  maxCachedBytesPerUser: ${1024 ** 4}`,
      '',
    ].join('\n'),
  );
  const loadAverage = loadavg()[0]!;
  const { child, ready } = await startChild<{ port: number; pid: number }>('service-child.mjs', {
    FEEDPROXY_STORE: `sqlite://${storePath}`,
    FEEDPROXY_SECRET_KEY: '0'.repeat(64),
    FEEDPROXY_PUBLIC_URL: 'http://feeds.bench',
    FEEDPROXY_CONFIG: configFile,
    LOG_LEVEL: 'info',
    ...allowPrivate(upstream),
  });
  let sampling = true;
  let phasePeak = 0;
  let phasePeakKinds = '';
  const askBreakdown = async () => breakdownOf(await child.ask<Record<string, number>>({ memory: true }));
  // The service's own breakdown once a second, the one taken at the highest RSS kept.
  let peakBreakdown: MemoryBreakdown | undefined;
  const sampler = (async () => {
    for (let sample = 0; sampling; sample++) {
      const sampled = procMemory(ready.pid);
      if (sampled.rss > phasePeak) phasePeakKinds = describeKinds(sampled);
      phasePeak = Math.max(phasePeak, sampled.rss);
      if (sample % 4 === 0) {
        const breakdown = await askBreakdown();
        if (!peakBreakdown || breakdown.rss > peakBreakdown.rss) peakBreakdown = breakdown;
      }
      await sleep(250);
    }
  })();
  const stop = async () => {
    sampling = false;
    await sampler;
    await stopChild(child);
  };
  const remove = () => {
    if (!process.env.BENCH_KEEP_STORE) rmSync(fill.dir, { recursive: true, force: true });
    else console.log(`  store kept in ${fill.dir}`);
  };
  const base = `http://127.0.0.1:${ready.port}`;
  try {
    const requestsBefore = (await upstream.child.ask<{ requests: number }>({ stats: true })).requests;
    await sleep(5000);
    const startMemory = procMemory(ready.pid);
    const startRss = startMemory.rss;
    phasePeak = 0;
    peakBreakdown = undefined;

    // The scheduler's pass over the due share, while readers poll feeds.
    const refreshStarted = Date.now();
    let served = 0;
    let nextFeed = 0;
    const reader = async () => {
      while (nextFeed < Math.min(SERVED_FEEDS, fill.feeds.length)) {
        const feed = fill.feeds[nextFeed++]!;
        for (const format of ['atom', 'rss', 'json']) {
          const response = await fetch(`${base}/${feed.token}.${format}`, { headers: { 'accept-encoding': 'gzip' } });
          await response.arrayBuffer();
          if (response.status === 200) served += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, reader));
    let refreshed = 0;
    let quietSince = Date.now();
    for (;;) {
      const now = (await upstream.child.ask<{ requests: number }>({ stats: true })).requests - requestsBefore;
      if (now !== refreshed) quietSince = Date.now();
      refreshed = now;
      if ((refreshed >= fill.due && Date.now() - quietSince > 3000) || Date.now() - refreshStarted > 30 * 60_000) break;
      await sleep(500);
    }
    const refreshSeconds = (quietSince - refreshStarted) / 1000;
    // The fetches are over, not the work: the feeds of the refreshed sources are rebuilt in batches
    // behind them (5,000 sources in feeds of 10 touch ~5,000 feeds at 100,000). The work ends when
    // the service's event loop has been nearly idle (under 5%) for two 2 s windows in a row.
    await child.ask({ busy: true });
    let quietWindows = 0;
    while (quietWindows < 2 && Date.now() - refreshStarted < 30 * 60_000) {
      await sleep(2000);
      const { utilization } = await child.ask<{ utilization: number }>({ busy: true });
      quietWindows = utilization < 0.05 ? quietWindows + 1 : 0;
    }
    const workTailSeconds = (Date.now() - quietSince) / 1000 - 4;
    const workPeak = phasePeak;
    const workPeakKinds = phasePeakKinds;
    const workPeakBreakdown = peakBreakdown!;

    await sleep(SETTLE_SECONDS * 1000);
    const settledMemory = procMemory(ready.pid);
    const settledRss = settledMemory.rss;
    const settledBreakdown = await askBreakdown();
    phasePeak = 0;
    return {
      async create(n) {
        const started = process.hrtime.bigint();
        const response = await fetch(`${base}/api/v1/sources`, {
          method: 'POST',
          headers: { authorization: `Bearer ${fill.apiKey}`, 'content-type': 'application/json' },
          // The same upstream documents at every size (a multiple of the upstream's 40 templates and 16 hosts).
          body: JSON.stringify({ url: urlOf(upstream, CREATE_INDEX_BASE + n) }),
        });
        const body = await response.text();
        if (response.status !== 201) throw new Error(`create ${n} answered ${response.status}: ${body.slice(0, 200)}`);
        return Number(process.hrtime.bigint() - started) / 1e6;
      },
      async finish(createMs) {
        const createPeak = phasePeak;
        const peak = procMemory(ready.pid).hwm;
        await stop();
        const storeAfter = storeBytes(fill.dir);
        const heldAfter = heldBytes(storePath);
        remove();
        return {
          sources: count,
          feeds: fill.feeds.length,
          entries: count * ENTRIES_PER_SOURCE,
          fillSeconds: fill.fillSeconds,
          feedSeconds: fill.feedSeconds,
          heldMiB: mib(held),
          storeMiB: mib(storeFilled),
          storeAfterMiB: mib(storeAfter),
          heldAfterMiB: mib(heldAfter),
          startRssMiB: startRss,
          workPeakRssMiB: workPeak,
          settledRssMiB: settledRss,
          createPeakRssMiB: createPeak,
          peakRssMiB: peak,
          refreshed,
          refreshSeconds,
          workTailSeconds,
          served,
          createMsMedian: median(createMs),
          createMsP90: percentile(createMs, 90),
          createMsMean: createMs.reduce((total, ms) => total + ms, 0) / createMs.length,
          loadAverage,
          workPeakBreakdown,
          settledBreakdown,
          rssKinds: { start: describeKinds(startMemory), workPeak: workPeakKinds, settled: describeKinds(settledMemory) },
        };
      },
      async abort() {
        await stop();
        remove();
      },
    };
  } catch (error) {
    await stop();
    remove();
    throw error;
  }
}

export async function runMemoryScaleBench(options: RunOptions): Promise<BenchResult> {
  const startedAt = new Date();
  buildDist();
  const large = Number(process.env.BENCH_MEMORY_SOURCES ?? (options.quick ? 2000 : 100_000));
  const upstream = await startBenchUpstream();
  const sizes: ScaleFigures[] = [];
  const running: RunningScale[] = [];
  try {
    for (const count of [100, large]) running.push(await startScaleAt(upstream, count));
    // Side by side: one create on each store in turn, the order swapped every round.
    const createMs: number[][] = [[], []];
    for (let n = 0; n < CREATES; n++) {
      for (const which of n % 2 === 0 ? [0, 1] : [1, 0]) createMs[which]!.push(await running[which]!.create(n));
    }
    for (const [which, run] of running.entries()) sizes.push(await run.finish(createMs[which]!));
    running.length = 0;
    for (const size of sizes) console.log(`  ${size.sources}: ${JSON.stringify(size)}`);
  } finally {
    await Promise.all(running.map((run) => run.abort()));
    await upstream.child.stop();
  }
  const [small, big] = [sizes[0]!, sizes[1]!];
  const memory: Table = {
    title: `The service (feedproxy serve) on SQLite — N sources × ${ENTRIES_PER_SOURCE} cached entries (≈ 1 KB each), N/10 feeds of 10 sources; RSS in MiB`,
    columns: [
      'sources',
      'feeds',
      'held (keys + JSON) MiB',
      'store on disk MiB',
      'disk ÷ held',
      'RSS 5 s after start',
      'peak: refresh 5% + serve 1,000 feeds × 3',
      'settled (30 s after the work)',
      'peak: 100 creates',
      'peak RSS (VmHWM, lifetime)',
      'refreshed (upstream requests)',
      'refresh pass s',
      'rebuilds after it s',
    ],
    rows: sizes.map((size) => [
      size.sources,
      size.feeds,
      size.heldMiB,
      size.storeMiB,
      size.storeMiB / size.heldMiB,
      size.startRssMiB,
      size.workPeakRssMiB,
      size.settledRssMiB,
      size.createPeakRssMiB,
      size.peakRssMiB,
      size.refreshed,
      size.refreshSeconds,
      size.workTailSeconds,
    ]),
    notes: [
      'targets at 100,000 sources × 20 entries and 10,000 feeds: peak RSS < 400 MiB, settled < 300 MiB, store on disk ≤ 2 × what it holds',
      `the service runs as built, in plain node (bench/service-child.mjs: serve() from dist/server.js, scheduler ticking every second, LOG_LEVEL=info to /dev/null; memory.heapGrowthPercent ${process.env.FEEDPROXY_HEAP_GROWTH_PERCENT ?? 'default'}; node ${process.version}, flags: ${[...SERVICE_NODE_FLAGS, process.env.NODE_OPTIONS, process.env.BENCH_CHILD_EXEC_ARGV].filter(Boolean).join(' ')}); RSS read from /proc every 250 ms, no forced GC; the work (refresh + serve, then the feeds' rebuilds) ends when the service's event loop is under 5% busy for two 2 s windows, and "settled" is 30 s after that`,
      `after the run (refreshes and creates written): store ${sizes.map((size) => `${size.storeAfterMiB.toFixed(1)} MiB on disk for ${size.heldAfterMiB.toFixed(1)} MiB held (${(size.storeAfterMiB / size.heldAfterMiB).toFixed(2)}×)`).join('; ')}`,
      ...sizes.map(
        (size) =>
          `${size.sources} sources, the service's own account (process.memoryUsage, MiB): at the work's highest sample ${describeBreakdown(size.workPeakBreakdown)}; settled ${describeBreakdown(size.settledBreakdown)}`,
      ),
      ...sizes.map(
        (size) =>
          `${size.sources} sources, RSS by kind (/proc/<pid>/status, MiB): 5 s after start ${size.rssKinds.start}; at the work's highest sample ${size.rssKinds.workPeak}; settled ${size.rssKinds.settled}`,
      ),
      `filling: sources in bulk ${sizes.map((size) => `${size.fillSeconds.toFixed(0)} s`).join(' / ')}, feeds through rebuildFeed ${sizes.map((size) => `${size.feedSeconds.toFixed(0)} s`).join(' / ')}; load average at the service's start ${sizes.map((size) => size.loadAverage.toFixed(1)).join(' / ')}`,
    ],
  };
  const creates: Table = {
    title: `Creating a source through the API (POST /api/v1/sources, one at a time, each probing the loopback upstream), ${CREATES} creates on top of N sources of the same user`,
    columns: ['sources of the user before', 'median ms', 'p90 ms', 'mean ms', '÷ at 100 (median)'],
    rows: sizes.map((size) => [
      size.sources,
      size.createMsMedian,
      size.createMsP90,
      size.createMsMean,
      size === small ? '1.00 (baseline)' : size.createMsMedian / small.createMsMedian,
    ]),
    notes: ['target: the 100,000th source costs what the 100th does'],
  };
  printTable(memory);
  printTable(creates);
  const figures: Record<string, number> = {};
  for (const size of sizes) {
    for (const [name, value] of Object.entries(size)) {
      if (typeof value === 'number') figures[`${size.sources}|${name}`] = value;
      else if (name !== 'rssKinds')
        for (const [part, mib] of Object.entries(value as MemoryBreakdown)) figures[`${size.sources}|${name}.${part}`] = mib;
    }
  }
  figures.createRatio = big.createMsMedian / small.createMsMedian;
  return benchResult('memory-scale', options, startedAt, [memory, creates], figures);
}
