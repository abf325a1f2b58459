// The Redis backend of KeyValueStore (kv.ts): records through keyv, sets, leases, counters and
// windows with Redis's own atomic commands and Lua, the due index (due-index.ts), and watchers fed
// by CLIENT TRACKING. Connections fail fast at start and never queue commands while down.
import KeyvRedis, { createClient } from '@keyv/redis';
import Keyv from 'keyv';
import { openRedisDueIndex, redisDueSyncCall } from './due-index.js';
import { keyvTextOf, keyvValueOf, NATIVE_JSON, recordsThrough } from './keyv-records.js';
import { key } from './keys.js';
import {
  MATCHABLE_FIELD,
  type KeyValueStore,
  type LeasedRecord,
  type RecordChangeListener,
  type RecordWatch,
  type StoredEntryTexts,
} from './kv.js';

type RedisClient = ReturnType<typeof createClient>;

/** Deletes the key only while `owner` holds it: a lease that lapsed and was taken by another stays theirs. */
const RELEASE_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
/** raiseField as one step: the field set to the value unless it holds more; answers what it holds, as text (no rounding on the way back). */
const RAISE_FIELD_SCRIPT = `local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and tonumber(held) >= tonumber(ARGV[2]) then return held end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]`;
/** Extends the key only while `owner` holds it. */
const RENEW_SCRIPT = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
/**
 * Writes the record only while it exists, its id is in the set, and each expected field (a JSON
 * object; null matches a missing field) is what the record holds. KEYS: record, set. ARGV: new
 * value, member, expected fields. cjson only decodes here: the value written is the caller's bytes.
 */
const SET_IF_MATCHES_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
if not raw or redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 then return 0 end
local ok, decoded = pcall(cjson.decode, raw)
if not ok or type(decoded) ~= 'table' or type(decoded.value) ~= 'table' then return 0 end
for field, want in pairs(cjson.decode(ARGV[3])) do
  local have = decoded.value[field]
  if have == nil then have = cjson.null end
  if have ~= want then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;
/**
 * A source's entries written as one: fields of the hash not kept removed, the entries put, an
 * earlier release's whole list removed, the revision record set, and a set member added when asked.
 * KEYS: hash, whole list, revision[, set]. ARGV: the kept ids (a JSON array), the revision's text[,
 * the set's member], then id and text of each entry put.
 */
const WRITE_ENTRIES_SCRIPT = `
local kept = {}
for _, id in ipairs(cjson.decode(ARGV[1])) do kept[id] = true end
local gone = {}
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not kept[id] then gone[#gone + 1] = id end
end
for start = 1, #gone, 1000 do redis.call('HDEL', KEYS[1], unpack(gone, start, math.min(start + 999, #gone))) end
local first = 3
if #KEYS == 4 then
  redis.call('SADD', KEYS[4], ARGV[3])
  first = 4
end
for start = first, #ARGV, 1000 do redis.call('HSET', KEYS[1], unpack(ARGV, start, math.min(start + 999, #ARGV))) end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[3], ARGV[2])
return 1
`;
/**
 * writeAtomically as one script: its check and its writes run as one step, with no other client's
 * command between them. A script rather than WATCH and MULTI: WATCH needs a connection of its own
 * (it is per connection, and ours is shared) and a retry whenever anything else touched the set
 * (another feed of the user created); and a removal counted once needs SREM's answer within the
 * step, which a MULTI cannot act on. ARGV[1] names the steps, a letter each, and each takes its keys
 * from KEYS and its values from ARGV in turn: `?` set, member: stop, having written nothing, unless
 * the member is there (always the first step); `s` record, text: SET; `d` record: DEL; `m` set,
 * member: SADD; `u` set, member: SREM; `c` set, hash, member, field, by: SREM, then HINCRBY only if
 * it took the member out; `a` hash, field, by: HINCRBY. Answers 1, or 0 when `?` stopped it. (Each
 * call takes one value from a function: Lua leaves the order of a call's arguments unspecified.)
 */
const WRITE_ATOMICALLY_SCRIPT = `
local k, a = 0, 1
local function key() k = k + 1 return KEYS[k] end
local function value() a = a + 1 return ARGV[a] end
for step in string.gmatch(ARGV[1], '.') do
  local first = key()
  if step == '=' then
    if redis.call('GET', first) ~= value() then return 0 end
  elseif step == 's' then redis.call('SET', first, value())
  elseif step == 'd' then redis.call('DEL', first)
  elseif step == 'm' then redis.call('SADD', first, value())
  elseif step == 'u' then redis.call('SREM', first, value())
  elseif step == 'c' then
    local hash = key()
    local member = value()
    local field = value()
    local by = value()
    if redis.call('SREM', first, member) == 1 then redis.call('HINCRBY', hash, field, by) end
  elseif step == 'a' then
    local field = value()
    redis.call('HINCRBY', first, field, value())
  end
end
return 1
`;
/** One hit in a fixed window: the first hit starts it (sets its expiry); answers {count, ms left}. */
const WINDOW_SCRIPT =
  "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end local t = redis.call('PTTL', KEYS[1]) if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) t = tonumber(ARGV[1]) end return {n, t}";

