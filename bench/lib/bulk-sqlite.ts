// A synchronous, writable SQLite connection for filling a bench's store in one transaction (hundreds
// of thousands of rows in seconds, where the store's own calls go a statement at a time): the
// store's own library, better-sqlite3, so the file is opened by one copy of SQLite in the process
// (two copies do not see each other's locks). Bench code only.
import Database from 'better-sqlite3';

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

export function openBulkSqlite(path: string): BulkSqlite {
  const db = new Database(path, { timeout: 10_000 });
  return {
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => void db.exec(sql),
    transaction: (work) => db.transaction(work)(),
    close: () => db.close(),
  };
}
