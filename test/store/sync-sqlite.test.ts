// The change check's first step (sync-sqlite.ts mayHaveCommitted): one read of the WAL-index header
// says whether any connection committed since the last call. A second connection on the same file
// stands for another process (the header lives in the shared `-shm` file either way).
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSyncSqlite, type SyncSqlite } from '../../src/store/sync-sqlite.js';

interface Writer {
  exec(sql: string): unknown;
  pragma(sql: string): unknown;
  close(): void;
}
const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => Writer;

describe('openSyncSqlite: mayHaveCommitted', () => {
  let dir: string;
  let writer: Writer | undefined;
  let reader: SyncSqlite | undefined;
  afterEach(() => {
    reader?.close();
    writer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function open(): { writer: Writer; reader: SyncSqlite } {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-sync-sqlite-'));
    const path = join(dir, 'store.sqlite');
    writer = new Database(path);
    writer.pragma('journal_mode = WAL');
    writer.exec('CREATE TABLE fp_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL)');
    reader = openSyncSqlite(path);
    return { writer, reader };
  }

  it('is false while nobody commits, and true after every commit of another connection', () => {
    const { writer, reader } = open();
    // The first call has nothing to compare with.
    expect(reader.mayHaveCommitted()).toBe(true);
    expect(reader.mayHaveCommitted()).toBe(false);
    expect(reader.mayHaveCommitted()).toBe(false);
    for (let n = 0; n < 3; n += 1) {
      const version = reader.dataVersion();
      writer.exec(`INSERT INTO fp_changes(key) VALUES ('fp:public:${n}')`);
      expect(reader.mayHaveCommitted()).toBe(true);
      expect(reader.dataVersion()).not.toBe(version);
      expect(reader.changesSince(n)).toEqual([[n + 1, `fp:public:${n}`]]);
      expect(reader.mayHaveCommitted()).toBe(false);
    }
  });

  it('is true after a commit into a WAL that a checkpoint restarted', () => {
    const { writer, reader } = open();
    writer.exec("INSERT INTO fp_changes(key) VALUES ('fp:public:a')");
    reader.mayHaveCommitted();
    expect(reader.mayHaveCommitted()).toBe(false);
    writer.pragma('wal_checkpoint(TRUNCATE)');
    writer.exec("INSERT INTO fp_changes(key) VALUES ('fp:public:b')");
    expect(reader.mayHaveCommitted()).toBe(true);
    expect(reader.lastChange()).toBe(2);
    expect(reader.mayHaveCommitted()).toBe(false);
  });

  it('answers true on every call when the file has no WAL index (rollback journal)', () => {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-sync-sqlite-'));
    const path = join(dir, 'store.sqlite');
    writer = new Database(path);
    writer.exec('CREATE TABLE fp_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL)');
    reader = openSyncSqlite(path);
    expect(reader.mayHaveCommitted()).toBe(true);
    expect(reader.mayHaveCommitted()).toBe(true);
  });
});
