// The due index: sources by the time they are next due, so a scheduler tick reads what is due and
// nothing else, and instances sharing a store claim disjoint sources. It is derived from the stored
// source record, inside the backend, in one atomic step (a SQL statement reading the record's JSON;
// a Lua script on Redis): whatever order concurrent writers run in, the last sync after the last
// write of a record reads that write, so the index cannot keep a stale time.
//
// A claim moves a due source's time to `now + leaseMs` in the same atomic step that reads it: two
// schedulers never take the same source, and the claim of a worker that dies lapses by itself
// (the source is due again at the lease's end). Finishing a refresh writes the record, and its sync
// replaces the claim with the record's own next time.
//
// Both implementations read the record where keyv stores it (`{"value": record}` under the record's
// raw key); kv.ts, the only module that knows keyv, hands over that key mapping.
import { createHash } from 'node:crypto';

export interface DueIndex {
  /**
   * True when the backend re-derives a source's entry inside the very statement that writes or
   * deletes its record (SQLite triggers): a caller need not sync after its own writes.
   */
  readonly derivedOnWrite?: boolean;
  /** Makes each source's index entry match its stored record (no entry once the record is gone). */
  syncDue(sources: Array<{ id: string; recordKey: string }>): Promise<void>;
  /** Takes up to `limit` sources due at `now`, most overdue first, for `leaseMs`. */
  claimDue(now: Date, limit: number, leaseMs: number): Promise<string[]>;
  /** Sources failing since a time in (after, until]: the stale marker's candidates. */
  failingBetween(after: Date | undefined, until: Date): Promise<string[]>;
  /** Indexed sources by status, from counters kept with the index (no scan). */
  countByStatus(): Promise<Record<string, number>>;
  /** Entries in the index with a due time (tests, benchmarks). */
  dueIndexSize(): Promise<number>;
}

/** Statuses that wait for the user: no due time, never claimed. */
const WAITING = ['disabled', 'unauthorized'];
/** Statuses with no failure under way: no stale marker to plan. */
const HEALTHY = ['ok', 'new'];

type SqlQuery = (sql: string, ...params: unknown[]) => Promise<Array<Record<string, unknown>>>;

const list = (values: string[]) => values.map((value) => `'${value}'`).join(', ');
/**
 * Derives one source's entry from its stored record (params: id, keyv's raw key). Exported for bulk
 * fills that write records outside keyv (bench/due-index.ts), so they index exactly as a sync does.
 * `WHERE s IS NOT NULL` also keeps SQLite's parser from reading ON CONFLICT as part of the SELECT.
 */
export const SQLITE_DUE_UPSERT = dueUpsertFrom('?', 'keyv WHERE key = ?');

function dueUpsertFrom(id: string, rows: string): string {
  return `
    INSERT INTO fp_due(id, due_at, failing_since, status)
    SELECT ${id}, CASE WHEN s IN (${list(WAITING)}) THEN NULL WHEN r IS NOT NULL AND r > n THEN r ELSE n END,
           CASE WHEN s IN (${list(HEALTHY)}) THEN NULL ELSE coalesce(ls, ca) END, s
    FROM (SELECT json_extract(value, '$.value.status') AS s, json_extract(value, '$.value.nextFetchAt') AS n,
                 json_extract(value, '$.value.retryAfterUntil') AS r, json_extract(value, '$.value.lastSuccessAt') AS ls,
                 json_extract(value, '$.value.createdAt') AS ca
          FROM ${rows})
    WHERE s IS NOT NULL
    ON CONFLICT(id) DO UPDATE SET due_at = excluded.due_at, failing_since = excluded.failing_since, status = excluded.status`;
}

/**
 * SQLite: a table of our own beside keyv's, with its times as ISO text (what the records hold:
 * toISOString() sorts as it compares), indexed by due time and by failing time, and counters per
 * status kept by triggers so the status gauge reads a handful of rows.
 */
