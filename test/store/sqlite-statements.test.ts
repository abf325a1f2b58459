// The SQLite store keeps its statements prepared on one connection (sqlite-store.ts): a kept
// statement must read what another connection committed since its last run (no read transaction
// left open), must run again after a run that failed, and must not keep the file from closing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKeyValueStore, type KeyValueStore } from '../../src/store/kv.js';
import { openSqliteConnection } from '../../src/store/sqlite-store.js';

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

  it("runs on the runtime's own node:sqlite from Node 24.7, else on node-sqlite3", async () => {
    const connection = await openSqliteConnection(join(dir, 'kv.sqlite'));
    try {
      // From Node 24.7: earlier node:sqlite binds numbered parameters (?1) by name and fails them.
      const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
      expect(connection.synchronous).toBe(major > 24 || (major === 24 && minor >= 7));
      // Bound as node-sqlite3 binds them (keyv's adapter passes its parameters as one array).
      expect((await connection.query('SELECT ? AS a, ? AS b', [undefined, true])).map((row) => ({ ...row }))).toEqual([{ a: null, b: 1 }]);
    } finally {
      await connection.close();
    }
  });

  it('gives the event loop turns while it reads many large sources, and reads each whole', async () => {
    const ids = ['big-a', 'big-b', 'big-c'];
    const text = JSON.stringify({ body: 'x'.repeat(100_000) });
    for (const id of ids)
      await one.writeEntries(id, {
        ids: ['1', '2', '3'],
        put: [
          ['1', text],
          ['2', text],
          ['3', text],
        ],
        revision: { key: `entries-rev:${id}`, value: `r-${id}` },
      });
    let turns = 0;
    const count = () => {
      turns += 1;
      if (!done) setImmediate(count);
    };
    let done = false;
    setImmediate(count);
    const read = await one.readEntries(ids);
    done = true;
    // Each source's 300,000 characters: a turn after each (node:sqlite), or the thread pool's wait.
    expect(turns).toBeGreaterThanOrEqual(2);
    expect(read.map((stored) => stored.texts.length)).toEqual([3, 3, 3]);
    expect(read.map((stored) => stored.revision)).toEqual(ids.map((id) => JSON.stringify({ value: `r-${id}` })));
  });

  it("waits for another connection's write lock with the event loop free, then writes in call order", async () => {
    const holder = await openSqliteConnection(join(dir, 'kv.sqlite'));
    let maxLag = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      maxLag = Math.max(maxLag, now - last - 10);
      last = now;
    }, 10);
    try {
      await holder.query('BEGIN IMMEDIATE');
      const started = performance.now();
      setTimeout(() => void holder.query('COMMIT'), 400);
      await one.set('source:busy', { id: 'busy' });
      const waited = performance.now() - started;
      // It did wait for the lock (positive control), and timers kept running meanwhile: on node:sqlite
      // a lock is waited for 20 ms at a time on this thread, then after a timer.
      expect(waited).toBeGreaterThan(350);
      expect(maxLag).toBeLessThan(200);
      expect(await two.get('source:busy')).toEqual({ id: 'busy' });

      // Many writes waiting at once: they land in the order they were made (a set, then increments
      // issued while it waits), and the loop stays free (on node:sqlite only the first in line waits
      // on the thread).
      await holder.query('BEGIN IMMEDIATE');
      maxLag = 0;
      last = performance.now();
      const writes = [one.setFields('counts:busy', { n: '1' })];
      for (let index = 0; index < 20; index++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        writes.push(one.incrementFields('counts:busy', { n: 10 }));
      }
      setTimeout(() => void holder.query('COMMIT'), 300);
      await Promise.all(writes);
      expect(await two.readFields('counts:busy')).toEqual({ n: '201' });
      expect(maxLag).toBeLessThan(200);
    } finally {
      clearInterval(ticker);
      await holder.close();
    }
  });

  it('fails a record write the database refuses, rather than answering as if it were written', async () => {
    const other = await openSqliteConnection(join(dir, 'kv.sqlite'));
    try {
      // Positive control first: the record key is writable.
      await one.set('source:refused', { id: 'before' });
      expect(await two.get('source:refused')).toEqual({ id: 'before' });
      await other.query(
        `CREATE TRIGGER test_refuse BEFORE UPDATE ON keyv WHEN NEW.key = 'fp:source:refused' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
      );
      await expect(one.set('source:refused', { id: 'after' })).rejects.toThrow(/refused by the test/);
      expect(await two.get('source:refused')).toEqual({ id: 'before' });
    } finally {
      await other.query('DROP TRIGGER IF EXISTS test_refuse');
      await other.close();
    }
  });
});
