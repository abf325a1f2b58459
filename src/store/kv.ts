// The storage primitive under the registry, and the only import of keyv and its adapters.
// keyv gives us records by key on any backend; what keyv alone cannot give — sets that concurrent
// writers never lose members of, and leases that two processes cannot both take — is done with
// the backend's own atomic operations here (SQLite upserts; Redis SADD / SET NX PX and a Lua
// compare-and-delete on the Redis path). What changed, and by whom, is told exactly to a watcher
// (watchRecords): the public feed route keeps what it serves in memory and must forget it the
// moment another instance or the cron CLI changes it. The synchronous reader behind it is sync-sqlite.ts.
import KeyvRedis, { createClient } from '@keyv/redis';
import KeyvSqlite from '@keyv/sqlite';
import { openSyncSqlite } from './sync-sqlite.js';
import Keyv from 'keyv';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { openRedisDueIndex, openSqliteDueIndex, type DueIndex } from './due-index.js';

export interface KeyValueStore extends DueIndex {
  get<T>(key: string): Promise<T | undefined>;
  getMany<T>(keys: string[]): Promise<Array<T | undefined>>;
  /** `ttlMs` makes the record expire by itself (a revocation record outlives what it revokes by nothing). */
  set(key: string, value: unknown, ttlMs?: number): Promise<void>;
  /** Several records written at once, atomically: a reader sees all of them or none (one statement; MULTI). */
  setMany(records: Array<[key: string, value: unknown]>): Promise<void>;
  delete(key: string): Promise<void>;
  /** Set membership; adding and removing are atomic and never lose a concurrent writer's member. */
  addMember(set: string, member: string): Promise<void>;
  /** True when `member` was there (and this call removed it): lets a caller count a removal once. */
  removeMember(set: string, member: string): Promise<boolean>;
  members(set: string): Promise<string[]>;
  hasMember(set: string, member: string): Promise<boolean>;
  /** Counters by field under one key; increments are atomic across processes (usage statistics). */
  incrementFields(key: string, increments: Record<string, number>): Promise<void>;
  /** Plain values beside the counters; the last writer of a field wins. */
  setFields(key: string, values: Record<string, string>): Promise<void>;
  readFields(key: string): Promise<Record<string, string>>;
  /** The named fields, or every field of the key when none are named. */
  deleteFields(key: string, fields?: string[]): Promise<void>;
  /** Adds `by` to one counter and answers its new value, atomically across processes (quotas). */
  addToField(key: string, field: string, by: number): Promise<number>;
  /**
   * Counts a hit in the fixed window of `key` (it starts with the first hit and lasts `windowMs`)
   * and answers the count so far and the milliseconds left. Only shared stores have it: one
   * process counts in memory faster, and the embedded store is one process's.
   */
  hitWindow?(key: string, windowMs: number): Promise<{ count: number; remainingMs: number }>;
  /** Takes `key` for `owner` unless another owner holds an unexpired lease. */
  acquireLease(key: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(key: string, owner: string): Promise<void>;
  /** Throws when the backend does not answer. */
  ping(): Promise<void>;
  /**
   * Calls `listener` with the key of every record (get/set/delete above) written under one of
   * `prefixes` by any process sharing the store, or with undefined when anything may have changed
   * (a gap in what was seen, a reconnection). See RecordWatch.sync for when memory can be trusted.
   */
  watchRecords(prefixes: string[], listener: RecordChangeListener): Promise<RecordWatch>;
  close(): Promise<void>;
}

export type RecordChangeListener = (key: string | undefined) => void;

export interface RecordWatch {
  /**
   * Delivers every change committed before this call to the listener, synchronously, and answers
   * whether what was kept from earlier reads may be trusted now. SQLite: a `PRAGMA data_version` on
   * a connection of its own tells whether any other connection (this process's, the cron CLI's, a
   * second server's) committed since the last call; only then is the change log read. Redis: the
   * server pushes invalidations as keys change (CLIENT TRACKING); false while that connection is down.
   */
  sync(): boolean;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Prefix of every Redis key of this deployment, so deployments (and test runs) can share a server. */
  prefix?: string;
  /**
   * How long a lease outlives its holder's last heartbeat. The holder renews its leases while it
   * lives, up to the TTL it asked for; a killed holder's leases lapse within this bound.
   */
  leaseHeartbeatMs?: number;
}

export const DEFAULT_PREFIX = 'feedproxy:';

export async function openKeyValueStore(url: string, options: StoreOptions = {}): Promise<KeyValueStore> {
  let store: KeyValueStore;
  if (url.startsWith('sqlite://')) store = await openSqliteStore(url.slice('sqlite://'.length));
  else if (/^rediss?:\/\//.test(url)) store = await openRedisStore(url, options.prefix ?? DEFAULT_PREFIX);
  else throw new Error(`unsupported store URL scheme: ${url.split(':')[0]}`);
  return options.leaseHeartbeatMs ? withLeaseHeartbeat(store, options.leaseHeartbeatMs) : store;
}

/**
 * Our records are plain JSON (no Buffers, Dates or Maps), so the native JSON calls do: keyv's
 * default serialiser is a recursive JS walk and its parser a reviver, several times slower on the
 * entry lists and rendered bodies that dominate reads (measured in BENCHMARKS.md, bench 4).
 */
const NATIVE_JSON = {
  serialize: (data: unknown) => JSON.stringify(data),
  deserialize: (text: string) => JSON.parse(text),
};

/** Records are keyv's on every backend: whole JSON values by key. */
function recordsThrough(keyv: Keyv): Pick<KeyValueStore, 'get' | 'getMany' | 'set' | 'delete'> {
  return {
    async get<T>(key: string) {
      return (await keyv.get<T>(key)) ?? undefined;
    },
    async getMany<T>(keys: string[]) {
      if (keys.length === 0) return [];
      const values = await keyv.get<T>(keys);
      return values.map((value) => value ?? undefined);
    },
    async set(key, value, ttlMs) {
      await keyv.set(key, value, ttlMs);
    },
    async delete(key) {
      await keyv.delete(key);
    },
  };
}

type SqlQuery = (sql: string, ...params: unknown[]) => Promise<Array<Record<string, unknown>>>;

async function openSqliteStore(path: string): Promise<KeyValueStore> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const adapter = new KeyvSqlite({ uri: `sqlite://${path}`, busyTimeout: 10_000 });
  // @keyv/sqlite's getMany matches each asked key against the rows with Array.find: O(keys × rows),
  // 5·10⁹ comparisons for 100,000 keys. The same query, matched through a Map (BENCHMARKS.md, 8.).
  adapter.getMany = (async (keys: string[]) => {
    const rows = (await adapter.query(`SELECT key, value FROM ${KEYV_TABLE} WHERE key IN (SELECT value FROM json_each(?))`, JSON.stringify(keys))) as Array<{
      key: string;
      value: string;
    }>;
    const byKey = new Map(rows.map((row) => [row.key, row.value]));
    return keys.map((key) => byKey.get(key));
  }) as typeof adapter.getMany;
  const keyv = new Keyv({ store: adapter, namespace: 'fp', ...NATIVE_JSON });
  keyv.on('error', () => {
    /* surfaced by the failing call itself */
  });
  const query = adapter.query as SqlQuery;
  // WAL lets `feedproxy refresh` from cron read and write beside a running server. Under WAL,
  // synchronous=NORMAL keeps every committed write across a process crash or kill -9 (the WAL is in
  // the OS's hands once the commit returns); only an OS crash or power loss can lose the last
  // commits, and it spares an fsync per write (BENCHMARKS.md, bench 2).
  await query('PRAGMA journal_mode=WAL');
  await query('PRAGMA synchronous=NORMAL');
  await query('CREATE TABLE IF NOT EXISTS fp_sets(name TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY(name, member)) WITHOUT ROWID');
  await query('CREATE TABLE IF NOT EXISTS fp_leases(key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)');
  await query('CREATE TABLE IF NOT EXISTS fp_fields(key TEXT NOT NULL, field TEXT NOT NULL, value, PRIMARY KEY(key, field)) WITHOUT ROWID');
  await createChangeLog(query);

  // keyv's sqlite rows are keyed `<namespace>:<key>`.
  const dueIndex = await openSqliteDueIndex(query, (recordKey) => `fp:${recordKey}`);
  // This process's own record writes: a watcher checks again after each (see watchSqliteChanges).
  const afterWrite = new Set<() => void>();
  const records = recordsThrough(keyv);
  const noteWrite = () => {
    for (const listener of afterWrite) listener();
  };
  return {
    ...records,
    ...dueIndex,
    async set(key, value, ttlMs) {
      await records.set(key, value, ttlMs).finally(noteWrite);
    },
    async setMany(entries) {
      if (entries.length === 0) return;
      // keyv's own row format (`{"value": …}` under `fp:<key>`), in one upsert: one statement is atomic.
      await query(
        `INSERT INTO ${KEYV_TABLE}(key, value) VALUES ${entries.map(() => '(?, ?)').join(', ')} ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
        ...entries.flatMap(([key, value]) => [`${KEYV_NAMESPACE}:${key}`, JSON.stringify({ value })]),
      ).finally(noteWrite);
    },
    async delete(key) {
      await records.delete(key).finally(noteWrite);
    },
    async addMember(set, member) {
      await query('INSERT OR IGNORE INTO fp_sets(name, member) VALUES (?, ?)', set, member);
    },
    async removeMember(set, member) {
      return (await query('DELETE FROM fp_sets WHERE name = ? AND member = ? RETURNING member', set, member)).length > 0;
    },
    async members(set) {
      const rows = await query('SELECT member FROM fp_sets WHERE name = ? ORDER BY member', set);
      return rows.map((row) => String(row.member));
    },
    async hasMember(set, member) {
      return (await query('SELECT 1 FROM fp_sets WHERE name = ? AND member = ?', set, member)).length > 0;
    },
    async incrementFields(key, increments) {
      const entries = Object.entries(increments);
      if (entries.length === 0) return;
      // One statement: every field of a flush lands together or not at all.
      await query(
        `INSERT INTO fp_fields(key, field, value) VALUES ${entries.map(() => '(?, ?, ?)').join(', ')}
         ON CONFLICT(key, field) DO UPDATE SET value = CAST(fp_fields.value AS INTEGER) + excluded.value`,
        ...entries.flatMap(([field, by]) => [key, field, by]),
      );
    },
    async setFields(key, values) {
      const entries = Object.entries(values);
      if (entries.length === 0) return;
      await query(
        `INSERT INTO fp_fields(key, field, value) VALUES ${entries.map(() => '(?, ?, ?)').join(', ')}
         ON CONFLICT(key, field) DO UPDATE SET value = excluded.value`,
        ...entries.flatMap(([field, value]) => [key, field, value]),
      );
    },
    async readFields(key) {
      const rows = await query('SELECT field, value FROM fp_fields WHERE key = ?', key);
      return Object.fromEntries(rows.map((row) => [String(row.field), String(row.value)]));
    },
    async deleteFields(key, fields) {
      if (fields === undefined) await query('DELETE FROM fp_fields WHERE key = ?', key);
      else if (fields.length > 0) await query(`DELETE FROM fp_fields WHERE key = ? AND field IN (${fields.map(() => '?').join(', ')})`, key, ...fields);
    },
    async addToField(key, field, by) {
      const rows = await query(
        `INSERT INTO fp_fields(key, field, value) VALUES (?, ?, ?)
         ON CONFLICT(key, field) DO UPDATE SET value = CAST(fp_fields.value AS INTEGER) + excluded.value
         RETURNING value`,
        key,
        field,
        by,
      );
      return Number(rows[0]?.value);
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
    async watchRecords(prefixes, listener) {
      const watch = watchSqliteChanges(path, prefixes, listener);
      afterWrite.add(watch.recheck);
      return {
        sync: watch.sync,
        async close() {
          afterWrite.delete(watch.recheck);
          await watch.close();
        },
      };
    },
    async close() {
      await keyv.disconnect();
    },
  };
}

/** keyv's table (as @keyv/sqlite creates it) and the namespace our keyv writes under. */
const KEYV_TABLE = 'keyv';
const KEYV_NAMESPACE = 'fp';
/** Changes the log keeps; a watcher that fell further behind forgets everything instead. */
const CHANGE_LOG_ROWS = 10_000;

/**
 * The change log: triggers on keyv's table append every written or deleted key, whoever wrote it
 * (this server, another, the cron CLI, an older release: the triggers live in the file). Every
 * opener creates them; the statements are idempotent.
 */
async function createChangeLog(query: SqlQuery): Promise<void> {
  // The same DDL @keyv/sqlite runs, so the triggers can be made before it has run its own.
  await query(`CREATE TABLE IF NOT EXISTS ${KEYV_TABLE}(key VARCHAR(255) PRIMARY KEY, value TEXT )`);
  await query('CREATE TABLE IF NOT EXISTS fp_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL)');
  for (const [event, row] of [['INSERT', 'new'], ['UPDATE', 'new'], ['DELETE', 'old']] as const) {
    await query(`CREATE TRIGGER IF NOT EXISTS fp_changes_${event.toLowerCase()} AFTER ${event} ON ${KEYV_TABLE} BEGIN INSERT INTO fp_changes(key) VALUES (${row}.key); END`);
  }
  await query(`CREATE TRIGGER IF NOT EXISTS fp_changes_trim AFTER INSERT ON fp_changes BEGIN DELETE FROM fp_changes WHERE seq <= new.seq - ${CHANGE_LOG_ROWS}; END`);
}

/**
 * A read-only synchronous connection (sync-sqlite.ts): the check before a request trusts memory
 * must not wait for sqlite3's thread pool. `PRAGMA data_version` changes only when another connection
 * committed (this process's sqlite3 connection counts as another), so a quiet store costs that one
 * statement, and a write the log does not concern (usage counters, leases) one small query more.
 *
 * The statement costs a few syscalls (the WAL index's locks): about 10 µs here, as much as a whole
 * 304. So it runs once per turn of the event loop, not once per request: the requests answered in one
 * turn were all read from their sockets before it began, so a write committed before any of them
 * was sent is seen by the check that precedes them. (Exception: libuv reads a second batch of
 * sockets in the same turn when the first filled its 1,024 slots.) This process's own writes also
 * ask for a new check at once (`recheck`), whatever the turn.
 */
function watchSqliteChanges(path: string, prefixes: string[], listener: RecordChangeListener): RecordWatch & { recheck: () => void } {
  // A private in-memory database has no second connection to see it: nothing kept from it is trusted.
  if (path === ':memory:') return { sync: () => false, recheck: () => undefined, close: async () => undefined };
  const db = openSyncSqlite(path);
  const namespaced = prefixes.map((prefix) => `${KEYV_NAMESPACE}:${prefix}`);
  let version = db.dataVersion();
  let seen = db.lastChange();
  let open = true;
  let checked = false;
  const nextTurn = () => {
    checked = false;
  };
  return {
    sync() {
      if (!open) return false;
      if (checked) return true;
      checked = true;
      setImmediate(nextTurn);
      const now = db.dataVersion();
      if (now === version) return true;
      version = now;
      const rows = db.changesSince(seen);
      if (rows.length === 0) return true;
      // A first row past the next number: the log was trimmed past what we saw (or a write rolled back).
      if (rows[0]![0] !== seen + 1) listener(undefined);
      for (const [seq, key] of rows) {
        seen = seq;
        if (namespaced.some((prefix) => key.startsWith(prefix))) listener(key.slice(KEYV_NAMESPACE.length + 1));
      }
      return true;
    },
    recheck: nextTurn,
    async close() {
      open = false;
      db.close();
    },
  };
}

// Redis ---------------------------------------------------------------------------------------

type RedisClient = ReturnType<typeof createClient>;

/** Deletes the key only while `owner` holds it: a lease that lapsed and was taken by another stays theirs. */
const RELEASE_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
/** Extends the key only while `owner` holds it. */
const RENEW_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
/** One hit in a fixed window: the first hit starts it (sets its expiry); answers {count, ms left}. */
const WINDOW_SCRIPT =
  "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end local t = redis.call('PTTL', KEYS[1]) if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) t = tonumber(ARGV[1]) end return {n, t}";

/**
 * Records through keyv (`<prefix>r:<key>`), sets as Redis sets (`<prefix>s:<name>`), leases as
 * plain keys with an expiry (`<prefix>l:<key>`), counters as hashes (`<prefix>h:<key>`) — all on
 * one connection.
 */
async function openRedisStore(url: string, prefix: string): Promise<KeyValueStore> {
  const client = await connectRedis(url);
  const adapter = new KeyvRedis(client, { keyPrefixSeparator: ':', throwOnErrors: true, throwOnConnectError: true });
  // keyv's own prefixing is off: the adapter prefixes, once, with the namespace keyv hands it.
  const keyv = new Keyv({ store: adapter, namespace: `${prefix}r`, useKeyPrefix: false, throwOnErrors: true, ...NATIVE_JSON });
  keyv.on('error', () => {
    /* thrown by the failing call itself (throwOnErrors) */
  });
  const setKey = (name: string) => `${prefix}s:${name}`;
  const leaseKey = (key: string) => `${prefix}l:${key}`;
  const hashKey = (key: string) => `${prefix}h:${key}`;
  const windowKey = (key: string) => `${prefix}w:${key}`;

  const dueIndex = openRedisDueIndex(
    {
      eval: (script, options) => client.eval(script, options),
      evalSha: (sha, options) => client.evalSha(sha, options),
      zCard: (key) => client.zCard(key),
      hGetAll: async (key) => Object.fromEntries(Object.entries(await client.hGetAll(key)).map(([field, value]) => [String(field), String(value)])),
    },
    prefix,
    (recordKey) => `${prefix}r:${recordKey}`,
  );

  return {
    ...recordsThrough(keyv),
    ...dueIndex,
    async setMany(entries) {
      if (entries.length === 0) return;
      // keyv's own format (`{"value": …}` under `<prefix>r:<key>`), in one MULTI: applied as one.
      const transaction = client.multi();
      for (const [key, value] of entries) transaction.set(`${prefix}r:${key}`, JSON.stringify({ value }));
      await transaction.exec();
    },
    async addMember(set, member) {
      await client.sAdd(setKey(set), member);
    },
    async removeMember(set, member) {
      return Number(await client.sRem(setKey(set), member)) > 0;
    },
    async members(set) {
      // Sorted like the SQLite store's ORDER BY member, so both stores list alike.
      return (await client.sMembers(setKey(set))).map(String).sort();
    },
    async hasMember(set, member) {
      return Boolean(await client.sIsMember(setKey(set), member));
    },
    async incrementFields(key, increments) {
      const entries = Object.entries(increments);
      if (entries.length === 0) return;
      const transaction = client.multi();
      for (const [field, by] of entries) transaction.hIncrBy(hashKey(key), field, by);
      await transaction.exec();
    },
    async setFields(key, values) {
      if (Object.keys(values).length === 0) return;
      await client.hSet(hashKey(key), values);
    },
    async readFields(key) {
      const fields = await client.hGetAll(hashKey(key));
      return Object.fromEntries(Object.entries(fields).map(([field, value]) => [String(field), String(value)]));
    },
    async deleteFields(key, fields) {
      if (fields === undefined) await client.del(hashKey(key));
      else if (fields.length > 0) await client.hDel(hashKey(key), fields);
    },
    async addToField(key, field, by) {
      return Number(await client.hIncrBy(hashKey(key), field, by));
    },
    async hitWindow(key, windowMs) {
      const [count, remainingMs] = (await client.eval(WINDOW_SCRIPT, { keys: [windowKey(key)], arguments: [String(Math.ceil(windowMs))] })) as [number, number];
      return { count: Number(count), remainingMs: Number(remainingMs) };
    },
    async acquireLease(key, owner, ttlMs) {
      const taken = await client.set(leaseKey(key), owner, { condition: 'NX', expiration: { type: 'PX', value: Math.ceil(ttlMs) } });
      if (taken === 'OK') return true;
      // Already ours (a renewal): extend it, like the SQLite store's same-owner upsert.
      const renewed = await client.eval(RENEW_SCRIPT, { keys: [leaseKey(key)], arguments: [owner, String(Math.ceil(ttlMs))] });
      return Number(renewed) === 1;
    },
    async releaseLease(key, owner) {
      await client.eval(RELEASE_SCRIPT, { keys: [leaseKey(key)], arguments: [owner] });
    },
    async ping() {
      await client.ping();
    },
    async watchRecords(prefixes, listener) {
      return watchRedisChanges(url, prefixes.map((watched) => `${prefix}r:${watched}`), `${prefix}r:`, listener);
    },
    async close() {
      await keyv.disconnect();
    },
  };
}

/**
 * Server-assisted invalidation (RESP3 CLIENT TRACKING in broadcast mode) on a connection of its own:
 * Redis pushes the name of every key written under the prefixes, by any client, as it is written. The
 * push can pass a read's reply that went out on the main connection before the write; the watcher's
 * user handles that by not keeping a value read while a change arrived (publish/published-cache.ts).
 * While the connection is down, changes go unseen: sync() answers false, and a reconnection tells
 * the listener that anything may have changed before it answers true again.
 */
async function watchRedisChanges(url: string, prefixes: string[], namespace: string, listener: RecordChangeListener): Promise<RecordWatch> {
  let tracking = false;
  let closed = false;
  const client = createClient({
    url,
    RESP: 3,
    // node-redis turns plain tracking on at each handshake and hands us the pushes; we switch to
    // broadcast mode with our prefixes once ready (below).
    emitInvalidate: true,
    disableOfflineQueue: true,
    socket: { connectTimeout: 5000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 3000) },
  });
  const forgetAll = () => {
    tracking = false;
    listener(undefined);
  };
  client.on('invalidate', (key: unknown) => {
    if (key === null || key === undefined) return listener(undefined); // FLUSHALL, FLUSHDB, or the server's table overflowed
    const name = String(key);
    if (name.startsWith(namespace)) listener(name.slice(namespace.length));
  });
  client.on('error', forgetAll);
  client.on('end', forgetAll);
  client.on('ready', () => {
    void client
      .sendCommand(['CLIENT', 'TRACKING', 'OFF'])
      .then(() => client.sendCommand(['CLIENT', 'TRACKING', 'ON', 'BCAST', ...prefixes.flatMap((watched) => ['PREFIX', watched])]))
      .then(
        () => {
          if (closed) return;
          // What was kept before (or while) the connection was down may have changed unseen.
          listener(undefined);
          tracking = true;
        },
        forgetAll,
      );
  });
  await client.connect();
  return {
    sync: () => tracking,
    async close() {
      closed = true;
      tracking = false;
      client.destroy();
    },
  };
}

/**
 * Connects once and fails fast: an unreachable Redis at start is a clear error, not a process that
 * hangs. Later outages reconnect with backoff, and commands fail at once meanwhile (no offline
 * queue), so /readyz answers 503 instead of hanging. Messages name host:port, never the URL (it
 * may carry a password).
 */
async function connectRedis(url: string): Promise<RedisClient> {
  const where = describeRedis(url);
  let connected = false;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 5000,
      reconnectStrategy: (retries: number, cause: Error) =>
        connected ? Math.min(100 * 2 ** Math.min(retries, 5), 3000) : new Error(`cannot reach Redis at ${where}: ${cause.message}`),
    },
  });
  client.on('error', () => {
    /* surfaced by the failing command, and by /readyz */
  });
  try {
    await client.connect();
  } catch (error) {
    if (client.isOpen) client.destroy();
    const reason = (error as Error).message;
    throw new Error(reason.startsWith('cannot reach Redis') ? reason : `cannot reach Redis at ${where}: ${reason}`);
  }
  connected = true;
  return client as RedisClient;
}

function describeRedis(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
  } catch {
    return 'the configured address';
  }
}

/** True when a Redis server answers PING at `url` within a second or so. */
export async function isRedisReachable(url: string): Promise<boolean> {
  let client: RedisClient | undefined;
  try {
    client = await connectRedis(url);
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    if (client?.isOpen) client.destroy();
  }
}

/**
 * Every key under `prefix` with what Redis holds for it (a string value, or a set's members joined
 * by newlines), read with SCAN: for operators' checks and for tests that inspect the store's bytes.
 */
export async function readRedisPrefix(url: string, prefix: string): Promise<Map<string, string>> {
  const client = await connectRedis(url);
  try {
    const found = new Map<string, string>();
    for await (const keys of client.scanIterator({ MATCH: `${escapeGlob(prefix)}*`, COUNT: 500 })) {
      for (const key of keys) {
        const type = await client.type(key);
        if (type === 'string') found.set(key, (await client.get(key)) ?? '');
        else if (type === 'set') found.set(key, (await client.sMembers(key)).join('\n'));
        else found.set(key, `<${type}>`);
      }
    }
    return found;
  } finally {
    client.destroy();
  }
}

/** Deletes every key under `prefix` (SCAN + DEL); answers how many went. */
export async function deleteRedisPrefix(url: string, prefix: string): Promise<number> {
  const client = await connectRedis(url);
  try {
    let deleted = 0;
    for await (const keys of client.scanIterator({ MATCH: `${escapeGlob(prefix)}*`, COUNT: 500 })) {
      if (keys.length > 0) deleted += await client.del(keys);
    }
    return deleted;
  } finally {
    client.destroy();
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

// Leases that outlive a dead holder by a bounded time ------------------------------------------

/**
 * A lease is stored with a short TTL (`heartbeatMs`) and renewed every third of it while its
 * holder lives, up to the TTL the holder asked for. A live holder keeps its lease through a slow
 * refresh; a killed one (SIGKILL, lost machine) stops renewing and its lease lapses within
 * `heartbeatMs`, so another instance takes the source over without waiting for the full TTL.
 */
function withLeaseHeartbeat(store: KeyValueStore, heartbeatMs: number): KeyValueStore {
  const held = new Map<string, { key: string; owner: string; until: number }>();
  let beating = false;
  const beat = async () => {
    if (beating) return;
    beating = true;
    try {
      for (const [id, lease] of held) {
        const left = lease.until - Date.now();
        if (left <= 0) {
          held.delete(id); // the holder's own bound: let it lapse
          continue;
        }
        const kept = await store.acquireLease(lease.key, lease.owner, Math.min(heartbeatMs, left)).catch(() => true);
        if (!kept) held.delete(id); // lapsed and taken by another: theirs now
      }
    } finally {
      beating = false;
    }
  };
  const timer = setInterval(() => void beat(), Math.max(Math.floor(heartbeatMs / 3), 50));
  timer.unref();
  const idOf = (key: string, owner: string) => `${owner}\n${key}`;

  return {
    ...store,
    async acquireLease(key, owner, ttlMs) {
      const taken = await store.acquireLease(key, owner, Math.min(ttlMs, heartbeatMs));
      if (taken) held.set(idOf(key, owner), { key, owner, until: Date.now() + ttlMs });
      return taken;
    },
    async releaseLease(key, owner) {
      held.delete(idOf(key, owner));
      await store.releaseLease(key, owner);
    },
    async close() {
      clearInterval(timer);
      held.clear();
      await store.close();
    },
  };
}
