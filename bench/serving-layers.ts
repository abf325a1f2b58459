// Diagnosis for bench 1 (run by name: `npm run bench -- layers`): the bare app with feedproxy's
// layers added one at a time, 304 and 200, so the gap to the bare app is split between them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild } from './lib/child.js';
import { benchResult, median, printTable, type BenchResult, type RunOptions, type Table } from './lib/common.js';
import { UNLIMITED, loadOnce, publishBenchFeed, startTarget } from './serving.js';
import type { BareResponse } from './serve-target.js';

const STACKS = ['', 'logger', 'metrics', 'security', 'store', 'logger,metrics,security,store'];

export async function runServingLayersBench(options: RunOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const seconds = options.quick ? 2 : 6;
  const repeats = options.quick ? 1 : 2;
  const { instance, token } = await publishBenchFeed();
  await instance.close({ keep: true });
  const probe = await startTarget({ label: 'probe', env: { BENCH_SERVE_MODE: 'feedproxy', BENCH_STORE_DIR: instance.dir, ...UNLIMITED } });
  const answer = await fetch(`http://127.0.0.1:${probe.port}/${token}.atom`, { headers: { 'accept-encoding': 'identity' } });
  const body = await answer.text();
  const headers: Record<string, string> = {};
  answer.headers.forEach((value, name) => {
    if (!['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'vary'].includes(name))
      headers[name] = value;
  });
  await probe.child.stop();
  const bareFile = join(instance.dir, 'bare.json');
  writeFileSync(bareFile, JSON.stringify({ body, headers } satisfies BareResponse));

  const runs = new Map<string, number[]>();
  try {
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const stack of [...STACKS, 'feedproxy']) {
        const { child, ready } =
          stack === 'feedproxy'
            ? await startChild<{ port: number }>('serve-target.ts', {
                BENCH_SERVE_MODE: 'feedproxy',
                BENCH_STORE_DIR: instance.dir,
                ...UNLIMITED,
              })
            : await startChild<{ port: number }>('serve-layers.ts', {
                BENCH_LAYERS: stack,
                BENCH_BARE_FILE: bareFile,
                BENCH_STORE_DIR: instance.dir,
                BENCH_TOKEN: token,
                ...UNLIMITED,
              });
        try {
          const url = `http://127.0.0.1:${ready.port}/${token}.atom`;
          for (const [label, requestHeaders, expect] of [
            ['304', { 'if-none-match': headers.etag! }, '3xx'],
            ['200', {}, '2xx'],
          ] as const) {
            await loadOnce(url, requestHeaders, 1, 32, expect);
            const figures = await loadOnce(url, requestHeaders, seconds, 32, expect);
            const key = `${stack}|${label}`;
            runs.set(key, [...(runs.get(key) ?? []), figures.unexpected > 0 ? Number.NaN : figures.requestsPerSecond]);
          }
        } finally {
          await child.stop();
        }
      }
    }
  } finally {
    await instance.close();
  }
  const rps = (key: string) => median(runs.get(key) ?? []);
  const table: Table = {
    title: `Where a public GET's time goes — bare app plus one layer at a time (req/s, ${seconds} s runs, median of ${repeats})`,
    columns: ['server', '304 req/s', '÷ bare', '200 req/s', '÷ bare'],
    rows: [...STACKS, 'feedproxy'].map((stack) => [
      stack === '' ? 'bare Fastify' : stack === 'feedproxy' ? 'feedproxy (buildApp)' : `bare + ${stack.replaceAll(',', ' + ')}`,
      rps(`${stack}|304`),
      (rps(`${stack}|304`) / rps('|304')).toFixed(2),
      rps(`${stack}|200`),
      (rps(`${stack}|200`) / rps('|200')).toFixed(2),
    ]),
    notes: ['logger = pino at info with request logging; security = helmet + CORS + rate limiter; store = the two SQLite reads of a GET'],
  };
  printTable(table);
  const figures: Record<string, number> = {};
  for (const key of runs.keys()) figures[key] = rps(key);
  return benchResult('layers', options, startedAt, [table], figures);
}
