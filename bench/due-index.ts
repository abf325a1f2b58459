// The due index at scale: N sources (default 100,000) with 1% due, on SQLite and on Redis.
//   npx tsx bench/due-index.ts [sources] [idle-seconds]
// Counts the records a tick reads (claims + the claimed records, the status counters, the failing
// index) against what listing every source reads, and the CPU of an idle scheduler ticking every
// second with nothing due. Fills the store in bulk, in the registry's own row format (below). On
// Redis it also measures what cached entries cost: 20 entries (≈ 1 KB of JSON each) saved through
// the registry for every 10th source, MEMORY USAGE summed over their keys.
import { createClient } from '@keyv/redis';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startScheduler } from '../src/refresh/scheduler.js';
import type { SourceRecord } from '../src/model.js';
import { SQLITE_DUE_UPSERT } from '../src/store/due-index.js';
import type { KeyValueStore } from '../src/store/kv.js';
import { isRedisReachable } from '../test/helpers/redis-keys.js';
import { openBulkSqlite } from './lib/bulk-sqlite.js';
import { generateCachedEntries } from './lib/corpus.js';
import { openInstance, storeBytes } from './lib/instance.js';

const N = Number(process.argv[2] ?? 100_000);
const IDLE_SECONDS = Number(process.argv[3] ?? 30);
const REDIS = process.env.BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const DAY = 86_400_000;
const HOUR = 3_600_000;
/** Cached entries per source where the Redis run measures entries. */
const ENTRIES = 20;

