// The storage primitive under the registry, and the only import of keyv and its adapters.
// keyv gives us records by key on any backend; what keyv alone cannot give — sets that concurrent
// writers never lose members of, and leases that two processes cannot both take — is done with
// the backend's own atomic operations here (SQLite upserts; Redis SADD / SET NX PX and a Lua
// compare-and-delete on the Redis path). What changed, and by whom, is told exactly to a watcher
// (watchRecords): the public feed route keeps what it serves in memory and must forget it the
// moment another instance or the cron CLI changes it (SQLite: the WAL-index header, wal-index.ts).
//
// This file holds the interface and the opener; the backends are sqlite-store.ts and
// redis-store.ts (records through keyv-records.ts), leases' heartbeat lease-heartbeat.ts.
import type { DueIndex } from './due-index.js';
import { withLeaseHeartbeat } from './lease-heartbeat.js';
import { openRedisStore } from './redis-store.js';
import { openSqliteStore } from './sqlite-store.js';

export interface KeyValueStore extends DueIndex {
  get<T>(key: string): Promise<T | undefined>;
  getMany<T>(keys: string[]): Promise<Array<T | undefined>>;
  /** `ttlMs` makes the record expire by itself (a revocation record outlives what it revokes by nothing). */
  set(key: string, value: unknown, ttlMs?: number): Promise<void>;
  /**
   * Several records written at once, atomically: a reader sees all of them or none (one statement;
   * MULTI).
   */
  setMany(records: Array<[key: string, value: unknown]>): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Records written and deleted, set members added and removed, counters added to, all in one
   * atomic step (a feed's create, edit or delete); a key or member is named once (Redis runs the
   * deletes last). False when `ifUnchanged` did not hold: then nothing was written. SQLite: one
   * statement, so a reader sees all or none, and one refused part-way (the write lock held past the busy timeout, a
   * constraint, a trigger) leaves none. Redis: one Lua script, so no reader sees part of it, and a
   * script refused before it runs (ACL on a key it names, out of memory at its first write) writes
   * nothing; but a command that fails as it runs (a key of another type) does not undo the ones
   * before it, and a connection lost after the script was sent leaves it unknown whether it ran.
   */
  writeAtomically(write: AtomicWrite): Promise<boolean>;
  /** Set membership; adding and removing are atomic and never lose a concurrent writer's member. */
  addMember(set: string, member: string): Promise<void>;
  /** True when `member` was there (and this call removed it): lets a caller count a removal once. */
  removeMember(set: string, member: string): Promise<boolean>;
  members(set: string): Promise<string[]>;
  /** Each set's members, in the order asked: one round trip for many sets. */
  membersOfMany(sets: string[]): Promise<string[][]>;
  /** Removes every one of `members` from the set at once. */
  removeMembers(set: string, members: string[]): Promise<void>;
  hasMember(set: string, member: string): Promise<boolean>;
  /** Counters by field under one key; increments are atomic across processes (usage statistics). */
  incrementFields(key: string, increments: Record<string, number>): Promise<void>;
  /**
   * Plain values beside the counters; the last writer of a field wins. `expireMs` (Redis) makes the
   * whole hash lapse that long after this write, as addToField's; the embedded store keeps it.
   */
  setFields(key: string, values: Record<string, string>, expireMs?: number): Promise<void>;
  /**
   * Raises one numeric field to `value` unless it already holds more, and answers what it holds
   * after: atomic across processes, so concurrent writers never move it back (a cutoff).
   */
  raiseField(key: string, field: string, value: number): Promise<number>;
  readFields(key: string): Promise<Record<string, string>>;
  /** The named fields, or every field of the key when none are named. */
  deleteFields(key: string, fields?: string[]): Promise<void>;
  /**
   * Adds `by` to one counter and answers its new value, atomically across processes (quotas).
   * `expireMs` (Redis) makes the whole hash lapse that long after this write, for counts that must
   * not outlive their window when nobody is left to delete them; the embedded store keeps it.
   */
  addToField(key: string, field: string, by: number, expireMs?: number): Promise<number>;
  /**
   * Counts a hit in the fixed window of `key` (it starts with the first hit and lasts `windowMs`)
   * and answers the count so far and the milliseconds left. Only shared stores have it: one
   * process counts in memory faster, and the embedded store is one process's.
   */
  hitWindow?(key: string, windowMs: number): Promise<{ count: number; remainingMs: number }>;
  /**
   * Writes `value` under `key` only while the stored record still holds `match.fields` (top-level
   * fields, compared by value; undefined matches a missing field) and `match.listed` names a set
   * member: one atomic step, a compare-and-set. False when nothing was written.
   */
  setIfMatches(key: string, value: unknown, match: RecordMatch): Promise<boolean>;
  /**
   * Each source's cached entries as stored: one record an entry (SQLite: a row of `fp_entries`;
   * Redis: a field of a hash), so a refresh writes the entries that changed, not the whole list.
   * In the order asked; each source's entries' JSON texts in no order with their revision, or `list`, the keyv row
   * text of a whole list, where an earlier release stored the entries that way (the next write of
   * the source replaces it with records).
   */
  readEntries(sourceIds: string[]): Promise<StoredEntryTexts[]>;
  /**
   * One atomic write of a source's entries: every stored entry not in `ids` removed, `put`'s written,
   * an earlier release's whole list removed, and `revision` (a record, keyv's row text) written with
   * them: a reader that sees the revision sees these entries.
   */
  writeEntries(sourceId: string, write: EntryWrite): Promise<void>;
  /** Every entry of the source, and an earlier release's whole list. */
  deleteEntries(sourceId: string): Promise<void>;
  /** Takes `key` for `owner` unless another owner holds an unexpired lease. */
  acquireLease(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /**
   * acquireLease, and when taken, the record under `recordKey` read after the lease was taken, in
   * the same round trip (one statement on SQLite, alone or with the calls grouped with it; one
   * pipelined exchange on Redis).
   */
  acquireLeaseAndGet<T>(key: string, owner: string, ttlMs: number, recordKey: string): Promise<LeasedRecord<T>>;
  releaseLease(key: string, owner: string): Promise<void>;
  /** Extends `owner`'s unexpired lease; false when it lapsed or is another's (never takes a free one). */
  renewLease(key: string, owner: string, ttlMs: number): Promise<boolean>;
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

export interface StoredEntryTexts {
  texts: string[];
  /** The entries' revision record as stored (keyv's row text), read in the same step; absent when there is none. */
  revision?: string;
  /** An earlier release's whole list (`{"value":[…]}`), stored under the record key `entries:<id>`. */
  list?: string;
}

export interface EntryWrite {
  /**
   * The key of every entry the source keeps (its id, or a digest of it: sources.ts entryKeyOf; no
   * control character but a leading U+001F, no surrogate); stored entries not named here are removed.
   */
  ids: string[];
  /** The entries to write (new or changed), by key: each its JSON text. */
  put: Array<[key: string, text: string]>;
  /** The record written with them, so a reader that sees it sees these entries. */
  revision: { key: string; value: unknown };
  /** A set member added in the same atomic step (a refresh batch's pending-rebuild mark). */
  addMember?: { set: string; member: string };
  /**
   * What a source's create writes with its first entries, in the same atomic step (SQLite: the one
   * statement; Redis: one MULTI): its records, the set members that list it, the counters it adds to.
   */
  with?: {
    records: Array<[key: string, value: unknown]>;
    members: Array<{ set: string; member: string }>;
    increments: Array<{ key: string; field: string; by: number }>;
    /** Records whose due-index entries follow them in the same step (SQLite's triggers do it anyway). */
    dueOf?: Array<{ id: string; recordKey: string }>;
  };
}

export interface AtomicWrite {
  records?: Array<[key: string, value: unknown]>;
  deletes?: string[];
  members?: Array<{ set: string; member: string }>;
  /**
   * `counted`: a counter added to only when this removal took the member out, in the same step, so
   * two removals of one member (two deletes of a feed at once) count once.
   */
  removeMembers?: Array<{ set: string; member: string; counted?: { key: string; field: string; by: number } }>;
  increments?: Array<{ key: string; field: string; by: number }>;
  /**
   * The write applies only while the record under `key` is still `value` as this store wrote it
   * (the same JSON text: a record read and not changed since), checked in the same atomic step; else
   * none of it. A record gone (deleted since) does not hold.
   */
  ifUnchanged?: { key: string; value: unknown };
}

export interface RecordMatch {
  fields: Record<string, string | number | undefined>;
  listed: { set: string; member: string };
}

export type LeasedRecord<T> = { taken: false } | { taken: true; value: T | undefined };

/** Field names a RecordMatch may name (they are spliced into a JSON path). */
export const MATCHABLE_FIELD = /^[A-Za-z][A-Za-z0-9]*$/;

export type RecordChangeListener = (key: string | undefined) => void;

export interface RecordWatch {
  /**
   * Answers whether what was kept from earlier reads may be trusted now, with every change committed
   * before this call delivered to the listener when it answers true. SQLite: one read of the WAL-index
   * header tells whether any connection (this process's, the cron CLI's, a second server's) committed
   * since the last look; if one did, false until the change log has been read and delivered. Redis:
   * the server pushes invalidations as keys change (CLIENT TRACKING); false while that connection is down.
   */
  sync(): boolean;
  /**
   * While sync() answers false only because a check is under way (SQLite: the change log being read
   * after a commit), a promise of its end, which comes sooner than reading the store; else undefined.
   */
  checking?(): Promise<void> | undefined;
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
  /**
   * SQLite: how long a statement waits for another connection's write lock (the cron CLI, a second
   * instance) before it fails with SQLITE_BUSY. 10 s unless a test needs it shorter.
   */
  busyTimeoutMs?: number;
}

export const DEFAULT_PREFIX = 'feedproxy:';

/**
 * The store refused a statement for another process's lock: SQLite's write lock held past the busy
 * timeout (SQLITE_BUSY: the cron CLI or a second instance mid-write). A ping still answers then, so
 * only the error tells; the same call may succeed when retried. node-sqlite3's error carries the
 * primary code (never an extended one), and keyv (throwOnErrors) rethrows it as is. Not
 * SQLITE_LOCKED: with one connection a process and no shared cache, that is our own bug.
 */
export function isStoreBusy(error: unknown): boolean {
  return (error as { code?: unknown } | null | undefined)?.code === 'SQLITE_BUSY';
}

export async function openKeyValueStore(url: string, options: StoreOptions = {}): Promise<KeyValueStore> {
  let store: KeyValueStore;
  if (url.startsWith('sqlite://')) store = await openSqliteStore(url.slice('sqlite://'.length), options.busyTimeoutMs);
  else if (/^rediss?:\/\//.test(url)) store = await openRedisStore(url, options.prefix ?? DEFAULT_PREFIX);
  else throw new Error(`unsupported store URL scheme: ${url.split(':')[0]}`);
  return options.leaseHeartbeatMs ? withLeaseHeartbeat(store, options.leaseHeartbeatMs) : store;
}
