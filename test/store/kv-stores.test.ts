// The KeyValueStore contract on both backends, each opened twice as two instances would: records
// through keyv, sets that concurrent writers never lose members of, leases that one owner at a
// time holds and that lapse within the heartbeat bound when their holder dies.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKeyValueStore, type KeyValueStore } from '../../src/store/kv.js';
import { deleteRedisKeys, readRedisKeys, REDIS_URL, STORES, uniqueRedisPrefix } from '../helpers/stores.js';

const HEARTBEAT_MS = 300;

describe.each(STORES)('key-value store (%s)', (kind) => {
  let dir: string;
  const prefix = uniqueRedisPrefix();
  const url = () => (kind === 'redis' ? REDIS_URL : `sqlite://${join(dir, 'kv.sqlite')}`);
  const open = () => openKeyValueStore(url(), { prefix, leaseHeartbeatMs: HEARTBEAT_MS });
  let one: KeyValueStore;
  let two: KeyValueStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-kv-'));
    [one, two] = [await open(), await open()];
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    if (kind === 'redis') await deleteRedisKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('raises a field only ever upwards, whichever instance writes last', async () => {
    expect(await one.raiseField('raise:cutoff', 'before', 1_765_000_000_123)).toBe(1_765_000_000_123);
    expect(await two.raiseField('raise:cutoff', 'before', 1_765_000_000_100)).toBe(1_765_000_000_123);
    await Promise.all([5, 9, 7].map((by, index) => (index % 2 ? one : two).raiseField('raise:cutoff', 'before', 1_765_000_000_200 + by)));
    expect(await one.readFields('raise:cutoff')).toEqual({ before: '1765000000209' });
  });

  it('reads on one what the other wrote, one record or many', async () => {
    await one.set('source:1', { id: '1', title: 'ünïcode ✓', nested: { list: [1, 2] } });
    expect(await two.get('source:1')).toEqual({ id: '1', title: 'ünïcode ✓', nested: { list: [1, 2] } });
    expect(await two.getMany(['source:1', 'source:none'])).toEqual([{ id: '1', title: 'ünïcode ✓', nested: { list: [1, 2] } }, undefined]);
    await two.delete('source:1');
    expect(await one.get('source:1')).toBeUndefined();
    expect(await one.getMany([])).toEqual([]);
  });

  it('writes several records at once (setMany) in the format keyv reads, over what was there', async () => {
    await one.set('entries:9', ['old']);
    await one.setMany([
      ['entries:9', [{ id: 'a', title: 'ü ✓' }]],
      ['entries-rev:9', 'r2'],
    ]);
    expect(await two.getMany(['entries:9', 'entries-rev:9'])).toEqual([[{ id: 'a', title: 'ü ✓' }], 'r2']);
    // Many keys matched to rows by key, in the order asked (the SQLite store's own getMany).
    const keys = Array.from({ length: 300 }, (_, index) => `bulk:${index}`);
    await one.setMany(keys.map((key, index) => [key, index]));
    expect(await two.getMany([...keys].reverse())).toEqual(keys.map((_, index) => index).reverse());
  });

  it("writes a create's records, set members and counters in the entries' atomic step (writeEntries with)", async () => {
    await one.addToField('counts:c1', 'cachedBytes', 10);
    await one.writeEntries('c1', {
      ids: ['a'],
      put: [['a', '{"id":"a"}']],
      revision: { key: 'entries-rev:c1', value: 'r1' },
      with: {
        records: [
          ['created:c1', { id: 'c1', title: 'ü ✓' }],
          ['created-url:c1', 'c1'],
        ],
        members: [
          { set: 'created:all', member: 'c1' },
          { set: 'created:user', member: 'c1' },
        ],
        increments: [{ key: 'counts:c1', field: 'cachedBytes', by: 32 }],
      },
    });
    expect((await two.readEntries(['c1']))[0]!.texts).toEqual(['{"id":"a"}']);
    expect(await two.getMany(['created:c1', 'created-url:c1', 'entries-rev:c1'])).toEqual([{ id: 'c1', title: 'ü ✓' }, 'c1', 'r1']);
    expect(await two.membersOfMany(['created:all', 'created:user'])).toEqual([['c1'], ['c1']]);
    expect(await two.readFields('counts:c1')).toEqual({ cachedBytes: '42' });
  });

  it('writes records, deletes, set members in and out and counters in one atomic step (writeAtomically)', async () => {
    await one.setMany([
      ['atomic:gone', 'old'],
      ['atomic:kept', 'kept'],
    ]);
    await one.addMember('atomic:out', 'f1');
    await one.addMember('atomic:out', 'f2');
    await one.addToField('atomic:counts', 'feeds', 2);
    await one.writeAtomically({
      records: [
        ['atomic:f1', { id: 'f1', title: 'ü ✓' }],
        ['atomic:token', 'f1'],
      ],
      deletes: ['atomic:gone', 'atomic:never-there'],
      members: [
        { set: 'atomic:in', member: 'f1' },
        { set: 'atomic:in', member: 'f1' },
      ],
      removeMembers: [{ set: 'atomic:out', member: 'f1' }],
      increments: [{ key: 'atomic:counts', field: 'feeds', by: -1 }],
    });
    expect(await two.getMany(['atomic:f1', 'atomic:token', 'atomic:gone', 'atomic:kept'])).toEqual([
      { id: 'f1', title: 'ü ✓' },
      'f1',
      undefined,
      'kept',
    ]);
    expect(await two.membersOfMany(['atomic:in', 'atomic:out'])).toEqual([['f1'], ['f2']]);
    expect(await two.readFields('atomic:counts')).toEqual({ feeds: '1' });
    await one.writeAtomically({}); // nothing to write: no round trip, no error
  });

  it('writes atomically only while a record is unchanged (ifUnchanged): refused, nothing of it is written', async () => {
    await one.set('cond:f1', { title: 'before', n: 1 });
    await one.addMember('cond:out', 'f1');
    await one.addToField('cond:counts', 'feeds', 1);
    await one.set('cond:gone', 'kept');
    const write = {
      records: [['cond:f1', { title: 'after', n: 2 }] as [string, unknown], ['cond:token', 'f1'] as [string, unknown]],
      deletes: ['cond:gone'],
      members: [{ set: 'cond:in', member: 'f1' }],
      removeMembers: [{ set: 'cond:out', member: 'f1' }],
      increments: [{ key: 'cond:counts', field: 'feeds', by: 1 }],
    };
    // Changed since it was read (another writer's record), or gone: none of the write applies.
    for (const read of [{ title: 'before', n: 0 }, { title: 'read when it was other' }]) {
      expect(await two.writeAtomically({ ...write, ifUnchanged: { key: 'cond:f1', value: read } })).toBe(false);
      expect(await one.getMany(['cond:f1', 'cond:token', 'cond:gone'])).toEqual([{ title: 'before', n: 1 }, undefined, 'kept']);
      expect(await one.membersOfMany(['cond:in', 'cond:out'])).toEqual([[], ['f1']]);
      expect(await one.readFields('cond:counts')).toEqual({ feeds: '1' });
    }
    expect(await two.writeAtomically({ ifUnchanged: { key: 'cond:missing', value: 'x' } })).toBe(false);
    // Unchanged since read (as read back through the other connection): the whole write applies.
    const read = await two.get('cond:f1');
    expect(await two.writeAtomically({ ...write, ifUnchanged: { key: 'cond:f1', value: read } })).toBe(true);
    expect(await one.getMany(['cond:f1', 'cond:token', 'cond:gone'])).toEqual([{ title: 'after', n: 2 }, 'f1', undefined]);
    expect(await one.membersOfMany(['cond:in', 'cond:out'])).toEqual([['f1'], []]);
    expect(await one.readFields('cond:counts')).toEqual({ feeds: '2' });
  });

  it('counts a removal only when it took the member out: two removals at once count once', async () => {
    await one.addMember('counted:feeds', 'f1');
    await one.addMember('counted:source', 'f1');
    await one.addToField('counted:counts', 'feeds', 3);
    const remove = (store: KeyValueStore) =>
      store.writeAtomically({
        deletes: ['counted:f1'],
        removeMembers: [
          { set: 'counted:feeds', member: 'f1', counted: { key: 'counted:counts', field: 'feeds', by: -1 } },
          { set: 'counted:source', member: 'f1' },
        ],
        // A step after the counted one still lines up with its own key and values (Redis's script).
        increments: [{ key: 'counted:counts', field: 'removals', by: 1 }],
      });
    const written = await Promise.all([remove(one), remove(two), remove(one)]);
    expect(await one.readFields('counted:counts')).toEqual({ feeds: '2', removals: '3' });
    expect(written).toEqual([true, true, true]);
    expect(await two.membersOfMany(['counted:feeds', 'counted:source'])).toEqual([[], []]);
    // A member never there moves no counter, even one that does not exist yet.
    await two.writeAtomically({
      removeMembers: [{ set: 'counted:feeds', member: 'f9', counted: { key: 'counted:none', field: 'feeds', by: -1 } }],
    });
    expect(await one.readFields('counted:none')).toEqual({});
  });

  it("keeps a source's entries a record each: a write puts what it is given and removes what it does not keep", async () => {
    const revision = (value: string) => ({ key: 'entries-rev:e1', value });
    await one.writeEntries('e1', {
      ids: ['a', 'b', 'c'],
      put: [
        ['a', '{"id":"a","title":"ü ✓"}'],
        ['b', '{"id":"b"}'],
        ['c', '{"id":"c"}'],
      ],
      revision: revision('r1'),
    });
    const read = async (id: string) => ((await two.readEntries([id]))[0]!.texts ?? []).sort();
    expect(await read('e1')).toEqual(['{"id":"a","title":"ü ✓"}', '{"id":"b"}', '{"id":"c"}']);
    expect(await two.get('entries-rev:e1')).toBe('r1');
    // Each instance writes one entry: neither write touches the entry it did not put.
    await two.writeEntries('e1', { ids: ['a', 'b', 'c'], put: [['b', '{"id":"b","by":"two"}']], revision: revision('r2') });
    await one.writeEntries('e1', { ids: ['a', 'b', 'c'], put: [['a', '{"id":"a","by":"one"}']], revision: revision('r3') });
    expect(await read('e1')).toEqual(['{"id":"a","by":"one"}', '{"id":"b","by":"two"}', '{"id":"c"}']);
    // An entry no longer kept is removed; many sources are read at once, in the order asked.
    await one.writeEntries('e1', { ids: ['b', 'd'], put: [['d', '{"id":"d"}']], revision: revision('r4') });
    await one.writeEntries('e2', { ids: ['x'], put: [['x', '{"id":"x"}']], revision: { key: 'entries-rev:e2', value: 'r1' } });
    const [e2, none, e1] = await two.readEntries(['e2', 'e-none', 'e1']);
    expect([e2!.texts, none!.texts, [...e1!.texts].sort()]).toEqual([['{"id":"x"}'], [], ['{"id":"b","by":"two"}', '{"id":"d"}']]);
    // Each with its revision record's text as stored, read in the same step (none where never written).
    expect([e2!.revision, none!.revision, e1!.revision].map((text) => (text === undefined ? text : JSON.parse(text)))).toEqual([
      { value: 'r1' },
      undefined,
      { value: 'r4' },
    ]);
    expect(JSON.parse((await two.readEntries(['e1']))[0]!.revision!)).toEqual({ value: 'r4' });
    expect(await two.get('entries-rev:e1')).toBe('r4');
    await two.deleteEntries('e1');
    expect((await one.readEntries(['e1']))[0]!.texts).toEqual([]);
  });

  it("reads an earlier release's whole list of entries until the source's next write replaces it", async () => {
    const list = [{ id: 'a', title: 'ü ✓' }, { id: 'b' }];
    await one.set('entries:old', list);
    const [stored] = await two.readEntries(['old']);
    expect(stored!.texts).toEqual([]);
    expect(JSON.parse(stored!.list!)).toEqual({ value: list });
    await two.writeEntries('old', { ids: ['a'], put: [['a', '{"id":"a"}']], revision: { key: 'entries-rev:old', value: 'r1' } });
    expect(await one.readEntries(['old'])).toEqual([{ texts: ['{"id":"a"}'], revision: JSON.stringify({ value: 'r1' }) }]);
    expect(await one.get('entries:old')).toBeUndefined();
    await one.set('entries:old2', list);
    await one.deleteEntries('old2');
    expect(await two.get('entries:old2')).toBeUndefined();
  });

  it('keeps every member of a set written by both at once, listed in order', async () => {
    const members = Array.from({ length: 200 }, (_, index) => `m${String(index).padStart(3, '0')}`);
    await Promise.all(members.map((member, index) => (index % 2 ? one : two).addMember('all', member)));
    expect(await one.members('all')).toEqual(members);
    await Promise.all(members.slice(0, 100).map((member, index) => (index % 2 ? two : one).removeMember('all', member)));
    expect(await two.members('all')).toEqual(members.slice(100));
    expect(await two.members('never-written')).toEqual([]);
  });

  it('lists many sets in one call, in the order asked, and removes many members at once', async () => {
    await Promise.all(['b', 'a', 'c'].map((member) => one.addMember('many-1', member)));
    await one.addMember('many-2', 'z');
    expect(await two.membersOfMany(['many-2', 'many-none', 'many-1'])).toEqual([['z'], [], ['a', 'b', 'c']]);
    expect(await two.membersOfMany([])).toEqual([]);
    const members = Array.from({ length: 1500 }, (_, index) => `r${index}`);
    await Promise.all(members.map((member) => one.addMember('many-3', member)));
    await two.removeMembers('many-3', [...members.slice(0, 1499), 'never-a-member']);
    expect(await one.members('many-3')).toEqual(['r1499']);
    await two.removeMembers('many-3', []);
    expect(await one.members('many-3')).toEqual(['r1499']);
    // A NUL (which SQLite's JSON functions would cut the text at) is listed and removed alike.
    const odd = ['nul\u0000x', 'nul\u0000y', 'plain'];
    for (const member of odd) await one.addMember('many-odd\u0000', member);
    expect(await two.membersOfMany(['many-odd\u0000', 'many-1'])).toEqual([odd, ['a', 'b', 'c']]);
    await two.removeMembers('many-odd\u0000', odd.slice(0, 2));
    expect(await one.members('many-odd\u0000')).toEqual(['plain']);
  });

  it("adds a set member in the same atomic write as a source's entries when asked (a batch's pending-rebuild mark)", async () => {
    const write = (revision: string, addMember?: { set: string; member: string }) =>
      one.writeEntries('m1', {
        ids: ['a'],
        put: [['a', `{"id":"a","rev":"${revision}"}`]],
        revision: { key: 'entries-rev:m1', value: revision },
        ...(addMember ? { addMember } : {}),
      });
    await write('r1');
    expect(await two.members('marks')).toEqual([]);
    await write('r2', { set: 'marks', member: 'm1' });
    expect(await two.members('marks')).toEqual(['m1']);
    expect((await two.readEntries(['m1']))[0]!.texts).toEqual(['{"id":"a","rev":"r2"}']);
    expect(await two.get('entries-rev:m1')).toBe('r2');
    // Again, with the member there already: the write goes through as any other.
    await write('r3', { set: 'marks', member: 'm1' });
    expect((await two.readEntries(['m1']))[0]!.texts).toEqual(['{"id":"a","rev":"r3"}']);
    expect(await two.members('marks')).toEqual(['m1']);
  });

  it('grants a lease to exactly one of many owners asking at once; only the holder releases it', async () => {
    const owners = Array.from({ length: 20 }, (_, index) => `owner-${index}`);
    const granted = await Promise.all(owners.map((owner, index) => (index % 2 ? one : two).acquireLease('refresh:x', owner, 60_000)));
    expect(granted.filter(Boolean)).toHaveLength(1);
    const holder = owners[granted.indexOf(true)]!;
    const other = owners.find((owner) => owner !== holder)!;
    await one.releaseLease('refresh:x', other); // not theirs: nothing happens
    expect(await two.acquireLease('refresh:x', other, 60_000)).toBe(false);
    expect(await one.acquireLease('refresh:x', holder, 60_000)).toBe(true); // the holder renews
    await two.releaseLease('refresh:x', holder);
    expect(await one.acquireLease('refresh:x', other, 60_000)).toBe(true);
    await one.releaseLease('refresh:x', other);
  });

  it('keeps a live holder’s lease past the heartbeat, and lets a dead holder’s lapse within it', async () => {
    const holder = await open();
    expect(await holder.acquireLease('refresh:y', 'holder', 60_000)).toBe(true);
    // Alive: renewed while the refresh runs, though the stored TTL is only the heartbeat.
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * 4));
    expect(await one.acquireLease('refresh:y', 'taker', 60_000)).toBe(false);
    // Dead: no release, no more heartbeats (as after SIGKILL). The 60 s the holder asked for do not bind.
    await holder.close();
    const died = Date.now();
    while (!(await one.acquireLease('refresh:y', 'taker', 60_000))) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(Date.now() - died).toBeLessThan(10_000);
    await one.releaseLease('refresh:y', 'taker');
  });

  it('does not take back, by its heartbeat, a lease released from another process', async () => {
    expect(await one.acquireLease('refresh:z', 'holder', 60_000)).toBe(true);
    await two.releaseLease('refresh:z', 'holder');
    // Several heartbeats of `one`, which still remembers the lease it took.
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * 2));
    expect(await two.acquireLease('refresh:z', 'other', 60_000)).toBe(true);
    await two.releaseLease('refresh:z', 'other');
  });

  it('takes a lease and reads a record in one step, the record as written before; refused, it reads nothing', async () => {
    await two.set('source:leased', { id: 'leased', title: 'as written' });
    const owners = Array.from({ length: 10 }, (_, index) => `reader-${index}`);
    const leased = await Promise.all(
      owners.map((owner, index) => (index % 2 ? one : two).acquireLeaseAndGet('refresh:leased', owner, 60_000, 'source:leased')),
    );
    expect(leased.filter((outcome) => outcome.taken)).toEqual([{ taken: true, value: { id: 'leased', title: 'as written' } }]);
    expect(leased.filter((outcome) => !outcome.taken)).toHaveLength(owners.length - 1);
    const holder = owners[leased.findIndex((outcome) => outcome.taken)]!;
    // The holder again (a renewal), and a record that does not exist.
    expect(await one.acquireLeaseAndGet('refresh:leased', holder, 60_000, 'source:none')).toEqual({ taken: true, value: undefined });
    await two.releaseLease('refresh:leased', holder);
    expect(await one.acquireLease('refresh:leased', 'after', 60_000)).toBe(true);
    await one.releaseLease('refresh:leased', 'after');
  });

  it('writes a record only while its fields and its listing match (setIfMatches)', async () => {
    const record = { id: 'cas', title: 'T', refreshMinutes: 30, urlSealed: 'u1' };
    const match = {
      fields: { title: 'T', refreshMinutes: 30, urlSealed: 'u1', missing: undefined },
      listed: { set: 'cas-listed', member: 'cas' },
    };
    await one.set('source:cas', record);
    // Not listed: nothing written.
    expect(await two.setIfMatches('source:cas', { ...record, etag: 'first' }, match)).toBe(false);
    await one.addMember('cas-listed', 'cas');
    expect(await two.setIfMatches('source:cas', { ...record, etag: 'second' }, match)).toBe(true);
    expect(await one.get('source:cas')).toEqual({ ...record, etag: 'second' });
    // Each field that differs refuses the write: a changed value, a number, a field that appeared.
    for (const changed of [{ title: 'Edited' }, { refreshMinutes: 60 }, { urlSealed: 'u2' }, { missing: 'now set' }]) {
      await one.set('source:cas', { ...record, ...changed });
      expect(await two.setIfMatches('source:cas', { ...record, etag: 'third' }, match)).toBe(false);
      expect(await one.get('source:cas')).toEqual({ ...record, ...changed });
    }
    // A record that is gone is not written back.
    await one.delete('source:cas');
    expect(await two.setIfMatches('source:cas', { ...record, etag: 'fourth' }, match)).toBe(false);
    expect(await one.get('source:cas')).toBeUndefined();
    await one.removeMember('cas-listed', 'cas');
  });

  it('answers each of many callers at once for its own record and lease (the SQLite store groups them into one statement)', async () => {
    const ids = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5'];
    for (const id of ids) {
      await one.set(`source:${id}`, { id, title: 'T', refreshMinutes: 30 });
      await one.addMember('grouped', id);
    }
    // g1 was edited, g2 unlisted: their writes are refused, the others' go through.
    await one.set('source:g1', { id: 'g1', title: 'Edited', refreshMinutes: 30 });
    await one.removeMember('grouped', 'g2');
    const match = (id: string) => ({ fields: { title: 'T', refreshMinutes: 30 }, listed: { set: 'grouped', member: id } });
    const written = await Promise.all(
      ids.map((id) => two.setIfMatches(`source:${id}`, { id, title: 'T', refreshMinutes: 30, etag: id }, match(id))),
    );
    expect(written).toEqual([true, false, false, true, true, true]);
    expect(await one.getMany(ids.map((id) => `source:${id}`))).toEqual([
      { id: 'g0', title: 'T', refreshMinutes: 30, etag: 'g0' },
      { id: 'g1', title: 'Edited', refreshMinutes: 30 },
      { id: 'g2', title: 'T', refreshMinutes: 30 },
      { id: 'g3', title: 'T', refreshMinutes: 30, etag: 'g3' },
      { id: 'g4', title: 'T', refreshMinutes: 30, etag: 'g4' },
      { id: 'g5', title: 'T', refreshMinutes: 30, etag: 'g5' },
    ]);
    // Two writes of one record at once: one after the other, so the second sees the first's result.
    const [first, second] = await Promise.all([
      two.setIfMatches('source:g0', { id: 'g0', title: 'Renamed', refreshMinutes: 30 }, match('g0')),
      two.setIfMatches('source:g0', { id: 'g0', title: 'T', refreshMinutes: 30, etag: 'late' }, match('g0')),
    ]);
    expect([first, second]).toEqual([true, false]);
    expect(await one.get('source:g0')).toEqual({ id: 'g0', title: 'Renamed', refreshMinutes: 30 });
    // Leases: g3 and g4 are held by another owner; the rest are taken with their records read under them.
    expect(await one.acquireLease('refresh:g3', 'other', 60_000)).toBe(true);
    expect(await one.acquireLease('refresh:g4', 'other', 60_000)).toBe(true);
    const leased = await Promise.all(ids.map((id) => two.acquireLeaseAndGet(`refresh:${id}`, 'me', 60_000, `source:${id}`)));
    expect(leased.map((outcome) => outcome.taken)).toEqual([true, true, true, false, false, true]);
    expect(leased[5]).toEqual({ taken: true, value: { id: 'g5', title: 'T', refreshMinutes: 30, etag: 'g5' } });
    expect(leased[1]).toEqual({ taken: true, value: { id: 'g1', title: 'Edited', refreshMinutes: 30 } });
    // Released all at once: only the caller's own leases go; the other owner's stay.
    await Promise.all(ids.map((id) => two.releaseLease(`refresh:${id}`, 'me')));
    expect(await Promise.all(ids.map((id) => one.acquireLease(`refresh:${id}`, 'third', 60_000)))).toEqual([
      true,
      true,
      true,
      false,
      false,
      true,
    ]);
    await Promise.all(ids.map((id) => one.releaseLease(`refresh:${id}`, 'third')));
    await Promise.all(['g3', 'g4'].map((id) => one.releaseLease(`refresh:${id}`, 'other')));
  });

  it('answers ping', async () => {
    await expect(one.ping()).resolves.toBeUndefined();
  });

  it.runIf(kind === 'redis')('keeps every key under its prefix: records, sets and leases apart', async () => {
    await one.set('feed:1', { id: 'f' });
    await one.addMember('feeds:u', 'f');
    await one.acquireLease('refresh:z', 'me', 60_000);
    const keys = [...(await readRedisKeys(prefix)).keys()];
    expect(keys.every((key) => key.startsWith(prefix))).toBe(true);
    expect(keys).toEqual(expect.arrayContaining([`${prefix}r:feed:1`, `${prefix}s:feeds:u`, `${prefix}l:refresh:z`]));
    await one.releaseLease('refresh:z', 'me');
  });
});

describe('an unreachable Redis', () => {
  it('stops the start with an error naming host and port, never the password', async () => {
    const error = await openKeyValueStore('redis://:hunter2-secret@127.0.0.1:1/3').then(
      () => undefined,
      (failure: Error) => failure,
    );
    expect(error?.message).toMatch(/^cannot reach Redis at 127\.0\.0\.1:1\/3: /);
    expect(error?.message).not.toContain('hunter2');
  });
});
