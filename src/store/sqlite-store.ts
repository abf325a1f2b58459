// The SQLite backend of KeyValueStore (kv.ts): records in keyv's table, sets, leases and counters
// in tables of our own, the due index beside them (due-index.ts), and the change log that tells
// watchers exactly what another connection wrote (looked at when the WAL-index header moved: wal-index.ts).
import KeyvSqlite from '@keyv/sqlite';
import Keyv from 'keyv';
import sqlite3 from 'sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { openSqliteDueIndex } from './due-index.js';
import { keyvTextOf, keyvValueOf, NATIVE_JSON, recordsThrough } from './keyv-records.js';
import { key } from './keys.js';
import {
  MATCHABLE_FIELD,
  type KeyValueStore,
  type StoredEntryTexts,
  type LeasedRecord,
  type RecordChangeListener,
  type RecordMatch,
  type RecordWatch,
} from './kv.js';
import { openWalIndexHeader } from './wal-index.js';

type SqlQuery = (sql: string, ...params: unknown[]) => Promise<Array<Record<string, unknown>>>;

export async function openSqliteStore(path: string, busyTimeoutMs = 10_000): Promise<KeyValueStore> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // keyv's adapter prepares every statement anew (node-sqlite3's Database#all), and preparing one
  // that writes keyv's table compiles its triggers too: ≈ 250 of the ≈ 340 µs of CPU a refresh's
  // compare-and-set cost (BENCHMARKS.md, bench 2, session 7). So the adapter runs its queries, and
  // we ours, on one connection of our own that keeps each statement prepared.
  const connection = await openConnection(path, busyTimeoutMs);
  const adapter = new KeyvSqlite({ uri: 'sqlite://:memory:' });
  const closeAdapter = adapter.close;
  adapter.query = connection.query;
  adapter.close = async () => {
    await closeAdapter();
    await connection.close();
  };
  // @keyv/sqlite's getMany matches each asked key against the rows with Array.find: O(keys × rows),
  // 5·10⁹ comparisons for 100,000 keys. The same query, matched through a Map (BENCHMARKS.md, 8.).
  adapter.getMany = (async (keys: string[]) => {
    const rows = (await adapter.query(
      `SELECT key, value FROM ${KEYV_TABLE} WHERE key IN (SELECT value FROM json_each(?))`,
      JSON.stringify(keys),
    )) as Array<{
      key: string;
      value: string;
    }>;
    const byKey = new Map(rows.map((row) => [row.key, row.value]));
    return keys.map((key) => byKey.get(key));
  }) as typeof adapter.getMany;
  // throwOnErrors: a failed statement is the caller's error, as on Redis (keyv's default answers a
  // failed set with false and a failed get with undefined: a lost write, a record taken for missing).
  const keyv = new Keyv({ store: adapter, namespace: 'fp', throwOnErrors: true, ...NATIVE_JSON });
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
  await createEntryTable(query);
  await createAtomicWrites(query);

  // keyv's sqlite rows are keyed `<namespace>:<key>`.
  const dueIndex = await openSqliteDueIndex(query, (recordKey) => `fp:${recordKey}`);
  // This process's own record writes: a watcher checks again after each (see watchSqliteChanges).
  const afterWrite = new Set<() => void>();
  /** Watches whose WAL-index file closes with the store, after sqlite3's connection (wal-index.ts). */
  const watches = new Set<SqliteWatch>();
  const records = recordsThrough(keyv);
  // Writes that every refresh makes, grouped (groupWrites): concurrent refreshes share a statement.
  const compareAndSets = new Map<string, GroupedWrites<CompareAndSet, boolean>>();
  const leasesTaken = groupWrites<{ key: string; owner: string; ttlMs: number; recordKey: string }, LeasedRecord<unknown>>(
    async (asked) => {
      const now = Date.now();
      if (asked.length === 1) {
        const { key, owner, ttlMs, recordKey } = asked[0]!;
        // RETURNING's subquery runs after the upsert, in the same statement: the record read under the lease.
        const rows = await query(
          `INSERT INTO fp_leases(key, owner, expires_at) VALUES (?, ?, ?)
           ON CONFLICT(key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
           WHERE fp_leases.expires_at <= ? OR fp_leases.owner = excluded.owner
           RETURNING owner, (SELECT value FROM ${KEYV_TABLE} WHERE key = ?) AS record`,
          key,
          owner,
          now + ttlMs,
          now,
          recordKey,
        );
        return [rows.length === 1 ? { taken: true, value: keyvValueOf(rows[0]!.record) } : { taken: false }];
      }
      // Several at once: one upsert, whose RETURNING reads each taken lease's record after the upsert,
      // in the same statement (the record key found by the lease key in the same JSON array): one
      // round trip through sqlite3's thread, as the single statement is, where an upsert and then a
      // read of the records were two.
      const rows = await query(
        `INSERT INTO fp_leases(key, owner, expires_at)
         SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]') FROM json_each(?1) AS j WHERE true
         ON CONFLICT(key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
         WHERE fp_leases.expires_at <= ?2 OR fp_leases.owner = excluded.owner
         RETURNING key, (SELECT value FROM ${KEYV_TABLE} WHERE ${KEYV_TABLE}.key =
           (SELECT json_extract(r.value, '$[3]') FROM json_each(?1) AS r WHERE json_extract(r.value, '$[0]') = fp_leases.key)) AS record`,
        JSON.stringify(asked.map(({ key, owner, ttlMs, recordKey }) => [key, owner, now + ttlMs, recordKey])),
        now,
      );
      const records = new Map(rows.map((row) => [String(row.key), row.record]));
      return asked.map(({ key }) => (records.has(key) ? { taken: true, value: keyvValueOf(records.get(key)) } : { taken: false }));
    },
    (asked) => asked.key,
  );
  const releases = groupWrites<{ key: string; owner: string }, void>(async (leases) => {
    if (leases.length === 1) await query('DELETE FROM fp_leases WHERE key = ? AND owner = ?', leases[0]!.key, leases[0]!.owner);
    else
      await query(
        `DELETE FROM fp_leases WHERE (key, owner) IN (SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]') FROM json_each(?) AS j)`,
        JSON.stringify(leases.map(({ key, owner }) => [key, owner])),
      );
    return leases.map(() => undefined);
  });
  const removeMemberOf = async (set: string, member: string) =>
    (await query('DELETE FROM fp_sets WHERE name = ? AND member = ? RETURNING member', set, member)).length > 0;
  const membersOf = async (set: string) => {
    const rows = await query('SELECT member FROM fp_sets WHERE name = ? ORDER BY member', set);
    return rows.map((row) => String(row.member));
  };
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
        ...entries.flatMap(([key, value]) => [`${KEYV_NAMESPACE}:${key}`, keyvTextOf(value)]),
      ).finally(noteWrite);
    },
    async delete(key) {
      await records.delete(key).finally(noteWrite);
    },
    async writeAtomically({ records = [], deletes = [], members = [], removeMembers = [], increments = [], ifUnchanged }) {
      if (records.length + deletes.length + members.length + removeMembers.length + increments.length === 0 && !ifUnchanged) return true;
      const names = [
        ...records.map(([key]) => key),
        ...deletes,
        ...[...members, ...removeMembers].flatMap(({ set, member }) => [set, member]),
      ];
      // Everything goes as JSON parameters (one kept statement, whatever the counts): a name its JSON
      // would not hand back as written is refused rather than written under another.
      if (names.some(unsafeInJson)) throw new Error('a key, set or member with a NUL or a lone surrogate cannot be written atomically');
      // One statement, so one atomic step: each row runs fp_write's trigger (createAtomicWrites), in
      // order, the condition's row first; its RAISE undoes the whole statement.
      try {
        await query(
          `INSERT INTO fp_writes(op, name, value, counter)
             SELECT 'if-unchanged', ?6, ?7, NULL WHERE ?6 IS NOT NULL
             UNION ALL SELECT 'record', json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), NULL FROM json_each(?1) AS j
             UNION ALL SELECT 'delete', j.value, NULL, NULL FROM json_each(?2) AS j
             UNION ALL SELECT 'member', json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), NULL FROM json_each(?3) AS j
             UNION ALL SELECT 'unmember', json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]')
               FROM json_each(?4) AS j
             UNION ALL SELECT 'add', NULL, NULL, j.value FROM json_each(?5) AS j`,
          JSON.stringify(records.map(([key, value]) => [`${KEYV_NAMESPACE}:${key}`, keyvTextOf(value)])),
          JSON.stringify(deletes.map((key) => `${KEYV_NAMESPACE}:${key}`)),
          JSON.stringify(members.map(({ set, member }) => [set, member])),
          JSON.stringify(
            removeMembers.map(({ set, member, counted }) => [set, member, counted ? [counted.key, counted.field, counted.by] : null]),
          ),
          JSON.stringify(increments.map(({ key, field, by }) => [key, field, by])),
          ifUnchanged ? `${KEYV_NAMESPACE}:${ifUnchanged.key}` : null,
          ifUnchanged ? keyvTextOf(ifUnchanged.value) : null,
        ).finally(noteWrite);
      } catch (error) {
        if ((error as Error | undefined)?.message?.includes(CHANGED_SINCE_READ)) return false;
        throw error;
      }
      return true;
    },
    async addMember(set, member) {
      await query('INSERT OR IGNORE INTO fp_sets(name, member) VALUES (?, ?)', set, member);
    },
    removeMember: removeMemberOf,
    members: membersOf,
    async hasMember(set, member) {
      return (await query('SELECT 1 FROM fp_sets WHERE name = ? AND member = ?', set, member)).length > 0;
    },
    async membersOfMany(sets) {
      if (sets.length === 0) return [];
      // What SQLite's JSON would not read back as written goes one statement a set.
      if (sets.some(unsafeInJson)) return Promise.all(sets.map(membersOf));
      const rows = await query(
        'SELECT name, member FROM fp_sets WHERE name IN (SELECT value FROM json_each(?)) ORDER BY name, member',
        JSON.stringify(sets),
      );
      const bySet = new Map(sets.map((set) => [set, [] as string[]]));
      for (const row of rows) bySet.get(String(row.name))?.push(String(row.member));
      return sets.map((set) => bySet.get(set)!);
    },
    async removeMembers(set, members) {
      if (members.length === 0) return;
      if (members.some(unsafeInJson)) {
        for (const member of members) await removeMemberOf(set, member);
        return;
      }
      await query('DELETE FROM fp_sets WHERE name = ? AND member IN (SELECT value FROM json_each(?))', set, JSON.stringify(members));
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
    async raiseField(key, field, value) {
      const rows = await query(
        `INSERT INTO fp_fields(key, field, value) VALUES (?, ?, ?)
         ON CONFLICT(key, field) DO UPDATE SET value = max(CAST(fp_fields.value AS INTEGER), excluded.value)
         RETURNING value`,
        key,
        field,
        value,
      );
      return Number(rows[0]?.value);
    },
    async readFields(key) {
      const rows = await query('SELECT field, value FROM fp_fields WHERE key = ?', key);
      return Object.fromEntries(rows.map((row) => [String(row.field), String(row.value)]));
    },
    async deleteFields(key, fields) {
      if (fields === undefined) await query('DELETE FROM fp_fields WHERE key = ?', key);
      else if (fields.length > 0)
        await query(`DELETE FROM fp_fields WHERE key = ? AND field IN (${fields.map(() => '?').join(', ')})`, key, ...fields);
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
    async setIfMatches(key, value, match) {
      const fields = Object.keys(match.fields);
      for (const field of fields) if (!MATCHABLE_FIELD.test(field)) throw new Error(`not a matchable field: ${field}`);
      // By the fields matched alone: the set is bound per row (a per-user set in the key would grow the map with the users).
      const shape = fields.join('\n');
      let writes = compareAndSets.get(shape);
      if (!writes) compareAndSets.set(shape, (writes = compareAndSetsOf(query, fields, noteWrite)));
      return writes({ key: `${KEYV_NAMESPACE}:${key}`, value, match });
    },
    async readEntries(sourceIds) {
      if (sourceIds.length === 0) return [];
      // The revision and an earlier release's whole list (none once written) come with the rows, in
      // the same statement: kind 0 an entry, 1 the list, 2 the revision.
      const rows =
        sourceIds.length === 1
          ? await query(
              `SELECT ?1 AS source_id, body, 0 AS kind FROM fp_entries WHERE source_id = ?1
               UNION ALL SELECT ?1, value, 1 FROM ${KEYV_TABLE} WHERE key = ?2
               UNION ALL SELECT ?1, value, 2 FROM ${KEYV_TABLE} WHERE key = ?3`,
              sourceIds[0],
              `${KEYV_NAMESPACE}:${key.entries(sourceIds[0]!)}`,
              `${KEYV_NAMESPACE}:${key.entriesRevision(sourceIds[0]!)}`,
            )
          : await query(
              `SELECT source_id, body, 0 AS kind FROM fp_entries WHERE source_id IN (SELECT value FROM json_each(?1))
               UNION ALL SELECT substr(key, ?3), value, 1 FROM ${KEYV_TABLE}
                 WHERE key IN (SELECT ?2 || value FROM json_each(?1))
               UNION ALL SELECT substr(key, ?5), value, 2 FROM ${KEYV_TABLE}
                 WHERE key IN (SELECT ?4 || value FROM json_each(?1))`,
              JSON.stringify(sourceIds),
              `${KEYV_NAMESPACE}:${key.entries('')}`,
              `${KEYV_NAMESPACE}:${key.entries('')}`.length + 1,
              `${KEYV_NAMESPACE}:${key.entriesRevision('')}`,
              `${KEYV_NAMESPACE}:${key.entriesRevision('')}`.length + 1,
            );
      const bySource = new Map(sourceIds.map((id) => [id, { texts: [] } as StoredEntryTexts]));
      for (const row of rows) {
        const stored = bySource.get(String(row.source_id));
        if (!stored) continue;
        if (row.kind === 1) stored.list = String(row.body);
        else if (row.kind === 2) stored.revision = String(row.body);
        else stored.texts.push(String(row.body));
      }
      return sourceIds.map((id) => bySource.get(id)!);
    },
    async writeEntries(sourceId, { ids, put, revision, addMember, with: also }) {
      // One statement, so one atomic step: each row runs fp_entry_writes' trigger (createEntryTable).
      // Everything goes as JSON parameters (one kept text, whatever the counts): the puts, and a
      // create's records, set members and counters (a refresh's: none, or its pending-rebuild mark).
      const members = [...(addMember ? [addMember] : []), ...(also?.members ?? [])];
      await query(
        `INSERT INTO fp_entry_writes(source_id, op, entry_id, body)
           SELECT ?1, 'keep', ?2, ?3
           UNION ALL SELECT ?1, 'put', json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]') FROM json_each(?4) AS j
           UNION ALL SELECT ?1, 'record', ?5, ?6
           UNION ALL SELECT ?1, 'record', json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]') FROM json_each(?7) AS r
           UNION ALL SELECT ?1, 'member', json_extract(m.value, '$[0]'), json_extract(m.value, '$[1]') FROM json_each(?8) AS m
           UNION ALL SELECT ?1, 'add', json_extract(f.value, '$[0]'), f.value FROM json_each(?9) AS f`,
        sourceId,
        `${KEYV_NAMESPACE}:${key.entries(sourceId)}`,
        JSON.stringify(ids),
        JSON.stringify(put),
        `${KEYV_NAMESPACE}:${revision.key}`,
        keyvTextOf(revision.value),
        JSON.stringify((also?.records ?? []).map(([recordKey, value]) => [`${KEYV_NAMESPACE}:${recordKey}`, keyvTextOf(value)])),
        JSON.stringify(members.map(({ set, member }) => [set, member])),
        JSON.stringify((also?.increments ?? []).map(({ key, field, by }) => [key, field, by])),
      ).finally(noteWrite);
    },
    async deleteEntries(sourceId) {
      await query(
        `INSERT INTO fp_entry_writes(source_id, op, entry_id, body) VALUES (?, 'keep', ?, '[]')`,
        sourceId,
        `${KEYV_NAMESPACE}:${key.entries(sourceId)}`,
      ).finally(noteWrite);
    },
    async acquireLeaseAndGet<T>(key: string, owner: string, ttlMs: number, recordKey: string): Promise<LeasedRecord<T>> {
      return (await leasesTaken({ key, owner, ttlMs, recordKey: `${KEYV_NAMESPACE}:${recordKey}` })) as LeasedRecord<T>;
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
      await releases({ key, owner });
    },
    async renewLease(key, owner, ttlMs) {
      const now = Date.now();
      const rows = await query(
        'UPDATE fp_leases SET expires_at = ? WHERE key = ? AND owner = ? AND expires_at > ? RETURNING owner',
        now + ttlMs,
        key,
        owner,
        now,
      );
      return rows.length === 1;
    },
    async ping() {
      await query('SELECT 1');
    },
    async watchRecords(prefixes, listener) {
      const watch = await watchSqliteChanges(path, query, prefixes, listener);
      afterWrite.add(watch.recheck);
      watches.add(watch);
      return {
        sync: watch.sync,
        checking: watch.checking,
        async close() {
          afterWrite.delete(watch.recheck);
          watch.stop();
        },
      };
    },
    async close() {
      await Promise.all([leasesTaken.drained(), releases.drained(), ...[...compareAndSets.values()].map((writes) => writes.drained())]);
      await keyv.disconnect();
      // Only now: closing a descriptor of the `-shm` file drops sqlite3's locks on it (wal-index.ts).
      for (const watch of watches) watch.closeHeaderFile();
      watches.clear();
    },
  };
}

