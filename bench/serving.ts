// Bench 1 — serving a published feed (one source of 200 entries, merged, Atom): feedproxy against
// the ceiling, a bare Fastify 5 route with no plugins answering the same bytes from a Buffer with
// the same validators and 304s (bench/serve-target.ts `bare`), and for gzip and br a bare route
// answering bytes compressed once. Each server in its own process; the load from wrk in another,
// with keep-alive connections, 32 and 1,000 of them (BENCH_SERVING_PIN=1: the 1,000 with wrk and
// the server under test on a CPU each, runWrk's placement); feedproxy on SQLite and on Redis. Every run
// counts the answers that are not the case's status (a run of 429s would measure nothing, so the
// public rate limit is lifted).
import autocannon from 'autocannon';
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { startChild, type Child } from './lib/child.js';
import { benchResult, median, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { addCachedSource, addFeed, addUser, openInstance, type BenchInstance } from './lib/instance.js';
import { processCpuMs } from './lib/wrk-case.js';
import type { BareResponse } from './serve-target.js';
import { deleteRedisPrefix, isRedisReachable } from '../test/helpers/redis-keys.js';

export const UNLIMITED = { FEEDPROXY_PUBLIC_RATE_LIMIT: '1000000000' };
/** The diagnostic row's server: the ceiling's route sending feedproxy's exact header sets (serve-target.ts). */
const DIAGNOSTIC_LABEL = "diagnostic: bare, feedproxy's headers";

interface Target {
  label: string;
  env: Record<string, string>;
}

interface LoadFigures {
  requestsPerSecond: number;
  p99Ms: number;
  p50Ms: number;
  /** Answers with another status than the case expects (a 429 from a rate limit…), errors, timeouts. */
  unexpected: number;
}

/** Headers Node writes for the connection, or Fastify for the body it sends. */
const PER_CONNECTION_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding']);
/** Headers that belong to one connection or one answer, not to what the app decided to say. */
const PER_ANSWER_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'vary']);

export async function loadOnce(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  connections: number,
  expect: '2xx' | '3xx' = '2xx',
): Promise<LoadFigures> {
  const result = await autocannon({ url, headers, duration: seconds, connections, pipelining: 1 });
  const answered = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  return {
    requestsPerSecond: result.requests.average,
    p99Ms: result.latency.p99,
    p50Ms: result.latency.p50,
    unexpected: answered - result[expect] + result.errors + result.timeouts,
    ...(process.env.BENCH_DEBUG ? { stats: JSON.stringify(result.statusCodeStats) } : {}),
  };
}

/** A store with one user, `sources` sources of `entries` cached entries and one feed over them. */
export async function publishBenchFeed(
  sources = 5,
  entriesPerSource = 20,
  env?: Record<string, string>,
  limit = 50,
): Promise<{ instance: BenchInstance; token: string; feedId: string }> {
  const instance = await openInstance(env ? { env } : {});
  const userId = await addUser(instance.deps);
  const ids: string[] = [];
  for (let index = 0; index < sources; index++) ids.push((await addCachedSource(instance.deps, userId, index, entriesPerSource, 600)).id);
  const feed = await addFeed(instance.deps, userId, ids, { limit });
  return { instance, token: feed.publicToken, feedId: feed.id };
}

async function startTarget(target: Target): Promise<{ child: Child; port: number }> {
  const { child, ready } = await startChild<{ port: number }>('serve-target.ts', target.env);
  return { child, port: ready.port };
}

interface WrkFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers outside 2xx/3xx (429s…), socket errors and timeouts. */
  unexpected: number;
  /** The server's CPU time ÷ the run's wall time: about 1 (one core) when the server is what limits the rate. */
  serverBusy?: number;
}

interface ServingCase {
  label: string;
  /** Status every answer must have. */
  status: 200 | 304;
  headers: (validators: { etag: string; lastModified: string }) => Record<string, string>;
  /** The bare server this case compares with. */
  bare: 'bare' | 'bare-precompressed';
}

