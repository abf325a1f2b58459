// Where a 304 refresh's CPU goes, in parts run alone on the same sources, and what the least durable
// record of a check costs on SQLite: the evidence for issue 14's 304 target (bench/diagnoses.md §2,
// session 16). One process, N sources on bench 2's upstream, all answering 304; per round:
//   floor      bench 2's floor pass (undici, If-None-Match, nothing recorded)
//   ours       refreshBatch, as bench 2 measures it
//   fetch      our fetcher alone (the request prepared from the record, the URL opened, the guard)
//   store      our store's part alone: lease and record read, the compare-and-set, the release
//   lease      the lease and release alone
// then, on a copy of the same store file through a connection of its own (prepared statements,
// the file's triggers as they are), the cost a source of one statement of G records:
//   round trip  `SELECT 1` (the thread-pool hand-off and back, per statement)
//   record      rewriting G source records in keyv's table (what any write of a check's time into
//               the record costs: the row, its index, the change log's and due index's triggers)
//   narrow      updating G rows of the due index's narrow table (`fp_due.due_at`: a check's time alone)
//   npx tsx bench/refresh-304-parts.ts [sources=1000] [rounds=5]
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import { Agent, request } from 'undici';
import { nextFetchAfter } from '../src/model/source-policy.js';
import { prepareSourceRequest } from '../src/refresh/source-request.js';
import type { SourceRecord } from '../src/model.js';
import { printTable } from './lib/common.js';
import { prepareRefreshInstance, runFloorPass, runOurPass, startBenchUpstream } from './refresh.js';

const count = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 5);
const CONCURRENCY = 8;

/** CPU of the whole process (every thread: SQLite's pool included) a source, in µs. */
async function cpuPerSource(sources: number, work: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await work();
  const spent = process.cpuUsage(start);
  return (spent.user + spent.system) / sources;
}

