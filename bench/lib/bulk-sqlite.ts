// A synchronous, writable SQLite connection for filling a bench's store in one transaction (hundreds
// of thousands of rows in seconds, where the store's own driver goes through its thread pool a
// statement at a time): Node's `node:sqlite` (22.13+, 24). The service itself keeps one SQLite
// library (sqlite3) and has no synchronous one, so on Node 20 these benches ask for Node 24
// (`npm i node@24` in a scratch folder, then run the bench with that binary). Bench code only.
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
  if (!builtin)
    throw new Error(`this bench fills its store through node:sqlite, which Node ${process.version} lacks: run it on Node 22.13+ or 24`);
  const db: Connection = new builtin.DatabaseSync(path);
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
