// The SQLite store keeps its statements prepared on one connection (sqlite-store.ts): a kept
// statement must read what another connection committed since its last run (no read transaction
// left open), must run again after a run that failed, and must not keep the file from closing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sqlite3 from 'sqlite3';
import { isStoreBusy, openKeyValueStore, type KeyValueStore } from '../../src/store/kv.js';

describe('SQLite store: statements kept prepared', () => {
  let dir: string;
  const url = () => `sqlite://${join(dir, 'kv.sqlite')}`;
  let one: KeyValueStore;
  let two: KeyValueStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-statements-'));
    [one, two] = [await openKeyValueStore(url()), await openKeyValueStore(url())];
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads, with the same statement each time, what the other connection committed after each run', async () => {
    expect(await one.get('source:k')).toBeUndefined();
    for (const title of ['first', 'second', 'third']) {
      await two.set('source:k', { id: 'k', title });
      expect(await one.get('source:k')).toEqual({ id: 'k', title });
      expect(await one.getMany(['source:k'])).toEqual([{ id: 'k', title }]);
    }
    expect(await one.hasMember('set:a', 'm')).toBe(false);
    await two.addMember('set:a', 'm');
    expect(await one.hasMember('set:a', 'm')).toBe(true);
    expect(await one.members('set:a')).toEqual(['m']);
  });

  it('runs a statement again after a run of it failed', async () => {
    // The owner column is NOT NULL: the same statement fails once, then takes the lease.
    await expect(one.acquireLease('lease:x', null as unknown as string, 60_000)).rejects.toThrow(/NOT NULL/);
    expect(await one.acquireLease('lease:x', 'owner-a', 60_000)).toBe(true);
    // The other connection sees the lease taken: the failed run left no transaction open behind it.
    expect(await two.acquireLease('lease:x', 'owner-b', 60_000)).toBe(false);
    await one.releaseLease('lease:x', 'owner-a');
    expect(await two.acquireLease('lease:x', 'owner-b', 60_000)).toBe(true);
  });

  it('closes with statements kept, and a new connection reads what was written', async () => {
    await one.set('source:closed', { id: 'closed' });
    await one.close();
    const again = await openKeyValueStore(url());
    try {
      expect(await again.get('source:closed')).toEqual({ id: 'closed' });
    } finally {
      one = again;
    }
  });

  it('fails a write held off by another connection past the busy timeout with an error isStoreBusy knows', async () => {
    const short = await openKeyValueStore(url(), { busyTimeoutMs: 100 });
    const other = new sqlite3.Database(join(dir, 'kv.sqlite'));
    const exec = (sql: string) => new Promise<void>((resolve, reject) => other.exec(sql, (error) => (error ? reject(error) : resolve())));
    try {
      await exec('BEGIN IMMEDIATE'); // the write lock, held until ROLLBACK
      // A record through keyv (throwOnErrors) and a statement of our own: each fails with node-sqlite3's error as raised.
      for (const write of [() => short.set('source:locked', { id: 'locked' }), () => short.addMember('set:locked', 'm')]) {
        const error: unknown = await write().then(
          () => undefined,
          (failed: unknown) => failed,
        );
        expect(error).toMatchObject({ code: 'SQLITE_BUSY', message: 'SQLITE_BUSY: database is locked' });
        expect(isStoreBusy(error)).toBe(true);
      }
      // Reads go on meanwhile (WAL), which is why a ping cannot tell.
      await expect(short.ping()).resolves.toBeUndefined();
      await exec('ROLLBACK');
      await short.set('source:locked', { id: 'locked' });
      expect(await two.get('source:locked')).toEqual({ id: 'locked' });
    } finally {
      await exec('ROLLBACK').catch(() => undefined);
      await new Promise((resolve) => other.close(resolve));
      await short.close();
    }
  });

  it('isStoreBusy: only a lock held elsewhere, never another failure', () => {
    const cases: Array<[unknown, boolean]> = [
      [Object.assign(new Error('SQLITE_BUSY: database is locked'), { code: 'SQLITE_BUSY', errno: 5 }), true],
      // Our own connection's conflict (a statement left mid-step): a bug, never another process's lock.
      [Object.assign(new Error('SQLITE_LOCKED: database table is locked'), { code: 'SQLITE_LOCKED', errno: 6 }), false],
      [Object.assign(new Error('SQLITE_CONSTRAINT: NOT NULL constraint failed'), { code: 'SQLITE_CONSTRAINT' }), false],
      [Object.assign(new Error('SQLITE_BUSYNESS'), { code: 'SQLITE_BUSYNESS' }), false],
      [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), false],
      [new Error('SQLITE_BUSY: database is locked'), false], // the message alone decides nothing
      [{ code: 5 }, false],
      ['SQLITE_BUSY', false],
      [undefined, false],
      [null, false],
    ];
    for (const [error, busy] of cases) expect(isStoreBusy(error), String((error as Error)?.message ?? error)).toBe(busy);
  });

  it('fails a record write the database refuses, rather than answering as if it were written', async () => {
    // A second connection of the store's own driver (another copy of SQLite would not see its locks).
    const other = new sqlite3.Database(join(dir, 'kv.sqlite'));
    const run = (sql: string) => new Promise<void>((resolve, reject) => other.run(sql, (error) => (error ? reject(error) : resolve())));
    try {
      // Positive control first: the record key is writable.
      await one.set('source:refused', { id: 'before' });
      expect(await two.get('source:refused')).toEqual({ id: 'before' });
      await run(
        `CREATE TRIGGER test_refuse BEFORE UPDATE ON keyv WHEN NEW.key = 'fp:source:refused' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
      );
      await expect(one.set('source:refused', { id: 'after' })).rejects.toThrow(/refused by the test/);
      expect(await two.get('source:refused')).toEqual({ id: 'before' });
    } finally {
      await run('DROP TRIGGER IF EXISTS test_refuse');
      await new Promise((resolve) => other.close(resolve));
    }
  });
});
