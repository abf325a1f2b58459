// A second connection of sqlite3, the store's own driver, on a test app's SQLite file: another
// process's view (the cron CLI, a second instance), e.g. to hold the write lock with BEGIN IMMEDIATE.
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import type { TestApp } from './app.js';

export interface SecondConnection {
  exec(sql: string): Promise<void>;
  /** The rows a read answers, as this connection sees the file. */
  rows(sql: string): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

export function openSecondConnection(t: Pick<TestApp, 'dir' | 'store'>): SecondConnection {
  // On a Redis app there is no file: sqlite3 would make an empty one and lock nothing.
  if (t.store !== 'sqlite') throw new Error(`a second SQLite connection needs a SQLite app, not ${t.store}`);
  const db = new sqlite3.Database(join(t.dir, 'feedproxy.sqlite'));
  return {
    exec: (sql) => new Promise<void>((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve()))),
    rows: (sql) =>
      new Promise((resolve, reject) =>
        db.all(sql, (error, rows: Array<Record<string, unknown>>) => (error ? reject(error) : resolve(rows))),
      ),
    close: () => new Promise<void>((resolve) => db.close(() => resolve())),
  };
}
