// Store calls per refresh, by outcome, on SQLite and on Redis: every call the repositories make on
// the store (kv.ts) while refreshSource() runs, counted by method. A call is one round trip: one
// SQL statement (its triggers included) or one Redis command, script or MULTI. A lease's heartbeat
// renewals are not counted (they run every few seconds, not per refresh).
//   npx tsx bench/refresh-statements.ts [sqlite|redis|both]
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { refreshSource } from '../src/refresh/refresh-source.js';
import { refreshBatch } from '../src/refresh/run-batch.js';
import type { KeyValueStore } from '../src/store/kv.js';
import { addFeed, addSource, addUser, openInstance, type BenchInstance } from './lib/instance.js';

/** Wraps every method of the store with a counter by method name. */
export function countingStore(store: KeyValueStore): { store: KeyValueStore; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const counted = { ...store } as Record<string, unknown>;
  for (const [name, value] of Object.entries(store)) {
    if (typeof value !== 'function') continue;
    counted[name] = (...args: unknown[]) => {
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return (value as (...args: unknown[]) => unknown).apply(store, args);
    };
  }
  return { store: counted as unknown as KeyValueStore, counts };
}

/** An upstream whose document and ETag the caller sets: `/f/<n>` answers `doc` with `etag`, 304 on a match. */
function startUpstream() {
  const state = { generation: 0, sameBodyNewEtag: false };
  const documentOf = (path: string) => {
    const items = Array.from(
      { length: 20 },
      (_, index) =>
        `<item><title>Item ${index + state.generation}</title><guid>${path}-${index + state.generation}</guid><link>http://example.com/${index + state.generation}</link><description>&lt;p&gt;Body ${index}&lt;/p&gt;</description></item>`,
    );
    return `<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>http://example.com/</link>${items.join('')}</channel></rss>`;
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const etag = `"g${state.generation}${state.sameBodyNewEtag ? 'x' : ''}"`;
    if (request.headers['if-none-match'] === etag) {
      response.writeHead(304, { etag }).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/rss+xml', etag }).end(documentOf(request.url ?? '/'));
  });
  return new Promise<{ port: number; state: typeof state; close: () => Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        state,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    );
  });
}

type Row = [store: string, outcome: string, calls: number, detail: string];

function take(counts: Map<string, number>, per = 1): [number, string] {
  const total = [...counts.values()].reduce((a, b) => a + b, 0) / per;
  const detail = [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${Number((n / per).toFixed(1))}`)
    .join(', ');
  counts.clear();
  return [Number(total.toFixed(1)), detail];
}

export async function countRefreshStatements(storeName: 'sqlite' | 'redis'): Promise<Row[]> {
  const upstream = await startUpstream();
  const env: Record<string, string> = { FEEDPROXY_ALLOW_PRIVATE: `127.0.0.1:${upstream.port}` };
  if (storeName === 'redis') {
    env.FEEDPROXY_STORE = process.env.FEEDPROXY_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
    env.FEEDPROXY_STORE_PREFIX = `bench-stmts-${randomBytes(4).toString('hex')}:`;
  }
  let counts = new Map<string, number>();
  const instance: BenchInstance = await openInstance({
    env,
    wrapStore: (kv) => {
      const counting = countingStore(kv);
      counts = counting.counts;
      return counting.store;
    },
  });
  const rows: Row[] = [];
  try {
    const { deps } = instance;
    const userId = await addUser(deps);
    const url = (n: number) => `http://127.0.0.1:${upstream.port}/f/${n}?feed_token=secret${n}`;
    const source = await addSource(deps, { userId, url: url(0) });
    await refreshSource(deps, source.id); // first fetch: cache filled, validators stored
    counts.clear();
    const row = (outcome: string, per = 1) => rows.push([storeName, outcome, ...take(counts, per)]);
    await refreshSource(deps, source.id);
    row('304 (not modified)');
    upstream.state.sameBodyNewEtag = true;
    await refreshSource(deps, source.id);
    row('200, document unchanged');
    upstream.state.sameBodyNewEtag = false;
    upstream.state.generation += 1;
    await refreshSource(deps, source.id);
    row('200, one new entry');

    // Ten sources of one feed, refreshed in one batch: the feed's rebuilds are counted with them.
    const members = [];
    for (let n = 1; n <= 10; n++) members.push(await addSource(deps, { userId, url: url(n) }));
    await refreshBatch(deps, members, { concurrency: 8, perHost: 8 });
    await addFeed(
      deps,
      userId,
      members.map((member) => member.id),
    );
    upstream.state.generation += 1;
    counts.clear();
    await refreshBatch(deps, members, { concurrency: 8, perHost: 8 });
    row('200, one new entry, 10 sources of one feed in one batch (per source)', members.length);
  } finally {
    await instance.close();
    await upstream.close();
  }
  return rows;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const which = process.argv[2] ?? 'both';
  const stores = which === 'both' ? (['sqlite', 'redis'] as const) : [which as 'sqlite' | 'redis'];
  for (const storeName of stores) {
    for (const [store, outcome, calls, detail] of await countRefreshStatements(storeName)) {
      console.log(`${store.padEnd(6)} ${outcome.padEnd(72)} ${String(calls).padStart(5)}  ${detail}`);
    }
  }
}