/** Runs `work` on every item, CONCURRENCY at a time (as refreshBatch's slots do). */
async function eachConcurrently<T>(items: T[], work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const figures = new Map<string, number[]>();
const record = (part: string, value: number) => figures.set(part, [...(figures.get(part) ?? []), value]);

const upstream = await startBenchUpstream();
const { instance } = await prepareRefreshInstance(upstream, count);
const { deps } = instance;
const lease = { ttlMs: 60_000, waitMs: 0, pollMs: 100 };
try {
  await runOurPass(instance, 'settle');
  for (let round = 0; round < rounds; round++) {
    const sources = await deps.registry.listAllSources();
    record('floor', ((await runFloorPass(instance, 'floor')).cpuMs * 1000) / count);
    record('ours', ((await runOurPass(instance, 'ours')).cpuMs * 1000) / count);
    record(
      'fetch',
      await cpuPerSource(count, () =>
        eachConcurrently(sources, async (source) => {
          const response = await deps.fetcher.fetchFeed(await prepareSourceRequest(deps, source));
          if (response.kind !== 'not-modified') throw new Error(`expected a 304, got ${response.kind}`);
        }),
      ),
    );
    record(
      'store',
      await cpuPerSource(count, () =>
        eachConcurrently(sources, (source) =>
          deps.registry.withRefreshLease(source.id, deps.instanceId, lease, async (read) => {
            const now = deps.now();
            const checked: SourceRecord = { ...read!, lastFetchedAt: now.toISOString(), updatedAt: now.toISOString() };
            checked.nextFetchAt = nextFetchAfter(deps.config.refresh, checked, now);
            if (!(await deps.registry.saveRefreshedSource(checked, read!))) throw new Error('compare-and-set refused');
          }),
        ),
      ),
    );
    record(
      'lease',
      await cpuPerSource(count, () =>
        eachConcurrently(sources, (source) => deps.registry.withRefreshLease(source.id, deps.instanceId, lease, async () => undefined)),
      ),
    );
  }
  // The undici floor with each URL opened from the vault inside the timed part (the floor's pass
  // opens them before its timer): what opening costs shows against `floor`.
  const agent = new Agent();
  const sources = await deps.registry.listAllSources();
  record(
    'floor, URLs opened inside',
    await cpuPerSource(count, () =>
      eachConcurrently(sources, async (source) => {
        const response = await request(deps.vault.open(source.urlSealed), {
          dispatcher: agent,
          headers: source.etag ? { 'if-none-match': source.etag } : {},
        });
        await response.body.dump();
      }),
    ),
  );
  await agent.close();
} finally {
  // Closed (its WAL checkpointed into the file) before the file is copied.
  await instance.close({ keep: true });
  await upstream.child.stop();
}
const storeCopy = join(mkdtempSync(join(tmpdir(), 'feedproxy-304-parts-')), 'copy.sqlite');
copyFileSync(instance.storePath, storeCopy);
rmSync(instance.dir, { recursive: true, force: true });

const db = new sqlite3.Database(storeCopy);
const prepared = (sql: string) => {
  const statement = db.prepare(sql);
  return (...params: unknown[]) =>
    new Promise<unknown[]>((resolve, reject) => statement.all(params, (error, rows) => (error ? reject(error) : resolve(rows))));
};
const all = (sql: string) =>
  new Promise<Array<Record<string, string>>>((resolve, reject) =>
    db.all(sql, (error, rows) => (error ? reject(error) : resolve(rows as Array<Record<string, string>>))),
  );
await all('PRAGMA journal_mode=WAL');
await all('PRAGMA synchronous=NORMAL');
const rows = await all(`SELECT key, value FROM keyv WHERE key LIKE 'fp:source:%'`);
const records = rows.map((row) => ({
  key: row.key!,
  id: row.key!.slice('fp:source:'.length),
  value: JSON.parse(row.value!).value as SourceRecord,
}));
const recordBytes = Math.round(rows.reduce((sum, row) => sum + Buffer.byteLength(row.value!), 0) / rows.length);
const roundTrip = prepared('SELECT 1');
const rewrite = prepared(
  `UPDATE keyv SET value = json_extract(j.value, '$[1]') FROM json_each(?) AS j WHERE keyv.key = json_extract(j.value, '$[0]')`,
);
const narrow = prepared(
  `UPDATE fp_due SET due_at = json_extract(j.value, '$[1]') FROM json_each(?) AS j WHERE fp_due.id = json_extract(j.value, '$[0]')`,
);
let offset = 0;
const nextGroup = (size: number) => {
  const group = records.slice(offset, offset + size);
  offset = (offset + size) % (records.length - size);
  return group;
};
const statementRows: Array<Array<string | number>> = [];
const STATEMENTS_PER_SIZE = 4000;
for (let settle = 0; settle < 200; settle++) await roundTrip();
const roundTripMicros = await cpuPerSource(STATEMENTS_PER_SIZE, async () => {
  for (let statement = 0; statement < STATEMENTS_PER_SIZE; statement++) await roundTrip();
});
// Groups of at most half the records, so consecutive groups never overlap.
for (const size of [8, 64, 256].filter((size) => size * 2 <= records.length)) {
  const statements = Math.max(20, Math.round(STATEMENTS_PER_SIZE / size));
  const perRecord = await cpuPerSource(statements * size, async () => {
    for (let statement = 0; statement < statements; statement++) {
      const now = new Date().toISOString();
      await rewrite(
        JSON.stringify(nextGroup(size).map(({ key, value }) => [key, JSON.stringify({ value: { ...value, lastFetchedAt: now } })])),
      );
    }
  });
  const perRow = await cpuPerSource(statements * size, async () => {
    for (let statement = 0; statement < statements; statement++) {
      const now = new Date().toISOString();
      await narrow(JSON.stringify(nextGroup(size).map(({ id }) => [id, now])));
    }
  });
  statementRows.push([size, +perRecord.toFixed(1), +perRow.toFixed(1)]);
}
await new Promise<void>((resolve) => db.close(() => resolve()));
rmSync(join(storeCopy, '..'), { recursive: true, force: true });

const floor = median(figures.get('floor')!);
printTable({
  title: `A 304's parts, run alone — ${count} sources, concurrency ${CONCURRENCY}, median of ${rounds} rounds (µs CPU a source, every thread)`,
  columns: ['part', 'µs a source', '÷ floor', 'rounds'],
  rows: [...figures].map(([part, values]) => [
    part,
    +median(values).toFixed(1),
    +(median(values) / floor).toFixed(2),
    values.map((value) => value.toFixed(0)).join(' '),
  ]),
});
printTable({
  title: `One statement of G records on a copy of the store (${records.length} source records of ${recordBytes} bytes on average; µs CPU a record)`,
  columns: ['G', 'rewrite the record (keyv, its triggers)', 'update a narrow row (fp_due.due_at)'],
  rows: statementRows,
  notes: [`a statement's round trip alone (SELECT 1, prepared): ${roundTripMicros.toFixed(1)} µs`],
});
process.exit(0);
