// The whole-registry operations (`refresh --all`, `keys rotate`) read sources a page at a time:
// every source once, in pages of the size asked, a source deleted meanwhile left out. Real stores.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openKeyValueStore, type KeyValueStore } from '../../src/store/kv.js';
import { createRegistry } from '../../src/store/registry.js';
import { sourceRecord } from '../helpers/source-record.js';
import { deleteRedisKeys, REDIS_URL, STORES, uniqueRedisPrefix, type StoreKind } from '../helpers/stores.js';

describe.each(STORES)('source pages (%s store)', (kind: StoreKind) => {
  let store: KeyValueStore | undefined;
  let dir: string | undefined;
  const prefix = uniqueRedisPrefix();
  afterEach(async () => {
    await store?.close();
    if (kind === 'redis') await deleteRedisKeys(prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads every source once, a page at a time, leaving out one deleted after the listing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'feedproxy-pages-'));
    store = await openKeyValueStore(kind === 'sqlite' ? `sqlite://${join(dir, 'store.sqlite')}` : REDIS_URL, { prefix });
    const registry = createRegistry(store);
    const ids = ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8'];
    for (const id of ids) await registry.addSource(sourceRecord(id));

    const { total, pages } = await registry.sourcePages(3);
    expect(total).toBe(8);
    // Deleted between the listing and its page: not read, not handed out.
    await registry.deleteSource(sourceRecord('s8'));
    const seen: string[][] = [];
    let listed = 0;
    for await (const page of pages) {
      seen.push(page.sources.map((source) => source.id));
      listed += page.listed;
    }
    // Three pages of at most 3 (the deleted source's page is one short, wherever the store listed it),
    // which together covered every id listed: the deleted one is counted, not handed out.
    expect(seen).toHaveLength(3);
    for (const page of seen) expect(page.length).toBeLessThanOrEqual(3);
    expect(seen.flat().sort()).toEqual(ids.filter((id) => id !== 's8').sort());
    expect(listed).toBe(8);
  });
});