async function runOn(kind: 'sqlite' | 'redis') {
  const prefix = `fp-bench-due-${randomBytes(3).toString('hex')}:`;
  const configFile = join(tmpdir(), `feedproxy-bench-due-${prefix.slice(-7, -1)}.yaml`);
  writeFileSync(configFile, 'refresh:\n  tickSeconds: 1\n');
  const env: Record<string, string> = { FEEDPROXY_CONFIG: configFile };
  if (kind === 'redis') Object.assign(env, { FEEDPROXY_STORE: REDIS, FEEDPROXY_STORE_PREFIX: prefix });
  const instance = await openInstance({ env });
  const { deps } = instance;
  const now = deps.now().getTime();
  const fillStarted = Date.now();
  const due = Math.round(N / 100);
  const sourceAt = (index: number): SourceRecord => ({
    id: `s${index}`,
    userId: `u${index % 1000}`,
    title: `Source ${index}`,
    urlSealed: deps.vault.seal(`https://feeds${index % 97}.example.com/${index}.rss`),
    urlMasked: `https://feeds${index % 97}.example.com/${index}.rss`,
    host: `feeds${index % 97}.example.com`,
    refreshMinutes: 30,
    status: 'ok',
    errorCount: 0,
    lastFetchedAt: new Date(now).toISOString(),
    lastSuccessAt: new Date(now).toISOString(),
    // 1% due a minute ago; the rest due from an hour on (past the run's end: none falls due while
    // idle is measured), spread over a day.
    nextFetchAt: new Date(index % 100 === 0 ? now - 60_000 : now + HOUR + (index / N) * DAY).toISOString(),
    entryCount: 0,
    createdAt: new Date(now).toISOString(),
    updatedAt: new Date(now).toISOString(),
  });
  // The first source through the registry, as createSource stores it; the rest in bulk, written the
  // same way (checked below against the first): one transaction on SQLite, pipelined on Redis.
  await deps.registry.addSource(sourceAt(0));
  if (kind === 'sqlite') fillSqlite(instance.storePath, N, sourceAt);
  else await fillRedis(instance.kv, N, sourceAt);
  const fillSeconds = (Date.now() - fillStarted) / 1000;

  // Count what the store hands back, by record.
  const store = instance.kv;
  let recordsRead = 0;
  const { get, getMany, members } = store;
  store.get = async (key) => ((recordsRead += 1), get(key));
  store.getMany = async (keys) => ((recordsRead += keys.length), getMany(keys));
  store.members = async (set) => {
    const found = await members(set);
    recordsRead += found.length;
    return found;
  };

  // One tick's reads of the due path, as refreshDueSources does them (without the fetches).
  recordsRead = 0;
  let claimed = 0;
  let claims = 0;
  for (;;) {
    const ids = await deps.registry.claimDueSources(new Date(now), deps.config.refresh.concurrency, 120_000);
    claims += 1;
    if (ids.length === 0) break;
    claimed += ids.length;
    await deps.registry.getSources(ids);
  }
  await deps.registry.countSourcesByStatus();
  await deps.registry.sourcesFailingBetween(undefined, new Date(now));
  const tickReads = recordsRead;
  // Put the claimed sources out of the way (as their refreshes would), so the instance is idle.
  for (let index = 0; index < N; index += 100)
    await deps.registry.saveSource({ ...(await deps.registry.getSource(`s${index}`))!, nextFetchAt: new Date(now + DAY).toISOString() });

  recordsRead = 0;
  const listStarted = process.cpuUsage();
  await deps.registry.listAllSources();
  const listCpuMs = (process.cpuUsage(listStarted).user + process.cpuUsage(listStarted).system) / 1000;
  const listReads = recordsRead;

  // Idle, side by side: the same process with no scheduler (its timers, GC, the store's watchers),
  // then with the real scheduler ticking every second, nothing due. The difference is the ticks'.
  const measureIdle = async () => {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const cpu = process.cpuUsage();
    const wall = Date.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
    const used = process.cpuUsage(cpu);
    const seconds = (Date.now() - wall) / 1000;
    return { cpuMs: (used.user + used.system) / 1000, seconds };
  };
  const baseline = await measureIdle();
  const scheduler = startScheduler(deps);
  recordsRead = 0;
  const ticking = await measureIdle();
  await scheduler.stop();
  const idleWall = ticking.seconds;
  const percent = (idle: { cpuMs: number; seconds: number }) => Number(((idle.cpuMs / 1000 / idle.seconds) * 100).toFixed(3));
  const idleCorePercent = percent(ticking);
  const used = { user: ticking.cpuMs * 1000, system: 0 };

  let redisBytesPerSource: number | undefined;
  let entryFigures: Record<string, number> | undefined;
  if (kind === 'redis') {
    const client = createClient({ url: REDIS });
    await client.connect();
    const usage = async (key: string) => Number((await client.memoryUsage(key)) ?? 0);
    const perRecord = (await usage(`${prefix}r:source:s1`)) + (await usage(`${prefix}r:source:s2`));
    const indexes = (await usage(`${prefix}due`)) + (await usage(`${prefix}due:status`)) + (await usage(`${prefix}s:sources`));
    redisBytesPerSource = Math.round(perRecord / 2 + indexes / N);
    console.log(
      `  redis: source record ${Math.round(perRecord / 2)} B, due zset + status hash + sources set ${Math.round(indexes / N)} B per source`,
    );
    entryFigures = await measureRedisEntries(deps, client, prefix);
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length > 0) await client.del(keys);
    client.destroy();
  }
  const bytes = kind === 'sqlite' ? storeBytes(instance.dir) : undefined;
  await instance.close();
  rmSync(configFile, { force: true });
  const result = {
    store: kind,
    sources: N,
    due,
    fillSeconds,
    claims,
    claimed,
    tickReads,
    listReads,
    listCpuMs: Math.round(listCpuMs),
    idleSeconds: Math.round(idleWall),
    idleCpuMs: Math.round((used.user + used.system) / 1000),
    idleCorePercent: Number(idleCorePercent.toFixed(3)),
    idleTicks: IDLE_SECONDS,
    idleRecordsRead: recordsRead,
    baselineCorePercent: percent(baseline),
    tickCpuMsEach: Number((ticking.cpuMs / ticking.seconds - baseline.cpuMs / baseline.seconds).toFixed(3)),
    ...(bytes ? { storeBytes: bytes } : {}),
    ...(redisBytesPerSource ? { redisBytesPerSource } : {}),
    ...entryFigures,
  };
  console.log(JSON.stringify(result));
  return result;
}

/**
 * Redis memory of cached entries: 20 entries (≈ 1 KB of JSON each, bench/lib/corpus.ts) saved
 * through the registry (a hash of entries + revision, one script) for every 10th source; MEMORY USAGE summed
 * over those keys, and INFO used_memory before/after (the shared server's other clients move it).
 */
