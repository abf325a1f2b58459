// The change check's first step (sync-sqlite.ts mayHaveCommitted): one read of the WAL-index header
// says whether any connection committed since the last call. A second connection on the same file
// stands for another process (the header lives in the shared `-shm` file either way).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSyncSqlite, type SyncSqlite } from '../../src/store/sync-sqlite.js';

/** The other connection: sqlite3 (the store's own driver), which loads on every supported Node. */
interface Writer {
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

function openWriter(path: string): Writer {
  const db = new sqlite3.Database(path);
  return {
    exec: (sql) => new Promise((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve()))),
    close: () => new Promise((resolve) => db.close(() => resolve())),
  };
}

describe('openSyncSqlite: mayHaveCommitted', () => {
  let dir: string;
  let writer: Writer | undefined;
  let reader: SyncSqlite | undefined;
  afterEach(async () => {
    // sqlite3's connection first, as the store does: closing the reader's files drops the process's locks on them.
    await writer?.close();
    reader?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(journal = 'WAL'): Promise<{ writer: Writer; reader: SyncSqlite }> {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-sync-sqlite-'));
    const path = join(dir, 'store.sqlite');
    writer = openWriter(path);
    await writer.exec(`PRAGMA journal_mode = ${journal}`);
    await writer.exec('CREATE TABLE fp_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL)');
    reader = openSyncSqlite(path);
    return { writer, reader };
  }

  it('is false while nobody commits, and true after every commit of another connection', async () => {
    const { writer, reader } = await open();
    // The first call has nothing to compare with.
    expect(reader.mayHaveCommitted()).toBe(true);
    expect(reader.mayHaveCommitted()).toBe(false);
    expect(reader.mayHaveCommitted()).toBe(false);
    for (let n = 0; n < 3; n += 1) {
      const version = reader.dataVersion();
      await writer.exec(`INSERT INTO fp_changes(key) VALUES ('fp:public:${n}')`);
      expect(reader.mayHaveCommitted()).toBe(true);
      expect(reader.dataVersion()).not.toBe(version);
      expect(reader.changesSince(n)).toEqual([[n + 1, `fp:public:${n}`]]);
      expect(reader.mayHaveCommitted()).toBe(false);
    }
  });

  it('is true after a commit into a WAL that a checkpoint restarted', async () => {
    const { writer, reader } = await open();
    await writer.exec("INSERT INTO fp_changes(key) VALUES ('fp:public:a')");
    reader.mayHaveCommitted();
    expect(reader.mayHaveCommitted()).toBe(false);
    await writer.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    await writer.exec("INSERT INTO fp_changes(key) VALUES ('fp:public:b')");
    expect(reader.mayHaveCommitted()).toBe(true);
    expect(reader.lastChange()).toBe(2);
    expect(reader.mayHaveCommitted()).toBe(false);
  });

  it('answers true on every call when the file has no WAL index (rollback journal)', async () => {
    const { reader } = await open('DELETE');
    expect(reader.mayHaveCommitted()).toBe(true);
    expect(reader.mayHaveCommitted()).toBe(true);
  });
});
