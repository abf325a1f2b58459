// Bench 1 — serving a published feed (50 entries, Atom): feedproxy against a bare Fastify app
// answering the same bytes with the same headers, each in its own process, loaded by autocannon
// from this one with the same connections and duration, alternating so both see the same noise.
// Cases: 200, 304 (If-None-Match), and 200 with gzip negotiated.
import autocannon from 'autocannon';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, type Child } from './lib/child.js';
import { benchResult, median, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { addCachedSource, addFeed, addUser, openInstance, type BenchInstance } from './lib/instance.js';
import type { BareResponse } from './serve-target.js';

export const UNLIMITED = { FEEDPROXY_PUBLIC_RATE_LIMIT: '1000000' };

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

interface Case {
  label: string;
  expect: '2xx' | '3xx';
  headers: (etag: string) => Record<string, string>;
}

const CASES: Case[] = [
  { label: '200', expect: '2xx', headers: () => ({}) },
  { label: '304 (If-None-Match)', expect: '3xx', headers: (etag) => ({ 'if-none-match': etag }) },
  { label: '200 gzip', expect: '2xx', headers: () => ({ 'accept-encoding': 'gzip' }) },
];

/** Headers that belong to one connection or one answer, not to what the app decided to say. */
const PER_ANSWER_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'vary']);

export async function loadOnce(url: string, headers: Record<string, string>, seconds: number, connections: number, expect: '2xx' | '3xx' = '2xx'): Promise<LoadFigures> {
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
export async function publishBenchFeed(sources = 5, entriesPerSource = 20): Promise<{ instance: BenchInstance; token: string; feedId: string }> {
  const instance = await openInstance();
  const userId = await addUser(instance.deps);
  const ids: string[] = [];
  for (let index = 0; index < sources; index++) ids.push((await addCachedSource(instance.deps, userId, index, entriesPerSource, 600)).id);
  const feed = await addFeed(instance.deps, userId, ids, { limit: 50 });
  return { instance, token: feed.publicToken, feedId: feed.id };
}

async function startTarget(target: Target): Promise<{ child: Child; port: number }> {
  const { child, ready } = await startChild<{ port: number }>('serve-target.ts', target.env);
  return { child, port: ready.port };
}

export async function runServingBench(options: RunOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const seconds = options.quick ? 2 : 10;
  const repeats = options.quick ? 1 : 2;
  const connections = 32;
  const { instance, token } = await publishBenchFeed();
  await instance.close({ keep: true });
  const path = `/${token}.atom`;

  // The bytes and headers feedproxy answers, for the bare app to answer identically.
  const probe = await startTarget({ label: 'probe', env: { BENCH_SERVE_MODE: 'feedproxy', BENCH_STORE_DIR: instance.dir, ...UNLIMITED } });
  const answer = await fetch(`http://127.0.0.1:${probe.port}${path}`, { headers: { 'accept-encoding': 'identity' } });
  const body = await answer.text();
  // Every header feedproxy sends (security headers, CORS, rate-limit counters…), as fixed values.
  const headers: Record<string, string> = {};
  answer.headers.forEach((value, name) => {
    if (!PER_ANSWER_HEADERS.has(name)) headers[name] = value;
  });
  await probe.child.stop();
  const bareFile = join(instance.dir, 'bare.json');
  writeFileSync(bareFile, JSON.stringify({ body, headers } satisfies BareResponse));
  const etag = headers.etag!;

  // The public rate limit stays on (its cost is part of a GET) but high enough never to answer 429
  // to the one client address the load comes from.
  const feedproxyEnv = (level: string) => ({ BENCH_SERVE_MODE: 'feedproxy', BENCH_STORE_DIR: instance.dir, LOG_LEVEL: level, ...UNLIMITED });
  const targets: Target[] = [
    { label: 'bare Fastify', env: { BENCH_SERVE_MODE: 'bare', BENCH_BARE_FILE: bareFile } },
    { label: 'feedproxy', env: feedproxyEnv('info') },
    ...(options.quick ? [] : [{ label: 'feedproxy, LOG_LEVEL=warn', env: feedproxyEnv('warn') }]),
    { label: 'bare, gzip made once', env: { BENCH_SERVE_MODE: 'bare-precompressed', BENCH_BARE_FILE: bareFile } },
  ];
  const figures: Record<string, LoadFigures[]> = {};
  try {
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const target of targets) {
        const { child, port } = await startTarget(target);
        try {
          for (const testCase of CASES) {
            if (target.label.startsWith('bare, gzip') && testCase.label !== '200 gzip') continue;
            const url = `http://127.0.0.1:${port}${path}`;
            await loadOnce(url, testCase.headers(etag), 1, connections); // warm-up: JIT, connection pools, caches
            const key = `${target.label}|${testCase.label}`;
            (figures[key] ??= []).push(await loadOnce(url, testCase.headers(etag), seconds, connections, testCase.expect));
          }
        } finally {
          await child.stop();
        }
      }
    }
  } finally {
    await instance.close();
  }

  const summary = (key: string) => {
    const runs = figures[key] ?? [];
    return {
      requestsPerSecond: median(runs.map((run) => run.requestsPerSecond)),
      p99Ms: median(runs.map((run) => run.p99Ms)),
      p50Ms: median(runs.map((run) => run.p50Ms)),
      bad: runs.reduce((total, run) => total + run.unexpected, 0),
    };
  };
  const rows: Array<Array<string | number>> = [];
  const resultFigures: Record<string, number> = {};
  for (const testCase of CASES) {
    const bare = summary(`bare Fastify|${testCase.label}`);
    for (const target of targets) {
      const key = `${target.label}|${testCase.label}`;
      if (!figures[key]) continue;
      const own = summary(key);
      const ratio = own.requestsPerSecond / bare.requestsPerSecond;
      rows.push([testCase.label, target.label, own.requestsPerSecond, own.p50Ms, own.p99Ms, target.label === 'bare Fastify' ? '1.00 (baseline)' : ratio.toFixed(2), own.bad]);
      resultFigures[`${target.label}|${testCase.label}|rps`] = own.requestsPerSecond;
      resultFigures[`${target.label}|${testCase.label}|p99`] = own.p99Ms;
      resultFigures[`${target.label}|${testCase.label}|ratio`] = ratio;
    }
  }
  const table: Table = {
    title: `Serving a published feed — Atom, 50 entries, ${Buffer.byteLength(body)} bytes; ${connections} connections, ${seconds} s per run, median of ${repeats}`,
    columns: ['case', 'server', 'req/s', 'p50 ms', 'p99 ms', '÷ bare', 'unexpected answers'],
    rows,
    notes: [
      'target: feedproxy ÷ bare ≥ 0.8 for 200 and 304; each server in its own process, autocannon in the bench process (2 cores shared)',
      'feedproxy runs with its default LOG_LEVEL=info (the public feed route logs only warnings and errors; the rows marked LOG_LEVEL=warn quiet the rest)',
    ],
  };
  printTable(table);
  return benchResult('serving', options, startedAt, [table], { ...resultFigures, bodyBytes: Buffer.byteLength(body) });
}

export { startTarget };