/**
 * Records through keyv (`<prefix>r:<key>`), sets as Redis sets (`<prefix>s:<name>`), leases as
 * plain keys with an expiry (`<prefix>l:<key>`), counters as hashes (`<prefix>h:<key>`), a source's
 * cached entries as a hash by entry id (`<prefix>e:<sourceId>`) — all on one connection.
 */
export async function openRedisStore(url: string, prefix: string): Promise<KeyValueStore> {
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
  const entriesKey = (sourceId: string) => `${prefix}e:${sourceId}`;

  const dueIndex = openRedisDueIndex(
    {
      eval: (script, options) => client.eval(script, options),
      evalSha: (sha, options) => client.evalSha(sha, options),
      zCard: (key) => client.zCard(key),
      hGetAll: async (key) =>
        Object.fromEntries(Object.entries(await client.hGetAll(key)).map(([field, value]) => [String(field), String(value)])),
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
      for (const [key, value] of entries) transaction.set(`${prefix}r:${key}`, keyvTextOf(value));
      await transaction.exec();
    },
    async writeAtomically({ records = [], deletes = [], members = [], removeMembers = [], increments = [], ifUnchanged }) {
      if (records.length + deletes.length + members.length + removeMembers.length + increments.length === 0 && !ifUnchanged) return true;
      // Each step a letter, its keys and values in turn (WRITE_ATOMICALLY_SCRIPT); every key declared.
      const steps: string[] = [];
      const keys: string[] = [];
      const values: string[] = [];
      const step = (letter: string, stepKeys: string[], stepValues: string[]) => {
        steps.push(letter);
        keys.push(...stepKeys);
        values.push(...stepValues);
      };
      if (ifUnchanged) step('=', [`${prefix}r:${ifUnchanged.key}`], [keyvTextOf(ifUnchanged.value)]);
      for (const [recordKey, value] of records) step('s', [`${prefix}r:${recordKey}`], [keyvTextOf(value)]);
      for (const { set, member } of members) step('m', [setKey(set)], [member]);
      for (const { set, member, counted } of removeMembers) {
        if (counted) step('c', [setKey(set), hashKey(counted.key)], [member, counted.field, String(counted.by)]);
        else step('u', [setKey(set)], [member]);
      }
      for (const { key: fieldsKey, field, by } of increments) step('a', [hashKey(fieldsKey)], [field, String(by)]);
      // Deletes last: a command failing as the script runs (which nothing undoes) then leaves a
      // feed's record in place, so a delete run again still finds it and finishes.
      for (const recordKey of deletes) step('d', [`${prefix}r:${recordKey}`], []);
      const written = await client.eval(WRITE_ATOMICALLY_SCRIPT, { keys, arguments: [steps.join(''), ...values] });
      return Number(written) === 1;
    },
    async readEntries(sourceIds) {
      if (sourceIds.length === 0) return [];
      // Each source's hash, an earlier release's whole list and the revision, in one MULTI: a write
      // replacing the list between two separate reads would read as no entries at all.
      const transaction = client.multi();
      for (const id of sourceIds)
        transaction
          .hVals(entriesKey(id))
          .get(`${prefix}r:${key.entries(id)}`)
          .get(`${prefix}r:${key.entriesRevision(id)}`);
      const replies = await transaction.exec();
      return sourceIds.map((_, index) => {
        const stored: StoredEntryTexts = { texts: (replies[3 * index] as unknown as string[]).map(String) };
        const [list, revision] = [replies[3 * index + 1], replies[3 * index + 2]];
        if (list !== null && list !== undefined) stored.list = String(list);
        if (revision !== null && revision !== undefined) stored.revision = String(revision);
        return stored;
      });
    },
    async writeEntries(sourceId, { ids, put, revision, addMember, with: also }) {
      // An even number of ARGV past the first two (id, text pairs): a hash field count HSET accepts.
      const script = {
        keys: [
          entriesKey(sourceId),
          `${prefix}r:${key.entries(sourceId)}`,
          `${prefix}r:${revision.key}`,
          ...(addMember ? [setKey(addMember.set)] : []),
        ],
        arguments: [JSON.stringify(ids), keyvTextOf(revision.value), ...(addMember ? [addMember.member] : []), ...put.flat()],
      };
      if (!also) {
        await client.eval(WRITE_ENTRIES_SCRIPT, script);
        return;
      }
      // A create: the script and the create's other writes in one MULTI, applied as one step.
      const transaction = client.multi().eval(WRITE_ENTRIES_SCRIPT, script);
      for (const [recordKey, value] of also.records) transaction.set(`${prefix}r:${recordKey}`, keyvTextOf(value));
      for (const { set, member } of also.members) transaction.sAdd(setKey(set), member);
      for (const { key: fieldsKey, field, by } of also.increments) transaction.hIncrBy(hashKey(fieldsKey), field, by);
      // After the record's SET: the script derives the source's due time from what it reads.
      for (const { id, recordKey } of also.dueOf ?? []) {
        const { script: dueScript, ...call } = redisDueSyncCall(prefix, `${prefix}r:${recordKey}`, id);
        transaction.eval(dueScript, call);
      }
      await transaction.exec();
    },
    async deleteEntries(sourceId) {
      await client.del([entriesKey(sourceId), `${prefix}r:${key.entries(sourceId)}`]);
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
    async membersOfMany(sets) {
      if (sets.length === 0) return [];
      const transaction = client.multi();
      for (const set of sets) transaction.sMembers(setKey(set));
      const replies = (await transaction.exec()) as unknown as unknown[][];
      return replies.map((members) => members.map(String).sort());
    },
    async removeMembers(set, members) {
      for (let start = 0; start < members.length; start += 1000) await client.sRem(setKey(set), members.slice(start, start + 1000));
    },
    async incrementFields(key, increments) {
      const entries = Object.entries(increments);
      if (entries.length === 0) return;
      const transaction = client.multi();
      for (const [field, by] of entries) transaction.hIncrBy(hashKey(key), field, by);
      await transaction.exec();
    },
    async setFields(key, values, expireMs) {
      if (Object.keys(values).length === 0) return;
      if (expireMs === undefined) await client.hSet(hashKey(key), values);
      else await client.multi().hSet(hashKey(key), values).pExpire(hashKey(key), Math.ceil(expireMs)).exec();
    },
    async raiseField(key, field, value) {
      return Number(await client.eval(RAISE_FIELD_SCRIPT, { keys: [hashKey(key)], arguments: [field, String(value)] }));
    },
    async readFields(key) {
      const fields = await client.hGetAll(hashKey(key));
      return Object.fromEntries(Object.entries(fields).map(([field, value]) => [String(field), String(value)]));
    },
    async deleteFields(key, fields) {
      if (fields === undefined) await client.del(hashKey(key));
      else if (fields.length > 0) await client.hDel(hashKey(key), fields);
    },
    async addToField(key, field, by, expireMs) {
      if (expireMs === undefined) return Number(await client.hIncrBy(hashKey(key), field, by));
      const [total] = await client.multi().hIncrBy(hashKey(key), field, by).pExpire(hashKey(key), Math.ceil(expireMs)).exec();
      return Number(total);
    },
    async hitWindow(key, windowMs) {
      const [count, remainingMs] = (await client.eval(WINDOW_SCRIPT, {
        keys: [windowKey(key)],
        arguments: [String(Math.ceil(windowMs))],
      })) as [number, number];
      return { count: Number(count), remainingMs: Number(remainingMs) };
    },
    async setIfMatches(key, value, match) {
      const expected: Record<string, string | number | null> = {};
      for (const [field, want] of Object.entries(match.fields)) {
        if (!MATCHABLE_FIELD.test(field)) throw new Error(`not a matchable field: ${field}`);
        expected[field] = want ?? null;
      }
      const written = await client.eval(SET_IF_MATCHES_SCRIPT, {
        keys: [`${prefix}r:${key}`, setKey(match.listed.set)],
        arguments: [JSON.stringify({ value }), match.listed.member, JSON.stringify(expected)],
      });
      return Number(written) === 1;
    },
    async acquireLeaseAndGet<T>(key: string, owner: string, ttlMs: number, recordKey: string): Promise<LeasedRecord<T>> {
      // Sent together (the client pipelines them) and run in order: the GET reads under the lease.
      const [taken, raw] = await Promise.all([
        client.set(leaseKey(key), owner, { condition: 'NX', expiration: { type: 'PX', value: Math.ceil(ttlMs) } }),
        client.get(`${prefix}r:${recordKey}`),
      ]);
      if (taken !== 'OK') {
        const renewed = await client.eval(RENEW_SCRIPT, { keys: [leaseKey(key)], arguments: [owner, String(Math.ceil(ttlMs))] });
        if (Number(renewed) !== 1) return { taken: false };
      }
      return { taken: true, value: keyvValueOf<T>(raw) };
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
    async renewLease(key, owner, ttlMs) {
      return Number(await client.eval(RENEW_SCRIPT, { keys: [leaseKey(key)], arguments: [owner, String(Math.ceil(ttlMs))] })) === 1;
    },
    async ping() {
      await client.ping();
    },
    async watchRecords(prefixes, listener) {
      return watchRedisChanges(
        url,
        prefixes.map((watched) => `${prefix}r:${watched}`),
        `${prefix}r:`,
        listener,
      );
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
      .then(() => {
        if (closed) return;
        // What was kept before (or while) the connection was down may have changed unseen.
        listener(undefined);
        tracking = true;
      }, forgetAll);
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