interface CompareAndSet {
  /** keyv's raw key. */
  key: string;
  value: unknown;
  match: RecordMatch;
}

/**
 * setIfMatches for records matched on `fields`, grouped: each batch is one UPDATE … FROM over a JSON
 * array of (key, the value's byte offset and length, expected fields, listing), one statement and so
 * one atomic step per record as before, and one transaction (one WAL commit) for the batch. A key
 * never appears twice in a batch, so each caller's answer is its own write's. The values' texts go
 * beside the array as one BLOB, each cut out by its offset: inside the array each ≈ 1 KB text was
 * escaped again by JSON.stringify and unescaped again by SQLite's JSON functions, for every record of
 * every refresh (bench/diagnoses.md §2, session 19). The bytes stored are the text's UTF-8, as before.
 */
function compareAndSetsOf(query: SqlQuery, fields: string[], noteWrite: () => void): GroupedWrites<CompareAndSet, boolean> {
  const at = (index: number) => `json_extract(j.value, '$[${index}]')`;
  const sql = `UPDATE ${KEYV_TABLE} SET value = b.v
    FROM (SELECT ${at(0)} AS k, CAST(substr(?2, ${at(1)}, ${at(2)}) AS TEXT) AS v,
                 ${fields.map((_, index) => `${at(index + 3)} AS f${index}`).join(', ')}${fields.length > 0 ? ',' : ''}
                 ${at(fields.length + 3)} AS ls, ${at(fields.length + 4)} AS lm
          FROM json_each(?1) AS j) AS b
    WHERE ${KEYV_TABLE}.key = b.k
    ${fields.map((field, index) => `AND json_extract(${KEYV_TABLE}.value, '$.value.${field}') IS b.f${index}`).join(' ')}
    AND EXISTS (SELECT 1 FROM fp_sets WHERE name = b.ls AND member = b.lm) RETURNING ${KEYV_TABLE}.key AS key`;
  // A lone write: the plain statement (cheaper than a batch of one through json_each).
  const single = `UPDATE ${KEYV_TABLE} SET value = ? WHERE key = ?
    ${fields.map((field) => `AND json_extract(value, '$.value.${field}') IS ?`).join(' ')}
    AND EXISTS (SELECT 1 FROM fp_sets WHERE name = ? AND member = ?) RETURNING key`;
  return groupWrites<CompareAndSet, boolean>(
    async (writes) => {
      if (writes.length === 1) {
        const { key, value, match } = writes[0]!;
        const rows = await query(
          single,
          JSON.stringify({ value }),
          key,
          ...fields.map((field) => match.fields[field] ?? null),
          match.listed.set,
          match.listed.member,
        ).finally(noteWrite);
        return [rows.length === 1];
      }
      // keyv's row format, like setMany; the triggers (change log, due index) run as for keyv's own writes.
      const texts = writes.map(({ value }) => JSON.stringify({ value }));
      let offset = 1; // substr counts bytes from 1
      const rows = await query(
        sql,
        JSON.stringify(
          writes.map(({ key, match }, index) => {
            const bytes = Buffer.byteLength(texts[index]!);
            offset += bytes;
            return [
              key,
              offset - bytes,
              bytes,
              ...fields.map((field) => match.fields[field] ?? null),
              match.listed.set,
              match.listed.member,
            ];
          }),
        ),
        Buffer.from(texts.join('')),
      ).finally(noteWrite);
      const written = new Set(rows.map((row) => String(row.key)));
      return writes.map(({ key }) => written.has(key));
    },
    (write) => write.key,
  );
}

