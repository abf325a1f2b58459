// The storage primitive under the registry, and the only import of keyv and its adapters.
// keyv gives us records by key on any backend; what keyv alone cannot give — sets that concurrent
// writers never lose members of, and leases that two processes cannot both take — is done with
// the backend's own atomic operations here (SQLite upserts; Redis SADD / SET NX on the Redis path).
import KeyvSqlite from '@keyv/sqlite';
import Keyv from 'keyv';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KeyValueStore {
  get<T>(key: string): Promise<T | undefined>;
  getMany<T>(keys: string[]): Promise<Array<T | undefined>>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Set membership; adding and removing are atomic and never lose a concurrent writer's member. */
  addMember(set: string, member: string): Promise<void>;
  removeMember(set: string, member: string): Promise<void>;
  members(set: string): Promise<string[]>;
  /** Takes `key` for `owner` unless another owner holds an unexpired lease. */
  acquireLease(key: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(key: string, owner: string): Promise<void>;
  /** Throws when the backend does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function openKeyValueStore(url: string): Promise<KeyValueStore> {
  if (url.startsWith('sqlite://')) return openSqliteStore(url.slice('sqlite://'.length));
  throw new Error(`unsupported store URL scheme: ${url.split(':')[0]}`);
}

type SqlQuery = (sql: string, ...params: unknown[]) => Promise<Array<Record<string, unknown>>>;

async function openSqliteStore(path: string): Promise<KeyValueStore> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const adapter = new KeyvSqlite({ uri: `sqlite://${path}`, busyTimeout: 10_000 });
  const keyv = new Keyv({ store: adapter, namespace: 'fp' });
  keyv.on('error', () => {
    /* surfaced by the failing call itself */
  });
  const query = adapter.query as SqlQuery;
  // WAL lets `feedproxy refresh` from cron read and write beside a running server; synchronous
  // FULL keeps every acknowledged write on disk across a crash or kill -9.
  await query('PRAGMA journal_mode=WAL');
  await query('PRAGMA synchronous=FULL');
  await query('CREATE TABLE IF NOT EXISTS fp_sets(name TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY(name, member)) WITHOUT ROWID');
  await query('CREATE TABLE IF NOT EXISTS fp_leases(key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)');

  return {
    async get<T>(key: string) {
      return (await keyv.get<T>(key)) ?? undefined;
    },
    async getMany<T>(keys: string[]) {
      if (keys.length === 0) return [];
      const values = await keyv.get<T>(keys);
      return values.map((value) => value ?? undefined);
    },
    async set(key, value) {
      await keyv.set(key, value);
    },
    async delete(key) {
      await keyv.delete(key);
    },
    async addMember(set, member) {
      await query('INSERT OR IGNORE INTO fp_sets(name, member) VALUES (?, ?)', set, member);
    },
    async removeMember(set, member) {
      await query('DELETE FROM fp_sets WHERE name = ? AND member = ?', set, member);
    },
    async members(set) {
      const rows = await query('SELECT member FROM fp_sets WHERE name = ? ORDER BY member', set);
      return rows.map((row) => String(row.member));
    },
    async acquireLease(key, owner, ttlMs) {
      const now = Date.now();
      const rows = await query(
        `INSERT INTO fp_leases(key, owner, expires_at) VALUES (?, ?, ?)
         ON CONFLICT(key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
         WHERE fp_leases.expires_at <= ? OR fp_leases.owner = excluded.owner
         RETURNING owner`,
        key,
        owner,
        now + ttlMs,
        now,
      );
      return rows.length === 1;
    },
    async releaseLease(key, owner) {
      await query('DELETE FROM fp_leases WHERE key = ? AND owner = ?', key, owner);
    },
    async ping() {
      await query('SELECT 1');
    },
    async close() {
      await keyv.disconnect();
    },
  };
}