async function measureRedisEntries(
  deps: Awaited<ReturnType<typeof openInstance>>['deps'],
  client: { info(section: string): Promise<string>; memoryUsage(key: string): Promise<number | null> },
  prefix: string,
): Promise<Record<string, number>> {
  const sampled = Array.from({ length: Math.floor(N / 10) }, (_, n) => `s${n * 10}`);
  const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1] ?? Number.NaN);
  const before = await usedMemory();
  let jsonBytes = 0;
  for (let start = 0; start < sampled.length; start += 500) {
    await Promise.all(
      sampled.slice(start, start + 500).map((id) => {
        const entries = generateCachedEntries(id, ENTRIES, 200);
        jsonBytes += Buffer.byteLength(JSON.stringify(entries));
        return deps.registry.saveEntries(id, entries);
      }),
    );
  }
  const after = await usedMemory();
  let keyBytes = 0;
  for (let start = 0; start < sampled.length; start += 1000) {
    const ids = sampled.slice(start, start + 1000);
    const usages = await Promise.all(
      ids.flatMap((id) => [client.memoryUsage(`${prefix}e:${id}`), client.memoryUsage(`${prefix}r:entries-rev:${id}`)]),
    );
    keyBytes += usages.reduce<number>((total, usage) => total + Number(usage ?? 0), 0);
  }
  const entries = sampled.length * ENTRIES;
  const figures = {
    redisEntrySources: sampled.length,
    redisEntryBytesPerEntry: Math.round(keyBytes / entries),
    redisEntryJsonBytesPerEntry: Math.round(jsonBytes / entries),
    redisEntryInfoBytesPerEntry: Math.round((after - before) / entries),
  };
  console.log(
    `  redis: ${entries} cached entries of ${sampled.length} sources: ${figures.redisEntryBytesPerEntry} B an entry by MEMORY USAGE (JSON ${figures.redisEntryJsonBytesPerEntry} B), ${figures.redisEntryInfoBytesPerEntry} B by INFO used_memory`,
  );
  return figures;
}

/** keyv's row for a record (`{"value": …}` under `fp:<key>`), the sets addSource adds to, and the due entry. */
function fillSqlite(path: string, n: number, sourceAt: (index: number) => SourceRecord): void {
  const db = openBulkSqlite(path);
  const first = db.prepare('SELECT value FROM keyv WHERE key = ?').get('fp:source:s0') as { value: string };
  const stored = JSON.parse(first.value) as { value: SourceRecord };
  if (first.value !== JSON.stringify({ value: stored.value }) || stored.value.id !== 's0')
    throw new Error(`keyv stores records differently now: ${first.value.slice(0, 80)}`);
  const record = db.prepare('INSERT INTO keyv(key, value) VALUES (?, ?)');
  const member = db.prepare('INSERT OR IGNORE INTO fp_sets(name, member) VALUES (?, ?)');
  const indexDue = db.prepare(SQLITE_DUE_UPSERT);
  db.transaction(() => {
    for (let index = 1; index < n; index += 1) {
      const source = sourceAt(index);
      record.run(`fp:source:${source.id}`, JSON.stringify({ value: source }));
      member.run(`sources:${source.userId}`, source.id);
      member.run('sources', source.id);
      indexDue.run(source.id, `fp:source:${source.id}`);
    }
  });
  db.close();
}

/** The same writes as addSource, 2,000 sources at a time (node-redis pipelines what is sent together). */
async function fillRedis(store: KeyValueStore, n: number, sourceAt: (index: number) => SourceRecord): Promise<void> {
  for (let start = 1; start < n; start += 2000) {
    const sources = Array.from({ length: Math.min(2000, n - start) }, (_, offset) => sourceAt(start + offset));
    await Promise.all(
      sources.flatMap((source) => [
        store.set(`source:${source.id}`, source),
        store.addMember(`sources:${source.userId}`, source.id),
        store.addMember('sources', source.id),
      ]),
    );
    await store.syncDue(sources.map((source) => ({ id: source.id, recordKey: `source:${source.id}` })));
  }
}

console.log(`due index: ${N} sources, 1% due, idle ${IDLE_SECONDS} s`);
await runOn('sqlite');
if (await isRedisReachable(REDIS)) await runOn('redis');
