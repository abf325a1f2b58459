// A second connection of sqlite3, the store's own driver, on a test app's SQLite file: another
// process's view (the cron CLI, a second instance), e.g. to hold the write lock with BEGIN IMMEDIATE.
import { join } from 'node:path';
import sqlite3 from 'sqlite3';

export interface SecondConnection {
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

export function openSecondConnection(t: { dir: string }): SecondConnection {
  const db = new sqlite3.Database(join(t.dir, 'feedproxy.sqlite'));
  return {
    exec: (sql) => new Promise<void>((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve()))),
    close: () => new Promise<void>((resolve) => db.close(() => resolve())),
  };
}