const SERVING_CASES: ServingCase[] = [
  { label: '200 identity', status: 200, headers: () => ({}), bare: 'bare' },
  { label: '304 If-None-Match', status: 304, headers: ({ etag }) => ({ 'if-none-match': etag }), bare: 'bare' },
  { label: '304 If-Modified-Since', status: 304, headers: ({ lastModified }) => ({ 'if-modified-since': lastModified }), bare: 'bare' },
  { label: '200 gzip', status: 200, headers: () => ({ 'accept-encoding': 'gzip' }), bare: 'bare-precompressed' },
  { label: '200 br', status: 200, headers: () => ({ 'accept-encoding': 'br' }), bare: 'bare-precompressed' },
];

/**
 * How the load client and the server under test share the machine's cores. `shared` (the default):
 * wrk's two threads and the server run wherever the scheduler puts them. `pinned`
 * (BENCH_SERVING_PIN=1, the 1,000-connection rows only, on 2 CPUs or more with taskset): the server
 * alone on CPU 0, wrk with one thread on CPU 1 and a 10 s timeout, so a slow answer counts in p99
 * instead of being dropped as a timeout (wrk leaves timed-out requests out of its latencies).
 * Pinned, the rows have no errors (shared: 50–750 timeouts a run, the ceiling's included), but they
 * are not repeatable either: whenever the server is saturated a part of the 1,000 connections waits
 * seconds, and the ceiling's p99 moved between 0.12 and 3.5 s from one 5 s run to the next. Not the
 * default for that reason (BENCHMARKS.md, diagnosis 1, session 9).
 */
type LoadPlacement = 'shared' | 'pinned';
const PINNED_CONNECTIONS = 1000;
const PINNED_SERVER_CPU = '0';
const PINNED_WRK_CPU = '1';
const PINNED_WRK_TIMEOUT = '10s';

function canPin(): boolean {
  if (cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-c', PINNED_WRK_CPU, 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Puts every thread of `pid` on `cpuList` (taskset's list syntax); later threads inherit it. */
function placeProcess(pid: number, cpuList: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

/** wrk in its own process: `connections` keep-alive connections for `seconds`, placed as `placement` says. */
async function runWrk(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  connections: number,
  status: number,
  placement: LoadPlacement = 'shared',
): Promise<WrkFigures> {
  // wrk counts answers outside 2xx/3xx (429s…) itself; whether they are the case's own status is
  // checked by one request before each run (a Lua hook per answer would slow the client down).
  const check = await fetch(url, { headers });
  await check.arrayBuffer();
  if (check.status !== status) throw new Error(`${url} answered ${check.status}, not ${status}, with ${JSON.stringify(headers)}`);
  const args = [
    ...(placement === 'pinned' ? ['-c', PINNED_WRK_CPU, 'wrk', '-t1', '--timeout', PINNED_WRK_TIMEOUT] : ['-t2']),
    `-c${connections}`,
    `-d${seconds}s`,
    '--latency',
    ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    url,
  ];
  const output = await new Promise<string>((resolve, reject) => {
    execFile(placement === 'pinned' ? 'taskset' : 'wrk', args, { maxBuffer: 1 << 20 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    );
  });
  const ms = (text: string) => {
    const match = /([\d.]+)(us|ms|s)\b/.exec(text);
    if (!match) return Number.NaN;
    const value = Number(match[1]);
    return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
  };
  const requestsPerSecond = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0);
  const p50Ms = ms(/\s50%\s+(\S+)/.exec(output)?.[1] ?? '');
  const p99Ms = ms(/\s99%\s+(\S+)/.exec(output)?.[1] ?? '');
  const outside = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = errors ? errors.slice(1).reduce((sum, value) => sum + Number(value), 0) : 0;
  return { requestsPerSecond, p50Ms, p99Ms, unexpected: outside + socketErrors };
}

/**
 * Asks feedproxy (on the store in `storeEnv`) for its answers to `token`'s Atom URL and writes what
 * the bare servers answer identically (serve-target.ts `BareResponse`) to `dir`/bare.json.
 */
export async function writeBareFile(
  storeEnv: Record<string, string>,
  token: string,
  dir: string,
): Promise<{ bareFile: string; body: string }> {
  const probe = await startTarget({ label: 'probe', env: { BENCH_SERVE_MODE: 'feedproxy', ...storeEnv, ...UNLIMITED } });
  const path = `/${token}.atom`;
  const answer = await fetch(`http://127.0.0.1:${probe.port}${path}`, { headers: { 'accept-encoding': 'identity' } });
  const body = await answer.text();
  const headers: Record<string, string> = {};
  answer.headers.forEach((value, name) => {
    if (!PER_ANSWER_HEADERS.has(name)) headers[name] = value;
  });
  // feedproxy's whole header sets, for the diagnostic row (what the header count costs a bare route).
  const setOf = (response: Response) => {
    const all: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (!PER_CONNECTION_HEADERS.has(name)) all[name] = value;
    });
    return all;
  };
  const notModified = await fetch(`http://127.0.0.1:${probe.port}${path}`, { headers: { 'if-none-match': headers.etag ?? '' } });
  await notModified.arrayBuffer();
  const feedproxyHeaders = { ok: setOf(answer), notModified: setOf(notModified) };
  await probe.child.stop();
  const bareFile = join(dir, 'bare.json');
  writeFileSync(bareFile, JSON.stringify({ body, headers, feedproxyHeaders } satisfies BareResponse));
  return { bareFile, body };
}

