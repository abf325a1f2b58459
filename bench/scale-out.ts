// Bench 7 — scale-out on Redis: the same refresh pass (N sources, all due, empty caches, so every
// source is fetched, parsed, sanitised and stored) run by one worker process, then by two worker
// processes on one Redis prefix started together, which split the sources through the per-source
// refresh leases (`onlyIfDue`). Side by side in one run, each on a fresh prefix filled the same way,
// against the refresh bench's upstream (its own process, 16 ports = 16 hosts). The upstream counts
// requests, so "each source fetched exactly once" is checked where it matters. Redis memory per
// source is read twice: `INFO memory` before/after filling, and `MEMORY USAGE` summed over every
// key of the prefix (exact for this prefix even when others use the server meanwhile).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Writable } from 'node:stream';
import { loadConfig } from '../src/config.js';
import { createDeps, type Deps } from '../src/deps.js';
import { createLogger } from '../src/logger.js';
import { deleteRedisPrefix } from '../test/helpers/redis-keys.js';
import { startChild, type Child } from './lib/child.js';
import { benchResult, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { BENCH_PUBLIC_URL, BENCH_SECRET_KEY, addSource, addUser } from './lib/instance.js';
import { startBenchUpstream } from './refresh.js';
import type { WorkerPass } from './scale-out-worker.js';
import type { UpstreamReady } from './upstream-server.js';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** No pass may run longer than this: a stuck worker ends the bench, not the machine's afternoon. */
const PASS_TIMEOUT_MS = 15 * 60_000;

interface ArmFigures {
  label: string;
  workers: number;
  sources: number;
  wallMs: number;
  upstreamRequests: number;
  fetchedOnce: number;
  fetchedTwice: number;
  neverFetched: number;
  perWorker: WorkerPass[];
  redisUsedBefore: number;
  redisUsedFilled: number;
  prefixBytesFilled: number;
  prefixBytesRefreshed: number;
  prefixKeysRefreshed: number;
  upstreamCpuMs: number;
  redisCpuMs: number;
  loadAverage: number;
}

function redisEnv(prefix: string, ready: UpstreamReady): Record<string, string> {
  return {
    FEEDPROXY_STORE: REDIS_URL,
    FEEDPROXY_STORE_PREFIX: prefix,
    FEEDPROXY_SECRET_KEY: BENCH_SECRET_KEY,
    FEEDPROXY_PUBLIC_URL: BENCH_PUBLIC_URL,
    FEEDPROXY_ALLOW_PRIVATE: ready.hostPorts.join(','),
    FEEDPROXY_CONFIG: '',
    LOG_LEVEL: 'info',
  };
}

// The Redis client library is wrapped by src/store/kv.ts alone; the bench's few server-wide
// questions (INFO, MEMORY USAGE) go through redis-cli, loopback only.
function redisCli(args: string[], input?: string): string {
  return execFileSync('redis-cli', ['-u', REDIS_URL, ...args], { input, encoding: 'utf8', maxBuffer: 256 * 2 ** 20, timeout: 120_000 });
}

/** CPU seconds redis-server has used so far (all its clients, ours and anyone else's). */
function redisCpuSeconds(): number {
  const info = redisCli(['INFO', 'cpu']);
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** CPU seconds a process of ours has used so far, from /proc (Linux; NaN elsewhere). */
function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function usedMemory(): number {
  const match = /^used_memory:(\d+)/m.exec(redisCli(['INFO', 'memory']));
  return match ? Number(match[1]) : Number.NaN;
}

/** Sum of `MEMORY USAGE` over every key of `prefix`, and the number of keys. */
function prefixBytes(prefix: string): { bytes: number; keys: number } {
  const keys = redisCli(['--scan', '--pattern', `${prefix}*`])
    .split('\n')
    .filter(Boolean);
  if (keys.length === 0) return { bytes: 0, keys: 0 };
  const answers = redisCli([], keys.map((key) => `MEMORY USAGE ${key}`).join('\n'))
    .split('\n')
    .filter(Boolean);
  return { bytes: answers.reduce((total, answer) => total + (Number(answer) || 0), 0), keys: keys.length };
}

const discard = new Writable({
  write(_chunk, _encoding, callback) {
    callback();
  },
});

/** Fills `prefix` with `count` sources on the upstream, all due now, no cache, no validators. */
async function fillPrefix(prefix: string, ready: UpstreamReady, count: number): Promise<void> {
  const config = loadConfig(redisEnv(prefix, ready));
  const deps: Deps = await createDeps(config, { logger: createLogger(config.logLevel, discard) });
  try {
    const userId = await addUser(deps);
    const urlOf = (index: number) =>
      `http://${ready.hostPorts[index % ready.hostPorts.length]!}/f/${index}?feed_token=bench-secret-${index.toString(36).padStart(6, '0')}`;
    // 50 writes in flight: filling is not what is measured, and one at a time costs a round trip each.
    for (let start = 0; start < count; start += 50) {
      const batch = Array.from({ length: Math.min(50, count - start) }, (_, offset) => start + offset);
      await Promise.all(batch.map((index) => addSource(deps, { userId, url: urlOf(index), title: `Source ${index}` })));
    }
  } finally {
    await deps.close();
  }
}

function withTimeout<T>(promise: Promise<T>, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} took longer than ${PASS_TIMEOUT_MS / 60_000} min`)), PASS_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runArm(
  upstream: { child: Child; ready: UpstreamReady },
  workers: number,
  count: number,
  label: string,
): Promise<ArmFigures> {
  const prefix = `bench-scaleout-${process.pid}-${randomBytes(4).toString('hex')}:`;
  const children: Child[] = [];
  try {
    const redisUsedBefore = usedMemory();
    await fillPrefix(prefix, upstream.ready, count);
    const redisUsedFilled = usedMemory();
    const filled = prefixBytes(prefix);
    // Workers connect first; the pass starts for all of them with one message each, back to back.
    for (let n = 0; n < workers; n++)
      children.push((await startChild<{ pid: number }>('scale-out-worker.ts', redisEnv(prefix, upstream.ready))).child);
    const before = (await upstream.child.ask<{ requests: number }>({ stats: true })).requests;
    const loadAverage = loadavg()[0]!;
    const upstreamCpuBefore = processCpuSeconds(upstream.child.process.pid);
    const redisCpuBefore = redisCpuSeconds();
    const started = process.hrtime.bigint();
    const perWorker = await withTimeout(
      Promise.all(children.map((child) => child.ask<WorkerPass & { error?: string }>({ pass: true }))),
      label,
    );
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const upstreamCpuMs = (processCpuSeconds(upstream.child.process.pid) - upstreamCpuBefore) * 1000;
    const redisCpuMs = (redisCpuSeconds() - redisCpuBefore) * 1000;
    const failed = perWorker.find((pass) => pass.error);
    if (failed) throw new Error(`worker failed: ${failed.error}`);
    const upstreamRequests = (await upstream.child.ask<{ requests: number }>({ stats: true })).requests - before;
    const times = new Map<string, number>();
    for (const pass of perWorker) for (const id of pass.fetchedIds) times.set(id, (times.get(id) ?? 0) + 1);
    const refreshed = prefixBytes(prefix);
    return {
      label,
      workers,
      sources: count,
      wallMs,
      upstreamRequests,
      fetchedOnce: [...times.values()].filter((n) => n === 1).length,
      fetchedTwice: [...times.values()].filter((n) => n > 1).length,
      neverFetched: count - times.size,
      perWorker,
      redisUsedBefore,
      redisUsedFilled,
      prefixBytesFilled: filled.bytes,
      prefixBytesRefreshed: refreshed.bytes,
      prefixKeysRefreshed: refreshed.keys,
      upstreamCpuMs,
      redisCpuMs,
      loadAverage,
    };
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    await deleteRedisPrefix(REDIS_URL, prefix);
  }
}

interface KillFigures {
  sources: number;
  killedAfter: number;
  killedAtMs: number;
  wallMs: number;
  survivorPasses: number;
  upstreamRequests: number;
  fetchedOnce: number;
  fetchedTwice: number;
  neverFetched: number;
  notStored: number;
  leaseSeconds: number;
  loadAverage: number;
}

/**
 * Two workers start the pass; once `killShare` of the sources were fetched, one is killed with
 * SIGKILL (no shutdown: its claims and refresh leases stay in Redis until they lapse). The other
 * finishes its pass, then runs passes again, as its scheduler's ticks would, until one finds
 * nothing due after the dead worker's claims have lapsed. Checked from the upstream's request
 * counts per source (the dead worker's own list died with it) and from the store: every source
 * fetched and its entries stored; fetched twice only where the killed worker had a fetch in flight.
 */
async function runKillArm(upstream: { child: Child; ready: UpstreamReady }, count: number, killShare: number): Promise<KillFigures> {
  const prefix = `bench-scaleout-${process.pid}-${randomBytes(4).toString('hex')}:`;
  const children: Child[] = [];
  let killed: Child | undefined;
  const config = loadConfig(redisEnv(prefix, upstream.ready));
  const leaseSeconds = config.refresh.leaseSeconds;
  let deps: Deps | undefined;
  try {
    await fillPrefix(prefix, upstream.ready, count);
    for (let n = 0; n < 2; n++)
      children.push((await startChild<{ pid: number }>('scale-out-worker.ts', redisEnv(prefix, upstream.ready))).child);
    await upstream.child.ask({ resetCounts: true });
    const before = (await upstream.child.ask<{ requests: number }>({ stats: true })).requests;
    const loadAverage = loadavg()[0]!;
    const started = Date.now();
    const [victim, survivor] = children as [Child, Child];
    void victim.ask({ pass: true }); // never answers: it is killed mid-pass
    const survivorPass = survivor.ask<WorkerPass & { error?: string }>({ pass: true });
    let fetched = 0;
    while (fetched < count * killShare) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      fetched = (await upstream.child.ask<{ requests: number }>({ stats: true })).requests - before;
      if (Date.now() - started > PASS_TIMEOUT_MS) throw new Error('the pass did not reach the kill point');
    }
    victim.process.kill('SIGKILL');
    killed = victim;
    const killedAtMs = Date.now() - started;
    // The survivor's first pass, then a pass a second (its scheduler's ticks) until every source's
    // entries are stored — the dead one's claims and refresh leases lapse after refresh.leaseSeconds
    // — or three lease times have gone by since the kill.
    deps = await createDeps(config, { logger: createLogger(config.logLevel, discard) });
    const storedCount = async () => (await deps!.registry.listAllSources()).filter((source) => source.entryCount > 0).length;
    const giveUpAt = Date.now() + 3 * leaseSeconds * 1000;
    let pass = await withTimeout(survivorPass, "the survivor's pass");
    let passes = 1;
    let stored = 0;
    for (;;) {
      if (pass.error) throw new Error(`worker failed: ${pass.error}`);
      if (pass.due === 0) {
        stored = await storedCount();
        if (stored === count || Date.now() > giveUpAt) break;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      pass = await withTimeout(survivor.ask<WorkerPass & { error?: string }>({ pass: true }), "a survivor's pass");
      passes += 1;
    }
    const wallMs = Date.now() - started;
    const upstreamRequests = (await upstream.child.ask<{ requests: number }>({ stats: true })).requests - before;
    const { counts } = await upstream.child.ask<{ counts: Array<[number, number]> }>({ counts: true });
    const times = new Map(counts);
    return {
      sources: count,
      killedAfter: fetched,
      killedAtMs,
      wallMs,
      survivorPasses: passes,
      upstreamRequests,
      fetchedOnce: [...times.values()].filter((n) => n === 1).length,
      fetchedTwice: [...times.values()].filter((n) => n > 1).length,
      neverFetched: count - times.size,
      notStored: count - stored,
      leaseSeconds,
      loadAverage,
    };
  } finally {
    await deps?.close();
    await Promise.all(children.filter((child) => child !== killed).map((child) => child.stop()));
    await deleteRedisPrefix(REDIS_URL, prefix);
  }
}

function perSecond(arm: ArmFigures): number {
  return (arm.sources / arm.wallMs) * 1000;
}

function armRow(arm: ArmFigures, one?: ArmFigures): Array<string | number> {
  const cpuMs = arm.perWorker.reduce((total, pass) => total + pass.cpuMs, 0);
  return [
    arm.label,
    arm.sources,
    arm.wallMs / 1000,
    perSecond(arm),
    one ? perSecond(arm) / perSecond(one) : '—',
    cpuMs / arm.sources,
    arm.upstreamRequests,
    `${arm.fetchedOnce} once, ${arm.fetchedTwice} twice+, ${arm.neverFetched} never`,
    arm.perWorker.map((pass) => `${pass.fetchedIds.length} (${(pass.wallMs / 1000).toFixed(1)} s)`).join(' + '),
    `${(cpuMs / arm.wallMs).toFixed(2)} + ${(arm.upstreamCpuMs / arm.wallMs).toFixed(2)} + ${(arm.redisCpuMs / arm.wallMs).toFixed(2)} = ${((cpuMs + arm.upstreamCpuMs + arm.redisCpuMs) / arm.wallMs).toFixed(2)} of ${cpus().length}`,
    arm.loadAverage,
  ];
}

export async function runScaleOutBench(options: RunOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const count = Number(process.env.BENCH_SCALE_OUT_SOURCES ?? (options.quick ? 200 : 10_000));
  const upstream = await startBenchUpstream();
  try {
    await upstream.child.ask({ generation: 0 });
    const one = await runArm(upstream, 1, count, 'one worker process');
    const two = await runArm(upstream, 2, count, 'two worker processes, one prefix');
    const kill = await runKillArm(upstream, count, 0.4);
    const ratio = perSecond(two) / perSecond(one);
    // Store round trips per refresh (calls of src/store/kv.ts), one worker, by method.
    const calls: Record<string, number> = {};
    for (const pass of one.perWorker) for (const [name, n] of Object.entries(pass.storeCalls)) calls[name] = (calls[name] ?? 0) + n;
    const callsPerRefresh = Object.values(calls).reduce((total, n) => total + n, 0) / one.sources;
    const callsByMethod = Object.entries(calls)
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ${(n / one.sources).toFixed(2)}`)
      .join(', ');
    const perSourceFilled = two.prefixBytesFilled / count;
    const perSourceRefreshed = two.prefixBytesRefreshed / count;
    const infoPerSource = (two.redisUsedFilled - two.redisUsedBefore) / count;
    const table: Table = {
      title: `Scale-out on Redis — ${count.toLocaleString('en-US')} sources, all due, empty caches (every source fetched and parsed), ${upstream.ready.hostPorts.length} upstream hosts, concurrency 8 (per host 2) per worker`,
      columns: [
        'pass',
        'sources',
        'wall s',
        'sources/s',
        '× one worker',
        'CPU ms/source (workers)',
        'upstream requests',
        'fetches per source',
        'fetched by each worker (its wall time)',
        'cores used: workers + upstream + redis',
        'load average at start',
      ],
      rows: [armRow(one), armRow(two, one)],
      notes: [
        `target: two workers ≥ 1.7 × one; this run ${ratio.toFixed(2)} × on ${cpus().length} CPUs shared by the workers, the upstream process and redis-server`,
        `cores used = CPU seconds ÷ wall seconds during the pass (workers: process.cpuUsage; upstream: /proc; redis-server: INFO cpu, which counts every client of the shared server); what our processes did not get of the ${cpus().length} cores went to other work on this shared machine (see the load average)`,
        `time is from the "go" sent to every worker (already connected) until the last one finished its pass; each pass claims due sources from the due index a slot's worth at a time, takes each claimed source's lease, re-checks it is due, fetches, parses, sanitises and saves`,
        `Redis memory per source, as filled (record + index members): ${perSourceFilled.toFixed(0)} B by MEMORY USAGE over the prefix, ${infoPerSource.toFixed(0)} B by INFO used_memory before/after`,
        `store round trips per refresh (calls of src/store/kv.ts in the one-worker pass, every source changed, in feeds of none): ${callsPerRefresh.toFixed(2)} — ${callsByMethod}`,
        `Redis memory per source after the pass (record + 10–100 cached, sanitised entries): ${(perSourceRefreshed / 1024).toFixed(1)} KiB by MEMORY USAGE (${two.prefixKeysRefreshed.toLocaleString('en-US')} keys); each run used its own prefix, deleted afterwards`,
      ],
    };
    const killTable: Table = {
      title: `A worker killed mid-pass — two workers on one prefix, ${count.toLocaleString('en-US')} sources all due; SIGKILL to one once 40% were fetched`,
      columns: [
        'sources',
        'killed after (upstream requests)',
        'killed at s',
        'every source stored at s',
        "survivor's passes",
        'upstream requests',
        'fetches per source',
        'entries not stored',
        'refresh.leaseSeconds',
        'load average at start',
      ],
      rows: [
        [
          kill.sources,
          kill.killedAfter,
          kill.killedAtMs / 1000,
          kill.wallMs / 1000,
          kill.survivorPasses,
          kill.upstreamRequests,
          `${kill.fetchedOnce} once, ${kill.fetchedTwice} twice+, ${kill.neverFetched} never`,
          kill.notStored,
          kill.leaseSeconds,
          kill.loadAverage,
        ],
      ],
      notes: [
        'target: none missed (every source fetched and its entries stored) and none fetched twice — except a fetch the killed worker had in flight and never stored (at most its concurrency, 8)',
        "fetches per source from the upstream's request counts per feed (the killed worker's own list died with it); stored from the records' entry counts afterwards",
        "the survivor runs a pass, then one a second (its scheduler ticking) until every source is stored: the dead worker's claims on the due index and its refresh leases lapse refresh.leaseSeconds after its last heartbeat",
      ],
    };
    printTable(table);
    printTable(killTable);
    const cpu = (arm: ArmFigures) => arm.perWorker.reduce((total, pass) => total + pass.cpuMs, 0) / arm.sources;
    return benchResult('scale-out', options, startedAt, [table, killTable], {
      sources: count,
      onePerSecond: perSecond(one),
      twoPerSecond: perSecond(two),
      ratio,
      oneCpuMsPerSource: cpu(one),
      twoCpuMsPerSource: cpu(two),
      twoUpstreamRequests: two.upstreamRequests,
      twoFetchedTwice: two.fetchedTwice,
      twoNeverFetched: two.neverFetched,
      redisBytesPerSourceFilled: perSourceFilled,
      redisInfoBytesPerSourceFilled: infoPerSource,
      redisBytesPerSourceRefreshed: perSourceRefreshed,
      storeCallsPerRefresh: callsPerRefresh,
      killFetchedTwice: kill.fetchedTwice,
      killNeverFetched: kill.neverFetched,
      killNotStored: kill.notStored,
      killStoredAtSeconds: kill.wallMs / 1000,
      killedAtSeconds: kill.killedAtMs / 1000,
    });
  } finally {
    await upstream.child.stop();
  }
}