/**
 * A string SQLite's json_each would not hand back as written (a NUL ends its text, a lone surrogate is
 * no UTF-8): such values are bound as parameters instead, one statement each (entry ids avoid the
 * case another way: store/sources.ts entryKeyOf stores them under a digest).
 */
function unsafeInJson(value: string): boolean {
  return value.includes('\u0000') || /[\ud800-\udfff]/.test(value);
}

/** How many calls one grouped statement takes at most. */
const MAX_GROUPED = 64;
/**
 * How long a call waits for others to share its statement, and how many make it go at once (the
 * refresh's default concurrency). A refresh waits for its own write, so the concurrent refreshes
 * that finish within the window meet; a lone one is written this much later, which costs no CPU.
 */
const GROUP_WINDOW_MS = 2;
const GROUP_FLUSH_AT = 8;

interface GroupedWrites<I, R> {
  (item: I): Promise<R>;
  /** Resolves once every call made so far is written (close waits for it). */
  drained(): Promise<void>;
}

/**
 * Group commit: a call waits up to GROUP_WINDOW_MS (or until GROUP_FLUSH_AT calls wait), or for the
 * statement already running, and goes with every call made meanwhile in one statement: concurrent
 * refreshes pay one statement's fixed cost and one commit between them (BENCHMARKS.md, bench 2,
 * session 8). A failed statement fails its batch. With `keyOf`, a batch takes one call per key (a
 * second write of a key goes in the next batch).
 */