const REDIS_BENCH_URL = process.env.FEEDPROXY_BENCH_REDIS ?? 'redis://127.0.0.1:6379';

export async function runServingBench(options: RunOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const loadAtStart = loadavg()[0]!;
  const seconds = options.quick ? 2 : 5;
  const repeats = options.quick ? 1 : 2;
  const connectionCounts = [32, PINNED_CONNECTIONS];
  const pinning = process.env.BENCH_SERVING_PIN === '1' && canPin();
  const allCpus = `0-${cpus().length - 1}`;
  const redisPrefix = `feedproxy-bench-${process.pid}-${Date.now()}:`;

  // One store of each kind with the same feed: one source of 200 entries, all merged (the case).
  const sqlite = await publishBenchFeed(1, 200, {}, 200);
  await sqlite.instance.close({ keep: true });
  const redisEnv = { FEEDPROXY_STORE: REDIS_BENCH_URL, FEEDPROXY_STORE_PREFIX: redisPrefix };
  const redis = (await isRedisReachable(REDIS_BENCH_URL)) ? await publishBenchFeed(1, 200, redisEnv, 200) : undefined;
  await redis?.instance.close({ keep: true });
  const stores = [
    { label: 'SQLite', env: { BENCH_STORE_DIR: sqlite.instance.dir }, token: sqlite.token },
    ...(redis ? [{ label: 'Redis', env: { BENCH_STORE_DIR: redis.instance.dir, ...redisEnv }, token: redis.token }] : []),
  ];

  const { bareFile, body } = await writeBareFile(stores[0]!.env, stores[0]!.token, sqlite.instance.dir);

  const targets = [
    { label: 'bare Fastify', mode: 'bare', env: { BENCH_SERVE_MODE: 'bare', BENCH_BARE_FILE: bareFile }, token: stores[0]!.token },
    {
      label: 'bare, compressed once',
      mode: 'bare-precompressed',
      env: { BENCH_SERVE_MODE: 'bare-precompressed', BENCH_BARE_FILE: bareFile },
      token: stores[0]!.token,
    },
    {
      label: DIAGNOSTIC_LABEL,
      mode: 'bare-feedproxy-headers',
      env: { BENCH_SERVE_MODE: 'bare-feedproxy-headers', BENCH_BARE_FILE: bareFile },
      token: stores[0]!.token,
    },
    ...stores.map((store) => ({
      label: `feedproxy, ${store.label}`,
      mode: 'feedproxy',
      env: { BENCH_SERVE_MODE: 'feedproxy', LOG_LEVEL: 'info', ...store.env, ...UNLIMITED },
      token: store.token,
    })),
  ];
  const figures: Record<string, WrkFigures[]> = {};
  const running: Array<{
    target: (typeof targets)[number];
    child: Child;
    port: number;
    validators: { etag: string; lastModified: string };
  }> = [];
  try {
    // Every server runs for the whole bench (an idle one costs nothing), and each case's runs
    // alternate between them — the order reversed on every repeat — so the ceiling and feedproxy of
    // one row are measured seconds apart, under the same noise of this shared machine.
    for (const target of targets) {
      const { child, port } = await startTarget(target);
      running.push({ target, child, port, validators: { etag: '', lastModified: '' } });
      const first = await fetch(`http://127.0.0.1:${port}/${target.token}.atom`);
      await first.arrayBuffer();
      running.at(-1)!.validators = { etag: first.headers.get('etag') ?? '', lastModified: first.headers.get('last-modified') ?? '' };
    }
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const connections of connectionCounts) {
        for (const testCase of SERVING_CASES) {
          const placement: LoadPlacement = pinning && connections === PINNED_CONNECTIONS ? 'pinned' : 'shared';
          for (const { target, child, port, validators } of repeat % 2 === 0 ? running : [...running].reverse()) {
            if ((target.mode === 'bare' || target.mode === 'bare-precompressed') && target.mode !== testCase.bare) continue;
            const url = `http://127.0.0.1:${port}/${target.token}.atom`;
            const headers = testCase.headers(validators);
            if (placement === 'pinned') placeProcess(child.process.pid!, PINNED_SERVER_CPU);
            try {
              await runWrk(url, headers, 1, connections, testCase.status, placement); // warm-up: JIT, connections, caches
              const key = `${target.label}|${testCase.label}|${connections}`;
              const cpuBefore = processCpuMs(child.process.pid!);
              const startedRun = performance.now();
              const run = await runWrk(url, headers, seconds, connections, testCase.status, placement);
              run.serverBusy = (processCpuMs(child.process.pid!) - cpuBefore) / (performance.now() - startedRun);
              (figures[key] ??= []).push(run);
            } finally {
              if (placement === 'pinned') placeProcess(child.process.pid!, allCpus);
            }
          }
        }
      }
    }
  } finally {
    await Promise.all(running.map(({ child }) => child.stop()));
    await sqlite.instance.close();
    if (redis) {
      await redis.instance.close();
      await deleteRedisPrefix(REDIS_BENCH_URL, redisPrefix);
    }
  }

  const summary = (key: string) => {
    const runs = figures[key] ?? [];
    return {
      requestsPerSecond: median(runs.map((run) => run.requestsPerSecond)),
      p50Ms: median(runs.map((run) => run.p50Ms)),
      p99Ms: median(runs.map((run) => run.p99Ms)),
      bad: runs.reduce((total, run) => total + run.unexpected, 0),
      busy: `${Math.round(100 * median(runs.map((run) => run.serverBusy ?? Number.NaN)))}%`,
    };
  };
  const rows: Array<Array<string | number>> = [];
  const resultFigures: Record<string, number> = {};
  for (const connections of connectionCounts) {
    for (const testCase of SERVING_CASES) {
      const bareLabel = testCase.bare === 'bare' ? 'bare Fastify' : 'bare, compressed once';
      const bare = summary(`${bareLabel}|${testCase.label}|${connections}`);
      rows.push([
        `${testCase.label}, ${connections} conn.`,
        bareLabel,
        bare.requestsPerSecond,
        bare.p50Ms,
        bare.p99Ms,
        '1.00 (ceiling)',
        '—',
        bare.bad,
        bare.busy,
      ]);
      // Diagnostic, not a target: the bare route sending feedproxy's headers, against the same ceiling.
      const diagnostic = summary(`${DIAGNOSTIC_LABEL}|${testCase.label}|${connections}`);
      rows.push([
        `${testCase.label}, ${connections} conn.`,
        DIAGNOSTIC_LABEL,
        diagnostic.requestsPerSecond,
        diagnostic.p50Ms,
        diagnostic.p99Ms,
        (diagnostic.requestsPerSecond / bare.requestsPerSecond).toFixed(2),
        (diagnostic.p99Ms / bare.p99Ms).toFixed(2),
        diagnostic.bad,
        diagnostic.busy,
      ]);
      resultFigures[`diagnostic|${testCase.label}|${connections}|ratio`] = diagnostic.requestsPerSecond / bare.requestsPerSecond;
      for (const store of stores) {
        const label = `feedproxy, ${store.label}`;
        const own = summary(`${label}|${testCase.label}|${connections}`);
        const ratio = own.requestsPerSecond / bare.requestsPerSecond;
        const p99Ratio = own.p99Ms / bare.p99Ms;
        rows.push([
          `${testCase.label}, ${connections} conn.`,
          label,
          own.requestsPerSecond,
          own.p50Ms,
          own.p99Ms,
          ratio.toFixed(2),
          p99Ratio.toFixed(2),
          own.bad,
          own.busy,
        ]);
        const prefix = `${store.label}|${testCase.label}|${connections}`;
        resultFigures[`${prefix}|rps`] = own.requestsPerSecond;
        resultFigures[`${prefix}|p99`] = own.p99Ms;
        resultFigures[`${prefix}|ratio`] = ratio;
        resultFigures[`${prefix}|p99Ratio`] = p99Ratio;
        resultFigures[`${prefix}|bareRps`] = bare.requestsPerSecond;
      }
    }
  }
  const loadAtEnd = loadavg()[0]!;
  const table: Table = {
    title: `Serving a published feed — Atom, one source of 200 entries, ${Buffer.byteLength(body)} bytes; wrk, keep-alive, ${seconds} s per run, median of ${repeats}`,
    columns: ['case', 'server', 'req/s', 'p50 ms', 'p99 ms', 'req/s ÷ ceiling', 'p99 ÷ ceiling', 'unexpected answers', 'server CPU'],
    rows,
    notes: [
      "targets: req/s ≥ 0.9 of the ceiling for 200 identity, both 304s, gzip and br (against bytes compressed once); p99 ≤ 1.5× the ceiling's",
      'ceiling: a bare Fastify 5 route, no plugins, the same body in a Buffer with the same ETag, Last-Modified, Content-Type and Cache-Control (bench/serve-target.ts); each server in its own process, wrk in another (placed as the load note says); every server up for the whole bench, each case run on each in turn (order reversed per repeat) after a 1 s warm-up',
      pinning
        ? `load (BENCH_SERVING_PIN=1): 32 connections from wrk -t2, wrk and the server sharing the ${cpus().length} CPUs; ${PINNED_CONNECTIONS} connections from wrk -t1 --timeout ${PINNED_WRK_TIMEOUT} on CPU ${PINNED_WRK_CPU}, the server under test alone on CPU ${PINNED_SERVER_CPU} (taskset, every server alike, the ceiling included); every server listens with a backlog of 2,048 so the ${PINNED_CONNECTIONS} connections opened at once are all accepted. Whenever the server is saturated a part of the connections waits seconds: the ceiling's p99 moves between 0.1 and 3.5 s from run to run`
        : `load: wrk -t2 sharing the ${cpus().length} CPU(s) with the server at both connection counts; every server listens with a backlog of 2,048 so the ${PINNED_CONNECTIONS} connections opened at once are all accepted. At ${PINNED_CONNECTIONS} connections the rows rank rather than measure: whenever the server is saturated a part of the connections waits seconds (timeouts, the ceiling's too); BENCH_SERVING_PIN=1 puts wrk and the server on a CPU each — no errors, but the ceiling's p99 still moves between 0.1 and 3.5 s from run to run`,
      '"server CPU": the server process\'s CPU time (every thread) ÷ the run\'s wall time, median: near 100% (one core: a poll runs on the event loop) the server is what limits the rate; well under it, the load client, the kernel or the other processes on the cores are, and the ratio says little about the server',
      `"${DIAGNOSTIC_LABEL}": not a target — the ceiling's route (bytes compressed once) setting feedproxy's exact header set of each answer through Fastify's reply: what the number of headers costs a route that does nothing else`,
      'feedproxy as deployed: LOG_LEVEL=info, security headers, CORS, usage stats, metrics and the public rate limit on (lifted to 1,000,000,000 a minute so the one load address is not answered 429)',
      `machine load (1-minute load average) at the start and the end of this bench: ${loadAtStart.toFixed(1)} and ${loadAtEnd.toFixed(1)} on ${cpus().length} CPUs — ${
        // The bench's own wrk and server keep about two cores busy; a start above the CPU count means others did too.
        loadAtStart > cpus().length
          ? 'other processes shared the cores at the start and the ratios are noise'
          : 'nothing else was busy at the start'
      }`,
      'before session 4 the headline read 200 at 3.44 and 304 at 0.21 of "bare Fastify": that baseline registered @fastify/compress and sent a string on every request, so it was slower than the ceiling it stood for',
    ],
  };
  printTable(table);
  return benchResult('serving', options, startedAt, [table], { ...resultFigures, bodyBytes: Buffer.byteLength(body) });
}

export { startTarget };