export async function openSqliteDueIndex(query: SqlQuery, rawKeyOf: (recordKey: string) => string): Promise<DueIndex> {
  await query(
    'CREATE TABLE IF NOT EXISTS fp_due(id TEXT PRIMARY KEY, due_at TEXT, failing_since TEXT, status TEXT NOT NULL) WITHOUT ROWID',
  );
  await query('CREATE INDEX IF NOT EXISTS fp_due_by_time ON fp_due(due_at)');
  await query('CREATE INDEX IF NOT EXISTS fp_due_by_failing ON fp_due(failing_since) WHERE failing_since IS NOT NULL');
  await query('CREATE TABLE IF NOT EXISTS fp_due_counts(status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID');
  // Not INSERT OR IGNORE: inside a trigger the outer statement's conflict policy would override it.
  const countIn = (row: string) =>
    `INSERT INTO fp_due_counts SELECT ${row}.status, 0 WHERE NOT EXISTS (SELECT 1 FROM fp_due_counts WHERE status = ${row}.status);
     UPDATE fp_due_counts SET n = n + 1 WHERE status = ${row}.status;`;
  const countOut = (row: string) => `UPDATE fp_due_counts SET n = n - 1 WHERE status = ${row}.status;`;
  await query(`CREATE TRIGGER IF NOT EXISTS fp_due_counted_in AFTER INSERT ON fp_due BEGIN ${countIn('NEW')} END`);
  await query(`CREATE TRIGGER IF NOT EXISTS fp_due_counted_out AFTER DELETE ON fp_due BEGIN ${countOut('OLD')} END`);
  await query(
    `CREATE TRIGGER IF NOT EXISTS fp_due_counted_move AFTER UPDATE OF status ON fp_due WHEN OLD.status IS NOT NEW.status
     BEGIN ${countOut('OLD')} ${countIn('NEW')} END`,
  );
  // The entry is re-derived by the statement that writes the record (keyv's upsert, or its delete):
  // no second statement per write, and no moment at which record and index disagree.
  const sourceRow = (row: string, prefix: string) => `substr(${row}.key, 1, ${prefix.length}) = '${prefix}'`;
  const prefix = rawKeyOf('source:');
  const idOf = (row: string) => `substr(${row}.key, ${prefix.length + 1})`;
  for (const event of ['INSERT', 'UPDATE'] as const) {
    await query(
      `CREATE TRIGGER IF NOT EXISTS fp_due_derive_${event.toLowerCase()} AFTER ${event} ON keyv WHEN ${sourceRow('NEW', prefix)}
       BEGIN ${dueUpsertFrom(idOf('NEW'), '(SELECT NEW.value AS value)')}; END`,
    );
  }
  await query(
    `CREATE TRIGGER IF NOT EXISTS fp_due_derive_delete AFTER DELETE ON keyv WHEN ${sourceRow('OLD', prefix)} BEGIN DELETE FROM fp_due WHERE id = ${idOf('OLD')}; END`,
  );

  return {
    derivedOnWrite: true,
    async syncDue(sources) {
      for (const { id, recordKey } of sources) {
        const raw = rawKeyOf(recordKey);
        await query('DELETE FROM fp_due WHERE id = ? AND NOT EXISTS (SELECT 1 FROM keyv WHERE key = ?)', id, raw);
        await query(SQLITE_DUE_UPSERT, id, raw);
      }
    },
    async claimDue(now, limit, leaseMs) {
      // One statement: SQLite's write lock makes the read and the move one step across processes.
      const rows = await query(
        `UPDATE fp_due SET due_at = ? WHERE id IN (SELECT id FROM fp_due WHERE due_at <= ? ORDER BY due_at LIMIT ?)
         RETURNING id`,
        new Date(now.getTime() + leaseMs).toISOString(),
        now.toISOString(),
        limit,
      );
      return rows.map((row) => String(row.id));
    },
    async failingBetween(after, until) {
      const rows = after
        ? await query('SELECT id FROM fp_due WHERE failing_since > ? AND failing_since <= ?', after.toISOString(), until.toISOString())
        : await query('SELECT id FROM fp_due WHERE failing_since <= ?', until.toISOString());
      return rows.map((row) => String(row.id));
    },
    async countByStatus() {
      const rows = await query('SELECT status, n FROM fp_due_counts WHERE n > 0');
      return Object.fromEntries(rows.map((row) => [String(row.status), Number(row.n)]));
    },
    async dueIndexSize() {
      const rows = await query('SELECT count(*) AS n FROM fp_due WHERE due_at IS NOT NULL');
      return Number(rows[0]?.n ?? 0);
    },
  };
}

// Redis -----------------------------------------------------------------------------------------

/** The few Redis calls the index needs, so this module never imports the client library. */
export interface RedisScripting {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  zCard(key: string): Promise<number>;
  hGetAll(key: string): Promise<Record<string, string>>;
}

/** ISO-8601 UTC (as toISOString writes it) to epoch milliseconds, in Redis's Lua 5.1. */
const LUA_ISO_MS = `
local function iso_ms(iso)
  if type(iso) ~= 'string' then return nil end
  local y, mo, d, h, mi, s, frac = string.match(iso, '^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)Z$')
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
  local days = era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
  local ms = 0
  if frac ~= '' then ms = tonumber(string.sub(frac .. '000', 1, 3)) end
  return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(s) * 1000 + ms
end
`;

const luaSet = (values: string[]) => `{${values.map((value) => `['${value}'] = true`).join(', ')}}`;

