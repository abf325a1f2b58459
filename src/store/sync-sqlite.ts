// A synchronous, read-only SQLite connection for the change detector (kv.ts): the check before a
// public GET trusts memory must not wait for sqlite3's thread pool.
//
// Node's own `node:sqlite` where it exists (22.13+, 24), else better-sqlite3 (Node 20). Not
// better-sqlite3 everywhere: up to version 12 it aborts the process on Node 24 (its Statement
// destructor calls RemoveEnvironmentCleanupHook during GC: "Assertion failed: (env) != nullptr",
// WiseLibs/better-sqlite3#1515), and version 13, which fixes that, does not run on Node 20.
// The only import of either.
import { createRequire } from 'node:module';

export interface SyncSqlite {
  /** `PRAGMA data_version`: changes when another connection commits. */
  dataVersion(): number;
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
  return {
    dataVersion: () => Number((dataVersion.get() as { data_version: number }).data_version),
    changesSince: (seq) => (changesSince.all(seq) as Array<{ seq: number; key: string }>).map((row) => [Number(row.seq), row.key]),
    lastChange: () => Number((lastChange.get() as { seq: number | null }).seq ?? 0),
    close: () => db.close(),
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
