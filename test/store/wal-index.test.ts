// The change check's first step (wal-index.ts): one read of the WAL-index header says whether any
// connection committed since the last look. A second connection on the same file stands for another
// process (the header lives in the shared `-shm` file either way).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openWalIndexHeader, type WalIndexHeader } from '../../src/store/wal-index.js';

/** A connection of sqlite3, the store's own driver. */
interface Connection {
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

function openConnection(path: string): Connection {
  const db = new sqlite3.Database(path);
  return {
    exec: (sql) => new Promise((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve()))),
    close: () => new Promise((resolve) => db.close(() => resolve())),
  };
}

describe('openWalIndexHeader: moved', () => {
  let dir: string;
  const connections: Connection[] = [];
  let header: WalIndexHeader | undefined;
  afterEach(async () => {
    // sqlite3's connections first, as the store does: closing the header's file drops the process's locks on it.
    for (const connection of connections.splice(0)) await connection.close();
    header?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(journal = 'WAL'): Promise<{ path: string; writer: Connection; header: WalIndexHeader }> {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-wal-index-'));
    const path = join(dir, 'store.sqlite');
    const writer = openConnection(path);
    connections.push(writer);
    await writer.exec(`PRAGMA journal_mode = ${journal}`);
    await writer.exec('CREATE TABLE fp_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL)');
    header = openWalIndexHeader(path);
    return { path, writer, header };
  }

  it('is false while nobody commits, and true after every commit of any connection', async () => {
    const { path, writer, header } = await open();
    const other = openConnection(path);
    connections.push(other);
    // The first call has nothing to compare with.
    expect(header.moved()).toBe(true);
    expect(header.moved()).toBe(false);
    await other.exec('SELECT * FROM fp_changes'); // a read moves nothing
    expect(header.moved()).toBe(false);
    for (const [n, connection] of [writer, other, writer].entries()) {
      await connection.exec(`INSERT INTO fp_changes(key) VALUES ('fp:public:${n}')`);
      expect(header.moved()).toBe(true);
      expect(header.moved()).toBe(false);
    }
  });

  it('is true after a commit into a WAL that a checkpoint restarted', async () => {
    const { writer, header } = await open();
    await writer.exec("INSERT INTO fp_changes(key) VALUES ('fp:public:a')");
    header.moved();
    expect(header.moved()).toBe(false);
    await writer.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    await writer.exec("INSERT INTO fp_changes(key) VALUES ('fp:public:b')");
    expect(header.moved()).toBe(true);
    expect(header.moved()).toBe(false);
  });

  it('answers true on every call when the file has no WAL index (rollback journal)', async () => {
    const { header } = await open('DELETE');
    expect(header.moved()).toBe(true);
    expect(header.moved()).toBe(true);
  });
});
