// A synchronous, writable SQLite connection for filling a bench's store in one transaction (hundreds
// of thousands of rows in seconds, where the store's own driver goes through its thread pool a
// statement at a time). Node's `node:sqlite` where it exists (22.13+, 24), else better-sqlite3
// (Node 20): the same choice as src/store/sync-sqlite.ts, for the same reason (better-sqlite3 12
// aborts on Node 24). Bench code only: the service writes through src/store.
import { createRequire } from 'node:module';

export interface BulkStatement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface BulkSqlite {
  prepare(sql: string): BulkStatement;
  exec(sql: string): void;
  /** Runs `work` inside BEGIN … COMMIT (ROLLBACK if it throws). */
  transaction(work: () => void): void;
  close(): void;
}

interface Connection {
  prepare(sql: string): BulkStatement;
  exec(sql: string): unknown;
  close(): void;
}

export function openBulkSqlite(path: string): BulkSqlite {
  const builtin = process.getBuiltinModule?.('node:sqlite') as { DatabaseSync: new (path: string) => Connection } | undefined;
  const db: Connection = builtin
    ? new builtin.DatabaseSync(path)
    : new (createRequire(import.meta.url)('better-sqlite3') as new (path: string) => Connection)(path);
  db.exec('PRAGMA busy_timeout = 10000');
  return {
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => void db.exec(sql),
    transaction(work) {
      db.exec('BEGIN');
      try {
        work();
        db.exec('COMMIT');
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    },
    close: () => db.close(),
  };
}