function groupWrites<I, R>(write: (items: I[]) => Promise<R[]>, keyOf?: (item: I) => string): GroupedWrites<I, R> {
  type Call = { item: I; resolve: (result: R) => void; reject: (error: unknown) => void };
  let pending: Call[] = [];
  let flushing: Promise<void> | undefined;
  let release: (() => void) | undefined;
  const takeBatch = (): Call[] => {
    if (!keyOf && pending.length <= MAX_GROUPED) return pending.splice(0);
    const batch: Call[] = [];
    const keys = new Set<string>();
    pending = pending.filter((call) => {
      const key = keyOf?.(call.item);
      if (batch.length >= MAX_GROUPED || (key !== undefined && keys.has(key))) return true;
      if (key !== undefined) keys.add(key);
      batch.push(call);
      return false;
    });
    return batch;
  };
  const flush = async () => {
    release = undefined;
    for (let batch = takeBatch(); batch.length > 0; batch = takeBatch()) {
      try {
        const results = await write(batch.map((call) => call.item));
        batch.forEach((call, index) => call.resolve(results[index]!));
      } catch (error) {
        for (const call of batch) call.reject(error);
      }
    }
    flushing = undefined;
  };
  const grouped = (item: I) =>
    new Promise<R>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      flushing ??= new Promise<void>((go) => {
        const timer = setTimeout(go, GROUP_WINDOW_MS);
        release = () => {
          clearTimeout(timer);
          go();
        };
      }).then(flush);
      if (pending.length >= GROUP_FLUSH_AT) release?.();
    });
  grouped.drained = async () => {
    release?.();
    while (flushing) await flushing;
  };
  return grouped;
}