/**
 * KEYS: record, due zset, failing zset, status hash (id → status), counts hash (status → n).
 * ARGV: source id. Scores are epoch ms; 13-digit integers survive Lua's number formatting.
 */
const SYNC_SCRIPT = `${LUA_ISO_MS}
local WAITING = ${luaSet(WAITING)}
local HEALTHY = ${luaSet(HEALTHY)}
local id = ARGV[1]
local raw = redis.call('GET', KEYS[1])
local old = redis.call('HGET', KEYS[4], id)
local record = nil
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and type(decoded.value) == 'table' then record = decoded.value end
end
if not record or type(record.status) ~= 'string' then
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  if old then
    redis.call('HDEL', KEYS[4], id)
    redis.call('HINCRBY', KEYS[5], old, -1)
  end
  return 0
end
local status = record.status
local due = iso_ms(record.nextFetchAt)
local retry = iso_ms(record.retryAfterUntil)
if due and retry and retry > due then due = retry end
if WAITING[status] or not due then redis.call('ZREM', KEYS[2], id) else redis.call('ZADD', KEYS[2], due, id) end
local since = nil
if not HEALTHY[status] then since = iso_ms(record.lastSuccessAt) or iso_ms(record.createdAt) end
if since then redis.call('ZADD', KEYS[3], since, id) else redis.call('ZREM', KEYS[3], id) end
if old ~= status then
  redis.call('HSET', KEYS[4], id, status)
  if old then redis.call('HINCRBY', KEYS[5], old, -1) end
  redis.call('HINCRBY', KEYS[5], status, 1)
end
return 1
`;

/** KEYS: due zset. ARGV: now (ms), limit, lease end (ms). Read and move in one script: atomic. */
const CLAIM_SCRIPT = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
return ids
`;

/** KEYS: failing zset. ARGV: after (exclusive, or -inf), until (ms). */
const FAILING_SCRIPT = "return redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])";

/**
 * The sync of one source's due-index entries as a script call: openRedisDueIndex's syncDue sends
 * it alone; a create queues it in the MULTI that writes the record (redis-store.ts writeEntries),
 * so the source is never listed without being scheduled.
 */
export function redisDueSyncCall(
  prefix: string,
  rawRecordKey: string,
  id: string,
): { script: string; keys: string[]; arguments: string[] } {
  const keys = [rawRecordKey, `${prefix}due`, `${prefix}due:failing`, `${prefix}due:status`, `${prefix}due:counts`];
  return { script: SYNC_SCRIPT, keys, arguments: [id] };
}

/**
 * Redis: a sorted set by due time (`<prefix>due`), one by failing time (`<prefix>due:failing`), a
 * hash of each source's indexed status and one of counts per status — all changed by one script.
 */
export function openRedisDueIndex(client: RedisScripting, prefix: string, rawKeyOf: (recordKey: string) => string): DueIndex {
  // By digest once Redis knows the script: a sync per refresh need not send 2 KB of Lua.
  const shas = new Map<string, string>();
  const run = async (script: string, options: { keys: string[]; arguments: string[] }) => {
    let sha = shas.get(script);
    if (!sha) shas.set(script, (sha = createHash('sha1').update(script).digest('hex')));
    try {
      return await client.evalSha(sha, options);
    } catch (error) {
      if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
      return client.eval(script, options); // loads it (a restarted or flushed Redis forgets scripts)
    }
  };
  const dueKey = `${prefix}due`;
  const failingKey = `${prefix}due:failing`;
  const countsKey = `${prefix}due:counts`;
  return {
    async syncDue(sources) {
      // Sent together: the client pipelines them; each script is atomic on its own.
      await Promise.all(
        sources.map(({ id, recordKey }) => {
          const { script, ...call } = redisDueSyncCall(prefix, rawKeyOf(recordKey), id);
          return run(script, call);
        }),
      );
    },
    async claimDue(now, limit, leaseMs) {
      const ids = await run(CLAIM_SCRIPT, {
        keys: [dueKey],
        arguments: [String(now.getTime()), String(limit), String(now.getTime() + leaseMs)],
      });
      return (ids as unknown[]).map(String);
    },
    async failingBetween(after, until) {
      const ids = await run(FAILING_SCRIPT, {
        keys: [failingKey],
        arguments: [after ? `(${after.getTime()}` : '-inf', String(until.getTime())],
      });
      return (ids as unknown[]).map(String);
    },
    async countByStatus() {
      const counts = await client.hGetAll(countsKey);
      return Object.fromEntries(
        Object.entries(counts)
          .filter(([, n]) => Number(n) > 0)
          .map(([status, n]) => [status, Number(n)]),
      );
    },
    async dueIndexSize() {
      return client.zCard(dueKey);
    },
  };
}
