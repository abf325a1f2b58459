// A refresh's result written over the record it read under its lease (saveRefreshedSource): the
// stored record, byte for byte, and its due-index entry are exactly the result's; a record changed
// since the read by another writer is overwritten, an edit of title, URL or interval or a delete is
// not; many at once (grouped on SQLite) are each answered for their own. What any narrower write of
// a 304's fields must keep (bench/diagnoses.md, session 15, tried one with json_patch).
import sqlite3 from 'sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openKeyValueStore, type KeyValueStore } from '../../src/store/kv.js';
import { createRegistry, type Registry } from '../../src/store/registry.js';
import type { SourceRecord } from '../../src/model.js';
import { sourceRecord } from '../helpers/source-record.js';
import { deleteRedisKeys, REDIS_URL, STORES, uniqueRedisPrefix, type StoreKind } from '../helpers/stores.js';

const MINUTE = 60_000;
const T0 = Date.parse('2026-03-02T08:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A failing source with the kinds of value a record holds: quotes, escapes, non-ASCII, an array. */
function failing(id: string): SourceRecord {
  return sourceRecord(id, {
    title: 'Le "Monde" \\ ünïcode ✓ 😀 \u2028',
    status: 'failing',
    errorCount: 3,
    lastError: 'upstream said "no"\n(503)',
    lastErrorCode: 'FST_UPSTREAM_ERROR',
    lastSuccessAt: iso(T0 - 90 * MINUTE),
    nextFetchAt: iso(T0 - 5 * MINUTE),
    urlDigests: ['d1', 'd2'],
    etag: 'W/"old"',
    cachedBytes: 1234,
  });
}

/** What a good fetch makes of it: fields changed, removed (undefined), added at the end. */
function refreshed(source: SourceRecord, id: string): SourceRecord {
  return {
    ...source,
    id,
    status: 'ok',
    errorCount: 0,
    lastError: undefined,
    lastErrorCode: undefined,
    retryAfterUntil: undefined,
    lastFetchedAt: iso(T0),
    lastSuccessAt: iso(T0),
    updatedAt: iso(T0),
    etag: 'W/"new \\"quoted\\""',
    urlDigests: ['d1', 'd2', 'd3'],
    nextFetchAt: iso(T0 + 30 * MINUTE),
    upstreamMinMinutes: 15.25,
  };
}

describe.each(STORES)('a refresh result written over the leased record (%s store)', (kind: StoreKind) => {
  let dir: string;
  const prefix = uniqueRedisPrefix();
  let store: KeyValueStore;
  let registry: Registry;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-refresh-write-'));
    store = await openKeyValueStore(kind === 'sqlite' ? `sqlite://${join(dir, 'store.sqlite')}` : REDIS_URL, { prefix });
    registry = createRegistry(store);
  });
  afterEach(async () => {
    for (const source of await registry.listAllSources()) await registry.deleteSource(source);
  });
  afterAll(async () => {
    await store?.close();
    if (kind === 'redis') await deleteRedisKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes `make(read)` under the lease, from the record the lease read; `meanwhile` runs between the read and the write. */
  async function writeLeased(id: string, make: (read: SourceRecord) => SourceRecord, meanwhile?: () => Promise<void>) {
    const outcome = await registry.withRefreshLease(id, 'test', { ttlMs: MINUTE, waitMs: 0, pollMs: 10 }, async (read) => {
      await meanwhile?.();
      return registry.saveRefreshedSource(make(read!), read!);
    });
    expect(outcome.held).toBe(true);
    return outcome.held && outcome.value;
  }

  /** The record's row as stored: keyv's text on SQLite (read past keyv), the parsed value re-serialised on Redis. */
  async function storedText(id: string): Promise<string> {
    if (kind === 'redis') return JSON.stringify({ value: await registry.getSource(id) });
    const db = new sqlite3.Database(join(dir, 'store.sqlite'));
    try {
      return await new Promise<string>((resolve, reject) =>
        db.get('SELECT value FROM keyv WHERE key = ?', `fp:source:${id}`, (error: Error | null, row: { value: string }) =>
          error ? reject(error) : resolve(row.value),
        ),
      );
    } finally {
      await new Promise((resolve) => db.close(resolve));
    }
  }

  it('stores, byte for byte, what the whole record written by itself stores, and indexes it alike', async () => {
    await registry.addSource(failing('narrow'));
    await registry.addSource(failing('whole'));
    expect(await registry.countSourcesByStatus()).toEqual({ failing: 2 });
    expect((await registry.sourcesFailingBetween(undefined, new Date(T0))).sort()).toEqual(['narrow', 'whole']);

    expect(await writeLeased('narrow', (read) => refreshed(read, 'narrow'))).toBe(true);
    // The same result from a record read without the lease: the whole record's write.
    const read = (await registry.getSource('whole'))!;
    expect(await registry.saveRefreshedSource(refreshed(read, 'whole'), read)).toBe(true);

    const expected = (id: string) => JSON.stringify({ value: refreshed(failing(id), id) });
    expect(await storedText('narrow')).toBe(expected('narrow'));
    expect(await storedText('whole')).toBe(expected('whole'));
    // The due index follows: healthy now, no longer failing, due at the new time (not before).
    expect(await registry.countSourcesByStatus()).toEqual({ ok: 2 });
    expect(await registry.sourcesFailingBetween(undefined, new Date(T0 + 60 * MINUTE))).toEqual([]);
    expect(await registry.claimDueSources(new Date(T0 + 29 * MINUTE), 10, MINUTE)).toEqual([]);
    expect((await registry.claimDueSources(new Date(T0 + 30 * MINUTE), 10, MINUTE)).sort()).toEqual(['narrow', 'whole']);
  });

  it('writes the whole result over a field another writer changed since the read, as the whole write does', async () => {
    await registry.addSource(failing('raced'));
    const written = await writeLeased(
      'raced',
      (read) => refreshed(read, 'raced'),
      () => registry.saveSource({ ...failing('raced'), status: 'disabled', lastError: 'disabled meanwhile' }),
    );
    expect(written).toBe(true);
    expect(await storedText('raced')).toBe(JSON.stringify({ value: refreshed(failing('raced'), 'raced') }));
    expect(await registry.countSourcesByStatus()).toEqual({ ok: 1 });
  });

  it('writes nothing over an edit of the title, URL or interval, nor over a delete begun since the read', async () => {
    for (const edit of [{ title: 'Edited' }, { urlSealed: 'sealed again' }, { refreshMinutes: 60 }]) {
      await registry.addSource(failing('edited'));
      const edited = { ...failing('edited'), ...edit };
      expect(
        await writeLeased(
          'edited',
          (read) => refreshed(read, 'edited'),
          () => registry.saveSource(edited),
        ),
      ).toBe(false);
      expect(await storedText('edited')).toBe(JSON.stringify({ value: edited }));
      expect(await registry.countSourcesByStatus()).toEqual({ failing: 1 });
      await registry.deleteSource(edited);
    }
    await registry.addSource(failing('deleted'));
    const unlisted = () => store.removeMember('sources', 'deleted').then(() => undefined);
    expect(await writeLeased('deleted', (read) => refreshed(read, 'deleted'), unlisted)).toBe(false);
    expect(await storedText('deleted')).toBe(JSON.stringify({ value: failing('deleted') }));
  });

  it('answers each of many writers at once for its own record (the SQLite store groups them into one statement)', async () => {
    const ids = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5', 'g6', 'g7', 'g8'];
    for (const id of ids) await registry.addSource(failing(id));
    // g1 edited and g2 unlisted meanwhile: refused; g3 changed in a field the write sets: written whole.
    const results = await Promise.all(
      ids.map((id) =>
        writeLeased(
          id,
          (read) => refreshed(read, id),
          async () => {
            if (id === 'g1') await registry.saveSource({ ...failing(id), title: 'Edited' });
            if (id === 'g2') await store.removeMember('sources', id);
            if (id === 'g3') await registry.saveSource({ ...failing(id), errorCount: 9 });
          },
        ),
      ),
    );
    expect(results).toEqual([true, false, false, true, true, true, true, true, true]);
    for (const id of ids.filter((id) => id !== 'g1' && id !== 'g2'))
      expect(await storedText(id)).toBe(JSON.stringify({ value: refreshed(failing(id), id) }));
    expect(await storedText('g1')).toBe(JSON.stringify({ value: { ...failing('g1'), title: 'Edited' } }));
    expect(await storedText('g2')).toBe(JSON.stringify({ value: failing('g2') }));
  });
});