/** Prepared statements kept per connection: every SQL text the store sends (a few dozen) fits. */
const MAX_PREPARED = 256;

/** Rows of VALUES a kept text may have. */
const MAX_KEPT_ROWS = 4;

/**
 * A data statement of a fixed text. Texts whose length follows the call (more than MAX_KEPT_ROWS
 * rows of VALUES, an IN list of placeholders) are prepared for their call alone: kept, each size
 * would hold its compiled statement in native memory for good and use up MAX_PREPARED. A few rows
 * are kept: preparing a write to keyv's table compiles its triggers too (≈ 150 µs of CPU an entry
 * write, BENCHMARKS.md, bench 2, session 10).
 */
function isKeptText(sql: string): boolean {
  return (
    /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i.test(sql) &&
    (sql.match(/\)\s*,\s*\(\s*\?/g)?.length ?? 0) < MAX_KEPT_ROWS &&
    !/\bIN\s*\(\s*\?\s*,/i.test(sql)
  );
}

/**
 * One read-write connection whose data statements stay prepared, keyed by their SQL text. Calls on
 * one statement queue behind each other in node-sqlite3, as calls on the one connection do anyway.
 * Schema statements (PRAGMA, CREATE) run once and are not kept; past MAX_PREPARED texts a statement
 * is prepared for its call alone, as before (none is evicted, so none is finalized under a caller).
 */
async function openConnection(path: string, busyTimeoutMs: number): Promise<{ query: SqlQuery; close(): Promise<void> }> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened: sqlite3.Database = new sqlite3.Database(path, (error) => (error ? reject(error) : resolve(opened)));
  });
  db.configure('busyTimeout', busyTimeoutMs);
  const prepared = new Map<string, Promise<sqlite3.Statement>>();
  const prepare = (sql: string) =>
    new Promise<sqlite3.Statement>((resolve, reject) => {
      const statement: sqlite3.Statement = db.prepare(sql, (error) => (error ? reject(error) : resolve(statement)));
    });
  const run = (statement: sqlite3.Statement, params: unknown[]) =>
    new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
      statement.all(...params, (error: Error | null, rows: Array<Record<string, unknown>>) => {
        if (!error) return resolve(rows);
        // A step that failed (busy, constraint) leaves the statement mid-way: reset it for the next caller.
        statement.reset(() => reject(error));
      });
    });
  const all = (sql: string, params: unknown[]) =>
    new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
      db.all(sql, ...params, (error: Error | null, rows: Array<Record<string, unknown>>) => (error ? reject(error) : resolve(rows)));
    });
  // Calls on kept statements still running: close() waits for them before finalising any.
  let closing = false;
  let running = 0;
  let idle: (() => void) | undefined;
  return {
    async query(sql, ...params) {
      // Once closing has begun, no kept statement starts: they are being finalised.
      let statement = closing ? undefined : prepared.get(sql);
      if (!statement) {
        if (closing || prepared.size >= MAX_PREPARED || !isKeptText(sql)) return all(sql, params);
        statement = prepare(sql);
        prepared.set(sql, statement);
        // A statement that does not prepare is not kept: the next call reports its error afresh.
        statement.catch(() => prepared.delete(sql));
      }
      running += 1;
      try {
        return await run(await statement, params);
      } finally {
        running -= 1;
        if (running === 0) idle?.();
      }
    },
    async close() {
      closing = true;
      if (running > 0) await new Promise<void>((resolve) => (idle = resolve));
      const statements = await Promise.allSettled(prepared.values());
      prepared.clear();
      for (const settled of statements) {
        if (settled.status === 'fulfilled') await new Promise<void>((resolve) => settled.value.finalize(() => resolve()));
      }
      await new Promise<void>((resolve, reject) => db.close((error) => (error ? reject(error) : resolve())));
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
/**
 * Cached entries, a row each, so a refresh writes what changed (one new entry: one row, not the
 * list). A write is one INSERT into the view `fp_entry_writes`, whose trigger applies each row in
 * order: `keep` (entry_id: the key of an earlier release's whole list; body: the ids kept) removes
 * the rows not kept and that list, `put` writes one entry, `record` one keyv row (the revision; a create's records), `member`
 * one set member, `add` adds to one counter (entry_id: its key; body: `[key, field, by]`).
 * One statement is one atomic step: no reader sees the revision without its entries. The view and
 * trigger are TEMP, made by each connection that opens the store: nothing of them is in the file.
 */
async function createEntryTable(query: SqlQuery): Promise<void> {
  await query(`CREATE TABLE IF NOT EXISTS fp_entries(
    source_id TEXT NOT NULL, entry_id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY(source_id, entry_id))`);
  await query('CREATE TEMP VIEW IF NOT EXISTS fp_entry_writes(source_id, op, entry_id, body) AS SELECT NULL, NULL, NULL, NULL');
  await query(`CREATE TEMP TRIGGER IF NOT EXISTS fp_entry_write INSTEAD OF INSERT ON fp_entry_writes BEGIN
    DELETE FROM fp_entries WHERE NEW.op = 'keep' AND source_id = NEW.source_id
      AND entry_id NOT IN (SELECT value FROM json_each(NEW.body));
    DELETE FROM ${KEYV_TABLE} WHERE NEW.op = 'keep' AND key = NEW.entry_id;
    INSERT INTO fp_entries(source_id, entry_id, body) SELECT NEW.source_id, NEW.entry_id, NEW.body WHERE NEW.op = 'put'
      ON CONFLICT(source_id, entry_id) DO UPDATE SET body = excluded.body;
    INSERT INTO ${KEYV_TABLE}(key, value) SELECT NEW.entry_id, NEW.body WHERE NEW.op = 'record'
      ON CONFLICT(key) DO UPDATE SET value = excluded.value;
    INSERT INTO fp_sets(name, member) SELECT NEW.entry_id, NEW.body WHERE NEW.op = 'member'
      ON CONFLICT(name, member) DO NOTHING;
    INSERT INTO fp_fields(key, field, value) SELECT NEW.entry_id, json_extract(NEW.body, '$[1]'), json_extract(NEW.body, '$[2]')
      WHERE NEW.op = 'add'
      ON CONFLICT(key, field) DO UPDATE SET value = CAST(fp_fields.value AS INTEGER) + excluded.value;
  END`);
}

/**
 * writeAtomically's writes: one INSERT into the view `fp_writes`, whose trigger applies each row in
 * order — `if-member` raises (undoing the statement, so nothing of it is written) unless the member
 * (value) is in the set (name), `record` one keyv row (name: its key; value: its text), `delete` one,
 * `member` and `unmember` one set member (name: the set), `add` one counter (counter: `[key, field,
 * by]`), and an `unmember` with a counter adds to it first, only while the member is there: a
 * removal counted once. Apart from fp_entry_writes, so a refresh's entry writes run no statement of
 * these. TEMP, as that view is.
 */
async function createAtomicWrites(query: SqlQuery): Promise<void> {
  await query('CREATE TEMP VIEW IF NOT EXISTS fp_writes(op, name, value, counter) AS SELECT NULL, NULL, NULL, NULL');
  await query(`CREATE TEMP TRIGGER IF NOT EXISTS fp_write INSTEAD OF INSERT ON fp_writes BEGIN
    SELECT RAISE(ABORT, '${CHANGED_SINCE_READ}') WHERE NEW.op = 'if-unchanged'
      AND NOT EXISTS (SELECT 1 FROM ${KEYV_TABLE} WHERE key = NEW.name AND value = NEW.value);
    INSERT INTO ${KEYV_TABLE}(key, value) SELECT NEW.name, NEW.value WHERE NEW.op = 'record'
      ON CONFLICT(key) DO UPDATE SET value = excluded.value;
    DELETE FROM ${KEYV_TABLE} WHERE NEW.op = 'delete' AND key = NEW.name;
    INSERT INTO fp_sets(name, member) SELECT NEW.name, NEW.value WHERE NEW.op = 'member'
      ON CONFLICT(name, member) DO NOTHING;
    INSERT INTO fp_fields(key, field, value)
      SELECT json_extract(NEW.counter, '$[0]'), json_extract(NEW.counter, '$[1]'), json_extract(NEW.counter, '$[2]')
      WHERE NEW.op = 'add' OR (NEW.op = 'unmember' AND NEW.counter IS NOT NULL
        AND EXISTS (SELECT 1 FROM fp_sets WHERE name = NEW.name AND member = NEW.value))
      ON CONFLICT(key, field) DO UPDATE SET value = CAST(fp_fields.value AS INTEGER) + excluded.value;
    DELETE FROM fp_sets WHERE NEW.op = 'unmember' AND name = NEW.name AND member = NEW.value;
  END`);
}

/** The message of the RAISE that refuses a conditional atomic write (sqlite3 prefixes its code). */
const CHANGED_SINCE_READ = 'fp_writes: changed since read';

async function createChangeLog(query: SqlQuery): Promise<void> {
  // The same DDL @keyv/sqlite runs, so the triggers can be made before it has run its own.
  await query(`CREATE TABLE IF NOT EXISTS ${KEYV_TABLE}(key VARCHAR(255) PRIMARY KEY, value TEXT )`);
  await query('CREATE TABLE IF NOT EXISTS fp_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL)');
  for (const [event, row] of [
    ['INSERT', 'new'],
    ['UPDATE', 'new'],
    ['DELETE', 'old'],
  ] as const) {
    await query(
      `CREATE TRIGGER IF NOT EXISTS fp_changes_${event.toLowerCase()} AFTER ${event} ON ${KEYV_TABLE} BEGIN INSERT INTO fp_changes(key) VALUES (${row}.key); END`,
    );
  }
  await query(
    `CREATE TRIGGER IF NOT EXISTS fp_changes_trim AFTER INSERT ON fp_changes BEGIN DELETE FROM fp_changes WHERE seq <= new.seq - ${CHANGE_LOG_ROWS}; END`,
  );
}

interface SqliteWatch {
  sync: RecordWatch['sync'];
  checking: NonNullable<RecordWatch['checking']>;
  /** Asks for a new check at once (this process wrote). */
  recheck: () => void;
  /** The watch's end: nothing is trusted from then on. */
  stop: () => void;
  /** Closes the WAL-index file: only once sqlite3's connection is closed (wal-index.ts). */
  closeHeaderFile: () => void;
}

/**
 * The check before a request trusts memory. It must not wait for sqlite3's thread pool, so it is
 * one read of the WAL-index header (wal-index.ts), which every commit of every connection moves:
 * unmoved, memory is trusted. Moved, it is not until the change log, read through sqlite3, has
 * delivered every key written since to the listener; meanwhile `checking` answers that read, which
 * a caller waits for rather than reading the store (published-cache.ts).
 *
 * Once per turn of the event loop, not once per request: the requests answered in one turn were all
 * read from their sockets before it began, so a write committed before any of them was sent is seen
 * by the check that precedes them. (Exception: libuv reads a second batch of sockets in the same turn
 * when the first filled its 1,024 slots.) This process's own writes also ask for a new check at once
 * (`recheck`), whatever the turn.
 */
async function watchSqliteChanges(path: string, query: SqlQuery, prefixes: string[], listener: RecordChangeListener): Promise<SqliteWatch> {
  // A private in-memory database has no second connection to see it: nothing kept from it is trusted.
  if (path === ':memory:')
    return {
      sync: () => false,
      checking: () => undefined,
      recheck: () => undefined,
      stop: () => undefined,
      closeHeaderFile: () => undefined,
    };
  const namespaced = prefixes.map((prefix) => `${KEYV_NAMESPACE}:${prefix}`);
  const header = openWalIndexHeader(path);
  // The header before the log: a commit after this look moves it, and the next check reads the log.
  header.moved();
  const [last] = await query('SELECT max(seq) AS seq FROM fp_changes');
  let seen = Number(last?.seq ?? 0);
  let open = true;
  // The change log was read after the header last moved, and nothing failed since (nothing is kept
  // from before the watch began, so there is nothing to forget yet).
  let trusted = true;
  let reading: Promise<void> | undefined;
  let checked = false;
  const nextTurn = () => {
    checked = false;
  };

  async function readChangeLog(): Promise<void> {
    try {
      const rows = await query('SELECT seq, key FROM fp_changes WHERE seq > ? ORDER BY seq', seen);
      if (!open) return;
      // A first row past the next number: the log was trimmed past what we saw (or a write rolled back).
      if (rows.length > 0 && Number(rows[0]!.seq) !== seen + 1) listener(undefined);
      for (const row of rows) {
        seen = Number(row.seq);
        const key = String(row.key);
        if (namespaced.some((prefix) => key.startsWith(prefix))) listener(key.slice(KEYV_NAMESPACE.length + 1));
      }
      trusted = true;
    } catch {
      trusted = false; // the store is closing or failed: the next check reads again
    } finally {
      reading = undefined;
      // The next sync() looks at the header again, even in this turn: a commit after the read began
      // moved it, and must not be trusted as read.
      checked = false;
    }
  }

  return {
    sync() {
      if (!open) return false;
      if (checked) return trusted;
      checked = true;
      setImmediate(nextTurn);
      // Not looked at while the log is read: the header seen before the read is what the next look
      // compares with, so a commit the read may have missed moves it.
      if (reading) return false;
      if (!header.moved() && trusted) return true;
      trusted = false;
      reading = readChangeLog();
      return false;
    },
    checking: () => reading,
    recheck: nextTurn,
    stop() {
      open = false;
    },
    closeHeaderFile() {
      open = false;
      header.close();
    },
  };
}
