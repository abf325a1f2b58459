// The whole-registry operations (`refresh --all`, `keys rotate`) read sources a page at a time:
// every source once, in pages of the size asked, a source deleted meanwhile left out. Real stores.
import { afterEach, describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/store/registry.js';
import { sourceRecord } from '../helpers/source-record.js';
import { ownStore, STORES, type StoreKind } from '../helpers/stores.js';

describe.each(STORES)('source pages (%s store)', (kind: StoreKind) => {
  const own = ownStore(kind);
  afterEach(() => own.remove());

  it('reads every source once, a page at a time, leaving out one deleted after the listing', async () => {
    const registry = createRegistry(await own.open());
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
