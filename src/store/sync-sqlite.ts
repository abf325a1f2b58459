// A synchronous, read-only SQLite connection for the change detector (kv.ts): the check before a
// public GET trusts memory must not wait for sqlite3's thread pool.
//
// Node's own `node:sqlite` where it exists (22.13+, 24), else better-sqlite3 (Node 20). Not
// better-sqlite3 everywhere: up to version 12 it aborts the process on Node 24 (its Statement
// destructor calls RemoveEnvironmentCleanupHook during GC: "Assertion failed: (env) != nullptr",
// WiseLibs/better-sqlite3#1515), and version 13, which fixes that, does not run on Node 20.
// The only import of either.
//
// Either is a second copy of SQLite in the process beside sqlite3's, and POSIX record locks belong
// to the process: the copies do not see each other's locks, and closing any descriptor of a file
// drops every lock the process holds on it, sqlite3's included (within one copy SQLite defers such
// a close; across copies it cannot). So this connection only reads, and it is closed after
// sqlite3's connection (sqlite-store.ts). What remains, both ways, since a read mark is a lock on a
// byte of `-shm` that both copies take and drop for the one process: a read here that races a
// checkpoint or WAL restart (by sqlite3's connection, or by another process such as a cron
// `feedproxy refresh`) may read pages of a later state than its snapshot; and this copy dropping its
// read lock at the end of each read drops sqlite3's on the same byte, so a read of sqlite3's in
// progress can meet the same race. The result is a wrong or "malformed" read, not damage on disk:
// writes hold the write lock, which this connection never takes. One SQLite library for the whole
// store removes it (bench/diagnoses.md 2., session 9).
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface SyncSqlite {
  /** `PRAGMA data_version`: changes when another connection commits. */
  dataVersion(): number;
  /**
   * False when no connection can have committed since the last call (the WAL-index header is the
   * same, below); true when one may have, or when that cannot be told.
   */
  mayHaveCommitted(): boolean;
  /** Rows of the change log past `seq`, oldest first. */
  changesSince(seq: number): Array<[seq: number, key: string]>;
  /** The newest row of the change log, 0 when empty. */
  lastChange(): number;
  close(): void;
}

interface Statement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface Connection {
  prepare(sql: string): Statement;
  exec(sql: string): unknown;
  close(): void;
}

export function openSyncSqlite(path: string): SyncSqlite {
  const db = openConnection(path);
  db.exec('PRAGMA busy_timeout = 10000');
  const dataVersion = db.prepare('PRAGMA data_version');
  const changesSince = db.prepare('SELECT seq, key FROM fp_changes WHERE seq > ? ORDER BY seq');
  const lastChange = db.prepare('SELECT max(seq) AS seq FROM fp_changes');
  const version = () => Number((dataVersion.get() as { data_version: number }).data_version);
  version(); // a first read transaction, so the WAL index exists
  const walIndex = openWalIndexHeader(path);
  return {
    dataVersion: version,
    mayHaveCommitted: walIndex.moved,
    changesSince: (seq) => (changesSince.all(seq) as Array<{ seq: number; key: string }>).map((row) => [Number(row.seq), row.key]),
    lastChange: () => Number((lastChange.get() as { seq: number | null }).seq ?? 0),
    close: () => {
      walIndex.close();
      db.close();
    },
  };
}

/** The WAL-index header: its two copies (2 × 48 bytes) at the start of `<database>-shm`. */
const WAL_INDEX_HEADER_BYTES = 96;
/** iVersion of the WAL-index format every SQLite 3.7.0+ writes. */
const WAL_INDEX_VERSION = 3007000;

/**
 * Every commit, by any connection of any process, rewrites the WAL-index header in `<database>-shm`
 * (https://www.sqlite.org/walformat.html, "The WAL-Index Header": its transaction counter iChange,
 * mxFrame and checksums; a WAL reset changes the salts), and every process of one database shares
 * that file. One pread of it tells whether anything was committed since the last read: PRAGMA
 * data_version takes a read transaction — two fcntl locks and a statement, ~4 µs here and 9 µs an
 * answer in a profile of a lone reader's 304s (BENCHMARKS.md, diagnosis 1, session 8) — so it runs
 * only when the header moved. Header read before data_version: a commit after this read moves the
 * header past what is kept, so the next call sees it. No readable header in WAL form (no WAL, a file
 * this process cannot read): every call answers true, and data_version decides as before.
 */
function openWalIndexHeader(path: string): { moved: () => boolean; close: () => void } {
  let fd: number;
  try {
    fd = openSync(`${path}-shm`, 'r');
  } catch {
    return { moved: () => true, close: () => undefined };
  }
  const seen = Buffer.alloc(WAL_INDEX_HEADER_BYTES);
  const now = Buffer.alloc(WAL_INDEX_HEADER_BYTES);
  let known = false;
  return {
    moved() {
      const read = readSync(fd, now, 0, WAL_INDEX_HEADER_BYTES, 0);
      // iVersion and isInit (byte 12) of the first copy, in the machine's byte order as SQLite writes them.
      const valid = read === WAL_INDEX_HEADER_BYTES && now.readUInt32LE(0) === WAL_INDEX_VERSION && now[12] === 1;
      if (valid && known && now.equals(seen)) return false;
      now.copy(seen);
      known = valid;
      return true;
    },
    close: () => closeSync(fd),
  };
}

function openConnection(path: string): Connection {
  const builtin = process.getBuiltinModule?.('node:sqlite') as
    { DatabaseSync: new (path: string, options: { readOnly: boolean }) => Connection } | undefined;
  if (builtin) return new builtin.DatabaseSync(path, { readOnly: true });
  const Database = createRequire(import.meta.url)('better-sqlite3') as new (
    path: string,
    options: { readonly: boolean; fileMustExist: boolean },
  ) => Connection;
  return new Database(path, { readonly: true, fileMustExist: true });
}
